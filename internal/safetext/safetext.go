// Package safetext makes strings that came from certificates, certificate stores
// or the network safe to show a person on a terminal.
//
// A certificate's subject, a SAN, a nickname read from a file or a message sent by
// a server is chosen by whoever made it. Written raw to a terminal, ESC [ 2 J
// clears the screen, a carriage return overwrites the line before it (a prompt
// can be made to say something else), a newline forges a log line, and the C1
// byte 0x9b is a CSI of its own on many terminals. Escape turns all of these into
// visible text, so what a person reads is what the certificate or peer holds.
package safetext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every character that could control a terminal or change
// how the text around it reads written out as a Go-style escape:
//
//   - C0 controls, DEL and C1 controls (U+0080..U+009F): \a \b \t \n \v \f \r
//     for the usual ones, \x1b style for the others, \u0085 style for C1;
//   - bytes that are not valid UTF-8: \xff style, one per byte;
//   - Unicode bidirectional overrides and isolates (U+202A..U+202E,
//     U+2066..U+2069) and the line and paragraph separators (U+2028, U+2029),
//     which reorder or break what follows: \u202e style.
//
// Everything else, including non-ASCII letters, is kept as it is. A string that
// needs no escaping is returned unchanged without allocating.
func Escape(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			writeEscape(&b, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Escapef is fmt.Sprintf with each string, []string, error and fmt.Stringer
// argument escaped first; other arguments are formatted as they are. The format
// itself is the caller's own text and is not escaped.
func Escapef(format string, args ...any) string {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = Escape(v)
		case []string:
			out[i] = Strings(v)
		case error:
			out[i] = Escape(v.Error())
		case fmt.Stringer:
			out[i] = Escape(v.String())
		default:
			out[i] = a
		}
	}
	return fmt.Sprintf(format, out...)
}

// Strings escapes each element of ss into a new slice.
func Strings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Escape(s)
	}
	return out
}

// firstUnsafe is the byte offset of the first character Escape would change, or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return i
		}
		i += size
	}
	return -1
}

func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

func writeEscape(b *strings.Builder, r rune) {
	switch r {
	case '\a':
		b.WriteString(`\a`)
	case '\b':
		b.WriteString(`\b`)
	case '\t':
		b.WriteString(`\t`)
	case '\n':
		b.WriteString(`\n`)
	case '\v':
		b.WriteString(`\v`)
	case '\f':
		b.WriteString(`\f`)
	case '\r':
		b.WriteString(`\r`)
	default:
		if r < 0x80 {
			fmt.Fprintf(b, `\x%02x`, r)
		} else {
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
}
