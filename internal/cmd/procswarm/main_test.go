package main

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// TestSwarm: the children run with distinct command lines, and closing standard
// input ends them all (none is left running or unreaped).
//
// "ready" must mean each child has finished its exec and sleeps. Before procswarm
// waited for that, a loaded machine (the test pinned to one busy CPU) showed
// children whose /proc/PID/cmdline still read empty right after "ready", so two
// of them had the same (empty) command line. The children are read at once, with
// no grace period, as scripts/bench-proc.sh starts measuring at once.
func TestSwarm(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep(1) program: %v", err)
	}
	in, w := io.Pipe()
	outR, outW := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int)
	go func() { done <- run([]string{"-n", "3"}, in, outW, &stderr) }()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil || line != "ready 3\n" {
		t.Fatalf("first line %q, %v (stderr %s)", line, err, stderr.String())
	}
	go io.Copy(io.Discard, outR)
	kids := children(t)
	if len(kids) != 3 {
		t.Fatalf("children %v, want 3", kids)
	}
	fs, err := procfs.NewFS(procfs.DefaultMountPoint)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, pid := range kids {
		b, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		seen[string(b)] = true
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if n, err := strconv.Atoi(args[len(args)-1]); len(args) != 2 || args[0] != sleep || err != nil || n < 1000000 || n > 1000002 {
			t.Errorf("child %s after ready: command line %q, want %s 1000000..1000002", pid, b, sleep)
		}
		id, _ := strconv.Atoi(pid)
		p, err := fs.Proc(id)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := p.Stat(); err != nil || st.State != "S" {
			t.Errorf("child %s after ready: state %q, %v; want S (asleep)", pid, st.State, err)
		}
	}
	if len(seen) != 3 {
		t.Errorf("command lines not distinct: %v", seen)
	}
	w.Close()
	if rc := <-done; rc != 0 {
		t.Fatalf("exit %d: %s", rc, stderr.String())
	}
	outW.Close() // ends the io.Copy above
	if k := children(t); len(k) != 0 {
		t.Errorf("left behind: %v", k)
	}
}

// TestExitedChild: a program that exits at once (true(1)) never becomes an idle
// process; procswarm says so without waiting for the timeout, exits 1 and leaves
// no child behind (the zombies are reaped).
func TestExitedChild(t *testing.T) {
	if _, err := exec.LookPath("true"); err != nil {
		t.Skipf("no true(1) program: %v", err)
	}
	var out, errb bytes.Buffer
	// The timeout is long enough never to be reached by two exits, so the message
	// tells the quick failure ("exited") from a wait to the end ("not ready").
	rc := run([]string{"-n", "2", "-sleep", "true", "-ready-timeout", "20s"}, strings.NewReader(""), &out, &errb)
	if rc != 1 || out.Len() != 0 || !strings.Contains(errb.String(), "exited before it was asleep") {
		t.Errorf("exit %d, stdout %q, stderr %s; want 1, nothing, \"exited before it was asleep\"", rc, out.String(), errb.String())
	}
	if k := children(t); len(k) != 0 {
		t.Errorf("left behind: %v", k)
	}
}

// TestNotReady: a child that never goes to sleep (here one stopped with SIGSTOP,
// state T) makes the wait fail after its timeout with an error naming the child
// and what was seen, instead of "ready" with a process that is not idle.
func TestNotReady(t *testing.T) {
	sw, err := start("sleep", 2)
	if err != nil {
		sw.stop(slog.New(slog.DiscardHandler))
		t.Skipf("cannot start sleep(1): %v", err)
	}
	defer func() {
		sw.stop(slog.New(slog.DiscardHandler))
		if k := children(t); len(k) != 0 {
			t.Errorf("left behind: %v", k)
		}
	}()
	stopped := sw.cmds[1].Process.Pid
	if err := syscall.Kill(stopped, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	err = sw.awaitAsleep(procfs.DefaultMountPoint, 300*time.Millisecond)
	if err == nil {
		t.Fatal("a stopped child counted as ready")
	}
	for _, want := range []string{"process " + strconv.Itoa(stopped) + " ", "1000001", "not ready after 300ms", "state T"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{{"-n", "0"}, {"extra"}, {"-n", "x"}, {"-ready-timeout", "0"}} {
		if rc := run(args, strings.NewReader(""), &out, &errb); rc != 2 {
			t.Errorf("%q: exit %d, want 2", args, rc)
		}
	}
	if rc := run([]string{"-n", "1", "-sleep", "/nonexistent/sleep"}, strings.NewReader(""), &out, &errb); rc != 1 {
		t.Errorf("missing program: exit %d, want 1", rc)
	}
}

// children lists this test process's child pids.
func children(t *testing.T) []string {
	t.Helper()
	var out []string
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		if err != nil {
			continue
		}
		out = append(out, strings.Fields(string(b))...)
	}
	for _, p := range out {
		if _, err := strconv.Atoi(p); err != nil {
			t.Fatalf("bad pid %q", p)
		}
	}
	return out
}
