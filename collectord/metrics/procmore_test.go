package metrics

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// procVal returns the value of one process in a result.
func procVal(res Result, pid uint32) (Value, bool) {
	for _, v := range res.Values {
		if v.Inst == pid {
			return v, true
		}
	}
	return Value{}, false
}

// TestProcMoreFixture: the values of the newer per-process metrics, the run queue
// and the controls, from the fixture tree (1: sleeping, 42: a kernel thread with
// no memory, 1234: a sleeping process with every file).
func TestProcMoreFixture(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	str := map[string]string{
		"proc.psinfo.environ":            "HOME=/home/user LANG=C.UTF-8 PATH=/usr/bin:/bin",
		"proc.psinfo.labels":             "unconfined",
		"proc.memory.maps":               "5600aa000000-5600aa019000 r-xp 00000000 fe:01 1311 /usr/bin/mycmd\n7f0c1a000000-7f0c1a021000 rw-p 00000000 00:00 0 [heap]",
		"proc.id.container":              "",
		"proc.namespaces.tgid":           "1234,7",
		"proc.namespaces.pid":            "1234,7",
		"proc.namespaces.pgid":           "1234,7",
		"proc.namespaces.sid":            "1200,1",
		"proc.control.perclient.cgroups": "",
		"hotproc.control.config":         "",
	}
	num := map[string]uint64{
		"proc.autogroup.id": 861, "proc.autogroup.nice": 5,
		"proc.smaps.rss": 8192, "proc.smaps.pss": 5000, "proc.smaps.pss_anon": 2900, "proc.smaps.pss_file": 2000,
		"proc.smaps.pss_shmem": 100, "proc.smaps.shared_clean": 3000, "proc.smaps.shared_dirty": 192,
		"proc.smaps.private_clean": 1000, "proc.smaps.private_dirty": 4000, "proc.smaps.referenced": 8000,
		"proc.smaps.anonymous": 4096, "proc.smaps.lazyfree": 16, "proc.smaps.anonhugepages": 2048,
		"proc.smaps.shmempmdmapped": 0, "proc.smaps.filepmdmapped": 0, "proc.smaps.shared_hugetlb": 0,
		"proc.smaps.private_hugetlb": 0, "proc.smaps.swap": 12, "proc.smaps.swappss": 6, "proc.smaps.locked": 4,
	}
	global := map[string]uint64{
		"proc.runq.runnable": 0, "proc.runq.blocked": 0, "proc.runq.sleeping": 2, "proc.runq.stopped": 0,
		"proc.runq.swapped": 1, "proc.runq.defunct": 0, "proc.runq.unknown": 0, "proc.runq.kernel": 0,
		"proc.control.all.threads": 0, "proc.control.perclient.threads": 0, "proc.autogroup.enabled": 1,
		"hotproc.nprocs": 0, "hotproc.control.refresh": 10, "hotproc.control.config_gen": 0,
		"hotproc.control.reload_config": 0, "hotproc.autogroup.enabled": 1,
	}
	var names []string
	for n := range str {
		names = append(names, n)
	}
	for n := range num {
		names = append(names, n)
	}
	for n := range global {
		names = append(names, n)
	}
	res := fetchByName(t, r, names...)
	for n, want := range str {
		inst := uint32(1234)
		if !strings.HasPrefix(n, "proc.psinfo") && !strings.HasPrefix(n, "proc.memory") && !strings.HasPrefix(n, "proc.id") && !strings.HasPrefix(n, "proc.namespaces") {
			inst = protocol.InNull
		}
		if v, ok := procVal(res[n], inst); !ok || v.S != want {
			t.Errorf("%s = %q (%v), want %q", n, v.S, ok, want)
		}
	}
	for n, want := range num {
		if v, ok := procVal(res[n], 1234); !ok || v.U != want {
			t.Errorf("%s = %d (%v), want %d", n, v.U, ok, want)
		}
		// 1 and 42 have only a stat: no value, never 0.
		for _, pid := range []uint32{1, 42} {
			if v, ok := procVal(res[n], pid); ok {
				t.Errorf("%s[%d] = %+v, want no value", n, pid, v)
			}
		}
	}
	for n, want := range global {
		if v := res[n].Values; len(v) != 1 || v[0].U != want || v[0].Inst != protocol.InNull {
			t.Errorf("%s = %+v, want %d", n, v, want)
		}
	}
	// envid is printed only by OpenVZ kernels: absent.
	if v := fetchByName(t, r, "proc.namespaces.envid")["proc.namespaces.envid"]; len(v.Values) != 0 || v.Err != 0 {
		t.Errorf("envid %+v, want no values", v)
	}
	if n := r.SourceErrors()["proc"]; n != 0 {
		t.Errorf("%d source errors on a sound fixture", n)
	}
}

