package metrics

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// The "snmp" source: /proc/net/snmp (network.ip, network.icmp, network.tcp,
// network.udp and network.udplite, cluster 14 of the linux domain); the "netstat"
// source: /proc/net/netstat (the IpExt and TcpExt extras the linux agent serves as
// more network.ip and network.tcp metrics, cluster 53). Two sources, so that a fetch
// of TCP counters does not read the longer netstat file unless it asks for an extra.
//
// Both files are pairs of lines, "Sec: Name1 Name2 ..." then "Sec: v1 v2 ...". A field
// this kernel does not print (an older or newer kernel has other columns) gives no
// value. A pair whose two lines disagree in length, or a file with no pair at all, is
// garbage: the whole source fails and counts an error, rather than shift a column.
// Only the requested fields' values are converted. Values are the kernel's 64-bit
// unsigned counters: a negative one is corruption and gives no value (its two's
// complement would be a huge wrong count). The one exception is Tcp MaxConn, the
// only column the kernel prints signed (-1 for "no limit"): it is passed on as its
// two's complement, as the linux agent serves it.

// snmpField is one metric: its name, the "Sec:Name" field it is, its PMID cluster and
// item in the linux domain, semantics and units. All are 64-bit unsigned.
type snmpField struct {
	name, key  string
	clust, itm uint32
	sem        int32
	units      protocol.Units
}

