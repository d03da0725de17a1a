package main

import (
	"context"
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

// TestSIGHUPCountedAndStorable runs the real binary: pmcd.sighups counts the
// SIGHUPs the daemon acts on, a store into pmcd.control.sighup from the unix
// socket reloads the same way (and is counted), and the same store from a
// loopback TCP client is refused without a reload.
func TestSIGHUPCountedAndStorable(t *testing.T) {
	bin := collectordBin(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "collectord.socket")
	cfg := filepath.Join(dir, "collectord.toml")
	writeFile(t, cfg, "[reload]\nwatch_interval = \"0s\"\n")
	port := freePort(t)
	ns := systemdtest.NewNotifySocket(t)
	d := systemdtest.Start(t, exec.Command(bin, "--config", cfg, "-p", itoa(port), "-i", "127.0.0.1", "-s", sock),
		"NOTIFY_SOCKET="+ns.Path)
	if m := ns.Next(t, 15*time.Second); !strings.HasPrefix(m, "READY=1\n") {
		t.Fatalf("ready %q; log:\n%s", m, d.Log)
	}
	connect := func(spec string) *pmapi.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pmapi.Connect(ctx, spec, pmapi.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	unix, tcp := connect("unix:"+sock), connect("localhost:"+itoa(port))
	ids, err := unix.LookupNames([]string{"pmcd.sighups", "pmcd.control.sighup"})
	if err != nil {
		t.Fatal(err)
	}
	sighups := func() uint32 {
		t.Helper()
		r, err := unix.Fetch(ids[:1])
		if err != nil || len(r.VSets) != 1 || r.VSets[0].NumVal != 1 {
			t.Fatalf("fetch pmcd.sighups: %v %+v", err, r)
		}
		return r.VSets[0].Values[0].Insitu
	}
	reloaded := func() {
		t.Helper()
		// The loop says RELOADING=1, then READY=1 with the outcome.
		for i := 0; i < 2; i++ {
			if m := ns.Next(t, 10*time.Second); i == 1 && !strings.HasPrefix(m, "READY=1\n") {
				t.Fatalf("after the reload: %q; log:\n%s", m, d.Log)
			}
		}
	}
	if n := sighups(); n != 0 {
		t.Fatalf("pmcd.sighups at start: %d", n)
	}
	d.Signal(t, syscall.SIGHUP)
	reloaded()
	if n := sighups(); n != 1 {
		t.Errorf("pmcd.sighups after one SIGHUP: %d", n)
	}
	store := &protocol.Result{VSets: []protocol.ValueSet{{PMID: ids[1], NumVal: 1, ValFmt: protocol.ValFmtInsitu,
		Values: []protocol.Value{{Inst: protocol.InNull, Insitu: 1}}}}}
	if err := tcp.Store(store); protocol.CodeOf(err) != protocol.ErrPermission {
		t.Errorf("store into pmcd.control.sighup over loopback TCP: %v, want PM_ERR_PERMISSION", err)
	}
	ns.None(t, 500*time.Millisecond)
	if err := unix.Store(store); err != nil {
		t.Fatalf("store into pmcd.control.sighup on the unix socket: %v", err)
	}
	reloaded()
	if n := sighups(); n != 2 {
		t.Errorf("pmcd.sighups after the store: %d", n)
	}
}