// TestHotprocWithoutPredicate: hotproc is served as the real agent serves it with
// no predicate: no instances, no per-process or predicate values, zero totals.
func TestHotprocWithoutPredicate(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	insts, err := r.Instances(indomHotproc)
	if err != nil || len(insts) != 0 {
		t.Fatalf("hotproc instances %v %v, want none", insts, err)
	}
	var names []string
	for _, m := range r.Metrics() {
		if strings.HasPrefix(m.Name, "hotproc.") {
			names = append(names, m.Name)
		}
	}
	if len(names) != 159 {
		t.Errorf("%d hotproc metrics, the real agent has 159", len(names))
	}
	res := fetchByName(t, r, names...)
	for _, n := range names {
		m, _ := r.ByName(n)
		rs := res[n]
		if rs.Err != 0 {
			t.Errorf("%s: error %d", n, rs.Err)
		}
		if m.Desc.InDom == indomHotproc {
			if len(rs.Values) != 0 {
				t.Errorf("%s: %d values with no hot process", n, len(rs.Values))
			}
			continue
		}
		if len(rs.Values) != 1 {
			t.Errorf("%s: %d values", n, len(rs.Values))
		}
		if strings.HasPrefix(n, "hotproc.total.") && rs.Values[0].F != 0 {
			t.Errorf("%s = %v", n, rs.Values[0].F)
		}
	}
	// Each hotproc per-process metric mirrors a proc one: same item, same type.
	for _, n := range names {
		hm, _ := r.ByName(n)
		pm, ok := r.ByName(strings.TrimPrefix(n, "hot"))
		if !ok || hm.Desc.InDom != indomHotproc || strings.HasPrefix(n, "hotproc.predicate.") {
			continue
		}
		if pm.Desc.Type != hm.Desc.Type || pm.Desc.Units != hm.Desc.Units || pm.Desc.Sem != hm.Desc.Sem || pm.Desc.PMID.Item() != hm.Desc.PMID.Item() {
			t.Errorf("%s %+v does not mirror %+v", n, hm.Desc, pm.Desc)
		}
	}
	// No hotproc fetch reads a process file.
	files := map[string]int{}
	fileHook = func(path string) { files[path]++ }
	defer func() { fileHook = nil }()
	fetchByName(t, r, "hotproc.psinfo.psargs", "hotproc.smaps.rss", "hotproc.nprocs", "hotproc.predicate.cpuburn")
	for f := range files {
		if strings.Contains(f, "/proc/1234/") {
			t.Errorf("hotproc fetch read %s", f)
		}
	}
}

// TestProcPrivateToUntrusted: the attacker's side, in the registry: an untrusted
// client (the zero FetchOpts) gets PM_ERR_PERMISSION for every new per-process
// metric and for every hotproc metric with an instance domain, and no process list
// of either domain; the counts and controls stay public.
func TestProcPrivateToUntrusted(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	private := []string{"proc.psinfo.environ", "proc.memory.maps", "proc.smaps.pss", "proc.namespaces.pid",
		"proc.autogroup.id", "proc.psinfo.labels", "proc.id.container", "hotproc.psinfo.pid",
		"hotproc.psinfo.environ", "hotproc.smaps.rss", "hotproc.predicate.cpuburn"}
	public := []string{"proc.runq.sleeping", "proc.control.all.threads", "hotproc.nprocs",
		"hotproc.control.config", "hotproc.total.cpuburn", "proc.nprocs"}
	var pmids []protocol.PMID
	for _, n := range append(append([]string{}, private...), public...) {
		pmids = append(pmids, pmidOf(t, r, n))
	}
	// Even a client that names a pid in its profile.
	only := func(protocol.InDom) ([]uint32, bool) { return []uint32{1234}, true }
	res := r.FetchFor(nil, pmids, FetchOpts{Only: only})
	for i, n := range private {
		if res[i].Err != protocol.ErrPermission || len(res[i].Values) != 0 {
			t.Errorf("untrusted %s: err %d, %d values", n, res[i].Err, len(res[i].Values))
		}
	}
	for i, n := range public {
		if rs := res[len(private)+i]; rs.Err != 0 || len(rs.Values) != 1 {
			t.Errorf("untrusted %s: err %d, %d values, want the public value", n, rs.Err, len(rs.Values))
		}
	}
	for _, in := range []protocol.InDom{indomProc, indomHotproc} {
		var pe *protocol.Error
		if _, err := r.InstancesFor(in, false); !errors.As(err, &pe) || pe.Code != protocol.ErrPermission {
			t.Errorf("untrusted instances of %v: %v", in, err)
		}
	}
}

