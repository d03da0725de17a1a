package metrics

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// vals renders a result as inst=value pairs, or the error, for compact comparisons.
func vals(r Result) map[uint32]uint64 {
	out := map[uint32]uint64{}
	for _, v := range r.Values {
		out[v.Inst] = v.U
	}
	return out
}

// TestPerNodeCPU: two NUMA nodes from sysfs; each node's time is the sum of its CPUs'
// (ticks to milliseconds), and the CPU to node map follows the cpulist files.
func TestPerNodeCPU(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/stat"), "cpu 60 6 30 900 3 2 1 0 4 1\n"+
		"cpu0 10 1 5 300 1 1 0 0 1 0\ncpu1 20 2 10 300 1 0 1 0 2 1\ncpu2 30 3 15 300 1 1 0 0 1 0\n")
	for node, list := range map[string]string{"node0": "0,2\n", "node1": "1\n"} {
		if err := os.MkdirAll(filepath.Join(dir, "sys/devices/system/node", node), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "sys/devices/system/node", node, "cpulist"), list)
	}
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r, "kernel.pernode.cpu.user", "kernel.pernode.cpu.vuser", "hinv.nnode",
		"hinv.map.cpu_node", "kernel.percpu.cpu.vnice", "kernel.all.cpu.guest_nice")
	check := func(name string, want map[uint32]uint64) {
		t.Helper()
		got := vals(res[name])
		if res[name].Err != 0 || len(got) != len(want) {
			t.Errorf("%s: %+v, want %v", name, res[name], want)
			return
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s[%d] = %d, want %d", name, k, got[k], w)
			}
		}
	}
	check("kernel.pernode.cpu.user", map[uint32]uint64{0: 400, 1: 200})
	check("kernel.pernode.cpu.vuser", map[uint32]uint64{0: 380, 1: 180})
	check("hinv.nnode", map[uint32]uint64{protocol.InNull: 2})
	check("hinv.map.cpu_node", map[uint32]uint64{0: 0, 1: 1, 2: 0})
	check("kernel.percpu.cpu.vnice", map[uint32]uint64{0: 10, 1: 10, 2: 30})
	check("kernel.all.cpu.guest_nice", map[uint32]uint64{protocol.InNull: 10})
	in, err := r.Instances(indomNode)
	if err != nil || formatInstances(in) != `0 "node0", 1 "node1"` {
		t.Errorf("node instances: %s, %v", formatInstances(in), err)
	}
}

// TestCPUAbsentColumns: a kernel that prints only the first columns (no steal,
// guest, guest_nice) gives no values for those and for what is computed from them,
// never zeros; the columns it prints are served.
func TestCPUAbsentColumns(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/stat"), "cpu 30 3 15 600 2 1 1\ncpu0 10 1 5 300 1 1 0\ncpu1 20 2 10 300 1 0 1\n")
	r := newFixtureRegistry(t, dir)
	names := []string{"kernel.all.cpu.steal", "kernel.all.cpu.vuser", "kernel.percpu.cpu.guest",
		"kernel.pernode.cpu.guest_nice", "kernel.percpu.cpu.vnice", "kernel.pernode.cpu.steal"}
	res := fetchByName(t, r, append(names, "kernel.pernode.cpu.intr", "kernel.all.cpu.user")...)
	for _, n := range names {
		if res[n].Err != 0 || len(res[n].Values) != 0 {
			t.Errorf("%s: %+v, want no values", n, res[n])
		}
	}
	if v := vals(res["kernel.pernode.cpu.intr"]); len(v) != 1 || v[0] != 20 {
		t.Errorf("kernel.pernode.cpu.intr: %+v", res["kernel.pernode.cpu.intr"])
	}
	if v := vals(res["kernel.all.cpu.user"]); v[protocol.InNull] != 300 {
		t.Errorf("kernel.all.cpu.user: %+v", res["kernel.all.cpu.user"])
	}
}

// TestNodeMapHostile: a hostile cpulist (huge ranges, garbage) fails the per-node
// metrics with an error and leaves the per-CPU ones alone; it never makes the
// collector allocate without bound or panic.
func TestNodeMapHostile(t *testing.T) {
	for _, bad := range []string{"0-4294967295\n", "5-2\n", "x\n", "0-\n", "0,,1\n", "0-1048575\n"} {
		dir := copyTree(t, fixtureDir)
		nd := filepath.Join(dir, "sys/devices/system/node/node0")
		if err := os.MkdirAll(nd, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(nd, "cpulist"), bad)
		r := newFixtureRegistry(t, dir)
		res := fetchByName(t, r, "kernel.pernode.cpu.user", "hinv.map.cpu_node", "kernel.percpu.cpu.user")
		for _, n := range []string{"kernel.pernode.cpu.user", "hinv.map.cpu_node"} {
			if res[n].Err != protocol.ErrValue {
				t.Errorf("cpulist %q: %s: %+v, want PM_ERR_VALUE", bad, n, res[n])
			}
		}
		if len(res["kernel.percpu.cpu.user"].Values) != 2 {
			t.Errorf("cpulist %q: per-CPU metric broken too: %+v", bad, res["kernel.percpu.cpu.user"])
		}
		if _, err := r.Instances(indomNode); err == nil {
			t.Errorf("cpulist %q: node instances without an error", bad)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string]string{"": "[]", "0": "[0]", "0-3,8,10-11": "[0 1 2 3 8 10 11]"} {
		got, err := parseCPUList([]byte(in))
		if err != nil || fmtU32(got) != want {
			t.Errorf("parseCPUList(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}

func fmtU32(v []uint32) string {
	s := "["
	for i, x := range v {
		if i > 0 {
			s += " "
		}
		s += formatValue(protocol.TypeU32, Value{U: uint64(x)})
	}
	return s + "]"
}
