package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// The "sysfskernel" source: /sys/kernel/uevent_seqnum (sysfs.kernel.uevent_seqnum,
// the count of device events the kernel has sent) and the external fragmentation
// index of each NUMA node's Normal zone from debugfs,
// /sys/kernel/debug/extfrag/unusable_index (sysfs.kernel.debug.extfrag_unusable,
// the sum of the per-order indexes, as the linux agent reports it). debugfs is
// usually not mounted, or readable by root only: the second metric then has no
// value, and that is not an error. Both files are one-liners procfs does not parse.

const (
	selUeventSeqnum = iota
	selExtfrag
)

func init() {
	registerSource(&sourceSpec{
		name:   "sysfskernel",
		domain: DomainLinux,
		new: func(e *env) Source {
			return &sysfsKernelSource{
				seq:     newKfile(filepath.Join(e.sysRoot, "kernel/uevent_seqnum")),
				extfrag: newKfile(filepath.Join(e.sysRoot, "kernel/debug/extfrag/unusable_index")),
			}
		},
		metrics: []metricDef{
			{"sysfs.kernel.uevent_seqnum", pmid(60, 35, 0), tU64, null, semC, uCount, selUeventSeqnum},
			{"sysfs.kernel.debug.extfrag_unusable", pmid(60, 35, 1), tFLT, indomNode, semI, uNone, selExtfrag},
		},
		help: func(d metricDef) helpText {
			switch d.sel {
			case selUeventSeqnum:
				return helpText{"device events the kernel has sent", "The number in /sys/kernel/uevent_seqnum: the sequence number of the last\nuevent (device add, remove, change) sent to user space."}
			case selExtfrag:
				return helpText{"unusable free memory index of each node's Normal zone",
					"The sum of the per-order values of the Normal zone line of each node in\n/sys/kernel/debug/extfrag/unusable_index (debugfs). No value when debugfs is\nnot mounted or not readable."}
			}
			return helpText{}
		},
	})
}

type sysfsKernelSource struct {
	seq, extfrag *kfile
	buf          []byte
	partial      atomic.Uint64
}

// PartialErrors counts fetches in which one file failed while the other served.
func (s *sysfsKernelSource) PartialErrors() uint64 { return s.partial.Load() }

func (s *sysfsKernelSource) Fetch(reqs []Request) error {
	var need [2]bool
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < 2 {
			need[rq.Sel] = true
		}
	}
	var seq optU
	var seqErr, fragErr error
	if need[selUeventSeqnum] {
		b, err := s.seq.read(s.buf)
		s.buf = b
		if err == nil {
			if seq.v, seq.ok = parseUint(trimSpace(b)); !seq.ok {
				err = fmt.Errorf("%s: %w: %.40q", s.seq.path, errParse, b)
			}
		}
		seqErr = err
	}
	var frag []nodeFrag
	if need[selExtfrag] {
		b, err := s.extfrag.read(s.buf)
		s.buf = b
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
			// debugfs not mounted, or not ours to read: no value
		case err != nil:
			fragErr = err
		default:
			if frag, err = parseExtfrag(b); err != nil {
				fragErr = fmt.Errorf("%s: %w", s.extfrag.path, err)
			}
		}
	}
	if (seqErr != nil || !need[selUeventSeqnum]) && (fragErr != nil || !need[selExtfrag]) && (seqErr != nil || fragErr != nil) {
		return errors.Join(seqErr, fragErr)
	}
	if seqErr != nil || fragErr != nil {
		s.partial.Add(1)
	}
	for _, rq := range reqs {
		switch rq.Sel {
		case selUeventSeqnum:
			if seqErr != nil {
				rq.Res.Err = errCode(seqErr)
			} else {
				putOptU(rq.Res, protocol.InNull, seq)
			}
		case selExtfrag:
			if fragErr != nil {
				rq.Res.Err = errCode(fragErr)
				continue
			}
			for _, f := range frag {
				putF(rq.Res, f.node, f.sum)
			}
		}
	}
	return nil
}

type nodeFrag struct {
	node uint32
	sum  float64
}

// parseExtfrag reads "Node 0, zone   Normal 0.000 0.012 ..." lines; only the Normal
// zones count.
func parseExtfrag(b []byte) ([]nodeFrag, error) {
	var out []nodeFrag
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		w, r := nextField(line)
		if len(w) == 0 {
			continue
		}
		n, r := nextField(r)
		z, r := nextField(r)
		zone, r := nextField(r)
		if string(w) != "Node" || len(n) < 2 || n[len(n)-1] != ',' || string(z) != "zone" {
			return nil, fmt.Errorf("%w: line %q", errParse, line)
		}
		node, ok := parseUint(n[:len(n)-1])
		if !ok || node > 1<<16 {
			return nil, fmt.Errorf("%w: line %q", errParse, line)
		}
		if string(zone) != "Normal" {
			continue
		}
		sum, count := 0.0, 0
		for {
			var f []byte
			f, r = nextField(r)
			if len(f) == 0 {
				break
			}
			v, ok := parseFloat(f)
			if !ok || v < 0 || v > 1 {
				return nil, fmt.Errorf("%w: line %q", errParse, line)
			}
			sum += v
			count++
		}
		if count == 0 || count > 64 {
			return nil, fmt.Errorf("%w: line %q", errParse, line)
		}
		out = append(out, nodeFrag{uint32(node), sum})
	}
	return out, nil
}
