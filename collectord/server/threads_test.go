package server

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gopcp/gopcp/internal/netnstest"
	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/protocol"
)

var (
	pmidAllThreads       = protocol.NewPMID(3, 10, 1)  // proc.control.all.threads
	pmidPerclientThreads = protocol.NewPMID(3, 10, 2)  // proc.control.perclient.threads
	pmidTgid             = protocol.NewPMID(3, 24, 41) // proc.psinfo.tgid
)

// lockedThread starts a thread of the test process that lives until the test
// ends (a goroutine locked to it) and returns its id: a task the collector in
// this process must list when a client asks for threads.
func lockedThread(t *testing.T) uint32 {
	t.Helper()
	tidc, stop := make(chan int), make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		tidc <- syscall.Gettid()
		<-stop
	}()
	tid := uint32(<-tidc)
	if tid == uint32(os.Getpid()) {
		t.Skip("the locked goroutine runs on the main thread")
	}
	return tid
}

// procIDs asks for the process instance domain over c: its ids, or the error.
func procIDs(t *testing.T, c *protocol.Conn) ([]uint32, int32) {
	t.Helper()
	switch r := roundTrip(t, c, &protocol.InstanceReq{InDom: indomProcs, Inst: protocol.InNull}).(type) {
	case *protocol.ErrorPDU:
		return nil, r.Code
	case *protocol.InstancePDU:
		ids := make([]uint32, len(r.Instances))
		for i, in := range r.Instances {
			ids[i] = in.ID
		}
		return ids, 0
	default:
		t.Fatalf("instance reply %#v", r)
	}
	return nil, 0
}

// threadSetting fetches proc.control.perclient.threads and all.threads over c.
func threadSetting(t *testing.T, c *protocol.Conn) (perclient, all uint32) {
	t.Helper()
	c.Write(&protocol.Profile{GState: protocol.ProfileInclude})
	res, ok := roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{pmidPerclientThreads, pmidAllThreads}}).(*protocol.Result)
	if !ok || len(res.VSets) != 2 || res.VSets[0].NumVal != 1 || res.VSets[1].NumVal != 1 {
		t.Fatalf("fetch of the thread settings: %#v", res)
	}
	return res.VSets[0].Values[0].Insitu, res.VSets[1].Values[0].Insitu
}

