package metrics

import (
	"fmt"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// The "swaps" source: /proc/swaps, one line per swap device or file after a header:
// "Filename Type Size Used Priority", sizes in kilobytes. The instances of indom
// 60.6 are the file names as the kernel prints them (white space in a name escaped as
// \040), with ids that stay fixed while the collector runs. swapdev.vlength has no
// value: Linux has no separate virtual length for a swap area, and absent is not zero.
// A line with fewer than five fields or sizes that are not numbers is garbage and
// fails the source.

var indomSwapDev = protocol.NewInDom(DomainLinux, 6)

const (
	selSwapDevFree = iota
	selSwapDevLength
	selSwapDevMax
	selSwapDevVLength
	selSwapDevPriority
)

var swapsHelp = map[int]helpText{
	selSwapDevFree:     {"unused space on each swap device", "The Size column less the Used column of /proc/swaps, in kilobytes."},
	selSwapDevLength:   {"size of each swap device", "The Size column of /proc/swaps, in kilobytes."},
	selSwapDevMax:      {"largest size each swap device may have", "The Size column of /proc/swaps, in kilobytes: Linux swap areas do not grow."},
	selSwapDevVLength:  {"virtual size of each swap device", "Never has a value on Linux, whose /proc/swaps has no virtual size."},
	selSwapDevPriority: {"order in which swap devices are used", "The Priority column of /proc/swaps: higher is used first; negative when\nthe kernel chose it."},
}

func init() {
	setOwnInDomHelp(indomSwapDev, "swap devices and files",
		"Each swap area in use, named by the Filename column of /proc/swaps.")
	registerSource(&sourceSpec{
		name:   "swaps",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomSwapDev},
		new:    func(e *env) Source { return &swapsSource{file: newKfile(filepath.Join(e.procRoot, "swaps"))} },
		metrics: []metricDef{
			{"swapdev.free", pmid(60, 6, 0), tU32, indomSwapDev, semI, uKB, selSwapDevFree},
			{"swapdev.length", pmid(60, 6, 1), tU32, indomSwapDev, semD, uKB, selSwapDevLength},
			{"swapdev.maxswap", pmid(60, 6, 2), tU32, indomSwapDev, semD, uKB, selSwapDevMax},
			{"swapdev.vlength", pmid(60, 6, 3), tU32, indomSwapDev, semD, uKB, selSwapDevVLength},
			{"swapdev.priority", pmid(60, 6, 4), tI32, indomSwapDev, semI, uNone, selSwapDevPriority},
		},
		help: func(d metricDef) helpText { return swapsHelp[d.sel] },
	})
}

type swapArea struct {
	id               uint32
	size, used, prio int64
}

type swapsSource struct {
	file  *kfile
	buf   []byte
	ids   idCache
	areas []swapArea
}

func (s *swapsSource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.areas = s.areas[:0]
	_, rest := nextLine(b) // the header
	for len(rest) > 0 {
		var line []byte
		line, rest = nextLine(rest)
		name, r := nextField(line)
		if len(name) == 0 {
			continue
		}
		var f [4][]byte
		for i := range f {
			f[i], r = nextField(r)
		}
		size, ok1 := parseInt(f[1])
		used, ok2 := parseInt(f[2])
		prio, ok3 := parseInt(f[3])
		if !ok1 || !ok2 || !ok3 || size < 0 || used < 0 || used > size {
			return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
		}
		if len(s.areas) >= 4096 {
			return fmt.Errorf("%s: %w: more swap areas than any kernel allows", s.file.path, errParse)
		}
		s.areas = append(s.areas, swapArea{s.ids.id(name), size, used, prio})
	}
	return nil
}

func (s *swapsSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	for _, rq := range reqs {
		for _, a := range s.areas {
			switch rq.Sel {
			case selSwapDevFree:
				putU32(rq.Res, a.id, a.size-a.used)
			case selSwapDevLength, selSwapDevMax:
				putU32(rq.Res, a.id, a.size)
			case selSwapDevPriority:
				if a.prio >= -1<<31 && a.prio <= 1<<31-1 {
					putI(rq.Res, a.id, a.prio)
				}
			}
		}
	}
	return nil
}

// putU32 adds a value of a 32-bit unsigned metric, none when it does not fit.
func putU32(res *Result, inst uint32, v int64) {
	if v >= 0 && v <= 1<<32-1 {
		putU(res, inst, uint64(v))
	}
}

func (s *swapsSource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.areas))
	for i, a := range s.areas {
		out[i] = Instance{ID: a.id, Name: s.ids.name(a.id)}
	}
	return out, nil
}
