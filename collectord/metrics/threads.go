package metrics

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/gopcp/gopcp/protocol"
)

// Threads as process instances: proc.control.all.threads and
// proc.control.perclient.threads, served as PCP 6.0.3's proc agent serves them
// (measured against it; the facts are in the tests).
//
// Both are 0 by default: the process instance domain lists processes. When the
// setting that applies to a fetch is 1, the walk lists every task instead: each
// /proc/<pid> and, after it, every /proc/<pid>/task/<tid> but the leader itself.
// A task's instance id is its tid and its name is formed as a process's ("<tid
// in six digits> <first word of the command line>"), so `pcp htop` and pmrep see
// the instances the real agent gives them. proc.nprocs and proc.runq.* then count
// tasks. A task's values come from its own folder, /proc/<pid>/task/<tid>/<file>
// (the real agent opens /proc/<tid>/task/<tid>, the same folder, which the kernel
// resolves though it does not list it): the task's own stat, status, io and so
// on, which for a process's leader means the leader thread alone rather than the
// whole process, as in the real agent. A file the task folder lacks (autogroup
// and smaps_rollup exist only per process) is read from /proc/<pid>/<file>; the
// command line, exe and cwd are always the process's.
//
// Which setting applies: a client's own proc.control.perclient.threads once it
// stored one (0 or 1), else proc.control.all.threads. Reading perclient.threads
// gives the setting that applies to the reader.
//
// Who may store:
//   - all.threads changes what every client sees, so only a client that proved
//     who it is (StoreOpts.Trusted: the unix socket or a verified certificate)
//     may store it; anyone else gets PM_ERR_PERMISSION. The real agent asks for
//     the credentials pmcd passes on from its unix socket.
//   - perclient.threads is kept for one client connection (ClientSettings). The
//     real agent keeps per-client state only for clients whose credentials pmcd
//     passed on, and answers any other with PM_ERR_NOCONTEXT; so does this
//     collector for a client that is not trusted (it could not read a process
//     value either way).
//   - A value other than 0 or 1 is PM_ERR_BADSTORE, a value set without exactly
//     one value PM_ERR_INST, as the real agent answers.
//
// proc.control.perclient.cgroups stays "" and refuses stores: the real agent
// (6.0.3) takes the string as a file system path and lists the pids of
// "<path>/tasks" (cgroup v1 with threads on) or of "<path>/container/cgroup.procs"
// (or cgroup.threads) otherwise, so on a host whose groups have no "container"
// folder a filter naming an existing group lists no process at all (measured:
// 0 processes without threads, the group's 13 tasks with them). There is no
// behaviour there worth copying, and a client-chosen path opened by the
// collector is a probe of the file system, so the filter is left out.
//
// hotproc.* (hotproc.go) lists hot processes, never their other tasks, whatever
// the setting; the real agent adds the tasks of each hot process when threads
// are on.

// ClientSettings are the proc agent's settings that belong to one client
// connection (proc.control.perclient.*). The server keeps one per connection and
// passes it in FetchOpts, StoreOpts and InstancesOf; its zero value is a client
// that set nothing. It is safe for concurrent use.
type ClientSettings struct {
	// threads is 0 when the client stored nothing (all.threads applies), else
	// 1 + the value it stored.
	threads atomic.Uint32
}

// Threads reports the client's own threads setting: set false when it stored
// none.
func (c *ClientSettings) Threads() (on, set bool) {
	if c == nil {
		return false, false
	}
	v := c.threads.Load()
	return v == 2, v != 0
}

func (c *ClientSettings) setThreads(on bool) {
	v := uint32(1)
	if on {
		v = 2
	}
	c.threads.Store(v)
}

// threadState is the proc source's part of the thread settings.
type threadState struct {
	all atomic.Bool // proc.control.all.threads
	// on: the walk now running lists tasks (set at the start of each Fetch and
	// Instances, which the registry serialises for this source).
	on bool
	// tasks: the tasks other than leaders the walk listed, by ascending tid,
	// with their process. A task is read under its process's folder,
	// /proc/<tgid>/task/<tid>; the kernel also resolves /proc/<tid>, unlisted,
	// which is all a walk without a listing (a profile naming tids) can use.
	tasks []taskID
}

type taskID struct{ tid, tgid uint32 }

// beginWalk sets up the thread state of one Fetch or Instances for client c.
func (s *processSource) beginWalk(c *ClientSettings) {
	s.thr.on = s.threadsFor(c)
	s.thr.tasks = s.thr.tasks[:0]
}

// threadsFor says whether a walk for client c lists tasks.
func (s *processSource) threadsFor(c *ClientSettings) bool {
	if on, set := c.Threads(); set {
		return on
	}
	return s.thr.all.Load()
}

