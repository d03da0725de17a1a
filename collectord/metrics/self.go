package metrics

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/protocol"
)

// The "pmcd" source (the pmcd agent, domain 2): what the collector daemon reports
// about itself. It tells the truth about this process, not about a C pmcd:
// pmcd.version is the PCP release the collector is compatible with (PCPVersion)
// and pmcd.build its own version (Options.Version), the agents are in-process
// (type 0, as DSO agents are), clients, features, PDU and SIGHUP counts come from
// the server through Self (PMCDStats, SIGHUPHook), the pmcd.control.* switches
// clients store are kept here (selfcontrol.go), and process figures come from
// <ProcRoot>/self and getrusage(2). The pmlogger and pmie metrics are the
// pmtools source's.

const (
	selDebug = iota
	selDatasize
	selNumAgents
	selNumClients
	selTimeout
	selTimezone
	selSimABI
	selVersion
	selRegister
	selServices
	selOpenFDs
	selBuild
	selHostname
	selPID
	selSeqnum
	selLabels
	selZoneinfo
	selAgentType
	selAgentStatus
	selWhoAmI
	selStartDate
	selContainer
	selCPUTime
	selFeatSecure
	selFeatCompress
	selFeatIPv6
	selFeatAuth
	selFeatCreds
	selFeatUnix
	selFeatDiscovery
	selFeatContainers
	selFeatLocal
	selFeatClientCert
	selTraceConn
	selTracePDU
	selTraceBufs
	selDumpTrace
	selDumpConn
	selTraceNoBuf
	selControlSIGHUP
	selBufAlloc
	selBufFree
	selSIGHUPs
	selAgentFenced
	selAgentName
	selCPUPerPDU
	// selPDUIn+i and selPDUOut+i: the PDU counters, i indexing pduNames.
	selPDUIn
	selPDUOut = selPDUIn + numPDUMetrics
)

// numPDUMetrics is len(pduNames): the 24 types less the unused 0x700b, plus the total.
const numPDUMetrics = PDUTypes

