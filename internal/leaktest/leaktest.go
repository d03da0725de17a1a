// Package leaktest fails a test binary whose goroutines outlive its tests: servers
// not stopped, sessions not closed, pooled connections not released.
package leaktest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests and then checks that no goroutine running this module's
// code is left (allowing wait for them to finish); it exits with the result.
func Main(m *testing.M, cleanup ...func()) {
	code := m.Run()
	for _, f := range cleanup {
		f()
	}
	if code == 0 {
		if leaked := Goroutines(3 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Goroutines returns the stacks of this module's goroutines still alive after
// wait, or "".
func Goroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "github.com/gopcp/gopcp/") && !strings.Contains(g, "leaktest.Main") &&
				!strings.Contains(g, "leaktest.Goroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
