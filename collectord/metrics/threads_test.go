package metrics

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// taskStat is a /proc/<pid>/task/<tid>/stat line: comm, state and utime (ticks)
// vary; the virtual size is not 0, so the run queue counts it by its state.
func taskStat(tid int, comm, state string, utime int) string {
	return fmt.Sprintf("%d (%s) %s 1 1 1 0 -1 4194560 10 0 0 0 %d 5 0 0 20 0 3 0 51234 123456789 2048 "+
		"18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n", tid, comm, state, utime)
}

// makeThreadTree is makeProcTree's two processes (1000 and 1001, each whole:
// state S, utime 250 ticks) where 1000 has three tasks: itself (utime 100), 1003
// "worker-thr" running, 1007 "io thread" in uninterruptible wait. Each task folder
// holds only stat and status, as far as the test needs: the rest is the
// process's. 1001 has no task folder at all.
func makeThreadTree(t *testing.T) string {
	t.Helper()
	dir := makeProcTree(t, 2)
	status, err := os.ReadFile(filepath.Join(fixtureDir, "proc/1234/status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range []struct {
		tid         int
		comm, state string
		utime       int
	}{{1000, "worker-1000", "S", 100}, {1003, "worker-thr", "R", 40}, {1007, "io thread", "D", 7}} {
		td := filepath.Join(dir, "1000/task", fmt.Sprint(tk.tid))
		if err := os.MkdirAll(td, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(td, "stat"), taskStat(tk.tid, tk.comm, tk.state, tk.utime))
		st := strings.Replace(string(status), "Tgid:\t1234", "Tgid:\t1000", 1)
		st = strings.Replace(st, "Pid:\t1234", fmt.Sprintf("Pid:\t%d", tk.tid), 1)
		writeFile(t, filepath.Join(td, "status"), st)
	}
	return dir
}

func newThreadRegistry(t *testing.T) *Registry {
	t.Helper()
	r, err := New(Options{Version: "test", ProcRoot: makeThreadTree(t), EtcRoot: filepath.Join(fixtureDir, "etc")})
	if err != nil {
		t.Fatal(err)
	}
	r.env.pageSize = 4096
	return r
}

// storeU32 is the value set pmstore sends for a 32-bit value.
func storeU32(p protocol.PMID, v uint32) *protocol.ValueSet {
	return &protocol.ValueSet{PMID: p, NumVal: 1, ValFmt: protocol.ValFmtInsitu,
		Values: []protocol.Value{{Inst: protocol.InNull, Insitu: v}}}
}

// mustStore checks and applies a store that must be accepted.
func mustStore(t *testing.T, r *Registry, vs *protocol.ValueSet, o StoreOpts) {
	t.Helper()
	if code := r.CheckStore(vs, o); code != 0 {
		t.Fatalf("store into %v refused: %s", vs.PMID, protocol.ErrStr(code))
	}
	r.ApplyStore(vs, o)
}

// fetchFor fetches names for a client and returns each metric's values by
// instance (formatted), or its error.
func fetchFor(t *testing.T, r *Registry, o FetchOpts, names ...string) (map[string]map[uint32]string, map[string]int32) {
	t.Helper()
	pmids := make([]protocol.PMID, len(names))
	for i, n := range names {
		pmids[i] = pmidOf(t, r, n)
	}
	vals, errs := map[string]map[uint32]string{}, map[string]int32{}
	for i, res := range r.FetchFor(nil, pmids, o) {
		if res.Err != 0 {
			errs[names[i]] = res.Err
			continue
		}
		m, _ := r.ByPMID(pmids[i])
		vals[names[i]] = map[uint32]string{}
		for _, v := range res.Values {
			vals[names[i]][v.Inst] = formatValue(m.Desc.Type, v)
		}
	}
	return vals, errs
}

func instanceIDs(t *testing.T, r *Registry, o FetchOpts) ([]uint32, map[uint32]string) {
	t.Helper()
	insts, err := r.InstancesOf(indomProc, o)
	if err != nil {
		t.Fatal(err)
	}
	ids, names := []uint32{}, map[uint32]string{}
	for _, in := range insts {
		ids = append(ids, in.ID)
		names[in.ID] = in.Name
	}
	return ids, names
}

// TestThreadsPerClient: a client that stores proc.control.perclient.threads 1
// sees every task as an instance, named and read as the real proc agent does
// (the task's own stat: a leader's values are the leader thread's, not the whole
// process's), and proc.nprocs and proc.runq.* count tasks; another client of the
// same collector still sees processes.
func TestThreadsPerClient(t *testing.T) {
	r := newThreadRegistry(t)
	perclient := pmidOf(t, r, "proc.control.perclient.threads")
	htop, other := &ClientSettings{}, &ClientSettings{}
	asHtop := FetchOpts{Trusted: true, Client: htop}
	asOther := FetchOpts{Trusted: true, Client: other}
	names := []string{"proc.nprocs", "proc.control.all.threads", "proc.control.perclient.threads",
		"proc.psinfo.pid", "proc.psinfo.tgid", "proc.psinfo.cmd", "proc.psinfo.utime", "proc.psinfo.threads",
		"proc.psinfo.cgroups", "proc.runq.runnable", "proc.runq.blocked", "proc.runq.sleeping"}

	before, _ := fetchFor(t, r, asHtop, names...)
	if ids, _ := instanceIDs(t, r, asHtop); !slices.Equal(ids, []uint32{1000, 1001}) || before["proc.nprocs"][protocol.InNull] != "2" ||
		before["proc.control.perclient.threads"][protocol.InNull] != "0" || before["proc.control.all.threads"][protocol.InNull] != "0" {
		t.Fatalf("before any store: instances %v, values %v", ids, before)
	}

	mustStore(t, r, storeU32(perclient, 1), StoreOpts{Local: true, Trusted: true, Client: htop})
	ids, inames := instanceIDs(t, r, asHtop)
	if !slices.Equal(ids, []uint32{1000, 1001, 1003, 1007}) {
		t.Fatalf("instances with threads: %v, want 1000 1001 1003 1007", ids)
	}
	if inames[1003] != "001003 /usr/bin/my" || inames[1000] != "001000 /usr/bin/my" {
		t.Errorf("task names: %v", inames)
	}
	got, errs := fetchFor(t, r, asHtop, names...)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := map[string]map[uint32]string{
		"proc.nprocs":                    {protocol.InNull: "4"},
		"proc.control.all.threads":       {protocol.InNull: "0"},
		"proc.control.perclient.threads": {protocol.InNull: "1"},
		"proc.psinfo.pid":                {1000: "1000", 1001: "1001", 1003: "1003", 1007: "1007"},
		"proc.psinfo.tgid":               {1000: "1000", 1001: "1234", 1003: "1000", 1007: "1000"},
		"proc.psinfo.cmd":                {1000: `"worker-1000"`, 1001: `"worker-1001"`, 1003: `"worker-thr"`, 1007: `"io thread"`},
		// 1000 is its leader thread's 100 ticks, not the process's 250; 1001 has
		// no task folder and is read whole.
		"proc.psinfo.utime":   {1000: "1000", 1001: "2500", 1003: "400", 1007: "70"},
		"proc.psinfo.threads": {1000: "3", 1001: "3", 1003: "3", 1007: "3"},
		// cgroup is not in the task folders: the process's, for each task.
		"proc.psinfo.cgroups": {1000: `":/user.slice/user-1000.slice/session-3.scope"`, 1001: `":/user.slice/user-1000.slice/session-3.scope"`,
			1003: `":/user.slice/user-1000.slice/session-3.scope"`, 1007: `":/user.slice/user-1000.slice/session-3.scope"`},
		"proc.runq.runnable": {protocol.InNull: "1"},
		"proc.runq.blocked":  {protocol.InNull: "1"},
		"proc.runq.sleeping": {protocol.InNull: "2"},
	}
	for _, n := range names {
		if fmt.Sprint(got[n]) != fmt.Sprint(want[n]) {
			t.Errorf("%s with threads: %v, want %v", n, got[n], want[n])
		}
	}

	// A profile naming one task reads just that one, under its own id.
	only := func(protocol.InDom) ([]uint32, bool) { return []uint32{1000}, true }
	one, _ := fetchFor(t, r, FetchOpts{Trusted: true, Client: htop, Only: only}, "proc.psinfo.utime")
	if fmt.Sprint(one["proc.psinfo.utime"]) != "map[1000:1000]" {
		t.Errorf("profile of the leader task: %v", one)
	}

	// The other client, and a caller with no settings, still see processes.
	for _, o := range []FetchOpts{asOther, {Trusted: true}} {
		ids, _ := instanceIDs(t, r, o)
		v, _ := fetchFor(t, r, o, "proc.nprocs", "proc.control.perclient.threads", "proc.psinfo.utime")
		if !slices.Equal(ids, []uint32{1000, 1001}) || v["proc.nprocs"][protocol.InNull] != "2" ||
			v["proc.control.perclient.threads"][protocol.InNull] != "0" || v["proc.psinfo.utime"][1000] != "2500" {
			t.Errorf("a client that set nothing (%+v): instances %v, values %v", o.Client, ids, v)
		}
	}

	// Off again for this client.
	mustStore(t, r, storeU32(perclient, 0), StoreOpts{Trusted: true, Client: htop})
	if ids, _ := instanceIDs(t, r, asHtop); !slices.Equal(ids, []uint32{1000, 1001}) {
		t.Errorf("after storing 0: %v", ids)
	}
}

// TestThreadsAll: proc.control.all.threads applies to every client that has not
// set its own; a client's own 0 wins over it. Without trust, process values and
// the list stay refused with threads on; proc.nprocs (public) counts tasks.
func TestThreadsAll(t *testing.T) {
	r := newThreadRegistry(t)
	all := pmidOf(t, r, "proc.control.all.threads")
	perclient := pmidOf(t, r, "proc.control.perclient.threads")
	mustStore(t, r, storeU32(all, 1), StoreOpts{Local: true, Trusted: true, Client: &ClientSettings{}})

	later := &ClientSettings{}
	ids, _ := instanceIDs(t, r, FetchOpts{Trusted: true, Client: later})
	v, _ := fetchFor(t, r, FetchOpts{Trusted: true, Client: later}, "proc.control.all.threads", "proc.control.perclient.threads", "proc.nprocs")
	if !slices.Equal(ids, []uint32{1000, 1001, 1003, 1007}) || fmt.Sprint(v) !=
		"map[proc.control.all.threads:map[4294967295:1] proc.control.perclient.threads:map[4294967295:1] proc.nprocs:map[4294967295:4]]" {
		t.Errorf("a later client: instances %v, values %v", ids, v)
	}

	own := &ClientSettings{}
	mustStore(t, r, storeU32(perclient, 0), StoreOpts{Trusted: true, Client: own})
	if ids, _ := instanceIDs(t, r, FetchOpts{Trusted: true, Client: own}); !slices.Equal(ids, []uint32{1000, 1001}) {
		t.Errorf("a client that stored perclient 0 under all.threads 1: %v", ids)
	}

	untrusted := FetchOpts{Client: &ClientSettings{}}
	if _, err := r.InstancesOf(indomProc, untrusted); !isCode(err, protocol.ErrPermission) {
		t.Errorf("untrusted instance list with threads: %v", err)
	}
	v, errs := fetchFor(t, r, untrusted, "proc.psinfo.psargs", "proc.psinfo.pid", "proc.nprocs")
	if errs["proc.psinfo.psargs"] != protocol.ErrPermission || errs["proc.psinfo.pid"] != protocol.ErrPermission ||
		v["proc.nprocs"][protocol.InNull] != "4" {
		t.Errorf("untrusted fetch with threads: values %v, errors %v", v, errs)
	}
}

func isCode(err error, code int32) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == code
}

