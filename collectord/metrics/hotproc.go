package metrics

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/procfs"

	"github.com/gopcp/gopcp/protocol"
)

// hotproc.*: the proc agent's second view of the processes. The agent keeps a
// predicate (hotproc.control.config, hotpred.go), read at start from
// $PCP_PMDAS_DIR/proc/hotproc.conf or stored by a client, evaluates it every
// hotproc.control.refresh seconds over every process, and serves the same
// per-process metrics as proc.* (hotproc.psinfo.*, memory.*, ...) over its own
// instance domain 3.39 holding only the processes the predicate selected, with
// hotproc.predicate.* (the rates the predicate saw) and hotproc.total.* (the CPU
// time of the selected processes against the rest).
//
// Evaluation here is lazy rather than on a timer: a fetch or instance request for
// hotproc, once refresh seconds have passed since the last sample, samples every
// process (stat, status, io, schedstat, cmdline) and evaluates the predicate with
// rates over the time since the previous sample. A collector nobody asks about
// hotproc thus reads nothing for it, and no goroutine outlives the source; the
// price is that after a quiet spell the rates cover the whole spell (a longer
// interval than refresh), which a tool polling at the refresh rate never sees.
// Storing a predicate or a refresh takes the first sample at once and empties the
// hot list until the next evaluation, as the agent's help says ("the instances
// will not be available until after the refresh period has elapsed").
//
// The derived quantities, per process, as the agent computes them:
//
//	cpuburn      (utime + stime) / USER_HZ seconds of CPU per second
//	ctxswitch    voluntary + involuntary context switches (status) per second
//	iodemand     read_bytes + write_bytes (io) per second: bytes, although the
//	             agent's help and units say kilobytes; predicates written for the
//	             agent keep their meaning
//	iowait       delayacct_blkio_ticks (stat) / USER_HZ seconds per second
//	schedwait    run_delay (schedstat) nanoseconds / 1e9 per second
//	virtualsize  vsize (stat) / 1024, kilobytes, now
//	residentsize rss (stat) * page size / 1024, kilobytes, now
//
// A process seen for the first time (or whose start time changed: a reused pid)
// has zero rates. The agent measures the interval in whole seconds; here it is
// measured exactly. uname and gname are "UNKNOWN" for ids without a name, fname
// is the kernel's command name, psargs the command line (or "(comm)"), cut to the
// agent's lengths (63, 63, 255 and 255 bytes).
//
// Stores (hotproc.control.refresh, config, reload_config) are taken, as by the
// agent, only from root by its unix-socket credentials: the predicate decides
// what every client's hotproc metrics show and what the collector reads every
// refresh seconds. Any other client (another local user, a loopback or remote
// TCP client, with a verified certificate or not) gets PM_ERR_PERMISSION, as
// from the agent. A predicate that does not parse is refused with PM_ERR_BADSTORE and the
// old one stays; an empty one turns hotproc off (config_gen 0).
//
// Like every per-process metric the instances and values are for trusted clients
// only (the source is private); the controls and totals are public.

var indomHotproc = protocol.NewInDom(DomainProc, 39)

// uKBps is kilobytes per second (space 1, time -1, scales kilobyte and second).
const uKBps = protocol.Units(0x1f013000)

// hotprocDefaultRefresh is the real agent's default hotproc.control.refresh, seconds.
const hotprocDefaultRefresh = 10

// hotClusters maps a per-process cluster of proc.* to its hotproc.* twin.
var hotClusters = map[uint32]uint32{8: 52, 9: 53, 11: 54, 12: 55, 24: 56, 31: 57, 32: 58, 33: 34,
	51: 59, 62: 63, 69: 71, 72: 73, 74: 75}

// Hotproc metrics after the per-process mirrors, by selector offset.
const (
	hNProcs = iota
	hAutogroupEnabled
	hRefresh
	hConfig
	hConfigGen
	hReloadConfig
	hCPUIdle
	hCPUBurn
	hOtherTransient
	hOtherNotBurn
	hOtherTotal
	hOtherPercent
	hPredCtxswitch
	hPredVirtualsize
	hPredResidentsize
	hPredIodemand
	hPredIowait
	hPredSchedwait
	hPredCPUBurn
	hMax
)

