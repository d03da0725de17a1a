package metrics

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// The "netdev" source: /proc/net/dev for the counters, and for mtu, speed and up the
// interface's attribute files under /sys/class/net/<if>/ (mtu, speed, flags), read
// only for the attributes a fetch asks for, each kept open between fetches.
//
// /proc/net/dev is parsed here rather than with procfs's NetDev(), which returns a
// map: instance ids are assigned in file order as interfaces first appear (as the
// linux agent does: lo, then the others in kernel order), and a map loses that order.
// The tests check this parser against NetDev().

const (
	selInBytes = iota
	selInPackets
	selInErrors
	selInDrops
	selOutBytes
	selOutPackets
	selOutErrors
	selOutDrops
	selMTU
	selSpeed
	selUp
	selNInterface
	// added with the metric breadth work
	selInFifo
	selInFrame
	selInCompressed
	selInMcasts
	selOutFifo
	selCollisions
	selOutCarrier
	selOutCompressed
	selTotalBytes
	selTotalPackets
	selTotalErrors
	selTotalDrops
	selTotalMcasts
	selBaudrate
	selDuplex
	selIfRunning
)

// Columns of /proc/net/dev for the counter selectors above.
var netDevColumn = map[int]int{selInBytes: 0, selInPackets: 1, selInErrors: 2, selInDrops: 3,
	selInFifo: 4, selInFrame: 5, selInCompressed: 6, selInMcasts: 7,
	selOutBytes: 8, selOutPackets: 9, selOutErrors: 10, selOutDrops: 11,
	selOutFifo: 12, selCollisions: 13, selOutCarrier: 14, selOutCompressed: 15}

// netDevTotal: the total.* metrics, the sum of a receive and a transmit column. The
// kernel has no transmit multicast column, so total.mcasts is the receive one alone.
var netDevTotal = map[int][2]int{selTotalBytes: {0, 8}, selTotalPackets: {1, 9}, selTotalErrors: {2, 10},
	selTotalDrops: {3, 11}, selTotalMcasts: {7, 7}}

// netOwnHelp: our own help for the metrics added since the first catalogue.
var netOwnHelp = map[int]helpText{
	selInFifo:        {"receive FIFO buffer errors", "The receive fifo column of /proc/net/dev, per interface."},
	selInFrame:       {"received packets with framing errors", "The receive frame column of /proc/net/dev, per interface."},
	selInCompressed:  {"compressed packets received", "The receive compressed column of /proc/net/dev (PPP, SLIP), per interface."},
	selInMcasts:      {"multicast packets received", "The receive multicast column of /proc/net/dev, per interface."},
	selOutFifo:       {"transmit FIFO buffer errors", "The transmit fifo column of /proc/net/dev, per interface."},
	selCollisions:    {"collisions detected while transmitting", "The transmit colls column of /proc/net/dev, per interface."},
	selOutCarrier:    {"transmit carrier losses", "The transmit carrier column of /proc/net/dev, per interface."},
	selOutCompressed: {"compressed packets sent", "The transmit compressed column of /proc/net/dev (PPP, SLIP), per interface."},
	selTotalBytes:    {"bytes received and sent", "The receive plus transmit bytes columns of /proc/net/dev, per interface."},
	selTotalPackets:  {"packets received and sent", "The receive plus transmit packets columns of /proc/net/dev, per interface."},
	selTotalErrors:   {"receive and transmit errors", "The receive plus transmit errs columns of /proc/net/dev, per interface."},
	selTotalDrops:    {"packets dropped on receive and transmit", "The receive plus transmit drop columns of /proc/net/dev, per interface."},
	selTotalMcasts: {"multicast packets (receive side only)",
		"The receive multicast column of /proc/net/dev, per interface: the kernel has no\n" +
			"transmit multicast column, so this equals network.interface.in.mcasts."},
	selBaudrate: {"link speed in bytes per second",
		"/sys/class/net/<if>/speed (Mbit/s) times 125000. No value when the driver does\n" +
			"not know the speed (it reports -1) or the interface has no speed file."},
	selDuplex: {"link duplex: 1 half, 2 full",
		"/sys/class/net/<if>/duplex: 2 for \"full\", 1 for \"half\". No value when the\n" +
			"driver reports \"unknown\" or the interface has no duplex file."},
	selIfRunning: {"whether the interface is up with a carrier",
		"1 when /sys/class/net/<if>/flags has IFF_UP and /sys/class/net/<if>/carrier\n" +
			"reads 1, 0 when either is off. No value when the flags cannot be read, or\n" +
			"the interface is up and its carrier is unreadable or neither 0 nor 1."},
}

