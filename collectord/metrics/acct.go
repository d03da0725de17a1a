package metrics

import "github.com/gopcp/gopcp/protocol"

// The "acct" source: acct.*, the process accounting metrics of the proc agent
// (PMID cluster 70). The real agent can switch kernel process accounting on and read
// the records of exited processes from a file it manages; it does so only when
// configured to, and by default (acct.control.enable_acct 0) serves no instances.
// collectord never switches accounting on (it would make the kernel write a record
// for every process that exits on the host), so the instance domain of exited
// processes (3.40) is always empty and acct.control.enable_acct is 0. The other
// control metrics are settings of the real agent's file handling (how often it
// reopens, rotates and rereads the file); collectord has no such file, so they have
// no value rather than numbers that would describe nothing. The per-process metrics
// would carry other users' command details, which the real agent gives only to
// authenticated clients; collectord has none to give, so, like the real agent
// answering an unauthenticated client, it answers every client with no values
// rather than a permission error.

var indomAcct = protocol.NewInDom(DomainProc, 40)

const selAcctEnable = 28 // acct.control.enable_acct; the selectors are the PMID items

var acctMetrics = []metricDef{
	{"acct.psinfo.tty", pmid(3, 70, 0), tU32, indomAcct, semD, uNone, 0},
	{"acct.psinfo.exitcode", pmid(3, 70, 1), tU32, indomAcct, semD, uNone, 1},
	{"acct.id.uid", pmid(3, 70, 2), tU32, indomAcct, semD, uNone, 2},
	{"acct.id.gid", pmid(3, 70, 3), tU32, indomAcct, semD, uNone, 3},
	{"acct.psinfo.pid", pmid(3, 70, 4), tU32, indomAcct, semD, uNone, 4},
	{"acct.psinfo.ppid", pmid(3, 70, 5), tU32, indomAcct, semD, uNone, 5},
	{"acct.psinfo.btime", pmid(3, 70, 6), tU32, indomAcct, semD, uSec, 6},
	{"acct.psinfo.etime", pmid(3, 70, 7), tFLT, indomAcct, semC, uSec, 7},
	{"acct.psinfo.utime", pmid(3, 70, 8), tFLT, indomAcct, semC, uSec, 8},
	{"acct.psinfo.stime", pmid(3, 70, 9), tFLT, indomAcct, semC, uSec, 9},
	{"acct.psinfo.mem", pmid(3, 70, 10), tU64, indomAcct, semI, uKB, 10},
	{"acct.psinfo.io", pmid(3, 70, 11), tU64, indomAcct, semC, uCount, 11},
	{"acct.psinfo.rw", pmid(3, 70, 12), tU64, indomAcct, semC, uCount, 12},
	{"acct.psinfo.minflt", pmid(3, 70, 13), tU64, indomAcct, semC, uNone, 13},
	{"acct.psinfo.majflt", pmid(3, 70, 14), tU64, indomAcct, semC, uCount, 14},
	{"acct.psinfo.swaps", pmid(3, 70, 15), tU64, indomAcct, semC, uCount, 15},
	{"acct.psinfo.ttyname", pmid(3, 70, 16), tSTR, indomAcct, semD, uNone, 16},
	{"acct.id.uid_nm", pmid(3, 70, 17), tSTR, indomAcct, semD, uNone, 17},
	{"acct.id.gid_nm", pmid(3, 70, 18), tSTR, indomAcct, semD, uNone, 18},
	{"acct.flag.fork", pmid(3, 70, 19), tU32, indomAcct, semI, uNone, 19},
	{"acct.flag.su", pmid(3, 70, 20), tU32, indomAcct, semI, uNone, 20},
	{"acct.flag.core", pmid(3, 70, 21), tU32, indomAcct, semD, uNone, 21},
	{"acct.flag.xsig", pmid(3, 70, 22), tU32, indomAcct, semD, uNone, 22},
	{"acct.control.open_retry_interval", pmid(3, 70, 23), tU32, null, semD, uSec, 23},
	{"acct.control.check_acct_interval", pmid(3, 70, 24), tU32, null, semD, uSec, 24},
	{"acct.control.file_size_threshold", pmid(3, 70, 25), tU64, null, semD, uByte, 25},
	{"acct.control.lifetime", pmid(3, 70, 26), tU32, null, semD, uSec, 26},
	{"acct.control.refresh", pmid(3, 70, 27), tU32, null, semD, uSec, 27},
	{"acct.control.enable_acct", pmid(3, 70, 28), tU32, null, semD, uNone, selAcctEnable},
}

// acctWhat: what each per-process metric would say about an exited process, in the
// order of the selectors 0-22.
var acctWhat = [...]string{
	"controlling terminal (device number) of each exited process",
	"exit status of each exited process",
	"user id of each exited process",
	"group id of each exited process",
	"process id of each exited process",
	"parent process id of each exited process",
	"start time of each exited process, in seconds since the epoch",
	"elapsed time of each exited process",
	"user CPU time of each exited process",
	"system CPU time of each exited process",
	"average memory use of each exited process",
	"characters transferred by each exited process",
	"blocks read or written by each exited process",
	"minor page faults of each exited process",
	"major page faults of each exited process",
	"swap operations of each exited process",
	"controlling terminal name of each exited process",
	"user name of each exited process",
	"group name of each exited process",
	"whether each exited process forked but did not exec",
	"whether each exited process used superuser privileges",
	"whether each exited process dumped core",
	"whether each exited process was killed by a signal",
}

// acctSetting: the long help of the real agent's accounting file settings.
const acctSetting = "A setting of an agent that reads and rotates a process accounting file (acct(5),\n" +
	"switched on with acct(2); the kernel's thresholds are in /proc/sys/kernel/acct).\n" +
	"collectord keeps no such file, so this has no value."

var acctControlHelp = map[int]helpText{
	23:            {"seconds between attempts to open the accounting file", acctSetting},
	24:            {"seconds between checks of the accounting file", acctSetting},
	25:            {"size at which the accounting file is started afresh", acctSetting},
	26:            {"seconds an exited process stays an instance", acctSetting},
	27:            {"seconds between rereads of the accounting file", acctSetting},
	selAcctEnable: {"whether process accounting is collected", "Always 0: collectord never switches kernel process accounting on (acct(2)), since\nthat would make the kernel write a record for every process exiting on the host\n(its thresholds are in /proc/sys/kernel/acct)."},
}

func acctHelp(d metricDef) helpText {
	if h, ok := acctControlHelp[d.sel]; ok {
		return h
	}
	return helpText{acctWhat[d.sel], "From the kernel's process accounting records (acct(5); thresholds in\n" +
		"/proc/sys/kernel/acct), which collectord never turns on: the exited processes\n" +
		"instance domain is always empty, so this has no values."}
}

func init() {
	setOwnInDomHelp(indomAcct, "exited processes recorded by process accounting",
		"One instance per process that exited, read from a process accounting file\n"+
			"(acct(5)). collectord never turns accounting on, so there are none.")
	registerSource(&sourceSpec{
		name:    "acct",
		domain:  DomainProc,
		indoms:  []protocol.InDom{indomAcct},
		new:     func(*env) Source { return acctSource{} },
		metrics: acctMetrics,
		help:    acctHelp,
	})
}

// acctSource reads nothing: see the file comment.
type acctSource struct{}

func (acctSource) Fetch(reqs []Request) error {
	for _, rq := range reqs {
		if rq.Sel == selAcctEnable {
			putU(rq.Res, protocol.InNull, 0)
		}
	}
	return nil
}

func (acctSource) Instances(protocol.InDom) ([]Instance, error) { return nil, nil }
