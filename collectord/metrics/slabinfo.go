package metrics

import (
	"bytes"
	"fmt"
	"math/bits"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// The "slabinfo" source: /proc/slabinfo, the kernel's slab caches (mem.slabinfo.*,
// indom 60.12, one instance per cache, named as the file names it). The file is
// readable by root only: for any other user a fetch fails with the permission error
// (counted), and the metrics have no values, as with the linux agent run unprivileged.
// Only the format of version 2.x is read ("name active_objs num_objs objsize
// objperslab pagesperslab : tunables l b s : slabdata active_slabs num_slabs avail");
// any other version, or a line not of that shape, fails the source rather than serve
// a number from the wrong column.
//
// Parsed by hand: procfs's Slab accepts negative counts (strconv.ParseInt) and has
// no bound on the file, and slabs.total_size needs the page size anyway.

var indomSlab = protocol.NewInDom(DomainLinux, 12)

const (
	selSlabObjActive = iota
	selSlabObjTotal
	selSlabObjSize
	selSlabActive
	selSlabTotal
	selSlabPagesPer
	selSlabObjPer
	selSlabTotalSize
)

// maxSlabCaches bounds the instances a (hostile) file can make; a busy kernel has a
// few hundred caches.
const maxSlabCaches = 1 << 14

var slabHelp = map[int]helpText{
	selSlabObjActive: {"objects in use in each slab cache", "The active_objs column of /proc/slabinfo."},
	selSlabObjTotal:  {"objects allocated in each slab cache, used or not", "The num_objs column of /proc/slabinfo."},
	selSlabObjSize:   {"size of one object of each slab cache", "The objsize column of /proc/slabinfo, in bytes."},
	selSlabActive:    {"slabs of each cache holding objects in use", "The active_slabs column (after \"slabdata\") of /proc/slabinfo."},
	selSlabTotal:     {"slabs of each cache", "The num_slabs column (after \"slabdata\") of /proc/slabinfo."},
	selSlabPagesPer:  {"pages in one slab of each cache", "The pagesperslab column of /proc/slabinfo."},
	selSlabObjPer:    {"objects in one slab of each cache", "The objperslab column of /proc/slabinfo."},
	selSlabTotalSize: {"memory the objects in use of each slab cache occupy",
		"The memory of the slabs the cache's objects in use fill, counted as the linux\n" +
			"agent counts it: active_objs / objperslab slabs of pagesperslab pages each,\n" +
			"from /proc/slabinfo, in bytes."},
}

func init() {
	setOwnInDomHelp(indomSlab, "kernel slab caches",
		"One instance per line of /proc/slabinfo, named by the cache's name\n"+
			"(\"dentry\", \"kmalloc-64\", ...).")
	registerSource(&sourceSpec{
		name:   "slabinfo",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomSlab},
		new: func(e *env) Source {
			return &slabSource{file: newKfile(filepath.Join(e.procRoot, "slabinfo")), pageSize: uint64(e.pageSize)}
		},
		metrics: []metricDef{
			{"mem.slabinfo.objects.active", pmid(60, 20, 0), tU64, indomSlab, semI, uNone, selSlabObjActive},
			{"mem.slabinfo.objects.total", pmid(60, 20, 1), tU64, indomSlab, semI, uNone, selSlabObjTotal},
			{"mem.slabinfo.objects.size", pmid(60, 20, 2), tU32, indomSlab, semI, uByte, selSlabObjSize},
			{"mem.slabinfo.slabs.active", pmid(60, 20, 3), tU32, indomSlab, semI, uNone, selSlabActive},
			{"mem.slabinfo.slabs.total", pmid(60, 20, 4), tU32, indomSlab, semI, uNone, selSlabTotal},
			{"mem.slabinfo.slabs.pages_per_slab", pmid(60, 20, 5), tU32, indomSlab, semI, uNone, selSlabPagesPer},
			{"mem.slabinfo.slabs.objects_per_slab", pmid(60, 20, 6), tU32, indomSlab, semI, uNone, selSlabObjPer},
			{"mem.slabinfo.slabs.total_size", pmid(60, 20, 7), tU64, indomSlab, semI, uByte, selSlabTotalSize},
		},
		help: func(d metricDef) helpText { return slabHelp[d.sel] },
	})
}

