package metrics

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/gopcp/gopcp/protocol"
)

// The "stat" source: /proc/stat (CPU times, interrupts, context switches, forks,
// running/blocked processes, boot time, CPU count, and the 2.4-era swap line).
//
// procfs's Stat() is not used here: it converts jiffies to float seconds and fills
// fields a kernel does not print (steal, guest, ...) with 0, so it cannot tell absent
// from zero, and it parses every number of the long intr line. This parser keeps the
// integer jiffies, counts the fields each cpu line has, and skips what it does not
// need.

// userHZ is USER_HZ, the unit of /proc/stat CPU times (sysconf(_SC_CLK_TCK)). It is
// 100 on every Linux architecture the collector is built for.
const userHZ = 100

const (
	cpuUser = iota
	cpuNice
	cpuSys
	cpuIdle
	cpuWait
	cpuIRQ
	cpuSoftIRQ
	cpuSteal
	cpuGuest
	cpuGuestNice
	cpuFields
)

const (
	selAllUser = iota
	selAllNice
	selAllSys
	selAllIdle
	selAllIntr
	selAllWait
	selAllSoft
	selAllHard
	selAllSteal
	selAllGuest
	selPerUser
	selPerNice
	selPerSys
	selPerIdle
	selPerWait
	selIntr
	selPswitch
	selSysfork
	selRunning
	selBlocked
	selBoottime
	selNCPU
	selSwapIn
	selSwapOut
)

func init() {
	registerSource(&sourceSpec{
		name:   "stat",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomCPU},
		new:    func(e *env) Source { return &statSource{file: newKfile(filepath.Join(e.procRoot, "stat"))} },
		metrics: []metricDef{
			{"kernel.all.cpu.user", pmid(60, 0, 20), tU64, null, semC, uMsec, selAllUser},
			{"kernel.all.cpu.nice", pmid(60, 0, 21), tU64, null, semC, uMsec, selAllNice},
			{"kernel.all.cpu.sys", pmid(60, 0, 22), tU64, null, semC, uMsec, selAllSys},
			{"kernel.all.cpu.idle", pmid(60, 0, 23), tU64, null, semC, uMsec, selAllIdle},
			{"kernel.all.cpu.intr", pmid(60, 0, 34), tU64, null, semC, uMsec, selAllIntr},
			{"kernel.all.cpu.wait.total", pmid(60, 0, 35), tU64, null, semC, uMsec, selAllWait},
			{"kernel.all.cpu.irq.soft", pmid(60, 0, 53), tU64, null, semC, uMsec, selAllSoft},
			{"kernel.all.cpu.irq.hard", pmid(60, 0, 54), tU64, null, semC, uMsec, selAllHard},
			{"kernel.all.cpu.steal", pmid(60, 0, 55), tU64, null, semC, uMsec, selAllSteal},
			{"kernel.all.cpu.guest", pmid(60, 0, 60), tU64, null, semC, uMsec, selAllGuest},
			{"kernel.percpu.cpu.user", pmid(60, 0, 0), tU64, indomCPU, semC, uMsec, selPerUser},
			{"kernel.percpu.cpu.nice", pmid(60, 0, 1), tU64, indomCPU, semC, uMsec, selPerNice},
			{"kernel.percpu.cpu.sys", pmid(60, 0, 2), tU64, indomCPU, semC, uMsec, selPerSys},
			{"kernel.percpu.cpu.idle", pmid(60, 0, 3), tU64, indomCPU, semC, uMsec, selPerIdle},
			{"kernel.percpu.cpu.wait.total", pmid(60, 0, 30), tU64, indomCPU, semC, uMsec, selPerWait},
			{"kernel.all.intr", pmid(60, 0, 12), tU64, null, semC, uCount, selIntr},
			{"kernel.all.pswitch", pmid(60, 0, 13), tU64, null, semC, uCount, selPswitch},
			{"kernel.all.sysfork", pmid(60, 0, 14), tU64, null, semC, uCount, selSysfork},
			{"kernel.all.running", pmid(60, 0, 15), tU64, null, semI, uNone, selRunning},
			{"kernel.all.blocked", pmid(60, 0, 16), tU64, null, semI, uNone, selBlocked},
			{"kernel.all.boottime", pmid(60, 0, 17), tI64, null, semD, uSec, selBoottime},
			{"hinv.ncpu", pmid(60, 0, 32), tU32, null, semD, uNone, selNCPU},
			{"swap.in", pmid(60, 0, 10), tU32, null, semC, uCount, selSwapIn},
			{"swap.out", pmid(60, 0, 11), tU32, null, semC, uCount, selSwapOut},
		},
	})
	registerSource(&sourceSpec{
		name:   "clock",
		domain: DomainLinux,
		new:    func(*env) Source { return clockSource{} },
		metrics: []metricDef{
			{"kernel.all.hz", pmid(60, 0, 48), tU32, null, semD, uCPS, 0},
		},
	})
}

// cpuTimes is one cpu line: the jiffies of its first n fields.
type cpuTimes struct {
	id uint32
	n  int
	v  [cpuFields]uint64
}

// field returns the value of field f in milliseconds, if the kernel printed it.
func (c *cpuTimes) field(f int) optU {
	if f >= c.n {
		return optU{}
	}
	return optU{c.v[f] * 1000 / userHZ, true}
}

type statSource struct {
	file *kfile
	buf  []byte

	// the last read
	all                                 cpuTimes
	haveAll                             bool
	per                                 []cpuTimes
	intr, ctxt, procs, running, blocked optU
	btime                               optU
	swapIn, swapOut                     optU
	haveSwap                            bool
	cpuNames                            []string // "cpuN" by N, cached
}