var hotGlobals = [hMax]procGlobal{
	hNProcs:           {"hotproc.nprocs", pmid(3, 52, 99), tU32, semI, uNone, "number of hot processes (0: no predicate)", "How many processes the hotproc predicate selected."},
	hAutogroupEnabled: {"hotproc.autogroup.enabled", pmid(3, 75, 0), tU32, semI, uNone, "1 when the scheduler groups processes by session", "The value of /proc/sys/kernel/sched_autogroup_enabled, as proc.autogroup.enabled."},
	hRefresh:          {"hotproc.control.refresh", pmid(3, 60, 1), tU32, semI, uNone, "seconds between evaluations of the predicate", "Stores from root on the unix socket set it (default 10); the hot list is empty until\nthe next evaluation."},
	hConfig:           {"hotproc.control.config", pmid(3, 60, 8), tSTR, semI, uNone, "the hotproc predicate (empty: none)", "The predicate in the agent's normalised form: every operation in parentheses.\nRead from $PCP_PMDAS_DIR/proc/hotproc.conf at start; stores from root on the unix\nsocket replace it (PM_ERR_BADSTORE for one that does not parse: the old one stays;\nan empty one turns hotproc off)."},
	hConfigGen:        {"hotproc.control.config_gen", pmid(3, 60, 9), tU32, semI, uNone, "generation of the predicate (0: none)", "Counts the predicates stored since hotproc was last off; 1 after a file is read."},
	hReloadConfig:     {"hotproc.control.reload_config", pmid(3, 60, 10), tU32, semI, uNone, "store any value to re-read the predicate file", "A store re-reads $PCP_PMDAS_DIR/proc/hotproc.conf; a missing or unreadable file\nleaves the predicate as it is. Always reads 0."},
	hCPUIdle:          {"hotproc.total.cpuidle", pmid(3, 60, 2), tFLT, semI, uNone, "CPUs idle over the last interval (0 until two evaluations)", "Idle time of /proc/stat over the interval, in CPUs (seconds per second)."},
	hCPUBurn:          {"hotproc.total.cpuburn", pmid(3, 60, 3), tFLT, semI, uNone, "CPUs used by the hot processes over the last interval", "Their user and system time over the interval, in CPUs."},
	hOtherTransient:   {"hotproc.total.cpuother.transient", pmid(3, 60, 4), tFLT, semI, uNone, "CPUs used by processes that came and went", "What the CPUs did that neither idle time nor the processes seen at both ends of\nthe interval account for (never below 0)."},
	hOtherNotBurn:     {"hotproc.total.cpuother.not_cpuburn", pmid(3, 60, 5), tFLT, semI, uNone, "CPUs used by the processes not selected", ""},
	hOtherTotal:       {"hotproc.total.cpuother.total", pmid(3, 60, 6), tFLT, semI, uNone, "CPUs used by all other processes", "not_cpuburn plus transient."},
	hOtherPercent:     {"hotproc.total.cpuother.percent", pmid(3, 60, 7), tFLT, semI, uNone, "other processes' share of the busy CPU time, per cent", ""},
	hPredCtxswitch:    {"hotproc.predicate.ctxswitch", pmid(3, 61, 1), tFLT, semI, uCPS, "context switches per second the predicate saw", "Voluntary and involuntary context switches (/proc/<pid>/status) per second."},
	hPredVirtualsize:  {"hotproc.predicate.virtualsize", pmid(3, 61, 2), tU32, semI, uKB, "virtual size the predicate saw", "vsize of /proc/<pid>/stat, kilobytes."},
	hPredResidentsize: {"hotproc.predicate.residentsize", pmid(3, 61, 3), tU32, semI, uKB, "resident size the predicate saw", "rss of /proc/<pid>/stat times the page size, kilobytes."},
	hPredIodemand:     {"hotproc.predicate.iodemand", pmid(3, 61, 4), tFLT, semI, uKBps, "I/O rate the predicate saw", "read_bytes plus write_bytes of /proc/<pid>/io per second. In bytes, as the\nreal agent computes it, although its units say kilobytes."},
	hPredIowait:       {"hotproc.predicate.iowait", pmid(3, 61, 5), tFLT, semI, uNone, "share of time waiting for block I/O the predicate saw", "delayacct_blkio_ticks of /proc/<pid>/stat, seconds per second."},
	hPredSchedwait:    {"hotproc.predicate.schedwait", pmid(3, 61, 6), tFLT, semI, uNone, "share of time waiting for a CPU the predicate saw", "run_delay of /proc/<pid>/schedstat, seconds per second."},
	hPredCPUBurn:      {"hotproc.predicate.cpuburn", pmid(3, 61, 7), tFLT, semI, uNone, "share of a CPU used the predicate saw", "utime plus stime of /proc/<pid>/stat, seconds per second."},
}

