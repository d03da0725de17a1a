package metrics

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/gopcp/gopcp/protocol"
)

// The "interrupts" source: /proc/interrupts and /proc/softirqs, one table each with a
// header of CPU columns ("CPU0 CPU1 ...") and one row per interrupt line or softirq
// kind. Served are the per-row totals (kernel.all.interrupts.total, indom 60.4;
// kernel.all.softirqs.total, indom 60.36), the per-CPU totals over all rows
// (kernel.percpu.intr, kernel.percpu.sirq: what pcp mpstat needs) and the ERR and
// MIS counters, and each row's count on each CPU (kernel.percpu.interrupts, indom
// 60.40; kernel.percpu.softirqs, indom 60.41; instances "LABEL::cpuN", row by row, as
// the linux agent names them; 32-bit counters that wrap as the agent's do). Both
// files are read only when one of their metrics is asked for.

var (
	indomIntrLine   = protocol.NewInDom(DomainLinux, 4)
	indomSoftirq    = protocol.NewInDom(DomainLinux, 36)
	indomIntrCPU    = protocol.NewInDom(DomainLinux, 40)
	indomSoftirqCPU = protocol.NewInDom(DomainLinux, 41)
)

const (
	selIntrTotal = iota
	selIntrMissed
	selIntrErrors
	selPerCPUIntr
	selSoftirqTotal
	selPerCPUSirq
	selIntrCell // kernel.percpu.interrupts
	selSirqCell // kernel.percpu.softirqs
)

// sirqSel: the metric reads /proc/softirqs (else /proc/interrupts).
func sirqSel(sel int) bool {
	return sel == selSoftirqTotal || sel == selPerCPUSirq || sel == selSirqCell
}

var intrHelp = map[int]helpText{
	selIntrTotal: {"interrupts delivered, per interrupt line",
		"Each row of /proc/interrupts (a numbered IRQ, or a kind such as LOC or NMI)\n" +
			"added up over all CPU columns."},
	selIntrMissed: {"interrupts the kernel missed",
		"The MIS row of /proc/interrupts (x86 only); no value where the kernel has none."},
	selIntrErrors: {"spurious or erroneous interrupts",
		"The ERR row of /proc/interrupts (x86 only); no value where the kernel has none."},
	selPerCPUIntr: {"interrupts delivered to each CPU",
		"The CPU's column of /proc/interrupts added up over every row except ERR and MIS."},
	selSoftirqTotal: {"softirqs run, per kind",
		"Each row of /proc/softirqs (HI, TIMER, NET_RX, ...) added up over all CPU columns."},
	selPerCPUSirq: {"softirqs run on each CPU",
		"The CPU's column of /proc/softirqs added up over every row."},
	selIntrCell: {"interrupts delivered, per interrupt line and CPU",
		"One count of /proc/interrupts: the row's (IRQ or kind's) count in the CPU's\n" +
			"column. A 32-bit counter: it wraps."},
	selSirqCell: {"softirqs run, per kind and CPU",
		"One count of /proc/softirqs: the row's (kind's) count in the CPU's column.\n" +
			"A 32-bit counter: it wraps."},
}

func init() {
	setOwnInDomHelp(indomIntrLine, "interrupt lines",
		"One instance per row of /proc/interrupts, named by its label without the colon\n"+
			"(\"24\", \"NMI\", \"LOC\", ...).")
	setOwnInDomHelp(indomSoftirq, "softirq kinds",
		"One instance per row of /proc/softirqs, named by its label (HI, TIMER, ...).")
	setOwnInDomHelp(indomIntrCPU, "interrupt lines on each CPU",
		"One instance per count of /proc/interrupts, row by row: LINE::cpuN (\"24::cpu0\",\n"+
			"\"LOC::cpu1\"), for every row with a count per CPU.")
	setOwnInDomHelp(indomSoftirqCPU, "softirq kinds on each CPU",
		"One instance per count of /proc/softirqs, row by row: KIND::cpuN (\"TIMER::cpu0\").")
	registerSource(&sourceSpec{
		name:   "interrupts",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomIntrLine, indomSoftirq, indomIntrCPU, indomSoftirqCPU},
		new: func(e *env) Source {
			return &intrSource{
				intr: intrTable{file: newKfile(filepath.Join(e.procRoot, "interrupts")), needErr: intrErrRowArch(runtime.GOARCH)},
				// Every kernel prints all its softirq kinds, RCU last.
				sirq: intrTable{file: newKfile(filepath.Join(e.procRoot, "softirqs")), lastRow: "RCU"},
			}
		},
		metrics: []metricDef{
			{"kernel.all.interrupts.total", pmid(60, 4, 0), tU64, indomIntrLine, semC, uCount, selIntrTotal},
			{"kernel.all.interrupts.missed", pmid(60, 4, 2), tU32, null, semC, uCount, selIntrMissed},
			{"kernel.all.interrupts.errors", pmid(60, 4, 3), tU32, null, semC, uCount, selIntrErrors},
			{"kernel.percpu.intr", pmid(60, 4, 4), tU64, indomCPU, semC, uCount, selPerCPUIntr},
			{"kernel.all.softirqs.total", pmid(60, 82, 0), tU64, indomSoftirq, semC, uCount, selSoftirqTotal},
			{"kernel.percpu.sirq", pmid(60, 63, 1), tU64, indomCPU, semC, uCount, selPerCPUSirq},
			{"kernel.percpu.interrupts", pmid(60, 4, 1), tU32, indomIntrCPU, semC, uCount, selIntrCell},
			{"kernel.percpu.softirqs", pmid(60, 63, 0), tU32, indomSoftirqCPU, semC, uCount, selSirqCell},
		},
		help: func(d metricDef) helpText { return intrHelp[d.sel] },
	})
}

