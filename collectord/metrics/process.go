package metrics

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/prometheus/procfs"

	"github.com/gopcp/gopcp/protocol"
)

// The "proc" source: proc.nprocs (the number of /proc/[0-9]* directories, counted
// with getdents(2) without a stat per entry) and the per-process metrics of the proc agent (domain 3) over its
// process instance domain 3.9, read from /proc/<pid>/*: proc.psinfo.*, proc.memory.*,
// proc.id.*, proc.io.*, proc.schedstat.* and proc.fd.count.
//
// An instance is a process: its id is the pid, its name is the pid in six digits, a
// space and the first word of its command line (the kernel's "(comm)" for a process
// without one, a kernel thread), which is how the real pmdaproc names them, so that
// `pminfo -f`, `pcp ps` and pmrep show the same instances.
//
// Each /proc/<pid> file is read only when a requested metric needs it, once per pid
// per Fetch. When a request carries an instance list (Request.Only: a client's
// profile naming some pids), only those pids are read; otherwise every /proc/[0-9]*
// directory is. A process that exits between the listing and the read is simply
// absent. A file the collector may not read (proc.io of another user's process
// without CAP_SYS_PTRACE, exe and cwd likewise) leaves that process's values of that
// file absent, never 0, and is counted as a partial source error (PartialErrors).
//
// The parsers are hand-written rather than github.com/prometheus/procfs: procfs's
// Proc.Stat, Status and IO each allocate a fresh struct, open the file by path and
// go through fmt.Sscan or per-line strings (BenchmarkProcfsPerProcess against
// BenchmarkProcAll shows the difference), its ProcStatus drops fields the metrics
// need (Ngid, the signal masks, Cpus_allowed_list) and it has no statm, schedstat,
// cgroup or wchan reader. The tests check our values against procfs where both exist.
//
// Who may see them: the source is private (sourceSpec.private). Like PCP's proc
// agent, the collector gives the process list and every per-process value only to
// a trusted client, one on the unix socket or with a verified client certificate;
// any other gets PM_ERR_PERMISSION (proc.nprocs stays public). Command lines,
// user names and working directories say too much to hand to anyone who can
// reach the port.
//
// The environment (proc.psinfo.environ), the mappings (proc.memory.maps), the
// smaps_rollup totals (proc.smaps.*, smaps.go) and the rest (procmore.go) are read
// only when a fetch names them: smaps_rollup makes the kernel walk every mapping of
// the process, and maps may be megabytes. proc.runq.* and proc.control.* (runq.go)
// count and describe the same walk; hotproc.* (hotproc.go) is the agent's second,
// predicate-filtered view.

// procFile is one file under /proc/<pid>.
type procFile uint32

const (
	pfStat procFile = 1 << iota
	pfStatm
	pfStatus
	pfCmdline
	pfIO
	pfSchedstat
	pfFD
	pfWchan
	pfCgroup
	pfOOM
	pfExe
	pfCwd
	pfSmaps
	pfAutogroup
	pfEnviron
	pfMaps
	pfLabel
	pfCount = iota
)

var procFileNames = [pfCount]string{"stat", "statm", "status", "cmdline", "io", "schedstat", "fd",
	"wchan", "cgroup", "oom_score", "exe", "cwd", "smaps_rollup", "autogroup", "environ", "maps",
	"attr/current"}

// Limits on what is read from one file: a command line may be long, but not larger
// than the kernel's own limit on arguments by much; status and cgroup are a few KB.
const (
	maxProcFile    = 1 << 17
	procInstDigits = 6
	// maxProcMaps bounds proc.memory.maps: a process with this many bytes of
	// mappings (some 150,000 of them) gets no value rather than a cut-off list.
	maxProcMaps = 16 << 20
)

var indomProc = protocol.NewInDom(DomainProc, 9)

// uNsec is time in nanoseconds (dimension time 1, scale PM_TIME_NSEC 0).
const uNsec = protocol.Units(0x01000000)

// procMetric is one metric of the table below: which file feeds it and how its
// value is taken from the parsed process (get).
type procMetric struct {
	name     string
	pmid     protocol.PMID
	typ      int32
	sem      int32
	units    protocol.Units
	file     procFile
	get      func(p *procData, s *processSource) (Value, bool)
	one, hlp string
}

// stat fields by their 1-based number in proc(5).
const (
	stPID = 1 + iota
	stComm
	stState
	stPPID
	stPgrp
	stSession
	stTTY
	stTPgid
	stFlags
	stMinflt
	stCminflt
	stMajflt
	stCmajflt
	stUtime
	stStime
	stCutime
	stCstime
	stPriority
	stNice
	stThreads
	stItreal
	stStart
	stVsize
	stRSS
	stRSSlim
	stStartcode
	stEndcode
	stStartstack
	stESP
	stEIP
	stSignal
	stBlocked
	stSigignore
	stSigcatch
	stWchan
	stNswap
	stCnswap
	stExitsig
	stProcessor
	stRTprio
	stPolicy
	stBlkio
	stGuest
	stCguest
	stMax
)

// stat field helpers, as Values.
func statU(f int) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, _ *processSource) (Value, bool) {
		v, ok := p.stat(f)
		return Value{U: uint64(v)}, ok
	}
}

// statU32 truncates to 32 bits, as the 32-bit descriptors of the real agent do
// (start_stack and the signal masks are wider on a 64-bit kernel).
func statU32(f int) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, _ *processSource) (Value, bool) {
		v, ok := p.stat(f)
		return Value{U: uint64(uint32(v))}, ok
	}
}

// statTicks converts clock ticks to milliseconds.
func statTicks(f int) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, s *processSource) (Value, bool) {
		v, ok := p.stat(f)
		return Value{U: uint64(v) * 1000 / s.hz}, ok
	}
}

func statI(f int) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, _ *processSource) (Value, bool) {
		v, ok := p.stat(f)
		return Value{U: uint64(int64(int32(v)))}, ok
	}
}

func statmKB(i int) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, s *processSource) (Value, bool) {
		if i >= p.nstatm {
			return Value{}, false
		}
		return Value{U: p.statm[i] * uint64(s.pageSize) / 1024}, true
	}
}

func statusU(i int) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, _ *processSource) (Value, bool) {
		return Value{U: p.status[i]}, p.statusOK&(1<<i) != 0
	}
}

func statusS(i int) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, _ *processSource) (Value, bool) {
		if p.statusOK&(1<<i) == 0 {
			return Value{}, false
		}
		return Value{S: p.str(p.statusStr[i-stsFirstStr])}, true
	}
}

func statusName(i int, group bool) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, s *processSource) (Value, bool) {
		if p.statusOK&(1<<i) == 0 {
			return Value{}, false
		}
		return Value{S: s.names.name(uint32(p.status[i]), group)}, true
	}
}

func ioU(i int) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, _ *processSource) (Value, bool) {
		return Value{U: p.io[i]}, p.ioOK&(1<<i) != 0
	}
}

func schedU(i int) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, _ *processSource) (Value, bool) {
		return Value{U: p.sched[i]}, p.nsched > i
	}
}

func strOf(f func(p *procData) (string, bool)) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, _ *processSource) (Value, bool) {
		s, ok := f(p)
		return Value{S: s}, ok
	}
}

// /proc/<pid>/status fields kept, by index.
const (
	stsUID = iota // Uid: real, effective, saved, filesystem
	stsEUID
	stsSUID
	stsFSUID
	stsGID
	stsEGID
	stsSGID
	stsFSGID
	stsThreads
	stsVctx
	stsNVctx
	stsNgid
	stsTgid
	stsVmSize
	stsVmLck
	stsVmPin
	stsVmHWM
	stsVmRSS
	stsVmData
	stsVmStk
	stsVmExe
	stsVmLib
	stsVmPTE
	stsVmSwap
	stsVmPeak
	stsEnvID
	stsSigPnd // string fields from here on
	stsSigBlk
	stsSigIgn
	stsSigCgt
	stsCpus
	stsNStgid
	stsNSpid
	stsNSpgid
	stsNSsid
	stsMax

	stsFirstStr = stsSigPnd
)

