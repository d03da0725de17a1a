package server

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/netnstest"
	"github.com/gopcp/gopcp/internal/pcptest"

	"github.com/gopcp/gopcp/protocol"
)

// The proc agent's newer metrics from the attacker's side, over the wire.
var (
	pmidEnviron      = protocol.NewPMID(3, 8, 47)  // proc.psinfo.environ
	pmidMaps         = protocol.NewPMID(3, 9, 7)   // proc.memory.maps
	pmidSmapsPss     = protocol.NewPMID(3, 33, 1)  // proc.smaps.pss
	pmidNSPid        = protocol.NewPMID(3, 24, 38) // proc.namespaces.pid
	pmidHotPid       = protocol.NewPMID(3, 52, 0)  // hotproc.psinfo.pid
	pmidHotEnviron   = protocol.NewPMID(3, 52, 47) // hotproc.psinfo.environ
	pmidHotCPUBurn   = protocol.NewPMID(3, 61, 7)  // hotproc.predicate.cpuburn
	pmidHotNProcs    = protocol.NewPMID(3, 52, 99) // hotproc.nprocs
	pmidHotConfig    = protocol.NewPMID(3, 60, 8)  // hotproc.control.config
	pmidHotRefresh   = protocol.NewPMID(3, 60, 1)  // hotproc.control.refresh
	pmidHotConfigGen = protocol.NewPMID(3, 60, 9)  // hotproc.control.config_gen
	pmidRunqSleep    = protocol.NewPMID(3, 13, 2)  // proc.runq.sleeping
	pmidCtlThreads   = protocol.NewPMID(3, 10, 1)  // proc.control.all.threads
	indomHotprocIDs  = protocol.NewInDom(3, 39)
)

var hotPrivate = []protocol.PMID{pmidEnviron, pmidMaps, pmidSmapsPss, pmidNSPid, pmidHotPid, pmidHotEnviron, pmidHotCPUBurn}
var hotPublic = []protocol.PMID{pmidHotNProcs, pmidHotConfig, pmidRunqSleep, pmidCtlThreads}

// TestNewProcMetricsNeedTrustedClient: a plain TCP client that names a pid in its
// profile and asks for the environment, the mappings, smaps, namespaces and every
// kind of hotproc metric gets PM_ERR_PERMISSION for each, and for the hotproc
// instance domain; the counts and controls stay public. The same requests over
// the unix socket (trusted) get values, or none for hotproc (no predicate yet).
func TestNewProcMetricsNeedTrustedClient(t *testing.T) {
	_, addr, _ := startServer(t, nil)
	c := dial(t, addr)
	c.Write(&protocol.Profile{GState: protocol.ProfileInclude, Entries: []protocol.ProfileEntry{
		{InDom: indomProcs, State: protocol.ProfileExclude, Insts: []int32{1}}}})
	res, ok := roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: append(append([]protocol.PMID{}, hotPrivate...), hotPublic...)}).(*protocol.Result)
	if !ok || len(res.VSets) != len(hotPrivate)+len(hotPublic) {
		t.Fatalf("fetch reply %#v", res)
	}
	for i, p := range hotPrivate {
		if n := res.VSets[i].NumVal; n != protocol.ErrPermission {
			t.Errorf("plain TCP %v: numval %d, want PM_ERR_PERMISSION", p, n)
		}
	}
	for i, p := range hotPublic {
		if n := res.VSets[len(hotPrivate)+i].NumVal; n != 1 {
			t.Errorf("plain TCP %v: numval %d, want the public value", p, n)
		}
	}
	wantError(t, roundTrip(t, c, &protocol.InstanceReq{InDom: indomHotprocIDs, Inst: protocol.InNull}), protocol.ErrPermission)

	// The unix socket: trusted.
	uc := unixClient(t)
	uc.Write(&protocol.Profile{GState: protocol.ProfileInclude})
	res, ok = roundTrip(t, uc, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{pmidNSPid, pmidHotPid, pmidHotNProcs}}).(*protocol.Result)
	if !ok || len(res.VSets) != 3 {
		t.Fatalf("fetch reply %#v", res)
	}
	if n := res.VSets[0].NumVal; n < 1 {
		t.Errorf("unix socket: proc.namespaces.pid numval %d, want values", n)
	}
	if n := res.VSets[1].NumVal; n != 0 {
		t.Errorf("unix socket: hotproc.psinfo.pid numval %d, want none (no predicate)", n)
	}
	switch r := roundTrip(t, uc, &protocol.InstanceReq{InDom: indomHotprocIDs, Inst: protocol.InNull}).(type) {
	case *protocol.InstancePDU:
		if len(r.Instances) != 0 {
			t.Errorf("unix socket: %d hot processes, want none", len(r.Instances))
		}
	default:
		t.Errorf("unix socket: hotproc instances %#v", r)
	}

	// Stores into hotproc.control.*: refused from the plain TCP client (on
	// loopback, but it proved nothing), taken from root on the unix socket.
	wantError(t, roundTrip(t, c, hotConfigStore(`uname != "root" || cpuburn > 0.05`)), protocol.ErrPermission)
	wantError(t, roundTrip(t, c, hotRefreshStore(1)), protocol.ErrPermission)
	if cfg, gen := hotConfig(t, c); cfg != "" || gen != 0 {
		t.Errorf("refused stores changed the predicate: %q generation %d", cfg, gen)
	}
	if os.Geteuid() != 0 {
		wantError(t, roundTrip(t, uc, hotConfigStore(`uid == 0`)), protocol.ErrPermission)
		t.Skip("not root: the unix-socket client may not store either (TestHotprocStoreNotRoot)")
	}
	wantError(t, roundTrip(t, uc, hotConfigStore(`uname != "root" || cpuburn > 0.05`)), 0)
	wantError(t, roundTrip(t, uc, hotRefreshStore(1)), 0)
	// A predicate the agent refuses, and ones it takes but we refuse (an unknown
	// word it would skip, a pattern it would exit on): PM_ERR_BADSTORE, and the
	// old predicate stays.
	for _, bad := range []string{`pid == 1`, `foo cpuburn > 1`, `fname ~ /[/`, "uid == 0 &&", strings.Repeat("(", 1000)} {
		wantError(t, roundTrip(t, uc, hotConfigStore(bad)), protocol.ErrBadStore)
	}
	if cfg, gen := hotConfig(t, uc); cfg != `((uname != "root") || (cpuburn > 0.050000))` || gen != 1 {
		t.Errorf("unix socket: predicate %q generation %d", cfg, gen)
	}
}

