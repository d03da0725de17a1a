// Package shellquote quotes words for the command lines we print for a person
// to paste into a shell: the "fix:" lines of certdb and collectord verify, and
// the hints in error messages.
//
// A word made only of characters no shell treats specially is printed as it is,
// so the common case stays readable (certdb list -d /etc/pcp/tls/server).
// Anything else is put in single quotes, inside which a POSIX shell gives no
// character a meaning; a single quote itself ends the quoted part, is written
// escaped with a backslash, and a new quoted part begins.
//
// A word that holds characters which must not reach a terminal raw (controls,
// bytes that are not UTF-8, bidirectional overrides; see internal/safetext) is
// written in dollar-single-quotes instead, $'...', with those bytes as \xHH:
// printed raw, an escape sequence could rewrite the very command the person is
// about to run, and a newline would end it early. $'...' is POSIX.1-2024 and
// bash, zsh, ksh and busybox sh read it; an older shell without it (the dash of
// Debian 12) reads a literal $ and the backslashes, a wrong argument that makes
// the command fail, never a second command.
package shellquote

import (
	"strings"
	"unicode/utf8"
)

// Quote returns s as one shell word.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if needsEscape(s) {
		return dollarQuote(s)
	}
	if strings.IndexFunc(s, unsafe) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each word and joins them with spaces: a whole command line.
func Join(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

// unsafe reports whether r needs quoting. The set kept bare is the one no
// POSIX shell expands anywhere in a word: letters, digits and / . _ - + : @ % = ,
// (no ~, which expands at the start, and no glob or brace characters).
func unsafe(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%=,", r))
}

// needsEscape reports whether s holds a byte or character that must not be
// printed raw: C0 controls and DEL, C1 controls, invalid UTF-8, bidirectional
// overrides and isolates, and the Unicode line and paragraph separators (the
// set internal/safetext escapes).
func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if hidden(r, size) {
			return true
		}
		i += size
	}
	return false
}

func hidden(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size == 1:
		return true
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// dollarQuote writes s as $'...': every byte of a hidden character as \xHH
// (byte-wise, so the word is the same in any locale), \\ and \' for the two
// characters special there, and everything else as it is.
func dollarQuote(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString("$'")
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case hidden(r, size):
			for _, c := range []byte(s[i : i+size]) {
				b.WriteString(`\x`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			}
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('\'')
	return b.String()
}
