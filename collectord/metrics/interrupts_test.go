package metrics

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// TestInterruptsHostile: a damaged /proc/interrupts fails its metrics (counted as a
// source error) and leaves the softirq ones served; a missing /proc/softirqs (old
// kernels) leaves the interrupt ones served.
func TestInterruptsHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/interrupts")
	r := newFixtureRegistry(t, dir)
	for _, bad := range []string{"", "CPU0 CPUx\n", "   CPU0\n 24 1\n", "garbage\n", "   CPU99999999\n"} {
		writeFile(t, path, bad)
		res := fetchByName(t, r, "kernel.percpu.intr", "kernel.percpu.sirq")
		if res["kernel.percpu.intr"].Err != protocol.ErrValue {
			t.Errorf("%q: kernel.percpu.intr %+v, want PM_ERR_VALUE", bad, res["kernel.percpu.intr"])
		}
		if v := vals(res["kernel.percpu.sirq"]); res["kernel.percpu.sirq"].Err != 0 || v[0] != 1011 || v[1] != 2020 {
			t.Errorf("%q: kernel.percpu.sirq %+v", bad, res["kernel.percpu.sirq"])
		}
		before := r.SourceErrors()["interrupts"]
		fetchByName(t, r, "kernel.percpu.intr")
		if r.SourceErrors()["interrupts"] != before+1 {
			t.Errorf("%q: not counted as a source error", bad)
		}
	}
	if err := os.Remove(filepath.Join(dir, "proc/softirqs")); err != nil {
		t.Fatal(err)
	}
	// A row shorter than the header (no count for CPU1) is cut: no per-CPU sums.
	writeFile(t, path, "   CPU0   CPU1\n  1:  7\nERR: 2\n")
	res := fetchByName(t, r, "kernel.percpu.intr", "kernel.all.interrupts.errors", "kernel.all.interrupts.missed",
		"kernel.all.softirqs.total")
	if m := res["kernel.percpu.intr"]; m.Err != 0 || len(m.Values) != 0 {
		t.Errorf("kernel.percpu.intr from a short row: %+v, want no values", m)
	}
	if v := vals(res["kernel.all.interrupts.errors"]); v[protocol.InNull] != 2 {
		t.Errorf("errors %+v", res["kernel.all.interrupts.errors"])
	}
	if m := res["kernel.all.interrupts.missed"]; m.Err != 0 || len(m.Values) != 0 {
		t.Errorf("missed without a MIS row: %+v, want no values", m)
	}
	if res["kernel.all.softirqs.total"].Err != protocol.ErrValue {
		t.Errorf("softirqs without the file: %+v", res["kernel.all.softirqs.total"])
	}
}