// snmpFields: /proc/net/snmp. The names are the linux agent's (PCP 6.0.3), mostly
// the field name in lower case.
var snmpFields = []snmpField{
	{"network.ip.forwarding", "Ip:Forwarding", 14, 0, semC, uCount},
	{"network.ip.defaultttl", "Ip:DefaultTTL", 14, 1, semC, uCount},
	{"network.ip.inreceives", "Ip:InReceives", 14, 2, semC, uCount},
	{"network.ip.inhdrerrors", "Ip:InHdrErrors", 14, 3, semC, uCount},
	{"network.ip.inaddrerrors", "Ip:InAddrErrors", 14, 4, semC, uCount},
	{"network.ip.forwdatagrams", "Ip:ForwDatagrams", 14, 5, semC, uCount},
	{"network.ip.inunknownprotos", "Ip:InUnknownProtos", 14, 6, semC, uCount},
	{"network.ip.indiscards", "Ip:InDiscards", 14, 7, semC, uCount},
	{"network.ip.indelivers", "Ip:InDelivers", 14, 8, semC, uCount},
	{"network.ip.outrequests", "Ip:OutRequests", 14, 9, semC, uCount},
	{"network.ip.outdiscards", "Ip:OutDiscards", 14, 10, semC, uCount},
	{"network.ip.outnoroutes", "Ip:OutNoRoutes", 14, 11, semC, uCount},
	{"network.ip.reasmtimeout", "Ip:ReasmTimeout", 14, 12, semC, uCount},
	{"network.ip.reasmreqds", "Ip:ReasmReqds", 14, 13, semC, uCount},
	{"network.ip.reasmoks", "Ip:ReasmOKs", 14, 14, semC, uCount},
	{"network.ip.reasmfails", "Ip:ReasmFails", 14, 15, semC, uCount},
	{"network.ip.fragoks", "Ip:FragOKs", 14, 16, semC, uCount},
	{"network.ip.fragfails", "Ip:FragFails", 14, 17, semC, uCount},
	{"network.ip.fragcreates", "Ip:FragCreates", 14, 18, semC, uCount},
	{"network.icmp.inmsgs", "Icmp:InMsgs", 14, 20, semC, uCount},
	{"network.icmp.inerrors", "Icmp:InErrors", 14, 21, semC, uCount},
	{"network.icmp.incsumerrors", "Icmp:InCsumErrors", 14, 46, semC, uCount},
	{"network.icmp.indestunreachs", "Icmp:InDestUnreachs", 14, 22, semC, uCount},
	{"network.icmp.intimeexcds", "Icmp:InTimeExcds", 14, 23, semC, uCount},
	{"network.icmp.inparmprobs", "Icmp:InParmProbs", 14, 24, semC, uCount},
	{"network.icmp.insrcquenchs", "Icmp:InSrcQuenchs", 14, 25, semC, uCount},
	{"network.icmp.inredirects", "Icmp:InRedirects", 14, 26, semC, uCount},
	{"network.icmp.inechos", "Icmp:InEchos", 14, 27, semC, uCount},
	{"network.icmp.inechoreps", "Icmp:InEchoReps", 14, 28, semC, uCount},
	{"network.icmp.intimestamps", "Icmp:InTimestamps", 14, 29, semC, uCount},
	{"network.icmp.intimestampreps", "Icmp:InTimestampReps", 14, 30, semC, uCount},
	{"network.icmp.inaddrmasks", "Icmp:InAddrMasks", 14, 31, semC, uCount},
	{"network.icmp.inaddrmaskreps", "Icmp:InAddrMaskReps", 14, 32, semC, uCount},
	{"network.icmp.outmsgs", "Icmp:OutMsgs", 14, 33, semC, uCount},
	{"network.icmp.outerrors", "Icmp:OutErrors", 14, 34, semC, uCount},
	{"network.icmp.outdestunreachs", "Icmp:OutDestUnreachs", 14, 35, semC, uCount},
	{"network.icmp.outtimeexcds", "Icmp:OutTimeExcds", 14, 36, semC, uCount},
	{"network.icmp.outparmprobs", "Icmp:OutParmProbs", 14, 37, semC, uCount},
	{"network.icmp.outsrcquenchs", "Icmp:OutSrcQuenchs", 14, 38, semC, uCount},
	{"network.icmp.outredirects", "Icmp:OutRedirects", 14, 39, semC, uCount},
	{"network.icmp.outechos", "Icmp:OutEchos", 14, 40, semC, uCount},
	{"network.icmp.outechoreps", "Icmp:OutEchoReps", 14, 41, semC, uCount},
	{"network.icmp.outtimestamps", "Icmp:OutTimestamps", 14, 42, semC, uCount},
	{"network.icmp.outtimestampreps", "Icmp:OutTimestampReps", 14, 43, semC, uCount},
	{"network.icmp.outaddrmasks", "Icmp:OutAddrMasks", 14, 44, semC, uCount},
	{"network.icmp.outaddrmaskreps", "Icmp:OutAddrMaskReps", 14, 45, semC, uCount},
	{"network.tcp.rtoalgorithm", "Tcp:RtoAlgorithm", 14, 50, semI, uNone},
	{"network.tcp.rtomin", "Tcp:RtoMin", 14, 51, semI, uMsec},
	{"network.tcp.rtomax", "Tcp:RtoMax", 14, 52, semI, uMsec},
	{"network.tcp.maxconn", "Tcp:MaxConn", 14, 53, semI, uNone},
	{"network.tcp.activeopens", "Tcp:ActiveOpens", 14, 54, semC, uCount},
	{"network.tcp.passiveopens", "Tcp:PassiveOpens", 14, 55, semC, uCount},
	{"network.tcp.attemptfails", "Tcp:AttemptFails", 14, 56, semC, uCount},
	{"network.tcp.estabresets", "Tcp:EstabResets", 14, 57, semC, uCount},
	{"network.tcp.currestab", "Tcp:CurrEstab", 14, 58, semI, uNone},
	{"network.tcp.insegs", "Tcp:InSegs", 14, 59, semC, uCount},
	{"network.tcp.outsegs", "Tcp:OutSegs", 14, 60, semC, uCount},
	{"network.tcp.retranssegs", "Tcp:RetransSegs", 14, 61, semC, uCount},
	{"network.tcp.inerrs", "Tcp:InErrs", 14, 62, semC, uCount},
	{"network.tcp.outrsts", "Tcp:OutRsts", 14, 63, semC, uCount},
	{"network.tcp.incsumerrors", "Tcp:InCsumErrors", 14, 64, semC, uCount},
	{"network.udp.indatagrams", "Udp:InDatagrams", 14, 70, semC, uCount},
	{"network.udp.noports", "Udp:NoPorts", 14, 71, semC, uCount},
	{"network.udp.inerrors", "Udp:InErrors", 14, 72, semC, uCount},
	{"network.udp.outdatagrams", "Udp:OutDatagrams", 14, 74, semC, uCount},
	{"network.udp.recvbuferrors", "Udp:RcvbufErrors", 14, 75, semC, uCount},
	{"network.udp.sndbuferrors", "Udp:SndbufErrors", 14, 76, semC, uCount},
	{"network.udp.incsumerrors", "Udp:InCsumErrors", 14, 83, semC, uCount},
	{"network.udp.ignoredmulti", "Udp:IgnoredMulti", 14, 90, semC, uCount},
	{"network.udp.memerrors", "Udp:MemErrors", 14, 91, semC, uCount},
	{"network.udplite.indatagrams", "UdpLite:InDatagrams", 14, 77, semC, uCount},
	{"network.udplite.noports", "UdpLite:NoPorts", 14, 78, semC, uCount},
	{"network.udplite.inerrors", "UdpLite:InErrors", 14, 79, semC, uCount},
	{"network.udplite.outdatagrams", "UdpLite:OutDatagrams", 14, 80, semC, uCount},
	{"network.udplite.recvbuferrors", "UdpLite:RcvbufErrors", 14, 81, semC, uCount},
	{"network.udplite.sndbuferrors", "UdpLite:SndbufErrors", 14, 82, semC, uCount},
	{"network.udplite.incsumerrors", "UdpLite:InCsumErrors", 14, 84, semC, uCount},
	{"network.udplite.ignoredmulti", "UdpLite:IgnoredMulti", 14, 92, semC, uCount},
	{"network.udplite.memerrors", "UdpLite:MemErrors", 14, 93, semC, uCount},
}

