package metrics

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// The "loadavg" source: /proc/loadavg, "0.03 0.08 0.03 1/86 5115" (load averages,
// runnable/total scheduling entities, last pid). procfs's LoadAvg() stops after the
// three averages, and kernel.all.nprocs is the total after the slash, so the line is
// parsed here.
//
// The "uptime" source: /proc/uptime, "202.41 344.36" (seconds up, seconds idle).

const (
	selLoad = iota
	selNprocs
	selRunnable
	selLastPid
)

// loadHelp: our own help for the loadavg metrics added since the first catalogue.
var loadHelp = map[int]helpText{
	selRunnable: {"scheduling entities (threads) runnable now",
		"The number before the slash in the fourth field of /proc/loadavg: threads\n" +
			"running or waiting for a CPU at the moment of the read."},
	selLastPid: {"most recently assigned process id",
		"The fifth field of /proc/loadavg: the last process (or thread) id the\n" +
			"kernel handed out in the collector's pid namespace."},
}

const (
	selUptime = iota
	selIdletime
)

func init() {
	registerSource(&sourceSpec{
		name:   "loadavg",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomLoad},
		new:    func(e *env) Source { return &loadSource{file: newKfile(filepath.Join(e.procRoot, "loadavg"))} },
		metrics: []metricDef{
			{"kernel.all.load", pmid(60, 2, 0), tFLT, indomLoad, semI, uNone, selLoad},
			{"kernel.all.nprocs", pmid(60, 2, 3), tU32, null, semI, uNone, selNprocs},
			{"kernel.all.runnable", pmid(60, 2, 2), tU32, null, semI, uNone, selRunnable},
			{"kernel.all.lastpid", pmid(60, 2, 1), tU32, null, semI, uNone, selLastPid},
		},
		help: func(d metricDef) helpText { return loadHelp[d.sel] },
	})
	registerSource(&sourceSpec{
		name:   "uptime",
		domain: DomainLinux,
		new:    func(e *env) Source { return &uptimeSource{file: newKfile(filepath.Join(e.procRoot, "uptime"))} },
		metrics: []metricDef{
			{"kernel.all.uptime", pmid(60, 26, 0), tDBL, null, semI, uSec, selUptime},
			{"kernel.all.idletime", pmid(60, 26, 1), tDBL, null, semI, uSec, selIdletime},
		},
	})
}

// The load average instances: ids are the minutes, as in the linux agent.
var loadInstances = []Instance{{ID: 1, Name: "1 minute"}, {ID: 5, Name: "5 minute"}, {ID: 15, Name: "15 minute"}}

type loadSource struct {
	file *kfile
	buf  []byte
}

func (s *loadSource) Fetch(reqs []Request) error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	var avg [3]float64
	rest := b
	for i := range avg {
		var f []byte
		f, rest = nextField(rest)
		v, ok := parseFloat(f)
		if !ok {
			return fmt.Errorf("%s: %w", s.file.path, errParse)
		}
		avg[i] = v
	}
	var total, runnable optU
	f, rest := nextField(rest)
	if i := bytes.IndexByte(f, '/'); i >= 0 {
		total.v, total.ok = parseUint(f[i+1:])
		runnable.v, runnable.ok = parseUint(f[:i])
	}
	lastPid := firstUint(rest)
	// Both are 32-bit metrics: a larger number is not a real count, so not served.
	runnable.ok = runnable.ok && runnable.v <= 1<<32-1
	lastPid.ok = lastPid.ok && lastPid.v <= 1<<32-1
	for _, rq := range reqs {
		switch rq.Sel {
		case selLoad:
			for i, inst := range loadInstances {
				putF(rq.Res, inst.ID, avg[i])
			}
		case selNprocs:
			putOptU(rq.Res, protocol.InNull, total)
		case selRunnable:
			putOptU(rq.Res, protocol.InNull, runnable)
		case selLastPid:
			putOptU(rq.Res, protocol.InNull, lastPid)
		}
	}
	return nil
}

func (s *loadSource) Instances(protocol.InDom) ([]Instance, error) {
	return append([]Instance(nil), loadInstances...), nil
}

type uptimeSource struct {
	file *kfile
	buf  []byte
}

func (s *uptimeSource) Fetch(reqs []Request) error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	f1, rest := nextField(b)
	f2, _ := nextField(rest)
	up, ok := parseFloat(f1)
	if !ok {
		return fmt.Errorf("%s: %w", s.file.path, errParse)
	}
	idle, idleOK := parseFloat(f2)
	for _, rq := range reqs {
		switch rq.Sel {
		case selUptime:
			putF(rq.Res, protocol.InNull, up)
		case selIdletime:
			if idleOK {
				putF(rq.Res, protocol.InNull, idle)
			}
		}
	}
	return nil
}