func init() {
	registerSource(&sourceSpec{
		name:       "pmcd",
		domain:     DomainPMCD,
		concurrent: true,
		indoms:     []protocol.InDom{indomRegister, indomAgents, indomBufs, indomClients},
		new: func(e *env) Source {
			return &selfSource{env: e, status: newKfile(filepath.Join(e.procRoot, "self/status")), control: newControlState()}
		},
		metrics: append([]metricDef{
			{"pmcd.control.debug", pmid(2, 0, 0), tI32, null, semD, uNone, selDebug},
			{"pmcd.datasize", pmid(2, 0, 1), tU32, null, semI, uKB, selDatasize},
			{"pmcd.numagents", pmid(2, 0, 2), tU32, null, semI, uNone, selNumAgents},
			{"pmcd.numclients", pmid(2, 0, 3), tU32, null, semI, uNone, selNumClients},
			{"pmcd.control.timeout", pmid(2, 0, 4), tU32, null, semD, uNone, selTimeout},
			{"pmcd.timezone", pmid(2, 0, 5), tSTR, null, semD, uNone, selTimezone},
			{"pmcd.simabi", pmid(2, 0, 6), tSTR, null, semD, uNone, selSimABI},
			{"pmcd.version", pmid(2, 0, 7), tSTR, null, semD, uNone, selVersion},
			{"pmcd.control.register", pmid(2, 0, 8), tI32, indomRegister, semD, uNone, selRegister},
			{"pmcd.services", pmid(2, 0, 16), tSTR, null, semI, uNone, selServices},
			{"pmcd.openfds", pmid(2, 0, 17), tU32, null, semI, uNone, selOpenFDs},
			{"pmcd.build", pmid(2, 0, 20), tSTR, null, semD, uNone, selBuild},
			{"pmcd.hostname", pmid(2, 0, 21), tSTR, null, semD, uNone, selHostname},
			{"pmcd.pid", pmid(2, 0, 23), tU64, null, semD, uNone, selPID},
			{"pmcd.seqnum", pmid(2, 0, 24), tU32, null, semD, uNone, selSeqnum},
			{"pmcd.labels", pmid(2, 0, 25), tSTR, null, semI, uNone, selLabels},
			{"pmcd.zoneinfo", pmid(2, 0, 26), tSTR, null, semD, uNone, selZoneinfo},
			{"pmcd.agent.type", pmid(2, 4, 0), tU32, indomAgents, semD, uNone, selAgentType},
			{"pmcd.agent.status", pmid(2, 4, 1), tI32, indomAgents, semD, uNone, selAgentStatus},
			{"pmcd.client.whoami", pmid(2, 6, 0), tSTR, indomClients, semD, uNone, selWhoAmI},
			{"pmcd.client.start_date", pmid(2, 6, 1), tSTR, indomClients, semD, uNone, selStartDate},
			{"pmcd.client.container", pmid(2, 6, 2), tSTR, indomClients, semI, uNone, selContainer},
			{"pmcd.cputime.total", pmid(2, 7, 0), tU64, null, semC, uMsec, selCPUTime},
			{"pmcd.feature.secure", pmid(2, 8, 0), tU32, null, semI, uNone, selFeatSecure},
			{"pmcd.feature.compress", pmid(2, 8, 1), tU32, null, semI, uNone, selFeatCompress},
			{"pmcd.feature.ipv6", pmid(2, 8, 2), tU32, null, semI, uNone, selFeatIPv6},
			{"pmcd.feature.authentication", pmid(2, 8, 3), tU32, null, semI, uNone, selFeatAuth},
			{"pmcd.feature.creds_required", pmid(2, 8, 4), tU32, null, semI, uNone, selFeatCreds},
			{"pmcd.feature.unix_domain_sockets", pmid(2, 8, 5), tU32, null, semI, uNone, selFeatUnix},
			{"pmcd.feature.service_discovery", pmid(2, 8, 6), tU32, null, semI, uNone, selFeatDiscovery},
			{"pmcd.feature.containers", pmid(2, 8, 7), tU32, null, semI, uNone, selFeatContainers},
			{"pmcd.feature.local", pmid(2, 8, 8), tU32, null, semI, uNone, selFeatLocal},
			{"pmcd.feature.client_cert_required", pmid(2, 8, 9), tU32, null, semI, uNone, selFeatClientCert},
			{"pmcd.control.traceconn", pmid(2, 0, 9), tI32, null, semD, uNone, selTraceConn},
			{"pmcd.control.tracepdu", pmid(2, 0, 10), tI32, null, semD, uNone, selTracePDU},
			{"pmcd.control.tracebufs", pmid(2, 0, 11), tI32, null, semD, uNone, selTraceBufs},
			{"pmcd.control.dumptrace", pmid(2, 0, 12), tI32, null, semD, uNone, selDumpTrace},
			{"pmcd.control.dumpconn", pmid(2, 0, 13), tI32, null, semD, uNone, selDumpConn},
			{"pmcd.control.tracenobuf", pmid(2, 0, 14), tI32, null, semD, uNone, selTraceNoBuf},
			{"pmcd.control.sighup", pmid(2, 0, 15), tI32, null, semD, uNone, selControlSIGHUP},
			{"pmcd.buf.alloc", pmid(2, 0, 18), tI32, indomBufs, semI, uCount, selBufAlloc},
			{"pmcd.buf.free", pmid(2, 0, 19), tI32, indomBufs, semI, uCount, selBufFree},
			{"pmcd.sighups", pmid(2, 0, 22), tU32, null, semC, uCount, selSIGHUPs},
			{"pmcd.agent.fenced", pmid(2, 4, 2), tU32, indomAgents, semI, uNone, selAgentFenced},
			{"pmcd.agent.name", pmid(2, 4, 3), tSTR, indomAgents, semD, uNone, selAgentName},
			{"pmcd.cputime.per_pdu_in", pmid(2, 7, 1), tDBL, null, semI, uUsecPerCount, selCPUPerPDU},
		}, pduMetricDefs()...),
	})
	setSelfHelp()
}

