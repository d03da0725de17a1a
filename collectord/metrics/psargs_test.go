package metrics

import (
	"strings"
	"testing"
)

// TestPsargsCut: command lines are joined with spaces and cut where the real
// proc agent cuts them (checked with PCP 6.0.3's pminfo -L against processes with
// command lines of 2,876, 3,572, 4,272 and 14,072 bytes: 2,875, 3,571, 4,088 and
// 4,088 characters).
func TestPsargsCut(t *testing.T) {
	arg := func(n int) []byte { return []byte(strings.Repeat("x", n-1) + "\x00") }
	cases := []struct {
		in     []byte
		digits int
		want   int
	}{
		{arg(2876), 5, 2875},
		{arg(4088), 6, 4087},
		{[]byte(strings.Repeat("x", 4089)), 6, 4088},
		{arg(14072), 6, 4088},
		{arg(14072), 7, 4087}, // a seven-digit pid leaves one byte less
	}
	for _, c := range cases {
		if got := len(psargs(c.in, "comm", c.digits)); got != c.want {
			t.Errorf("%d bytes, pid of %d digits: %d characters, want %d", len(c.in), c.digits, got, c.want)
		}
	}
	if got := psargs([]byte("sleep\x00300\x00\x00"), "sleep", 3); got != "sleep 300" {
		t.Errorf("joined: %q", got)
	}
	if got := psargs(nil, "kworker/0:1", 2); got != "(kworker/0:1)" {
		t.Errorf("empty: %q", got)
	}
}
