package main

import (
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/systemd/systemdtest"
)

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
	ns := systemdtest.NewNotifySocket(t)
	d := systemdtest.Start(t, exec.Command(bin, "--config", cfg, "-p", itoa(port), "-i", "127.0.0.1",
		"-C", p.serverDir, "-M", serverNick), "NOTIFY_SOCKET="+ns.Path)

	ready := ns.Next(t, 15*time.Second)
	if !strings.HasPrefix(ready, "READY=1\n") || !strings.Contains(ready, "STATUS=serving on 127.0.0.1:"+itoa(port)) {
		t.Fatalf("first notification %q", ready)
	}
	// At READY=1 the certificate is loaded and the port accepts, at once.
	log := d.Log.String()
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
	d.Signal(t, syscall.SIGHUP)
	if m := ns.Next(t, 5*time.Second); !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=\d+\n?$`).MatchString(m) {
		t.Fatalf("reload began with %q", m)
	}
	if m := ns.Next(t, 5*time.Second); !strings.HasPrefix(m, "READY=1\nSTATUS=reloaded") {
		t.Fatalf("reload ended with %q", m)
	}
	s.fetch(t) // the session from before still works
	s2, err := connectTLS(t, port, roots, nil)
	if err != nil || !s2.served.Equal(renewed.Cert) {
		t.Fatalf("after SIGHUP: %v, served %v", err, s2)
	}

	// A broken configuration: READY=1 again, saying the last good one is kept.
	writeFile(t, cfg, "[reload]\nwatch_interval = \"0s\"\nbogus = 1\n")
	d.Signal(t, syscall.SIGHUP)
	if m := ns.Next(t, 5*time.Second); !strings.HasPrefix(m, "RELOADING=1") {
		t.Fatalf("got %q", m)
	}
	m := ns.Next(t, 5*time.Second)
	if !strings.HasPrefix(m, "READY=1\nSTATUS=reload failed, last good configuration kept:") || !strings.Contains(m, "line 3") {
		t.Fatalf("failed reload ended with %q", m)
	}
	if s3, err := connectTLS(t, port, roots, nil); err != nil || !s3.served.Equal(renewed.Cert) {
		t.Fatalf("after a failed reload: %v", err)
	}
	if !strings.Contains(d.Log.String(), `unknown key \"reload.bogus\"`) {
		t.Fatalf("log:\n%s", d.Log)
	}

	// SIGTERM with a session open: STOPPING=1, then a clean exit.
	d.Signal(t, syscall.SIGTERM)
	if m := ns.Next(t, 5*time.Second); m != "STOPPING=1" {
		t.Fatalf("stop notification %q", m)
	}
	if code := d.Wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, d.Log)
	}
}

// TestNoReadyWithBrokenCertificate: a collector whose certificate cannot be used
// exits 2 without ever telling systemd it is ready.
func TestNoReadyWithBrokenCertificate(t *testing.T) {
	bin := collectordBin(t)
	p := newPKI(t)
	ns := systemdtest.NewNotifySocket(t)
	d := systemdtest.Start(t, exec.Command(bin, "--config", filepath.Join(t.TempDir(), "none.toml"),
		"-p", itoa(freePort(t)), "-i", "127.0.0.1", "-C", p.serverDir, "-M", "no such nickname"), "NOTIFY_SOCKET="+ns.Path)
	if code := d.Wait(t, 15*time.Second); code != 2 {
		t.Fatalf("exit %d; log:\n%s", code, d.Log)
	}
	if !strings.Contains(d.Log.String(), "config: open") {
		t.Fatalf("log:\n%s", d.Log)
	}
	d2 := systemdtest.Start(t, exec.Command(bin, "-p", itoa(freePort(t)), "-i", "127.0.0.1",
		"-C", p.serverDir, "-M", "no such nickname"), "NOTIFY_SOCKET="+ns.Path)
	if code := d2.Wait(t, 15*time.Second); code != 2 {
		t.Fatalf("exit %d; log:\n%s", code, d2.Log)
	}
	if !strings.Contains(d2.Log.String(), `"no such nickname"`) {
		t.Fatalf("log does not say why:\n%s", d2.Log)
	}
	ns.None(t, 200*time.Millisecond)
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
	ns := systemdtest.NewNotifySocket(t)
	// sh sets LISTEN_PID to its own pid and execs the collector, which keeps it.
	cfg := filepath.Join(t.TempDir(), "empty.toml")
	writeFile(t, cfg, "")
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, bin,
		"--config", cfg, "-p", itoa(unused), "-C", p.serverDir, "-M", serverNick)
	cmd.ExtraFiles = []*os.File{f}
	d := systemdtest.Start(t, cmd, "NOTIFY_SOCKET="+ns.Path, "LISTEN_FDS=1", "LISTEN_FDNAMES=collectord.socket")
	if m := ns.Next(t, 15*time.Second); !strings.Contains(m, "READY=1") || !strings.Contains(m, "127.0.0.1:"+itoa(port)) {
		t.Fatalf("notification %q; log:\n%s", m, d.Log)
	}
	s, err := connectTLS(t, port, roots, nil)
	if err != nil {
		t.Fatalf("inherited socket not served: %v\nlog:\n%s", err, d.Log)
	}
	s.fetch(t)
	if c, err := net.Dial("tcp", "127.0.0.1:"+itoa(unused)); err == nil {
		c.Close()
		t.Fatal("-p was bound although sockets were passed")
	}
	if !strings.Contains(d.Log.String(), "using sockets from the service manager") {
		t.Fatalf("log:\n%s", d.Log)
	}
	d.Signal(t, syscall.SIGTERM)
	if code := d.Wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestSystemdSocketActivate starts collectord with systemd's own
// systemd-socket-activate, as collectord.socket would: the socket is bound
// first, collectord starts at the first connection and serves that client.
func TestSystemdSocketActivate(t *testing.T) {
	sa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd; .ci/run installs it)")
	}
	bin := collectordBin(t)
	p := newPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	port, unused := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "empty.toml")
	writeFile(t, cfg, "")
	ns := systemdtest.NewNotifySocket(t)
	d := systemdtest.Start(t, exec.Command(sa, "-l", "127.0.0.1:"+itoa(port), "-E", "NOTIFY_SOCKET="+ns.Path,
		bin, "--config", cfg, "-p", itoa(unused), "-C", p.serverDir, "-M", serverNick))
	// The first client's connection starts the collector and is served by it.
	var s *session
	for deadline := time.Now().Add(15 * time.Second); ; {
		if s, err = connectTLS(t, port, roots, nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not served: %v\n%s", err, d.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.fetch(t)
	if m := ns.Next(t, 5*time.Second); !strings.Contains(m, "READY=1") {
		t.Fatalf("notification %q", m)
	}
	if !strings.Contains(d.Log.String(), "using sockets from the service manager") {
		t.Fatalf("log:\n%s", d.Log)
	}
	d.Signal(t, syscall.SIGTERM)
	if code := d.Wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
