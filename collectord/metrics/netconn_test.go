package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// TestConnCounts: the fixture tables give the counts by state, type and row that
// were written into them (testdata/fixture/proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}).
func TestConnCounts(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	want := map[string]uint64{
		"network.tcpconn.established": 5, "network.tcpconn.listen": 3, "network.tcpconn.time_wait": 2,
		"network.tcpconn.close_wait": 1, "network.tcpconn.syn_sent": 1, "network.tcpconn.syn_recv": 0,
		"network.tcpconn.closing": 0, "network.tcpconn6.listen": 2, "network.tcpconn6.established": 1,
		"network.tcpconn6.fin_wait1": 0, "network.udpconn.listen": 4, "network.udpconn.established": 2,
		"network.udpconn6.listen": 1, "network.udpconn6.established": 0, "network.rawconn.count": 2,
		"network.rawconn6.count": 1, "network.unix.datagram.count": 3, "network.unix.stream.count": 7,
		"network.unix.stream.listen": 2, "network.unix.stream.established": 4,
	}
	names := sortedKeys(want)
	res := fetchByName(t, r, names...)
	for _, n := range names {
		wantValues(t, n, res[n], 0, one(want[n]))
	}
	if n := len(r.SourceErrors()); n != 0 {
		for s, c := range r.SourceErrors() {
			if c != 0 {
				t.Errorf("source %s counted %d errors on the clean fixture", s, c)
			}
		}
	}
}

// tcpRow is one row of /proc/net/tcp as the kernel prints it.
func tcpRow(i, state int) string {
	return fmt.Sprintf("%4d: 0100007F:%04X 0A000001:%04X %02X 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000000000000000 20 4 30 10 -1\n",
		i, 1024+i%60000, 30000+i%30000, state, 100000+i)
}

const tcpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// bigTCP writes a /proc/net/tcp of n rows, cycling through the 11 states, and
// returns how many rows are in each.
func bigTCP(t testing.TB, path string, n int) [12]uint64 {
	t.Helper()
	var b strings.Builder
	var per [12]uint64
	b.WriteString(tcpHeader)
	for i := range n {
		st := 1 + i%11
		per[st]++
		b.WriteString(tcpRow(i, st))
	}
	writeFile(t, path, b.String())
	return per
}

// TestConnStreamedTable: a table far larger than the read buffer is counted whole
// (rows cut by the buffer's edge are joined), and a last row without its newline
// still counts.
func TestConnStreamedTable(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/net/tcp")
	per := bigTCP(t, path, 10000)
	if fi, _ := os.Stat(path); fi.Size() < 10*connBufSize {
		t.Fatalf("table of %d bytes does not span the buffer", fi.Size())
	}
	r := newFixtureRegistry(t, dir)
	for st := 1; st <= 11; st++ {
		n := "network.tcpconn." + tcpStates[st].name
		wantValues(t, n, fetchByName(t, r, n)[n], 0, one(per[st]))
	}
	writeFile(t, path, tcpHeader+tcpRow(0, 10)+strings.TrimSuffix(tcpRow(1, 10), "\n"))
	wantValues(t, "no final newline", fetchByName(t, r, "network.tcpconn.listen")["network.tcpconn.listen"], 0, one(2))
}