const netDevColumns = 16

// maxHeldInterfaces bounds the interfaces whose sysfs attribute files stay open.
const maxHeldInterfaces = 64

// iffUp is IFF_UP in /sys/class/net/<if>/flags.
const iffUp = 0x1

func init() {
	registerSource(&sourceSpec{
		name:   "netdev",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomNetIf},
		new: func(e *env) Source {
			return &netSource{file: newKfile(filepath.Join(e.procRoot, "net/dev")), classDir: filepath.Join(e.sysRoot, "class/net")}
		},
		metrics: []metricDef{
			{"network.interface.in.bytes", pmid(60, 3, 0), tU64, indomNetIf, semC, uByte, selInBytes},
			{"network.interface.in.packets", pmid(60, 3, 1), tU64, indomNetIf, semC, uCount, selInPackets},
			{"network.interface.in.errors", pmid(60, 3, 2), tU64, indomNetIf, semC, uCount, selInErrors},
			{"network.interface.in.drops", pmid(60, 3, 3), tU64, indomNetIf, semC, uCount, selInDrops},
			{"network.interface.out.bytes", pmid(60, 3, 8), tU64, indomNetIf, semC, uByte, selOutBytes},
			{"network.interface.out.packets", pmid(60, 3, 9), tU64, indomNetIf, semC, uCount, selOutPackets},
			{"network.interface.out.errors", pmid(60, 3, 10), tU64, indomNetIf, semC, uCount, selOutErrors},
			{"network.interface.out.drops", pmid(60, 3, 11), tU64, indomNetIf, semC, uCount, selOutDrops},
			{"network.interface.mtu", pmid(60, 3, 21), tU32, indomNetIf, semI, uByte, selMTU},
			{"network.interface.speed", pmid(60, 3, 22), tFLT, indomNetIf, semD, uMBps, selSpeed},
			{"network.interface.up", pmid(60, 3, 25), tU32, indomNetIf, semI, uNone, selUp},
			{"hinv.ninterface", pmid(60, 3, 27), tU32, null, semD, uNone, selNInterface},
			{"network.interface.in.fifo", pmid(60, 3, 4), tU64, indomNetIf, semC, uCount, selInFifo},
			{"network.interface.in.frame", pmid(60, 3, 5), tU64, indomNetIf, semC, uCount, selInFrame},
			{"network.interface.in.compressed", pmid(60, 3, 6), tU64, indomNetIf, semC, uCount, selInCompressed},
			{"network.interface.in.mcasts", pmid(60, 3, 7), tU64, indomNetIf, semC, uCount, selInMcasts},
			{"network.interface.out.fifo", pmid(60, 3, 12), tU64, indomNetIf, semC, uCount, selOutFifo},
			{"network.interface.collisions", pmid(60, 3, 13), tU64, indomNetIf, semC, uCount, selCollisions},
			{"network.interface.out.carrier", pmid(60, 3, 14), tU64, indomNetIf, semC, uCount, selOutCarrier},
			{"network.interface.out.compressed", pmid(60, 3, 15), tU64, indomNetIf, semC, uCount, selOutCompressed},
			{"network.interface.total.bytes", pmid(60, 3, 16), tU64, indomNetIf, semC, uByte, selTotalBytes},
			{"network.interface.total.packets", pmid(60, 3, 17), tU64, indomNetIf, semC, uCount, selTotalPackets},
			{"network.interface.total.errors", pmid(60, 3, 18), tU64, indomNetIf, semC, uCount, selTotalErrors},
			{"network.interface.total.drops", pmid(60, 3, 19), tU64, indomNetIf, semC, uCount, selTotalDrops},
			{"network.interface.total.mcasts", pmid(60, 3, 20), tU64, indomNetIf, semC, uCount, selTotalMcasts},
			// byte/sec: space dimension 1, time -1, scales byte and second
			{"network.interface.baudrate", pmid(60, 3, 23), tU64, indomNetIf, semD, protocol.Units(0x1f003000), selBaudrate},
			{"network.interface.duplex", pmid(60, 3, 24), tU32, indomNetIf, semD, uNone, selDuplex},
			{"network.interface.running", pmid(60, 3, 26), tU32, indomNetIf, semI, uNone, selIfRunning},
		},
		help: func(d metricDef) helpText { return netOwnHelp[d.sel] },
	})
}