func (s *statSource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.haveAll, s.haveSwap = false, false
	s.per = s.per[:0]
	s.intr, s.ctxt, s.procs, s.running, s.blocked, s.btime = optU{}, optU{}, optU{}, optU{}, optU{}, optU{}
	s.swapIn, s.swapOut = optU{}, optU{}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		key, vals := nextField(line)
		switch {
		case len(key) >= 3 && key[0] == 'c' && key[1] == 'p' && key[2] == 'u':
			var ct cpuTimes
			if err := parseCPULine(vals, &ct); err != nil {
				return fmt.Errorf("%s: %s: %w", s.file.path, key, err)
			}
			if len(key) == 3 {
				s.all, s.haveAll = ct, true
				continue
			}
			id, ok := parseUint(key[3:])
			if !ok || id > 1<<20 {
				return fmt.Errorf("%s: %q: %w", s.file.path, key, errParse)
			}
			ct.id = uint32(id)
			s.per = append(s.per, ct)
		case bytes.Equal(key, []byte("intr")):
			s.intr = firstUint(vals)
		case bytes.Equal(key, []byte("ctxt")):
			s.ctxt = firstUint(vals)
		case bytes.Equal(key, []byte("processes")):
			s.procs = firstUint(vals)
		case bytes.Equal(key, []byte("procs_running")):
			s.running = firstUint(vals)
		case bytes.Equal(key, []byte("procs_blocked")):
			s.blocked = firstUint(vals)
		case bytes.Equal(key, []byte("btime")):
			s.btime = firstUint(vals)
		case bytes.Equal(key, []byte("swap")):
			// Linux 2.4: "swap <pages in> <pages out>"
			f1, r := nextField(vals)
			f2, _ := nextField(r)
			in, ok1 := parseUint(f1)
			out, ok2 := parseUint(f2)
			if ok1 && ok2 {
				s.swapIn, s.swapOut, s.haveSwap = optU{in, true}, optU{out, true}, true
			}
		}
	}
	if !s.haveAll {
		return fmt.Errorf("%s: %w: no cpu line", s.file.path, errParse)
	}
	return nil
}

// parseCPULine parses the numbers after "cpu" or "cpuN"; at least user, nice, system
// and idle must be there.
func parseCPULine(b []byte, ct *cpuTimes) error {
	for ct.n < cpuFields {
		var f []byte
		f, b = nextField(b)
		if len(f) == 0 {
			break
		}
		v, ok := parseUint(f)
		if !ok {
			return errParse
		}
		ct.v[ct.n] = v
		ct.n++
	}
	if ct.n < 4 {
		return errParse
	}
	return nil
}

func firstUint(b []byte) optU {
	f, _ := nextField(b)
	v, ok := parseUint(f)
	return optU{v, ok}
}

func (s *statSource) cpuName(id uint32) string {
	for uint32(len(s.cpuNames)) <= id {
		s.cpuNames = append(s.cpuNames, "cpu"+strconv.Itoa(len(s.cpuNames)))
	}
	return s.cpuNames[id]
}

func (s *statSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	in := protocol.InNull
	for _, rq := range reqs {
		res := rq.Res
		switch rq.Sel {
		case selAllUser:
			putOptU(res, in, s.all.field(cpuUser))
		case selAllNice:
			putOptU(res, in, s.all.field(cpuNice))
		case selAllSys:
			putOptU(res, in, s.all.field(cpuSys))
		case selAllIdle:
			putOptU(res, in, s.all.field(cpuIdle))
		case selAllIntr:
			hard, soft := s.all.field(cpuIRQ), s.all.field(cpuSoftIRQ)
			if hard.ok && soft.ok {
				putU(res, in, hard.v+soft.v)
			}
		case selAllWait:
			putOptU(res, in, s.all.field(cpuWait))
		case selAllSoft:
			putOptU(res, in, s.all.field(cpuSoftIRQ))
		case selAllHard:
			putOptU(res, in, s.all.field(cpuIRQ))
		case selAllSteal:
			putOptU(res, in, s.all.field(cpuSteal))
		case selAllGuest:
			putOptU(res, in, s.all.field(cpuGuest))
		case selPerUser, selPerNice, selPerSys, selPerIdle, selPerWait:
			f := [...]int{cpuUser, cpuNice, cpuSys, cpuIdle, cpuWait}[rq.Sel-selPerUser]
			for i := range s.per {
				putOptU(res, s.per[i].id, s.per[i].field(f))
			}
		case selIntr:
			putOptU(res, in, s.intr)
		case selPswitch:
			putOptU(res, in, s.ctxt)
		case selSysfork:
			putOptU(res, in, s.procs)
		case selRunning:
			putOptU(res, in, s.running)
		case selBlocked:
			putOptU(res, in, s.blocked)
		case selBoottime:
			putOptU(res, in, s.btime)
		case selNCPU:
			if len(s.per) > 0 {
				putU(res, in, uint64(len(s.per)))
			}
		case selSwapIn, selSwapOut:
			// Only 2.4 kernels print the swap line; the linux agent answers
			// PM_ERR_APPVERSION for these on anything newer.
			if !s.haveSwap {
				res.Err = protocol.ErrAppVersion
				continue
			}
			v := s.swapIn
			if rq.Sel == selSwapOut {
				v = s.swapOut
			}
			putU(res, in, uint64(uint32(v.v)))
		}
	}
	return nil
}

func (s *statSource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.per))
	for i := range s.per {
		out[i] = Instance{ID: s.per[i].id, Name: s.cpuName(s.per[i].id)}
	}
	return out, nil
}

// clockSource answers kernel.all.hz, which needs no file.
type clockSource struct{}

func (clockSource) Fetch(reqs []Request) error {
	for _, rq := range reqs {
		putU(rq.Res, protocol.InNull, userHZ)
	}
	return nil
}
