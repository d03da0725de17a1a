package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/systemd/systemdtest"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

// TestUnixSocketFlag runs the real binary with -Q and -s: a client on the unix
// socket is served without a certificate, a plaintext client over TCP loopback is
// refused with PM_ERR_NEEDCLIENTCERT, the limits come from the file, and SIGTERM
// removes the socket file. A regular file at the socket path stops the start.
func TestUnixSocketFlag(t *testing.T) {
	bin := collectordBin(t)
	p := newPKI(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "collectord.socket")
	cfg := filepath.Join(dir, "collectord.toml")
	writeFile(t, cfg, "[server]\nmax_clients_per_addr = 1\nmax_handshakes = 8\n[reload]\nwatch_interval = \"0s\"\n")
	port := freePort(t)
	ns := systemdtest.NewNotifySocket(t)
	d := systemdtest.Start(t, exec.Command(bin, "--config", cfg, "-p", itoa(port), "-i", "127.0.0.1",
		"-C", p.serverDir, "-M", serverNick, "-Q", "-s", sock), "NOTIFY_SOCKET="+ns.Path)
	if m := ns.Next(t, 15*time.Second); !strings.HasPrefix(m, "READY=1\n") || !strings.Contains(m, sock) {
		t.Fatalf("ready %q; log:\n%s", m, d.Log)
	}
	fetch := func(spec string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pmapi.Connect(ctx, spec, pmapi.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		ids, err := c.LookupNames([]string{"hinv.ncpu"})
		if err != nil {
			return err
		}
		_, err = c.Fetch(ids)
		return err
	}
	if err := fetch("unix:" + sock); err != nil {
		t.Fatalf("unix socket client under -Q: %v\n%s", err, d.Log)
	}
	if err := fetch("localhost:" + itoa(port)); protocol.CodeOf(err) != protocol.ErrNeedClientCert {
		t.Fatalf("plaintext loopback client under -Q: %v", err)
	}
	if !strings.Contains(d.Log.String(), "local client connected") {
		t.Fatalf("no credentials line:\n%s", d.Log)
	}
	d.Signal(t, syscall.SIGTERM)
	if code := d.Wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, d.Log)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after shutdown: %v", err)
	}

	writeFile(t, sock, "not a socket")
	d2 := systemdtest.Start(t, exec.Command(bin, "--config", cfg, "-p", itoa(freePort(t)), "-i", "127.0.0.1", "-s", sock))
	if code := d2.Wait(t, 15*time.Second); code != 1 || !strings.Contains(d2.Log.String(), "not a socket") {
		t.Fatalf("exit %d:\n%s", code, d2.Log)
	}
}