var procHelpInst = "One process per\ninstance: the instance number is the process id and the name is the pid\n" +
	"in six digits followed by the first word of its command line."

// procFilesText names the files a metric is read from, for its help text.
func procFilesText(f procFile) string {
	out := ""
	for i := 0; i < pfCount; i++ {
		if f&(1<<i) == 0 {
			continue
		}
		if out != "" {
			out += " and "
		}
		out += "/proc/<pid>/" + procFileNames[i]
	}
	return out
}

// procMetrics is every per-process metric: this file's, then the ones the other
// proc files declare (their tables join here so that one selector numbering and
// one reader serve them all).
var procMetrics = joinProcMetrics(baseProcMetrics, moreProcMetrics, smapsMetrics)

// procNSMetric marks the proc.namespaces.* selectors.
var procNSMetric = func() []bool {
	out := make([]bool, len(procMetrics))
	for i, m := range procMetrics {
		out[i] = strings.HasPrefix(m.name, "proc.namespaces.")
	}
	return out
}()

func joinProcMetrics(parts ...[]procMetric) []procMetric {
	var out []procMetric
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var baseProcMetrics = []procMetric{
	{"proc.psinfo.pid", pmid(3, 8, 0), tU32, semD, uNone, pfStat, statU(stPID),
		"process id", "The process id, the same number as the instance."},
	{"proc.psinfo.cmd", pmid(3, 8, 1), tSTR, semD, uNone, pfStat, strOf(func(p *procData) (string, bool) { return p.comm, p.nstat > 0 }),
		"command name", "The kernel's short name of the program (comm, at most 15 bytes), as in\nthe second field of /proc/<pid>/stat."},
	{"proc.psinfo.sname", pmid(3, 8, 2), tSTR, semI, uNone, pfStat, strOf(func(p *procData) (string, bool) { return p.state, p.nstat >= stState }),
		"process state letter", "One letter: R running, S sleeping, D uninterruptible wait, Z zombie,\nT stopped, t traced, I idle kernel thread, X dead."},
	{"proc.psinfo.ppid", pmid(3, 8, 3), tU32, semD, uNone, pfStat, statU(stPPID), "parent process id", ""},
	{"proc.psinfo.pgrp", pmid(3, 8, 4), tU32, semD, uNone, pfStat, statU(stPgrp), "process group id", ""},
	{"proc.psinfo.session", pmid(3, 8, 5), tU32, semD, uNone, pfStat, statU(stSession), "session id", ""},
	{"proc.psinfo.tty", pmid(3, 8, 6), tU32, semD, uNone, pfStat, statU(stTTY),
		"controlling terminal device number", "The device number of the controlling terminal; 0 when there is none."},
	{"proc.psinfo.tty_pgrp", pmid(3, 8, 7), tU32, semD, uNone, pfStat, statU(stTPgid),
		"foreground process group of the terminal", ""},
	{"proc.psinfo.flags", pmid(3, 8, 8), tU32, semD, uNone, pfStat, statU32(stFlags), "kernel flags word of the process", ""},
	{"proc.psinfo.minflt", pmid(3, 8, 9), tU32, semC, uCount, pfStat, statU32(stMinflt),
		"minor page faults", "Page faults served without reading from disk."},
	{"proc.psinfo.cmin_flt", pmid(3, 8, 10), tU32, semC, uCount, pfStat, statU32(stCminflt),
		"minor page faults of waited-for children", ""},
	{"proc.psinfo.maj_flt", pmid(3, 8, 11), tU32, semC, uCount, pfStat, statU32(stMajflt),
		"major page faults", "Page faults that needed a read from disk."},
	{"proc.psinfo.cmaj_flt", pmid(3, 8, 12), tU32, semC, uCount, pfStat, statU32(stCmajflt),
		"major page faults of waited-for children", ""},
	{"proc.psinfo.utime", pmid(3, 8, 13), tU64, semC, uMsec, pfStat, statTicks(stUtime),
		"CPU time in user mode", "Milliseconds this process has run in user mode."},
	{"proc.psinfo.stime", pmid(3, 8, 14), tU64, semC, uMsec, pfStat, statTicks(stStime),
		"CPU time in kernel mode", "Milliseconds the kernel has run on behalf of this process."},
	{"proc.psinfo.cutime", pmid(3, 8, 15), tU64, semC, uMsec, pfStat, statTicks(stCutime),
		"user-mode CPU time of waited-for children", ""},
	{"proc.psinfo.cstime", pmid(3, 8, 16), tU64, semC, uMsec, pfStat, statTicks(stCstime),
		"kernel-mode CPU time of waited-for children", ""},
	{"proc.psinfo.priority", pmid(3, 8, 17), tI32, semI, uNone, pfStat, statI(stPriority),
		"scheduling priority", "The kernel's priority value from /proc/<pid>/stat (20 plus the nice value\nfor normal processes, negative for real-time ones)."},
	{"proc.psinfo.nice", pmid(3, 8, 18), tI32, semI, uNone, pfStat, statI(stNice), "nice value, -20 to 19", ""},
	{"proc.psinfo.it_real_value", pmid(3, 8, 20), tU32, semD, uNone, pfStat, statU32(stItreal),
		"obsolete interval timer field, always 0 on current kernels", ""},
	{"proc.psinfo.start_time", pmid(3, 8, 21), tU64, semD, uMsec, pfStat, statTicks(stStart),
		"start time, milliseconds after boot", ""},
	{"proc.psinfo.vsize", pmid(3, 8, 22), tU64, semI, uKB, pfStat, func(p *procData, _ *processSource) (Value, bool) {
		v, ok := p.stat(stVsize)
		return Value{U: uint64(v) / 1024}, ok
	}, "virtual memory size", "Size of the address space of the process, in kilobytes."},
	{"proc.psinfo.rss", pmid(3, 8, 23), tU64, semI, uKB, pfStat, func(p *procData, s *processSource) (Value, bool) {
		v, ok := p.stat(stRSS)
		return Value{U: uint64(v) * uint64(s.pageSize) / 1024}, ok
	}, "resident set size", "Memory of the process held in RAM, in kilobytes (from /proc/<pid>/stat)."},
	{"proc.psinfo.rss_rlim", pmid(3, 8, 24), tU64, semI, uKB, pfStat, func(p *procData, _ *processSource) (Value, bool) {
		v, ok := p.stat(stRSSlim)
		return Value{U: uint64(v) / 1024}, ok
	}, "resident set size limit", "The RLIMIT_RSS of the process, in kilobytes."},
	{"proc.psinfo.start_code", pmid(3, 8, 25), tU32, semD, uNone, pfStat, statU32(stStartcode), "start of the text segment (low 32 bits)", ""},
	{"proc.psinfo.end_code", pmid(3, 8, 26), tU32, semD, uNone, pfStat, statU32(stEndcode), "end of the text segment (low 32 bits)", ""},
	{"proc.psinfo.start_stack", pmid(3, 8, 27), tU32, semD, uNone, pfStat, statU32(stStartstack), "start of the stack (low 32 bits)", ""},
	{"proc.psinfo.esp", pmid(3, 8, 28), tU32, semD, uNone, pfStat, statU32(stESP), "stack pointer (0 unless the process is being dumped)", ""},
	{"proc.psinfo.eip", pmid(3, 8, 29), tU32, semD, uNone, pfStat, statU32(stEIP), "instruction pointer (0 unless the process is being dumped)", ""},
	{"proc.psinfo.signal", pmid(3, 8, 30), tU32, semD, uNone, pfStat, statU32(stSignal), "pending signals, low 32 bits", ""},
	{"proc.psinfo.blocked", pmid(3, 8, 31), tU32, semD, uNone, pfStat, statU32(stBlocked), "blocked signals, low 32 bits", ""},
	{"proc.psinfo.sigignore", pmid(3, 8, 32), tU32, semD, uNone, pfStat, statU32(stSigignore), "ignored signals, low 32 bits", ""},
	{"proc.psinfo.sigcatch", pmid(3, 8, 33), tU32, semD, uNone, pfStat, statU32(stSigcatch), "caught signals, low 32 bits", ""},
	{"proc.psinfo.wchan", pmid(3, 8, 34), tU64, semD, uNone, pfStat, statU(stWchan),
		"wait channel field of stat", "Current kernels print 1 here for a process waiting in the kernel and 0\notherwise; the name of the wait is proc.psinfo.wchan_s."},
	{"proc.psinfo.nswap", pmid(3, 8, 35), tU32, semC, uCount, pfStat, statU32(stNswap), "pages swapped (not maintained by Linux)", ""},
	{"proc.psinfo.cnswap", pmid(3, 8, 36), tU32, semC, uCount, pfStat, statU32(stCnswap), "pages swapped by children (not maintained by Linux)", ""},
	{"proc.psinfo.exit_signal", pmid(3, 8, 37), tU32, semD, uNone, pfStat, statU32(stExitsig), "signal sent to the parent on exit", ""},
	{"proc.psinfo.processor", pmid(3, 8, 38), tU32, semI, uNone, pfStat, statU32(stProcessor), "CPU the process last ran on", ""},
	{"proc.psinfo.ttyname", pmid(3, 8, 39), tSTR, semD, uNone, pfStat, func(p *procData, _ *processSource) (Value, bool) {
		v, ok := p.stat(stTTY)
		return Value{S: ttyName(uint32(v))}, ok
	}, "controlling terminal name", "The terminal as ps(1) shows it (pts/3, tty1, ttyS0), \"?\" for none."},
	{"proc.psinfo.wchan_s", pmid(3, 8, 40), tSTR, semI, uNone, pfWchan, strOf(func(p *procData) (string, bool) { return p.wchan, p.has&pfWchan != 0 }),
		"kernel function the process waits in", "From /proc/<pid>/wchan, as the kernel writes it: \"0\" for a running\nprocess."},
	{"proc.psinfo.psargs", pmid(3, 8, 41), tSTR, semD, uNone, pfCmdline | pfStat, strOf(func(p *procData) (string, bool) { return p.psargs, p.has&pfCmdline != 0 }),
		"full command line", "The arguments separated by spaces; \"(name)\" for a process with an empty\ncommand line, such as a kernel thread."},
	{"proc.psinfo.rt_priority", pmid(3, 8, 42), tU32, semI, uNone, pfStat, statU32(stRTprio), "real-time priority, 0 for normal processes", ""},
	{"proc.psinfo.policy", pmid(3, 8, 43), tU32, semI, uNone, pfStat, statU32(stPolicy), "scheduling policy number (SCHED_*)", ""},
	{"proc.psinfo.delayacct_blkio_time", pmid(3, 8, 44), tU64, semC, uMsec, pfStat, statTicks(stBlkio),
		"time spent waiting for block I/O", "Milliseconds of delay waiting for block I/O (needs delay accounting)."},
	{"proc.psinfo.guest_time", pmid(3, 8, 45), tU64, semC, uMsec, pfStat, statTicks(stGuest), "time spent running a virtual CPU", ""},
	{"proc.psinfo.cguest_time", pmid(3, 8, 46), tU64, semC, uMsec, pfStat, statTicks(stCguest), "virtual CPU time of waited-for children", ""},
	{"proc.psinfo.policy_s", pmid(3, 8, 48), tSTR, semI, uNone, pfStat, func(p *procData, _ *processSource) (Value, bool) {
		v, ok := p.stat(stPolicy)
		return Value{S: policyName(v)}, ok
	}, "scheduling policy name", "NORMAL, FIFO, RR, BATCH, ISO, IDLE or DEADLINE."},
	{"proc.psinfo.signal_s", pmid(3, 24, 16), tSTR, semI, uNone, pfStatus, statusS(stsSigPnd), "pending signals as a hexadecimal mask", ""},
	{"proc.psinfo.blocked_s", pmid(3, 24, 17), tSTR, semI, uNone, pfStatus, statusS(stsSigBlk), "blocked signals as a hexadecimal mask", ""},
	{"proc.psinfo.sigignore_s", pmid(3, 24, 18), tSTR, semI, uNone, pfStatus, statusS(stsSigIgn), "ignored signals as a hexadecimal mask", ""},
	{"proc.psinfo.sigcatch_s", pmid(3, 24, 19), tSTR, semI, uNone, pfStatus, statusS(stsSigCgt), "caught signals as a hexadecimal mask", ""},
	{"proc.psinfo.threads", pmid(3, 24, 28), tU32, semI, uNone, pfStatus, statusU(stsThreads), "number of threads", ""},
	{"proc.psinfo.cgroups", pmid(3, 11, 0), tSTR, semI, uNone, pfCgroup, strOf(func(p *procData) (string, bool) { return p.cgroups, p.has&pfCgroup != 0 }),
		"control groups of the process", "controller:path pairs from /proc/<pid>/cgroup, separated by semicolons\n(\":path\" for the unified cgroup v2 hierarchy)."},
	{"proc.psinfo.vctxsw", pmid(3, 24, 29), tU32, semI, uNone, pfStatus, statusU(stsVctx), "voluntary context switches", ""},
	{"proc.psinfo.nvctxsw", pmid(3, 24, 30), tU32, semI, uNone, pfStatus, statusU(stsNVctx), "involuntary context switches", ""},
	{"proc.psinfo.cpusallowed", pmid(3, 24, 31), tSTR, semI, uNone, pfStatus, statusS(stsCpus), "CPUs the process may run on, as a list (0-3,6)", ""},
	{"proc.psinfo.ngid", pmid(3, 24, 32), tU32, semD, uNone, pfStatus, statusU(stsNgid), "NUMA group id (0 without NUMA balancing)", ""},
	{"proc.psinfo.tgid", pmid(3, 24, 41), tU32, semD, uNone, pfStatus, statusU(stsTgid), "thread group id (the pid of the main thread)", ""},
	{"proc.psinfo.oom_score", pmid(3, 62, 0), tU32, semI, uNone, pfOOM, func(p *procData, _ *processSource) (Value, bool) {
		return Value{U: p.oom}, p.has&pfOOM != 0
	}, "out-of-memory badness score", "The kernel's score for choosing this process when memory runs out (0-2000)."},
	{"proc.psinfo.exe", pmid(3, 69, 0), tSTR, semD, uNone, pfExe, strOf(func(p *procData) (string, bool) { return p.exe, p.has&pfExe != 0 }),
		"path of the executable", "Target of /proc/<pid>/exe; empty for a kernel thread."},
	{"proc.psinfo.cwd", pmid(3, 72, 0), tSTR, semD, uNone, pfCwd, strOf(func(p *procData) (string, bool) { return p.cwd, p.has&pfCwd != 0 }),
		"current directory", "Target of /proc/<pid>/cwd."},

	{"proc.memory.size", pmid(3, 9, 0), tU32, semI, uKB, pfStatm, statmKB(0), "total program size", "From /proc/<pid>/statm, in kilobytes."},
	{"proc.memory.rss", pmid(3, 9, 1), tU32, semI, uKB, pfStatm, statmKB(1), "resident memory", "From /proc/<pid>/statm, in kilobytes."},
	{"proc.memory.share", pmid(3, 9, 2), tU32, semI, uKB, pfStatm, statmKB(2), "resident memory backed by files", "Shared (file-backed) resident pages from statm, in kilobytes."},
	{"proc.memory.textrss", pmid(3, 9, 3), tU32, semI, uKB, pfStatm, statmKB(3), "program text size", "The text (code) field of statm, in kilobytes."},
	{"proc.memory.librss", pmid(3, 9, 4), tU32, semI, uKB, pfStatm, statmKB(4), "library field of statm (0 since Linux 2.6)", ""},
	{"proc.memory.datrss", pmid(3, 9, 5), tU32, semI, uKB, pfStatm, statmKB(5), "data plus stack size", "The data field of statm, in kilobytes."},
	{"proc.memory.dirty", pmid(3, 9, 6), tU32, semI, uKB, pfStatm, statmKB(6), "dirty field of statm (0 since Linux 2.6)", ""},
	{"proc.memory.vmsize", pmid(3, 24, 20), tU32, semI, uKB, pfStatus, statusU(stsVmSize), "VmSize of status, kilobytes", ""},
	{"proc.memory.vmlock", pmid(3, 24, 21), tU32, semI, uKB, pfStatus, statusU(stsVmLck), "locked memory (VmLck), kilobytes", ""},
	{"proc.memory.vmrss", pmid(3, 24, 22), tU32, semI, uKB, pfStatus, statusU(stsVmRSS), "VmRSS of status, kilobytes", ""},
	{"proc.memory.vmdata", pmid(3, 24, 23), tU32, semI, uKB, pfStatus, statusU(stsVmData), "data segment size (VmData), kilobytes", ""},
	{"proc.memory.vmstack", pmid(3, 24, 24), tU32, semI, uKB, pfStatus, statusU(stsVmStk), "stack size (VmStk), kilobytes", ""},
	{"proc.memory.vmexe", pmid(3, 24, 25), tU32, semI, uKB, pfStatus, statusU(stsVmExe), "text segment size (VmExe), kilobytes", ""},
	{"proc.memory.vmlib", pmid(3, 24, 26), tU32, semI, uKB, pfStatus, statusU(stsVmLib), "shared library code size (VmLib), kilobytes", ""},
	{"proc.memory.vmswap", pmid(3, 24, 27), tU32, semI, uKB, pfStatus, statusU(stsVmSwap), "memory swapped out (VmSwap), kilobytes", ""},
	{"proc.memory.vmpeak", pmid(3, 24, 33), tU32, semI, uKB, pfStatus, statusU(stsVmPeak), "peak virtual memory size (VmPeak), kilobytes", ""},
	{"proc.memory.vmpin", pmid(3, 24, 34), tU32, semI, uKB, pfStatus, statusU(stsVmPin), "pinned memory (VmPin), kilobytes", ""},
	{"proc.memory.vmhwm", pmid(3, 24, 35), tU32, semI, uKB, pfStatus, statusU(stsVmHWM), "peak resident set size (VmHWM), kilobytes", ""},
	{"proc.memory.vmpte", pmid(3, 24, 36), tU32, semI, uKB, pfStatus, statusU(stsVmPTE), "page table size (VmPTE), kilobytes", ""},
	{"proc.memory.vmreal", pmid(3, 24, 43), tU64, semI, uKB, pfStatus, statusU(stsVmRSS),
		"resident memory from status, kilobytes", "VmRSS of /proc/<pid>/status: anonymous, file-backed and shared memory in RAM."},
	{"proc.memory.vmnonlib", pmid(3, 24, 44), tU64, semI, uKB, pfStatus, func(p *procData, _ *processSource) (Value, bool) {
		ok := p.statusOK&(1<<stsVmRSS) != 0 && p.statusOK&(1<<stsVmLib) != 0
		if !ok || p.status[stsVmLib] > p.status[stsVmRSS] {
			return Value{}, ok
		}
		return Value{U: p.status[stsVmRSS] - p.status[stsVmLib]}, true
	}, "resident memory less library code, kilobytes", "VmRSS minus VmLib, 0 when the libraries' size is the larger."},

	{"proc.id.uid", pmid(3, 24, 0), tU32, semD, uNone, pfStatus, statusU(stsUID), "real user id", ""},
	{"proc.id.euid", pmid(3, 24, 1), tU32, semD, uNone, pfStatus, statusU(stsEUID), "effective user id", ""},
	{"proc.id.suid", pmid(3, 24, 2), tU32, semD, uNone, pfStatus, statusU(stsSUID), "saved user id", ""},
	{"proc.id.fsuid", pmid(3, 24, 3), tU32, semD, uNone, pfStatus, statusU(stsFSUID), "file system user id", ""},
	{"proc.id.gid", pmid(3, 24, 4), tU32, semD, uNone, pfStatus, statusU(stsGID), "real group id", ""},
	{"proc.id.egid", pmid(3, 24, 5), tU32, semD, uNone, pfStatus, statusU(stsEGID), "effective group id", ""},
	{"proc.id.sgid", pmid(3, 24, 6), tU32, semD, uNone, pfStatus, statusU(stsSGID), "saved group id", ""},
	{"proc.id.fsgid", pmid(3, 24, 7), tU32, semD, uNone, pfStatus, statusU(stsFSGID), "file system group id", ""},
	{"proc.id.uid_nm", pmid(3, 24, 8), tSTR, semD, uNone, pfStatus, statusName(stsUID, false), "real user name", "From the password file; the number when it has no entry."},
	{"proc.id.euid_nm", pmid(3, 24, 9), tSTR, semD, uNone, pfStatus, statusName(stsEUID, false), "effective user name", ""},
	{"proc.id.suid_nm", pmid(3, 24, 10), tSTR, semD, uNone, pfStatus, statusName(stsSUID, false), "saved user name", ""},
	{"proc.id.fsuid_nm", pmid(3, 24, 11), tSTR, semD, uNone, pfStatus, statusName(stsFSUID, false), "file system user name", ""},
	{"proc.id.gid_nm", pmid(3, 24, 12), tSTR, semD, uNone, pfStatus, statusName(stsGID, true), "real group name", "From the group file; the number when it has no entry."},
	{"proc.id.egid_nm", pmid(3, 24, 13), tSTR, semD, uNone, pfStatus, statusName(stsEGID, true), "effective group name", ""},
	{"proc.id.sgid_nm", pmid(3, 24, 14), tSTR, semD, uNone, pfStatus, statusName(stsSGID, true), "saved group name", ""},
	{"proc.id.fsgid_nm", pmid(3, 24, 15), tSTR, semD, uNone, pfStatus, statusName(stsFSGID, true), "file system group name", ""},

	{"proc.io.rchar", pmid(3, 32, 0), tU64, semC, uByte, pfIO, ioU(0), "bytes read by read-like system calls", "Includes reads served from the page cache and from pipes and sockets."},
	{"proc.io.wchar", pmid(3, 32, 1), tU64, semC, uByte, pfIO, ioU(1), "bytes written by write-like system calls", ""},
	{"proc.io.syscr", pmid(3, 32, 2), tU64, semC, uCount, pfIO, ioU(2), "read-like system calls", ""},
	{"proc.io.syscw", pmid(3, 32, 3), tU64, semC, uCount, pfIO, ioU(3), "write-like system calls", ""},
	{"proc.io.read_bytes", pmid(3, 32, 4), tU64, semC, uByte, pfIO, ioU(4), "bytes the process caused to be read from storage", ""},
	{"proc.io.write_bytes", pmid(3, 32, 5), tU64, semC, uByte, pfIO, ioU(5), "bytes the process caused to be written to storage", ""},
	{"proc.io.cancelled_write_bytes", pmid(3, 32, 6), tU64, semC, uByte, pfIO, ioU(6),
		"bytes whose write-back was cancelled", "Dirty page cache the process truncated or deleted before it reached storage."},

	{"proc.schedstat.cpu_time", pmid(3, 31, 0), tU64, semC, uNsec, pfSchedstat, schedU(0), "time on a CPU, nanoseconds", ""},
	{"proc.schedstat.run_delay", pmid(3, 31, 1), tU64, semC, uNsec, pfSchedstat, schedU(1),
		"time runnable but waiting for a CPU, nanoseconds", ""},
	{"proc.schedstat.pcount", pmid(3, 31, 2), tU64, semC, uCount, pfSchedstat, schedU(2), "times the process was scheduled on a CPU", ""},
	{"proc.fd.count", pmid(3, 51, 0), tU32, semI, uCount, pfFD, func(p *procData, _ *processSource) (Value, bool) {
		return Value{U: p.nfd}, p.has&pfFD != 0
	}, "open file descriptors", "Entries of /proc/<pid>/fd."},
}

// selNProcs selects proc.nprocs, the first of the source's metrics without an
// instance domain (runq.go): it counts the same listing the per-process metrics
// walk, so a fetch of both lists /proc once.
var selNProcs = len(procMetrics) + gNProcs

func init() {
	defs := make([]metricDef, len(procMetrics), len(procMetrics)+gMax)
	for i, m := range procMetrics {
		defs[i] = metricDef{m.name, m.pmid, m.typ, indomProc, m.sem, m.units, i}
	}
	helpInDom[indomProc] = helpText{oneline: "processes, by process id",
		help: "One instance per process of /proc/[0-9]*. " + procHelpInst +
			"\nFor a client that has threads on (proc.control.all.threads or its own\nproc.control.perclient.threads), one instance per task instead, named alike\nby the task id."}
	defs = append(defs, procGlobalDefs()...)
	defs = append(defs, hotprocDefs()...)
	helpInDom[indomHotproc] = helpText{oneline: "hot processes, by process id",
		help: "The processes the hotproc predicate (hotproc.control.config) selected at its\nlast evaluation. " + procHelpInst}
	registerSource(&sourceSpec{
		name:    "proc",
		domain:  DomainProc,
		private: true,
		indoms:  []protocol.InDom{indomProc, indomHotproc},
		new: func(e *env) Source {
			s := &processSource{root: e.procRoot, etc: e.etcRoot, pageSize: e.pageSize, hz: 100}
			s.hot = newHotState(e, &processSource{root: e.procRoot, etc: e.etcRoot, pageSize: e.pageSize, hz: 100})
			return s
		},
		metrics: defs,
		help: func(d metricDef) helpText {
			if d.sel == selNProcs {
				return helpText{} // the generated catalogue's
			}
			if d.sel >= hotBase {
				return hotprocHelp(d.sel)
			}
			if d.sel >= len(procMetrics) {
				g := procGlobals[d.sel-len(procMetrics)]
				return helpText{g.one, g.hlp + procGlobalSource(d.sel-len(procMetrics))}
			}
			m := procMetrics[d.sel]
			h := m.hlp
			if h == "" {
				h = m.one + "."
			}
			return helpText{m.one, h + "\nRead from " + procFilesText(m.file) + ". " + procHelpInst}
		},
	})
}

// processSource reads /proc/<pid>/* for the process metrics.
type processSource struct {
	root, etc string
	pageSize  int
	// hz is the clock tick of stat's times: USER_HZ, 100 on every Linux architecture
	// the kernel exports to user space.
	hz uint64

	buf, dbuf []byte
	cpath     []byte // the NUL-terminated path being opened (openC)
	pids      []uint32
	d         procData
	names     idNames
	pfs       *procfs.FS  // for environ, made on first use
	wantNS    bool        // this fetch asks for proc.namespaces.* (parsePidStatus)
	thr       threadState // threads as instances (threads.go)
	hot       *hotState   // the hotproc predicate and its last evaluation (hotproc.go)
	partial   atomic.Uint64
	// denied counts the partial errors that were only permission refusals
	// (another user's proc.io without privileges): expected, unlike a parse error.
	denied atomic.Uint64
}

// PartialErrors counts fetches in which some process file could not be read for a
// reason other than the process having exited (permission denied, a file that did not
// parse): those values were left absent, the rest of the fetch succeeded.
func (s *processSource) PartialErrors() uint64 { return s.partial.Load() }

// procData is one process as parsed from its files.
type procData struct {
	has       procFile // files read successfully
	nstat     int      // stat fields parsed (1-based count)
	statv     [stMax]int64
	comm      string
	state     string
	nstatm    int
	statm     [7]uint64
	statusOK  uint64
	status    [stsMax]uint64
	statusStr [stsMax - stsFirstStr]strSpan
	psargs    string
	ioOK      uint8
	io        [7]uint64
	nsched    int
	sched     [3]uint64
	nfd       uint64
	wchan     string
	cgroups   string
	oom       uint64
	exe, cwd  string
	container string
	smapsOK   uint32
	smaps     [smapsFields]uint64
	agID      uint64
	agNice    int64
	environ   string
	maps      string
	label     string
	// strs holds the text fields of status that statusStr locates (the signal
	// masks, the CPU list, namespace ids). The next process's read reuses it, and
	// a getter copies a field out only when a fetch asks for it: the usual
	// fetches make none of those strings (five a process).
	strs []byte
}

// strSpan is where a text field lies in procData.strs.
type strSpan struct{ from, to uint32 }

// text appends b to the process's strs and says where it went.
func (p *procData) text(b []byte) strSpan {
	from := len(p.strs)
	p.strs = append(p.strs, b...)
	return strSpan{uint32(from), uint32(len(p.strs))}
}

func (p *procData) str(sp strSpan) string { return string(p.strs[sp.from:sp.to]) }

func (p *procData) stat(f int) (int64, bool) {
	if f > p.nstat {
		return 0, false
	}
	return p.statv[f-1], true
}

// errGone marks a process that exited while it was being read.
var errGone = errors.New("process exited")

// Instances lists the processes now running (for hotproc, the hot ones),
// or their tasks when proc.control.all.threads is on.
func (s *processSource) Instances(indom protocol.InDom) ([]Instance, error) {
	return s.instancesFor(indom, nil)
}

// instancesFor is Instances for a client with its own settings (threads.go).
func (s *processSource) instancesFor(indom protocol.InDom, c *ClientSettings) ([]Instance, error) {
	if indom == indomHotproc {
		return s.hot.instances(), nil
	}
	s.beginWalk(c)
	pids, err := s.listPids()
	if err != nil {
		return nil, err
	}
	out := make([]Instance, 0, len(pids))
	for _, pid := range pids {
		var d procData
		if err := s.read(pid, pfStat|pfCmdline, &d); err != nil || d.has&pfStat == 0 {
			continue // exited since the listing, or unreadable: not an instance now
		}
		args := d.psargs
		if d.has&pfCmdline == 0 {
			args = "(" + d.comm + ")" // cmdline unreadable: name it as a kernel thread
		}
		out = append(out, Instance{ID: pid, Name: instName(pid, args)})
	}
	return out, nil
}

// lookupName takes a name that is a process id in decimal, with or without the
// leading zeros of the external names, as the process with that pid.
func (s *processSource) lookupName(name string, insts []Instance) (uint32, bool) {
	v, ok := parseUint([]byte(name))
	if !ok || v > 1<<31 {
		return 0, false
	}
	for _, in := range insts {
		if uint64(in.ID) == v {
			return in.ID, true
		}
	}
	return 0, false
}

// instName formats an instance name: six-digit pid, space, first word of psargs.
func instName(pid uint32, psargs string) string {
	b := make([]byte, 0, procInstDigits+1+len(psargs))
	ps := strconv.AppendUint(nil, uint64(pid), 10)
	for i := len(ps); i < procInstDigits; i++ {
		b = append(b, '0')
	}
	b = append(b, ps...)
	b = append(b, ' ')
	for i := 0; i < len(psargs) && psargs[i] != ' '; i++ {
		b = append(b, psargs[i])
	}
	return string(b)
}

// listPids returns the numeric entries of the proc root, ascending.
func (s *processSource) listPids() ([]uint32, error) {
	s.pids = s.pids[:0]
	buf, err := listDir(s.root, s.dbuf, func(_ int, name []byte) {
		if len(name) > 0 && name[0] >= '1' && name[0] <= '9' {
			if v, ok := parseUint(name); ok && v <= 1<<31 {
				s.pids = append(s.pids, uint32(v))
			}
		}
	})
	s.dbuf = buf
	if err != nil {
		return nil, err
	}
	sortU32(s.pids)
	if s.thr.on {
		s.pids = s.appendTasks(s.pids)
	}
	return s.pids, nil
}

func sortU32(a []uint32) {
	// insertion sort is fine: getdents returns /proc in ascending order already.
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// Fetch answers the requests for every process, or only for the pids the requests
// name when all of them carry an instance list and none needs the whole listing
// (proc.nprocs, proc.runq.*).
func (s *processSource) Fetch(reqs []Request) error {
	reqs = s.hotRequests(reqs) // hotproc.*: proc.* of the hot processes (hotproc.go)
	var need procFile
	var globals uint32
	filtered := true
	s.wantNS = false
	if len(reqs) > 0 {
		s.beginWalk(reqs[0].Client)
	}
	for _, rq := range reqs {
		if rq.Sel >= hotBase {
			if rq.Sel == hotBase+len(procMetrics)+hAutogroupEnabled {
				globals |= 1 << gAutogroupEnabled // read the same switch
			}
			continue // no process is hot: nothing to read (hotproc.go)
		}
		if rq.Sel >= len(procMetrics) {
			g := rq.Sel - len(procMetrics)
			globals |= 1 << g
			if g == gNProcs || g >= gRunqFirst && g <= gRunqLast {
				filtered = false
			}
			if g >= gRunqFirst && g <= gRunqLast {
				need |= pfStat
			}
			continue
		}
		need |= procMetrics[rq.Sel].file
		s.wantNS = s.wantNS || procNSMetric[rq.Sel]
		if !rq.Filtered {
			filtered = false
		}
	}
	wantRunq := globals&(1<<gRunqFirst|1<<gBlocked|1<<gSleeping|1<<gStopped|1<<gSwapped|1<<gDefunct|1<<gUnknown|1<<gKernel) != 0
	partial, onlyDenied := false, true
	failed := func(err error) {
		partial = true
		if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM) {
			onlyDenied = false
		}
	}
	// The per-process autogroup values exist only while autogrouping is on.
	var agOn uint64
	agOK := false
	if need&pfAutogroup != 0 || globals&(1<<gAutogroupEnabled) != 0 {
		var err error
		if agOn, agOK, err = s.autogroupEnabled(); err != nil {
			failed(err)
		}
		if agOn != 1 {
			need &^= pfAutogroup
		}
	}
	var pids []uint32
	if filtered {
		s.pids = s.pids[:0]
		for _, rq := range reqs {
			s.pids = append(s.pids, rq.Only...)
		}
		sortU32(s.pids)
		pids = dedupU32(s.pids)
	} else {
		var err error
		if pids, err = s.listPids(); err != nil {
			return err
		}
	}
	// A process gives each metric at most one value: room for all of them at
	// once, rather than growing each list by doubling (for 1,000 processes that
	// was 4 MB of copies and garbage a ps-style fetch, and the server's peak RSS).
	for _, rq := range reqs {
		if rq.Sel < len(procMetrics) {
			rq.Res.Values = slices.Grow(rq.Res.Values, len(pids))
		}
	}
	if need&pfStatus != 0 {
		s.names.refresh(s.etc)
	}
	var runq runqCounts
	runqOK := true
	for _, pid := range pids {
		if need == 0 {
			break // proc.nprocs alone: the listing is all it needs
		}
		d := &s.d
		err := s.read(pid, need, d)
		if wantRunq && !runq.count(d, errors.Is(err, errGone)) {
			runqOK = false
			failed(errParse) // a stat cut short of the memory size: broken too
		}
		if errors.Is(err, errGone) {
			continue
		}
		if err != nil {
			failed(err)
		}
		for _, rq := range reqs {
			if rq.Sel >= len(procMetrics) || rq.Filtered && !containsU32(rq.Only, pid) {
				continue
			}
			m := &procMetrics[rq.Sel]
			if d.has&m.file != m.file {
				continue
			}
			if v, ok := m.get(d, s); ok {
				v.Inst = pid
				rq.Res.Values = append(rq.Res.Values, v)
			}
		}
	}
	for _, rq := range reqs {
		if rq.Sel < len(procMetrics) {
			continue
		}
		if rq.Sel >= hotBase {
			s.hot.value(rq, agOn, agOK)
			continue
		}
		switch g := rq.Sel - len(procMetrics); {
		case g == gNProcs:
			putU(rq.Res, protocol.InNull, uint64(len(pids)))
		case g >= gRunqFirst && g <= gRunqLast:
			if runqOK {
				putI(rq.Res, protocol.InNull, runq[g-gRunqFirst])
			}
		case g == gAllThreads:
			putU(rq.Res, protocol.InNull, b2u(s.thr.all.Load()))
		case g == gPerclientThreads:
			putU(rq.Res, protocol.InNull, b2u(s.thr.on))
		case g == gPerclientCgroups:
			putS(rq.Res, protocol.InNull, "")
		case g == gAutogroupEnabled:
			if agOK {
				putU(rq.Res, protocol.InNull, agOn)
			}
		}
	}
	if partial {
		s.partial.Add(1)
		if onlyDenied {
			s.denied.Add(1)
		}
	}
	return nil
}

func dedupU32(a []uint32) []uint32 {
	out := a[:0]
	for i, v := range a {
		if i == 0 || v != a[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func containsU32(a []uint32, v uint32) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// read fills d with the files of pid named in need. It returns errGone when the
// process no longer exists, another error (after reading what it could) when some
// file could not be read or parsed.
func (s *processSource) read(pid uint32, need procFile, d *procData) error {
	*d = procData{strs: d.strs[:0]} // the text buffer's room is kept
	var dir [24]byte
	base := strconv.AppendUint(dir[:0], uint64(pid), 10)
	base = append(base, '/')
	var firstErr error
	for i := 0; i < pfCount; i++ {
		f := procFile(1 << i)
		if need&f == 0 {
			continue
		}
		var err error
		if s.thr.on {
			err = s.readTaskOne(pid, procFileNames[i], f, d)
		} else {
			err = s.readOne(string(append(base, procFileNames[i]...)), f, d)
		}
		if err == nil {
			d.has |= f
			continue
		}
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH) {
			if f == pfStat {
				return errGone
			}
			continue // this kernel lacks the file, or the process just went
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if d.has&pfStat == 0 && need&pfStat != 0 && firstErr == nil {
		return errGone
	}
	return firstErr
}

// readOne reads and parses one file of a process.
func (s *processSource) readOne(rel string, f procFile, d *procData) error {
	switch f {
	case pfExe, pfCwd:
		path := s.root + "/" + rel
		if fileHook != nil {
			fileHook(path)
		}
		t, err := os.Readlink(path)
		if errors.Is(err, syscall.ENOENT) && f == pfExe {
			// A kernel thread has no executable: its path is empty, not unknown
			// (the process itself is there: its stat was read first).
			t, err = "", nil
		}
		if err != nil {
			return err
		}
		if f == pfExe {
			d.exe = t
		} else {
			d.cwd = t
		}
		return nil
	case pfFD:
		n := uint64(0)
		buf, err := listDir(s.root+"/"+rel, s.dbuf, func(int, []byte) { n++ })
		s.dbuf = buf
		d.nfd = n
		return err
	}
	limit := maxProcFile
	switch f {
	case pfMaps:
		limit = maxProcMaps
	case pfEnviron:
		return s.readEnviron(s.root+"/"+rel, rel, d)
	}
	// The path as a Go string only when an error or the test hook needs it:
	// the read itself opens s.cpath (two allocations a file fewer).
	s.cpath = append(append(append(append(s.cpath[:0], s.root...), '/'), rel...), 0)
	b, err := s.readCPath(limit, f&procOneShot != 0)
	if f == pfMaps {
		defer s.shrinkBuf()
	}
	if err != nil {
		if f == pfLabel && errors.Is(err, syscall.EINVAL) {
			// No security module gives this process a label: nothing to show,
			// as for a file the kernel lacks.
			return &os.PathError{Op: "read", Path: s.root + "/" + rel, Err: syscall.ENOENT}
		}
		return err
	}
	path := func() string { return s.root + "/" + rel }
	var ok bool
	switch f {
	case pfStat:
		ok = parsePidStat(b, d)
	case pfStatm:
		ok = parsePidStatm(b, d)
	case pfStatus:
		ok = parsePidStatus(b, d, s.wantNS)
	case pfCmdline:
		d.psargs = psargs(b, d.comm, strings.IndexByte(rel, '/'))
		ok = true
	case pfIO:
		ok = parsePidIO(b, d)
	case pfSchedstat:
		for d.nsched < len(d.sched) {
			var fld []byte
			fld, b = nextField(b)
			v, good := parseUint(fld)
			if !good {
				break
			}
			d.sched[d.nsched] = v
			d.nsched++
		}
		ok = d.nsched == len(d.sched)
	case pfWchan:
		// Passed through as the kernel writes it: "0" for a running task, as the
		// real proc agent serves it (pmrep :proc-cpu-ext prints that column).
		d.wchan = string(trimSpace(b))
		ok = true
	case pfCgroup:
		d.cgroups, ok = cgroupString(b)
		d.container = cpusetContainerID(b)
	case pfSmaps:
		if len(trimSpace(b)) == 0 {
			// A kernel thread has no memory map: no values, and no error.
			return &os.PathError{Op: "read", Path: path(), Err: syscall.ENOENT}
		}
		ok = parseSmapsRollup(b, d)
	case pfAutogroup:
		if len(trimSpace(b)) == 0 {
			// The process is in no autogroup (kernel threads, processes left in
			// the root task group): no value, and no error. The real agent shows
			// id 0 and nice 0; an empty file is also what a torn read looks like,
			// and no autogroup has id 0, so nothing is said rather than a number.
			return &os.PathError{Op: "read", Path: path(), Err: syscall.ENOENT}
		}
		ok = parseAutogroup(b, d)
	case pfMaps:
		if len(b) == cap(b) && cap(b) >= maxProcMaps {
			return &os.PathError{Op: "read", Path: path(), Err: errTooLarge}
		}
		d.maps = string(trimTrailingNewline(b))
		ok = true
	case pfLabel:
		d.label, ok = labelString(b)
	case pfOOM:
		d.oom, ok = parseUint(trimSpace(b))
	}
	if !ok {
		return &os.PathError{Op: "parse", Path: path(), Err: errParse}
	}
	return nil
}

// readFile reads a whole (small) kernel file into the source's buffer.
func (s *processSource) readFile(path string) ([]byte, error) {
	return s.readFileMax(path, maxProcFile)
}

// shrinkBuf drops a read buffer grown past the usual limit (by a large maps
// file), so that one big process does not pin megabytes between fetches.
func (s *processSource) shrinkBuf() {
	if cap(s.buf) > maxProcFile {
		s.buf = nil
	}
}

// readFileMax reads up to limit bytes of a kernel file into the source's buffer:
// a longer file gives its first limit bytes (len == cap == limit tells).
func (s *processSource) readFileMax(path string, limit int) ([]byte, error) {
	s.cpath = append(append(s.cpath[:0], path...), 0)
	return s.readCPath(limit, false)
}

// procOneShot are the files of a process the kernel makes in one piece per
// open (a single seq_file record, or the command line, which it copies until the
// reader's buffer or the arguments end): a read that returns less than it was
// given room for has returned all of it, and the read that would return 0 is
// not made. That is a quarter of the system calls of a ps-style fetch (open,
// read, close rather than open, read, read, close), and system calls are most
// of its cost (BenchmarkProcPs1000's profile). maps is not one: it is a record
// per mapping, and a read may stop short at a record boundary.
const procOneShot = pfStat | pfStatm | pfStatus | pfCmdline | pfIO | pfSchedstat | pfWchan | pfCgroup |
	pfOOM | pfSmaps | pfAutogroup

// readCPath is readFileMax of s.cpath. With oneShot (procOneShot), a short read
// ends the file.
func (s *processSource) readCPath(limit int, oneShot bool) ([]byte, error) {
	pathOf := func() string { return string(s.cpath[:len(s.cpath)-1]) }
	if fileHook != nil {
		fileHook(pathOf())
	}
	fd, err := openC(s.cpath)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: pathOf(), Err: err}
	}
	defer syscall.Close(fd)
	if cap(s.buf) < 4096 {
		s.buf = make([]byte, 4096)
	}
	b := s.buf[:0]
	for {
		if len(b) == cap(b) {
			if cap(b) >= limit {
				break // longer than any real one: keep the first part
			}
			nb := make([]byte, len(b), min(2*cap(b), limit))
			copy(nb, b)
			b = nb
		}
		room := cap(b) - len(b)
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			s.buf = b
			return nil, &os.PathError{Op: "read", Path: pathOf(), Err: err}
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
		if oneShot && n < room {
			break
		}
	}
	s.buf = b
	return b, nil
}

// openC opens the NUL-terminated path p for reading, as syscall.Open does but
// without the copy syscall.Open makes of a Go string (an allocation a file).
func openC(p []byte) (int, error) {
	if len(p) == 0 || bytes.IndexByte(p, 0) != len(p)-1 {
		return -1, syscall.EINVAL // a NUL inside the name, as syscall.Open refuses it
	}
	fdcwd := atFDCWD
	fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(fdcwd), uintptr(unsafe.Pointer(&p[0])),
		uintptr(syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_LARGEFILE), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// atFDCWD is AT_FDCWD (openat relative to the working directory; p is absolute
// or relative to it, as for syscall.Open).
const atFDCWD = -100

// parsePidStat parses /proc/<pid>/stat. The command name is in parentheses and may
// itself hold spaces and parentheses, so it runs to the LAST ')'. Fields after it
// that a kernel does not print (or a truncated file lacks) stay absent.
func parsePidStat(b []byte, d *procData) bool {
	open, closeAt := -1, -1
	for i, c := range b {
		if c == '(' && open < 0 {
			open = i
		}
		if c == ')' {
			closeAt = i
		}
	}
	if open < 0 || closeAt < open {
		return false
	}
	pid, ok := parseUint(trimSpace(b[:open]))
	if !ok {
		return false
	}
	d.statv[0] = int64(pid)
	d.comm = string(b[open+1 : closeAt])
	d.nstat = stComm
	rest := b[closeAt+1:]
	for d.nstat < stMax-1 {
		var fld []byte
		fld, rest = nextField(rest)
		if len(fld) == 0 {
			break
		}
		if d.nstat+1 == stState {
			d.state = string(fld)
			d.nstat++
			continue
		}
		v, ok := parseInt(fld)
		if !ok {
			// a value too large for int64 (rsslim is often 2^64-1): keep it unsigned
			u, uok := parseUint(fld)
			if !uok {
				break
			}
			v = int64(u)
		}
		d.statv[d.nstat] = v
		d.nstat++
	}
	return true
}

func parsePidStatm(b []byte, d *procData) bool {
	for d.nstatm < len(d.statm) {
		var fld []byte
		fld, b = nextField(b)
		v, ok := parseUint(fld)
		if !ok {
			break
		}
		d.statm[d.nstatm] = v
		d.nstatm++
	}
	return d.nstatm > 0
}

// parsePidStatus takes the fields the metrics need from /proc/<pid>/status; a
// field the kernel does not print stays absent. The namespace id lists are kept
// only when ns is set (a fetch of proc.namespaces.*): they are strings, made per
// process, that the usual fetches do not need.
func parsePidStatus(b []byte, d *procData, ns bool) bool {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
		}
		if colon < 0 {
			continue
		}
		val := line[colon+1:]
		switch string(line[:colon]) {
		case "Uid":
			statusIDs(val, d, stsUID)
		case "Gid":
			statusIDs(val, d, stsGID)
		case "Threads":
			statusNum(val, d, stsThreads)
		case "voluntary_ctxt_switches":
			statusNum(val, d, stsVctx)
		case "nonvoluntary_ctxt_switches":
			statusNum(val, d, stsNVctx)
		case "Ngid":
			statusNum(val, d, stsNgid)
		case "Tgid":
			statusNum(val, d, stsTgid)
		case "VmSize":
			statusNum(val, d, stsVmSize)
		case "VmLck":
			statusNum(val, d, stsVmLck)
		case "VmPin":
			statusNum(val, d, stsVmPin)
		case "VmHWM":
			statusNum(val, d, stsVmHWM)
		case "VmRSS":
			statusNum(val, d, stsVmRSS)
		case "VmData":
			statusNum(val, d, stsVmData)
		case "VmStk":
			statusNum(val, d, stsVmStk)
		case "VmExe":
			statusNum(val, d, stsVmExe)
		case "VmLib":
			statusNum(val, d, stsVmLib)
		case "VmPTE":
			statusNum(val, d, stsVmPTE)
		case "VmSwap":
			statusNum(val, d, stsVmSwap)
		case "VmPeak":
			statusNum(val, d, stsVmPeak)
		case "SigPnd":
			statusStr(val, d, stsSigPnd)
		case "SigBlk":
			statusStr(val, d, stsSigBlk)
		case "SigIgn":
			statusStr(val, d, stsSigIgn)
		case "SigCgt":
			statusStr(val, d, stsSigCgt)
		case "Cpus_allowed_list":
			statusStr(val, d, stsCpus)
		case "envID":
			statusNum(val, d, stsEnvID)
		case "NStgid":
			if ns {
				statusList(val, d, stsNStgid)
			}
		case "NSpid":
			if ns {
				statusList(val, d, stsNSpid)
			}
		case "NSpgid":
			if ns {
				statusList(val, d, stsNSpgid)
			}
		case "NSsid":
			if ns {
				statusList(val, d, stsNSsid)
			}
		}
	}
	return d.statusOK != 0
}

// statusNum takes the first number of a status value ("  1234 kB" -> 1234).
func statusNum(val []byte, d *procData, i int) {
	f, _ := nextField(val)
	if v, ok := parseUint(f); ok {
		d.status[i] = v
		d.statusOK |= 1 << i
	}
}

// statusIDs takes the four ids of a Uid: or Gid: line (real, effective, saved, fs).
func statusIDs(val []byte, d *procData, first int) {
	var ids [4]uint64
	for k := range ids {
		var f []byte
		f, val = nextField(val)
		v, ok := parseUint(f)
		if !ok || v > 1<<32-1 {
			return // all four or none: a partial line would misattribute ids
		}
		ids[k] = v
	}
	for k, v := range ids {
		d.status[first+k] = v
		d.statusOK |= 1 << (first + k)
	}
}

// statusList keeps a list of ids, one per nested pid namespace ("1234\t1"),
// joined by commas as the real agent shows them ("1234,1").
func statusList(val []byte, d *procData, i int) {
	sp := d.text(trimSpace(val))
	for k := sp.from; k < sp.to; k++ {
		if isSpace(d.strs[k]) {
			d.strs[k] = ','
		}
	}
	d.statusStr[i-stsFirstStr] = sp
	d.statusOK |= 1 << i
}

func statusStr(val []byte, d *procData, i int) {
	d.statusStr[i-stsFirstStr] = d.text(trimSpace(val))
	d.statusOK |= 1 << i
}

// psargsBuf is the size of the real proc agent's command-line buffer (MAXPATHLEN).
const psargsBuf = 4096

// psargs joins the NUL-separated arguments of /proc/<pid>/cmdline with spaces; an
// empty command line (kernel threads, zombies) gives "(comm)". A longer command
// line is cut where the real proc agent cuts it: it reads the file into a
// 4,096-byte buffer behind the "%06d " of the pid and its terminating NUL, so
// 4,088 bytes for a pid of up to six digits (pidDigits: the pid's length).
func psargs(b []byte, comm string, pidDigits int) string {
	if limit := psargsBuf - max(pidDigits, 6) - 2; len(b) > limit {
		b = b[:limit]
	}
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return "(" + comm + ")"
	}
	// One allocation: the builder's buffer becomes the string (b is the reused
	// read buffer, so it is copied in any case).
	var out strings.Builder
	out.Grow(len(b))
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			out.Write(b)
			return out.String()
		}
		out.Write(b[:i])
		out.WriteByte(' ')
		b = b[i+1:]
	}
}