// TestThreadsPerClientOverTheWire: proc.control.perclient.threads belongs to the
// connection that stored it, as in the real proc agent: the client that stores 1
// sees the tasks of the test process (named by tid, with the process as thread
// group), a second unix-socket client of the same collector still sees processes.
// From the attacker's side, a raw loopback TCP client and a TLS client without a
// certificate, ignoring every flag, can store neither setting and change nothing;
// a verified certificate may store its own. A trusted store into all.threads then
// reaches every client that has not set its own.
func TestThreadsPerClientOverTheWire(t *testing.T) {
	s, addr, _, p := newTLSServer(t, false)
	sock := filepath.Join(t.TempDir(), "pmcd.socket")
	serveUnix(t, s, sock)
	unixConn := func() *protocol.Conn {
		nc, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		return handshakeOn(t, nc, 0)
	}
	tid, pid := lockedThread(t), uint32(os.Getpid())
	htop, other := unixConn(), unixConn()

	wantError(t, roundTrip(t, htop, controlStore(pmidPerclientThreads, 1)), 0)
	if pc, all := threadSetting(t, htop); pc != 1 || all != 0 {
		t.Errorf("the storing client reads perclient %d, all %d; want 1, 0", pc, all)
	}
	ids, code := procIDs(t, htop)
	if code != 0 || !slices.Contains(ids, tid) || !slices.Contains(ids, pid) {
		t.Fatalf("the storing client's list (error %d): thread %d listed %v, process listed %v", code, tid, slices.Contains(ids, tid), slices.Contains(ids, pid))
	}
	// A profile of the thread alone (as procAccess asks for one process).
	htop.Write(&protocol.Profile{GState: protocol.ProfileInclude, Entries: []protocol.ProfileEntry{
		{InDom: indomProcs, State: protocol.ProfileExclude, Insts: []int32{int32(tid)}}}})
	res, ok := roundTrip(t, htop, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{pmidTgid}}).(*protocol.Result)
	if !ok || len(res.VSets) != 1 || res.VSets[0].NumVal != 1 || res.VSets[0].Values[0].Inst != tid || res.VSets[0].Values[0].Insitu != pid {
		t.Errorf("tgid of thread %d: want one value, %d (reply %T ok %v)", tid, pid, res, ok)
		if ok && len(res.VSets) == 1 {
			t.Errorf("got %d values, the first %+v", res.VSets[0].NumVal, res.VSets[0].Values[:min(1, len(res.VSets[0].Values))])
		}
	}

	notListed := func(who string, c *protocol.Conn) {
		t.Helper()
		if ids, code := procIDs(t, c); code != 0 || slices.Contains(ids, tid) || !slices.Contains(ids, pid) {
			t.Errorf("%s (error %d): thread listed %v, process listed %v; want the process only", who, code, slices.Contains(ids, tid), slices.Contains(ids, pid))
		}
	}
	notListed("a second unix client", other)
	if pc, _ := threadSetting(t, other); pc != 0 {
		t.Errorf("a second unix client reads perclient.threads %d", pc)
	}

	// The attacker's side: nothing it sends is taken.
	tlsAnon, err := secureDial(t, addr, clientCfg(p, nil))
	if err != nil {
		t.Fatal(err)
	}
	for who, c := range map[string]*protocol.Conn{"raw loopback TCP": dial(t, addr), "TLS without a certificate": tlsAnon} {
		wantError(t, roundTrip(t, c, controlStore(pmidAllThreads, 1)), protocol.ErrPermission)
		wantError(t, roundTrip(t, c, controlStore(pmidPerclientThreads, 1)), protocol.ErrNoContext)
		if _, code := procIDs(t, c); code != protocol.ErrPermission {
			t.Errorf("%s: process list error %d, want PM_ERR_PERMISSION", who, code)
		}
		if pc, all := threadSetting(t, c); pc != 0 || all != 0 {
			t.Errorf("%s after its refused stores: perclient %d, all %d", who, pc, all)
		}
	}
	notListed("a second unix client after the refused stores", other)

	// A verified certificate proves who the client is: its own setting is taken.
	certified, err := secureDial(t, addr, clientCfg(p, p.client))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, roundTrip(t, certified, controlStore(pmidPerclientThreads, 1)), 0)
	if ids, code := procIDs(t, certified); code != 0 || !slices.Contains(ids, tid) {
		t.Errorf("a certified client with perclient.threads 1 (error %d): thread listed %v", code, slices.Contains(ids, tid))
	}
	wantError(t, roundTrip(t, certified, controlStore(pmidPerclientThreads, 2)), protocol.ErrBadStore)

	// all.threads from a trusted client reaches a client that set nothing, and
	// is read back by everyone.
	wantError(t, roundTrip(t, htop, controlStore(pmidAllThreads, 1)), 0)
	if ids, code := procIDs(t, other); code != 0 || !slices.Contains(ids, tid) {
		t.Errorf("a second unix client under all.threads 1 (error %d): thread listed %v", code, slices.Contains(ids, tid))
	}
	if pc, all := threadSetting(t, dial(t, addr)); pc != 1 || all != 1 {
		t.Errorf("a later TCP client reads perclient %d, all %d; want 1, 1", pc, all)
	}
}