// netstatFields: /proc/net/netstat. TcpExt fields named "TCPxxx" lose the prefix in
// the older names and keep it in the newer ones, as in the linux agent; the
// exceptions (TW -> timewaited, ...) are spelt out. TCPPrequeued and the others that
// Linux 4.14 removed are listed so that older kernels still serve them.
// network.tcp.tcpfastopenactivefail is a second name the linux agent gives the
// TCPFastOpenActiveFail field (as network.tcp.fastopenactivefail, another PMID);
// network.tcp.tcploss is the TCPLoss field, which current kernels no longer print,
// so it has no value there. The MPTcpExt fields (network.mptcp.*) are in mptcp.go and
// come after these, so the selectors above keep their numbers.
var netstatFields = []snmpField{
	{"network.tcp.syncookiessent", "TcpExt:SyncookiesSent", 53, 17, semC, uCount},
	{"network.tcp.syncookiesrecv", "TcpExt:SyncookiesRecv", 53, 18, semC, uCount},
	{"network.tcp.syncookiesfailed", "TcpExt:SyncookiesFailed", 53, 19, semC, uCount},
	{"network.tcp.embryonicrsts", "TcpExt:EmbryonicRsts", 53, 20, semC, uCount},
	{"network.tcp.prunecalled", "TcpExt:PruneCalled", 53, 21, semC, uCount},
	{"network.tcp.rcvpruned", "TcpExt:RcvPruned", 53, 22, semC, uCount},
	{"network.tcp.ofopruned", "TcpExt:OfoPruned", 53, 23, semC, uCount},
	{"network.tcp.outofwindowicmps", "TcpExt:OutOfWindowIcmps", 53, 24, semC, uCount},
	{"network.tcp.lockdroppedicmps", "TcpExt:LockDroppedIcmps", 53, 25, semC, uCount},
	{"network.tcp.arpfilter", "TcpExt:ArpFilter", 53, 26, semC, uCount},
	{"network.tcp.timewaited", "TcpExt:TW", 53, 27, semC, uCount},
	{"network.tcp.timewaitrecycled", "TcpExt:TWRecycled", 53, 28, semC, uCount},
	{"network.tcp.timewaitkilled", "TcpExt:TWKilled", 53, 29, semC, uCount},
	{"network.tcp.pawsactiverejected", "TcpExt:PAWSActive", 53, 31, semC, uCount},
	{"network.tcp.pawsestabrejected", "TcpExt:PAWSEstab", 53, 32, semC, uCount},
	{"network.tcp.delayedacks", "TcpExt:DelayedACKs", 53, 33, semC, uCount},
	{"network.tcp.delayedacklocked", "TcpExt:DelayedACKLocked", 53, 34, semC, uCount},
	{"network.tcp.delayedacklost", "TcpExt:DelayedACKLost", 53, 35, semC, uCount},
	{"network.tcp.listenoverflows", "TcpExt:ListenOverflows", 53, 36, semC, uCount},
	{"network.tcp.listendrops", "TcpExt:ListenDrops", 53, 37, semC, uCount},
	{"network.tcp.hphits", "TcpExt:TCPHPHits", 53, 42, semC, uCount},
	{"network.tcp.pureacks", "TcpExt:TCPPureAcks", 53, 44, semC, uCount},
	{"network.tcp.hpacks", "TcpExt:TCPHPAcks", 53, 45, semC, uCount},
	{"network.tcp.renorecovery", "TcpExt:TCPRenoRecovery", 53, 46, semC, uCount},
	{"network.tcp.sackrecovery", "TcpExt:TCPSackRecovery", 53, 47, semC, uCount},
	{"network.tcp.sackreneging", "TcpExt:TCPSACKReneging", 53, 48, semC, uCount},
	{"network.tcp.sackreorder", "TcpExt:TCPSACKReorder", 53, 50, semC, uCount},
	{"network.tcp.renoreorder", "TcpExt:TCPRenoReorder", 53, 51, semC, uCount},
	{"network.tcp.tsreorder", "TcpExt:TCPTSReorder", 53, 52, semC, uCount},
	{"network.tcp.fullundo", "TcpExt:TCPFullUndo", 53, 53, semC, uCount},
	{"network.tcp.partialundo", "TcpExt:TCPPartialUndo", 53, 54, semC, uCount},
	{"network.tcp.dsackundo", "TcpExt:TCPDSACKUndo", 53, 55, semC, uCount},
	{"network.tcp.lossundo", "TcpExt:TCPLossUndo", 53, 56, semC, uCount},
	{"network.tcp.lostretransmit", "TcpExt:TCPLostRetransmit", 53, 57, semC, uCount},
	{"network.tcp.renofailures", "TcpExt:TCPRenoFailures", 53, 58, semC, uCount},
	{"network.tcp.sackfailures", "TcpExt:TCPSackFailures", 53, 59, semC, uCount},
	{"network.tcp.lossfailures", "TcpExt:TCPLossFailures", 53, 60, semC, uCount},
	{"network.tcp.fastretrans", "TcpExt:TCPFastRetrans", 53, 61, semC, uCount},
	{"network.tcp.slowstartretrans", "TcpExt:TCPSlowStartRetrans", 53, 63, semC, uCount},
	{"network.tcp.timeouts", "TcpExt:TCPTimeouts", 53, 64, semC, uCount},
	{"network.tcp.lossprobes", "TcpExt:TCPLossProbes", 53, 65, semC, uCount},
	{"network.tcp.lossproberecovery", "TcpExt:TCPLossProbeRecovery", 53, 66, semC, uCount},
	{"network.tcp.renorecoveryfail", "TcpExt:TCPRenoRecoveryFail", 53, 67, semC, uCount},
	{"network.tcp.sackrecoveryfail", "TcpExt:TCPSackRecoveryFail", 53, 68, semC, uCount},
	{"network.tcp.rcvcollapsed", "TcpExt:TCPRcvCollapsed", 53, 70, semC, uCount},
	{"network.tcp.tcpbacklogcoalesce", "TcpExt:TCPBacklogCoalesce", 53, 132, semC, uCount},
	{"network.tcp.dsackoldsent", "TcpExt:TCPDSACKOldSent", 53, 71, semC, uCount},
	{"network.tcp.dsackofosent", "TcpExt:TCPDSACKOfoSent", 53, 72, semC, uCount},
	{"network.tcp.dsackrecv", "TcpExt:TCPDSACKRecv", 53, 73, semC, uCount},
	{"network.tcp.dsackoforecv", "TcpExt:TCPDSACKOfoRecv", 53, 74, semC, uCount},
	{"network.tcp.abortondata", "TcpExt:TCPAbortOnData", 53, 75, semC, uCount},
	{"network.tcp.abortonclose", "TcpExt:TCPAbortOnClose", 53, 76, semC, uCount},
	{"network.tcp.abortonmemory", "TcpExt:TCPAbortOnMemory", 53, 77, semC, uCount},
	{"network.tcp.abortontimeout", "TcpExt:TCPAbortOnTimeout", 53, 78, semC, uCount},
	{"network.tcp.abortonlinger", "TcpExt:TCPAbortOnLinger", 53, 79, semC, uCount},
	{"network.tcp.abortfailed", "TcpExt:TCPAbortFailed", 53, 80, semC, uCount},
	{"network.tcp.memorypressures", "TcpExt:TCPMemoryPressures", 53, 81, semC, uCount},
	{"network.tcp.tcpmemorypressureschrono", "TcpExt:TCPMemoryPressuresChrono", 53, 133, semC, uMB},
	{"network.tcp.sackdiscard", "TcpExt:TCPSACKDiscard", 53, 82, semC, uCount},
	{"network.tcp.dsackignoredold", "TcpExt:TCPDSACKIgnoredOld", 53, 83, semC, uCount},
	{"network.tcp.dsackignorednoundo", "TcpExt:TCPDSACKIgnoredNoUndo", 53, 84, semC, uCount},
	{"network.tcp.spuriousrtos", "TcpExt:TCPSpuriousRTOs", 53, 85, semC, uCount},
	{"network.tcp.md5notfound", "TcpExt:TCPMD5NotFound", 53, 86, semC, uCount},
	{"network.tcp.md5unexpected", "TcpExt:TCPMD5Unexpected", 53, 87, semC, uCount},
	{"network.tcp.tcpmd5failure", "TcpExt:TCPMD5Failure", 53, 134, semC, uCount},
	{"network.tcp.sackshifted", "TcpExt:TCPSackShifted", 53, 88, semC, uCount},
	{"network.tcp.sackmerged", "TcpExt:TCPSackMerged", 53, 89, semC, uCount},
	{"network.tcp.sackshiftfallback", "TcpExt:TCPSackShiftFallback", 53, 90, semC, uCount},
	{"network.tcp.backlogdrop", "TcpExt:TCPBacklogDrop", 53, 91, semC, uCount},
	{"network.tcp.pfmemallocdrop", "TcpExt:PFMemallocDrop", 53, 135, semC, uCount},
	{"network.tcp.minttldrop", "TcpExt:TCPMinTTLDrop", 53, 92, semC, uCount},
	{"network.tcp.deferacceptdrop", "TcpExt:TCPDeferAcceptDrop", 53, 93, semC, uCount},
	{"network.tcp.iprpfilter", "TcpExt:IPReversePathFilter", 53, 94, semC, uCount},
	{"network.tcp.timewaitoverflow", "TcpExt:TCPTimeWaitOverflow", 53, 95, semC, uCount},
	{"network.tcp.reqqfulldocookies", "TcpExt:TCPReqQFullDoCookies", 53, 96, semC, uCount},
	{"network.tcp.reqqfulldrop", "TcpExt:TCPReqQFullDrop", 53, 97, semC, uCount},
	{"network.tcp.retransfail", "TcpExt:TCPRetransFail", 53, 98, semC, uCount},
	{"network.tcp.rcvcoalesce", "TcpExt:TCPRcvCoalesce", 53, 99, semC, uCount},
	{"network.tcp.ofoqueue", "TcpExt:TCPOFOQueue", 53, 100, semC, uCount},
	{"network.tcp.ofodrop", "TcpExt:TCPOFODrop", 53, 101, semC, uCount},
	{"network.tcp.ofomerge", "TcpExt:TCPOFOMerge", 53, 102, semC, uCount},
	{"network.tcp.challengeack", "TcpExt:TCPChallengeACK", 53, 103, semC, uCount},
	{"network.tcp.synchallenge", "TcpExt:TCPSYNChallenge", 53, 104, semC, uCount},
	{"network.tcp.fastopenactive", "TcpExt:TCPFastOpenActive", 53, 105, semC, uCount},
	{"network.tcp.fastopenactivefail", "TcpExt:TCPFastOpenActiveFail", 53, 106, semC, uCount},
	{"network.tcp.fastopenpassive", "TcpExt:TCPFastOpenPassive", 53, 107, semC, uCount},
	{"network.tcp.fastopenpassivefail", "TcpExt:TCPFastOpenPassiveFail", 53, 108, semC, uCount},
	{"network.tcp.fastopenlistenoverflow", "TcpExt:TCPFastOpenListenOverflow", 53, 109, semC, uCount},
	{"network.tcp.fastopencookiereqd", "TcpExt:TCPFastOpenCookieReqd", 53, 110, semC, uCount},
	{"network.tcp.tcpfastopenblackhole", "TcpExt:TCPFastOpenBlackhole", 53, 137, semC, uCount},
	{"network.tcp.spuriousrtxhostqueues", "TcpExt:TCPSpuriousRtxHostQueues", 53, 111, semC, uCount},
	{"network.tcp.busypollrxpackets", "TcpExt:BusyPollRxPackets", 53, 112, semC, uCount},
	{"network.tcp.autocorking", "TcpExt:TCPAutoCorking", 53, 113, semC, uCount},
	{"network.tcp.fromzerowindowadv", "TcpExt:TCPFromZeroWindowAdv", 53, 114, semC, uCount},
	{"network.tcp.tozerowindowadv", "TcpExt:TCPToZeroWindowAdv", 53, 115, semC, uCount},
	{"network.tcp.wantzerowindowadv", "TcpExt:TCPWantZeroWindowAdv", 53, 116, semC, uCount},
	{"network.tcp.synretrans", "TcpExt:TCPSynRetrans", 53, 117, semC, uCount},
	{"network.tcp.origdatasent", "TcpExt:TCPOrigDataSent", 53, 118, semC, uCount},
	{"network.tcp.tcphystarttraindetect", "TcpExt:TCPHystartTrainDetect", 53, 141, semC, uCount},
	{"network.tcp.tcphystarttraincwnd", "TcpExt:TCPHystartTrainCwnd", 53, 142, semC, uCount},
	{"network.tcp.tcphystartdelaydetect", "TcpExt:TCPHystartDelayDetect", 53, 143, semC, uCount},
	{"network.tcp.tcphystartdelaycwnd", "TcpExt:TCPHystartDelayCwnd", 53, 144, semC, uCount},
	{"network.tcp.tcpackskippedsynrecv", "TcpExt:TCPACKSkippedSynRecv", 53, 145, semC, uCount},
	{"network.tcp.tcpackskippedpaws", "TcpExt:TCPACKSkippedPAWS", 53, 146, semC, uCount},
	{"network.tcp.tcpackskippedseq", "TcpExt:TCPACKSkippedSeq", 53, 147, semC, uCount},
	{"network.tcp.tcpackskippedfinwait2", "TcpExt:TCPACKSkippedFinWait2", 53, 148, semC, uCount},
	{"network.tcp.tcpackskippedtimewait", "TcpExt:TCPACKSkippedTimeWait", 53, 149, semC, uCount},
	{"network.tcp.tcpackskippedchallenge", "TcpExt:TCPACKSkippedChallenge", 53, 150, semC, uCount},
	{"network.tcp.tcpwinprobe", "TcpExt:TCPWinProbe", 53, 151, semC, uCount},
	{"network.tcp.tcpkeepalive", "TcpExt:TCPKeepAlive", 53, 152, semC, uCount},
	{"network.tcp.tcpmtupfail", "TcpExt:TCPMTUPFail", 53, 153, semC, uCount},
	{"network.tcp.tcpmtupsuccess", "TcpExt:TCPMTUPSuccess", 53, 154, semC, uCount},
	{"network.tcp.tcpdelivered", "TcpExt:TCPDelivered", 53, 155, semC, uCount},
	{"network.tcp.tcpdeliveredce", "TcpExt:TCPDeliveredCE", 53, 156, semC, uCount},
	{"network.tcp.tcpackcompressed", "TcpExt:TCPAckCompressed", 53, 157, semC, uCount},
	{"network.tcp.tcpzerowindowdrop", "TcpExt:TCPZeroWindowDrop", 53, 158, semC, uCount},
	{"network.tcp.tcprcvqdrop", "TcpExt:TCPRcvQDrop", 53, 159, semC, uCount},
	{"network.tcp.tcpwqueuetoobig", "TcpExt:TCPWqueueTooBig", 53, 160, semC, uCount},
	{"network.tcp.tcpfastopenpassivealtkey", "TcpExt:TCPFastOpenPassiveAltKey", 53, 161, semC, uCount},
	{"network.tcp.tcptimeoutrehash", "TcpExt:TcpTimeoutRehash", 53, 162, semC, uCount},
	{"network.tcp.tcpduplicatedatarehash", "TcpExt:TcpDuplicateDataRehash", 53, 163, semC, uCount},
	{"network.tcp.tcpdsackrecvsegs", "TcpExt:TCPDSACKRecvSegs", 53, 164, semC, uCount},
	{"network.tcp.tcpdsackignoreddubious", "TcpExt:TCPDSACKIgnoredDubious", 53, 165, semC, uCount},
	{"network.tcp.tcpmigratereqsuccess", "TcpExt:TCPMigrateReqSuccess", 53, 166, semC, uCount},
	{"network.tcp.tcpmigratereqfailure", "TcpExt:TCPMigrateReqFailure", 53, 167, semC, uCount},
	{"network.tcp.pawspassiverejected", "TcpExt:PAWSPassive", 53, 30, semC, uCount},
	{"network.tcp.prequeued", "TcpExt:TCPPrequeued", 53, 38, semC, uCount},
	{"network.tcp.directcopyfrombacklog", "TcpExt:TCPDirectCopyFromBacklog", 53, 39, semC, uCount},
	{"network.tcp.directcopyfromprequeue", "TcpExt:TCPDirectCopyFromPrequeue", 53, 40, semC, uCount},
	{"network.tcp.prequeueddropped", "TcpExt:TCPPrequeueDropped", 53, 41, semC, uCount},
	{"network.tcp.hphitstouser", "TcpExt:TCPHPHitsToUser", 53, 43, semC, uCount},
	{"network.tcp.fackreorder", "TcpExt:TCPFACKReorder", 53, 49, semC, uCount},
	{"network.tcp.forwardretrans", "TcpExt:TCPForwardRetrans", 53, 62, semC, uCount},
	{"network.tcp.schedulerfail", "TcpExt:TCPSchedulerFailed", 53, 69, semC, uCount},
	{"network.ip.innoroutes", "IpExt:InNoRoutes", 53, 0, semC, uCount},
	{"network.ip.intruncatedpkts", "IpExt:InTruncatedPkts", 53, 1, semC, uCount},
	{"network.ip.inmcastpkts", "IpExt:InMcastPkts", 53, 2, semC, uCount},
	{"network.ip.outmcastpkts", "IpExt:OutMcastPkts", 53, 3, semC, uCount},
	{"network.ip.inbcastpkts", "IpExt:InBcastPkts", 53, 4, semC, uCount},
	{"network.ip.outbcastpkts", "IpExt:OutBcastPkts", 53, 5, semC, uCount},
	{"network.ip.inoctets", "IpExt:InOctets", 53, 6, semC, uCount},
	{"network.ip.outoctets", "IpExt:OutOctets", 53, 7, semC, uCount},
	{"network.ip.inmcastoctets", "IpExt:InMcastOctets", 53, 8, semC, uCount},
	{"network.ip.outmcastoctets", "IpExt:OutMcastOctets", 53, 9, semC, uCount},
	{"network.ip.inbcastoctets", "IpExt:InBcastOctets", 53, 10, semC, uCount},
	{"network.ip.outbcastoctets", "IpExt:OutBcastOctets", 53, 11, semC, uCount},
	{"network.ip.csumerrors", "IpExt:InCsumErrors", 53, 12, semC, uCount},
	{"network.ip.noectpkts", "IpExt:InNoECTPkts", 53, 13, semC, uCount},
	{"network.ip.ect1pkts", "IpExt:InECT1Pkts", 53, 14, semC, uCount},
	{"network.ip.ect0pkts", "IpExt:InECT0Pkts", 53, 15, semC, uCount},
	{"network.ip.cepkts", "IpExt:InCEPkts", 53, 16, semC, uCount},
	{"network.ip.reasmoverlaps", "IpExt:ReasmOverlaps", 53, 168, semC, uCount},
	{"network.tcp.tcpfastopenactivefail", "TcpExt:TCPFastOpenActiveFail", 53, 136, semC, uCount},
	{"network.tcp.tcploss", "TcpExt:TCPLoss", 53, 189, semC, uCount},
}