// TestProcMoreHostile: damaged files give absent values and a counted error, and
// never disturb other processes or other files' metrics.
func TestProcMoreHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	p := filepath.Join(dir, "proc/1234")
	r := newFixtureRegistry(t, dir)
	errs := func() uint64 { return r.SourceErrors()["proc"] }
	one := func(name string) (Value, bool, Result) {
		res := fetchByName(t, r, name, "proc.psinfo.pid")
		if _, ok := procVal(res["proc.psinfo.pid"], 1234); !ok {
			t.Errorf("%s: pid lost", name)
		}
		v, ok := procVal(res[name], 1234)
		return v, ok, res[name]
	}
	expect := func(what, name string, wantOK bool, wantU uint64, wantErrs uint64) {
		t.Helper()
		before := errs()
		v, ok, _ := one(name)
		if ok != wantOK || ok && v.U != wantU {
			t.Errorf("%s: %s = %d (%v), want %d (%v)", what, name, v.U, ok, wantU, wantOK)
		}
		if got := errs() - before; got != wantErrs {
			t.Errorf("%s: %d errors counted, want %d", what, got, wantErrs)
		}
	}

	// smaps_rollup: truncated keeps the lines that are whole; a number too big,
	// another unit or garbage leaves that field absent; no line at all is an error.
	writeFile(t, p+"/smaps_rollup", "0-1 ---p 00000000 00:00 0 [rollup]\nRss:   100 kB\nPss:  99999999999999999999999 kB\nSwap: 5 MB\nLocked:")
	expect("truncated smaps", "proc.smaps.rss", true, 100, 0)
	expect("huge pss", "proc.smaps.pss", false, 0, 0)
	expect("other unit", "proc.smaps.swap", false, 0, 0)
	expect("cut line", "proc.smaps.locked", false, 0, 0)
	writeFile(t, p+"/smaps_rollup", "\x00\x01garbage\nmore garbage\n")
	expect("garbage smaps", "proc.smaps.rss", false, 0, 1)
	writeFile(t, p+"/smaps_rollup", "")
	expect("empty smaps (a kernel thread)", "proc.smaps.rss", false, 0, 0)
	os.Remove(p + "/smaps_rollup")
	expect("no smaps_rollup (before 4.14)", "proc.smaps.rss", false, 0, 0)
	// Unreadable: the reader refuses a symbolic link, as it would a denied open.
	os.Symlink("/proc/self/smaps_rollup", p+"/smaps_rollup")
	expect("unreadable smaps", "proc.smaps.rss", false, 0, 1)

	// autogroup: garbage, an id too big and a nice out of range are errors; the
	// switch off means no per-process values, and a broken switch is counted.
	for _, bad := range []string{"garbage", "/autogroup-99999999999 nice 0", "/autogroup-5 nice 99", "/autogroup-5 mean 0"} {
		writeFile(t, p+"/autogroup", bad)
		expect(strconv.Quote(bad), "proc.autogroup.id", false, 0, 1)
	}
	writeFile(t, p+"/autogroup", "")
	expect("no autogroup", "proc.autogroup.id", false, 0, 0)
	writeFile(t, p+"/autogroup", "/autogroup-7 nice -3\n")
	if v, ok, _ := one("proc.autogroup.nice"); !ok || int32(v.U) != -3 {
		t.Errorf("nice %d %v", int32(v.U), ok)
	}
	writeFile(t, filepath.Join(dir, "proc/sys/kernel/sched_autogroup_enabled"), "0\n")
	expect("autogroup off", "proc.autogroup.id", false, 0, 0)
	writeFile(t, filepath.Join(dir, "proc/sys/kernel/sched_autogroup_enabled"), "yes\n")
	before := errs()
	if res := fetchByName(t, r, "proc.autogroup.enabled", "proc.autogroup.id"); len(res["proc.autogroup.enabled"].Values) != 0 || len(res["proc.autogroup.id"].Values) != 0 {
		t.Errorf("a garbage switch gave values: %+v", res)
	}
	if errs() != before+1 {
		t.Error("a garbage autogroup switch was not counted")
	}
	os.Remove(filepath.Join(dir, "proc/sys/kernel/sched_autogroup_enabled"))
	if v := fetchByName(t, r, "proc.autogroup.enabled")["proc.autogroup.enabled"].Values; len(v) != 1 || v[0].U != 0 {
		t.Errorf("no autogroup scheduling: enabled %+v, want 0", v)
	}

	// Namespaces: a status without the NS lines (before Linux 4.1) has none.
	writeFile(t, p+"/status", "Uid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\n")
	expect("no NSpid line", "proc.namespaces.pid", false, 0, 0)

	// environ: a folder in its place cannot be read (counted); an empty one is "".
	os.Remove(p + "/environ")
	os.Mkdir(p+"/environ", 0o755)
	before = errs()
	if _, ok, _ := one("proc.psinfo.environ"); ok {
		t.Error("environ from a folder")
	}
	if errs() != before+1 {
		t.Error("unreadable environ not counted")
	}
	os.Remove(p + "/environ")
	writeFile(t, p+"/environ", "")
	if v, ok, _ := one("proc.psinfo.environ"); !ok || v.S != "" {
		t.Errorf("empty environ %q %v", v.S, ok)
	}

	// labels: an empty attr/current has no label.
	writeFile(t, p+"/attr/current", "")
	if _, ok, _ := one("proc.psinfo.labels"); ok {
		t.Error("a label from an empty file")
	}
	writeFile(t, p+"/attr/current", "system_u:system_r:init_t:s0\x00")
	if v, ok, _ := one("proc.psinfo.labels"); !ok || v.S != "system_u:system_r:init_t:s0" {
		t.Errorf("SELinux label %q %v", v.S, ok)
	}

	// maps: longer than the limit is no value (never a cut-off list), counted.
	big := strings.Repeat("7f0c1a000000-7f0c1a021000 rw-p 00000000 00:00 0\n", maxProcMaps/48+2)
	writeFile(t, p+"/maps", big)
	before = errs()
	if _, ok, _ := one("proc.memory.maps"); ok {
		t.Error("maps over the limit gave a value")
	}
	if errs() != before+1 {
		t.Error("maps over the limit not counted")
	}
	if cap(source[*processSource](t, r, "proc").buf) > maxProcFile {
		t.Error("the read buffer kept the size of the big maps file")
	}
	writeFile(t, p+"/maps", "")
	if v, ok, _ := one("proc.memory.maps"); !ok || v.S != "" {
		t.Errorf("empty maps %q %v", v.S, ok)
	}

	// Container ids: docker and podman scopes and a bare id in the cpuset line.
	id := strings.Repeat("0123456789abcdef", 4)
	for cg, want := range map[string]string{
		"3:cpuset:/system.slice/docker-" + id + ".scope\n0::/x\n": id,
		"3:cpuset:/machine.slice/libpod-" + id + ".scope\n":       id,
		"3:cpuset:/docker/" + id + "\n":                           id,
		"3:cpuset:/docker/" + id[:63] + "\n":                      "",
		"3:cpuset:/docker-" + strings.ToUpper(id) + ".scope\n":    "",
		"0::/system.slice/docker-" + id + ".scope\n":              "", // cgroup v2: no cpuset line
	} {
		writeFile(t, p+"/cgroup", cg)
		if v, ok, _ := one("proc.id.container"); !ok || v.S != want {
			t.Errorf("cgroup %q: container %q %v, want %q", cg, v.S, ok, want)
		}
	}
}

