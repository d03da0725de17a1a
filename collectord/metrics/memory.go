package metrics

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// The "meminfo" source: /proc/meminfo. A field the kernel does not print stays
// absent (the tests check this parser against procfs's Meminfo, which has a pointer
// per field for the same reason).
//
// The "vmstat" source: /proc/vmstat (pswpin, pswpout), "name value" lines.
//
// The "pagesize" source: the kernel page size, which needs no file.

const (
	selPhysmem = iota
	selHinvPhysmem
	selUsed
	selFree
	selShared
	selBufmem
	selCached
	selSlab
	selAvailable
	selFreemem
	selSwapLength
	selSwapUsed
	selSwapFree
)

const (
	selPagesIn = iota
	selPagesOut
)

func init() {
	registerSource(&sourceSpec{
		name:   "meminfo",
		domain: DomainLinux,
		new:    func(e *env) Source { return &meminfoSource{file: newKfile(filepath.Join(e.procRoot, "meminfo"))} },
		metrics: []metricDef{
			{"hinv.physmem", pmid(60, 1, 9), tU32, null, semD, uMB, selHinvPhysmem},
			{"mem.physmem", pmid(60, 1, 0), tU64, null, semD, uKB, selPhysmem},
			{"mem.util.used", pmid(60, 1, 1), tU64, null, semI, uKB, selUsed},
			{"mem.util.free", pmid(60, 1, 2), tU64, null, semI, uKB, selFree},
			{"mem.util.shared", pmid(60, 1, 3), tU64, null, semI, uKB, selShared},
			{"mem.util.bufmem", pmid(60, 1, 4), tU64, null, semI, uKB, selBufmem},
			{"mem.util.cached", pmid(60, 1, 5), tU64, null, semI, uKB, selCached},
			{"mem.util.slab", pmid(60, 1, 25), tU64, null, semI, uKB, selSlab},
			{"mem.util.available", pmid(60, 1, 58), tU64, null, semI, uKB, selAvailable},
			{"mem.freemem", pmid(60, 1, 10), tU64, null, semI, uKB, selFreemem},
			{"swap.length", pmid(60, 1, 6), tU64, null, semI, uByte, selSwapLength},
			{"swap.used", pmid(60, 1, 7), tU64, null, semI, uByte, selSwapUsed},
			{"swap.free", pmid(60, 1, 8), tU64, null, semI, uByte, selSwapFree},
		},
	})
	registerSource(&sourceSpec{
		name:   "vmstat",
		domain: DomainLinux,
		new:    func(e *env) Source { return &vmstatSource{file: newKfile(filepath.Join(e.procRoot, "vmstat"))} },
		metrics: []metricDef{
			{"swap.pagesin", pmid(60, 0, 8), tU32, null, semC, uCount, selPagesIn},
			{"swap.pagesout", pmid(60, 0, 9), tU32, null, semC, uCount, selPagesOut},
		},
	})
	registerSource(&sourceSpec{
		name:   "pagesize",
		domain: DomainLinux,
		new:    func(e *env) Source { return pagesizeSource{size: e.pageSize} },
		metrics: []metricDef{
			{"hinv.pagesize", pmid(60, 1, 11), tU32, null, semD, uByte, 0},
		},
	})
}

type meminfoSource struct {
	file *kfile
	buf  []byte
}

// meminfo holds the /proc/meminfo fields the metrics use, in Kbytes.
type meminfo struct {
	total, free, available, buffers, cached, slab, shared, swapTotal, swapFree optU
}