func snmpMetrics(fields []snmpField) []metricDef {
	defs := make([]metricDef, len(fields))
	for i, f := range fields {
		defs[i] = metricDef{f.name, pmid(60, f.clust, f.itm), tU64, null, f.sem, f.units, i}
	}
	return defs
}

// snmpHelp is our own help: the field, the file, and what kind of value it is.
func snmpHelp(fields []snmpField, file string) func(metricDef) helpText {
	return func(d metricDef) helpText {
		if d.sel < 0 || d.sel >= len(fields) {
			return helpText{}
		}
		f := fields[d.sel]
		sec, name, _ := strings.Cut(f.key, ":")
		kind := "a running count kept by the kernel since boot"
		if f.sem != semC {
			kind = "a setting or current level, not a running count"
		}
		absent := "No value when the running kernel does not print that column."
		if sec == "MPTcpExt" {
			absent = "No value when the running kernel does not print that column, and none at\n" +
				"all on a kernel built without Multipath TCP (no \"MPTcpExt:\" lines)."
		}
		return helpText{sec + " " + name + " from the kernel's network statistics",
			"The " + name + " column of the \"" + sec + ":\" lines of " + file + ", " + kind + ".\n" + absent}
	}
}

func init() {
	for _, s := range []struct {
		name, file string
		fields     []snmpField
	}{
		{"snmp", "net/snmp", snmpFields},
		{"netstat", "net/netstat", slices.Concat(netstatFields, mptcpFields)},
	} {
		// Two metrics may name one field (network.tcp.fastopenactivefail and
		// tcpfastopenactivefail): each distinct field gets one value slot, and
		// slotOf maps a metric's selector to it.
		var keys []string
		slotOf := make([]int, len(s.fields))
		for i, f := range s.fields {
			if j := slices.Index(keys, f.key); j >= 0 {
				slotOf[i] = j
				continue
			}
			slotOf[i] = len(keys)
			keys = append(keys, f.key)
		}
		file := s.file
		metrics, help := snmpMetrics(s.fields), snmpHelp(s.fields, "/proc/"+s.file)
		var indoms []protocol.InDom
		if s.name == "snmp" {
			n := len(s.fields)
			metrics = append(metrics,
				metricDef{"network.icmpmsg.intype", pmid(60, 14, 88), tU64, indomICMPMsg, semC, uCount, n + icmpIn},
				metricDef{"network.icmpmsg.outtype", pmid(60, 14, 89), tU64, indomICMPMsg, semC, uCount, n + icmpOut})
			indoms = []protocol.InDom{indomICMPMsg}
			help = func(d metricDef) helpText {
				switch d.sel - n {
				case icmpIn:
					return helpText{"ICMP messages received, by type",
						"For each ICMP type N, the InTypeN column of the \"IcmpMsg:\" lines of\n" +
							"/proc/net/snmp: messages of that type received since boot. The kernel\n" +
							"prints only the types it has seen, so the others have no value."}
				case icmpOut:
					return helpText{"ICMP messages sent, by type",
						"For each ICMP type N, the OutTypeN column of the \"IcmpMsg:\" lines of\n" +
							"/proc/net/snmp: messages of that type sent since boot. The kernel prints\n" +
							"only the types it has sent, so the others have no value."}
				}
				return snmpHelp(snmpFields, "/proc/net/snmp")(d)
			}
		}
		registerSource(&sourceSpec{
			name:   s.name,
			domain: DomainLinux,
			indoms: indoms,
			new: func(e *env) Source {
				return &snmpSource{
					file:   newKfile(filepath.Join(e.procRoot, file)),
					fields: newFieldTable(keys),
					vals:   make(optSlots, len(keys)),
					want:   make([]bool, len(keys)),
					signed: signedSNMP(keys),
					slotOf: slotOf,
				}
			},
			metrics: metrics,
			help:    help,
		})
	}
}

