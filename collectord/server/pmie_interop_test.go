package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// pmieBin is PCP's inference engine.
const pmieBin = "/usr/bin/pmie"

// TestPmieMetricsMatchReal: with a real pmie running (its statistics file in a
// PCP_TMP_DIR of the test's own), the real pmcd and ours list the same pmie
// instance and the same configuration, log file, host, rule count and rate; the
// evaluation counters, which pmie moves every second, are read from the same
// file and never go backwards. Skips without PCP: scripts/reference-pcp install.
func TestPmieMetricsMatchReal(t *testing.T) {
	pcptest.Require(t, pcptest.PMInfo, pmieBin)
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{tmp, filepath.Join(tmp, "pmie"), filepath.Join(dir, "log")} {
		// pmie gives up root for the pcp user: it must be able to write here.
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o1777); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{filepath.Dir(dir), dir} { // t.TempDir makes them 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PCP_TMP_DIR", tmp) // for the real pmcd, pmie and our registry alike
	real := "127.0.0.1:" + strconv.Itoa(pcptest.StartPMCD(t, ""))
	_, ours, _ := startServer(t, nil)

	rules := filepath.Join(dir, "log", "rules")
	if err := os.WriteFile(rules, []byte("some_cpu = hinv.ncpu > 0 -> print \"cpus\";\nno_disk = hinv.ndisk < 0;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pmie := exec.Command(pmieBin, "-h", real, "-t", "1", "-c", rules, "-l", filepath.Join(dir, "log", "pmie.log"))
	pmie.Env = pcptest.Env()
	if err := pmie.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pmie.Process.Kill(); pmie.Wait() })
	stats := filepath.Join(tmp, "pmie", strconv.Itoa(pmie.Process.Pid))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := os.Stat(stats); err == nil && st.Size() == 8292 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pmie wrote no statistics file %s", stats)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a few evaluations

	fixed := []string{"pmcd.pmie.configfile", "pmcd.pmie.logfile", "pmcd.pmie.pmcd_host", "pmcd.pmie.numrules",
		"pmcd.pmie.eval.expected"}
	args := append([]string{"-f"}, fixed...)
	want, _, _ := runTool(t, pcptest.PMInfo, append([]string{"-h", real}, args...)...)
	got, _, _ := runTool(t, pcptest.PMInfo, append([]string{"-h", ours}, args...)...)
	if got != want {
		t.Errorf("pminfo -f differs: %s", firstDiff(got, want))
	}
	if !strings.Contains(got, `inst [`+strconv.Itoa(pmie.Process.Pid)+` or "`+strconv.Itoa(pmie.Process.Pid)+`"] value "`+rules+`"`) {
		t.Errorf("our pmcd.pmie.configfile does not name the running pmie and its rules:\n%s", got)
	}
	counter := regexp.MustCompile(`(?m)^    inst \[[0-9]+ or "[0-9]+"\] value ([0-9]+)$`)
	read := func(host string) int {
		out, _, _ := runTool(t, pcptest.PMInfo, "-h", host, "-f", "pmcd.pmie.eval.actual")
		m := counter.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no pmcd.pmie.eval.actual from %s:\n%s", host, out)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	r1 := read(real)
	o := read(ours)
	r2 := read(real)
	if o < r1 || o > r2 || r2 == 0 {
		t.Errorf("pmcd.pmie.eval.actual: real %d, ours %d, real again %d", r1, o, r2)
	}

	// Once pmie is gone its file is stale: no instance. (The real pmcd keeps the
	// instance until the folder itself changes; a killed pmie leaves its file.)
	pmie.Process.Kill()
	pmie.Wait()
	if out, _, _ := runTool(t, pcptest.PMInfo, "-h", ours, "-f", "pmcd.pmie.numrules"); !strings.Contains(out, "No value(s) available") {
		t.Errorf("ours after pmie exited:\n%s", out)
	}
}