// Fixed facts about the collector.
const (
	// simABI is the procedure call model and ABI of the daemon: a 64-bit ELF binary.
	simABI = "elf64"
	// services lists the PCP services this process provides.
	services = "pmcd"
	// seqnum: the configuration sequence number. The agents are compiled in and
	// never restart, so it stays at its initial value.
	seqnum = 1
	// agentTimeout is pmcd.control.timeout until a client stores one: in-process
	// agents cannot hang apart from the daemon, so no agent timeout is in use
	// ("zero, timeouts are not being used"); a stored one is recorded only.
	agentTimeout = 0
	// numRegisters is the size of pmcd.control.register.
	numRegisters = 16
)

// agentInstances is indom 2.3: one instance per agent, the id is its domain.
var agentInstances = []Instance{{ID: DomainPMCD, Name: "pmcd"}, {ID: DomainProc, Name: "proc"}, {ID: DomainLinux, Name: "linux"}}

var registerInstances = func() []Instance {
	in := make([]Instance, numRegisters)
	for i := range in {
		in[i] = Instance{ID: uint32(i), Name: strconv.Itoa(i)}
	}
	return in
}()

type selfSource struct {
	env *env

	mu     sync.Mutex // guards status and buf
	status *kfile
	buf    []byte

	control *controlState // what clients stored into pmcd.control.*
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (s *selfSource) Fetch(reqs []Request) error {
	e := s.env
	in := protocol.InNull
	// Things that cost a syscall or a file are worked out at most once per fetch.
	var (
		feat     Features
		featDone bool
		clients  []Client
		clDone   bool
		ds, fds  optU
		dsDone   bool
		fdsDone  bool
		tz, zi   string
		tzDone   bool
		ziDone   bool
		cpu      optU
		cpuDone  bool
		pduIn    [PDUTypes]uint64
		pduOut   [PDUTypes]uint64
		pdusDone bool
	)
	stats := func() PMCDStats {
		st, _ := e.self.(PMCDStats)
		return st
	}
	features := func() Features {
		if !featDone && e.self != nil {
			feat = e.self.Features()
		}
		featDone = true
		return feat
	}
	cls := func() []Client {
		if !clDone && e.self != nil {
			clients = sortClients(e.self.Clients())
		}
		clDone = true
		return clients
	}
	for _, rq := range reqs {
		res := rq.Res
		switch rq.Sel {
		case selDebug:
			putI(res, in, int64(s.control.get(rq.Sel)))
		case selDatasize:
			if !dsDone {
				ds, dsDone = s.dataSize(), true
			}
			putOptU(res, in, ds)
		case selNumAgents:
			putU(res, in, uint64(len(agentInstances)))
		case selNumClients:
			n := 0
			if e.self != nil {
				n = e.self.NumClients()
			}
			putU(res, in, uint64(n))
		case selTimeout:
			putU(res, in, uint64(s.control.timeout.Load()))
		case selTimezone:
			if !tzDone {
				tz, tzDone = pcpTimezone(e.getenv("TZ"), e.loc), true
			}
			putS(res, in, tz)
		case selSimABI:
			putS(res, in, simABI)
		case selVersion:
			// The PCP release the collector is compatible with, which the stock
			// tools check; its own version is pmcd.build (selfhelp.go).
			putS(res, in, PCPVersion)
		case selBuild:
			if e.version != "" {
				putS(res, in, e.version)
			}
		case selRegister:
			s.control.putRegisters(res)
		case selServices:
			putS(res, in, services)
		case selOpenFDs:
			if !fdsDone {
				fds, fdsDone = s.highestFD(), true
			}
			putOptU(res, in, fds)
		case selHostname:
			putS(res, in, e.hostname)
		case selPID:
			putU(res, in, uint64(e.pid))
		case selSeqnum:
			putU(res, in, seqnum)
		case selLabels:
			// Only the labels configured under $PCP_SYSCONF_DIR/labels go here, and
			// the collector has none.
			putS(res, in, "")
		case selZoneinfo:
			if !ziDone {
				zi, ziDone = zoneinfo(e.getenv("TZ"), e.etcRoot), true
			}
			putS(res, in, zi)
		case selAgentType:
			for _, a := range agentInstances {
				putU(res, a.ID, 0) // (DSO << 1) | binary: in-process
			}
		case selAgentStatus:
			for _, a := range agentInstances {
				putI(res, a.ID, 0) // active
			}
		case selWhoAmI, selStartDate, selContainer:
			for _, c := range cls() {
				switch rq.Sel {
				case selWhoAmI:
					putS(res, c.Slot, c.WhoAmI)
				case selStartDate:
					if !c.Start.IsZero() {
						putS(res, c.Slot, ctime(c.Start.In(e.loc)))
					}
				case selContainer:
					putS(res, c.Slot, c.Container)
				}
			}
		case selCPUTime:
			if !cpuDone {
				var ru unix.Rusage
				if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
					cpu = optU{uint64(ru.Utime.Nano()/1e6 + ru.Stime.Nano()/1e6), true}
				}
				cpuDone = true
			}
			putOptU(res, in, cpu)
		case selFeatSecure:
			putU(res, in, b2u(features().Secure))
		case selFeatCompress, selFeatAuth, selFeatDiscovery, selFeatContainers:
			putU(res, in, 0) // not implemented by the collector
		case selFeatIPv6:
			putU(res, in, 1)
		case selFeatCreds:
			putU(res, in, b2u(features().CredsRequired))
		case selFeatUnix:
			putU(res, in, b2u(features().UnixSockets))
		case selFeatLocal:
			putU(res, in, b2u(features().Local))
		case selFeatClientCert:
			putU(res, in, b2u(features().ClientCertRequired))
		case selTraceConn, selTracePDU, selTraceBufs, selTraceNoBuf:
			putI(res, in, int64(s.control.get(rq.Sel)))
		case selDumpTrace, selDumpConn, selControlSIGHUP:
			// Push buttons: a store acts, a fetch always reads 0 (as pmcd's do).
			putI(res, in, 0)
		case selBufAlloc, selBufFree:
			// The collector has no pool of PDU buffers by size (each connection
			// reuses its own read and write buffers), so there is nothing true to
			// count per size class: no values, never a made-up 0.
		case selSIGHUPs:
			if st := stats(); st != nil {
				putU(res, in, uint64(uint32(st.SIGHUPs())))
			}
		case selAgentFenced:
			for _, a := range agentInstances {
				putU(res, a.ID, 0) // in-process agents cannot be fenced off
			}
		case selAgentName:
			for _, a := range agentInstances {
				putS(res, a.ID, a.Name)
			}
		case selCPUPerPDU:
			if st := stats(); st != nil {
				if !pdusDone {
					pduIn, pduOut = st.PDUCounts()
					pdusDone = true
				}
				var total uint64
				for _, n := range pduIn {
					total += n
				}
				var ru unix.Rusage
				if total > 0 && unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
					usec := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e3
					putF(res, in, usec/float64(total))
				}
			}
		default:
			if rq.Sel >= selPDUIn && rq.Sel < selPDUOut+numPDUMetrics {
				st := stats()
				if st == nil {
					break
				}
				if !pdusDone {
					pduIn, pduOut = st.PDUCounts()
					pdusDone = true
				}
				counts, i := &pduIn, rq.Sel-selPDUIn
				if rq.Sel >= selPDUOut {
					counts, i = &pduOut, rq.Sel-selPDUOut
				}
				putU(res, in, uint64(pduCount(counts, i)))
			}
		}
	}
	return nil
}

