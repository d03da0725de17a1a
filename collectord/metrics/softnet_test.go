package metrics

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// TestSoftnetValues: per-CPU columns on the CPU instances (the CPU number the kernel
// prints, not the row's position), and their sums as 64-bit counts (two 32-bit
// counters near the top do not wrap the sum).
func TestSoftnetValues(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	res := fetchByName(t, r, "network.softnet.processed", "network.softnet.percpu.processed",
		"network.softnet.dropped", "network.softnet.time_squeeze", "network.softnet.cpu_collision",
		"network.softnet.received_rps", "network.softnet.percpu.flow_limit_count", "network.softnet.flow_limit_count")
	wantValues(t, "processed", res["network.softnet.processed"], 0, one(0x12d687+0xffffffff))
	wantValues(t, "percpu.processed", res["network.softnet.percpu.processed"], 0, map[uint32]uint64{0: 0x12d687, 1: 0xffffffff})
	wantValues(t, "dropped", res["network.softnet.dropped"], 0, one(3))
	wantValues(t, "time_squeeze", res["network.softnet.time_squeeze"], 0, one(0x15))
	wantValues(t, "cpu_collision", res["network.softnet.cpu_collision"], 0, one(4))
	wantValues(t, "received_rps", res["network.softnet.received_rps"], 0, one(7))
	wantValues(t, "percpu.flow_limit_count", res["network.softnet.percpu.flow_limit_count"], 0, map[uint32]uint64{0: 7, 1: 3})
	wantValues(t, "flow_limit_count", res["network.softnet.flow_limit_count"], 0, one(10))
}

// TestSoftnetHostile: garbage, short, negative or oversized rows and two rows for one
// CPU fail the source (counted); an older kernel's 10-column rows give no
// flow_limit_count (not 0) and keep the rest; rows without a CPU column are CPUs in
// order.
func TestSoftnetHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/net/softnet_stat")
	r := newFixtureRegistry(t, dir)
	const row = "00000010 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000003 00000000 %s 00000000 00000000\n"
	for _, bad := range []string{
		"",
		"\x00\x01 garbage\n",
		"gopcp_unexpected: 12 34 x y\n",
		"00000010 00000000 00000001\n",
		"-0000010 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000\n",
		"999999999999999999999 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000\n",
		"0000001g 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000\n",
		fmt.Sprintf(row, "00000000") + fmt.Sprintf(row, "00000000"),
	} {
		writeFile(t, path, bad)
		before := r.SourceErrors()["softnet"]
		res := fetchByName(t, r, "network.softnet.processed", "network.softnet.percpu.dropped")
		wantValues(t, "softnet "+bad, res["network.softnet.processed"], protocol.ErrValue, nil)
		wantValues(t, "softnet percpu "+bad, res["network.softnet.percpu.dropped"], protocol.ErrValue, nil)
		if r.SourceErrors()["softnet"] != before+1 {
			t.Errorf("%q: not counted", bad)
		}
	}
	// CPU 0 offline: the one row is CPU 1's.
	writeFile(t, path, fmt.Sprintf(row, "00000001"))
	wantValues(t, "cpu 1 alone", fetchByName(t, r, "network.softnet.percpu.processed")["network.softnet.percpu.processed"], 0, map[uint32]uint64{1: 16})
	// A 4.x kernel: 11 columns, no CPU column; a 3.x one: 10 (no flow limit).
	writeFile(t, path, "00000010 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000003\n"+
		"00000020 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000003\n")
	res := fetchByName(t, r, "network.softnet.percpu.processed", "network.softnet.flow_limit_count")
	wantValues(t, "rows in CPU order", res["network.softnet.percpu.processed"], 0, map[uint32]uint64{0: 16, 1: 32})
	wantValues(t, "flow limit on 4.x", res["network.softnet.flow_limit_count"], 0, one(6))
	writeFile(t, path, "00000010 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000002\n")
	res = fetchByName(t, r, "network.softnet.flow_limit_count", "network.softnet.percpu.flow_limit_count", "network.softnet.received_rps")
	wantValues(t, "no flow limit column", res["network.softnet.flow_limit_count"], 0, nil)
	wantValues(t, "no per-CPU flow limit column", res["network.softnet.percpu.flow_limit_count"], 0, nil)
	wantValues(t, "received_rps on 3.x", res["network.softnet.received_rps"], 0, one(2))
}
