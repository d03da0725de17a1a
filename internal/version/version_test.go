package version

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	if got := String("proxyd", "1.2.3", "abc1234"); got != "proxyd 1.2.3 (commit abc1234)" {
		t.Fatalf("%q", got)
	}
	// Without a commit set, what the toolchain recorded (nothing in a test binary).
	if got := String("proxyd", "1.2.3", ""); !strings.HasPrefix(got, "proxyd 1.2.3") {
		t.Fatalf("%q", got)
	}
}