func hotConfigStore(pred string) *protocol.Result {
	return &protocol.Result{VSets: []protocol.ValueSet{{PMID: pmidHotConfig, NumVal: 1, ValFmt: protocol.ValFmtDynamic,
		Values: []protocol.Value{protocol.BlockString(protocol.InNull, pred)}}}}
}

func hotRefreshStore(v uint32) *protocol.Result {
	return &protocol.Result{VSets: []protocol.ValueSet{{PMID: pmidHotRefresh, NumVal: 1, ValFmt: protocol.ValFmtInsitu,
		Values: []protocol.Value{{Inst: protocol.InNull, Insitu: v}}}}}
}

// hotConfig fetches hotproc.control.config and config_gen over c.
func hotConfig(t *testing.T, c *protocol.Conn) (string, uint32) {
	t.Helper()
	c.Write(&protocol.Profile{GState: protocol.ProfileInclude}) // a fetch needs one
	res, ok := roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{pmidHotConfig, pmidHotConfigGen}}).(*protocol.Result)
	if !ok || len(res.VSets) != 2 || res.VSets[0].NumVal != 1 || res.VSets[1].NumVal != 1 {
		t.Fatalf("hotproc.control.config: %+v", res)
	}
	return res.VSets[0].Values[0].Str(), res.VSets[1].Values[0].Insitu
}

