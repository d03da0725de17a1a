package metrics

import (
	"errors"
	"os"
	"syscall"

	"github.com/gopcp/gopcp/protocol"
)

// The proc agent's metrics without an instance domain, served by the "proc"
// source (process.go) from the same walk of /proc as the per-process ones:
//
//	proc.nprocs              the /proc/[0-9]* directories
//	proc.runq.*              those processes counted by the state letter of their stat
//	proc.control.*           how the agent lists processes: whole processes, or
//	                         every task when a client asks for threads (threads.go);
//	                         no control-group filter
//	proc.autogroup.enabled   /proc/sys/kernel/sched_autogroup_enabled
//
// They are public, like proc.nprocs: counts and settings, nothing about any one
// process. (The real agent also asks for trust before proc.autogroup.enabled; a
// system-wide switch any user can read in /proc/sys is given to everyone here.)
//
// The run queue counts follow the real agent's rules, so the two agree: a zombie
// is "defunct" whatever else it is; any other process with no virtual memory (a
// kernel thread) is "swapped"; the rest by state: R runnable, S sleeping, T and t
// stopped, D (and P) blocked, anything else unknown, as is a process that exited
// before its stat was read. A stat that is there but does not parse (up to the
// virtual size) leaves all eight absent for that fetch, and is counted: one
// process in no count, or in the wrong one, would make every count a wrong number.
// proc.runq.kernel is never counted (kernel threads are in
// "swapped"), as in the real agent. The eight add up to proc.nprocs.

// Selectors of the global metrics, after the per-process ones (procMetrics).
const (
	gNProcs = iota
	gRunnable
	gBlocked
	gSleeping
	gStopped
	gSwapped
	gDefunct
	gUnknown
	gKernel
	gAllThreads
	gPerclientThreads
	gPerclientCgroups
	gAutogroupEnabled
	gMax

	gRunqFirst = gRunnable
	gRunqLast  = gKernel
)

type procGlobal struct {
	name     string
	pmid     protocol.PMID
	typ      int32
	sem      int32
	units    protocol.Units
	one, hlp string
}

var procGlobals = [gMax]procGlobal{
	gNProcs:   {"proc.nprocs", pmid(3, 8, 99), tU32, semI, uNone, "", ""},
	gRunnable: {"proc.runq.runnable", pmid(3, 13, 0), tI32, semI, uCount, "processes running or ready to run", "Processes in state R."},
	gBlocked:  {"proc.runq.blocked", pmid(3, 13, 1), tI32, semI, uCount, "processes in uninterruptible wait", "Processes in state D (usually waiting for I/O)."},
	gSleeping: {"proc.runq.sleeping", pmid(3, 13, 2), tI32, semI, uCount, "processes sleeping", "Processes in state S, waiting for an event."},
	gStopped:  {"proc.runq.stopped", pmid(3, 13, 3), tI32, semI, uCount, "processes stopped or traced", "Processes in state T or t."},
	gSwapped: {"proc.runq.swapped", pmid(3, 13, 4), tI32, semI, uCount, "processes with no virtual memory",
		"Processes, other than zombies, whose virtual size in stat is 0: on Linux these\nare the kernel threads."},
	gDefunct: {"proc.runq.defunct", pmid(3, 13, 5), tI32, semI, uCount, "zombie processes", "Processes in state Z, exited but not yet waited for by their parent."},
	gUnknown: {"proc.runq.unknown", pmid(3, 13, 6), tI32, semI, uCount, "processes in no other count",
		"Processes that exited between the listing of /proc and the read of their stat,\nor whose state letter is counted nowhere else."},
	gKernel: {"proc.runq.kernel", pmid(3, 13, 7), tI32, semI, uCount, "kernel threads counted apart (always 0)",
		"Kept for tools that ask for it; kernel threads are counted in proc.runq.swapped."},
	gAllThreads: {"proc.control.all.threads", pmid(3, 10, 1), tU32, semI, uNone, "1 when every client sees threads as instances",
		"0 (the default): the process instance domain lists processes. 1: it lists\nevery task, /proc/<pid> and each /proc/<pid>/task/<tid>, for every client\nthat has not set proc.control.perclient.threads; proc.nprocs and proc.runq.*\nthen count tasks. Only a client on the unix socket or with a verified\ncertificate may store 0 or 1 here."},
	gPerclientThreads: {"proc.control.perclient.threads", pmid(3, 10, 2), tU32, semI, uNone, "1 when this client sees threads as instances",
		"The setting that applies to this client: the value it stored, else\nproc.control.all.threads. A store (0 or 1) holds for this client connection\nonly; it needs a client on the unix socket or with a verified certificate\n(others get PM_ERR_NOCONTEXT)."},
	gPerclientCgroups: {"proc.control.perclient.cgroups", pmid(3, 10, 3), tSTR, semI, uNone, "this client's control-group filter (always empty)",
		"Every process is listed, whatever its control group; stores are refused."},
	gAutogroupEnabled: {"proc.autogroup.enabled", pmid(3, 74, 0), tU32, semI, uNone, "1 when the scheduler groups processes by session",
		"The value of /proc/sys/kernel/sched_autogroup_enabled; 0 on a kernel without\nautogroup scheduling (no such file)."},
}

// procGlobalDefs returns the global metrics as metric definitions, their selectors
// following the per-process ones.
func procGlobalDefs() []metricDef {
	out := make([]metricDef, gMax)
	for g, m := range procGlobals {
		out[g] = metricDef{m.name, m.pmid, m.typ, null, m.sem, m.units, len(procMetrics) + g}
	}
	return out
}

// runqCounts are the proc.runq.* counts of one walk.
type runqCounts [gRunqLast - gRunqFirst + 1]int64

// count classifies one process as read; gone: it exited before its stat was read.
// It reports false for a stat that did not parse.
func (c *runqCounts) count(d *procData, gone bool) bool {
	at := func(g int) { c[g-gRunqFirst]++ }
	switch {
	case gone:
		at(gUnknown)
	case d.has&pfStat == 0 || d.nstat < stVsize:
		return false
	case d.state == "Z":
		at(gDefunct)
	case d.nstat >= stVsize && d.statv[stVsize-1] == 0:
		at(gSwapped)
	default:
		switch d.state {
		case "R":
			at(gRunnable)
		case "S":
			at(gSleeping)
		case "T", "t":
			at(gStopped)
		case "D", "P":
			at(gBlocked)
		default:
			at(gUnknown)
		}
	}
	return true
}

// autogroupEnabled reads /proc/sys/kernel/sched_autogroup_enabled: ok false when
// it could not be read or parsed (counted by the caller), 0 when the kernel has no
// such file (no autogroup scheduling).
func (s *processSource) autogroupEnabled() (v uint64, ok bool, err error) {
	path := s.root + "/sys/kernel/sched_autogroup_enabled"
	b, err := s.readFile(path)
	if errors.Is(err, syscall.ENOENT) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	v, ok = parseUint(trimSpace(b))
	if !ok || v > 1<<32-1 {
		return 0, false, &os.PathError{Op: "parse", Path: path, Err: errParse}
	}
	return v, true, nil
}

// procGlobalSource says where a global metric's value comes from, for its help.
func procGlobalSource(g int) string {
	switch {
	case g >= gRunqFirst && g <= gRunqLast:
		return "\nCounted over the state field of every /proc/<pid>/stat; given to every client."
	case g == gAutogroupEnabled:
		return "\nGiven to every client."
	}
	return "\nA setting of the collector's walk of /proc/<pid>, not a kernel value."
}
