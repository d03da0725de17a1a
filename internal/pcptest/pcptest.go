// Package pcptest finds the real PCP 6 binaries and runs a real pmcd on loopback for
// interop tests and benchmarks. Tests that need them skip, with the install command,
// only where the binaries are absent; CI installs them (.ci/run).
package pcptest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Paths of the real PCP tools (Debian package pcp).
const (
	PMCD    = "/usr/lib/pcp/bin/pmcd"
	PMInfo  = "/usr/bin/pminfo"
	PMVal   = "/usr/bin/pmval"
	PMProbe = "/usr/bin/pmprobe"
)

// InstallHint is printed when the real PCP is missing.
const InstallHint = "real PCP not installed: run scripts/reference-pcp install as root (Debian packages pcp, libpcp3-dev)"

// Require skips t unless the named real PCP binaries exist.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	if len(bins) == 0 {
		bins = []string{PMCD, PMInfo}
	}
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			t.Skipf("%s (%s missing)", InstallHint, b)
		}
	}
}

// ModuleRoot walks up from the working directory to the folder holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// ReferenceScript is the path of scripts/reference-pcp in this module (or
// $GOPCP_REFERENCE_PCP), which installs the real PCP and starts pmcd on a port.
func ReferenceScript() (string, error) {
	if p := os.Getenv("GOPCP_REFERENCE_PCP"); p != "" {
		return p, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "scripts", "reference-pcp")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("reference-pcp not found at %s: %w", p, err)
	}
	return p, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// StartPMCD starts a real pmcd on 127.0.0.1 with the pmcd, linux and proc agents and
// returns its port; it is stopped when the test ends. tlsconf may be "" (no TLS);
// extra are pmcd arguments such as -Q.
func StartPMCD(t testing.TB, tlsconf string, extra ...string) int {
	t.Helper()
	Require(t, PMCD)
	script, err := ReferenceScript()
	if err != nil {
		t.Fatalf("cannot start the real pmcd: %v", err)
	}
	dir := t.TempDir()
	port := FreePort(t)
	args := []string{"start", dir, strconv.Itoa(port)}
	if tlsconf != "" {
		args = append(args, "-t", tlsconf)
	}
	if len(extra) > 0 {
		args = append(args, "--")
		args = append(args, extra...)
	}
	out, err := exec.Command(script, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("reference-pcp start: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(script, "stop", dir).Run() })
	// pmcd accepts before its agents answer; wait until a name lookup works.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		cmd := exec.Command(PMInfo, "-h", "localhost:"+strconv.Itoa(port), "hinv.ncpu")
		cmd.Env = Env()
		if err := cmd.Run(); err == nil {
			return port
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("real pmcd on port %d did not answer", port)
	return 0
}

// Env returns the environment for running a real PCP client: the caller's, plus
// extra. PCP_DERIVED_CONFIG is left as the caller has it (unset: the default
// derived-metric directory), so the real tools run as users run them and our
// programs are compared with that; a test that needs no derived metrics (a
// replay recorded without them) says so itself.
func Env(extra ...string) []string {
	return append(os.Environ(), extra...)
}