func parsePidIO(b []byte, d *procData) bool {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		key, rest := nextField(line)
		i := -1
		switch string(key) {
		case "rchar:":
			i = 0
		case "wchar:":
			i = 1
		case "syscr:":
			i = 2
		case "syscw:":
			i = 3
		case "read_bytes:":
			i = 4
		case "write_bytes:":
			i = 5
		case "cancelled_write_bytes:":
			i = 6
		}
		if i < 0 {
			continue
		}
		f, _ := nextField(rest)
		if v, ok := parseUint(f); ok {
			d.io[i] = v
			d.ioOK |= 1 << i
		}
	}
	return d.ioOK != 0
}

// cgroupString turns the "id:controllers:path" lines of /proc/<pid>/cgroup into
// "controllers:path" pairs joined by ';', in file order.
func cgroupString(b []byte) (string, bool) {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
		}
		if colon < 0 {
			return "", false
		}
		if len(out) > 0 {
			out = append(out, ';')
		}
		out = append(out, line[colon+1:]...)
	}
	return string(out), true
}

// policyName names a SCHED_* policy number as the real agent does.
func policyName(p int64) string {
	names := [...]string{"NORMAL", "FIFO", "RR", "BATCH", "ISO", "IDLE", "DEADLINE"}
	if p >= 0 && p < int64(len(names)) {
		return names[p]
	}
	return strconv.FormatInt(p, 10)
}

