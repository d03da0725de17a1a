package main

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifySocket is a service manager's notification socket made by the test.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &notifySocket{path: filepath.Join(dir, "notify"), msgs: make(chan string, 64)}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return n
}

// next waits for the next notification.
func (n *notifySocket) next(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case m := <-n.msgs:
		return m
	case <-time.After(within):
		t.Fatalf("no notification within %v", within)
		return ""
	}
}

// none checks that no notification arrives for a while.
func (n *notifySocket) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-n.msgs:
		t.Fatalf("unexpected notification %q", m)
	case <-time.After(d):
	}
}

// proc is a collectord process run by the test.
type proc struct {
	cmd  *exec.Cmd
	log  logFile
	done chan error
}

// logFile is the process's output, written straight to a file (not through a pipe
// the test would have to drain), so what the process wrote before a notification
// is in the file when the notification arrives.
type logFile string

func (l logFile) String() string {
	b, _ := os.ReadFile(string(l))
	return string(b)
}

func startDaemon(t *testing.T, cmd *exec.Cmd, env ...string) *proc {
	t.Helper()
	d := &proc{cmd: cmd, log: logFile(filepath.Join(t.TempDir(), "log")), done: make(chan error, 1)}
	f, err := os.Create(string(d.log))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.done
	})
	return d
}

// wait returns the exit code, failing after the time given.
func (d *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("still running after %v; log:\n%s", within, d.log)
		return -1
	}
}

func (d *proc) signal(t *testing.T, s os.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// TestNotifyReadyReloadStop runs the real binary against a notification socket:
// READY=1 only once the port accepts and the certificate is loaded, RELOADING=1
// and READY=1 around SIGHUP (a failed reload included), STOPPING=1 and exit 0 on
// SIGTERM.
func TestNotifyReadyReloadStop(t *testing.T) {
	bin := collectordBin(t)
	p := newPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	cfg := filepath.Join(t.TempDir(), "collectord.toml")
	writeFile(t, cfg, "[reload]\nwatch_interval = \"0s\"\n")
	port := freePort(t)
	ns := newNotifySocket(t)
	d := startDaemon(t, exec.Command(bin, "--config", cfg, "-p", itoa(port), "-i", "127.0.0.1",
		"-C", p.serverDir, "-M", serverNick), "NOTIFY_SOCKET="+ns.path)

	ready := ns.next(t, 15*time.Second)
	if !strings.HasPrefix(ready, "READY=1\n") || !strings.Contains(ready, "STATUS=serving on 127.0.0.1:"+itoa(port)) {
		t.Fatalf("first notification %q", ready)
	}
	// At READY=1 the certificate is loaded and the port accepts, at once.
	log := d.log.String()
	if !strings.Contains(log, "server certificate loaded") || !strings.Contains(log, "collectord listening") {
		t.Fatalf("READY=1 before the certificate or the listener:\n%s", log)
	}
	s, err := connectTLS(t, port, roots, nil)
	if err != nil {
		t.Fatalf("READY=1 sent but the collector does not answer: %v", err)
	}
	s.fetch(t)
	if !s.served.Equal(p.server.Cert) {
		t.Fatal("wrong certificate")
	}

	// SIGHUP with a renewed certificate.
	renewed := serverCert(t, p.ca, "renewed")
	p.replaceIdentity(t, renewed)
	d.signal(t, syscall.SIGHUP)
	if m := ns.next(t, 5*time.Second); !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=\d+\n?$`).MatchString(m) {
		t.Fatalf("reload began with %q", m)
	}
	if m := ns.next(t, 5*time.Second); !strings.HasPrefix(m, "READY=1\nSTATUS=reloaded") {
		t.Fatalf("reload ended with %q", m)
	}
	s.fetch(t) // the session from before still works
	s2, err := connectTLS(t, port, roots, nil)
	if err != nil || !s2.served.Equal(renewed.Cert) {
		t.Fatalf("after SIGHUP: %v, served %v", err, s2)
	}

	// A broken configuration: READY=1 again, saying the last good one is kept.
	writeFile(t, cfg, "[reload]\nwatch_interval = \"0s\"\nbogus = 1\n")
	d.signal(t, syscall.SIGHUP)
	if m := ns.next(t, 5*time.Second); !strings.HasPrefix(m, "RELOADING=1") {
		t.Fatalf("got %q", m)
	}
	m := ns.next(t, 5*time.Second)
	if !strings.HasPrefix(m, "READY=1\nSTATUS=reload failed, last good configuration kept:") || !strings.Contains(m, "line 3") {
		t.Fatalf("failed reload ended with %q", m)
	}
	if s3, err := connectTLS(t, port, roots, nil); err != nil || !s3.served.Equal(renewed.Cert) {
		t.Fatalf("after a failed reload: %v", err)
	}
	if !strings.Contains(d.log.String(), `unknown key \"reload.bogus\"`) {
		t.Fatalf("log:\n%s", d.log)
	}

	// SIGTERM with a session open: STOPPING=1, then a clean exit.
	d.signal(t, syscall.SIGTERM)
	if m := ns.next(t, 5*time.Second); m != "STOPPING=1" {
		t.Fatalf("stop notification %q", m)
	}
	if code := d.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, d.log)
	}
}

