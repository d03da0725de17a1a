package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/internal/systemd/systemdtest"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
)

// TestNotifyReadyReloadStop runs the proxyd binary against a notification socket
// the test owns: READY=1 only once the port accepts and the certificate is
// loaded, RELOADING=1 and READY=1 around SIGHUP (a failed reload included), and
// STOPPING=1 then exit 0 on SIGTERM.
func TestNotifyReadyReloadStop(t *testing.T) {
	bin := build(t, "github.com/gopcp/gopcp/proxyd")
	col := ptest.StartCollector(t, nil)
	ca := testcerts.New(t, nil, testcerts.Options{CN: "CA", IsCA: true})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	first := testcerts.New(t, ca, testcerts.Options{CN: "first", DNS: []string{"localhost"}, Server: true})
	id := writeIdentity(t, t.TempDir(), ca, first)
	cfg := writeFile(t, "proxyd.toml", "[reload]\nwatch_interval = \"0s\"\n")
	port := pcptest.FreePort(t)
	ns := systemdtest.NewNotifySocket(t)
	d := systemdtest.Start(t, exec.Command(bin, "--config", cfg, "-p", strconv.Itoa(port), "-i", "127.0.0.1",
		"--tls-conf", id.conf), "NOTIFY_SOCKET="+ns.Path)
	addr := "127.0.0.1:" + strconv.Itoa(port)

	ready := ns.Next(t, 15*time.Second)
	if !strings.HasPrefix(ready, "READY=1\n") || !strings.Contains(ready, "STATUS=serving on "+addr) {
		t.Fatalf("first notification %q", ready)
	}
	if log := d.Log.String(); !strings.Contains(log, "TLS identity loaded") || !strings.Contains(log, "proxyd listening") {
		t.Fatalf("READY=1 before the certificate or the listener:\n%s", log)
	}
	https := func() *x509.Certificate {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
		if err != nil {
			t.Fatalf("READY=1 sent but proxyd does not answer: %v\n%s", err, d.Log)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	if !https().Equal(first.Cert) {
		t.Fatal("wrong certificate")
	}

	// SIGHUP with a renewed certificate and a newly allowed default collector.
	renewed := testcerts.New(t, ca, testcerts.Options{CN: "renewed", DNS: []string{"localhost"}, Server: true})
	rewrite(t, id.cert, string(renewed.CertPEM()))
	os.WriteFile(id.key, renewed.KeyPEM(t), 0o600)
	rewrite(t, cfg, "[upstream]\nallow = [\"127.0.0.1\"]\ndefault_hostspec = \""+col.Addr+"\"\n[reload]\nwatch_interval = \"0s\"\n")
	d.Signal(t, syscall.SIGHUP)
	if m := ns.Next(t, 5*time.Second); !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=\d+\n?$`).MatchString(m) {
		t.Fatalf("reload began with %q", m)
	}
	if m := ns.Next(t, 5*time.Second); !strings.HasPrefix(m, "READY=1\nSTATUS=reloaded") {
		t.Fatalf("reload ended with %q", m)
	}
	if !https().Equal(renewed.Cert) {
		t.Fatal("renewed certificate not served after SIGHUP")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}}
	resp, err := hc.Get("https://" + addr + "/pmapi/fetch?names=hinv.ncpu")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("new default_hostspec not applied: %d", resp.StatusCode)
	}

	// A broken configuration: READY=1 again, saying the reload failed.
	rewrite(t, cfg, "[upstream\n")
	d.Signal(t, syscall.SIGHUP)
	ns.Next(t, 5*time.Second) // RELOADING=1
	if m := ns.Next(t, 5*time.Second); !strings.Contains(m, "READY=1") || !strings.Contains(m, "reload failed, last good configuration kept") {
		t.Fatalf("failed reload ended with %q", m)
	}
	if !https().Equal(renewed.Cert) {
		t.Fatal("identity lost by a failed reload")
	}

	d.Signal(t, syscall.SIGTERM)
	if m := ns.Next(t, 5*time.Second); !strings.HasPrefix(m, "STOPPING=1") {
		t.Fatalf("stop began with %q", m)
	}
	if code := d.Wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, d.Log)
	}
}

// TestNoReadyWithBrokenCertificate: a key that does not match its certificate
// stops proxyd before READY=1, with exit 2 (which the unit does not restart).
func TestNoReadyWithBrokenCertificate(t *testing.T) {
	bin := build(t, "github.com/gopcp/gopcp/proxyd")
	ca := testcerts.New(t, nil, testcerts.Options{CN: "CA", IsCA: true})
	a := testcerts.New(t, ca, testcerts.Options{CN: "a", DNS: []string{"localhost"}, Server: true})
	b := testcerts.New(t, ca, testcerts.Options{CN: "b", DNS: []string{"localhost"}, Server: true})
	id := writeIdentity(t, t.TempDir(), ca, a)
	os.WriteFile(id.key, b.KeyPEM(t), 0o600)
	cfg := writeFile(t, "proxyd.toml", "")
	ns := systemdtest.NewNotifySocket(t)
	d := systemdtest.Start(t, exec.Command(bin, "--config", cfg, "-p", strconv.Itoa(pcptest.FreePort(t)), "-i", "127.0.0.1",
		"--tls-conf", id.conf), "NOTIFY_SOCKET="+ns.Path)
	if code := d.Wait(t, 15*time.Second); code != 2 {
		t.Fatalf("exit %d\n%s", code, d.Log)
	}
	ns.None(t, 200*time.Millisecond)
	if !strings.Contains(d.Log.String(), "TLS identity") {
		t.Fatalf("log:\n%s", d.Log)
	}
}

// TestSocketActivation starts proxyd as systemd would from proxyd.socket, with
// systemd's own systemd-socket-activate: it binds the port, and at the first
// connection starts proxyd with the socket (LISTEN_FDS). That first request is
// answered, and the -p port is never bound.
func TestSocketActivation(t *testing.T) {
	sa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd; .ci/run installs it)")
	}
	bin := build(t, "github.com/gopcp/gopcp/proxyd")
	col := ptest.StartCollector(t, nil)
	port, unused := pcptest.FreePort(t), pcptest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := writeFile(t, "proxyd.toml", "[upstream]\nallow = [\"127.0.0.1\"]\n") // the collector's ephemeral port
	ns := systemdtest.NewNotifySocket(t)
	d := systemdtest.Start(t, exec.Command(sa, "-l", addr, "-E", "NOTIFY_SOCKET="+ns.Path,
		bin, "--config", cfg, "-p", strconv.Itoa(unused)))
	var c net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate does not listen: %v\n%s", err, d.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close()
	if m := ns.Next(t, 15*time.Second); !strings.Contains(m, "READY=1") || !strings.Contains(m, addr) {
		t.Fatalf("notification %q\n%s", m, d.Log)
	}
	resp, err := http.Get("http://" + addr + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr)
	if err != nil {
		t.Fatalf("activated proxyd does not answer: %v\n%s", err, d.Log)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(unused)); err == nil {
		c.Close()
		t.Fatal("-p was bound although a socket was passed")
	}
	if !strings.Contains(d.Log.String(), "using sockets from the service manager") {
		t.Fatalf("log:\n%s", d.Log)
	}
	d.Signal(t, syscall.SIGTERM)
	if code := d.Wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, d.Log)
	}
}