// hotBase is the first hotproc selector: after the per-process metrics and the
// proc source's global ones.
var hotBase = len(procMetrics) + gMax

// hotprocDefs returns the hotproc metrics: a twin of every per-process metric
// (same item, the twin cluster, instance domain 3.39), then the global ones.
func hotprocDefs() []metricDef {
	out := make([]metricDef, 0, len(procMetrics)+hMax)
	for i, m := range procMetrics {
		c, ok := hotClusters[m.pmid.Cluster()]
		if !ok {
			panic("metrics: no hotproc cluster for " + m.name)
		}
		out = append(out, metricDef{"hot" + m.name, pmid(3, c, m.pmid.Item()), m.typ, indomHotproc, m.sem, m.units, hotBase + i})
	}
	for h, g := range hotGlobals {
		indom := null
		if h >= hPredCtxswitch {
			indom = indomHotproc
		}
		out = append(out, metricDef{g.name, g.pmid, g.typ, indom, g.sem, g.units, hotBase + len(procMetrics) + h})
	}
	return out
}

// hotprocHelp is the help of a hotproc metric (sel is its selector).
func hotprocHelp(sel int) helpText {
	i := sel - hotBase
	if i < len(procMetrics) {
		m := procMetrics[i]
		return helpText{m.one + ", for hot processes",
			"The value of " + m.name + " (from " + procFilesText(m.file) + ") for each\nprocess the hotproc predicate " +
				"(hotproc.control.config) selected at its last evaluation."}
	}
	g := hotGlobals[i-len(procMetrics)]
	h := g.hlp
	if h == "" {
		h = g.one + "."
	}
	if i-len(procMetrics) >= hPredCtxswitch {
		h += "\nOne value per hot process, from the last evaluation of the predicate."
	}
	if i-len(procMetrics) != hAutogroupEnabled {
		h += "\nThe predicate is evaluated over /proc/<pid>/stat, status, io, schedstat and\ncmdline every hotproc.control.refresh seconds (when hotproc is fetched)."
	}
	return helpText{g.one, h}
}

// Lengths the agent cuts the string variables to (its buffers, less the NUL).
const (
	hotNameMax   = 63
	hotPsargsMax = 255
)

// hotSample is one process at one evaluation: the counters the rates come from.
type hotSample struct {
	start                          int64 // stat start time: a changed one is a new process
	cputime, bwtime                float64
	vctx, ictx, bread, bwrit, qwns float64
}

// hotProc is a process the predicate selected, with the values it saw.
type hotProc struct {
	pid                       uint32
	name                      string // instance name, as proc's
	cpuburn, ctxswitch        float64
	iodemand, iowait          float64
	schedwait                 float64
	virtualsize, residentsize float64
}

