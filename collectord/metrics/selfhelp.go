package metrics

import "github.com/gopcp/gopcp/protocol"

// Help, instance domains and units of the pmcd metrics added with the breadth
// work (pmcd 6.0.3's full set), in our own words. The daemon describes itself,
// so no kernel file is named (TestHelpTable exempts domain 2).

// PCPVersion is the PCP release whose protocol, namespace and agents the collector
// reproduces: pmcd.version and pmda.version report it, because the stock tools
// read those to decide what a pmcd can do. The collector's own version is
// pmcd.build.
const PCPVersion = "6.0.3"

// uUsecPerCount is microseconds per count (pmcd.cputime.per_pdu_in): time
// dimension 1 in microseconds, count dimension -1.
const uUsecPerCount protocol.Units = 0x01f01000

// indomBufs is 2.5, the size classes of pmcd's PDU buffer pool.
var indomBufs = protocol.NewInDom(DomainPMCD, 5)

// bufInstances are pmcd's size classes: the id is the size in bytes (8193 for
// anything larger than 8192), the name as pmcd spells it.
var bufInstances = []Instance{{ID: 12, Name: "0012"}, {ID: 20, Name: "0020"}, {ID: 1024, Name: "1024"}, {ID: 2048, Name: "2048"}, {ID: 4196, Name: "4196"}, {ID: 8192, Name: "8192"}, {ID: 8193, Name: "8192+"}}