type snmpSource struct {
	file   *kfile
	buf    []byte
	fields *fieldTable
	vals   optSlots
	want   []bool
	signed []bool // the slots the kernel prints signed
	slotOf []int  // by selector: the metric's value slot
	// network.icmpmsg (the snmp source only): by direction and ICMP type
	icmp [2][256]optU
}

// snmpSigned are the fields the kernel prints with %ld rather than %lu.
var snmpSigned = map[string]bool{"Tcp:MaxConn": true}

func signedSNMP(keys []string) []bool {
	s := make([]bool, len(keys))
	for i, k := range keys {
		s[i] = snmpSigned[k]
	}
	return s
}

func (s *snmpSource) Fetch(reqs []Request) error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	clear(s.want)
	icmp := false
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < len(s.slotOf) {
			s.want[s.slotOf[rq.Sel]] = true
		} else {
			icmp = true
		}
	}
	if err := parseSNMP(b, s.fields, s.vals, s.want, s.signed); err != nil {
		return fmt.Errorf("%s: %w", s.file.path, err)
	}
	if icmp {
		parseICMPMsg(b, &s.icmp)
	}
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < len(s.slotOf) {
			putOptU(rq.Res, protocol.InNull, s.vals[s.slotOf[rq.Sel]])
			continue
		}
		if d := rq.Sel - len(s.slotOf); d == icmpIn || d == icmpOut {
			for typ, v := range s.icmp[d] {
				putOptU(rq.Res, uint32(typ), v)
			}
		}
	}
	return nil
}

