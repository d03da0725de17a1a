package reload

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/syncbuf"
)

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFiles: a same-size rewrite within the mtime granularity is still seen, and so
// is a removal.
func TestFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	writeFile(t, p, "aaaa")
	a := Snapshot([]string{p})
	if !a.Equal(Snapshot([]string{p})) {
		t.Fatal("unchanged file reported as changed")
	}
	fi, _ := os.Stat(p)
	writeFile(t, p, "bbbb")
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	b := Snapshot([]string{p})
	if a.Equal(b) {
		t.Fatal("content change not seen")
	}
	os.Remove(p)
	if c := Snapshot([]string{p}); c.Equal(b) || !strings.Contains(c.Changed(b), p) {
		t.Fatal("removal not seen")
	}
	if got := (Files{}).Changed(b); got != p+" (gone)" {
		t.Fatalf("Changed = %q", got)
	}
}

func TestStats(t *testing.T) {
	var s Stats
	if !s.LastReload().IsZero() || s.Count() != 0 || s.Failures() != 0 {
		t.Fatal("zero value not empty")
	}
	now := time.Unix(1700000000, 5)
	s.Succeeded(now)
	s.Failed()
	s.Failed()
	if s.Count() != 1 || s.Failures() != 2 || !s.LastReload().Equal(now) {
		t.Fatalf("count %d failures %d last %v", s.Count(), s.Failures(), s.LastReload())
	}
}

// TestWatch: a change is applied once, after the files settle; a new configuration
// (token) resets what counts as changed.
func TestWatch(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cert.pem")
	writeFile(t, p, "one")
	var (
		mu      sync.Mutex
		token   = 1
		loaded  = Snapshot([]string{p})
		reasons []string
	)
	current := func() Current {
		mu.Lock()
		defer mu.Unlock()
		return Current{Token: token, Loaded: loaded, Paths: []string{p}}
	}
	apply := func(reason string) {
		mu.Lock()
		defer mu.Unlock()
		reasons = append(reasons, reason)
	}
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), reasons...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Watch(ctx, 10*time.Millisecond, current, apply); close(done) }()
	defer func() { cancel(); <-done }()

	time.Sleep(50 * time.Millisecond)
	if r := got(); len(r) != 0 {
		t.Fatalf("applied with no change: %q", r)
	}
	writeFile(t, p, "two")
	deadline := time.Now().Add(5 * time.Second)
	for len(got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r := got()
	if len(r) != 1 || !strings.Contains(r[0], p) {
		t.Fatalf("reasons %q", r)
	}
	// The failed (not swapped in) change is not retried at every tick.
	time.Sleep(80 * time.Millisecond)
	if r := got(); len(r) != 1 {
		t.Fatalf("retried without a change: %q", r)
	}
	// A new configuration built from the current files: nothing to apply.
	mu.Lock()
	token, loaded = 2, Snapshot([]string{p})
	mu.Unlock()
	time.Sleep(80 * time.Millisecond)
	if r := got(); len(r) != 1 {
		t.Fatalf("applied after a swap with no change: %q", r)
	}
}

func TestWatchOff(t *testing.T) {
	done := make(chan struct{})
	go func() {
		Watch(context.Background(), 0, func() Current { t.Error("called"); return Current{} }, nil)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch with interval 0 did not return")
	}
}

func TestChanged(t *testing.T) {
	type fixed struct {
		Port  int           `key:"server.port"`
		Addr  []string      `key:"server.address"`
		Root  string        `key:"metrics.proc_root"`
		Watch time.Duration `key:"reload.watch_interval"`
	}
	a := fixed{Port: 1, Root: "", Watch: 2 * time.Second}
	if got := Changed(a, a); len(got) != 0 {
		t.Fatalf("unchanged: %q", got)
	}
	b := fixed{Port: 2, Addr: []string{"::1"}, Root: "/host/proc", Watch: 0}
	want := `metrics.proc_root ("" -> "/host/proc"); reload.watch_interval (2s -> 0s); server.address ([] -> ["::1"]); server.port (1 -> 2)`
	if got := strings.Join(Changed(a, b), "; "); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestSwapper: a failed build keeps the generation in service and is counted and
// logged; a good one is swapped in, applied sees both, and it is counted.
func TestSwapper(t *testing.T) {
	var log syncbuf.Buffer
	one, two := 1, 2
	s := NewSwapper(&one, slog.New(slog.NewTextHandler(&log, nil)))
	err := s.Swap("test", func(old *int) (*int, error) { return nil, errors.New("bad file x.pem") }, func(_, _ *int) {
		t.Fatal("applied after a failure")
	})
	if err == nil || *s.Current() != 1 || s.Stats().Failures() != 1 || s.Stats().Count() != 0 {
		t.Fatalf("after a failure: %v %d %d", err, *s.Current(), s.Stats().Failures())
	}
	if !strings.Contains(log.String(), `reload failed; keeping the last good configuration" reason=test err="bad file x.pem"`) {
		t.Fatalf("log:\n%s", log.String())
	}
	var saw [2]int
	if err := s.Swap("test", func(old *int) (*int, error) { return &two, nil }, func(old, cur *int) { saw = [2]int{*old, *cur} }); err != nil {
		t.Fatal(err)
	}
	if *s.Current() != 2 || saw != [2]int{1, 2} || s.Stats().Count() != 1 || s.Stats().LastReload().IsZero() {
		t.Fatalf("after a success: %d %v %d", *s.Current(), saw, s.Stats().Count())
	}
}

func TestNameFiles(t *testing.T) {
	base := errors.New("bad PEM")
	err := NameFiles(base, []string{"/a/cert.pem", "/a/key.pem"})
	if !errors.Is(err, base) || err.Error() != "bad PEM (read from /a/cert.pem /a/key.pem)" {
		t.Fatalf("%v", err)
	}
	if NameFiles(nil, []string{"x"}) != nil || NameFiles(base, nil) != base {
		t.Fatal("nil error or no files")
	}
}