// intrRow is one row of the table: its instance id, its total over all CPUs, and
// where its counts start in intrTable.cells.
type intrRow struct {
	id    uint32
	total uint64
	cell0 int
	// desc is what follows the counts (chip, trigger, handlers: "IO-APIC
	// 5-edge ACPI:Ged"), still in the read buffer: the agent labels the row's
	// instances with it ("irqtext"). Valid until the next read.
	desc []byte
}

// intrTable is one of the two files, parsed.
type intrTable struct {
	file          *kfile
	buf           []byte
	ids           idCache
	cpus          []uint32 // the CPU of each column, from the header
	perCPU        []uint64 // column sums, by column
	rows          []intrRow
	cells         []uint64 // each row's count per CPU column, row after row
	cellIDs       idCache  // instance ids of the cells, "LABEL::cpuN"
	cellName      []byte
	missed, error optU
	// whole: every row has one count per CPU column and the file ends as the
	// kernel ends it, so the column sums are right. A file cut short (a lost
	// tail, a last line without its end) gives no per-CPU totals: a sum over
	// fewer rows would be a wrong number, not a missing one.
	whole bool
	// lastRow is the label the kernel always prints last ("" when there is none
	// to check): RCU in /proc/softirqs.
	lastRow string
	// needErr: this architecture's kernel always prints an error-count row (ERR
	// on x86 and MIPS, Err on ARM) after the per-IRQ rows; a file without one lost
	// its tail. Other architectures print none, and there no cut can be seen.
	needErr bool
}

// intrErrRowArch: the architectures whose /proc/interrupts always has ERR or Err.
func intrErrRowArch(goarch string) bool {
	switch goarch {
	case "amd64", "386", "arm", "arm64", "mips", "mipsle", "mips64", "mips64le":
		return true
	}
	return false
}

// intrLabel reports whether a row label (without its colon) is one the kernel
// prints: an IRQ number, or an arch or softirq name in capitals (NMI, LOC, IPI0,
// NET_RX; arm's "Err"). Anything else is not a row of this file, and the file is
// not trusted.
func intrLabel(l []byte) bool {
	if len(l) == 0 || len(l) > 32 {
		return false
	}
	if _, ok := parseUint(l); ok {
		return true
	}
	if l[0] < 'A' || l[0] > 'Z' {
		return false
	}
	for _, c := range l {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '/') {
			return false
		}
	}
	return true
}

func (t *intrTable) read() error {
	b, err := t.file.read(t.buf)
	t.buf = b
	if err != nil {
		return err
	}
	t.cpus, t.rows, t.perCPU, t.cells = t.cpus[:0], t.rows[:0], t.perCPU[:0], t.cells[:0]
	t.missed, t.error = optU{}, optU{}
	// The kernel ends every line; a last line without its newline was cut.
	t.whole = len(b) > 0 && b[len(b)-1] == '\n'
	header, rest := nextLine(b)
	for h := header; ; {
		var f []byte
		f, h = nextField(h)
		if len(f) == 0 {
			break
		}
		id, ok := parseUint(bytes.TrimPrefix(f, []byte("CPU")))
		if !bytes.HasPrefix(f, []byte("CPU")) || !ok || id >= 1<<20 {
			return fmt.Errorf("%s: %w: header %q", t.file.path, errParse, f)
		}
		t.cpus = append(t.cpus, uint32(id))
		t.perCPU = append(t.perCPU, 0)
	}
	if len(t.cpus) == 0 {
		return fmt.Errorf("%s: %w: no CPU columns", t.file.path, errParse)
	}
	var last []byte
	sawErr := false
	for len(rest) > 0 {
		var line []byte
		line, rest = nextLine(rest)
		label, r := nextField(line)
		if len(label) == 0 {
			continue
		}
		if label[len(label)-1] != ':' || !intrLabel(label[:len(label)-1]) {
			return fmt.Errorf("%s: %w: unexpected row %q", t.file.path, errParse, label)
		}
		label = label[:len(label)-1]
		last = label
		sawErr = sawErr || bytes.Equal(label, []byte("ERR")) || bytes.Equal(label, []byte("Err"))
		// ERR and MIS (x86) and Err (arm) have one system-wide count, not a
		// column per CPU.
		if bytes.Equal(label, []byte("ERR")) || bytes.Equal(label, []byte("MIS")) {
			v := firstUint(r)
			if !v.ok {
				t.whole = false
			}
			if bytes.Equal(label, []byte("ERR")) {
				t.error = v
			} else {
				t.missed = v
			}
			continue
		}
		if bytes.Equal(label, []byte("Err")) {
			continue
		}
		var total uint64
		n, cell0 := 0, len(t.cells)
		// Every other row has one count per CPU column, then a description
		// (chip, name) that is not parsed.
		for col := range t.cpus {
			var f []byte
			f, r = nextField(r)
			v, ok := parseUint(f)
			if !ok {
				break
			}
			total += v
			t.perCPU[col] += v
			t.cells = append(t.cells, v)
			n++
		}
		if n != len(t.cpus) {
			// A short, cut or corrupt row: its total and the column sums
			// would be wrong numbers, so neither is served.
			t.whole = false
			t.cells = t.cells[:cell0]
			continue
		}
		t.rows = append(t.rows, intrRow{id: t.ids.id(label), total: total, cell0: cell0, desc: r})
	}
	if t.lastRow != "" && string(last) != t.lastRow || t.needErr && !sawErr {
		t.whole = false // the tail of the file is missing
	}
	return nil
}