// TestHotprocStoreFromAnotherHost: the hotproc predicate decides which processes
// every client's hotproc metrics show, so a client on another host (a network
// namespace behind a veth pair) may not set it: a raw client that ignores what it
// is told, one with a verified certificate, and PCP's pmstore all get
// PM_ERR_PERMISSION, as from the real agent, and the predicate stays unset. The
// same store over the server's unix socket is taken (the control).
func TestHotprocStoreFromAnotherHost(t *testing.T) {
	pair := netnstest.New(t)
	s, _, _, pki := newTLSServer(t, false)
	var ln net.Listener
	inNetns(t, pair.Server, func() {
		var err error
		if ln, err = net.Listen("tcp", net.JoinHostPort(pair.ServerIP.String(), "0")); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	go s.Serve(context.Background(), ln)
	remote := ln.Addr().String()

	var raw, certified *protocol.Conn
	inNetns(t, pair.Client, func() {
		nc, err := net.DialTimeout("tcp", remote, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		raw = handshakeOn(t, nc, 0)
		if certified, err = secureDial(t, remote, clientCfg(pki, pki.client)); err != nil {
			t.Fatalf("certificate client from another host: %v", err)
		}
	})
	for name, c := range map[string]*protocol.Conn{"raw client": raw, "verified certificate": certified} {
		wantError(t, roundTrip(t, c, hotConfigStore(`uid == 0`)), protocol.ErrPermission)
		wantError(t, roundTrip(t, c, hotRefreshStore(1)), protocol.ErrPermission)
		reload := hotRefreshStore(1)
		reload.VSets[0].PMID = protocol.NewPMID(3, 60, 10) // hotproc.control.reload_config
		wantError(t, roundTrip(t, c, reload), protocol.ErrPermission)
		if cfg, gen := hotConfig(t, c); cfg != "" || gen != 0 {
			t.Errorf("%s from another host set the predicate: %q generation %d", name, cfg, gen)
		}
	}
	if _, err := exec.LookPath("pmstore"); err == nil {
		cmd := netnstest.Command(pair.Client, "pmstore", "-h", remote, "hotproc.control.config", "uid == 0")
		cmd.Env = append(os.Environ(), "PCP_SECURE_SOCKETS=no")
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "No permission") {
			t.Errorf("pmstore from another host: %v: %s", err, out)
		}
	} else {
		t.Log("pmstore missing (scripts/reference-pcp install): only our clients ran")
	}

	sock := filepath.Join(t.TempDir(), "pmcd.socket")
	serveUnix(t, s, sock)
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	uc := handshakeOn(t, nc, 0)
	if os.Geteuid() != 0 {
		return // the control needs a root client
	}
	wantError(t, roundTrip(t, uc, hotConfigStore(`uid == 0`)), 0)
	if cfg, gen := hotConfig(t, raw); cfg != "(uid == 0)" || gen != 1 {
		t.Errorf("after the unix-socket store the remote client reads %q generation %d", cfg, gen)
	}
}

// pmstoreAs runs PCP's pmstore as uid/gid 65534 (nobody) against sock.
func pmstoreAs(sock string, args ...string) controlStoreRun {
	cmd := exec.Command(pmstoreBin, append([]string{"-h", sock}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Env = pcptest.Env("HOME=/")
	return storeRun(cmd)
}

// openPath lets another user reach path: the test's folders are 0700.
func openPath(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHotprocStoreNotRoot: a local user other than root, on the unix socket
// (where the server knows its uid from the kernel), may read hotproc but not set
// it: PCP's pmstore run as nobody gets "No permission" for config, refresh and
// reload_config, from collectord as from the real agent (when it is installed and
// not under -short), and the predicate stays unset.
func TestHotprocStoreNotRoot(t *testing.T) {
	pcptest.Require(t, pmstoreBin)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run pmstore as another user")
	}
	s, _, _ := startServer(t, nil)
	dir := t.TempDir()
	openPath(t, dir)
	ourPath := filepath.Join(dir, "pmcd.socket")
	serveUnix(t, s, ourPath)
	socks := []string{"unix:" + ourPath}
	if !testing.Short() {
		if _, err := os.Stat(pcptest.PMCD); err == nil {
			real := startRealPMCDDir(t)
			openPath(t, filepath.Dir(strings.TrimPrefix(real, "unix:")))
			socks = append(socks, real)
		}
	}
	for _, sock := range socks {
		for _, args := range [][]string{{"hotproc.control.config", "uid == 0"}, {"hotproc.control.refresh", "1"},
			{"hotproc.control.reload_config", "1"}} {
			r := pmstoreAs(sock, args...)
			if r.err != "" || r.code == 0 || !strings.Contains(r.out+r.errOut, "No permission") {
				t.Errorf("%s: pmstore %s as nobody: %+v", sock, strings.Join(args, " "), r)
			}
		}
		out, _, _ := runTool(t, pcptest.PMInfo, "-h", sock, "-f", "hotproc.control.config", "hotproc.control.config_gen")
		if !strings.Contains(out, "value \"\"") || !strings.Contains(out, "value 0") {
			t.Errorf("%s: after nobody's stores:\n%s", sock, out)
		}
	}
}

// startRealPMCDDir starts a real pmcd (pcptest's way) and returns its folder,
// whose run/pmcd.socket takes local clients with their credentials: the only
// clients the real proc agent takes hotproc stores from (root).
func startRealPMCDDir(t *testing.T) string {
	t.Helper()
	script, err := pcptest.ReferenceScript()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if out, err := exec.Command(script, "start", dir, strconv.Itoa(pcptest.FreePort(t))).CombinedOutput(); err != nil {
		t.Fatalf("reference-pcp start: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(script, "stop", dir).Run() })
	sock := "unix:" + filepath.Join(dir, "run", "pmcd.socket")
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if exec.Command(pcptest.PMInfo, "-h", sock, "hotproc.control.config").Run() == nil {
			return sock
		}
	}
	t.Fatal("the real pmcd did not answer on its unix socket")
	return ""
}

// TestRealHotprocPredicate: PCP's pmstore sets the same predicates over the unix
// socket of the real pmcd and of collectord and prints the same for each (old
// value, new value, or the error for one the agent refuses); both then read the
// predicate back in the same normalised form, and both select the same hot
// process: a child of this test burning CPU under a name only it has. pminfo -f
// of hotproc.psinfo.pid (instance names included) and of the predicate's
// cpuburn count must agree.
func TestRealHotprocPredicate(t *testing.T) {
	skipShortInterop(t)
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo, pmstoreBin)
	if os.Geteuid() != 0 {
		t.Skip("the real proc agent takes hotproc stores only from root")
	}
	realSock := startRealPMCDDir(t)
	s, _, _ := startServer(t, nil)
	ourPath := filepath.Join(t.TempDir(), "pmcd.socket")
	serveUnix(t, s, ourPath)
	ourSock := "unix:" + ourPath

	// The busy child: a shell under a name of its own (its comm, fname).
	name := "gopcphot" + strconv.Itoa(os.Getpid()%1000000)
	burner := filepath.Join(t.TempDir(), name)
	if err := os.Symlink("/bin/sh", burner); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(burner, "-c", "while :; do :; done")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })

	pred := `fname == "` + name + `" && cpuburn > 0.02 || uid == 4000000000`
	for _, args := range [][]string{
		{"hotproc.control.refresh", "1"},
		{"hotproc.control.config", "pid == 1"},
		{"hotproc.control.config", pred},
		{"hotproc.control.config", "uid == 0 &&"},
	} {
		want, got := storeBoth(exec.Command(pmstoreBin, append([]string{"-h", realSock}, args...)...),
			exec.Command(pmstoreBin, append([]string{"-h", ourSock}, args...)...))
		if want.err != "" || got != want {
			t.Errorf("pmstore %s:\n ours: %+v\n real: %+v", strings.Join(args, " "), got, want)
		}
	}
	names := []string{"hotproc.control.config", "hotproc.control.config_gen", "hotproc.control.refresh"}
	want, _, _ := runTool(t, pcptest.PMInfo, append([]string{"-h", realSock, "-f"}, names...)...)
	got, _, _ := runTool(t, pcptest.PMInfo, append([]string{"-h", ourSock, "-f"}, names...)...)
	if got != want || !strings.Contains(want, name) {
		t.Errorf("pminfo -f after the stores:\n ours:\n%s\n real:\n%s", got, want)
	}

	// The real agent needs two ticks of its timer (a first sample, then rates);
	// both are given up to 15 s to show the child.
	hot := func(sock string) string {
		out, _, _ := runTool(t, pcptest.PMInfo, "-h", sock, "-f", "hotproc.psinfo.pid", "hotproc.nprocs")
		return out
	}
	pidLine := "value " + strconv.Itoa(child.Process.Pid) + "\n"
	var realHot, ourHot string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if !strings.Contains(realHot, pidLine) {
			realHot = hot(realSock)
		}
		if !strings.Contains(ourHot, pidLine) {
			ourHot = hot(ourSock)
		}
		if strings.Contains(realHot, pidLine) && strings.Contains(ourHot, pidLine) {
			break
		}
	}
	if ourHot != realHot || !strings.Contains(realHot, pidLine) {
		t.Errorf("hot processes (child %d):\n ours:\n%s\n real:\n%s", child.Process.Pid, ourHot, realHot)
	}
	// Both saw it burn more than the predicate asks (its exact rate differs
	// between two samplings of a shared CPU).
	for sock, label := range map[string]string{realSock: "real", ourSock: "ours"} {
		out, _, _ := runTool(t, pcptest.PMInfo, "-h", sock, "-f", "hotproc.predicate.cpuburn")
		var v float64
		for _, line := range strings.Split(out, "\n") {
			if i := strings.Index(line, "] value "); i > 0 && strings.Contains(line, strconv.Itoa(child.Process.Pid)) {
				v, _ = strconv.ParseFloat(strings.TrimSpace(line[i+len("] value "):]), 64)
			}
		}
		if v <= 0.02 {
			t.Errorf("%s: hotproc.predicate.cpuburn of the child %v:\n%s", label, v, out)
		}
	}
}
