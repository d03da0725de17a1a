// Package e2e runs the programs as a user would: built binaries, real files, real
// sockets on loopback, and the real PCP tools where a test says so.
package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/internal/syncbuf"
)

var bin string // folder holding the freshly built programs

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gopcp-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := pcptest.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./collectord", "./pminfo", "./certdb")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the programs: %v\n%s", err, out)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result of one command.
type result struct {
	stdout, stderr string
	code           int
}

// run runs a program from bin (or an absolute path) with a clean PCP environment.
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	path := name
	if !filepath.IsAbs(name) {
		path = filepath.Join(bin, name)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = cleanEnv(env)
	cmd.Stdin = nil
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s %v: did not finish in 60 s", name, args)
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// cleanEnv drops PCP variables of the caller's environment, so tests see only theirs.
func cleanEnv(extra []string) []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "PCP_") || strings.HasPrefix(e, "PMCD_") || strings.HasPrefix(e, "PMPROXY_") {
			continue
		}
		env = append(env, e)
	}
	// PCP_DERIVED_CONFIG stays unset: the tools load the default derived
	// metrics, as they do for users.
	env = append(env, "HOME="+os.Getenv("HOME"))
	return append(env, extra...)
}

// must fails the test unless the command succeeded.
func must(t *testing.T, r result, what string) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
	}
	return r
}

// daemon is a collectord started by a test.
type daemon struct {
	port int
	cmd  *exec.Cmd
	log  syncbuf.Buffer // its stderr, read while it runs
}

func (d *daemon) Write(p []byte) (int, error) { return d.log.Write(p) }

func (d *daemon) Log() string { return d.log.String() }

func (d *daemon) addr() string { return "127.0.0.1:" + strconv.Itoa(d.port) }

// startCollectord runs collectord on a free loopback port and waits until it accepts.
func startCollectord(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{port: pcptest.FreePort(t)}
	args = append([]string{"-i", "127.0.0.1", "-p", strconv.Itoa(d.port), "--config", "/dev/null", "--log-level", "debug"}, args...)
	d.cmd = exec.Command(filepath.Join(bin, "collectord"), args...)
	d.cmd.Env = cleanEnv(nil)
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { d.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			t.Fatalf("collectord exited: %s", d.Log())
		default:
		}
		if c, err := net.Dial("tcp", d.addr()); err == nil {
			c.Close()
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("collectord did not come up: %s", d.Log())
	return nil
}

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func itoa(n int) string { return strconv.Itoa(n) }
