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
)

// controlStoreRun is one pmstore run: what it printed and its exit status, or
// why it could not run.
type controlStoreRun struct {
	out, errOut string
	code        int
	err         string
}

// storeRun runs cmd with the real PCP client environment. It calls no t method,
// so that it may run on any goroutine.
func storeRun(cmd *exec.Cmd) controlStoreRun {
	if cmd.Env == nil {
		cmd.Env = pcptest.Env()
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	r := controlStoreRun{}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else {
			r.err = err.Error()
		}
	}
	r.out, r.errOut = out.String(), errOut.String()
	return r
}

// skipShortInterop skips the comparisons with the real pmcd under -short (make
// race): each runs a real pmcd and dozens of pmstore processes, which the race
// detector cannot look into, and make test runs them. What collectord itself
// does with these stores runs in -short too (TestControlStoreMalformed,
// TestControlStoreFromAnotherHost, the metrics package's TestControl*).
func skipShortInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with the real pmcd through many pmstore processes: runs in make test, not under -short")
	}
}

// storeBoth runs the real pmcd's pmstore and ours at once (each takes most of
// its time starting up) and returns what each did.
func storeBoth(realCmd, ourCmd *exec.Cmd) (real, ours controlStoreRun) {
	done := make(chan controlStoreRun, 1)
	go func() { done <- storeRun(realCmd) }()
	ours = storeRun(ourCmd)
	return <-done, ours
}

// TestRealControlStores: the real pmstore stores into pmcd.control.debug,
// timeout and register of the real pmcd and of collectord, good values and bad,
// and prints byte for byte the same for both (the old value it prints is what
// the server read back before the store), and pminfo -f then shows the same
// values. Nothing here depends on the server but the values stored: the
// timeout each starts with (pmcd's -t default 5, the collector's 0) is set to 5
// on both first.
func TestRealControlStores(t *testing.T) {
	skipShortInterop(t)
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo, pmstoreBin)
	realAddr := "127.0.0.1:" + strconv.Itoa(pcptest.StartPMCD(t, ""))
	_, addr, _ := startServer(t, nil)

	real5, our5 := storeBoth(exec.Command(pmstoreBin, "-h", realAddr, "pmcd.control.timeout", "5"),
		exec.Command(pmstoreBin, "-h", addr, "pmcd.control.timeout", "5"))
	if real5.code != 0 || real5.err != "" || our5.code != 0 || our5.err != "" {
		t.Fatalf("setting both timeouts to 5:\n ours: %+v\n real: %+v", our5, real5)
	}
	steps := [][]string{
		{"pmcd.control.timeout", "7"},
		{"pmcd.control.timeout", "2147483648"}, // PM_ERR_SIGN from the server
		{"pmcd.control.timeout", "0"},
		{"pmcd.control.debug", "12345678"},
		{"pmcd.control.debug", "-1"},        // reads back as the 29 bits pmcd knows
		{"pmcd.control.debug", "268435456"}, // a bit pmcd drops: reads back 0
		{"-i", "3,5", "pmcd.control.register", "9"},
		{"-i", "0", "pmcd.control.register", "-7"},
		{"-i", "16", "pmcd.control.register", "1"}, // no such instance
		{"pmcd.control.register", "11"},            // all sixteen
		{"-i", "15", "pmcd.control.register", "2147483647"},
	}
	for _, args := range steps {
		want, got := storeBoth(exec.Command(pmstoreBin, append([]string{"-h", realAddr}, args...)...),
			exec.Command(pmstoreBin, append([]string{"-h", addr}, args...)...))
		if want.err != "" || got != want {
			t.Errorf("pmstore %s:\n ours: %+v\n real: %+v", strings.Join(args, " "), got, want)
		}
	}
	names := []string{"pmcd.control.debug", "pmcd.control.timeout", "pmcd.control.register"}
	want, _, _ := runTool(t, pcptest.PMInfo, append([]string{"-h", realAddr, "-f"}, names...)...)
	got, _, _ := runTool(t, pcptest.PMInfo, append([]string{"-h", addr, "-f"}, names...)...)
	if got != want {
		t.Errorf("pminfo -f after the stores:\n ours:\n%s\n real:\n%s", got, want)
	}
	if !strings.Contains(want, "inst [15 or \"15\"] value 2147483647") {
		t.Errorf("the real pmcd did not take the stores:\n%s", want)
	}
}