// TestConnHostile: a table holding something that is not a kernel row fails its own
// metrics (counted as its source's error) and no other table's; a state the agent
// does not name is counted in no metric; a missing IPv6 table is no value and no
// error, a missing IPv4 one is an error.
func TestConnHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	r := newFixtureRegistry(t, dir)
	tcp := filepath.Join(dir, "proc/net/tcp")
	for _, bad := range []string{
		"",
		"\x00\x01\x02 binary",
		tcpRow(0, 1), // no header
		tcpHeader + "gopcp_unexpected: 12 34 x y\n", // a row that is not one
		tcpHeader + strings.Replace(tcpRow(0, 1), " 01 ", " 99999999999999999999999 ", 1),
		tcpHeader + strings.Replace(tcpRow(0, 1), " 01 ", " -1 ", 1),
		tcpHeader + strings.Replace(tcpRow(0, 1), "   0:", "  -0:", 1),
		tcpHeader + strings.Replace(tcpRow(0, 1), "0100007F:0400", "0100007F:04", 1),
		tcpHeader + strings.Replace(tcpRow(0, 1), " 01 ", " 1 ", 1),
		tcpHeader + tcpRow(0, 1) + "   1: " + strings.Repeat("A", connBufSize) + "\n",
		tcpHeader + "\n",
	} {
		writeFile(t, tcp, bad)
		before := r.SourceErrors()["tcpconn"]
		res := fetchByName(t, r, "network.tcpconn.established", "network.unix.stream.count")
		wantValues(t, fmt.Sprintf("tcp %.60q", bad), res["network.tcpconn.established"], protocol.ErrValue, nil)
		wantValues(t, fmt.Sprintf("unix beside tcp %.60q", bad), res["network.unix.stream.count"], 0, one(7))
		if r.SourceErrors()["tcpconn"] != before+1 {
			t.Errorf("tcp %.60q: not counted as a source error", bad)
		}
	}
	// TCP_NEW_SYN_RECV (12) and the like: real rows, in no metric.
	writeFile(t, tcp, tcpHeader+tcpRow(0, 12)+tcpRow(1, 1))
	res := fetchByName(t, r, "network.tcpconn.established", "network.tcpconn.syn_recv")
	wantValues(t, "established beside state 12", res["network.tcpconn.established"], 0, one(1))
	wantValues(t, "syn_recv beside state 12", res["network.tcpconn.syn_recv"], 0, one(0))

	before := r.SourceErrors()["tcpconn6"]
	os.Remove(filepath.Join(dir, "proc/net/tcp6"))
	wantValues(t, "no tcp6", fetchByName(t, r, "network.tcpconn6.listen")["network.tcpconn6.listen"], 0, nil)
	if r.SourceErrors()["tcpconn6"] != before {
		t.Error("a kernel without IPv6 counted as an error")
	}
	os.Remove(filepath.Join(dir, "proc/net/udp"))
	before = r.SourceErrors()["udpconn"]
	if res := fetchByName(t, r, "network.udpconn.listen")["network.udpconn.listen"]; res.Err >= 0 || len(res.Values) != 0 {
		t.Errorf("no udp: %+v, want an error", res)
	}
	if r.SourceErrors()["udpconn"] != before+1 {
		t.Error("a missing /proc/net/udp not counted")
	}

	unixPath := filepath.Join(dir, "proc/net/unix")
	const uh = "Num       RefCount Protocol Flags    Type St Inode Path\n"
	for _, bad := range []string{
		uh + "gopcp_unexpected: 12 34 x y\n",
		uh + "0000000000000000: 00000002 00000000 00010000 1 01 30000 /x\n",
		uh + "0000000000000000: 00000002 00000000 00010000 0001 -1 30000 /x\n",
		uh + "0000000000000000 00000002 00000000 00010000 0001 01 30000 /x\n",
		"sl " + uh,
	} {
		writeFile(t, unixPath, bad)
		before := r.SourceErrors()["unixconn"]
		wantValues(t, fmt.Sprintf("unix %.60q", bad), fetchByName(t, r, "network.unix.stream.count")["network.unix.stream.count"], protocol.ErrValue, nil)
		if r.SourceErrors()["unixconn"] != before+1 {
			t.Errorf("unix %.60q: not counted", bad)
		}
	}
	// A path with spaces and control characters is the socket's business, not ours.
	writeFile(t, unixPath, uh+"0000000000000000: 00000002 00000000 00010000 0001 01 30000 /tmp/a b\x1b[31m\n")
	wantValues(t, "unix odd path", fetchByName(t, r, "network.unix.stream.listen")["network.unix.stream.listen"], 0, one(1))
}

// TestConnNoAllocPerRow: counting a table allocates nothing per row: a fetch of a
// 10,000-row table allocates no more than a fetch of a 10-row one. The source is
// measured alone (the registry around it may allocate now and then, as its pools
// empty at a garbage collection); a margin of 10 still catches any per-row cost,
// which would be thousands.
func TestConnNoAllocPerRow(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/net/tcp")
	r := newFixtureRegistry(t, dir)
	src := source[*connSource](t, r, "tcpconn")
	reqs := []Request{{Sel: 0, Res: &Result{}}, {Sel: 9, Res: &Result{}}}
	allocs := func(rows int) float64 {
		bigTCP(t, path, rows)
		return testing.AllocsPerRun(5, func() {
			for _, rq := range reqs {
				rq.Res.Values = rq.Res.Values[:0]
			}
			if err := src.Fetch(reqs); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, big := allocs(10), allocs(10000)
	if big > small+10 {
		t.Errorf("a 10,000-row table costs %.0f allocations a fetch, a 10-row one %.0f", big, small)
	}
	if got := reqs[1].Res.Values; len(got) != 1 || got[0].U != 909 {
		t.Errorf("listen count %+v, want 909 (10,000 rows cycling through 11 states)", got)
	}
}

// BenchmarkConnFetch10k: one fetch of every network.tcpconn metric from a
// /proc/net/tcp of 10,000 sockets (generated).
func BenchmarkConnFetch10k(b *testing.B) {
	dir := copyTree(b, fixtureDir)
	bigTCP(b, filepath.Join(dir, "proc/net/tcp"), 10000)
	r := newFixtureRegistry(b, dir)
	var pm []protocol.PMID
	for st := 1; st <= 11; st++ {
		pm = append(pm, pmidOf(b, r, "network.tcpconn."+tcpStates[st].name))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.Fetch(nil, pm)
	}
}
