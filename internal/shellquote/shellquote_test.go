package shellquote

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

var cases = []struct{ in, want string }{
	{"", "''"},
	{"/etc/pcp/tls/server", "/etc/pcp/tls/server"},
	{"a-b_c.d+e:f@g%h=i,j", "a-b_c.d+e:f@g%h=i,j"},
	{"PCP Collector certificate", "'PCP Collector certificate'"},
	{"it's", `'it'\''s'`},
	{"'", `''\'''`},
	{"$(reboot)", "'$(reboot)'"},
	{"`id`;rm -rf ~ *", "'`id`;rm -rf ~ *'"},
	{"~root", "'~root'"},
	{`back\slash`, `'back\slash'`},
	{"tab\there", `$'tab\x09here'`},
	{"line\nbreak", `$'line\x0abreak'`},
	{"\x1b[2J'it's'\\", `$'\x1b[2J\'it\'s\'\\'`},
	{"del\x7f", `$'del\x7f'`},
	{"c1\u009b", `$'c1\xc2\x9b'`},
	{"bidi\u202eabc", `$'bidi\xe2\x80\xaeabc'`},
	{"bad\xffutf8", `$'bad\xffutf8'`},
	{"Zürich", "'Zürich'"},
}

func TestQuote(t *testing.T) {
	for _, c := range cases {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	if got := Join("certdb", "list", "-d", "/a b"); got != "certdb list -d '/a b'" {
		t.Errorf("Join: %s", got)
	}
}

// TestShellReadsItBack runs each quoted word through real shells and compares
// the argument they pass on with the original bytes: sh (POSIX, dash on Debian)
// for the single-quoted forms, bash for $'...'.
func TestShellReadsItBack(t *testing.T) {
	for _, c := range cases {
		sh := "sh"
		if strings.HasPrefix(c.want, "$'") {
			sh = "bash"
		}
		if _, err := exec.LookPath(sh); err != nil {
			t.Logf("%s not installed; skipping %q", sh, c.in)
			continue
		}
		// printf %s| shows exactly one argument, followed by the marker.
		out, err := exec.Command(sh, "-c", "printf '%s|' "+Quote(c.in)).Output()
		if err != nil {
			t.Fatalf("%s -c with %s: %v", sh, Quote(c.in), err)
		}
		if want := c.in + "|"; !bytes.Equal(out, []byte(want)) {
			t.Errorf("%s read %s as %q, want %q", sh, Quote(c.in), out, want)
		}
	}
}

// TestOlderShellFailsSafe: a shell without $'...' (dash 0.5.12) must read a
// hostile word as one wrong argument, never run anything in it.
func TestOlderShellFailsSafe(t *testing.T) {
	if _, err := exec.LookPath("dash"); err != nil {
		t.Skip("dash not installed (apt-get install dash)")
	}
	w := Quote("x\n$(echo pwned);echo pwned")
	out, err := exec.Command("dash", "-c", "printf '%s|' "+w).Output()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(out, []byte("|")) != 1 || bytes.Contains(out, []byte("pwned\n")) || bytes.HasPrefix(out, []byte("pwned")) {
		t.Errorf("dash ran or split %s: %q", w, out)
	}
}

// FuzzQuote: whatever the input, the word prints no control character or other
// hidden character, and bare words hold nothing a shell would expand.
func FuzzQuote(f *testing.F) {
	for _, c := range cases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		if !utf8.ValidString(q) || needsEscape(q) {
			t.Fatalf("Quote(%q) = %q holds hidden characters", s, q)
		}
		switch {
		case strings.HasPrefix(q, "$'"), strings.HasPrefix(q, "'"):
		default:
			if q != s || strings.IndexFunc(q, unsafe) >= 0 {
				t.Fatalf("Quote(%q) = %q: bare but unsafe", s, q)
			}
		}
	})
}
