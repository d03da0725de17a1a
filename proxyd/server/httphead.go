package server

import (
	"bytes"
	"strings"
)

// The request heads proxyd's own HTTP loop (httploop.go) answers itself: the
// plain keep-alive GET a dashboard polls with, and nothing else. parseHead
// accepts a strict subset of HTTP/1.1 and names anything outside it "other",
// which the loop hands to net/http, whose parser then answers it (400, 431,
// a body, HEAD, HTTP/1.0, ...). So the subset may be as narrow as it likes:
// every request it refuses is still served, only by the slower path; and
// every request it accepts must mean to us what it means to net/http (the
// fuzz target FuzzParseHead checks that against http.ReadRequest).

// headStatus is what parseHead made of the bytes buffered so far.
type headStatus int

const (
	headMore  headStatus = iota // no complete head yet: read more
	headDone                    // a complete head in the subset
	headOther                   // outside the subset: net/http's to answer
)

// field is one header line of a head, as substrings of the head's text.
type field struct{ name, value string }

// reqHead is a parsed request head. Its strings share one copy of the head's
// bytes.
type reqHead struct {
	target string  // the request target, origin form ("/path?query")
	host   string  // the Host header
	close  bool    // Connection: close
	fields []field // every header line but Host, in order
	n      int     // the head's length, final CRLF included
}

// parseHead reads a request head from b (the bytes buffered so far). limit
// bounds the head: one not complete within limit bytes is headOther. fields
// is reused for the header lines (its contents are overwritten).
func parseHead(b []byte, limit int, fields []field) (reqHead, headStatus) {
	h := reqHead{fields: fields[:0]}
	if len(b) > limit {
		b = b[:limit]
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		// Anything that already rules the head out is known without the
		// rest: a bare LF (net/http accepts it; we do not), a control byte,
		// or a request line that is not ours.
		if bytes.IndexByte(b, '\n') >= 0 && !onlyCRLF(b) || len(b) == limit {
			return h, headOther
		}
		if !requestLinePrefixOK(b) {
			return h, headOther
		}
		return h, headMore
	}
	h.n = end + 4
	// One string for the whole head: the target, host and fields are
	// substrings of it, so a request costs one copy whatever its headers.
	text := string(b[:end+2])
	line, rest, _ := cutCRLF(text)
	target, ok := parseRequestLine(line)
	if !ok {
		return h, headOther
	}
	h.target = target
	seenHost, seenLen := false, false
	for rest != "" {
		line, rest, _ = cutCRLF(rest)
		name, value, ok := parseField(line)
		if !ok {
			return h, headOther
		}
		switch {
		case asciiEqualFold(name, "Host"):
			if seenHost || !validHost(value) {
				return h, headOther
			}
			seenHost, h.host = true, value
			continue
		case asciiEqualFold(name, "Content-Length"):
			// A body, or two lengths, is net/http's (smuggling is its
			// parser's problem, not a second one's).
			if seenLen || value != "0" {
				return h, headOther
			}
			seenLen = true
		case asciiEqualFold(name, "Transfer-Encoding"), asciiEqualFold(name, "Expect"),
			asciiEqualFold(name, "Upgrade"), asciiEqualFold(name, "Trailer"):
			return h, headOther
		case asciiEqualFold(name, "Connection"):
			if hasToken(value, "close") {
				h.close = true
			}
			if hasToken(value, "upgrade") {
				return h, headOther
			}
		}
		h.fields = append(h.fields, field{name, value})
	}
	if !seenHost {
		return h, headOther // HTTP/1.1 requires it: net/http answers 400
	}
	return h, headDone
}

// onlyCRLF reports whether every LF in b follows a CR and b holds no other
// control byte (HTAB aside) and no DEL.
func onlyCRLF(b []byte) bool {
	for i, c := range b {
		switch {
		case c == '\n':
			if i == 0 || b[i-1] != '\r' {
				return false
			}
		case c == '\r':
			if i+1 < len(b) && b[i+1] != '\n' {
				return false
			}
		case c == '\t':
		case c < 0x20 || c == 0x7f:
			return false
		}
	}
	return true
}

// requestLinePrefixOK reports whether b can still begin a request line of the
// subset ("GET /").
func requestLinePrefixOK(b []byte) bool {
	const want = "GET /"
	n := min(len(b), len(want))
	return string(b[:n]) == want[:n]
}

// cutCRLF splits s at its first CRLF.
func cutCRLF(s string) (line, rest string, ok bool) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' && s[i+1] == '\n' {
			return s[:i], s[i+2:], true
		}
	}
	return s, "", false
}

// parseRequestLine accepts "GET <origin-form target> HTTP/1.1" and returns
// the target: a '/' then printable ASCII (no space, no control, no DEL).
func parseRequestLine(line string) (string, bool) {
	target, ok := strings.CutPrefix(line, "GET ")
	if !ok {
		return "", false
	}
	target, ok = strings.CutSuffix(target, " HTTP/1.1")
	if !ok || target == "" || target[0] != '/' {
		return "", false
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= 0x20 || c >= 0x7f {
			return "", false
		}
	}
	return target, true
}

// parseField splits "Name: value": a token name right before the colon, the
// value trimmed of spaces and tabs, with no control byte but HTAB, no DEL.
// Folded lines (starting with space or tab) are refused.
func parseField(line string) (name, value string, ok bool) {
	i := 0
	for i < len(line) && isTokenByte(line[i]) {
		i++
	}
	if i == 0 || i >= len(line) || line[i] != ':' {
		return "", "", false
	}
	name, value = line[:i], line[i+1:]
	for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
		value = value[1:]
	}
	for len(value) > 0 && (value[len(value)-1] == ' ' || value[len(value)-1] == '\t') {
		value = value[:len(value)-1]
	}
	for j := 0; j < len(value); j++ {
		if c := value[j]; c < 0x20 && c != '\t' || c == 0x7f {
			return "", "", false
		}
	}
	return name, value, true
}

// isTokenByte: RFC 9110's tchar.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// validHost accepts a non-empty host[:port] of letters, digits and . - _ : [ ]
// (a name, an IPv4 or a bracketed IPv6 address); anything fancier is
// net/http's to judge.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds tok (any case).
func hasToken(v, tok string) bool {
	for v != "" {
		var t string
		if i := strings.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, ""
		}
		for len(t) > 0 && (t[0] == ' ' || t[0] == '\t') {
			t = t[1:]
		}
		for len(t) > 0 && (t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
			t = t[:len(t)-1]
		}
		if asciiEqualFold(t, tok) {
			return true
		}
	}
	return false
}

// asciiEqualFold compares ASCII case-insensitively, as HTTP does: unlike
// strings.EqualFold it does not take "ſ" for "s" or "K" (Kelvin) for "k".
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