// ttyName names a terminal device number as ps(1) does for the common terminals:
// major 136-143 are pseudo-terminals (pts/N), major 4 the virtual consoles (ttyN,
// minor < 64) and serial ports (ttySN); anything else is shown by its numbers.
func ttyName(dev uint32) string {
	if dev == 0 {
		return "?"
	}
	major := (dev >> 8) & 0xfff
	minor := (dev & 0xff) | ((dev >> 12) & 0xfff00)
	switch {
	case major >= 136 && major <= 143:
		return "pts/" + strconv.FormatUint(uint64((major-136)<<8|minor), 10)
	case major == 4 && minor < 64:
		return "tty" + strconv.FormatUint(uint64(minor), 10)
	case major == 4:
		return "ttyS" + strconv.FormatUint(uint64(minor-64), 10)
	}
	return strconv.FormatUint(uint64(major), 10) + ":" + strconv.FormatUint(uint64(minor), 10)
}

// idNames maps user and group ids to names from passwd and group under the etc
// root, re-read when either file changes (size or modification time).
type idNames struct {
	users, groups  map[uint32]string
	uStamp, gStamp fileStamp
}

type fileStamp struct {
	size  int64
	mtime int64
	ok    bool
}

func stampOf(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{size: st.Size(), mtime: st.ModTime().UnixNano(), ok: true}
}

