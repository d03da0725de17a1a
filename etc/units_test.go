// Package etc holds the systemd units and example configurations; its tests check
// the units with systemd's own tools.
package etc

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var unitNames = []string{"collectord.service", "collectord.socket", "proxyd.service", "proxyd.socket"}

func readUnit(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// units copies the units to a temporary folder with ExecStart pointing at an
// existing program (systemd-analyze checks that it exists; the daemons need not
// be built for that).
func units(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range unitNames {
		s := strings.NewReplacer("/usr/bin/collectord", "/bin/true", "/usr/bin/proxyd", "/bin/true").Replace(readUnit(t, n))
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd; .ci/run installs it): units not checked")
	}
	return sa
}

// TestUnitsVerify: systemd-analyze verify accepts every unit, without warnings.
func TestUnitsVerify(t *testing.T) {
	sa := systemdAnalyze(t)
	dir := units(t)
	var paths []string
	for _, n := range unitNames {
		paths = append(paths, filepath.Join(dir, n))
	}
	out, err := exec.Command(sa, append([]string{"verify", "--man=no"}, paths...)...).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "Failed to") && !strings.Contains(string(out), dir) {
			t.Skipf("systemd-analyze verify cannot run here: %s", out)
		}
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify warns:\n%s", out)
	}
}

// TestUnitsSecurity: systemd-analyze security scores the services well; the
// collector keeps /proc and the host's network visible, the proxy is locked down.
func TestUnitsSecurity(t *testing.T) {
	sa := systemdAnalyze(t)
	dir := units(t)
	for _, u := range []struct {
		name string
		max  float64
	}{{"collectord.service", 2.0}, {"proxyd.service", 1.5}} {
		out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", filepath.Join(dir, u.name)).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "Overall exposure") {
			t.Skipf("systemd-analyze security --offline cannot run here (systemd < 250?): %v\n%s", err, out)
		}
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("no score:\n%s", out)
		}
		score, _ := strconv.ParseFloat(m[1], 64)
		if score > u.max {
			t.Errorf("%s exposure %.1f, want at most %.1f:\n%s", u.name, score, u.max, out)
		}
		t.Logf("%s: exposure %.1f", u.name, score)
	}
	c := readUnit(t, "collectord.service")
	for _, hidden := range []string{"ProtectProc=invisible", "ProcSubset=pid", "PrivateNetwork=yes"} {
		if strings.Contains(c, "\n"+hidden) {
			t.Errorf("collectord.service has %s: the collector needs /proc and the host's network statistics", hidden)
		}
	}
	common := []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict",
		"NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter=@system-service", "PrivateTmp=yes", "DevicePolicy=closed", "UMask=0077"}
	for _, want := range append(common, "ProtectHome=read-only") {
		if !strings.Contains(c, want) {
			t.Errorf("collectord.service lacks %q", want)
		}
	}
	p := readUnit(t, "proxyd.service")
	for _, want := range append(common, "ProtectHome=yes", "PrivateDevices=yes", "ProtectProc=invisible", "ProcSubset=pid") {
		if !strings.Contains(p, want) {
			t.Errorf("proxyd.service lacks %q", want)
		}
	}
}

// TestSocketUnits: each daemon's socket unit listens on its PCP port and has a
// service of the same name to activate.
func TestSocketUnits(t *testing.T) {
	for _, u := range []struct{ name, listen string }{
		{"collectord", "ListenStream=44321"},
		{"proxyd", "ListenStream=44322"},
	} {
		s := readUnit(t, u.name+".socket")
		if !strings.Contains(s, "\n"+u.listen+"\n") {
			t.Errorf("%s.socket does not have %s", u.name, u.listen)
		}
		if strings.Contains(s, "Accept=yes") {
			t.Errorf("%s.socket: Accept=yes would start one daemon per connection", u.name)
		}
		if !strings.Contains(readUnit(t, u.name+".service"), "Type=notify") {
			t.Errorf("%s.service is not Type=notify", u.name)
		}
	}
}
