package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// The "snmp6" source: /proc/net/snmp6, the IPv6 counters the linux agent serves as
// network.ip6.*, network.icmp6.*, network.udp6.* and network.udplite6.* (cluster 58).
// Unlike /proc/net/snmp the file is one "Name value" pair per line. A kernel without
// IPv6 has no such file: then every metric has no values. A line that is not a name
// and a number, or a name seen twice, makes the file garbage (the source fails and
// counts an error) rather than serve a value from the wrong line; a field this kernel
// does not print gives no value.

// snmp6Fields: metric name and /proc/net/snmp6 field, in item order (the item is the
// index). The names are the field names in lower case, the protocol split off.
var snmp6Fields = [][2]string{
	{"network.ip6.inreceives", "Ip6InReceives"},
	{"network.ip6.inhdrerrors", "Ip6InHdrErrors"},
	{"network.ip6.intoobigerrors", "Ip6InTooBigErrors"},
	{"network.ip6.innoroutes", "Ip6InNoRoutes"},
	{"network.ip6.inaddrerrors", "Ip6InAddrErrors"},
	{"network.ip6.inunknownprotos", "Ip6InUnknownProtos"},
	{"network.ip6.intruncatedpkts", "Ip6InTruncatedPkts"},
	{"network.ip6.indiscards", "Ip6InDiscards"},
	{"network.ip6.indelivers", "Ip6InDelivers"},
	{"network.ip6.outforwdatagrams", "Ip6OutForwDatagrams"},
	{"network.ip6.outrequests", "Ip6OutRequests"},
	{"network.ip6.outdiscards", "Ip6OutDiscards"},
	{"network.ip6.outnoroutes", "Ip6OutNoRoutes"},
	{"network.ip6.reasmtimeout", "Ip6ReasmTimeout"},
	{"network.ip6.reasmreqds", "Ip6ReasmReqds"},
	{"network.ip6.reasmoks", "Ip6ReasmOKs"},
	{"network.ip6.reasmfails", "Ip6ReasmFails"},
	{"network.ip6.fragoks", "Ip6FragOKs"},
	{"network.ip6.fragfails", "Ip6FragFails"},
	{"network.ip6.fragcreates", "Ip6FragCreates"},
	{"network.ip6.inmcastpkts", "Ip6InMcastPkts"},
	{"network.ip6.outmcastpkts", "Ip6OutMcastPkts"},
	{"network.ip6.inoctets", "Ip6InOctets"},
	{"network.ip6.outoctets", "Ip6OutOctets"},
	{"network.ip6.inmcastoctets", "Ip6InMcastOctets"},
	{"network.ip6.outmcastoctets", "Ip6OutMcastOctets"},
	{"network.ip6.inbcastoctets", "Ip6InBcastOctets"},
	{"network.ip6.outbcastoctets", "Ip6OutBcastOctets"},
	{"network.ip6.innoectpkts", "Ip6InNoECTPkts"},
	{"network.ip6.inect1pkts", "Ip6InECT1Pkts"},
	{"network.ip6.inect0pkts", "Ip6InECT0Pkts"},
	{"network.ip6.incepkts", "Ip6InCEPkts"},
	{"network.icmp6.inmsgs", "Icmp6InMsgs"},
	{"network.icmp6.inerrors", "Icmp6InErrors"},
	{"network.icmp6.outmsgs", "Icmp6OutMsgs"},
	{"network.icmp6.outerrors", "Icmp6OutErrors"},
	{"network.icmp6.incsumerrors", "Icmp6InCsumErrors"},
	{"network.icmp6.indestunreachs", "Icmp6InDestUnreachs"},
	{"network.icmp6.inpkttoobigs", "Icmp6InPktTooBigs"},
	{"network.icmp6.intimeexcds", "Icmp6InTimeExcds"},
	{"network.icmp6.inparmproblems", "Icmp6InParmProblems"},
	{"network.icmp6.inechos", "Icmp6InEchos"},
	{"network.icmp6.inechoreplies", "Icmp6InEchoReplies"},
	{"network.icmp6.ingroupmembqueries", "Icmp6InGroupMembQueries"},
	{"network.icmp6.ingroupmembresponses", "Icmp6InGroupMembResponses"},
	{"network.icmp6.ingroupmembreductions", "Icmp6InGroupMembReductions"},
	{"network.icmp6.inroutersolicits", "Icmp6InRouterSolicits"},
	{"network.icmp6.inrouteradvertisements", "Icmp6InRouterAdvertisements"},
	{"network.icmp6.inneighborsolicits", "Icmp6InNeighborSolicits"},
	{"network.icmp6.inneighboradvertisements", "Icmp6InNeighborAdvertisements"},
	{"network.icmp6.inredirects", "Icmp6InRedirects"},
	{"network.icmp6.inmldv2reports", "Icmp6InMLDv2Reports"},
	{"network.icmp6.outdestunreachs", "Icmp6OutDestUnreachs"},
	{"network.icmp6.outpkttoobigs", "Icmp6OutPktTooBigs"},
	{"network.icmp6.outtimeexcds", "Icmp6OutTimeExcds"},
	{"network.icmp6.outparmproblems", "Icmp6OutParmProblems"},
	{"network.icmp6.outechos", "Icmp6OutEchos"},
	{"network.icmp6.outechoreplies", "Icmp6OutEchoReplies"},
	{"network.icmp6.outgroupmembqueries", "Icmp6OutGroupMembQueries"},
	{"network.icmp6.outgroupmembresponses", "Icmp6OutGroupMembResponses"},
	{"network.icmp6.outgroupmembreductions", "Icmp6OutGroupMembReductions"},
	{"network.icmp6.outroutersolicits", "Icmp6OutRouterSolicits"},
	{"network.icmp6.outrouteradvertisements", "Icmp6OutRouterAdvertisements"},
	{"network.icmp6.outneighborsolicits", "Icmp6OutNeighborSolicits"},
	{"network.icmp6.outneighboradvertisements", "Icmp6OutNeighborAdvertisements"},
	{"network.icmp6.outredirects", "Icmp6OutRedirects"},
	{"network.icmp6.outmldv2reports", "Icmp6OutMLDv2Reports"},
	{"network.udp6.indatagrams", "Udp6InDatagrams"},
	{"network.udp6.noports", "Udp6NoPorts"},
	{"network.udp6.inerrors", "Udp6InErrors"},
	{"network.udp6.outdatagrams", "Udp6OutDatagrams"},
	{"network.udp6.rcvbuferrors", "Udp6RcvbufErrors"},
	{"network.udp6.sndbuferrors", "Udp6SndbufErrors"},
	{"network.udp6.incsumerrors", "Udp6InCsumErrors"},
	{"network.udp6.ignoredmulti", "Udp6IgnoredMulti"},
	{"network.udplite6.indatagrams", "UdpLite6InDatagrams"},
	{"network.udplite6.noports", "UdpLite6NoPorts"},
	{"network.udplite6.inerrors", "UdpLite6InErrors"},
	{"network.udplite6.outdatagrams", "UdpLite6OutDatagrams"},
	{"network.udplite6.rcvbuferrors", "UdpLite6RcvbufErrors"},
	{"network.udplite6.sndbuferrors", "UdpLite6SndbufErrors"},
	{"network.udplite6.incsumerrors", "UdpLite6InCsumErrors"},
}