// tgidOf gives the process of a task the walk listed, else the id itself.
func (s *processSource) tgidOf(id uint32) uint32 {
	t := s.thr.tasks
	if i, ok := slices.BinarySearchFunc(t, id, func(e taskID, id uint32) int { return cmp.Compare(e.tid, id) }); ok {
		return t[i].tgid
	}
	return id
}

// Selectors of the two settings that take stores.
var (
	selAllThreads       = len(procMetrics) + gAllThreads
	selPerclientThreads = len(procMetrics) + gPerclientThreads
)

// appendTasks appends, for every pid in pids, the ids of its other tasks
// (/proc/<pid>/task/<tid>, tid != pid) and returns the list sorted. A process
// whose task folder cannot be listed (it exited, or a fixture lacks one) adds
// nothing: it is still there as itself.
func (s *processSource) appendTasks(pids []uint32) []uint32 {
	s.thr.tasks = s.thr.tasks[:0]
	var path []byte
	for _, pid := range pids {
		path = append(path[:0], s.root...)
		path = append(path, '/')
		path = strconv.AppendUint(path, uint64(pid), 10)
		path = append(path, "/task"...)
		buf, _ := listDir(string(path), s.dbuf, func(_ int, name []byte) {
			if len(name) > 0 && name[0] >= '1' && name[0] <= '9' {
				if v, ok := parseUint(name); ok && v <= 1<<31 && uint32(v) != pid {
					s.thr.tasks = append(s.thr.tasks, taskID{uint32(v), pid})
				}
			}
		})
		s.dbuf = buf
	}
	if len(s.thr.tasks) == 0 {
		return pids
	}
	// Tids interleave with pids: a real sort, not the insertion sort that suits
	// getdents' already ascending /proc. A tid listed twice (a task that moved
	// between the listings, as exec from a thread does) counts once.
	slices.SortFunc(s.thr.tasks, func(a, b taskID) int { return cmp.Compare(a.tid, b.tid) })
	s.thr.tasks = slices.CompactFunc(s.thr.tasks, func(a, b taskID) bool { return a.tid == b.tid })
	for _, t := range s.thr.tasks {
		pids = append(pids, t.tid)
	}
	slices.Sort(pids)
	return slices.Compact(pids)
}

// taskFile reports whether a file is read from the task's own folder when
// threads are on: the command line, exe and cwd are the process's.
func taskFile(f procFile) bool {
	return f&(pfCmdline|pfExe|pfCwd) == 0
}

// readTaskOne reads one file of task id from /proc/<tgid>/task/<id>/, or from
// /proc/<tgid>/ when the task folder has no such file (files kept only per
// process) or the file is the process's (taskFile).
func (s *processSource) readTaskOne(id uint32, name string, f procFile, d *procData) error {
	tgid := s.tgidOf(id)
	var b [64]byte
	dir := strconv.AppendUint(b[:0], uint64(tgid), 10)
	dir = append(dir, '/')
	if !taskFile(f) {
		return s.readOne(string(append(dir, name...)), f, d)
	}
	rel := append(dir, "task/"...)
	rel = strconv.AppendUint(rel, uint64(id), 10)
	rel = append(rel, '/')
	rel = append(rel, name...)
	err := s.readOne(string(rel), f, d)
	if err == nil || !errors.Is(err, syscall.ENOENT) {
		return err
	}
	return s.readOne(string(append(dir, name...)), f, d)
}

// checkStore accepts stores into proc.control.all.threads and
// proc.control.perclient.threads as described above, hands hotproc.* to the
// hotproc state (hotproc.go), and refuses every other proc.* metric.
func (s *processSource) checkStore(sel int, vs *protocol.ValueSet, o StoreOpts) int32 {
	if sel >= hotBase {
		return s.hot.checkStore(sel, vs, o) // hotproc.control.* (hotproc.go)
	}
	if sel != selAllThreads && sel != selPerclientThreads {
		return protocol.ErrPermission
	}
	if vs.NumVal != 1 || len(vs.Values) != 1 {
		return protocol.ErrInst
	}
	switch {
	case sel == selAllThreads && !o.Trusted:
		return protocol.ErrPermission
	case sel == selPerclientThreads && (!o.Trusted || o.Client == nil):
		return protocol.ErrNoContext
	}
	if vs.ValFmt != protocol.ValFmtInsitu || vs.Values[0].Insitu > 1 {
		return protocol.ErrBadStore
	}
	return 0
}

// applyStore applies a store checkStore accepted.
func (s *processSource) applyStore(sel int, vs *protocol.ValueSet, o StoreOpts) {
	if sel >= hotBase {
		s.hot.applyStore(sel, vs)
		return
	}
	if len(vs.Values) != 1 {
		return
	}
	on := vs.Values[0].Insitu == 1
	switch sel {
	case selAllThreads:
		s.thr.all.Store(on)
	case selPerclientThreads:
		if o.Client != nil {
			o.Client.setThreads(on)
		}
	}
}
