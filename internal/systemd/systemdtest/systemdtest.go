// Package systemdtest plays the service manager in tests: a notification socket
// the test owns and daemon processes whose output lands in a file.
package systemdtest

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// NotifySocket is a service manager's notification socket made by the test:
// point $NOTIFY_SOCKET at Path.
type NotifySocket struct {
	Path string
	msgs chan string
}

func NewNotifySocket(t *testing.T) *NotifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &NotifySocket{Path: filepath.Join(dir, "notify"), msgs: make(chan string, 64)}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.Path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return n
}

// Next waits for the next notification.
func (n *NotifySocket) Next(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case m := <-n.msgs:
		return m
	case <-time.After(within):
		t.Fatalf("no notification within %v", within)
		return ""
	}
}

// None checks that no notification arrives for a while.
func (n *NotifySocket) None(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-n.msgs:
		t.Fatalf("unexpected notification %q", m)
	case <-time.After(d):
	}
}

// Proc is a daemon process run by the test.
type Proc struct {
	cmd  *exec.Cmd
	Log  LogFile
	done chan error
}

// LogFile is the process's output, written straight to a file (not through a pipe
// the test would have to drain), so what the process wrote before a notification
// is in the file when the notification arrives.
type LogFile string

func (l LogFile) String() string {
	b, _ := os.ReadFile(string(l))
	return string(b)
}

// Start runs cmd with env added to this process's environment, its output in a
// LogFile; the process is killed when the test ends.
func Start(t *testing.T, cmd *exec.Cmd, env ...string) *Proc {
	t.Helper()
	d := &Proc{cmd: cmd, Log: LogFile(filepath.Join(t.TempDir(), "log")), done: make(chan error, 1)}
	f, err := os.Create(string(d.Log))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.done
	})
	return d
}

// Wait returns the exit code, failing after the time given.
func (d *Proc) Wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("still running after %v; log:\n%s", within, d.Log)
		return -1
	}
}

// Signal sends s to the process.
func (d *Proc) Signal(t *testing.T, s os.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}
