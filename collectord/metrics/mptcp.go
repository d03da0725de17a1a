package metrics

// Multipath TCP counters (network.mptcp.*): the "MPTcpExt:" line pair of
// /proc/net/netstat, served by the "netstat" source (snmp.go), which reads that file
// once for these and the TcpExt/IpExt extras alike. A kernel built without MPTCP
// prints no MPTcpExt lines, and then every one of these has no value (never 0); a
// kernel that prints fields not listed here is fine, and one that lacks some of
// these leaves just those without values. The names are the linux agent's: the
// field name in lower case. Newer fields this PCP release does not name
// (AddAddrTx, MPCurrEstab, ...) are not served, so the namespace stays the real
// agent's.
var mptcpFields = []snmpField{
	{"network.mptcp.mpcapablesynrx", "MPTcpExt:MPCapableSYNRX", 53, 119, semC, uCount},
	{"network.mptcp.mpcapableackrx", "MPTcpExt:MPCapableACKRX", 53, 120, semC, uCount},
	{"network.mptcp.mpcapablefallbackack", "MPTcpExt:MPCapableFallbackACK", 53, 121, semC, uCount},
	{"network.mptcp.mpcapablefallbacksynack", "MPTcpExt:MPCapableFallbackSYNACK", 53, 122, semC, uCount},
	{"network.mptcp.mptcpretrans", "MPTcpExt:MPTCPRetrans", 53, 123, semC, uCount},
	{"network.mptcp.mpjoinnotokenfound", "MPTcpExt:MPJoinNoTokenFound", 53, 124, semC, uCount},
	{"network.mptcp.mpjoinsynrx", "MPTcpExt:MPJoinSynRx", 53, 125, semC, uCount},
	{"network.mptcp.mpjoinsynackrx", "MPTcpExt:MPJoinSynAckRx", 53, 126, semC, uCount},
	{"network.mptcp.mpjoinsynackhmacfailure", "MPTcpExt:MPJoinSynAckHMacFailure", 53, 127, semC, uCount},
	{"network.mptcp.mpjoinackrx", "MPTcpExt:MPJoinAckRx", 53, 128, semC, uCount},
	{"network.mptcp.mpjoinackhmacfailure", "MPTcpExt:MPJoinAckHMacFailure", 53, 129, semC, uCount},
	{"network.mptcp.dssnotmatching", "MPTcpExt:DSSNotMatching", 53, 130, semC, uCount},
	{"network.mptcp.infinitemaprx", "MPTcpExt:InfiniteMapRx", 53, 131, semC, uCount},
	{"network.mptcp.mpcapablesyntx", "MPTcpExt:MPCapableSYNTX", 53, 138, semC, uCount},
	{"network.mptcp.mpcapablesynackrx", "MPTcpExt:MPCapableSYNACKRX", 53, 139, semC, uCount},
	{"network.mptcp.mpfallbacktokeninit", "MPTcpExt:MPFallbackTokenInit", 53, 140, semC, uCount},
	{"network.mptcp.dssnomatchtcp", "MPTcpExt:DSSNoMatchTCP", 53, 169, semC, uCount},
	{"network.mptcp.datacsumerr", "MPTcpExt:DataCsumErr", 53, 170, semC, uCount},
	{"network.mptcp.ofoqueuetail", "MPTcpExt:OFOQueueTail", 53, 171, semC, uCount},
	{"network.mptcp.ofoqueue", "MPTcpExt:OFOQueue", 53, 172, semC, uCount},
	{"network.mptcp.ofomerge", "MPTcpExt:OFOMerge", 53, 173, semC, uCount},
	{"network.mptcp.nodssinwindow", "MPTcpExt:NoDSSInWindow", 53, 174, semC, uCount},
	{"network.mptcp.duplicatedata", "MPTcpExt:DuplicateData", 53, 175, semC, uCount},
	{"network.mptcp.addaddr", "MPTcpExt:AddAddr", 53, 176, semC, uCount},
	{"network.mptcp.echoadd", "MPTcpExt:EchoAdd", 53, 177, semC, uCount},
	{"network.mptcp.portadd", "MPTcpExt:PortAdd", 53, 178, semC, uCount},
	{"network.mptcp.mpjoinportsynrx", "MPTcpExt:MPJoinPortSynRx", 53, 179, semC, uCount},
	{"network.mptcp.mpjoinportsynackrx", "MPTcpExt:MPJoinPortSynAckRx", 53, 180, semC, uCount},
	{"network.mptcp.mpjoinportackrx", "MPTcpExt:MPJoinPortAckRx", 53, 181, semC, uCount},
	{"network.mptcp.mismatchportsynrx", "MPTcpExt:MismatchPortSynRx", 53, 182, semC, uCount},
	{"network.mptcp.mismatchportackrx", "MPTcpExt:MismatchPortAckRx", 53, 183, semC, uCount},
	{"network.mptcp.rmaddr", "MPTcpExt:RmAddr", 53, 184, semC, uCount},
	{"network.mptcp.rmsubflow", "MPTcpExt:RmSubflow", 53, 185, semC, uCount},
	{"network.mptcp.mppriotx", "MPTcpExt:MPPrioTx", 53, 186, semC, uCount},
	{"network.mptcp.mppriorx", "MPTcpExt:MPPrioRx", 53, 187, semC, uCount},
	{"network.mptcp.rcvpruned", "MPTcpExt:RcvPruned", 53, 188, semC, uCount},
	{"network.mptcp.mpfailtx", "MPTcpExt:MPFailTx", 53, 190, semC, uCount},
	{"network.mptcp.mpfailrx", "MPTcpExt:MPFailRx", 53, 191, semC, uCount},
	{"network.mptcp.subflowstale", "MPTcpExt:SubflowStale", 53, 192, semC, uCount},
	{"network.mptcp.subflowrecover", "MPTcpExt:SubflowRecover", 53, 193, semC, uCount},
	{"network.mptcp.addaddrdrop", "MPTcpExt:AddAddrDrop", 53, 194, semC, uCount},
	{"network.mptcp.rmaddrdrop", "MPTcpExt:RmAddrDrop", 53, 195, semC, uCount},
	{"network.mptcp.mpfastclosetx", "MPTcpExt:MPFastcloseTx", 53, 196, semC, uCount},
	{"network.mptcp.mpfastcloserx", "MPTcpExt:MPFastcloseRx", 53, 197, semC, uCount},
	{"network.mptcp.mprsttx", "MPTcpExt:MPRstTx", 53, 198, semC, uCount},
	{"network.mptcp.mprstrx", "MPTcpExt:MPRstRx", 53, 199, semC, uCount},
	{"network.mptcp.infinitemaptx", "MPTcpExt:InfiniteMapTx", 53, 200, semC, uCount},
	{"network.mptcp.sndwndshared", "MPTcpExt:SndWndShared", 53, 201, semC, uCount},
	{"network.mptcp.rcvwndshared", "MPTcpExt:RcvWndShared", 53, 202, semC, uCount},
	{"network.mptcp.rcvwndconflictupdate", "MPTcpExt:RcvWndConflictUpdate", 53, 203, semC, uCount},
	{"network.mptcp.rcvwndconflict", "MPTcpExt:RcvWndConflict", 53, 204, semC, uCount},
}
