package metrics

import (
	"path/filepath"
	"testing"
)

// TestLoadavgExtras: runnable and last pid from /proc/loadavg, absent (not zero)
// when the fields are missing or out of range.
func TestLoadavgExtras(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/loadavg")
	r := newFixtureRegistry(t, dir)
	for content, want := range map[string][2]string{
		"0.1 0.2 0.3 2/86 5115\n":                {"kernel.all.runnable 2", "kernel.all.lastpid 5115"},
		"0.1 0.2 0.3\n":                          {"kernel.all.runnable no values", "kernel.all.lastpid no values"},
		"0.1 0.2 0.3 x/86 -1\n":                  {"kernel.all.runnable no values", "kernel.all.lastpid no values"},
		"0.1 0.2 0.3 4294967296/1 99999999999\n": {"kernel.all.runnable no values", "kernel.all.lastpid no values"},
	} {
		writeFile(t, path, content)
		res := fetchByName(t, r, "kernel.all.runnable", "kernel.all.lastpid")
		for i, n := range []string{"kernel.all.runnable", "kernel.all.lastpid"} {
			m, _ := r.ByName(n)
			if got := formatResult(m, res[n]); got != want[i] {
				t.Errorf("%q: %s, want %s", content, got, want[i])
			}
		}
	}
}
