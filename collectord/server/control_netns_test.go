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
	debug, _ := s.Registry.ByName("pmcd.control.debug")
	timeout, _ := s.Registry.ByName("pmcd.control.timeout")
	register, _ := s.Registry.ByName("pmcd.control.register")

	// A raw client on the other host that ignores everything it is told.
	var nc net.Conn
	inNetns(t, pair.Client, func() {
		var err error
		if nc, err = net.DialTimeout("tcp", remote, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	c := handshakeOn(t, nc, 0)
	for _, m := range []protocol.PMID{traceconn.Desc.PMID, sighup.Desc.PMID, debug.Desc.PMID, timeout.Desc.PMID} {
		wantError(t, roundTrip(t, c, controlStore(m, 1)), protocol.ErrPermission)
	}
	// The registers, and value sets pmstore never sends: the answer is the same
	// PM_ERR_PERMISSION, so a remote client learns nothing of what a local one
	// could store.
	for _, vs := range []protocol.ValueSet{
		{PMID: register.Desc.PMID, NumVal: 1, Values: []protocol.Value{{Inst: 3, Insitu: 42}}},
		{PMID: register.Desc.PMID, NumVal: 1, Values: []protocol.Value{{Inst: 16, Insitu: 42}}},
		{PMID: register.Desc.PMID, NumVal: 0},
		{PMID: debug.Desc.PMID, NumVal: 1, ValFmt: protocol.ValFmtDynamic,
			Values: []protocol.Value{{Inst: protocol.InNull, VType: uint8(protocol.Type32), Payload: []byte{0, 0, 0, 1}}}},
		{PMID: timeout.Desc.PMID, NumVal: 2, Values: []protocol.Value{{Inst: protocol.InNull, Insitu: 1}, {Inst: protocol.InNull, Insitu: 2}}},
	} {
		wantError(t, roundTrip(t, c, &protocol.Result{VSets: []protocol.ValueSet{vs}}), protocol.ErrPermission)
	}

	// PCP's pmstore on the other host.
	if _, err := exec.LookPath("pmstore"); err == nil {
		for _, m := range []string{"pmcd.control.traceconn", "pmcd.control.tracebufs", "pmcd.control.sighup",
			"pmcd.control.debug", "pmcd.control.timeout", "pmcd.control.register"} {
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
	if v := pmcdValues(t, s, "pmcd.control.traceconn", "pmcd.control.tracebufs", "pmcd.control.debug", "pmcd.control.timeout"); v["pmcd.control.traceconn"] != 0 ||
		v["pmcd.control.tracebufs"] != 20 || v["pmcd.control.debug"] != 0 || v["pmcd.control.timeout"] != 0 || hups.Load() != 0 {
		t.Errorf("stores from another host changed something: %v, reloads %d", v, hups.Load())
	}
	if regs := registerValues(t, s); regs != [16]int32{} {
		t.Errorf("stores from another host changed the registers: %v", regs)
	}

	// Control: the same stores from the server's host are taken.
	lc := dial(t, addr)
	wantError(t, roundTrip(t, lc, controlStore(traceconn.Desc.PMID, 1)), 0)
	wantError(t, roundTrip(t, lc, controlStore(timeout.Desc.PMID, 9)), 0)
	wantError(t, roundTrip(t, lc, &protocol.Result{VSets: []protocol.ValueSet{
		{PMID: register.Desc.PMID, NumVal: 1, Values: []protocol.Value{{Inst: 3, Insitu: 42}}}}}), 0)
	if v := pmcdValues(t, s, "pmcd.control.traceconn", "pmcd.control.timeout"); v["pmcd.control.traceconn"] != 1 || v["pmcd.control.timeout"] != 9 {
		t.Errorf("loopback stores did not take: %v", v)
	}
	if regs := registerValues(t, s); regs[3] != 42 {
		t.Errorf("a loopback store did not take: registers %v", regs)
	}
}

// registerValues fetches pmcd.control.register in-process, by instance.
func registerValues(t *testing.T, s *Server) [16]int32 {
	t.Helper()
	var regs [16]int32
	res := s.Registry.Fetch(nil, []protocol.PMID{servedPMID(t, s, "pmcd.control.register")})[0]
	if len(res.Values) != len(regs) {
		t.Fatalf("pmcd.control.register: %+v", res)
	}
	for _, v := range res.Values {
		regs[v.Inst] = int32(v.U)
	}
	return regs
}

// TestControlStoreMalformed: a local raw client (one that may store) sending
// value sets pmstore never sends into pmcd.control.debug, timeout and register
// gets a clean error, keeps its connection, and changes nothing; a good store in
// the same PDU as a bad one is not applied either. (pmcd 6.0.3 takes several of
// these: the first of two values, any instance of a singular metric, the pointer
// bits of a value that is not insitu; collectord refuses them.)
func TestControlStoreMalformed(t *testing.T) {
	s, addr, _ := startServer(t, nil)
	id := func(n string) protocol.PMID { return servedPMID(t, s, n) }
	debug, timeout, register := id("pmcd.control.debug"), id("pmcd.control.timeout"), id("pmcd.control.register")
	null := protocol.InNull
	c := dial(t, addr)
	for _, k := range []struct {
		name string
		vs   []protocol.ValueSet
		want int32
	}{
		{"debug as a value block", []protocol.ValueSet{{PMID: debug, NumVal: 1, ValFmt: protocol.ValFmtDynamic,
			Values: []protocol.Value{{Inst: null, VType: uint8(protocol.Type32), Payload: []byte{0, 0, 0, 1}}}}}, protocol.ErrBadStore},
		{"timeout as a 64-bit block", []protocol.ValueSet{{PMID: timeout, NumVal: 1, ValFmt: protocol.ValFmtDynamic,
			Values: []protocol.Value{{Inst: null, VType: uint8(protocol.Type64), Payload: make([]byte, 8)}}}}, protocol.ErrBadStore},
		{"debug with no value", []protocol.ValueSet{{PMID: debug, NumVal: 0}}, protocol.ErrBadStore},
		{"register with an error code for values", []protocol.ValueSet{{PMID: register, NumVal: protocol.ErrGeneric}}, protocol.ErrBadStore},
		{"timeout with two values", []protocol.ValueSet{{PMID: timeout, NumVal: 2,
			Values: []protocol.Value{{Inst: null, Insitu: 3}, {Inst: null, Insitu: 4}}}}, protocol.ErrBadStore},
		{"debug for instance 0", []protocol.ValueSet{{PMID: debug, NumVal: 1, Values: []protocol.Value{{Inst: 0, Insitu: 1}}}}, protocol.ErrInst},
		{"register 16", []protocol.ValueSet{{PMID: register, NumVal: 1, Values: []protocol.Value{{Inst: 16, Insitu: 1}}}}, protocol.ErrInst},
		{"register 4 then 16", []protocol.ValueSet{{PMID: register, NumVal: 2,
			Values: []protocol.Value{{Inst: 4, Insitu: 5}, {Inst: 16, Insitu: 1}}}}, protocol.ErrInst},
		{"a good timeout beside register 16", []protocol.ValueSet{{PMID: timeout, NumVal: 1, Values: []protocol.Value{{Inst: null, Insitu: 5}}},
			{PMID: register, NumVal: 1, Values: []protocol.Value{{Inst: 16, Insitu: 1}}}}, protocol.ErrInst},
		{"timeout 2^31", []protocol.ValueSet{{PMID: timeout, NumVal: 1, Values: []protocol.Value{{Inst: null, Insitu: 1 << 31}}}}, protocol.ErrSign},
	} {
		if e, ok := roundTrip(t, c, &protocol.Result{VSets: k.vs}).(*protocol.ErrorPDU); !ok || e.Code != k.want {
			t.Errorf("%s: %+v, want %s", k.name, e, protocol.ErrStr(k.want))
		}
	}
	if v := pmcdValues(t, s, "pmcd.control.debug", "pmcd.control.timeout"); v["pmcd.control.debug"] != 0 || v["pmcd.control.timeout"] != 0 {
		t.Errorf("refused stores changed something: %v", v)
	}
	if regs := registerValues(t, s); regs != [16]int32{} {
		t.Errorf("refused stores changed the registers: %v", regs)
	}
	// The connection is still good for a store pmstore would send.
	wantError(t, roundTrip(t, c, controlStore(timeout, 5)), 0)
}
