package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// TestPmloggerMetricsMatchReal: with a real pmlogger running (its control-port
// file in a PCP_TMP_DIR of the test's own), the real pmcd and ours report the
// same pmcd.pmlogger.* instance and values. Skips without PCP:
// scripts/reference-pcp install.
func TestPmloggerMetricsMatchReal(t *testing.T) {
	pcptest.Require(t, pcptest.PMInfo, pmloggerBin)
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{filepath.Dir(dir), dir} { // t.TempDir makes them 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{tmp, filepath.Join(tmp, "pmlogger"), filepath.Join(dir, "arch")} {
		// pmlogger may give up root for the pcp user: it must be able to write here.
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o1777); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PCP_TMP_DIR", tmp) // for the real pmcd, pmlogger and our registry alike
	real := "127.0.0.1:" + strconv.Itoa(pcptest.StartPMCD(t, ""))
	_, ours, _ := startServer(t, nil)

	config := filepath.Join(dir, "arch", "config")
	if err := os.WriteFile(config, []byte("log mandatory on 1 sec { hinv.ncpu }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "arch", "a")
	logger := exec.Command(pmloggerBin, "-h", real, "-c", config, "-l", filepath.Join(dir, "arch", "log"), archive)
	logger.Env = pcptest.Env()
	if err := logger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logger.Process.Kill(); logger.Wait() })
	port := filepath.Join(tmp, "pmlogger", strconv.Itoa(logger.Process.Pid))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(port); err == nil && strings.Count(string(b), "\n") >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pmlogger wrote no control-port file %s", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
	args := []string{"-f", "pmcd.pmlogger.port", "pmcd.pmlogger.pmcd_host", "pmcd.pmlogger.archive", "pmcd.pmlogger.host"}
	want, _, _ := runTool(t, pcptest.PMInfo, append([]string{"-h", real}, args...)...)
	got, _, _ := runTool(t, pcptest.PMInfo, append([]string{"-h", ours}, args...)...)
	if got != want {
		t.Errorf("pminfo -f differs: %s", firstDiff(got, want))
	}
	pid := strconv.Itoa(logger.Process.Pid)
	if !strings.Contains(got, `inst [`+pid+` or "`+pid+`"] value "`+archive+`"`) {
		t.Errorf("our pmcd.pmlogger.archive does not name the running logger's archive:\n%s", got)
	}
}
