package metrics

import (
	"path/filepath"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// TestPressure: values from the files there are; a file the kernel lacks (memory,
// irq in the fixture) gives no values; a damaged file fails only its own metrics.
func TestPressure(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	r := newFixtureRegistry(t, dir)
	names := []string{"kernel.all.pressure.cpu.some.avg", "kernel.all.pressure.cpu.some.total",
		"kernel.all.pressure.io.full.total", "kernel.all.pressure.memory.some.total", "kernel.all.pressure.irq.full.avg"}
	want := []string{
		"kernel.all.pressure.cpu.some.avg [10]=1.5 [60]=0.75 [300]=0.25",
		"kernel.all.pressure.cpu.some.total 123456",
		"kernel.all.pressure.io.full.total 333",
		"kernel.all.pressure.memory.some.total no values",
		"kernel.all.pressure.irq.full.avg no values",
	}
	res := fetchByName(t, r, names...)
	for i, n := range names {
		m, _ := r.ByName(n)
		if got := formatResult(m, res[n]); got != want[i] {
			t.Errorf("got  %s\nwant %s", got, want[i])
		}
	}
	for _, bad := range []string{"some avg10=x avg60=0 avg300=0 total=1\n", "some avg10=1\n", "other avg10=1 avg60=1 avg300=1 total=1\n",
		"some avg10=1 avg60=1 avg300=1 total=-5\n"} {
		writeFile(t, filepath.Join(dir, "proc/pressure/cpu"), bad)
		res := fetchByName(t, r, "kernel.all.pressure.cpu.some.total", "kernel.all.pressure.io.some.total")
		if res["kernel.all.pressure.cpu.some.total"].Err != protocol.ErrValue {
			t.Errorf("%q: %+v, want PM_ERR_VALUE", bad, res["kernel.all.pressure.cpu.some.total"])
		}
		if v := res["kernel.all.pressure.io.some.total"].Values; len(v) != 1 || v[0].U != 777 {
			t.Errorf("%q: io broken too: %+v", bad, res["kernel.all.pressure.io.some.total"])
		}
	}
}
