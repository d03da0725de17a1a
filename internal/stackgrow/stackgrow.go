// Package stackgrow grows the calling goroutine's stack in one step, while the
// stack is still shallow, to the size the work that follows will need.
//
// A goroutine starts with a 2 KiB stack. When a call does not fit, the runtime
// (runtime.newstack) allocates a stack twice the size, copies the old one over
// and walks the tables of every frame on it to adjust pointers into the stack.
// Left alone, a connection's goroutine grows this way from deep inside its first
// fetch or TLS handshake, once per doubling (2 -> 4 -> 8 -> 16 KiB), each time
// with many frames to walk: several per cent of a short connection's CPU in the
// profiles. To makes the same growth happen once, from where the caller stands,
// with a few frames to walk. The work that follows would have grown the stack
// to that size anyway, so no memory is added; the runtime shrinks it again at a
// garbage collection once the goroutine no longer uses it.
//
// The step is made by calling a function whose frame is a pad of half the
// target size: the runtime sizes the new stack for the whole frame at once, and
// a pad of size/2 lands on exactly size (a power of two) as long as the caller
// has used less than size/2 minus the runtime's guard (928 bytes, twice that
// under the race detector). So To belongs near the top of a goroutine: deeper
// down, the same call lands on twice the size.
package stackgrow

// The sizes To grows a stack to lie between Min and Max. Stacks are powers of
// two. Below Min the pad is so small that the runtime's guard, twice as large
// under the race detector, leaves the caller almost no room; Max is well above
// what anything here needs.
const (
	Min = 8 << 10
	Max = 32 << 10
)

// To grows the calling goroutine's stack, in one copy, to size bytes rounded up
// to a power of two between Min and Max (a larger size is taken as Max). A
// stack that is already that large is left as it is. From a caller that has
// used more than size/2 less the runtime's guard, the stack lands on twice
// size instead (see the package comment).
//
// The pads are functions of their own, never inlined: a pad inlined into its
// caller would stay on the stack under all the work the growth is made for,
// which would then need twice the stack. To itself is too large to be inlined,
// so its frame is on the stack when the runtime copies it: one frame more to
// walk than a pad called directly, which BenchmarkTo does not tell apart.
func To(size int) {
	switch {
	case size <= Min:
		pad4K()
	case size <= 16<<10:
		pad8K()
	default:
		pad16K()
	}
}

// The pads: each frame is half the stack it is meant to land on. Each is a
// separate function because a frame's size is fixed when it is compiled.

//go:noinline
func pad4K() {
	var pad [4 << 10]byte
	keepOnStack(pad[:])
}

//go:noinline
func pad8K() {
	var pad [8 << 10]byte
	keepOnStack(pad[:])
}

//go:noinline
func pad16K() {
	var pad [16 << 10]byte
	keepOnStack(pad[:])
}

// keepOnStack makes the pad used, so the compiler keeps it in the frame, and
// does not let it escape, so the compiler keeps it off the heap.
//
//go:noinline
func keepOnStack([]byte) {}