type intrSource struct {
	intr, sirq intrTable
}

func (s *intrSource) Fetch(reqs []Request) error {
	var needIntr, needSirq bool
	for _, rq := range reqs {
		if sirqSel(rq.Sel) {
			needSirq = true
		} else {
			needIntr = true
		}
	}
	// The two files fail separately: a missing /proc/softirqs (before 2.6.31) must
	// not take the interrupt metrics with it.
	var errIntr, errSirq error
	if needIntr {
		errIntr = s.intr.read()
	}
	if needSirq {
		errSirq = s.sirq.read()
	}
	for _, rq := range reqs {
		t, err := &s.intr, errIntr
		if sirqSel(rq.Sel) {
			t, err = &s.sirq, errSirq
		}
		if err != nil {
			rq.Res.Err = protocol.ErrValue
			continue
		}
		switch rq.Sel {
		case selIntrTotal, selSoftirqTotal:
			for _, row := range t.rows {
				putU(rq.Res, row.id, row.total)
			}
		case selPerCPUIntr, selPerCPUSirq:
			if !t.whole {
				continue // no value rather than a sum over part of the file
			}
			for col, cpu := range t.cpus {
				putU(rq.Res, cpu, t.perCPU[col])
			}
		case selIntrCell, selSirqCell:
			for _, row := range t.rows {
				for col, cpu := range t.cpus {
					// 32 bits, wrapping, as the linux agent serves them.
					putU(rq.Res, t.cellID(row, cpu), uint64(uint32(t.cells[row.cell0+col])))
				}
			}
		case selIntrMissed:
			if t.missed.ok {
				putU(rq.Res, protocol.InNull, uint64(uint32(t.missed.v)))
			}
		case selIntrErrors:
			if t.error.ok {
				putU(rq.Res, protocol.InNull, uint64(uint32(t.error.v)))
			}
		}
	}
	// Only when every file asked for failed is the whole source failed (and counted).
	if (errIntr != nil || !needIntr) && (errSirq != nil || !needSirq) {
		if errIntr != nil {
			return errIntr
		}
		return errSirq
	}
	return nil
}

func (s *intrSource) Instances(indom protocol.InDom) ([]Instance, error) {
	t := &s.intr
	if indom == indomSoftirq || indom == indomSoftirqCPU {
		t = &s.sirq
	}
	if err := t.read(); err != nil {
		return nil, err
	}
	if indom == indomIntrCPU || indom == indomSoftirqCPU {
		out := make([]Instance, 0, len(t.cells))
		for _, row := range t.rows {
			text := irqText(indom, row.desc)
			for _, cpu := range t.cpus {
				id := t.cellID(row, cpu)
				out = append(out, Instance{ID: id, Name: t.cellIDs.name(id), Text: text})
			}
		}
		return out, nil
	}
	out := make([]Instance, len(t.rows))
	for i, row := range t.rows {
		out[i] = Instance{ID: row.id, Name: t.ids.name(row.id), Text: irqText(indom, row.desc)}
	}
	return out, nil
}

// irqText is the "irqtext" label of an interrupt row: its description with each run
// of blanks made one space, as the linux agent gives it; softirq rows have none.
func irqText(indom protocol.InDom, desc []byte) string {
	if indom != indomIntrLine && indom != indomIntrCPU {
		return ""
	}
	return string(bytes.Join(bytes.Fields(desc), []byte(" ")))
}

// cellID is the instance id of one row's count on one CPU, "LABEL::cpuN".
func (t *intrTable) cellID(row intrRow, cpu uint32) uint32 {
	t.cellName = append(t.cellName[:0], t.ids.name(row.id)...)
	t.cellName = append(append(t.cellName, "::cpu"...), strconv.FormatUint(uint64(cpu), 10)...)
	return t.cellIDs.id(t.cellName)
}
