package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// The "sockstat" source: /proc/net/sockstat and /proc/net/sockstat6, socket counts
// per protocol (network.sockstat.*). Each line is a protocol, a colon, then
// "key value" pairs: "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1". A pair the kernel
// does not print gives no value; sockstat6 is read only when one of its metrics is
// asked for, and is absent on a kernel without IPv6. A line that is not made of
// pairs is garbage and fails that file's metrics, rather than serve a count from
// the wrong place; the two files fail separately (a broken sockstat6 does not take
// the IPv4 counts with it), and a failure is always counted: as the source's error
// when every file asked for failed, as a partial error otherwise.

type sockstatField struct {
	name      string
	six       bool // from sockstat6
	proto, fl string
	item      protocol.PMID
	what      string
}

var sockstatFields = []sockstatField{
	{"network.sockstat.total", false, "sockets", "used", pmid(60, 11, 9), "sockets of every family in use"},
	{"network.sockstat.tcp.inuse", false, "TCP", "inuse", pmid(60, 11, 0), "IPv4 TCP sockets in use"},
	{"network.sockstat.tcp.orphan", false, "TCP", "orphan", pmid(60, 11, 10), "TCP sockets no process holds any more"},
	{"network.sockstat.tcp.tw", false, "TCP", "tw", pmid(60, 11, 11), "TCP sockets in TIME_WAIT"},
	{"network.sockstat.tcp.alloc", false, "TCP", "alloc", pmid(60, 11, 12), "TCP sockets allocated"},
	{"network.sockstat.tcp.mem", false, "TCP", "mem", pmid(60, 11, 13), "pages of memory TCP sockets use"},
	{"network.sockstat.udp.inuse", false, "UDP", "inuse", pmid(60, 11, 3), "IPv4 UDP sockets in use"},
	{"network.sockstat.udp.mem", false, "UDP", "mem", pmid(60, 11, 14), "pages of memory UDP sockets use"},
	{"network.sockstat.udplite.inuse", false, "UDPLITE", "inuse", pmid(60, 11, 8), "IPv4 UDP-Lite sockets in use"},
	{"network.sockstat.raw.inuse", false, "RAW", "inuse", pmid(60, 11, 6), "IPv4 raw sockets in use"},
	{"network.sockstat.frag.inuse", false, "FRAG", "inuse", pmid(60, 11, 15), "IPv4 packets being reassembled"},
	{"network.sockstat.frag.memory", false, "FRAG", "memory", pmid(60, 11, 16), "bytes held for IPv4 reassembly"},
	{"network.sockstat.tcp6.inuse", true, "TCP6", "inuse", pmid(60, 73, 0), "IPv6 TCP sockets in use"},
	{"network.sockstat.udp6.inuse", true, "UDP6", "inuse", pmid(60, 73, 1), "IPv6 UDP sockets in use"},
	{"network.sockstat.udplite6.inuse", true, "UDPLITE6", "inuse", pmid(60, 73, 2), "IPv6 UDP-Lite sockets in use"},
	{"network.sockstat.raw6.inuse", true, "RAW6", "inuse", pmid(60, 73, 3), "IPv6 raw sockets in use"},
	{"network.sockstat.frag6.inuse", true, "FRAG6", "inuse", pmid(60, 73, 4), "IPv6 packets being reassembled"},
	{"network.sockstat.frag6.memory", true, "FRAG6", "memory", pmid(60, 73, 5), "bytes held for IPv6 reassembly"},
}

func sockstatFile(six bool) string {
	if six {
		return "/proc/net/sockstat6"
	}
	return "/proc/net/sockstat"
}