// parseSNMP reads the header/value line pairs of /proc/net/snmp or /proc/net/netstat
// into the wanted slots. A value that is not a decimal integer leaves its field absent,
// and so does a negative one, unless its slot is signed.
func parseSNMP(b []byte, t *fieldTable, vals optSlots, want, signed []bool) error {
	vals.reset()
	var key [128]byte // "Sec:Name", built in place to look the field up without allocating
	pos, pairs := 0, 0
	for rest := b; len(rest) > 0; {
		var head, data []byte
		head, rest = nextLine(rest)
		if len(trimSpace(head)) == 0 {
			continue
		}
		data, rest = nextLine(rest)
		hsec, hr := nextField(head)
		dsec, dr := nextField(data)
		if len(hsec) < 2 || hsec[len(hsec)-1] != ':' || string(hsec) != string(dsec) {
			return fmt.Errorf("%w: line %q is not followed by its values", errParse, head)
		}
		n := copy(key[:], hsec)
		for {
			var name, val []byte
			name, hr = nextField(hr)
			val, dr = nextField(dr)
			if len(name) == 0 || len(val) == 0 {
				if len(name) != 0 || len(val) != 0 {
					return fmt.Errorf("%w: %s has %s names than values", errParse, hsec, more(len(name) != 0))
				}
				break
			}
			s := -1
			if n+len(name) <= len(key) {
				m := copy(key[n:], name)
				s = t.slot(pos, key[:n+m])
			}
			pos++
			if s >= 0 && want[s] {
				if u, ok := parseUint(val); ok {
					vals[s] = optU{u, true}
				} else if signed[s] && len(val) > 1 && val[0] == '-' {
					// Decimal only, and no lower than the smallest int64.
					if u, ok := parseUint(val[1:]); ok && u <= 1<<63 {
						vals[s] = optU{-u, true}
					}
				}
			}
		}
		pairs++
	}
	if pairs == 0 {
		return fmt.Errorf("%w: no statistics", errParse)
	}
	return nil
}