// hotState is the predicate, its controls and the last evaluation. Its mutex
// covers everything: stores come from client goroutines, outside the lock the
// registry holds around the source's Fetch and Instances.
type hotState struct {
	mu       sync.Mutex
	rd       *processSource // its own reader: the source's buffers belong to Fetch
	procRoot string
	confPath string
	now      func() time.Time

	pred    *hotPred
	text    string // pred in normalised form
	gen     uint32
	refresh uint32

	sampled  bool // prev, prevAt and prevIdle hold a sample
	prev     map[uint32]hotSample
	prevAt   time.Time
	prevIdle float64
	hot      []hotProc // sorted by pid

	haveTotals                            bool
	tActive, tInactive, tTransient, tIdle float64
}

// hotprocDefaultPMDAsDir is $PCP_PMDAS_DIR on Debian and Red Hat alike.
const hotprocDefaultPMDAsDir = "/var/lib/pcp/pmdas"

// maxHotprocConf bounds the config file read at start or on reload_config.
const maxHotprocConf = maxHotPredText

// newHotState reads the config file, as the agent does at start.
func newHotState(e *env, rd *processSource) *hotState {
	dir := e.getenv("PCP_PMDAS_DIR")
	if dir == "" {
		dir = pcpConfValue(e.etcRoot, "PCP_PMDAS_DIR")
	}
	if dir == "" || !filepath.IsAbs(dir) {
		dir = hotprocDefaultPMDAsDir
	}
	h := &hotState{rd: rd, procRoot: e.procRoot, now: time.Now, refresh: hotprocDefaultRefresh,
		confPath: filepath.Join(e.rootFS, dir, "proc", "hotproc.conf")}
	h.mu.Lock()
	h.loadFile()
	h.mu.Unlock()
	return h
}

// pcpConfValue is KEY's value in <etc>/pcp.conf, or "".
func pcpConfValue(etc, key string) string {
	b, err := os.ReadFile(filepath.Join(etc, "pcp.conf"))
	if err != nil || len(b) > 1<<20 {
		return ""
	}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if k, v, ok := bytes.Cut(trimSpace(line), []byte("=")); ok && string(k) == key {
			return string(v)
		}
	}
	return ""
}

// loadFile reads the config file (h.mu held). A missing file changes nothing, as
// in the agent; so does a file anyone may write (the agent ignores it too: anyone
// could choose what is watched) or one that does not parse, with a log line.
func (h *hotState) loadFile() {
	f, err := os.Open(h.confPath)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			slog.Warn("hotproc: cannot read the predicate file; keeping the current predicate", "file", h.confPath, "err", err)
		}
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		slog.Warn("hotproc: cannot read the predicate file; keeping the current predicate", "file", h.confPath, "err", err)
		return
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o002 != 0 {
		slog.Warn("hotproc: ignoring the predicate file: it is not a regular file or anyone may write it (chmod o-w)",
			"file", h.confPath, "mode", st.Mode().String())
		return
	}
	b, err := io.ReadAll(io.LimitReader(f, maxHotprocConf+1))
	n := len(b)
	if err != nil {
		slog.Warn("hotproc: cannot read the predicate file; keeping the current predicate", "file", h.confPath, "err", err)
		return
	}
	if n > maxHotprocConf {
		slog.Warn("hotproc: ignoring the predicate file: larger than allowed", "file", h.confPath, "limit", maxHotprocConf)
		return
	}
	pred, err := parseHotPredicate(string(b[:n]))
	if err != nil {
		slog.Warn("hotproc: ignoring the predicate file; keeping the current predicate", "file", h.confPath, "err", err)
		return
	}
	if pred == nil {
		h.disable()
		return
	}
	h.set(pred)
	h.gen = 1 // the agent restarts the generation when it reads the file
}

// set installs a predicate (h.mu held): a new generation, an empty hot list and
// a fresh first sample.
func (h *hotState) set(p *hotPred) {
	h.pred, h.text = p, p.String()
	h.gen++
	h.restart()
}

// disable turns hotproc off (h.mu held).
func (h *hotState) disable() {
	h.pred, h.text, h.gen = nil, "", 0
	h.hot, h.prev, h.sampled, h.haveTotals = nil, nil, false, false
}

