package metrics

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"

	"github.com/gopcp/gopcp/protocol"
)

// Source reads one group of metrics, usually from a single kernel file. Fetch reads
// the data once and answers every request in reqs (appending to Res.Values, or setting
// Res.Err for a metric that fails on its own). An error return fails all of reqs. The
// registry serialises calls to one source, so a source may keep reusable buffers.
type Source interface {
	Fetch(reqs []Request) error
}

// InDomSource is implemented by sources that own instance domains.
type InDomSource interface {
	Instances(indom protocol.InDom) ([]Instance, error)
}

// Request is one requested metric routed to its source.
type Request struct {
	Sel int     // the metric's selector within its source
	Res *Result // where its values go
	// Filtered: the client wants only the instances in Only (its profile), so a
	// source whose instances are costly to read (processes) may read just those.
	// Returning others is harmless: the server applies the profile anyway.
	Filtered bool
	Only     []uint32
	// Client: the client's own settings (FetchOpts.Client), for a source whose
	// answers depend on them (the processes: threads.go); nil for none.
	Client *ClientSettings
}

// metricDef declares one metric of a source.
type metricDef struct {
	name  string
	pmid  protocol.PMID
	typ   int32
	indom protocol.InDom
	sem   int32
	units protocol.Units
	sel   int
}

// sourceSpec is a source as it registers itself: a name, the agent domain of its
// metrics, the metrics and instance domains it serves, and a constructor.
type sourceSpec struct {
	name    string
	domain  uint32
	metrics []metricDef
	indoms  []protocol.InDom
	new     func(*env) Source
	// help, when set, gives our own help text for a metric of the source; an empty
	// one falls back to the help generated from PCP (helptext.go). Sources added
	// after the first catalogue write their help here, in their own words.
	help func(metricDef) helpText
	// private: the source's instances and per-instance values are given only to
	// trusted clients (FetchOpts.Trusted); its metrics without an instance domain
	// are public.
	private bool
	// concurrent: the source is safe for concurrent use and the registry does not
	// serialise its calls (the pmcd source, which calls back into the server).
	concurrent bool
}

var sourceSpecs []*sourceSpec

// sourceOrder fixes the order of the sources, and so the instance ids of the
// pmcd.gopcp.source.* instance domain, whatever the order of the files whose init
// registers them. A new source goes at the end; a source not listed comes after all
// listed ones, by name.
var sourceOrder = []string{
	"stat", "clock", "diskstats", "mounts", "health", "loadavg", "uptime", "meminfo", "vmstat",
	"pagesize", "netdev", "proc", "pmcd", "uname",
	// added with the metric breadth work
	"snmp", "netstat", "utmp", "swaps",
	// metric breadth wave 3 (interrupts and pressure came just before, unlisted)
	"interrupts", "pressure", "snmp6", "sockstat", "vfs", "kernsys", "ksm",
}

// orderedSpecs returns the registered sources in sourceOrder.
func orderedSpecs() []*sourceSpec {
	rank := make(map[string]int, len(sourceOrder))
	for i, n := range sourceOrder {
		rank[n] = i
	}
	out := append([]*sourceSpec(nil), sourceSpecs...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, iok := rank[out[i].name]
		rj, jok := rank[out[j].name]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		default:
			return out[i].name < out[j].name
		}
	})
	return out
}

// registerSource adds a source; each source file calls it from init. Adding a metric
// group means adding one file (plus its fixtures and expected values).
func registerSource(s *sourceSpec) {
	for _, o := range sourceSpecs {
		if o.name == s.name {
			panic("metrics: source " + s.name + " registered twice")
		}
	}
	sourceSpecs = append(sourceSpecs, s)
}

// Shorthands for the metric tables.
const (
	tU32 = protocol.TypeU32
	tI32 = protocol.Type32
	tU64 = protocol.TypeU64
	tI64 = protocol.Type64
	tFLT = protocol.TypeFloat
	tDBL = protocol.TypeDouble
	tSTR = protocol.TypeString

	semC = protocol.SemCounter
	semI = protocol.SemInstant
	semD = protocol.SemDiscrete

	uNone  = protocol.UnitsNone
	uMsec  = protocol.UnitsMillisec
	uSec   = protocol.UnitsSec
	uKB    = protocol.UnitsKbyte
	uMB    = protocol.UnitsMbyte
	uByte  = protocol.UnitsByte
	uCount = protocol.UnitsCount
	uCPS   = protocol.UnitsCountSec
	uMBps  = protocol.UnitsMbyteSec

	null = protocol.InDomNull
)

func pmid(d, c, i uint32) protocol.PMID { return protocol.NewPMID(d, c, i) }