func init() {
	keys := make([]string, len(snmp6Fields))
	defs := make([]metricDef, len(snmp6Fields))
	for i, f := range snmp6Fields {
		keys[i] = f[1]
		defs[i] = metricDef{f[0], pmid(60, 58, uint32(i)), tU64, null, semC, uCount, i}
	}
	registerSource(&sourceSpec{
		name:   "snmp6",
		domain: DomainLinux,
		new: func(e *env) Source {
			return &snmp6Source{
				file:   newKfile(filepath.Join(e.procRoot, "net/snmp6")),
				fields: newFieldTable(keys),
				vals:   make(optSlots, len(keys)),
			}
		},
		metrics: defs,
		help: func(d metricDef) helpText {
			if d.sel < 0 || d.sel >= len(snmp6Fields) {
				return helpText{}
			}
			f := snmp6Fields[d.sel][1]
			return helpText{f + " from the kernel's IPv6 statistics",
				"The " + f + " line of /proc/net/snmp6, a running count kept by the kernel since\n" +
					"boot. No value when the kernel has no IPv6 or does not print that line."}
		},
	})
}

type snmp6Source struct {
	file   *kfile
	buf    []byte
	fields *fieldTable
	vals   optSlots
}

func (s *snmp6Source) Fetch(reqs []Request) error {
	b, err := s.file.read(s.buf)
	s.buf = b
	s.vals.reset()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no IPv6: no values
	}
	if err != nil {
		return err
	}
	if err := parseSnmp6(b, s.fields, s.vals); err != nil {
		return fmt.Errorf("%s: %w", s.file.path, err)
	}
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < len(s.vals) {
			putOptU(rq.Res, protocol.InNull, s.vals[rq.Sel])
		}
	}
	return nil
}

// parseSnmp6 reads "Name value" lines into vals (reset by the caller).
func parseSnmp6(b []byte, t *fieldTable, vals optSlots) error {
	pos := 0
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		name, r := nextField(line)
		if len(name) == 0 {
			continue
		}
		val, r := nextField(r)
		extra, _ := nextField(r)
		v, ok := parseUint(val)
		if !ok || len(extra) != 0 || !isFieldName(name) {
			return fmt.Errorf("%w: line %q is not a name and a count", errParse, line)
		}
		if sl := t.slot(pos, name); sl >= 0 {
			if vals[sl].ok {
				return fmt.Errorf("%w: %s appears twice", errParse, name)
			}
			vals[sl] = optU{v, true}
		}
		pos++
	}
	if pos == 0 {
		return fmt.Errorf("%w: no statistics", errParse)
	}
	return nil
}

// isFieldName reports whether b looks like a kernel statistics name (letters, digits,
// underscores): anything else means the file is not what it should be.
func isFieldName(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