func (n *idNames) refresh(etc string) {
	if st := stampOf(etc + "/passwd"); st != n.uStamp || n.users == nil {
		n.users, n.uStamp = readIDFile(etc+"/passwd"), st
	}
	if st := stampOf(etc + "/group"); st != n.gStamp || n.groups == nil {
		n.groups, n.gStamp = readIDFile(etc+"/group"), st
	}
}

// readIDFile reads name:x:id:... lines; a missing or unreadable file gives no names
// (ids are then shown as numbers). The first entry for an id wins, as getpwuid does.
func readIDFile(path string) map[uint32]string {
	m := map[uint32]string{}
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 1<<24 {
		return m
	}
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		var f [3][]byte
		k := 0
		start := 0
		for i := 0; i <= len(line) && k < 3; i++ {
			if i == len(line) || line[i] == ':' {
				f[k] = line[start:i]
				k++
				start = i + 1
			}
		}
		if k < 3 || len(f[0]) == 0 || f[0][0] == '#' || f[0][0] == '+' || f[0][0] == '-' {
			continue
		}
		id, ok := parseUint(f[2])
		if !ok || id > 1<<32-1 {
			continue
		}
		if _, dup := m[uint32(id)]; !dup {
			m[uint32(id)] = string(f[0])
		}
	}
	return m
}

func (n *idNames) name(id uint32, group bool) string {
	m := n.users
	if group {
		m = n.groups
	}
	if s, ok := m[id]; ok {
		return s
	}
	return strconv.FormatUint(uint64(id), 10)
}