// restart empties the hot list and takes a first sample now (h.mu held).
func (h *hotState) restart() {
	h.hot, h.haveTotals, h.sampled = nil, false, false
	if h.pred != nil {
		h.evaluate(h.now(), false)
	}
}

// update evaluates the predicate when refresh seconds have passed since the last
// sample (h.mu held).
func (h *hotState) update() {
	if h.pred == nil {
		return
	}
	// A refresh of 0 is taken and read back, as by the agent, but evaluates at
	// most once a second: rates over microseconds are noise (the CPU times tick
	// in hundredths), and every fetch would walk every process.
	now := h.now()
	if h.sampled && now.Sub(h.prevAt) < time.Duration(max(h.refresh, 1))*time.Second {
		return
	}
	h.evaluate(now, h.sampled)
}

// hotNeed is what a sample reads of each process.
const hotNeed = pfStat | pfStatus | pfIO | pfSchedstat | pfCmdline

// evaluate samples every process and, when publish, replaces the hot list with
// the processes the predicate selects over the interval since the last sample.
func (h *hotState) evaluate(now time.Time, publish bool) {
	rd := h.rd
	pids, err := rd.listPids()
	if err != nil {
		slog.Warn("hotproc: cannot list processes", "root", h.procRoot, "err", err)
		return
	}
	rd.names.refresh(rd.etc)
	dt := now.Sub(h.prevAt).Seconds()
	cur := make(map[uint32]hotSample, len(pids))
	var hot []hotProc
	var total, active, inactive float64
	hz := float64(rd.hz)
	for _, pid := range pids {
		d := &rd.d
		if err := rd.read(pid, hotNeed, d); errors.Is(err, errGone) || d.has&(pfStat|pfStatus) != pfStat|pfStatus {
			continue // as the agent: stat and status are needed, io and schedstat optional
		}
		utime, _ := d.stat(stUtime)
		stime, _ := d.stat(stStime)
		start, _ := d.stat(stStart)
		blkio, _ := d.stat(stBlkio)
		s := hotSample{start: start, cputime: float64(utime+stime) / hz, bwtime: float64(blkio) / hz,
			vctx: float64(d.status[stsVctx]), ictx: float64(d.status[stsNVctx])}
		if d.ioOK&(1<<4) != 0 && d.ioOK&(1<<5) != 0 {
			s.bread, s.bwrit = float64(d.io[4]), float64(d.io[5])
		}
		if d.nsched > 1 {
			s.qwns = float64(d.sched[1])
		}
		cur[pid] = s
		p := hotProc{pid: pid}
		old, seen := h.prev[pid]
		if publish && seen && old.start == s.start && dt > 0 {
			p.cpuburn = nonNeg(s.cputime-old.cputime) / dt
			p.iodemand = (nonNeg(s.bread-old.bread) + nonNeg(s.bwrit-old.bwrit)) / dt
			p.ctxswitch = (nonNeg(s.vctx-old.vctx) + nonNeg(s.ictx-old.ictx)) / dt
			p.iowait = nonNeg(s.bwtime-old.bwtime) / dt
			p.schedwait = nonNeg(s.qwns-old.qwns) / (dt * 1e9)
		}
		vsize, _ := d.stat(stVsize)
		rss, _ := d.stat(stRSS)
		p.virtualsize = float64(uint64(vsize) / 1024)
		p.residentsize = float64(uint64(rss) * uint64(rd.pageSize) / 1024)
		cpu := p.cpuburn * dt
		total += cpu
		if !publish {
			continue
		}
		uid, gid := uint32(d.status[stsUID]), uint32(d.status[stsGID])
		psargs := d.psargs
		if d.has&pfCmdline == 0 || psargs == "" {
			psargs = "(" + d.comm + ")"
		}
		v := hotVars{uid: uid, gid: gid, uname: hotIDName(rd.names.users, uid), gname: hotIDName(rd.names.groups, gid),
			fname: cut(d.comm, hotPsargsMax), psargs: cut(psargs, hotPsargsMax), cpuburn: p.cpuburn,
			ctxswitch: p.ctxswitch, iodemand: p.iodemand, iowait: p.iowait, schedwait: p.schedwait,
			virtualsize: p.virtualsize, residentsize: p.residentsize}
		if h.pred.eval(&v) {
			p.name = instName(pid, psargs)
			hot = append(hot, p)
			active += cpu
		} else {
			inactive += cpu
		}
	}
	idle, ncpu, idleOK := h.idle()
	if publish && idleOK && h.prevIdle >= 0 && dt > 0 {
		idleDelta := nonNeg(idle - h.prevIdle)
		transient := float64(ncpu)*dt - (total + idleDelta)
		h.tTransient, h.tIdle = nonNeg(transient)/dt, idleDelta/dt
		h.tActive, h.tInactive = active/dt, inactive/dt
		h.haveTotals = true
	}
	h.prevIdle = -1
	if idleOK {
		h.prevIdle = idle
	}
	h.prev, h.prevAt, h.sampled = cur, now, true
	if publish {
		h.hot = hot
	}
}

