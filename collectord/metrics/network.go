package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"

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
	// the rest of the network family
	selIfType
	selIfVirtual
	selIfWireless
	selAllFirst // network.all.*: selAllFirst + allIn/allOut/allTotal*4 + column
	selAllLast  = selAllFirst + 11
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
	selIfType: {"the interface's hardware type (ARPHRD_*: 1 Ethernet, 772 loopback)",
		"/sys/class/net/<if>/type, the kernel's ARPHRD_* link type number. No value when\n" +
			"the file cannot be read or is not a number."},
	selIfVirtual: {"whether the interface is virtual (1) or backed by a device (0)",
		"1 when /sys/devices/virtual/net/<if> exists (loopback, bridges, tunnels, veth and\n" +
			"the like), 0 when it does not. No value when /sys/class/net/<if> is missing."},
	selIfWireless: {"whether the interface is a wireless one",
		"1 when /sys/class/net/<if>/wireless exists, 0 when it does not. No value when\n" +
			"/sys/class/net/<if> is missing."},
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
			return &netSource{file: newKfile(filepath.Join(e.procRoot, "net/dev")), classDir: filepath.Join(e.sysRoot, "class/net"),
				virtualDir: filepath.Join(e.sysRoot, "devices/virtual/net"), culled: netAllCulled(e.etcRoot)}
		},
		metrics: append([]metricDef{
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
			{"network.interface.wireless", pmid(60, 3, 28), tU32, indomNetIf, semD, uNone, selIfWireless},
			{"network.interface.type", pmid(60, 3, 29), tU32, indomNetIf, semD, uNone, selIfType},
			{"network.interface.virtual", pmid(60, 3, 30), tU32, indomNetIf, semD, uNone, selIfVirtual},
		}, netAllMetrics()...),
		help: func(d metricDef) helpText {
			if d.sel >= selAllFirst && d.sel <= selAllLast {
				return netAllHelp(d.sel)
			}
			return netOwnHelp[d.sel]
		},
	})
}

type netIf struct {
	id uint32
	v  [netDevColumns]uint64
}

type netSource struct {
	file       *kfile
	classDir   string
	virtualDir string         // /sys/devices/virtual/net
	culled     *regexp.Regexp // interfaces network.all leaves out
	// ifDir, by id: whether /sys/class/net/<if> opened in this fetch (0 not yet
	// tried, dirHere, dirGone, dirUnknown), so it is opened once per fetch
	ifDir   []uint8
	buf     []byte
	ids     idCache
	attrs   [][numNetAttrs]*kfile // by id: the interface's sysfs attributes
	present []bool                // by id: in the last read
	ifs     []netIf               // the last read, file order
	vals    [][numNetAttrs]optI   // by position in ifs: attributes read this fetch
}

// The sysfs attributes read, by index.
const (
	attrMTU = iota
	attrSpeed
	attrFlags
	attrDuplex
	attrCarrier
	attrType
	attrVirtual  // not a file: whether /sys/devices/virtual/net/<if> exists
	attrWireless // not a file: whether /sys/class/net/<if>/wireless exists
	numNetAttrs
)

var netAttrFiles = [numNetAttrs]string{attrMTU: "mtu", attrSpeed: "speed", attrFlags: "flags",
	attrDuplex: "duplex", attrCarrier: "carrier", attrType: "type"}

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
		clear(s.ifDir)
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
		if rq.Sel >= selAllFirst && rq.Sel <= selAllLast {
			s.putAll(res, rq.Sel)
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
	case selIfType:
		return attrType, true
	case selIfVirtual:
		return attrVirtual, true
	case selIfWireless:
		return attrWireless, true
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
	switch attr {
	case attrVirtual, attrWireless:
		return s.dirFlag(id, attr)
	}
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
	case selDuplex, selIfVirtual, selIfWireless:
		putU(res, id, uint64(v))
	case selIfType:
		if v >= 0 && v <= 1<<32-1 {
			putU(res, id, uint64(v))
		}
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

// States of netSource.ifDir.
const (
	dirHere = 1 + iota
	dirUnknown
)

// dirFlag answers network.interface.virtual and wireless: whether a directory exists
// for the interface. It opens the directories (rather than stat them) so that they
// count as read, like every other file a metric depends on. No value when the
// interface's own /sys/class/net directory is missing (no sysfs, or it went away):
// "no" would then be a guess.
func (s *netSource) dirFlag(id uint32, attr int) optI {
	name := s.ids.name(id)
	if strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return optI{}
	}
	exists := func(path string) (bool, bool) {
		if fileHook != nil {
			fileHook(path)
		}
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
			return true, true
		}
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return false, true
		}
		return false, false // permission denied and the like: unknown
	}
	for uint32(len(s.ifDir)) <= id {
		s.ifDir = append(s.ifDir, 0)
	}
	if s.ifDir[id] == 0 {
		s.ifDir[id] = dirUnknown
		if here, ok := exists(filepath.Join(s.classDir, name)); ok && here {
			s.ifDir[id] = dirHere
		}
	}
	if s.ifDir[id] != dirHere {
		return optI{}
	}
	path := filepath.Join(s.virtualDir, name)
	if attr == attrWireless {
		path = filepath.Join(s.classDir, name, "wireless")
	}
	here, ok := exists(path)
	if !ok {
		return optI{}
	}
	if here {
		return optI{1, true}
	}
	return optI{0, true}
}

