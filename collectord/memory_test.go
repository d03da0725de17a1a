package main

import (
	"math"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/systemd/systemdtest"
)

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"20MiB": 20 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "20M": 20 << 20, "3 MiB": 3 << 20,
		"100": 100, "100B": 100, "0": 0, "off": 0, " 8K ": 8 << 10,
	} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "2X", "1.5MiB", "20mb", "9999999999999GiB", "0x10"} {
		if got, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) = %d, want an error", in, got)
		} else if !strings.Contains(err.Error(), `e.g. "20MiB"`) {
			t.Errorf("parseByteSize(%q): %v does not say what to write", in, err)
		}
	}
	for _, n := range []int64{20 << 20, 512 << 10, 3 << 30, 1000, 0} {
		if got, _ := parseByteSize(formatByteSize(n)); got != n {
			t.Errorf("formatByteSize(%d) = %q reads back as %d", n, formatByteSize(n), got)
		}
	}
}

// TestMemoryLimitPrecedence: the flag beats the file, the file beats
// GOMEMLIMIT, GOMEMLIMIT beats the default; "off" is no limit; a bad size fails
// the start with exit 2, naming the flag or the file's line.
func TestMemoryLimitPrecedence(t *testing.T) {
	dir := t.TempDir()
	withFile := filepath.Join(dir, "with.toml")
	writeFile(t, withFile, "[server]\nmemory_limit = \"24MiB\"\n")
	without := filepath.Join(dir, "without.toml")
	writeFile(t, without, "[server]\nport = 44321\n")
	off := filepath.Join(dir, "off.toml")
	writeFile(t, off, "[server]\nmemory_limit = \"off\"\n")
	for _, tc := range []struct {
		name, env string
		args      []string
		want      string
	}{
		{"default", "", []string{"--config", without}, "16MiB (default)"},
		{"GOMEMLIMIT", "30MiB", []string{"--config", without}, "30MiB (GOMEMLIMIT)"},
		{"file over GOMEMLIMIT", "30MiB", []string{"--config", withFile}, "24MiB (configuration)"},
		{"flag over file", "", []string{"--config", withFile, "--memory-limit", "40MiB"}, "40MiB (configuration)"},
		{"off in the file", "", []string{"--config", off}, "off (configuration)"},
		{"off on the command line", "", []string{"--config", withFile, "--memory-limit", "off"}, "off (configuration)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, &strings.Builder{})
			if err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(o)
			if err != nil {
				t.Fatal(err)
			}
			// GOMEMLIMIT is passed in, not set: the runtime read the real one at start.
			if got := describeLimit(memoryLimit(c.Server, envLimit{tc.env, 30 << 20})); !strings.HasSuffix(got, tc.want) {
				t.Errorf("memory limit %q, want %q", got, tc.want)
			}
		})
	}
	_, e, code := runMain("--config", without, "--check-config", "--memory-limit", "lots")
	if code != 2 || !strings.Contains(e, `--memory-limit: size "lots"`) {
		t.Errorf("bad --memory-limit: exit %d: %s", code, e)
	}
	writeFile(t, without, "[server]\nmemory_limit = \"20 furlongs\"\n")
	_, e, code = runMain("--config", without, "--check-config")
	if code != 2 || !strings.Contains(e, "line 2") || !strings.Contains(e, `size "20 furlongs"`) {
		t.Errorf("bad memory_limit: exit %d: %s", code, e)
	}
}

// TestApplyMemoryLimit: the runtime's limit is the one decided, and a limit
// taken out of the configuration by a reload goes back to GOMEMLIMIT's (read at
// start) or the default. (The limit is the process's: this test does not run in
// parallel with others that set it.)
func TestApplyMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	runtimeLimit := func() int64 { return debug.SetMemoryLimit(-1) }
	var c ServerConfig
	if l, src := applyMemoryLimit(c, envLimit{}); l != DefaultMemoryLimit || src != "default" || runtimeLimit() != DefaultMemoryLimit {
		t.Fatalf("default: %d %s, runtime %d", l, src, runtimeLimit())
	}
	c.MemoryLimit, c.memoryLimitSet = 48<<20, true
	if applyMemoryLimit(c, envLimit{}); runtimeLimit() != 48<<20 {
		t.Fatalf("configured 48MiB: runtime %d", runtimeLimit())
	}
	c.MemoryLimit = 0
	if applyMemoryLimit(c, envLimit{}); runtimeLimit() != math.MaxInt64 {
		t.Fatalf("off: runtime %d", runtimeLimit())
	}
	// GOMEMLIMIT=30MiB at start: the runtime had applied it before collectord read it.
	debug.SetMemoryLimit(30 << 20)
	env := startLimit("30MiB")
	c.MemoryLimit = 48 << 20
	if applyMemoryLimit(c, env); runtimeLimit() != 48<<20 {
		t.Fatalf("configured over GOMEMLIMIT: runtime %d", runtimeLimit())
	}
	if l, src := applyMemoryLimit(ServerConfig{}, env); l != 30<<20 || src != "GOMEMLIMIT" || runtimeLimit() != 30<<20 {
		t.Fatalf("limit taken out of the file: %d %s, runtime %d, want GOMEMLIMIT's 30MiB back", l, src, runtimeLimit())
	}
}

// TestMemoryLimitReload runs the real binary: the limit in force is logged at
// start, and a SIGHUP after the file changes it applies the new one.
func TestMemoryLimitReload(t *testing.T) {
	bin := collectordBin(t)
	cfg := filepath.Join(t.TempDir(), "collectord.toml")
	writeFile(t, cfg, "[server]\nmemory_limit = \"24MiB\"\n[reload]\nwatch_interval = \"0s\"\n")
	ns := systemdtest.NewNotifySocket(t)
	d := systemdtest.Start(t, exec.Command(bin, "--config", cfg, "-p", itoa(freePort(t)), "-i", "127.0.0.1"), "NOTIFY_SOCKET="+ns.Path)
	if m := ns.Next(t, 15*time.Second); !strings.HasPrefix(m, "READY=1\n") {
		t.Fatalf("ready %q; log:\n%s", m, d.Log)
	}
	if !strings.Contains(d.Log.String(), `memory_limit="24MiB (configuration)"`) {
		t.Fatalf("start: no memory limit in the log:\n%s", d.Log)
	}
	writeFile(t, cfg, "[server]\nmemory_limit = \"off\"\n[reload]\nwatch_interval = \"0s\"\n")
	d.Signal(t, syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the new limit in the log", func() bool {
		return strings.Contains(d.Log.String(), `msg="memory limit changed" memory_limit="off (configuration)"`)
	})
}