// parseMeminfo parses "Name:   value [kB]" lines. Any other line makes the file
// garbage (errParse); fields not listed in meminfo are skipped.
func parseMeminfo(b []byte, m *meminfo) error {
	*m = meminfo{}
	lines := 0
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		key, r := nextField(line)
		if len(key) == 0 {
			continue
		}
		val, r := nextField(r)
		unit, r := nextField(r)
		extra, _ := nextField(r)
		v, ok := parseUint(val)
		if key[len(key)-1] != ':' || !ok || len(extra) != 0 || (len(unit) != 0 && string(unit) != "kB") {
			return fmt.Errorf("%w: meminfo line %q", errParse, line)
		}
		lines++
		o := optU{v, true}
		switch string(key[:len(key)-1]) { // compiled to a switch on the bytes, no allocation
		case "MemTotal":
			m.total = o
		case "MemFree":
			m.free = o
		case "MemAvailable":
			m.available = o
		case "MemShared":
			m.shared = o
		case "Buffers":
			m.buffers = o
		case "Cached":
			m.cached = o
		case "Slab":
			m.slab = o
		case "SwapTotal":
			m.swapTotal = o
		case "SwapFree":
			m.swapFree = o
		}
	}
	if lines == 0 {
		return fmt.Errorf("%w: empty meminfo", errParse)
	}
	return nil
}

func (s *meminfoSource) Fetch(reqs []Request) error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	var mi meminfo
	if err := parseMeminfo(b, &mi); err != nil {
		return fmt.Errorf("%s: %w", s.file.path, err)
	}
	total, free := mi.total, mi.free
	swapTotal, swapFree := mi.swapTotal, mi.swapFree
	in := protocol.InNull
	for _, rq := range reqs {
		res := rq.Res
		switch rq.Sel {
		case selPhysmem:
			putOptU(res, in, total)
		case selHinvPhysmem:
			if total.ok {
				putU(res, in, uint64(uint32(total.v/1024)))
			}
		case selUsed:
			putOptU(res, in, diff(total, free))
		case selFree, selFreemem:
			putOptU(res, in, free)
		case selShared:
			// "MemShared", which Linux stopped printing in 2.6: like the linux
			// agent, no values on any current kernel.
			putOptU(res, in, mi.shared)
		case selBufmem:
			putOptU(res, in, mi.buffers)
		case selCached:
			putOptU(res, in, mi.cached)
		case selSlab:
			putOptU(res, in, mi.slab)
		case selAvailable:
			putOptU(res, in, mi.available)
		case selSwapLength:
			putOptU(res, in, scale(swapTotal, 1024, 1))
		case selSwapUsed:
			putOptU(res, in, scale(diff(swapTotal, swapFree), 1024, 1))
		case selSwapFree:
			putOptU(res, in, scale(swapFree, 1024, 1))
		}
	}
	return nil
}

type vmstatSource struct {
	file *kfile
	buf  []byte
}

func (s *vmstatSource) Fetch(reqs []Request) error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	var in, out optU
	lines := 0
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		key, vals := nextField(line)
		if len(key) == 0 {
			continue
		}
		// Only `name value` lines count: a file of anything else is garbage.
		if v, _ := nextField(vals); len(v) > 0 {
			if _, ok := parseUint(v); ok {
				lines++
			}
		}
		switch {
		case bytes.Equal(key, []byte("pswpin")):
			in = firstUint(vals)
		case bytes.Equal(key, []byte("pswpout")):
			out = firstUint(vals)
		}
	}
	if lines == 0 {
		return fmt.Errorf("%s: %w: empty", s.file.path, errParse)
	}
	for _, rq := range reqs {
		v := in
		if rq.Sel == selPagesOut {
			v = out
		}
		if v.ok {
			putU(rq.Res, protocol.InNull, uint64(uint32(v.v)))
		}
	}
	return nil
}

type pagesizeSource struct{ size int }

func (s pagesizeSource) Fetch(reqs []Request) error {
	for _, rq := range reqs {
		putU(rq.Res, protocol.InNull, uint64(s.size))
	}
	return nil
}

// diff is a - b when both are present (clamped at 0, since the kernel does not
// produce the two at the same instant).
func diff(a, b optU) optU {
	if !a.ok || !b.ok {
		return optU{}
	}
	if b.v > a.v {
		return optU{0, true}
	}
	return optU{a.v - b.v, true}
}

func scale(o optU, mul, div uint64) optU {
	if !o.ok {
		return o
	}
	return optU{o.v * mul / div, true}
}