// TestInterruptsFailClosed: the per-CPU sums are served only from a whole file; a
// file cut short (lost its tail, its last line cut, a row short of columns) gives
// none, and a row that is not "LABEL: counts" fails the file; never a smaller or a
// polluted sum. The per-row totals keep the exact values of the rows that are whole.
func TestInterruptsFailClosed(t *testing.T) {
	const intr = "   CPU0   CPU1\n  0:  40  2  IO-APIC timer\n 24:  1  0  PCI-MSI virtio0\nNMI:  3  4  Non-maskable\nLOC:  100000  200000  Local timer\nERR:  5\nMIS:  6\n"
	const sirq = "   CPU0   CPU1\n  HI:  1  0\n  TIMER:  1000  2000\n  NET_RX:  10  20\n  RCU:  7  8\n"
	for _, tc := range []struct {
		name, intr, sirq string
		intrPerCPU       string // "": no values; "err": PM_ERR_VALUE
		sirqPerCPU       string
	}{
		{"whole", intr, sirq, "100044 200006", "1018 2028"},
		{"lost its tail", intr[:strings.Index(intr, "LOC:")], sirq[:strings.Index(sirq, "  RCU:")], "", ""},
		{"last line cut", intr[:len(intr)-1], sirq[:len(sirq)-3], "", ""},
		{"row cut mid-line", strings.Replace(intr, "200000  Local timer", "", 1), strings.Replace(sirq, "2000\n", "\n", 1), "", ""},
		{"unexpected line", strings.Replace(intr, "\n", "\ngopcp_unexpected: 12 34 x y\n", 1),
			strings.Replace(sirq, "\n", "\ngopcp_unexpected: 12 34 x y\n", 1), "err", "err"},
		{"negative numbers", strings.Replace(intr, " 3  4", " -3  -4", 1), strings.Replace(sirq, "10  20", "-10  -20", 1), "", ""},
		{"too big", strings.Replace(intr, "100000", "99999999999999999999999", 1), strings.Replace(sirq, "1000", "99999999999999999999999", 1), "", ""},
		{"no ERR row", strings.Replace(intr, "ERR:  5\n", "", 1), sirq, "", "1018 2028"},
	} {
		dir := copyTree(t, fixtureDir)
		writeFile(t, filepath.Join(dir, "proc/interrupts"), tc.intr)
		writeFile(t, filepath.Join(dir, "proc/softirqs"), tc.sirq)
		s := &intrSource{
			intr: intrTable{file: newKfile(filepath.Join(dir, "proc/interrupts")), needErr: true},
			sirq: intrTable{file: newKfile(filepath.Join(dir, "proc/softirqs")), lastRow: "RCU"},
		}
		var ri, rs Result
		s.Fetch([]Request{{Sel: selPerCPUIntr, Res: &ri}, {Sel: selPerCPUSirq, Res: &rs}})
		for _, c := range []struct {
			what string
			res  Result
			want string
		}{{"intr", ri, tc.intrPerCPU}, {"sirq", rs, tc.sirqPerCPU}} {
			got := ""
			if c.res.Err != 0 {
				got = "err"
			}
			for i, v := range c.res.Values {
				if i > 0 {
					got += " "
				}
				got += strconv.FormatUint(v.U, 10)
			}
			if got != c.want {
				t.Errorf("%s: per-CPU %s = %q, want %q", tc.name, c.what, got, c.want)
			}
		}
		s.intr.file.close()
		s.sirq.file.close()
	}
}

// TestIrqTextLabels: each interrupt row's instances carry its description as the
// linux agent's "irqtext" label, blanks squeezed; softirq rows have none; a hostile
// description (quotes, control bytes) stays one JSON string.
func TestIrqTextLabels(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	r := newFixtureRegistry(t, dir)
	labels := func(in protocol.InDom) map[string]string {
		t.Helper()
		insts, err := r.InstancesFor(in, false)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, i := range insts {
			out[i.Name] = r.InstanceLabels(in, i)
		}
		return out
	}
	line, cell := labels(indomIntrLine), labels(indomIntrCPU)
	if got, want := line["0"], `{"irq":"0","irqtext":"IO-APIC 2-edge timer"}`; got != want {
		t.Errorf("line 0: %s, want %s", got, want)
	}
	if got, want := cell["NMI::cpu1"], `{"cpu":1,"irq":"NMI","irqtext":"Non-maskable interrupts"}`; got != want {
		t.Errorf("NMI::cpu1: %s, want %s", got, want)
	}
	for name, l := range labels(indomSoftirqCPU) {
		if strings.Contains(l, "irqtext") {
			t.Errorf("softirq %s: %s", name, l)
		}
	}
	writeFile(t, filepath.Join(dir, "proc/interrupts"), "   CPU0   CPU1\n  7:  1  2  chip \"x\"\x1b[2J\tend\nERR: 0\n")
	if got, want := labels(indomIntrLine)["7"], `{"irq":"7","irqtext":"chip \"x\"\u001b[2J end"}`; got != want {
		t.Errorf("hostile description: %s, want %s", got, want)
	}
}