// slabCache is one line: its instance id and the columns, in the order of the sel
// constants (objects.active .. objects_per_slab).
type slabCache struct {
	id  uint32
	col [7]uint64
}

type slabSource struct {
	file     *kfile
	buf      []byte
	pageSize uint64
	ids      idCache
	caches   []slabCache
	name     []byte
}

// slabColumns maps the positions of a 2.x line (after the name) to the sel of the
// value they hold; -1 marks the literal words that must be there.
var slabColumns = [15]int{
	selSlabObjActive, selSlabObjTotal, selSlabObjSize, selSlabObjPer, selSlabPagesPer,
	-1, -1, -2, -2, -2, -1, -1, selSlabActive, selSlabTotal, -2,
}

var slabWords = map[int]string{5: ":", 6: "tunables", 10: ":", 11: "slabdata"}

func (s *slabSource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.caches = s.caches[:0]
	first, rest := nextLine(b)
	if !bytes.HasPrefix(first, []byte("slabinfo - version: 2.")) {
		return fmt.Errorf("%s: %w: not a slabinfo version 2 file (%q)", s.file.path, errParse, first)
	}
	var f [32][]byte
	for len(rest) > 0 {
		var line []byte
		line, rest = nextLine(rest)
		if t := trimSpace(line); len(t) == 0 || t[0] == '#' {
			continue
		}
		n := 0
		for r := line; n < len(f); n++ {
			f[n], r = nextField(r)
			if len(f[n]) == 0 {
				break
			}
		}
		// A name with white space in it (none today) becomes one name with
		// underscores, as the linux agent makes it.
		if n < 16 || n >= len(f) {
			return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
		}
		nameFields := n - 15
		s.name = s.name[:0]
		for i := 0; i < nameFields; i++ {
			if i > 0 {
				s.name = append(s.name, '_')
			}
			s.name = append(s.name, f[i]...)
		}
		var c slabCache
		for i, sel := range slabColumns {
			v := f[nameFields+i]
			switch sel {
			case -1:
				if string(v) != slabWords[i] {
					return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
				}
			case -2:
				if _, ok := parseUint(v); !ok {
					return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
				}
			default:
				u, ok := parseUint(v)
				if !ok {
					return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
				}
				c.col[sel] = u
			}
		}
		if len(s.caches) >= maxSlabCaches {
			return fmt.Errorf("%s: %w: more slab caches than any kernel has", s.file.path, errParse)
		}
		c.id = s.ids.id(s.name)
		s.caches = append(s.caches, c)
	}
	return nil
}

// totalSize is pagesperslab * pagesize * active_objs / objperslab, absent when
// objperslab is 0 or the result does not fit in 64 bits.
func (s *slabSource) totalSize(c *slabCache) (uint64, bool) {
	per := c.col[selSlabObjPer]
	if per == 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(c.col[selSlabPagesPer], s.pageSize)
	if hi != 0 {
		return 0, false
	}
	hi, lo = bits.Mul64(lo, c.col[selSlabObjActive])
	if hi >= per {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, per)
	return q, true
}

func (s *slabSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	for _, rq := range reqs {
		for i := range s.caches {
			c := &s.caches[i]
			switch rq.Sel {
			case selSlabObjActive, selSlabObjTotal:
				putU(rq.Res, c.id, c.col[rq.Sel])
			case selSlabObjSize, selSlabActive, selSlabTotal, selSlabPagesPer, selSlabObjPer:
				if v := c.col[rq.Sel]; v <= 1<<32-1 {
					putU(rq.Res, c.id, v)
				}
			case selSlabTotalSize:
				if v, ok := s.totalSize(c); ok {
					putU(rq.Res, c.id, v)
				}
			}
		}
	}
	return nil
}

func (s *slabSource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.caches))
	for i, c := range s.caches {
		out[i] = Instance{ID: c.id, Name: s.ids.name(c.id)}
	}
	return out, nil
}