// TestNoReadyWithBrokenCertificate: a collector whose certificate cannot be used
// exits 2 without ever telling systemd it is ready.
func TestNoReadyWithBrokenCertificate(t *testing.T) {
	bin := collectordBin(t)
	p := newPKI(t)
	ns := newNotifySocket(t)
	d := startDaemon(t, exec.Command(bin, "--config", filepath.Join(t.TempDir(), "none.toml"),
		"-p", itoa(freePort(t)), "-i", "127.0.0.1", "-C", p.serverDir, "-M", "no such nickname"), "NOTIFY_SOCKET="+ns.path)
	if code := d.wait(t, 15*time.Second); code != 2 {
		t.Fatalf("exit %d; log:\n%s", code, d.log)
	}
	if !strings.Contains(d.log.String(), "config: open") {
		t.Fatalf("log:\n%s", d.log)
	}
	d2 := startDaemon(t, exec.Command(bin, "-p", itoa(freePort(t)), "-i", "127.0.0.1",
		"-C", p.serverDir, "-M", "no such nickname"), "NOTIFY_SOCKET="+ns.path)
	if code := d2.wait(t, 15*time.Second); code != 2 {
		t.Fatalf("exit %d; log:\n%s", code, d2.log)
	}
	if !strings.Contains(d2.log.String(), `"no such nickname"`) {
		t.Fatalf("log does not say why:\n%s", d2.log)
	}
	ns.none(t, 200*time.Millisecond)
}

// TestSocketActivation: a listening socket passed as systemd does (fd 3,
// LISTEN_FDS=1, LISTEN_PID = the collector's pid) is served instead of -p.
func TestSocketActivation(t *testing.T) {
	bin := collectordBin(t)
	p := newPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // the duplicate in f stays open for the child
	defer f.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	unused := freePort(t)
	ns := newNotifySocket(t)
	// sh sets LISTEN_PID to its own pid and execs the collector, which keeps it.
	cfg := filepath.Join(t.TempDir(), "empty.toml")
	writeFile(t, cfg, "")
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, bin,
		"--config", cfg, "-p", itoa(unused), "-C", p.serverDir, "-M", serverNick)
	cmd.ExtraFiles = []*os.File{f}
	d := startDaemon(t, cmd, "NOTIFY_SOCKET="+ns.path, "LISTEN_FDS=1", "LISTEN_FDNAMES=collectord.socket")
	if m := ns.next(t, 15*time.Second); !strings.Contains(m, "READY=1") || !strings.Contains(m, "127.0.0.1:"+itoa(port)) {
		t.Fatalf("notification %q; log:\n%s", m, d.log)
	}
	s, err := connectTLS(t, port, roots, nil)
	if err != nil {
		t.Fatalf("inherited socket not served: %v\nlog:\n%s", err, d.log)
	}
	s.fetch(t)
	if c, err := net.Dial("tcp", "127.0.0.1:"+itoa(unused)); err == nil {
		c.Close()
		t.Fatal("-p was bound although sockets were passed")
	}
	if !strings.Contains(d.log.String(), "using sockets from the service manager") {
		t.Fatalf("log:\n%s", d.log)
	}
	d.signal(t, syscall.SIGTERM)
	if code := d.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// units copies etc/systemd to a temporary folder with ExecStart pointing at real
// binaries, so systemd-analyze can check them here.
func units(t *testing.T) string {
	t.Helper()
	bin := collectordBin(t)
	dir := t.TempDir()
	ents, err := os.ReadDir(filepath.Join("..", "etc", "systemd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("..", "etc", "systemd", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "/usr/bin/collectord", bin)
		s = strings.ReplaceAll(s, "/usr/bin/proxyd", bin) // proxyd may not be built here
		writeFile(t, filepath.Join(dir, e.Name()), s)
	}
	return dir
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd): units not checked")
	}
	return sa
}

// TestUnitsVerify: systemd-analyze verify accepts the units.
func TestUnitsVerify(t *testing.T) {
	sa := systemdAnalyze(t)
	dir := units(t)
	var names []string
	for _, n := range []string{"collectord.service", "collectord.socket", "proxyd.service"} {
		names = append(names, filepath.Join(dir, n))
	}
	out, err := exec.Command(sa, append([]string{"verify", "--man=no"}, names...)...).CombinedOutput()
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

// TestUnitsSecurity: systemd-analyze security scores the units well; the collector
// keeps /proc visible.
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
	}
	b, _ := os.ReadFile(filepath.Join("..", "etc", "systemd", "collectord.service"))
	for _, hidden := range []string{"ProtectProc=invisible", "ProcSubset=pid", "PrivateNetwork=yes"} {
		if strings.Contains(string(b), "\n"+hidden) {
			t.Errorf("collectord.service has %s: the collector needs /proc and the host's network statistics", hidden)
		}
	}
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict",
		"NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter=@system-service", "ProtectHome=read-only", "PrivateTmp=yes", "DevicePolicy=closed"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("collectord.service lacks %q", want)
		}
	}
}
