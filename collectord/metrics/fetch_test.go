package metrics

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("%s line %d:\n got: %s\nwant: %s", path, i+1, g, w)
			}
		}
	}
}

func fetchAllText(t *testing.T, r *Registry) string {
	t.Helper()
	res := r.Fetch(nil, allPMIDs(r))
	var b strings.Builder
	for i, m := range r.Metrics() {
		if res[i].PMID != m.Desc.PMID {
			t.Fatalf("result %d is for %v, want %v", i, res[i].PMID, m.Desc.PMID)
		}
		b.WriteString(formatResult(m, res[i]))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestGoldenFetch fetches every metric from the fixture tree and compares with the
// expected values (testdata/golden/fetch.txt), then the instance domains.
func TestGoldenFetch(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	got := fetchAllText(t, r)
	golden(t, "fetch.txt", got)
	// A second fetch gives the same answers (no state leaks between fetches).
	if again := fetchAllText(t, r); again != got {
		t.Errorf("second fetch differs:\n%s", again)
	}

	var b strings.Builder
	for _, in := range r.InDoms() {
		insts, err := r.Instances(in)
		if err != nil {
			t.Fatalf("Instances(%v): %v", in, err)
		}
		b.WriteString(in.String() + ": " + formatInstances(insts) + "\n")
	}
	golden(t, "instances.txt", b.String())
	for name, n := range r.SourceErrors() {
		if n != 0 {
			t.Errorf("source %s: %d errors on a good fixture", name, n)
		}
	}
}

// TestValuesMatchInstances checks that every value of a metric with an instance
// domain names a current instance of that domain, and that singular metrics use
// PM_IN_NULL.
func TestValuesMatchInstances(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	res := r.Fetch(nil, allPMIDs(r))
	for i, m := range r.Metrics() {
		if m.Desc.InDom == protocol.InDomNull {
			for _, v := range res[i].Values {
				if v.Inst != protocol.InNull {
					t.Errorf("%s: singular metric with instance %d", m.Name, v.Inst)
				}
			}
			if res[i].Err == 0 && len(res[i].Values) > 1 {
				t.Errorf("%s: %d values for a singular metric", m.Name, len(res[i].Values))
			}
			continue
		}
		insts, err := r.Instances(m.Desc.InDom)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[uint32]bool{}
		for _, in := range insts {
			ids[in.ID] = true
		}
		seen := map[uint32]bool{}
		for _, v := range res[i].Values {
			if !ids[v.Inst] {
				t.Errorf("%s: value for instance %d, not in %v", m.Name, v.Inst, m.Desc.InDom)
			}
			if seen[v.Inst] {
				t.Errorf("%s: two values for instance %d", m.Name, v.Inst)
			}
			seen[v.Inst] = true
		}
	}
}

// TestAbsentIsNotZero: fields the kernel does not print give no values, never 0.
func TestAbsentIsNotZero(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	proc := filepath.Join(dir, "proc")
	// A kernel without steal/guest columns (before 2.6.11), no btime or
	// procs_blocked line.
	writeFile(t, filepath.Join(proc, "stat"), ""+
		"cpu  303700 120 208000 3443600 29700 1500 11400\n"+
		"cpu0 122000 20 83700 1792200 3000 700 5000\n"+
		"cpu1 181700 100 124300 1651400\n"+
		"intr 1511440 0 9\nctxt 2682560\nprocesses 45160\nprocs_running 3\n")
	// meminfo without MemAvailable (before 3.14), Slab or swap lines.
	writeFile(t, filepath.Join(proc, "meminfo"), ""+
		"MemTotal:       24684084 kB\nMemFree:        24475992 kB\nBuffers:            3388 kB\nCached:            54628 kB\n")
	writeFile(t, filepath.Join(proc, "loadavg"), "0.08 0.10 0.04\n")
	writeFile(t, filepath.Join(proc, "uptime"), "202.41\n")
	writeFile(t, filepath.Join(proc, "vmstat"), "nr_free_pages 6118998\npswpin 17\n")
	writeFile(t, filepath.Join(proc, "self/status"), "Name:\tcollectord\n")
	if err := os.Remove(filepath.Join(dir, "sys/class/net/eth0/mtu")); err != nil {
		t.Fatal(err)
	}
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r,
		"kernel.all.cpu.steal", "kernel.all.cpu.guest", "kernel.all.boottime", "kernel.all.blocked",
		"mem.util.available", "mem.util.slab", "swap.length", "swap.used", "swap.free",
		"kernel.all.nprocs", "kernel.all.idletime", "swap.pagesout", "pmcd.datasize",
		"kernel.percpu.cpu.wait.total", "network.interface.mtu", "network.interface.speed",
		"filesys.capacity",
		// and those still there
		"kernel.all.cpu.user", "kernel.all.cpu.intr", "kernel.all.load", "kernel.all.uptime",
		"mem.physmem", "mem.util.used", "swap.pagesin", "kernel.all.running")
	absent := []string{"kernel.all.cpu.steal", "kernel.all.cpu.guest", "kernel.all.boottime",
		"kernel.all.blocked", "mem.util.available", "mem.util.slab", "swap.length", "swap.used",
		"swap.free", "kernel.all.nprocs", "kernel.all.idletime", "swap.pagesout", "pmcd.datasize"}
	for _, n := range absent {
		if r := res[n]; r.Err != 0 || len(r.Values) != 0 {
			t.Errorf("%s: want no values, got err %d values %v", n, r.Err, r.Values)
		}
	}
	// Per instance: cpu1 prints no iowait; eth0 has no mtu file; lo no speed file and
	// wlan0 an unknown (-1) speed; /boot cannot be statfs'ed.
	checkInsts := map[string][]uint32{
		"kernel.percpu.cpu.wait.total": {0},
		"network.interface.mtu":        {0, 2},
		"network.interface.speed":      {1},
		"filesys.capacity":             {0, 1},
	}
	for n, want := range checkInsts {
		var got []uint32
		for _, v := range res[n].Values {
			got = append(got, v.Inst)
		}
		if res[n].Err != 0 || !equalU32(got, want) {
			t.Errorf("%s: instances %v (err %d), want %v", n, got, res[n].Err, want)
		}
	}
	for _, n := range []string{"kernel.all.cpu.user", "kernel.all.cpu.intr", "kernel.all.load",
		"kernel.all.uptime", "mem.physmem", "mem.util.used", "swap.pagesin", "kernel.all.running"} {
		if r := res[n]; r.Err != 0 || len(r.Values) == 0 {
			t.Errorf("%s: want values, got err %d", n, r.Err)
		}
	}
	if v := res["kernel.all.cpu.intr"].Values; len(v) == 1 && v[0].U != (1500+11400)*10 {
		t.Errorf("kernel.all.cpu.intr = %d, want %d", v[0].U, (1500+11400)*10)
	}
	for n, c := range r.SourceErrors() {
		if c != 0 {
			t.Errorf("source %s failed on merely sparse data", n)
		}
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBrokenSourceIsolated: a vanished or garbage file fails only its own metrics,
// the others keep their values, and SourceErrors counts each failure.
func TestBrokenSourceIsolated(t *testing.T) {
	want := map[string]string{}
	{
		r := newFixtureRegistry(t, fixtureDir)
		res := r.Fetch(nil, allPMIDs(r))
		for i, m := range r.Metrics() {
			want[m.Name] = formatResult(m, res[i])
		}
	}
	dir := copyTree(t, fixtureDir)
	proc := filepath.Join(dir, "proc")
	if err := os.Remove(filepath.Join(proc, "loadavg")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(proc, "meminfo"), "this is not\x00meminfo at all\n")
	writeFile(t, filepath.Join(proc, "net/dev"), "Inter-|\n face |\n  eth0: 1 2 3\n")
	writeFile(t, filepath.Join(proc, "stat"), "garbage\n")
	writeFile(t, filepath.Join(proc, "diskstats"), "   8 0 sda x y z\n")
	r := newFixtureRegistry(t, dir)
	// A source that panics is contained too.
	for _, st := range r.sources {
		if st.spec.name == "uptime" {
			st.src = panicSource{}
		}
	}
	failed := map[string]int32{
		"loadavg": -int32(syscall.ENOENT), "meminfo": protocol.ErrValue, "netdev": protocol.ErrValue,
		"stat": protocol.ErrValue, "diskstats": protocol.ErrValue, "uptime": protocol.ErrValue,
	}
	srcOf := map[string]string{}
	for _, st := range r.sources {
		for _, d := range st.spec.metrics {
			srcOf[d.name] = st.spec.name
		}
	}
	for round := 1; round <= 2; round++ {
		res := r.Fetch(nil, allPMIDs(r))
		for i, m := range r.Metrics() {
			code, broken := failed[srcOf[m.Name]]
			switch {
			case broken && res[i].Err != code:
				t.Errorf("%s (source %s): err %d, want %d", m.Name, srcOf[m.Name], res[i].Err, code)
			case broken && len(res[i].Values) != 0:
				t.Errorf("%s: values with an error", m.Name)
			case m.Name == "pmcd.gopcp.source.errors":
				// The failure counter is the one healthy metric meant to change: one
				// more failure per round for each broken source (counted after this
				// fetch's own reads, so at least round-1 here).
				names := r.SourceNames()
				for _, v := range res[i].Values {
					_, bad := failed[names[v.Inst]]
					if bad && v.U < uint64(round-1) || !bad && v.U != 0 {
						t.Errorf("round %d: source.errors[%s] = %d", round, names[v.Inst], v.U)
					}
				}
			case !broken:
				if got := formatResult(m, res[i]); got != want[m.Name] {
					t.Errorf("healthy metric changed:\n got %s\nwant %s", got, want[m.Name])
				}
			}
		}
		errs := r.SourceErrors()
		for _, name := range sortedKeys(errs) {
			wantN := uint64(0)
			if _, broken := failed[name]; broken {
				wantN = uint64(round)
			}
			if errs[name] != wantN {
				t.Errorf("round %d: SourceErrors[%s] = %d, want %d", round, name, errs[name], wantN)
			}
		}
	}
	// Instances of a broken source's domain fail with its error; others work.
	if _, err := r.Instances(indomNetIf); protocol.CodeOf(err) != protocol.ErrValue {
		t.Errorf("Instances(60.3) on garbage net/dev: %v", err)
	}
	if in, err := r.Instances(indomFilesys); err != nil || len(in) != 3 {
		t.Errorf("Instances(60.5): %v %v", in, err)
	}
}

type panicSource struct{}

func (panicSource) Fetch([]Request) error { panic("boom") }

// TestReadOncePerFetch: each source is read once per fetch, however many of its
// metrics are asked for (even twice), and only the sources needed are read.
func TestReadOncePerFetch(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	var mu sync.Mutex
	reads := map[string]int{}
	r.readHook = func(name string) {
		mu.Lock()
		reads[name]++
		mu.Unlock()
	}
	files := map[string]int{}
	fileHook = func(path string) { files[path]++ }
	defer func() { fileHook = nil }()
	pmids := allPMIDs(r)
	pmids = append(pmids, pmids...) // every metric twice
	for round := 0; round < 2; round++ {
		for k := range reads {
			delete(reads, k)
		}
		for k := range files {
			delete(files, k)
		}
		r.Fetch(nil, pmids)
		for _, name := range r.SourceNames() {
			if reads[name] != 1 {
				t.Errorf("source %s read %d times in one fetch", name, reads[name])
			}
		}
		for _, p := range sortedKeys(files) {
			if files[p] != 1 {
				t.Errorf("%s read %d times in one fetch", p, files[p])
			}
		}
		if len(files) < 15 {
			t.Errorf("only %d files read: %v", len(files), sortedKeys(files))
		}
	}
	for k := range files {
		delete(files, k)
	}
	fetchByName(t, r, "kernel.all.load")
	if got := sortedKeys(files); len(got) != 1 || filepath.Base(got[0]) != "loadavg" {
		t.Errorf("a fetch of kernel.all.load read %v", got)
	}

	cases := []struct {
		names []string
		want  []string
	}{
		{[]string{"kernel.all.load"}, []string{"loadavg"}},
		{[]string{"kernel.all.load", "kernel.all.nprocs"}, []string{"loadavg"}},
		{[]string{"kernel.all.cpu.user", "kernel.percpu.cpu.idle", "hinv.ncpu", "kernel.all.intr"}, []string{"stat"}},
		{[]string{"mem.util.free", "swap.used", "hinv.physmem", "kernel.all.uptime"}, []string{"meminfo", "uptime"}},
		{[]string{"network.interface.mtu", "network.interface.in.bytes", "disk.all.read"}, []string{"diskstats", "netdev"}},
		{[]string{"proc.nprocs", "pmcd.numclients"}, []string{"pmcd", "proc"}},
	}
	for _, c := range cases {
		for k := range reads {
			delete(reads, k)
		}
		fetchByName(t, r, c.names...)
		got := sortedKeys(reads)
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("fetch %v read %v, want %v", c.names, got, c.want)
		}
		for _, k := range got {
			if reads[k] != 1 {
				t.Errorf("fetch %v read %s %d times", c.names, k, reads[k])
			}
		}
	}
}

// TestFetchErrorsAndOrder: results come back in request order, with PM_ERR_NOAGENT
// for an unknown domain and PM_ERR_PMID for an unknown item of a known one; dst is
// appended to and its memory reused.
func TestFetchErrorsAndOrder(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	load, _ := r.ByName("kernel.all.load")
	ncpu, _ := r.ByName("hinv.ncpu")
	req := []protocol.PMID{
		ncpu.Desc.PMID,
		protocol.NewPMID(60, 0, 1000), // linux, no such item
		protocol.NewPMID(77, 0, 0),    // no such agent
		protocol.NewPMID(2, 9, 9),     // pmcd, no such item
		protocol.NewPMID(3, 8, 98),    // proc, no such item
		load.Desc.PMID,
		ncpu.Desc.PMID,
		protocol.PMIDNull,
	}
	prefix := []Result{{PMID: 1, Err: -1}}
	res := r.Fetch(prefix, req)
	if len(res) != 1+len(req) || res[0].PMID != 1 || res[0].Err != -1 {
		t.Fatalf("Fetch did not append to dst: %+v", res[:1])
	}
	res = res[1:]
	wantErr := []int32{0, protocol.ErrPMID, protocol.ErrNoAgent, protocol.ErrPMID, protocol.ErrPMID, 0, 0, protocol.ErrNoAgent}
	for i := range req {
		if res[i].PMID != req[i] || res[i].Err != wantErr[i] {
			t.Errorf("result %d: pmid %v err %d, want %v err %d", i, res[i].PMID, res[i].Err, req[i], wantErr[i])
		}
	}
	if len(res[0].Values) != 1 || res[0].Values[0].U != 2 || len(res[6].Values) != 1 {
		t.Errorf("hinv.ncpu: %+v %+v", res[0], res[6])
	}
	if len(res[5].Values) != 3 {
		t.Errorf("kernel.all.load: %+v", res[5])
	}

	// Reusing the result memory: a warm fetch allocates nothing but the path of the
	// two fixture files it opens (real /proc files stay open: see TestRealProc).
	dst := r.Fetch(nil, []protocol.PMID{load.Desc.PMID, ncpu.Desc.PMID})
	allocs := testing.AllocsPerRun(50, func() {
		dst = r.Fetch(dst[:0], []protocol.PMID{load.Desc.PMID, ncpu.Desc.PMID})
	})
	if allocs > 2 && !raceEnabled {
		t.Errorf("warm fetch allocates %.1f times", allocs)
	}
	if len(dst) != 2 || len(dst[0].Values) != 3 || len(dst[1].Values) != 1 {
		t.Errorf("reused fetch: %+v", dst)
	}
}

// TestInstanceIDsStable: disk, interface and filesystem ids are given as names first
// appear and never reused, even after the name goes away.
func TestInstanceIDsStable(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	proc := filepath.Join(dir, "proc")
	r := newFixtureRegistry(t, dir)
	inst := func(in protocol.InDom) string {
		t.Helper()
		x, err := r.Instances(in)
		if err != nil {
			t.Fatal(err)
		}
		return formatInstances(x)
	}
	if got, want := inst(indomDisk), `0 "vda", 1 "sda", 2 "nvme0n1"`; got != want {
		t.Fatalf("disks: %s, want %s", got, want)
	}
	writeFile(t, filepath.Join(proc, "diskstats"), ""+
		" 259 0 nvme0n1 500 0 4001 20 600 0 8000 30 0 77 50 0 0 0 0 0 0\n"+
		"   8 16 sdb 1 0 8 0 1 0 8 0 0 1 0 0 0 0 0\n")
	if got, want := inst(indomDisk), `2 "nvme0n1", 3 "sdb"`; got != want {
		t.Errorf("disks after change: %s, want %s", got, want)
	}
	writeFile(t, filepath.Join(proc, "diskstats"), ""+
		"   8 16 sdb 1 0 8 0 1 0 8 0 0 1 0 0 0 0 0\n"+
		" 254 0 vda 1 0 8 0 1 0 8 0 0 1 0 0 0 0 0\n")
	if got, want := inst(indomDisk), `0 "vda", 3 "sdb"`; got != want {
		t.Errorf("disks after vda returns: %s, want %s", got, want)
	}
	res := fetchByName(t, r, "disk.dev.read")["disk.dev.read"]
	if len(res.Values) != 2 || res.Values[0].Inst != 3 || res.Values[1].Inst != 0 {
		t.Errorf("disk.dev.read values %+v", res.Values)
	}

	if got, want := inst(indomNetIf), `0 "lo", 1 "eth0", 2 "wlan0"`; got != want {
		t.Fatalf("interfaces: %s, want %s", got, want)
	}
	writeFile(t, filepath.Join(proc, "net/dev"), "Inter-|\n face |\n"+
		"  veth9: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"+
		"    lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n")
	if got, want := inst(indomNetIf), `0 "lo", 3 "veth9"`; got != want {
		t.Errorf("interfaces after change: %s, want %s", got, want)
	}
	if got, want := inst(indomFilesys), `0 "/dev/vda1", 1 "/dev/sda1", 2 "/dev/nvme0n1p1"`; got != want {
		t.Fatalf("filesystems: %s, want %s", got, want)
	}
	writeFile(t, filepath.Join(proc, "mounts"), "/dev/sda1 /data ext4 rw 0 0\n/dev/sdz1 /z ext4 rw 0 0\n")
	if got, want := inst(indomFilesys), `1 "/dev/sda1", 3 "/dev/sdz1"`; got != want {
		t.Errorf("filesystems after change: %s, want %s", got, want)
	}
}

func TestInstancesErrors(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	// 60.1000 is no instance domain of the linux agent.
	for _, in := range []protocol.InDom{protocol.NewInDom(60, 1000), protocol.NewInDom(9, 1), protocol.InDomNull, protocol.NewInDom(2, 50)} {
		_, err := r.Instances(in)
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.ErrInDom {
			t.Errorf("Instances(%v) = %v, want PM_ERR_INDOM", in, err)
		}
	}
	dir := copyTree(t, fixtureDir)
	if err := os.Remove(filepath.Join(dir, "proc/diskstats")); err != nil {
		t.Fatal(err)
	}
	r = newFixtureRegistry(t, dir)
	if _, err := r.Instances(indomDisk); protocol.CodeOf(err) != -int32(syscall.ENOENT) {
		t.Errorf("Instances(60.1) without diskstats: %v", err)
	}
}

// TestSelfMetrics checks the pmcd metrics against the server's view of itself, with
// and without a Self.
func TestSelfMetrics(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	self := r.env.self.(*fakeSelf)
	self.feat = Features{ClientCertRequired: true, Local: true}
	res := fetchByName(t, r, "pmcd.feature.secure", "pmcd.feature.client_cert_required", "pmcd.feature.local",
		"pmcd.numclients", "pmcd.client.start_date")
	check := func(name string, want uint64) {
		t.Helper()
		if v := res[name].Values; len(v) != 1 || v[0].U != want {
			t.Errorf("%s = %+v, want %d", name, v, want)
		}
	}
	check("pmcd.feature.secure", 0)
	check("pmcd.feature.client_cert_required", 1)
	check("pmcd.feature.local", 1)
	check("pmcd.numclients", 2)
	if v := res["pmcd.client.start_date"].Values; len(v) != 2 || v[0].Inst != 2 || v[1].S != "Tue Nov  3 09:05:01 2026" {
		t.Errorf("pmcd.client.start_date = %+v", v)
	}
	insts, err := r.Instances(indomClients)
	if err != nil || formatInstances(insts) != `2 "2", 7 "7"` {
		t.Errorf("Instances(2.6) = %v, %v", insts, err)
	}

	r.env.self = nil
	res = fetchByName(t, r, "pmcd.numclients", "pmcd.client.whoami", "pmcd.feature.secure", "pmcd.feature.ipv6")
	check("pmcd.numclients", 0)
	check("pmcd.feature.secure", 0)
	check("pmcd.feature.ipv6", 1)
	if r := res["pmcd.client.whoami"]; r.Err != 0 || len(r.Values) != 0 {
		t.Errorf("pmcd.client.whoami without a server: %+v", r)
	}

	r.env.version = ""
	res = fetchByName(t, r, "pmcd.version", "pmcd.build")
	if v := res["pmcd.version"].Values; len(v) != 1 || v[0].S != PCPVersion {
		t.Errorf("pmcd.version = %+v, want the PCP release %s", v, PCPVersion)
	}
	if len(res["pmcd.build"].Values) != 0 {
		t.Errorf("no version given, yet pmcd.build has a value")
	}
}

func TestConcurrentFetch(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	want := fetchAllText(t, r)
	pmids := allPMIDs(r)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dst []Result
			for i := 0; i < 50; i++ {
				dst = r.Fetch(dst[:0], pmids)
				var b strings.Builder
				for j, m := range r.Metrics() {
					b.WriteString(formatResult(m, dst[j]) + "\n")
				}
				if b.String() != want {
					errs <- "concurrent fetch gave different results"
					return
				}
				if _, err := r.Instances(indomDisk); err != nil {
					errs <- err.Error()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestRealProc fetches everything from the running kernel: no source may fail, and
// the metrics every Linux has must have values.
func TestRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc")
	}
	r, err := New(Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	res := fetchByName(t, r, "kernel.all.load", "kernel.all.cpu.user", "hinv.ncpu", "mem.physmem",
		"kernel.uname.release", "kernel.uname.machine", "proc.nprocs", "kernel.all.uptime", "pmcd.openfds",
		"pmcd.cputime.total", "pmcd.datasize", "network.interface.in.bytes", "kernel.percpu.cpu.user")
	for _, n := range sortedKeys(res) {
		if res[n].Err != 0 || len(res[n].Values) == 0 {
			t.Errorf("%s on this host: err %d, %d values", n, res[n].Err, len(res[n].Values))
		}
	}
	if v := res["hinv.ncpu"].Values; len(v) == 1 && int(v[0].U) != len(res["kernel.percpu.cpu.user"].Values) {
		t.Errorf("hinv.ncpu %d, but %d per-cpu values", v[0].U, len(res["kernel.percpu.cpu.user"].Values))
	}
	// The kernel files stay open between fetches: a warm fetch allocates nothing.
	pmids := []protocol.PMID{pmidOf(t, r, "kernel.all.load"), pmidOf(t, r, "kernel.all.cpu.user"),
		pmidOf(t, r, "mem.util.free"), pmidOf(t, r, "network.interface.in.bytes"), pmidOf(t, r, "disk.all.read")}
	dst := r.Fetch(nil, pmids)
	if allocs := testing.AllocsPerRun(20, func() { dst = r.Fetch(dst[:0], pmids) }); allocs > 0 && !raceEnabled {
		t.Errorf("warm fetch on /proc allocates %.1f times", allocs)
	}
	r.Fetch(nil, allPMIDs(r))
	for name, n := range r.SourceErrors() {
		// Refusals to read another process's files (proc.io of pid 1 in a sandbox)
		// are expected on a real host; any other failure is not.
		if name == "proc" {
			n -= source[*processSource](t, r, "proc").denied.Load()
		}
		if n != 0 {
			t.Errorf("source %s failed on this host", name)
		}
	}
}
