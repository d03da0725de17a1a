package metrics

import (
	"fmt"
	"path/filepath"

	"github.com/prometheus/procfs"

	"github.com/gopcp/gopcp/protocol"
)

// The "softnet" source: /proc/net/softnet_stat, the kernel's per-CPU counters of
// packet processing in the network receive softirq (network.softnet.percpu.*, on the
// CPU instance domain) and their sums over the CPUs (network.softnet.*).
//
// procfs (NetSoftnetStat) parses the file: it reads the hexadecimal columns, rejects
// a row that is short, negative or too big, says how many columns each row has
// (Width), so a column an older kernel does not print is told from a zero, and gives
// the CPU each row belongs to (the kernel prints it since 5.14; before that, rows
// are in CPU order). A column is served only where the kernel prints it: received_rps
// needs 10 columns, flow_limit_count 11. A sum is served only when every row has the
// column, so it never leaves out a CPU. A file procfs refuses, or two rows for one
// CPU, fails the source (counted), rather than give a CPU another's counts.

type softnetField struct {
	name    string
	item    uint32 // of the sum; the per-CPU metric is item+6
	minCols int
	what    string
}

var softnetFields = []softnetField{
	{"processed", 0, 9, "packets the receive softirq processed"},
	{"dropped", 1, 9, "packets dropped because the CPU's input queue was full"},
	{"time_squeeze", 2, 9, "times the receive softirq stopped with work left (out of budget or time)"},
	{"cpu_collision", 3, 9, "transmit lock collisions (a column current kernels leave at 0)"},
	{"received_rps", 4, 10, "times the CPU was woken by another to process packets (RPS)"},
	{"flow_limit_count", 5, 11, "packets dropped by the flow limit"},
}

func softnetValue(st procfs.SoftnetStat, i int) uint64 {
	switch i {
	case 0:
		return uint64(st.Processed)
	case 1:
		return uint64(st.Dropped)
	case 2:
		return uint64(st.TimeSqueezed)
	case 3:
		return uint64(st.CPUCollision)
	case 4:
		return uint64(st.ReceivedRps)
	default:
		return uint64(st.FlowLimitCount)
	}
}

func init() {
	var defs []metricDef
	n := len(softnetFields)
	for i, f := range softnetFields {
		defs = append(defs, metricDef{"network.softnet." + f.name, pmid(60, 57, f.item), tU64, null, semC, uCount, i})
	}
	for i, f := range softnetFields {
		defs = append(defs, metricDef{"network.softnet.percpu." + f.name, pmid(60, 57, f.item+6), tU64, indomCPU, semC, uCount, n + i})
	}
	registerSource(&sourceSpec{
		name:   "softnet",
		domain: DomainLinux,
		new: func(e *env) Source {
			return &softnetSource{root: e.procRoot}
		},
		metrics: defs,
		help: func(d metricDef) helpText {
			if d.sel < 0 || d.sel >= 2*n {
				return helpText{}
			}
			f := softnetFields[d.sel%n]
			col := fmt.Sprintf("column %d of /proc/net/softnet_stat", f.item+1)
			if f.item == 3 {
				col = "column 9 of /proc/net/softnet_stat"
			} else if f.item > 3 {
				col = fmt.Sprintf("column %d of /proc/net/softnet_stat", f.item+6)
			}
			older := ""
			if f.minCols > 9 {
				older = " No value on a kernel too old to print the column."
			}
			if d.sel < n {
				return helpText{"all CPUs: " + f.what,
					"The sum over every CPU's row of " + col + ": " + f.what + "." + older}
			}
			return helpText{"per CPU: " + f.what,
				"For each CPU, " + col + " (the kernel's 32-bit counter, which wraps): " + f.what + "." + older}
		},
	})
}

type softnetSource struct {
	root string
	fs   *procfs.FS
}

func (s *softnetSource) Fetch(reqs []Request) error {
	path := filepath.Join(s.root, "net/softnet_stat")
	if fileHook != nil {
		fileHook(path)
	}
	if s.fs == nil {
		fs, err := procfs.NewFS(s.root)
		if err != nil {
			return err
		}
		s.fs = &fs
	}
	rows, err := s.fs.NetSoftnetStat()
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("%s: %w: no CPU rows", path, errParse)
	}
	seen := make(map[uint32]bool, len(rows))
	for _, r := range rows {
		if seen[r.Index] {
			return fmt.Errorf("%s: %w: two rows for CPU %d", path, errParse, r.Index)
		}
		seen[r.Index] = true
	}
	n := len(softnetFields)
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= 2*n {
			continue
		}
		i := rq.Sel % n
		f := softnetFields[i]
		if rq.Sel >= n {
			for _, r := range rows {
				if r.Width >= f.minCols {
					putU(rq.Res, r.Index, softnetValue(r, i))
				}
			}
			continue
		}
		var sum uint64
		all := true
		for _, r := range rows {
			all = all && r.Width >= f.minCols
			sum += softnetValue(r, i)
		}
		if all {
			putU(rq.Res, protocol.InNull, sum)
		}
	}
	return nil
}