// TestThreadsStoreRules: the answers the real proc agent gives, from the
// attacker's side: a client that did not prove who it is may set neither
// (all.threads: PM_ERR_PERMISSION; perclient: PM_ERR_NOCONTEXT, the agent keeps
// no state for it), values other than 0 and 1 and malformed value sets are
// refused, and no other proc.* metric takes a store. Nothing refused changes
// anything.
func TestThreadsStoreRules(t *testing.T) {
	r := newThreadRegistry(t)
	all := pmidOf(t, r, "proc.control.all.threads")
	perclient := pmidOf(t, r, "proc.control.perclient.threads")
	cgroups := pmidOf(t, r, "proc.control.perclient.cgroups")
	c := &ClientSettings{}
	trusted := StoreOpts{Local: true, Trusted: true, Client: c}
	loopback := StoreOpts{Local: true, Client: c}
	remote := StoreOpts{Client: c}
	two := &protocol.ValueSet{PMID: all, NumVal: 2, Values: []protocol.Value{{Inst: protocol.InNull, Insitu: 1}, {Inst: 1, Insitu: 1}}}
	none := &protocol.ValueSet{PMID: perclient, NumVal: 0}
	dyn := &protocol.ValueSet{PMID: all, NumVal: 1, ValFmt: protocol.ValFmtDynamic,
		Values: []protocol.Value{{Inst: protocol.InNull, VType: uint8(protocol.TypeU32), Payload: []byte{0, 0, 0, 1}}}}
	str := &protocol.ValueSet{PMID: cgroups, NumVal: 1, ValFmt: protocol.ValFmtDynamic,
		Values: []protocol.Value{{Inst: protocol.InNull, VType: uint8(protocol.TypeString), Payload: []byte("/sys/fs/cgroup\x00")}}}
	for _, tc := range []struct {
		name string
		vs   *protocol.ValueSet
		o    StoreOpts
		want int32
	}{
		{"all.threads from loopback TCP", storeU32(all, 1), loopback, protocol.ErrPermission},
		{"all.threads from another host", storeU32(all, 1), remote, protocol.ErrPermission},
		{"perclient.threads from loopback TCP", storeU32(perclient, 1), loopback, protocol.ErrNoContext},
		{"perclient.threads from another host", storeU32(perclient, 1), remote, protocol.ErrNoContext},
		{"perclient.threads with no client", storeU32(perclient, 1), StoreOpts{Trusted: true}, protocol.ErrNoContext},
		{"all.threads 2", storeU32(all, 2), trusted, protocol.ErrBadStore},
		{"perclient.threads 2", storeU32(perclient, 2), trusted, protocol.ErrBadStore},
		{"two values", two, trusted, protocol.ErrInst},
		{"no value", none, trusted, protocol.ErrInst},
		{"a value block", dyn, trusted, protocol.ErrBadStore},
		{"perclient.cgroups", str, trusted, protocol.ErrPermission},
		{"proc.nprocs", storeU32(pmidOf(t, r, "proc.nprocs"), 1), trusted, protocol.ErrPermission},
		{"proc.psinfo.pid", storeU32(pmidOf(t, r, "proc.psinfo.pid"), 1), trusted, protocol.ErrPermission},
	} {
		if got := r.CheckStore(tc.vs, tc.o); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, protocol.ErrStr(got), protocol.ErrStr(tc.want))
		}
	}
	// The server applies only what CheckStore accepted; nothing was, so nothing
	// changed.
	if on, set := c.Threads(); on || set {
		t.Errorf("refused stores changed the client's setting: on %v set %v", on, set)
	}
	v, _ := fetchFor(t, r, FetchOpts{Trusted: true, Client: c}, "proc.control.all.threads", "proc.nprocs", "proc.control.perclient.cgroups")
	if fmt.Sprint(v) != `map[proc.control.all.threads:map[4294967295:0] proc.control.perclient.cgroups:map[4294967295:""] proc.nprocs:map[4294967295:2]]` {
		t.Errorf("after refused stores: %v", v)
	}
}

