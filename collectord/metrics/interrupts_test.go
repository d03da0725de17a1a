package metrics

import (
	"os"
	"path/filepath"
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
	// A row shorter than the header (no count for CPU1) is summed as far as it goes.
	writeFile(t, path, "   CPU0   CPU1\n  1:  7\nERR: 2\n")
	res := fetchByName(t, r, "kernel.percpu.intr", "kernel.all.interrupts.errors", "kernel.all.interrupts.missed",
		"kernel.all.softirqs.total")
	if v := vals(res["kernel.percpu.intr"]); v[0] != 7 || v[1] != 0 {
		t.Errorf("kernel.percpu.intr %+v", res["kernel.percpu.intr"])
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
