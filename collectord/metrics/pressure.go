package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// The "pressure" source: pressure stall information, /proc/pressure/{cpu,memory,io,irq}
// (Linux 4.20 and later; irq since 6.1, with CONFIG_IRQ_TIME_ACCOUNTING). Each file has
// a "some" line (time some task was stalled) and, except cpu before 5.13 where it is
// meaningless, a "full" line (time all non-idle tasks were): three running averages in
// percent and a total in microseconds. A file the kernel does not have gives no values;
// a file that is not in that format is an error.

// indomPressure: the three averaging windows (60.37), ids in seconds as the linux
// agent has them.
var indomPressure = protocol.NewInDom(DomainLinux, 37)

// uUsec is microseconds: time dimension 1, time scale PM_TIME_USEC (1).
const uUsec = protocol.Units(0x01001000)

var pressureInstances = []Instance{{ID: 10, Name: "10 second"}, {ID: 60, Name: "1 minute"}, {ID: 300, Name: "5 minute"}}

// pressureFiles: the resource of each file and the PMID cluster of its metrics.
var pressureFiles = []struct {
	name    string
	cluster uint32
	lines   []string // the lines served, in item order
}{
	{"cpu", 83, []string{"some"}},
	{"memory", 84, []string{"some", "full"}},
	{"io", 85, []string{"some", "full"}},
	{"irq", 93, []string{"full"}},
}

// A selector is file*4 + line*2 + (0 for the averages, 1 for the total), line being
// the index of "some" or "full" in the file's lines.
func pressureMetrics() []metricDef {
	var defs []metricDef
	for fi, f := range pressureFiles {
		for li, l := range f.lines {
			base := "kernel.all.pressure." + f.name + "." + l
			sel := fi*4 + li*2
			defs = append(defs,
				metricDef{base + ".avg", pmid(60, f.cluster, uint32(li*2)), tFLT, indomPressure, semI, uNone, sel},
				metricDef{base + ".total", pmid(60, f.cluster, uint32(li*2+1)), tU64, null, semC, uUsec, sel + 1})
		}
	}
	return defs
}

func pressureHelp(d metricDef) helpText {
	f := pressureFiles[d.sel/4]
	line := f.lines[d.sel%4/2]
	who := "at least one task"
	if line == "full" {
		who = "every non-idle task at once"
	}
	file := "/proc/pressure/" + f.name
	if d.sel%2 == 1 {
		return helpText{"total time " + who + " stalled waiting for " + f.name,
			"The total= field of the \"" + line + "\" line of " + file + ", in microseconds.\n" +
				"No value when the kernel does not have the file."}
	}
	return helpText{"share of recent time " + who + " stalled waiting for " + f.name + ", in percent",
		"The avg10=, avg60= and avg300= fields of the \"" + line + "\" line of " + file + ":\n" +
			"running averages over 10, 60 and 300 seconds. No value when the kernel does not\n" +
			"have the file."}
}

func init() {
	setOwnInDomHelp(indomPressure, "pressure stall averaging windows",
		"The windows /proc/pressure files average stall time over, each identified by its\n"+
			"length in seconds (10, 60, 300).")
	registerSource(&sourceSpec{
		name:   "pressure",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomPressure},
		new: func(e *env) Source {
			s := &pressureSource{}
			for i, f := range pressureFiles {
				s.files[i] = newKfile(filepath.Join(e.procRoot, "pressure", f.name))
			}
			return s
		},
		metrics: pressureMetrics(),
		help:    pressureHelp,
	})
}

// psiLine is one parsed line: the three averages and the total.
type psiLine struct {
	avg   [3]float64
	total uint64
	ok    bool
}

type pressureSource struct {
	files [4]*kfile
	buf   []byte
	lines [4][2]psiLine // by file, by "some"/"full" (not the served line order)
}

// readFile parses file i into s.lines[i]; a missing file leaves it empty.
func (s *pressureSource) readFile(i int) error {
	s.lines[i] = [2]psiLine{}
	b, err := s.files[i].read(s.buf)
	s.buf = b
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		kind, r := nextField(line)
		var slot int
		switch {
		case len(kind) == 0:
			continue
		case bytes.Equal(kind, []byte("some")):
			slot = 0
		case bytes.Equal(kind, []byte("full")):
			slot = 1
		default:
			return fmt.Errorf("%s: %w: %q", s.files[i].path, errParse, kind)
		}
		var l psiLine
		for j, key := range []string{"avg10=", "avg60=", "avg300=", "total="} {
			var f []byte
			f, r = nextField(r)
			if !bytes.HasPrefix(f, []byte(key)) {
				return fmt.Errorf("%s: %w: %q", s.files[i].path, errParse, line)
			}
			f = f[len(key):]
			var ok bool
			if j < 3 {
				l.avg[j], ok = parseFloat(f)
			} else {
				l.total, ok = parseUint(f)
			}
			if !ok {
				return fmt.Errorf("%s: %w: %q", s.files[i].path, errParse, line)
			}
		}
		l.ok = true
		s.lines[i][slot] = l
	}
	return nil
}

func (s *pressureSource) Fetch(reqs []Request) error {
	var need [4]bool
	for _, rq := range reqs {
		need[rq.Sel/4] = true
	}
	var errs [4]error
	failed, asked := 0, 0
	for i := range need {
		if need[i] {
			asked++
			if errs[i] = s.readFile(i); errs[i] != nil {
				failed++
			}
		}
	}
	for _, rq := range reqs {
		fi := rq.Sel / 4
		if errs[fi] != nil {
			rq.Res.Err = protocol.ErrValue
			continue
		}
		slot := 0
		if pressureFiles[fi].lines[rq.Sel%4/2] == "full" {
			slot = 1
		}
		l := &s.lines[fi][slot]
		if !l.ok {
			continue
		}
		if rq.Sel%2 == 1 {
			putU(rq.Res, protocol.InNull, l.total)
			continue
		}
		for j, in := range pressureInstances {
			putF(rq.Res, in.ID, l.avg[j])
		}
	}
	// The source as a whole failed (and is counted) only when every file asked for did.
	if failed > 0 && failed == asked {
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *pressureSource) Instances(protocol.InDom) ([]Instance, error) {
	return append([]Instance(nil), pressureInstances...), nil
}