// TestThreadsLive: on this host's /proc, a thread of the test process (locked to
// its goroutine, so it lives until the test ends) is an instance for a client
// with threads on, named by its tid, with its own pid and the process as its
// thread group; a client without threads sees the process only.
func TestThreadsLive(t *testing.T) {
	tidc, stop := make(chan int), make(chan struct{})
	defer close(stop)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		tidc <- syscall.Gettid()
		<-stop
	}()
	tid := uint32(<-tidc)
	pid := uint32(os.Getpid())
	if tid == pid {
		t.Skip("the locked goroutine runs on the main thread")
	}
	r, err := New(Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	c := &ClientSettings{}
	mustStore(t, r, storeU32(pmidOf(t, r, "proc.control.perclient.threads"), 1), StoreOpts{Trusted: true, Client: c})
	ids, inames := instanceIDs(t, r, FetchOpts{Trusted: true, Client: c})
	if !slices.Contains(ids, tid) || !slices.Contains(ids, pid) || !strings.HasPrefix(inames[tid], fmt.Sprintf("%06d ", tid)) {
		t.Fatalf("thread %d of process %d: in the list %v, name %q", tid, pid, slices.Contains(ids, tid), inames[tid])
	}
	for _, o := range []FetchOpts{
		{Trusted: true, Client: c},
		{Trusted: true, Client: c, Only: func(protocol.InDom) ([]uint32, bool) { return []uint32{tid}, true }},
	} {
		v, _ := fetchFor(t, r, o, "proc.psinfo.pid", "proc.psinfo.tgid")
		if v["proc.psinfo.pid"][tid] != fmt.Sprint(tid) || v["proc.psinfo.tgid"][tid] != fmt.Sprint(pid) {
			t.Errorf("thread %d (profile %v): pid %q, tgid %q", tid, o.Only != nil, v["proc.psinfo.pid"][tid], v["proc.psinfo.tgid"][tid])
		}
	}
	if ids, _ := instanceIDs(t, r, FetchOpts{Trusted: true}); slices.Contains(ids, tid) || !slices.Contains(ids, pid) {
		t.Errorf("without threads: thread listed %v, process listed %v", slices.Contains(ids, tid), slices.Contains(ids, pid))
	}
}

// BenchmarkProcAllThreads is BenchmarkProcAll for a client with threads on: every
// task of this host, the ps-style set of metrics (compare the two for the cost of
// listing and reading tasks).
func BenchmarkProcAllThreads(b *testing.B) {
	r, err := New(Options{Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	var pmids []protocol.PMID
	for _, n := range procBenchSet {
		pmids = append(pmids, pmidOf(b, r, n))
	}
	c := &ClientSettings{}
	c.setThreads(true)
	o := FetchOpts{Trusted: true, Client: c}
	dst := r.FetchFor(nil, pmids, o)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = r.FetchFor(dst[:0], pmids, o)
	}
	b.ReportMetric(float64(len(dst[0].Values)), "tasks")
}