// TestRunqHostile: the run queue counts fail closed. A stat that does not parse
// leaves all of them absent (and is counted); a process that exits before its stat
// is read is "unknown"; a zombie is "defunct" whatever its memory.
func TestRunqHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	r := newFixtureRegistry(t, dir)
	runq := func() map[string]int64 {
		names := []string{"proc.runq.runnable", "proc.runq.blocked", "proc.runq.sleeping", "proc.runq.stopped",
			"proc.runq.swapped", "proc.runq.defunct", "proc.runq.unknown", "proc.runq.kernel", "proc.nprocs"}
		res := fetchByName(t, r, names...)
		out := map[string]int64{}
		for _, n := range names {
			if v := res[n].Values; len(v) == 1 {
				out[strings.TrimPrefix(n, "proc.runq.")] = int64(int32(v[0].U))
			}
		}
		return out
	}
	sum := func(m map[string]int64) (s int64) {
		for k, v := range m {
			if k != "proc.nprocs" {
				s += v
			}
		}
		return s
	}
	stat := filepath.Join(dir, "proc/1234/stat")
	good, _ := os.ReadFile(stat)
	for state, want := range map[string]string{"R": "runnable", "D": "blocked", "T": "stopped", "t": "stopped", "Z": "defunct", "X": "unknown"} {
		writeFile(t, stat, strings.Replace(string(good), ") S ", ") "+state+" ", 1))
		got := runq()
		if got[want] < 1 || sum(got) != got["proc.nprocs"] {
			t.Errorf("state %s: %v, want one %s and a sum of nprocs", state, got, want)
		}
	}
	// A garbage stat: no counts at all, one error.
	before := r.SourceErrors()["proc"]
	writeFile(t, stat, "1234 (x) S 1 garbage")
	if got := runq(); len(got) != 1 {
		t.Errorf("garbage stat: %v, want only nprocs", got)
	}
	if r.SourceErrors()["proc"] != before+1 {
		t.Error("garbage stat not counted")
	}
	// A process directory whose stat is gone (it exited): unknown, no error.
	os.Remove(stat)
	before = r.SourceErrors()["proc"]
	if got := runq(); got["unknown"] != 1 || sum(got) != got["proc.nprocs"] {
		t.Errorf("exited process: %v", got)
	}
	if r.SourceErrors()["proc"] != before {
		t.Error("an exited process counted as an error")
	}
}