func setSelfHelp() {
	for _, h := range []struct {
		p             protocol.PMID
		oneline, help string
	}{
		{pmid(2, 0, 7), "PCP release the collector is compatible with",
			"Always \"" + PCPVersion + "\": the PCP release whose wire protocol, metric names and\n" +
				"descriptors the collector reproduces. Stock PCP tools read this metric to\n" +
				"decide which protocol features a pmcd has, so it names that release and\n" +
				"not the collector's own version, which is pmcd.build (and what\n" +
				"collectord --version prints)."},
		{pmid(2, 0, 20), "version of the collectord program itself",
			"The gopcp version the collectord program was built with (its --version),\n" +
				"as the server passes it to the metric catalogue. Where pmcd puts its\n" +
				"package build number here, the collector puts its own version, so that\n" +
				"\"pmcd.version-pmcd.build\" names both. No value when the build did not\n" +
				"record a version."},
		{pmid(2, 0, 0), "debug flags as last stored, recorded only",
			"The value a local client last stored (0 at start), keeping only the 29\n" +
				"bits PCP's old debug bit-field defines (pmdbg -o -l), as pmcd keeps them:\n" +
				"storing -1 reads back 1342177279. pmcd turns libpcp tracing on with these\n" +
				"bits; the collector has no such tracing and records the value without\n" +
				"acting on it. Its log level is set only by its operator (-D and the\n" +
				"configuration), so that no client can make it write more. Only local\n" +
				"clients may store (see pmcd.control.sighup)."},
		{pmid(2, 0, 4), "agent timeout in seconds as last stored, recorded only",
			"0 at start, meaning no timeout is in use, then the number a local client\n" +
				"last stored. pmcd gives up on an agent process that has not answered\n" +
				"within this many seconds; the collector's agents run inside its own\n" +
				"process and cannot stop answering on their own, so the value is recorded\n" +
				"and read back but changes nothing. A value of 2^31 or more (negative as\n" +
				"a 32-bit integer) gives PM_ERR_SIGN, as pmcd gives it."},
		{pmid(2, 0, 8), "sixteen integers clients may store and read",
			"Instances 0 to 15 (instance domain 2.2), each 0 at start and then the\n" +
				"value a local client last stored into it. Nothing in the collector reads\n" +
				"them: they are a place where tools leave small notes for each other, such\n" +
				"as a flag that a backup is running. They belong to the whole process, not\n" +
				"to one client, and are lost when the collector stops. A store names\n" +
				"instances 0 to 15 only; any other gives PM_ERR_INST and stores nothing."},
		{pmid(2, 0, 9), "connection tracing switch, recorded only",
			"0 or 1, as last stored (0 at start). pmcd turns tracing of client\n" +
				"connections on with 1; the collector accepts and records the store, so\n" +
				"tools that set and read the switch work, but it traces nothing: its PDU\n" +
				"trace is the -D pdu option. Only local clients may store (see\n" +
				"pmcd.control.sighup); other values give PM_ERR_BADSTORE."},
		{pmid(2, 0, 10), "PDU tracing switch, recorded only",
			"0 or 1, as last stored (0 at start). pmcd traces PDUs with 1; the\n" +
				"collector records the store and traces nothing (use collectord -D pdu).\n" +
				"Only local clients may store; other values give PM_ERR_BADSTORE."},
		{pmid(2, 0, 11), "size of the event trace buffer, recorded only",
			"The number last stored, 20 at start as in pmcd. pmcd sizes its ring of\n" +
				"trace events with it; the collector keeps no such ring and only records\n" +
				"the value. A negative store gives PM_ERR_SIGN."},
		{pmid(2, 0, 12), "push button to dump the event trace, always 0",
			"Reads 0. A store is accepted from local clients, as pmcd accepts it, but\n" +
				"the collector keeps no trace buffer, so nothing is dumped."},
		{pmid(2, 0, 13), "push button to dump the client list, always 0",
			"Reads 0. A store is accepted from local clients, as pmcd accepts it; the\n" +
				"collector writes nothing to its log for it, since the client list is\n" +
				"always available as the pmcd.client.* metrics."},
		{pmid(2, 0, 14), "unbuffered tracing switch, recorded only",
			"0 or 1, as last stored (0 at start). pmcd writes trace events at once\n" +
				"with 1; the collector records the store and traces nothing. Other values\n" +
				"give PM_ERR_BADSTORE."},
		{pmid(2, 0, 15), "push button to reload as on SIGHUP, always 0",
			"Reads 0. Any value stored makes the collector reload its configuration\n" +
				"and certificates as a SIGHUP does (and counts in pmcd.sighups). Because a\n" +
				"reload is the one store that acts, it is accepted only from a unix-socket\n" +
				"client or one authenticated by a verified client certificate: a loopback\n" +
				"TCP client may be proxyd relaying someone remote. The other control\n" +
				"switches take stores from unix-socket and loopback clients, as pmcd's\n" +
				"default access rules do; everyone else gets PM_ERR_PERMISSION."},
		{pmid(2, 0, 18), "PDU buffers in use per size class, not kept here",
			"pmcd counts the buffers of its PDU buffer pool that are in use, by size\n" +
				"class (instance domain 2.5). The collector has no such pool: each\n" +
				"connection reuses its own read and write buffers. So the instances are\n" +
				"listed but no values are given, rather than a 0 that would claim to\n" +
				"measure something."},
		{pmid(2, 0, 19), "PDU buffers free per size class, not kept here",
			"The free buffers of pmcd's PDU buffer pool by size class. The collector\n" +
				"has no such pool, so there are no values (see pmcd.buf.alloc)."},
		{pmid(2, 0, 22), "SIGHUP signals the collector has acted on",
			"Count of SIGHUP signals the daemon has received and answered with a\n" +
				"reload (including those a store into pmcd.control.sighup raised), whether\n" +
				"the reload succeeded or not (pmcd.gopcp.reload.* tell which). Reloads\n" +
				"because a certificate file changed are not SIGHUPs and are not counted.\n" +
				"No value when the server was not started by the collectord daemon."},
		{pmid(2, 4, 2), "whether each agent is fenced off, always 0",
			"One value per agent (instance domain 2.3). pmcd can fence an agent so\n" +
				"that requests to it fail; the collector's agents run in its own process\n" +
				"and cannot be fenced, so each value is 0."},
		{pmid(2, 4, 3), "name of each agent",
			"One value per agent (instance domain 2.3): \"pmcd\", \"proc\" or \"linux\",\n" +
				"the same as the instance names."},
		{pmid(2, 7, 1), "collector CPU microseconds per PDU read, lifetime mean",
			"User plus system CPU time of the collector process (getrusage(2)) in\n" +
				"microseconds, divided by pmcd.pdu_in.total. pmcd gives each client the\n" +
				"average since that client's previous fetch; the collector gives the\n" +
				"average over its whole life. No value before any PDU was received or\n" +
				"without the server's counts."},
		{pmid(2, 3, 3), "host name of each running archive logger's machine",
			"One value per pmlogger running here (instance domain 2.1): this\n" +
				"machine's host name, as pmcd.hostname, for each logger found in\n" +
				"$PCP_TMP_DIR/pmlogger (see pmcd.pmlogger.port)."},
		{pmid(2, 6, 0), "what each connected client says about itself",
			"One value per open client session (instance domain 2.6): the free text\n" +
				"the client stored into this metric to identify itself, for example a\n" +
				"tool name and its process ID. Any client may store its own; an empty\n" +
				"string until it does."},
	} {
		helpPMID[h.p] = helpText{h.oneline, h.help}
	}
	for _, p := range pduNames {
		helpPMID[pmid(2, 1, p.item)] = pduHelp(true, p)
		helpPMID[pmid(2, 2, p.item)] = pduHelp(false, p)
	}
	setOwnInDomHelp(indomBufs, "size classes of pmcd's PDU buffer pool",
		"Seven instances, numbered by the buffer size in bytes and named as pmcd\n"+
			"names them (\"0012\" ... \"8192\", and 8193 \"8192+\" for anything larger).\n"+
			"The collector lists them so that tools find pmcd's instance domain; it\n"+
			"has no such pool (see pmcd.buf.alloc).")
}