// Instance domains served.
var (
	indomCPU       = protocol.NewInDom(DomainLinux, 0)
	indomDisk      = protocol.NewInDom(DomainLinux, 1)
	indomLoad      = protocol.NewInDom(DomainLinux, 2)
	indomNetIf     = protocol.NewInDom(DomainLinux, 3)
	indomFilesys   = protocol.NewInDom(DomainLinux, 5)
	indomPMLoggers = protocol.NewInDom(DomainPMCD, 1)
	indomRegister  = protocol.NewInDom(DomainPMCD, 2)
	indomAgents    = protocol.NewInDom(DomainPMCD, 3)
	indomClients   = protocol.NewInDom(DomainPMCD, 6)
)

// Value helpers.

func putU(res *Result, inst uint32, v uint64) {
	res.Values = append(res.Values, Value{Inst: inst, U: v})
}

func putI(res *Result, inst uint32, v int64) {
	res.Values = append(res.Values, Value{Inst: inst, U: uint64(v)})
}

func putF(res *Result, inst uint32, v float64) {
	res.Values = append(res.Values, Value{Inst: inst, F: v})
}

func putS(res *Result, inst uint32, v string) {
	res.Values = append(res.Values, Value{Inst: inst, S: v})
}

// optU is an optional unsigned value: ok false means the kernel did not provide it.
type optU struct {
	v  uint64
	ok bool
}

func putOptU(res *Result, inst uint32, o optU) {
	if o.ok {
		putU(res, inst, o.v)
	}
}

// Byte-level parsing helpers: they work on the file contents in place and never
// allocate.

// nextLine splits b at the first newline.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 { // vectorised: lines are long
		return b[:i], b[i+1:]
	}
	return b, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// nextField returns the first whitespace-separated field of b and the remainder.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

// parseUint parses a decimal unsigned integer; ok is false for anything else
// (including an empty field and overflow).
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseFloat parses a decimal float field.
func parseFloat(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) > 64 {
		return 0, false
	}
	// strconv on a stack copy: the conversion does not retain it.
	var tmp [64]byte
	n := copy(tmp[:], b)
	f, err := strconv.ParseFloat(string(tmp[:n]), 64)
	return f, err == nil
}

// trimSpace trims ASCII white space on both sides.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// listDir calls fn for each name in directory dir (without "." and ".."), reading the
// directory with getdents(2) into a reusable buffer, so a walk of /proc allocates
// nothing per entry. fn also gets the descriptor listDir holds open on dir.
func listDir(dir string, buf []byte, fn func(dirfd int, name []byte)) ([]byte, error) {
	if fileHook != nil {
		fileHook(dir)
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return buf, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	if cap(buf) < 16384 {
		buf = make([]byte, 16384)
	}
	buf = buf[:cap(buf)]
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return buf, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return buf, nil
		}
		b := buf[:n]
		for len(b) >= 19 {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return buf, fmt.Errorf("%s: %w: bad dirent", dir, errParse)
			}
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			if !(len(name) == 1 && name[0] == '.') && !(len(name) == 2 && name[0] == '.' && name[1] == '.') {
				fn(fd, name)
			}
			b = b[reclen:]
		}
	}
}

// idCache assigns stable instance ids to names as they first appear; an id is never
// reused, even after its name goes away (the promise the PCP agents' instance caches
// make). Like theirs, it grows by one entry per distinct name ever seen.
type idCache struct {
	ids   map[string]uint32
	names []string
}

func (c *idCache) id(name []byte) uint32 {
	if id, ok := c.ids[string(name)]; ok { // the conversion does not allocate
		return id
	}
	if c.ids == nil {
		c.ids = make(map[string]uint32)
	}
	id := uint32(len(c.names))
	s := string(name)
	c.ids[s] = id
	c.names = append(c.names, s)
	return id
}

func (c *idCache) idString(name string) uint32 {
	if id, ok := c.ids[name]; ok {
		return id
	}
	if c.ids == nil {
		c.ids = make(map[string]uint32)
	}
	id := uint32(len(c.names))
	c.ids[name] = id
	c.names = append(c.names, name)
	return id
}

func (c *idCache) name(id uint32) string { return c.names[id] }

// helpText is a one-line and a long help text, as the real agents have them
// (helptext.go, generated from PCP's help files).
type helpText struct{ oneline, help string }

// parseInt parses a decimal integer with an optional sign, or a 0x-prefixed
// hexadecimal one (as /sys/class/net/<if>/flags is).
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, b = b[0] == '-', b[1:]
	}
	var u uint64
	if len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		if len(b) > 18 {
			return 0, false
		}
		for _, c := range b[2:] {
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			default:
				return 0, false
			}
			u = u<<4 | uint64(d)
		}
	} else {
		var ok bool
		if u, ok = parseUint(b); !ok {
			return 0, false
		}
	}
	if u > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}
