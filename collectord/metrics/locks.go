package metrics

import (
	"fmt"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// The "locks" source: /proc/locks, one line per file lock held
// ("1: POSIX  ADVISORY  WRITE 1234 08:01:1311 0 EOF"), counted by kind and by access
// (vfs.locks.*). POSIX, ACCESS and OFDLCK locks count as posix, FLOCK as flock,
// LEASE and DELEG as lease; an RW lock counts as both a read and a write. Lines
// for waiting requests ("1: -> POSIX ...") are not held locks and are skipped, as
// are kinds a newer kernel may add. A line that does not start with "N:" is garbage
// and fails the source. procfs has no parser for this file.

const (
	lockPosix = iota
	lockFlock
	lockLease
)

var locksHelp = map[int]helpText{}

func init() {
	var defs []metricDef
	kinds := []string{"posix", "flock", "lease"}
	what := []string{"POSIX, ACCESS and OFDLCK", "FLOCK", "LEASE and DELEG"}
	items := [3][3]uint32{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}} // read, write, count
	for k, kind := range kinds {
		for j, f := range []string{"read", "write", "count"} {
			sel := k*3 + j
			defs = append(defs, metricDef{"vfs.locks." + kind + "." + f, pmid(60, 75, items[k][j]), tU32, null, semI, uNone, sel})
			switch f {
			case "count":
				locksHelp[sel] = helpText{kind + " locks held", "Lines of /proc/locks for " + what[k] + " locks."}
			default:
				locksHelp[sel] = helpText{kind + " locks held for " + f + "ing",
					"Lines of /proc/locks for " + what[k] + " locks whose access is " + map[string]string{"read": "READ", "write": "WRITE"}[f] + " or RW."}
			}
		}
	}
	registerSource(&sourceSpec{
		name:    "locks",
		domain:  DomainLinux,
		new:     func(e *env) Source { return &locksSource{file: newKfile(filepath.Join(e.procRoot, "locks"))} },
		metrics: defs,
		help:    func(d metricDef) helpText { return locksHelp[d.sel] },
	})
}

type locksSource struct {
	file *kfile
	buf  []byte
}

// lockCounts is read, write and count per kind.
type lockCounts [3][3]uint64

func parseLocks(b []byte) (lockCounts, error) {
	var c lockCounts
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		n, r := nextField(line)
		if len(n) == 0 {
			continue
		}
		if len(n) < 2 || n[len(n)-1] != ':' {
			return c, fmt.Errorf("%w: line %q", errParse, line)
		}
		if _, ok := parseUint(n[:len(n)-1]); !ok {
			return c, fmt.Errorf("%w: line %q", errParse, line)
		}
		typ, r := nextField(r)
		_, r = nextField(r) // ADVISORY or MANDATORY
		access, _ := nextField(r)
		k := -1
		switch string(typ) {
		case "POSIX", "ACCESS", "OFDLCK":
			k = lockPosix
		case "FLOCK":
			k = lockFlock
		case "LEASE", "DELEG":
			k = lockLease
		}
		if k < 0 {
			continue // a waiter ("->") or a kind we do not count
		}
		c[k][2]++
		switch string(access) {
		case "READ":
			c[k][0]++
		case "WRITE":
			c[k][1]++
		case "RW":
			c[k][0]++
			c[k][1]++
		}
	}
	return c, nil
}

func (s *locksSource) Fetch(reqs []Request) error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	c, err := parseLocks(b)
	if err != nil {
		return fmt.Errorf("%s: %w", s.file.path, err)
	}
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < 9 {
			if v := c[rq.Sel/3][rq.Sel%3]; v <= 1<<32-1 {
				putU(rq.Res, protocol.InNull, v)
			}
		}
	}
	return nil
}