// idle is the idle time of /proc/stat in seconds and the number of CPUs listed
// there (the online ones, as sysconf counts them).
func (h *hotState) idle() (float64, int, bool) {
	fs, err := procfs.NewFS(h.procRoot)
	if err != nil {
		return 0, 0, false
	}
	st, err := fs.Stat()
	if err != nil || len(st.CPU) == 0 {
		return 0, 0, false
	}
	return st.CPUTotal.Idle, len(st.CPU), true
}

func nonNeg(v float64) float64 {
	if v < 0 {
		return 0
	}
	return v
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func hotIDName(m map[uint32]string, id uint32) string {
	if s, ok := m[id]; ok {
		return cut(s, hotNameMax)
	}
	return "UNKNOWN"
}

// instances lists the hot processes.
func (h *hotState) instances() []Instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.update()
	out := make([]Instance, len(h.hot))
	for i, p := range h.hot {
		out[i] = Instance{ID: p.pid, Name: p.name}
	}
	return out
}

// hotRequests rewrites the requests for hotproc's per-process metrics as
// requests for their proc.* twins limited to the hot processes (and to the
// client's profile), so that the source reads them as it reads proc.*. Requests
// without hotproc ones are returned as they are.
func (s *processSource) hotRequests(reqs []Request) []Request {
	any := false
	for _, rq := range reqs {
		if rq.Sel >= hotBase && rq.Sel < hotBase+len(procMetrics) {
			any = true
			break
		}
	}
	if !any {
		return reqs
	}
	h := s.hot
	h.mu.Lock()
	h.update()
	hot := make([]uint32, len(h.hot))
	for i, p := range h.hot {
		hot[i] = p.pid
	}
	h.mu.Unlock()
	out := make([]Request, len(reqs))
	for i, rq := range reqs {
		out[i] = rq
		if rq.Sel < hotBase || rq.Sel >= hotBase+len(procMetrics) {
			continue
		}
		only := make([]uint32, 0, len(hot))
		for _, pid := range hot {
			if !rq.Filtered || containsU32(rq.Only, pid) {
				only = append(only, pid)
			}
		}
		out[i].Sel, out[i].Filtered, out[i].Only = rq.Sel-hotBase, true, only
	}
	return out
}