// TestRealControlStoresFromAnotherHost: with pmcd's default access rules (its
// shipped pmcd.conf: no stores but from "local:*"), a pmstore on another host
// (a network namespace) gets the same refusal from the real pmcd as from
// collectord, for debug, timeout and register alike, and nothing changes.
func TestRealControlStoresFromAnotherHost(t *testing.T) {
	skipShortInterop(t)
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo, pmstoreBin)
	pair := netnstest.New(t)
	realAddr := startRealPMCDInNetns(t, pair)

	s, _, _ := startServer(t, nil)
	var ln net.Listener
	inNetns(t, pair.Server, func() {
		var err error
		if ln, err = net.Listen("tcp", net.JoinHostPort(pair.ServerIP.String(), "0")); err != nil {
			t.Fatal(err)
		}
	})
	go s.Serve(context.Background(), ln)
	addr := ln.Addr().String()

	remoteStore := func(host string, args ...string) *exec.Cmd {
		cmd := netnstest.Command(pair.Client, pmstoreBin, append([]string{"-h", host}, args...)...)
		cmd.Env = pcptest.Env("PCP_SECURE_SOCKETS=no")
		return cmd
	}
	for _, args := range [][]string{
		{"pmcd.control.debug", "1"},
		{"pmcd.control.timeout", "9"},
		{"-i", "3,4", "pmcd.control.register", "42"},
		{"pmcd.control.traceconn", "1"},
	} {
		want, got := storeBoth(remoteStore(realAddr, args...), remoteStore(addr, args...))
		if want.err != "" || got != want || !strings.Contains(want.out+want.errOut, "No permission") {
			t.Errorf("pmstore %s from another host:\n ours: %+v\n real: %+v", strings.Join(args, " "), got, want)
		}
	}
	if v := pmcdValues(t, s, "pmcd.control.debug", "pmcd.control.timeout", "pmcd.control.traceconn"); v["pmcd.control.debug"] != 0 ||
		v["pmcd.control.timeout"] != 0 || v["pmcd.control.traceconn"] != 0 {
		t.Errorf("stores from another host changed something: %v", v)
	}
	if regs := registerValues(t, s); regs != [16]int32{} {
		t.Errorf("stores from another host changed the registers: %v", regs)
	}
}

// defaultAccess is the [access] section of the pmcd.conf PCP 6 ships: stores only
// from local clients (the unix socket and loopback).
const defaultAccess = "\n[access]\ndisallow \".*\" : store;\ndisallow \":*\" : store;\nallow \"local:*\" : all;\n"

// startRealPMCDInNetns starts a real pmcd inside pair's server namespace,
// listening on its address as well as its loopback, with PCP's default access
// rules, and returns the address clients in the other namespace use.
// reference-pcp writes a pmcd.conf without an [access] section (all allowed),
// so the section is added and pmcd told to read its configuration again.
func startRealPMCDInNetns(t *testing.T, pair *netnstest.Pair) string {
	t.Helper()
	script, err := pcptest.ReferenceScript()
	if err != nil {
		t.Fatalf("cannot start the real pmcd: %v", err)
	}
	dir := t.TempDir()
	port := strconv.Itoa(pcptest.FreePort(t))
	if out, err := netnstest.Command(pair.Server, script, "start", dir, port, "--", "-i", pair.ServerIP.String()).CombinedOutput(); err != nil {
		t.Fatalf("reference-pcp start in %s: %v\n%s", pair.Server, err, out)
	}
	t.Cleanup(func() { exec.Command(script, "stop", dir).Run() })

	conf, err := os.OpenFile(filepath.Join(dir, "pmcd.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conf.WriteString(defaultAccess)
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	pidText, err := os.ReadFile(filepath.Join(dir, "pmcd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatalf("pmcd.pid: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to the real pmcd: %v", err)
	}
	// pmcd logs its host access list when it has read one; "empty" means none.
	logPath := filepath.Join(dir, "log", "pmcd.log")
	for deadline := time.Now().Add(15 * time.Second); ; {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "Host access list:\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the real pmcd did not load the access rules after SIGHUP (log %s):\n%s", logPath, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return net.JoinHostPort(pair.ServerIP.String(), port)
}