// TestThreadsStoreFromAnotherHost: a client on another host (a network namespace
// joined by a veth pair) cannot turn threads on for everyone: PCP's own pmstore
// and a raw client both get the real agent's PM_ERR_PERMISSION, its per-client
// store PM_ERR_NOCONTEXT, and all.threads stays 0.
func TestThreadsStoreFromAnotherHost(t *testing.T) {
	pair := netnstest.New(t)
	s, _, _ := startServer(t, nil)
	var ln net.Listener
	inNetns(t, pair.Server, func() {
		var err error
		if ln, err = net.Listen("tcp", net.JoinHostPort(pair.ServerIP.String(), "0")); err != nil {
			t.Fatal(err)
		}
	})
	go s.Serve(context.Background(), ln)
	remote := ln.Addr().String()

	var nc net.Conn
	inNetns(t, pair.Client, func() {
		var err error
		if nc, err = net.Dial("tcp", remote); err != nil {
			t.Fatal(err)
		}
	})
	c := handshakeOn(t, nc, 0)
	wantError(t, roundTrip(t, c, controlStore(pmidAllThreads, 1)), protocol.ErrPermission)
	wantError(t, roundTrip(t, c, controlStore(pmidPerclientThreads, 1)), protocol.ErrNoContext)

	if _, err := exec.LookPath("pmstore"); err == nil {
		cmd := netnstest.Command(pair.Client, "pmstore", "-h", remote, "proc.control.all.threads", "1")
		cmd.Env = append(os.Environ(), "PCP_SECURE_SOCKETS=no")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "No permission") {
			t.Errorf("pmstore proc.control.all.threads from another host: %v\n%s", err, out)
		}
	} else {
		t.Log("pmstore missing (scripts/reference-pcp install): only the raw client ran")
	}
	if v := pmcdValues(t, s, "proc.control.all.threads")["proc.control.all.threads"]; v != 0 {
		t.Errorf("stores from another host turned all.threads to %d", v)
	}
}

// TestThreadsAnswersMatchRealAgent puts the same raw requests to the real pmcd and
// to collectord, each over its unix socket and over loopback TCP, and compares the
// answers: the stores a TCP client without credentials is refused (all.threads
// PM_ERR_PERMISSION, perclient.threads PM_ERR_NOCONTEXT), the bad values
// (PM_ERR_BADSTORE) and value sets (PM_ERR_INST), and what a unix client that
// stored perclient.threads 1 sees: a thread of this test process listed, the
// setting read back as 1; a second unix client reads 0 and sees no thread.
func TestThreadsAnswersMatchRealAgent(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo)
	if testing.Short() {
		t.Skip("starts the real pmcd; make test runs it")
	}
	h := startStockHosts(t)
	tid := lockedThread(t)
	conn := func(host string) *protocol.Conn {
		network, address := "tcp", host
		if path, ok := strings.CutPrefix(host, "unix:"); ok {
			network, address = "unix", path
		}
		nc, err := net.Dial(network, address)
		if err != nil {
			t.Fatal(err)
		}
		return handshakeOn(t, nc, 0)
	}
	errOf := func(p protocol.PDU) int32 {
		if e, ok := p.(*protocol.ErrorPDU); ok {
			return e.Code
		}
		return 1 // not an error PDU at all: shown as a difference
	}
	two := &protocol.Result{VSets: []protocol.ValueSet{{PMID: pmidPerclientThreads, NumVal: 2, ValFmt: protocol.ValFmtInsitu,
		Values: []protocol.Value{{Inst: protocol.InNull, Insitu: 1}, {Inst: 1, Insitu: 1}}}}}
	type answers struct {
		tcpAll, tcpPerclient, bad, twoValues, unixStore int32
		perclient, other                                uint32
		listed, otherListed                             bool
	}
	ask := func(tcp, unix string) answers {
		var a answers
		c := conn(tcp)
		a.tcpAll = errOf(roundTrip(t, c, controlStore(pmidAllThreads, 1)))
		a.tcpPerclient = errOf(roundTrip(t, c, controlStore(pmidPerclientThreads, 1)))
		u, other := conn(unix), conn(unix)
		a.bad = errOf(roundTrip(t, u, controlStore(pmidPerclientThreads, 2)))
		a.twoValues = errOf(roundTrip(t, u, two))
		a.unixStore = errOf(roundTrip(t, u, controlStore(pmidPerclientThreads, 1)))
		a.perclient, _ = threadSetting(t, u)
		a.other, _ = threadSetting(t, other)
		ids, _ := procIDs(t, u)
		a.listed = slices.Contains(ids, tid)
		ids, _ = procIDs(t, other)
		a.otherListed = slices.Contains(ids, tid)
		return a
	}
	want, got := ask(h.realTCP, h.realUnix), ask(h.ourTCP, h.ourUnix)
	t.Logf("the real pmcd's answers: %+v", want)
	if got != want {
		t.Errorf("collectord's answers %+v, the real pmcd's %+v", got, want)
	}
	if !want.listed || want.otherListed || want.tcpAll != protocol.ErrPermission || want.tcpPerclient != protocol.ErrNoContext {
		t.Errorf("the real pmcd no longer answers as this collector was written to: %+v", want)
	}
}
