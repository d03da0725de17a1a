package server

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/internal/netnstest"
	"github.com/gopcp/gopcp/protocol"
)

// inNetns runs f on a thread moved into network namespace ns, so that the
// sockets f makes belong to that namespace (they keep it after the thread
// returns to its own).
func inNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			panic("cannot return to the test's network namespace: " + err.Error())
		}
	}()
	f()
}

// TestControlStoreFromAnotherHost: a client on another host (a network
// namespace joined by a veth pair, so the server sees a real non-loopback
// address) cannot store into pmcd.control.*: PCP's own pmstore and a raw client
// that sends the store PDU after a bare handshake both get PM_ERR_PERMISSION, the
// reload hook never runs and the switches keep their values. The same store from
// the server's own host is accepted (the control that proves the detector).
func TestControlStoreFromAnotherHost(t *testing.T) {
	pair := netnstest.New(t)
	var hups atomic.Int32
	s, addr, _ := startServer(t, func(s *Server) { s.SetSIGHUPHook(func() { hups.Add(1) }) })
	var ln net.Listener
	inNetns(t, pair.Server, func() {
		var err error
		if ln, err = net.Listen("tcp", net.JoinHostPort(pair.ServerIP.String(), "0")); err != nil {
			t.Fatal(err)
		}
	})
	go s.Serve(context.Background(), ln)
	remote := ln.Addr().String()
	traceconn, _ := s.Registry.ByName("pmcd.control.traceconn")
	sighup, _ := s.Registry.ByName("pmcd.control.sighup")

	// A raw client on the other host that ignores everything it is told.
	var nc net.Conn
	inNetns(t, pair.Client, func() {
		var err error
		if nc, err = net.DialTimeout("tcp", remote, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	c := handshakeOn(t, nc, 0)
	for _, m := range []protocol.PMID{traceconn.Desc.PMID, sighup.Desc.PMID} {
		wantError(t, roundTrip(t, c, controlStore(m, 1)), protocol.ErrPermission)
	}

	// PCP's pmstore on the other host.
	if _, err := exec.LookPath("pmstore"); err == nil {
		for _, m := range []string{"pmcd.control.traceconn", "pmcd.control.tracebufs", "pmcd.control.sighup"} {
			cmd := netnstest.Command(pair.Client, "pmstore", "-h", remote, m, "1")
			cmd.Env = append(os.Environ(), "PCP_SECURE_SOCKETS=no")
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "No permission") {
				t.Errorf("pmstore %s from another host: %v: %s", m, err, out)
			}
		}
	} else {
		t.Log("pmstore missing (scripts/reference-pcp install): only the raw client ran")
	}
	if v := pmcdValues(t, s, "pmcd.control.traceconn", "pmcd.control.tracebufs"); v["pmcd.control.traceconn"] != 0 || v["pmcd.control.tracebufs"] != 20 || hups.Load() != 0 {
		t.Errorf("stores from another host changed something: %v, reloads %d", v, hups.Load())
	}

	// Control: the same store from the server's host is taken.
	wantError(t, roundTrip(t, dial(t, addr), controlStore(traceconn.Desc.PMID, 1)), 0)
	if v := pmcdValues(t, s, "pmcd.control.traceconn")["pmcd.control.traceconn"]; v != 1 {
		t.Errorf("a loopback store did not take: traceconn %d", v)
	}
}
