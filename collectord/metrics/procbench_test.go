package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// procPsSet is what `pcp ps`, pcp htop and pmrep's :proc-* views fetch for every
// process (six files of each: stat, cmdline, wchan, status, statm, io): the set
// scripts/bench-proc.sh fetches from collectord and the real pmcd side by side.
var procPsSet = []string{
	"proc.psinfo.pid", "proc.psinfo.ppid", "proc.psinfo.cmd", "proc.psinfo.psargs", "proc.psinfo.sname",
	"proc.psinfo.utime", "proc.psinfo.stime", "proc.psinfo.start_time", "proc.psinfo.rss", "proc.psinfo.vsize",
	"proc.psinfo.ttyname", "proc.psinfo.wchan_s", "proc.psinfo.nice", "proc.psinfo.priority",
	"proc.psinfo.processor", "proc.psinfo.policy", "proc.psinfo.rt_priority", "proc.psinfo.threads",
	"proc.psinfo.minflt", "proc.psinfo.maj_flt", "proc.psinfo.vctxsw", "proc.psinfo.nvctxsw",
	"proc.psinfo.pgrp", "proc.psinfo.session", "proc.psinfo.tty",
	"proc.memory.size", "proc.memory.rss", "proc.memory.share", "proc.memory.textrss", "proc.memory.datrss",
	"proc.memory.vmrss", "proc.memory.vmswap",
	"proc.id.uid", "proc.id.uid_nm",
	"proc.io.rchar", "proc.io.wchar", "proc.io.read_bytes", "proc.io.write_bytes", "proc.io.cancelled_write_bytes",
}

// TestProcPsSetIsTheScripts: the Go benchmarks below and scripts/bench-proc.sh
// measure the same metrics, so the figures of one explain the other's.
func TestProcPsSetIsTheScripts(t *testing.T) {
	b, err := os.ReadFile("../../scripts/bench-proc.sh")
	if err != nil {
		t.Skipf("scripts/bench-proc.sh not beside the package: %v", err)
	}
	m := regexp.MustCompile(`(?s)\nNAMES=\(\n(.*?)\n\)\n`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no NAMES=( ... ) block in scripts/bench-proc.sh")
	}
	script := strings.Fields(string(m[1]))
	if !slices.Equal(script, procPsSet) {
		t.Errorf("scripts/bench-proc.sh fetches\n%q\nthe benchmarks\n%q", script, procPsSet)
	}
	r := newFixtureRegistry(t, fixtureDir)
	for _, n := range procPsSet {
		pmidOf(t, r, n)
	}
}

// benchProcSet fetches names for every process of r's proc root, reporting the
// processes and the values of one fetch.
func benchProcSet(b *testing.B, r *Registry, names []string) {
	pmids := make([]protocol.PMID, 0, len(names))
	for _, n := range names {
		pmids = append(pmids, pmidOf(b, r, n))
	}
	dst := r.Fetch(nil, pmids)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = r.Fetch(dst[:0], pmids)
	}
	b.StopTimer()
	values := 0
	for i := range dst {
		values += len(dst[i].Values)
	}
	b.ReportMetric(float64(len(dst[0].Values)), "procs")
	b.ReportMetric(float64(values), "values")
}

// BenchmarkProcPs1000: procPsSet over a fixture tree of 1,000 processes (files on
// disk: the parsing and system calls, without the kernel's cost of making /proc).
func BenchmarkProcPs1000(b *testing.B) {
	dir := makeProcTree(b, 1000)
	r, err := New(Options{Version: "bench", ProcRoot: dir, EtcRoot: filepath.Join(fixtureDir, "etc")})
	if err != nil {
		b.Fatal(err)
	}
	benchProcSet(b, r, procPsSet)
}

// BenchmarkProcPsLive: procPsSet over this host's /proc, the kernel's side
// included (scripts/bench-proc.sh runs it with 1,000 more processes).
func BenchmarkProcPsLive(b *testing.B) {
	r, err := New(Options{Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	benchProcSet(b, r, procPsSet)
}

// TestProcPsAllocs: a ps-style fetch allocates about three times a process (the
// command name, the command line and the wait channel, which it hands out as
// strings), not once per file path and status text field as it did (twenty a
// process).
func TestProcPsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	const n = 50
	dir := makeProcTree(t, n)
	r, err := New(Options{Version: "test", ProcRoot: dir, EtcRoot: filepath.Join(fixtureDir, "etc")})
	if err != nil {
		t.Fatal(err)
	}
	pmids := make([]protocol.PMID, 0, len(procPsSet))
	for _, name := range procPsSet {
		pmids = append(pmids, pmidOf(t, r, name))
	}
	dst := r.Fetch(nil, pmids)
	for i := range dst {
		if len(dst[i].Values) != n {
			t.Fatalf("%s: %d values, want %d", procPsSet[i], len(dst[i].Values), n)
		}
	}
	allocs := testing.AllocsPerRun(5, func() { dst = r.Fetch(dst[:0], pmids) })
	if per := allocs / n; per > 4 {
		t.Errorf("%.0f allocations for %d processes (%.1f a process), want at most 4 a process", allocs, n, per)
	}
	// Into new results (as the server fetches a large reply): each metric's
	// value list is made once at its full size, not grown a step at a time.
	fresh := testing.AllocsPerRun(5, func() { dst = r.Fetch(nil, pmids) })
	if extra := fresh - allocs; extra > float64(2*len(pmids)) {
		t.Errorf("%.0f allocations into new results, %.0f more than into old ones: want at most 2 a metric (%d)", fresh, extra, len(pmids))
	}
}

// TestProcLongFiles: a file longer than the first read's room is read whole
// (a short read ends the per-process files; a full one does not): status with
// fields 6 KB in.
func TestProcLongFiles(t *testing.T) {
	dir := makeProcTree(t, 1)
	pd := filepath.Join(dir, "1000")
	pad := strings.Repeat("Pad:\t"+strings.Repeat("x", 70)+"\n", 80)
	if err := os.WriteFile(filepath.Join(pd, "status"), []byte("Name:\tw\n"+pad+"Threads:\t7\nUid:\t1\t2\t3\t4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Version: "test", ProcRoot: dir, EtcRoot: filepath.Join(fixtureDir, "etc")})
	if err != nil {
		t.Fatal(err)
	}
	res := fetchByName(t, r, "proc.psinfo.threads", "proc.id.fsuid")
	want := map[string]Value{"proc.psinfo.threads": {Inst: 1000, U: 7}, "proc.id.fsuid": {Inst: 1000, U: 4}}
	for name, w := range want {
		if got := res[name].Values; len(got) != 1 || got[0] != w {
			t.Errorf("%s: %.80v, want %.80v", name, got, w)
		}
	}
}
