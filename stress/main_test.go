package stress

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/protocol"
)

// fullEnv selects the long variants (1,000 clients for 30 s and so on).
const fullEnv = "GOPCP_STRESS_FULL"

// figuresEnv names a file the figures are appended to.
const figuresEnv = "GOPCP_STRESS_FIGURES"

// full reports whether the long variants run: GOPCP_STRESS_FULL=1 and not -short.
func full() bool {
	return os.Getenv(fullEnv) == "1" && !testing.Short()
}

// pick returns the full-mode value or the default-mode one.
func pick[T any](fullV, defV T) T {
	if full() {
		return fullV
	}
	return defV
}

// nofile is the RLIMIT_NOFILE soft limit in force after TestMain raised it.
var nofile uint64

// childEnv makes the test binary run one input in a child process (runChild)
// instead of the tests: "MODE:HEX".
const childEnv = "GOPCP_STRESS_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(childMain(v))
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		if rl.Cur < rl.Max {
			rl.Cur = rl.Max
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
				fmt.Fprintf(os.Stderr, "stress: raising RLIMIT_NOFILE: %v\n", err)
			}
		}
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		nofile = rl.Cur
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// childMain runs one input: "decode" decodes a PDU and prints the bytes allocated,
// "session" sends the bytes to a server in this process (sessionCheck).
func childMain(v string) int {
	mode, hx, _ := strings.Cut(v, ":")
	data, err := hex.DecodeString(hx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	switch mode {
	case "decode":
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := protocol.Decode(data)
		runtime.ReadMemStats(&after)
		fmt.Printf("decode: %v\nalloc %d\n", err, after.TotalAlloc-before.TotalAlloc)
		return 0
	case "session":
		if err := sessionCheck(data); err != nil {
			fmt.Println(err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
	return 2
}

// runChild runs the test binary on one input in a child process (at most 60 s)
// and returns its output and exit code.
func runChild(t testing.TB, mode string, data []byte) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode+":"+hex.EncodeToString(data))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("child %s did not finish in 60 s:\n%s", mode, out.String())
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

var figMu sync.Mutex

// figure logs one measured figure and appends it to $GOPCP_STRESS_FIGURES.
func figure(t testing.TB, name, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("FIGURE %s: %s", name, fmt.Sprintf(format, args...))
	t.Log(line)
	path := os.Getenv(figuresEnv)
	if path == "" {
		return
	}
	figMu.Lock()
	defer figMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Logf("figures file: %v", err)
		return
	}
	defer f.Close()
	mode := "default"
	if full() {
		mode = "full"
	}
	if raceEnabled {
		mode += ",race"
	}
	fmt.Fprintf(f, "%s [%s, %s] %s\n", time.Now().UTC().Format("2006-01-02"), mode, t.Name(), line)
}

// Binaries built on first use.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// program returns the path of a freshly built program (collectord, certdb, pminfo,
// proxyd, and the hostile client pcpattack).
func program(t testing.TB, name string) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "gopcp-stress-bin")
		if binErr != nil {
			return
		}
		root, err := pcptest.ModuleRoot()
		if err != nil {
			binErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./collectord", "./certdb", "./pminfo", "./proxyd", "./internal/cmd/pcpattack")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("building the programs: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, name)
}

// procStats are a process's resources as /proc shows them.
type procStats struct {
	FDs   int
	RSSKB int64 // VmRSS
	HWMKB int64 // VmHWM, the peak RSS
}

func readProcStats(pid int) (procStats, error) {
	var s procStats
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(ents)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.RSSKB, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			s.HWMKB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return s, nil
}

// selfStats are this process's goroutines, open files and heap in use.
type selfStats struct {
	Goroutines int
	FDs        int
	HeapInuse  uint64
}

// measureSelf collects garbage first, so that HeapInuse is what is live.
func measureSelf() selfStats {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ents, _ := os.ReadDir("/proc/self/fd")
	return selfStats{Goroutines: runtime.NumGoroutine(), FDs: len(ents), HeapInuse: ms.HeapInuse}
}

// Slack allowed when a figure must return to its baseline: a few goroutines of the
// runtime and the test framework come and go, and the heap has noise of its own
// (the testing package's logs, timers, sync.Pool contents).
const (
	goroutineSlack = 4
	fdSlack        = 4
	heapSlack      = 8 << 20
)

// waitBaseline waits up to d for the process to return to within the slack of base
// and returns what it measured last.
func waitBaseline(base selfStats, d time.Duration) (selfStats, bool) {
	deadline := time.Now().Add(d)
	for {
		now := measureSelf()
		ok := now.Goroutines <= base.Goroutines+goroutineSlack && now.FDs <= base.FDs+fdSlack &&
			now.HeapInuse <= base.HeapInuse+heapSlack
		if ok || time.Now().After(deadline) {
			return now, ok
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// goroutineDump is the stacks of every goroutine, for a failure message.
func goroutineDump() string {
	buf := make([]byte, 4<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// summarizeGoroutines counts goroutines by their top function, for a failure message.
func summarizeGoroutines() string {
	counts := map[string]int{}
	for _, g := range strings.Split(goroutineDump(), "\n\n") {
		lines := strings.Split(g, "\n")
		if len(lines) >= 2 {
			counts[strings.TrimSpace(lines[1])]++
		}
	}
	var b strings.Builder
	for k, v := range counts {
		if v > 1 {
			fmt.Fprintf(&b, "%5d %s\n", v, k)
		}
	}
	return b.String()
}
