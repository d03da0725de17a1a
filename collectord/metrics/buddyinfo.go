package metrics

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/gopcp/gopcp/protocol"
)

// The "buddyinfo" source: /proc/buddyinfo, the buddy allocator's free blocks. Each
// line is one zone of one node, "Node 0, zone   Normal  17492 12950 ...", with one
// count per order (blocks of 2^order pages). The instances of indom 60.31 are one
// per zone, node and order, named "Normal::order3::node0" as the linux agent names
// them. mem.buddyinfo.total is the memory those blocks hold, in kilobytes.
//
// Parsed by hand: procfs's BuddyInfo reads the counts as floats, so "NaN", "-1" or
// "1e9" in a damaged file would become values instead of failing the file.
// A line that is not "Node N, zone NAME" and counts, a count that is not a decimal
// number, or lines with different numbers of orders fail the source (counted).

var indomBuddy = protocol.NewInDom(DomainLinux, 31)

const (
	selBuddyPages = iota
	selBuddyTotal
)

// maxBuddyOrders bounds the orders per line: kernels have 11 (MAX_ORDER), a few
// configurations up to 16; more is not a kernel's file.
const maxBuddyOrders = 32

var buddyHelp = map[int]helpText{
	selBuddyPages: {"free blocks of each order, per zone and node",
		"The count for this order on the zone's line of /proc/buddyinfo: how many free\n" +
			"blocks of 2^order contiguous pages the buddy allocator holds."},
	selBuddyTotal: {"free memory in blocks of each order, per zone and node",
		"The count for this order on the zone's line of /proc/buddyinfo times the size\n" +
			"of one block (2^order pages), in kilobytes."},
}

func init() {
	setOwnInDomHelp(indomBuddy, "buddy allocator orders per zone and node",
		"One instance per zone, NUMA node and block order of /proc/buddyinfo, named\n"+
			"ZONE::orderN::nodeM (\"Normal::order3::node0\").")
	registerSource(&sourceSpec{
		name:   "buddyinfo",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomBuddy},
		new: func(e *env) Source {
			return &buddySource{file: newKfile(filepath.Join(e.procRoot, "buddyinfo")), pageSize: uint64(e.pageSize)}
		},
		metrics: []metricDef{
			{"mem.buddyinfo.pages", pmid(60, 67, 0), tU64, indomBuddy, semI, uNone, selBuddyPages},
			{"mem.buddyinfo.total", pmid(60, 67, 1), tU64, indomBuddy, semI, uKB, selBuddyTotal},
		},
		help: func(d metricDef) helpText { return buddyHelp[d.sel] },
	})
}

type buddyBlock struct {
	id    uint32
	order uint
	pages uint64
}

type buddySource struct {
	file     *kfile
	buf      []byte
	pageSize uint64
	ids      idCache
	blocks   []buddyBlock
	name     []byte
}

func (s *buddySource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.blocks = s.blocks[:0]
	orders := -1
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if len(trimSpace(line)) == 0 {
			continue
		}
		word, r := nextField(line)
		node, r2 := nextField(r)
		zword, r3 := nextField(r2)
		zone, r4 := nextField(r3)
		if string(word) != "Node" || len(node) < 2 || node[len(node)-1] != ',' || string(zword) != "zone" || !isFieldName(zone) {
			return fmt.Errorf("%s: %w: line %q is not a zone's", s.file.path, errParse, line)
		}
		n, ok := parseUint(node[:len(node)-1])
		if !ok || n >= 1<<16 {
			return fmt.Errorf("%s: %w: node %q", s.file.path, errParse, node)
		}
		k := 0
		for ; ; k++ {
			var f []byte
			f, r4 = nextField(r4)
			if len(f) == 0 {
				break
			}
			v, ok := parseUint(f)
			if !ok || k >= maxBuddyOrders {
				return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
			}
			s.name = append(append(append(s.name[:0], zone...), "::order"...), strconv.Itoa(k)...)
			s.name = append(append(s.name, "::node"...), strconv.FormatUint(n, 10)...)
			s.blocks = append(s.blocks, buddyBlock{s.ids.id(s.name), uint(k), v})
		}
		if k == 0 || orders >= 0 && k != orders {
			return fmt.Errorf("%s: %w: line %q has %d orders, others %d", s.file.path, errParse, line, k, orders)
		}
		orders = k
		if len(s.blocks) > 1<<16 {
			return fmt.Errorf("%s: %w: more zones than any kernel has", s.file.path, errParse)
		}
	}
	if orders < 0 {
		return fmt.Errorf("%s: %w: no zones", s.file.path, errParse)
	}
	return nil
}

func (s *buddySource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	for _, rq := range reqs {
		for _, bl := range s.blocks {
			switch rq.Sel {
			case selBuddyPages:
				putU(rq.Res, bl.id, bl.pages)
			case selBuddyTotal:
				// pages * 2^order * pageSize / 1024, absent if it does not fit.
				kb := s.pageSize << bl.order / 1024
				if kb != 0 && bl.pages > (1<<64-1)/kb {
					continue
				}
				putU(rq.Res, bl.id, bl.pages*kb)
			}
		}
	}
	return nil
}

func (s *buddySource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.blocks))
	for i, bl := range s.blocks {
		out[i] = Instance{ID: bl.id, Name: s.ids.name(bl.id)}
	}
	return out, nil
}