// dataSize is VmData from <ProcRoot>/self/status, in Kbytes.
func (s *selfSource) dataSize() optU {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.status.read(s.buf)
	s.buf = b
	if err != nil {
		return optU{}
	}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if v, ok := bytes.CutPrefix(line, []byte("VmData:")); ok {
			return firstUint(v)
		}
	}
	return optU{}
}

// highestFD is the highest open descriptor in <ProcRoot>/self/fd, not counting the
// one used to read that directory.
func (s *selfSource) highestFD() optU {
	s.mu.Lock()
	defer s.mu.Unlock()
	var max optU
	buf, err := listDir(filepath.Join(s.env.procRoot, "self/fd"), s.buf, func(dirfd int, name []byte) {
		if v, ok := parseUint(name); ok && (int(v) != dirfd || filepath.Clean(s.env.procRoot) != "/proc") {
			if !max.ok || v > max.v {
				max = optU{v, true}
			}
		}
	})
	s.buf = buf
	if err != nil {
		return optU{}
	}
	return max
}

func (s *selfSource) Instances(indom protocol.InDom) ([]Instance, error) {
	switch indom {
	case indomBufs:
		return append([]Instance(nil), bufInstances...), nil
	case indomRegister:
		return append([]Instance(nil), registerInstances...), nil
	case indomAgents:
		return append([]Instance(nil), agentInstances...), nil
	case indomClients:
		out := []Instance{}
		if s.env.self != nil {
			for _, c := range s.env.self.Clients() {
				out = append(out, Instance{ID: c.Slot, Name: strconv.FormatUint(uint64(c.Slot), 10)})
			}
		}
		sortInstances(out)
		return out, nil
	}
	return nil, &protocol.Error{Code: protocol.ErrInDom}
}