// value answers a hotproc request other than the per-process twins: the
// controls, the totals and the predicate values. agOn/agOK are
// proc.autogroup.enabled.
func (h *hotState) value(rq Request, agOn uint64, agOK bool) {
	i := rq.Sel - hotBase - len(procMetrics)
	if i < 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if i == hNProcs || i >= hPredCtxswitch || i >= hCPUIdle && i <= hOtherPercent {
		h.update()
	}
	tot := func(v float64) float64 {
		if !h.haveTotals {
			return 0
		}
		return v
	}
	switch i {
	case hNProcs:
		putU(rq.Res, protocol.InNull, uint64(len(h.hot)))
	case hConfigGen:
		putU(rq.Res, protocol.InNull, uint64(h.gen))
	case hReloadConfig:
		putU(rq.Res, protocol.InNull, 0)
	case hAutogroupEnabled:
		if agOK {
			putU(rq.Res, protocol.InNull, agOn)
		}
	case hRefresh:
		putU(rq.Res, protocol.InNull, uint64(h.refresh))
	case hConfig:
		putS(rq.Res, protocol.InNull, h.text)
	case hCPUIdle:
		putF(rq.Res, protocol.InNull, tot(h.tIdle))
	case hCPUBurn:
		putF(rq.Res, protocol.InNull, tot(h.tActive))
	case hOtherTransient:
		putF(rq.Res, protocol.InNull, tot(h.tTransient))
	case hOtherNotBurn:
		putF(rq.Res, protocol.InNull, tot(h.tInactive))
	case hOtherTotal:
		putF(rq.Res, protocol.InNull, tot(h.tInactive+h.tTransient))
	case hOtherPercent:
		other, busy := h.tInactive+h.tTransient, h.tInactive+h.tTransient+h.tActive
		if !h.haveTotals || busy == 0 {
			putF(rq.Res, protocol.InNull, 0)
		} else {
			putF(rq.Res, protocol.InNull, other/busy*100)
		}
	default:
		for _, p := range h.hot {
			if rq.Filtered && !containsU32(rq.Only, p.pid) {
				continue
			}
			switch i {
			case hPredCtxswitch:
				putF(rq.Res, p.pid, p.ctxswitch)
			case hPredVirtualsize:
				putU(rq.Res, p.pid, uint64(uint32(p.virtualsize)))
			case hPredResidentsize:
				putU(rq.Res, p.pid, uint64(uint32(p.residentsize)))
			case hPredIodemand:
				putF(rq.Res, p.pid, p.iodemand)
			case hPredIowait:
				putF(rq.Res, p.pid, p.iowait)
			case hPredSchedwait:
				putF(rq.Res, p.pid, p.schedwait)
			case hPredCPUBurn:
				putF(rq.Res, p.pid, p.cpuburn)
			}
		}
	}
}

// hotStoreAllowed is the agent's rule for every hotproc store: root, by its
// unix-socket credentials. A certificate names a person, not a local account,
// and a loopback TCP client may be proxyd relaying someone remote.
func hotStoreAllowed(o StoreOpts) bool { return o.Root && o.Local && o.Trusted }

// checkStore checks a store into a hotproc metric: 0, PM_ERR_PERMISSION (a
// metric that takes none, or a client that may not store), PM_ERR_BADSTORE (a
// value of the wrong kind, or a predicate that does not parse).
func (h *hotState) checkStore(sel int, vs *protocol.ValueSet, o StoreOpts) int32 {
	i := sel - hotBase - len(procMetrics)
	if i != hRefresh && i != hConfig && i != hReloadConfig || !hotStoreAllowed(o) {
		return protocol.ErrPermission
	}
	if vs.NumVal != 1 || len(vs.Values) != 1 {
		return protocol.ErrInst
	}
	if i == hConfig {
		if vs.ValFmt == protocol.ValFmtInsitu || vs.Values[0].VType != uint8(protocol.TypeString) {
			return protocol.ErrBadStore
		}
		if _, err := parseHotPredicate(vs.Values[0].Str()); err != nil {
			slog.Info("hotproc: refused a predicate", "err", err)
			return protocol.ErrBadStore
		}
		return 0
	}
	if vs.ValFmt != protocol.ValFmtInsitu {
		return protocol.ErrBadStore
	}
	return 0
}

// applyStore applies a store checkStore accepted.
func (h *hotState) applyStore(sel int, vs *protocol.ValueSet) {
	if len(vs.Values) != 1 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch sel - hotBase - len(procMetrics) {
	case hRefresh:
		h.refresh = vs.Values[0].Insitu
		h.restart()
	case hConfig:
		pred, err := parseHotPredicate(vs.Values[0].Str())
		switch {
		case err != nil:
			return // checked already; never reached
		case pred == nil:
			h.disable()
		default:
			h.set(pred)
		}
	case hReloadConfig:
		h.loadFile()
	}
}