func init() {
	defs := make([]metricDef, len(sockstatFields))
	keys := make([]string, len(sockstatFields))
	for i, f := range sockstatFields {
		defs[i] = metricDef{f.name, f.item, tI32, null, semI, uCount, i}
		keys[i] = f.proto + ":" + f.fl
	}
	registerSource(&sourceSpec{
		name:   "sockstat",
		domain: DomainLinux,
		new: func(e *env) Source {
			return &sockstatSource{
				files:  [2]*kfile{newKfile(filepath.Join(e.procRoot, "net/sockstat")), newKfile(filepath.Join(e.procRoot, "net/sockstat6"))},
				fields: [2]*fieldTable{newFieldTable(keys), newFieldTable(keys)},
				vals:   make(optSlots, len(keys)),
			}
		},
		metrics: defs,
		help: func(d metricDef) helpText {
			if d.sel < 0 || d.sel >= len(sockstatFields) {
				return helpText{}
			}
			f := sockstatFields[d.sel]
			return helpText{f.what, "The \"" + f.fl + "\" count of the \"" + f.proto + ":\" line of " + sockstatFile(f.six) + ".\n" +
				"No value when the kernel does not print it."}
		},
	})
}

type sockstatSource struct {
	files   [2]*kfile
	buf     []byte
	fields  [2]*fieldTable // one per file, so each remembers its own field positions
	vals    optSlots
	partial atomic.Uint64
}

// PartialErrors counts fetches in which one of the two files failed while the
// other one served its metrics.
func (s *sockstatSource) PartialErrors() uint64 { return s.partial.Load() }

func (s *sockstatSource) Fetch(reqs []Request) error {
	s.vals.reset()
	var need [2]bool
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < len(sockstatFields) {
			if sockstatFields[rq.Sel].six {
				need[1] = true
			} else {
				need[0] = true
			}
		}
	}
	var errs [2]error
	for i, f := range s.files {
		if !need[i] {
			continue
		}
		b, err := f.read(s.buf)
		s.buf = b
		if errors.Is(err, fs.ErrNotExist) && i == 1 {
			continue // no IPv6
		}
		if err == nil {
			if err = parseSockstat(b, s.fields[i], s.vals); err != nil {
				err = fmt.Errorf("%s: %w", f.path, err)
			}
		}
		errs[i] = err
	}
	if (errs[0] != nil || !need[0]) && (errs[1] != nil || !need[1]) {
		return errors.Join(errs[0], errs[1]) // every file asked for failed
	}
	if errs[0] != nil || errs[1] != nil {
		s.partial.Add(1)
	}
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < len(s.vals) {
			if six := sockstatFields[rq.Sel].six; errs[0] != nil && !six || errs[1] != nil && six {
				rq.Res.Err = protocol.ErrValue
				continue
			}
			v := s.vals[rq.Sel]
			v.ok = v.ok && v.v <= 1<<31-1
			putOptU(rq.Res, protocol.InNull, v)
		}
	}
	return nil
}

// parseSockstat reads "PROTO: key value key value ..." lines into vals.
func parseSockstat(b []byte, t *fieldTable, vals optSlots) error {
	var key [64]byte
	pos, lines := 0, 0
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		proto, r := nextField(line)
		if len(proto) == 0 {
			continue
		}
		if len(proto) < 2 || proto[len(proto)-1] != ':' || !isFieldName(proto[:len(proto)-1]) {
			return fmt.Errorf("%w: line %q has no protocol", errParse, line)
		}
		n := copy(key[:], proto)
		for {
			var k, v []byte
			k, r = nextField(r)
			v, r = nextField(r)
			if len(k) == 0 {
				break
			}
			u, ok := parseUint(v)
			if !ok || !isFieldName(k) {
				return fmt.Errorf("%w: line %q is not made of names and counts", errParse, line)
			}
			sl := -1
			if n+len(k) <= len(key) {
				m := copy(key[n:], k)
				sl = t.slot(pos, key[:n+m])
			}
			pos++
			if sl >= 0 {
				vals[sl] = optU{u, true}
			}
		}
		lines++
	}
	if lines == 0 {
		return fmt.Errorf("%w: no statistics", errParse)
	}
	return nil
}