// sortClients returns the clients by slot (instance id) order, without changing the
// server's slice.
func sortClients(in []Client) []Client {
	out := append([]Client(nil), in...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

// ctime formats t as ctime(3) does, without the newline: "Mon Nov 23 14:38:25 2026".
func ctime(t time.Time) string { return t.Format("Mon Jan _2 15:04:05 2006") }

// pcpTimezone reports the daemon's time zone as pmcd does: $TZ when it is set to a
// POSIX zone, else one made from the local zone's names and offset, e.g. "UTC" or
// "AEST-10AEDT" (the POSIX offset sign is west-positive).
func pcpTimezone(tzEnv string, loc *time.Location) string {
	if tzEnv != "" && tzEnv[0] != ':' {
		return tzEnv
	}
	year := time.Now().In(loc).Year()
	jan := time.Date(year, time.January, 1, 0, 0, 0, 0, loc)
	jul := time.Date(year, time.July, 1, 0, 0, 0, 0, loc)
	std, dst := jan, jul
	if jan.IsDST() {
		std, dst = jul, jan
	}
	name, off := std.Zone()
	var b strings.Builder
	b.WriteString(name)
	if off != 0 {
		b.WriteString(posixOffset(off))
	}
	if dst.IsDST() {
		dname, doff := dst.Zone()
		b.WriteString(dname)
		if doff != off+3600 {
			b.WriteString(posixOffset(doff))
		}
	}
	return b.String()
}

func posixOffset(eastSeconds int) string {
	west := -eastSeconds
	sign := "+"
	if west < 0 {
		sign, west = "-", -west
	}
	s := sign + strconv.Itoa(west/3600)
	if m := west % 3600 / 60; m != 0 {
		s += ":" + strconv.Itoa(m/10) + strconv.Itoa(m%10)
	}
	return s
}

// zoneinfo reports the zone as a tzfile reference, ":Area/City": from $TZ when it
// names one, else from where <EtcRoot>/localtime links to; "" when it cannot be told.
func zoneinfo(tzEnv, etcRoot string) string {
	if strings.HasPrefix(tzEnv, ":") {
		return tzEnv
	}
	if tzEnv != "" {
		return ""
	}
	target, err := os.Readlink(filepath.Join(etcRoot, "localtime"))
	if err != nil {
		return ""
	}
	if i := strings.LastIndex(target, "zoneinfo/"); i >= 0 {
		return ":" + target[i+len("zoneinfo/"):]
	}
	return ""
}
