package metrics

import (
	"github.com/gopcp/gopcp/protocol"
)

// hotproc.*: the proc agent's second view of the processes. The real agent keeps a
// predicate (hotproc.control.config, from its hotproc.conf or a pmstore), evaluates
// it every hotproc.control.refresh seconds over every process, and serves the same
// per-process metrics as proc.* (hotproc.psinfo.*, memory.*, ...) over its own
// instance domain 3.39 holding only the processes the predicate selected, with
// hotproc.predicate.* (the rates the predicate saw) and hotproc.total.* (the CPU
// time of the selected processes against the rest).
//
// This collector serves hotproc exactly as the real agent does with its default
// configuration, which has no predicate: the instance domain is empty,
// hotproc.nprocs is 0, the per-process and predicate metrics have no values,
// hotproc.control.config is "" (generation 0, refresh 10) and hotproc.total.* are 0.
// It does not evaluate predicates: a store to hotproc.control.config (or to any
// hotproc.control metric) is refused by the server, as every store other than
// pmcd.client.whoami is, never accepted and ignored. A tool that watches hotproc
// (pmrep's :hotproc views, pcp-atop's hot process list) thus sees no hot processes,
// rather than processes chosen by a rule nobody set.
//
// The metrics are served by the "proc" source (process.go): the selectors after
// its own, so that a predicate, once evaluated, can read processes with the same
// reader. Like every per-process metric they are for trusted clients only.

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
	hRefresh:          {"hotproc.control.refresh", pmid(3, 60, 1), tU32, semI, uNone, "seconds between evaluations of the predicate", "The real agent's default interval; there is no predicate to evaluate."},
	hConfig:           {"hotproc.control.config", pmid(3, 60, 8), tSTR, semI, uNone, "the hotproc predicate (empty: none)", "This collector evaluates no predicate; stores are refused."},
	hConfigGen:        {"hotproc.control.config_gen", pmid(3, 60, 9), tU32, semI, uNone, "generation of the predicate (0: never set)", ""},
	hReloadConfig:     {"hotproc.control.reload_config", pmid(3, 60, 10), tU32, semI, uNone, "write 1 to re-read the predicate file (refused here)", ""},
	hCPUIdle:          {"hotproc.total.cpuidle", pmid(3, 60, 2), tFLT, semI, uNone, "share of CPU time idle in the last interval (0: no predicate)", ""},
	hCPUBurn:          {"hotproc.total.cpuburn", pmid(3, 60, 3), tFLT, semI, uNone, "share of CPU time used by hot processes (0: none)", ""},
	hOtherTransient:   {"hotproc.total.cpuother.transient", pmid(3, 60, 4), tFLT, semI, uNone, "share of CPU time used by processes that came and went (0)", ""},
	hOtherNotBurn:     {"hotproc.total.cpuother.not_cpuburn", pmid(3, 60, 5), tFLT, semI, uNone, "share of CPU time used by processes not selected (0)", ""},
	hOtherTotal:       {"hotproc.total.cpuother.total", pmid(3, 60, 6), tFLT, semI, uNone, "share of CPU time used by all other processes (0)", ""},
	hOtherPercent:     {"hotproc.total.cpuother.percent", pmid(3, 60, 7), tFLT, semI, uNone, "other processes' CPU time as a percentage (0)", ""},
	hPredCtxswitch:    {"hotproc.predicate.ctxswitch", pmid(3, 61, 1), tFLT, semI, uCPS, "context switches per second the predicate saw", ""},
	hPredVirtualsize:  {"hotproc.predicate.virtualsize", pmid(3, 61, 2), tU32, semI, uKB, "virtual size the predicate saw", ""},
	hPredResidentsize: {"hotproc.predicate.residentsize", pmid(3, 61, 3), tU32, semI, uKB, "resident size the predicate saw", ""},
	hPredIodemand:     {"hotproc.predicate.iodemand", pmid(3, 61, 4), tFLT, semI, uKBps, "I/O rate the predicate saw, kilobytes per second", ""},
	hPredIowait:       {"hotproc.predicate.iowait", pmid(3, 61, 5), tFLT, semI, uNone, "share of time waiting for block I/O the predicate saw", ""},
	hPredSchedwait:    {"hotproc.predicate.schedwait", pmid(3, 61, 6), tFLT, semI, uNone, "share of time waiting for a CPU the predicate saw", ""},
	hPredCPUBurn:      {"hotproc.predicate.cpuburn", pmid(3, 61, 7), tFLT, semI, uNone, "share of a CPU used the predicate saw", ""},
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
	const none = "\nThis collector evaluates no hotproc predicate (the real agent's default has\n" +
		"none), so no process is hot and this metric has no values."
	i := sel - hotBase
	if i < len(procMetrics) {
		m := procMetrics[i]
		return helpText{m.one + ", for hot processes",
			"The value of " + m.name + " (from " + procFilesText(m.file) + ") for each\nprocess the hotproc predicate selects." + none}
	}
	g := hotGlobals[i-len(procMetrics)]
	h := g.hlp
	if h == "" {
		h = g.one + "."
	}
	if i-len(procMetrics) >= hPredCtxswitch {
		h += none + "\nA predicate would be computed from /proc/<pid>/stat, status and io."
	} else {
		h += "\nServed as the real proc agent does without a hotproc predicate: nothing is\nread from /proc/ for it."
	}
	return helpText{g.one, h}
}

// hotprocValue answers a hotproc request that needs no process: the controls and
// totals of an agent without a predicate; the per-process and predicate metrics
// have no values (no process is hot). agOn/agOK are proc.autogroup.enabled.
func hotprocValue(rq Request, agOn uint64, agOK bool) {
	i := rq.Sel - hotBase
	if i < len(procMetrics) {
		return
	}
	switch h := i - len(procMetrics); h {
	case hNProcs, hConfigGen, hReloadConfig:
		putU(rq.Res, protocol.InNull, 0)
	case hAutogroupEnabled:
		if agOK {
			putU(rq.Res, protocol.InNull, agOn)
		}
	case hRefresh:
		putU(rq.Res, protocol.InNull, hotprocDefaultRefresh)
	case hConfig:
		putS(rq.Res, protocol.InNull, "")
	case hCPUIdle, hCPUBurn, hOtherTransient, hOtherNotBurn, hOtherTotal, hOtherPercent:
		putF(rq.Res, protocol.InNull, 0)
	}
}
