package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestSwarm: the children run with distinct command lines, and closing standard
// input ends them all (none is left running or unreaped).
func TestSwarm(t *testing.T) {
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
	seen := map[string]bool{}
	for _, pid := range kids {
		b, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		seen[string(b)] = true
	}
	if len(seen) != 3 {
		t.Errorf("command lines not distinct: %v", seen)
	}
	w.Close()
	if rc := <-done; rc != 0 {
		t.Fatalf("exit %d: %s", rc, stderr.String())
	}
	if k := children(t); len(k) != 0 {
		t.Errorf("left behind: %v", k)
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{{"-n", "0"}, {"extra"}, {"-n", "x"}} {
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
