package metrics

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/procfs"

	"github.com/gopcp/gopcp/protocol"
)

// The "meminfo" source: /proc/meminfo through procfs, whose Meminfo has a pointer per
// field, nil when the kernel does not print it (so absent stays absent).
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
		new:    func(e *env) Source { return &meminfoSource{root: e.procRoot} },
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
		new:    func(e *env) Source { return &vmstatSource{path: filepath.Join(e.procRoot, "vmstat")} },
		metrics: []metricDef{
			{"swap.pagesin", pmid(60, 0, 8), tU32, null, semC, uCount, selPagesIn},
			{"swap.pagesout", pmid(60, 0, 9), tU32, null, semC, uCount, selPagesOut},
		},
	})
	registerSource(&sourceSpec{
		name:   "pagesize",
		domain: DomainLinux,
		new:    func(*env) Source { return pagesizeSource{} },
		metrics: []metricDef{
			{"hinv.pagesize", pmid(60, 1, 11), tU32, null, semD, uByte, 0},
		},
	})
}

type meminfoSource struct {
	root string
	fs   *procfs.FS
}

func opt(p *uint64) optU {
	if p == nil {
		return optU{}
	}
	return optU{*p, true}
}

// diff is a - b when both are present (clamped at 0, since the two are read at
// slightly different moments by the kernel).
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

func (s *meminfoSource) Fetch(reqs []Request) error {
	if s.fs == nil {
		fs, err := procfs.NewFS(s.root)
		if err != nil {
			return err
		}
		s.fs = &fs
	}
	mi, err := s.fs.Meminfo()
	if err != nil {
		return err
	}
	total, free := opt(mi.MemTotal), opt(mi.MemFree)
	swapTotal, swapFree := opt(mi.SwapTotal), opt(mi.SwapFree)
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
			// "MemShared", which Linux stopped printing in 2.6; procfs does not
			// parse it, so like the linux agent on any current kernel: no values.
		case selBufmem:
			putOptU(res, in, opt(mi.Buffers))
		case selCached:
			putOptU(res, in, opt(mi.Cached))
		case selSlab:
			putOptU(res, in, opt(mi.Slab))
		case selAvailable:
			putOptU(res, in, opt(mi.MemAvailable))
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
	path string
	buf  []byte
}

func (s *vmstatSource) Fetch(reqs []Request) error {
	b, err := readFile(s.path, s.buf)
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
		lines++
		switch {
		case bytes.Equal(key, []byte("pswpin")):
			in = firstUint(vals)
		case bytes.Equal(key, []byte("pswpout")):
			out = firstUint(vals)
		}
	}
	if lines == 0 {
		return fmt.Errorf("%s: %w: empty", s.path, errParse)
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

type pagesizeSource struct{}

func (pagesizeSource) Fetch(reqs []Request) error {
	for _, rq := range reqs {
		putU(rq.Res, protocol.InNull, uint64(os.Getpagesize()))
	}
	return nil
}
