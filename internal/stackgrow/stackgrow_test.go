package stackgrow

import (
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"
)

// The runtime gives no goroutine's stack size, but it tells when the stack
// moved: a copy to a new stack changes the address of every local. A call whose
// frame does not fit moves the stack; one that fits does not. So after To(size)
// the stack holds size bytes exactly when a frame of size/2 (the pad To used)
// still fits and one of size does not: the stack is then more than size/2 and
// less than 2*size, and it is a power of two.

// inGoroutine runs f in a new goroutine and returns what f returned: t's
// Fatal and Skip must not be called from there.
func inGoroutine(f func() string) string {
	// A garbage collection may shrink a stack between two probes.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	r := make(chan string)
	go func() { r <- f() }()
	return <-r
}

// sp is the address of a local in a frame at the depth of the call: it changes
// when the stack moves.
//
//go:noinline
func sp() uintptr {
	var x byte
	return uintptr(unsafe.Pointer(&x))
}

// pad32K is a frame larger than the largest pad, to show a 32 KiB stack full.
//
//go:noinline
func pad32K() {
	var pad [32 << 10]byte
	keepOnStack(pad[:])
}

// padOf returns the pad whose frame is n bytes.
func padOf(n int) func() {
	return map[int]func(){4 << 10: pad4K, 8 << 10: pad8K, 16 << 10: pad16K, 32 << 10: pad32K}[n]
}

// moves reports whether f moved the goroutine's stack.
//
//go:noinline
func moves(f func()) bool {
	before := sp()
	f()
	return sp() != before
}

func TestToLandsOnSize(t *testing.T) {
	// A new goroutine starts at 2 KiB (unless GODEBUG=adaptivestackstart=1
	// starts it larger): a 4 KiB frame must move it.
	if !strings.HasPrefix(inGoroutine(func() string { return fmt.Sprint(moves(pad4K)) }), "true") {
		t.Skip("a new goroutine's stack holds a 4 KiB frame: it did not start at 2 KiB (GODEBUG adaptivestackstart?)")
	}
	for _, c := range []struct{ size, want int }{
		{0, 8 << 10},
		{8 << 10, 8 << 10},
		{8<<10 + 1, 16 << 10},
		{16 << 10, 16 << 10},
		{20 << 10, 32 << 10},
		{32 << 10, 32 << 10},
		{1 << 20, 32 << 10}, // above Max: Max
	} {
		failed := inGoroutine(func() string {
			if !moves(func() { To(c.size) }) {
				return "did not grow a new goroutine's stack"
			}
			if moves(padOf(c.want / 2)) {
				return fmt.Sprintf("a frame of %d bytes does not fit after it: the stack is below %d", c.want/2, c.want)
			}
			if !moves(padOf(c.want)) {
				return fmt.Sprintf("a frame of %d bytes fits after it: the stack is above %d", c.want, c.want)
			}
			return ""
		})
		if failed != "" {
			t.Errorf("To(%d): %s", c.size, failed)
		}
	}
}

// TestToLeavesLargerStack: a stack already larger than asked for is not
// touched (no copy, no shrink).
func TestToLeavesLargerStack(t *testing.T) {
	moved := inGoroutine(func() string {
		To(32 << 10)
		return fmt.Sprint(moves(func() { To(8 << 10) }))
	})
	if moved != "false" {
		t.Error("To(8 KiB) moved a 32 KiB stack")
	}
}
