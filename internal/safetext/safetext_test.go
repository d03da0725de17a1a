package safetext

import (
	"errors"
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain host.example", "plain host.example"},
		{"Zürich Ünïcödé", "Zürich Ünïcödé"},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"bell\a", `bell\a`},
		{"over\rwrite", `over\rwrite`},
		{"two\nlines", `two\nlines`},
		{"tab\there", `tab\there`},
		{"del\x7f", `del\x7f`},
		{"bad\xff\xfeutf8", `bad\xff\xfeutf8`},
		{"c1 csi \u009b2J", `c1 csi \u009b2J`},
		{"nel\u0085", `nel\u0085`},
		{"rtl \u202eexe.txt", `rtl \u202eexe.txt`},
		{"iso\u2066x\u2069", `iso\u2066x\u2069`},
		{"ls\u2028ps\u2029", `ls\u2028ps\u2029`},
		{"\x00nul", `\x00nul`},
		{"", ""},
		{"truncated \xe2\x82", `truncated \xe2\x82`},
	}
	for _, c := range cases {
		got := Escape(c.in)
		if got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
		if !Safe(got) {
			t.Errorf("Escape(%q) = %q still holds a control character", c.in, got)
		}
	}
}

// Safe reports whether s holds nothing Escape would change; the property every
// escaped string must have.
func Safe(s string) bool { return firstUnsafe(s) < 0 }

func TestEscapef(t *testing.T) {
	got := Escapef("%s %v %s %d %q", "a\x1bb", errors.New("e\nr"), []string{"x\ry"}, 7, "q\a")
	for _, bad := range []string{"\x1b", "\n", "\r", "\a"} {
		if strings.Contains(got, bad) {
			t.Fatalf("Escapef left %q in %q", bad, got)
		}
	}
	if !strings.Contains(got, `a\x1bb`) || !strings.Contains(got, " 7 ") {
		t.Fatalf("Escapef = %q", got)
	}
}

func FuzzEscape(f *testing.F) {
	f.Add("a\x1b[2J\a\r\n\xff\u009b\u202e")
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		if !Safe(e) {
			t.Fatalf("Escape(%q) = %q is not safe", s, e)
		}
		if Safe(s) && e != s {
			t.Fatalf("Escape changed a safe string %q to %q", s, e)
		}
	})
}