// network.all.*: the interface counters summed over the physical interfaces, which
// are those whose names do not match the pattern of PCP's linux/interfaces.conf
// (read once, when the source is made, from the same place under /etc as the
// linux agent reads it). A sum that would overflow 64 bits has no value rather than
// a wrapped one.

// netAllDefault applies when there is no interfaces.conf (or it does not compile):
// the pattern PCP installs in that file, rather than the agent's shorter built-in
// one, since every host with PCP has the file: a host running collectord without
// PCP then sums the same interfaces a PCP host would.
const netAllDefault = `^(lo|bond[0-9]+|team[0-9]+|tun[0-9]+|virbr[0-9]+|virbr[0-9]+-nic|cni[0-9]+|cni-podman[0-9]+|docker[0-9]+|veth[0-9]+|face)$`

// netAllCulled compiles the pattern of /etc/pcp/linux/interfaces.conf: the file
// with its comments ('#' to the end of the line) and all white space removed, a
// POSIX extended regular expression. A file that is missing, too big or does not
// compile gives the built-in pattern.
func netAllCulled(etc string) *regexp.Regexp {
	b, err := os.ReadFile(filepath.Join(etc, "pcp/linux/interfaces.conf"))
	if err == nil && len(b) <= 64<<10 {
		var p []byte
		comment := false
		for _, c := range b {
			switch {
			case c == '#':
				comment = true
			case c == '\n':
				comment = false
			case !comment && !isSpace(c) && c != '\v' && c != '\f':
				p = append(p, c)
			}
		}
		if len(p) > 0 {
			if re, err := regexp.CompilePOSIX(string(p)); err == nil {
				return re
			}
		}
	}
	return regexp.MustCompilePOSIX(netAllDefault)
}

var netAllDirs = [3]string{"in", "out", "total"}
var netAllCols = [4]string{"bytes", "packets", "errors", "drops"}

func netAllMetrics() []metricDef {
	var out []metricDef
	for d, dir := range netAllDirs {
		for c, col := range netAllCols {
			u := uCount
			if c == 0 {
				u = uByte
			}
			i := d*4 + c
			out = append(out, metricDef{"network.all." + dir + "." + col, pmid(60, 90, uint32(i)), tU64, null, semC, u, selAllFirst + i})
		}
	}
	return out
}

func netAllHelp(sel int) helpText {
	i := sel - selAllFirst
	dir, col := netAllDirs[i/4], netAllCols[i%4]
	what := map[string]string{"in": "received", "out": "sent", "total": "received and sent"}[dir]
	return helpText{col + " " + what + " by the physical network interfaces",
		"The sum over the interfaces in /proc/net/dev of network.interface." + dir + "." + col + ",\n" +
			"leaving out loopback, bonds, bridges and the other virtual interfaces whose names\n" +
			"match the pattern in /etc/pcp/linux/interfaces.conf (without that file: lo,\n" +
			"bondN, teamN, tunN, virbrN, cniN, dockerN, vethN and the like, as PCP ships\n" +
			"it). No value if the sum would overflow 64 bits."}
}

func (s *netSource) putAll(res *Result, sel int) {
	i := sel - selAllFirst
	dir, c := i/4, i%4
	var sum uint64
	for _, ni := range s.ifs {
		if s.culled.MatchString(s.ids.name(ni.id)) {
			continue
		}
		for _, col := range [2]int{c, 8 + c} {
			if dir == 0 && col != c || dir == 1 && col == c {
				continue
			}
			v := ni.v[col]
			if sum+v < sum {
				return // overflow: no value
			}
			sum += v
		}
	}
	putU(res, protocol.InNull, sum)
}
