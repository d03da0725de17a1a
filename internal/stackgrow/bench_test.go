package stackgrow

import (
	"sync"
	"testing"
)

// BenchmarkTo: a new goroutine grown by To, against the same goroutine grown by
// calling the pad directly (what the callers did before To: no To frame on the
// stack when it is copied) and against one not grown at all. The differences
// are the cost of the step and of To's own frame.
func BenchmarkTo(b *testing.B) {
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"none", func() {}},
		{"8K/To", func() { To(8 << 10) }},
		{"8K/pad", pad4K},
		{"16K/To", func() { To(16 << 10) }},
		{"16K/pad", pad8K},
	} {
		b.Run(c.name, func(b *testing.B) {
			var wg sync.WaitGroup
			for i := 0; i < b.N; i++ {
				wg.Add(1)
				go func() {
					c.f()
					wg.Done()
				}()
				wg.Wait()
			}
		})
	}
}