func more(names bool) string {
	if names {
		return "more"
	}
	return "fewer"
}

// network.icmpmsg: the "IcmpMsg:" line pairs of /proc/net/snmp, whose columns are
// InTypeN and OutTypeN for each ICMP type N the kernel has counted (it prints the
// pairs in chunks, so there may be several). The instance domain is every type,
// 0 to 255, named "TypeN" as the linux agent names them; a type the kernel does not
// print has no value. parseSNMP has already checked that each pair's names and
// values line up; a column whose name is not In/OutType with a type 0-255 is one
// this code does not know and is skipped, and a value that is not a count is absent.

var indomICMPMsg = protocol.NewInDom(DomainLinux, 23)

// The two network.icmpmsg metrics, after the snmp fields' selectors.
const (
	icmpIn = iota
	icmpOut
)

func init() {
	setOwnInDomHelp(indomICMPMsg, "ICMP message types",
		"The 256 ICMP message types, Type0 to Type255, of the IcmpMsg counts of\n/proc/net/snmp.")
}

// parseICMPMsg fills icmp from the IcmpMsg pairs of b.
func parseICMPMsg(b []byte, icmp *[2][256]optU) {
	*icmp = [2][256]optU{}
	for rest := b; len(rest) > 0; {
		var head, data []byte
		head, rest = nextLine(rest)
		hsec, hr := nextField(head)
		if string(hsec) != "IcmpMsg:" {
			continue
		}
		data, rest = nextLine(rest)
		_, dr := nextField(data)
		for {
			var name, val []byte
			name, hr = nextField(hr)
			val, dr = nextField(dr)
			if len(name) == 0 || len(val) == 0 {
				break
			}
			dir := -1
			switch {
			case len(name) > 6 && string(name[:6]) == "InType":
				dir, name = icmpIn, name[6:]
			case len(name) > 7 && string(name[:7]) == "OutType":
				dir, name = icmpOut, name[7:]
			}
			typ, ok := parseUint(name)
			if dir < 0 || !ok || typ > 255 || len(name) > 1 && name[0] == '0' {
				continue
			}
			if v, ok := parseUint(val); ok {
				icmp[dir][typ] = optU{v, true}
			}
		}
	}
}

// Instances: the snmp source's one instance domain, the ICMP message types.
func (s *snmpSource) Instances(in protocol.InDom) ([]Instance, error) {
	if in != indomICMPMsg {
		return nil, &protocol.Error{Code: protocol.ErrInDom}
	}
	out := make([]Instance, 256)
	for i := range out {
		out[i] = Instance{ID: uint32(i), Name: "Type" + strconv.Itoa(i)}
	}
	return out, nil
}