// TestSmapsOnlyWhenAsked: smaps_rollup (the kernel walks every mapping to write it)
// is opened only by a fetch that names a proc.smaps metric, once per process for
// all of them; environ and maps likewise.
func TestSmapsOnlyWhenAsked(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	files := map[string]int{}
	fileHook = func(path string) { files[path]++ }
	defer func() { fileHook = nil }()
	fetchByName(t, r, procBenchSet...)
	for f := range files {
		if strings.HasSuffix(f, "/smaps_rollup") || strings.HasSuffix(f, "/environ") || strings.HasSuffix(f, "/maps") {
			t.Errorf("the ps-style fetch read %s", f)
		}
	}
	clear(files)
	fetchByName(t, r, "proc.smaps.rss", "proc.smaps.pss", "proc.smaps.swap", "proc.psinfo.pid")
	if n := files[filepath.Join(fixtureDir, "proc/1234/smaps_rollup")]; n != 1 {
		t.Errorf("smaps_rollup of 1234 read %d times for three metrics", n)
	}
}

// TestRunqAgreesWithReal: on this machine, the counts that do not move while the
// tools run (kernel threads in "swapped", stopped, zombies, kernel) are the real
// agent's; ours add up to proc.nprocs.
func TestRunqAgreesWithReal(t *testing.T) {
	stable := []string{"proc.runq.swapped", "proc.runq.stopped", "proc.runq.defunct", "proc.runq.kernel"}
	all := append([]string{"proc.runq.runnable", "proc.runq.blocked", "proc.runq.sleeping", "proc.runq.unknown", "proc.nprocs"}, stable...)
	r, err := New(Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ours := func() map[string]int64 {
		res := fetchByName(t, r, all...)
		out := map[string]int64{}
		for _, n := range all {
			if v := res[n].Values; len(v) == 1 {
				out[n] = int64(int32(v[0].U))
			}
		}
		return out
	}
	o1 := ours()
	out := realProcPminfo(t, append([]string{"-f"}, stable...)...)
	o2 := ours()
	real := map[string]int64{}
	name := ""
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && strings.HasPrefix(f[0], "proc."):
			name = f[0]
		case len(f) == 2 && f[0] == "value":
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				real[name] = v
			}
		}
	}
	for _, o := range []map[string]int64{o1, o2} {
		var sum int64
		for n, v := range o {
			if n != "proc.nprocs" {
				sum += v
			}
		}
		if len(o) != len(all) || sum != o["proc.nprocs"] {
			t.Errorf("ours %v: the counts do not add up to proc.nprocs", o)
		}
	}
	compared := 0
	for _, n := range stable {
		if o1[n] != o2[n] {
			continue // moved while we looked
		}
		rv, ok := real[n]
		if !ok {
			t.Errorf("%s: no value from the real agent", n)
			continue
		}
		compared++
		if rv != o1[n] {
			t.Errorf("%s: ours %d, real %d", n, o1[n], rv)
		}
	}
	if compared == 0 {
		t.Error("nothing compared")
	}
}