type netIf struct {
	id uint32
	v  [netDevColumns]uint64
}

type netSource struct {
	file     *kfile
	classDir string
	buf      []byte
	ids      idCache
	attrs    [][numNetAttrs]*kfile // by id: the interface's sysfs attributes
	present  []bool                // by id: in the last read
	ifs      []netIf               // the last read, file order
	vals     [][numNetAttrs]optI   // by position in ifs: attributes read this fetch
}

// The sysfs attributes read, by index.
const (
	attrMTU = iota
	attrSpeed
	attrFlags
	attrDuplex
	attrCarrier
	numNetAttrs
)

var netAttrFiles = [numNetAttrs]string{attrMTU: "mtu", attrSpeed: "speed", attrFlags: "flags",
	attrDuplex: "duplex", attrCarrier: "carrier"}

func (s *netSource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.ifs = s.ifs[:0]
	for i := range s.present {
		s.present[i] = false
	}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if bytes.IndexByte(line, '|') >= 0 || len(trimSpace(line)) == 0 {
			continue // the two header lines
		}
		colon := bytes.LastIndexByte(line, ':')
		if colon < 0 {
			return fmt.Errorf("%s: %w: no colon in %q", s.file.path, errParse, line)
		}
		name := trimSpace(line[:colon])
		if len(name) == 0 {
			return fmt.Errorf("%s: %w: empty interface name", s.file.path, errParse)
		}
		var ni netIf
		vals := line[colon+1:]
		for i := range ni.v {
			var f []byte
			f, vals = nextField(vals)
			v, ok := parseUint(f)
			if !ok {
				return fmt.Errorf("%s: %s: %w", s.file.path, name, errParse)
			}
			ni.v[i] = v
		}
		ni.id = s.ids.id(name)
		for uint32(len(s.attrs)) <= ni.id {
			dir := filepath.Join(s.classDir, s.ids.name(uint32(len(s.attrs))))
			var a [numNetAttrs]*kfile
			for i, f := range netAttrFiles {
				a[i] = newKfile(filepath.Join(dir, f))
				// Hosts with thousands of (virtual) interfaces would hold thousands
				// of descriptors: beyond the first ones, reopen on every read.
				a[i].noKeep = len(s.attrs) >= maxHeldInterfaces
			}
			s.attrs = append(s.attrs, a)
			s.present = append(s.present, false)
		}
		s.present[ni.id] = true
		s.ifs = append(s.ifs, ni)
	}
	// Let go of the attribute files of interfaces that went away.
	for id, here := range s.present {
		if !here {
			for _, f := range s.attrs[id] {
				f.close()
			}
		}
	}
	return nil
}

