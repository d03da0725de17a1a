package metrics

import (
	"github.com/gopcp/gopcp/protocol"
)

// The "proc" source (the proc agent, domain 3): proc.nprocs, the number of process
// directories (/proc/[0-9]*), counted with getdents(2) without a stat per entry.

func init() {
	registerSource(&sourceSpec{
		name:   "proc",
		domain: DomainProc,
		new:    func(e *env) Source { return &procSource{root: e.procRoot} },
		metrics: []metricDef{
			{"proc.nprocs", pmid(3, 8, 99), tU32, null, semI, uNone, 0},
		},
	})
}

type procSource struct {
	root string
	buf  []byte
}

func (s *procSource) Fetch(reqs []Request) error {
	n := 0
	buf, err := listDir(s.root, s.buf, func(_ int, name []byte) {
		if len(name) > 0 && name[0] >= '1' && name[0] <= '9' {
			if _, ok := parseUint(name); ok {
				n++
			}
		}
	})
	s.buf = buf
	if err != nil {
		return err
	}
	for _, rq := range reqs {
		putU(rq.Res, protocol.InNull, uint64(n))
	}
	return nil
}