func (s *netSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	// Read each wanted attribute file of each interface once, however many times
	// the metric appears in the request.
	var need [numNetAttrs]bool
	for _, rq := range reqs {
		if a, ok := attrOf(rq.Sel); ok {
			need[a] = true
		}
		if rq.Sel == selIfRunning {
			need[attrFlags], need[attrCarrier] = true, true
		}
	}
	if need != [numNetAttrs]bool{} {
		if cap(s.vals) < len(s.ifs) {
			s.vals = make([][numNetAttrs]optI, len(s.ifs))
		}
		s.vals = s.vals[:len(s.ifs)]
		for i := range s.ifs {
			for a := range need {
				s.vals[i][a] = optI{}
				if need[a] {
					s.vals[i][a] = s.readAttr(s.ifs[i].id, a)
				}
			}
		}
	}
	for _, rq := range reqs {
		res := rq.Res
		if a, ok := attrOf(rq.Sel); ok {
			for i := range s.ifs {
				putAttr(res, s.ifs[i].id, rq.Sel, s.vals[i][a])
			}
			continue
		}
		if cols, ok := netDevTotal[rq.Sel]; ok {
			for i := range s.ifs {
				v := s.ifs[i].v[cols[0]]
				if cols[1] != cols[0] {
					v += s.ifs[i].v[cols[1]]
				}
				putU(res, s.ifs[i].id, v)
			}
			continue
		}
		switch rq.Sel {
		case selNInterface:
			putU(res, protocol.InNull, uint64(len(s.ifs)))
		case selIfRunning:
			for i := range s.ifs {
				flags, carrier := s.vals[i][attrFlags], s.vals[i][attrCarrier]
				switch {
				case !flags.ok:
				case flags.v&iffUp == 0:
					// Down: not running, whatever carrier says (the kernel
					// refuses to read carrier of a down interface).
					putU(res, s.ifs[i].id, 0)
				case carrier.ok && (carrier.v == 0 || carrier.v == 1):
					// Up: running exactly when the link has a carrier.
					putU(res, s.ifs[i].id, uint64(carrier.v))
				default:
					// Up, but carrier is unreadable or not the kernel's 0 or 1:
					// no value, since a guessed 0 would be a wrong number.
				}
			}
		default:
			col := netDevColumn[rq.Sel]
			for i := range s.ifs {
				putU(res, s.ifs[i].id, s.ifs[i].v[col])
			}
		}
	}
	return nil
}

func attrOf(sel int) (int, bool) {
	switch sel {
	case selMTU:
		return attrMTU, true
	case selSpeed:
		return attrSpeed, true
	case selUp:
		return attrFlags, true
	case selBaudrate:
		return attrSpeed, true
	case selDuplex:
		return attrDuplex, true
	}
	return 0, false
}

// optI is an optional signed value.
type optI struct {
	v  int64
	ok bool
}

// readAttr reads one sysfs attribute of one interface. An attribute the interface
// does not have (no speed for lo, say), cannot be read or does not parse is absent,
// for that instance only.
func (s *netSource) readAttr(id uint32, attr int) optI {
	b, err := s.attrs[id][attr].read(s.buf)
	s.buf = b
	if err != nil {
		return optI{}
	}
	t := trimSpace(b)
	if attr == attrDuplex {
		// The one text attribute: kept as 2 full, 1 half, absent otherwise.
		switch string(t) {
		case "full":
			return optI{2, true}
		case "half":
			return optI{1, true}
		}
		return optI{}
	}
	v, ok := parseInt(t)
	return optI{v, ok}
}

func putAttr(res *Result, id uint32, sel int, o optI) {
	if !o.ok {
		return
	}
	v := o.v
	switch sel {
	case selMTU:
		if v >= 0 {
			putU(res, id, uint64(uint32(v)))
		}
	case selUp:
		putU(res, id, uint64(v&iffUp))
	case selDuplex:
		putU(res, id, uint64(v))
	case selBaudrate:
		if v >= 0 && uint64(v) <= (1<<64-1)/125000 {
			putU(res, id, uint64(v)*125000)
		}
	case selSpeed:
		// Mbit/s from the kernel; -1 (SPEED_UNKNOWN) means the driver does not know,
		// which is absent, not a speed. The linux agent scales to Mbyte/s as
		// Mbit/s * 10^6 / 8 / 2^20.
		if v >= 0 {
			putF(res, id, float64(float32(float64(v)*1000000/8/1024/1024)))
		}
	}
}

func (s *netSource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.ifs))
	for i, ni := range s.ifs {
		out[i] = Instance{ID: ni.id, Name: s.ids.name(ni.id)}
	}
	sortInstances(out)
	return out, nil
}
