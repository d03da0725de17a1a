package server

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"testing"
)

func TestParseHead(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want headStatus
	}{
		{"GET /pmapi/1/fetch?names=a HTTP/1.1\r\nHost: h:1\r\nUser-Agent: x\r\n\r\n", headDone},
		{"GET / HTTP/1.1\r\nHost: [::1]:44322\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\nGET /next", headDone},
		{"G", headMore},
		{"GET /x HTTP/1.1\r\nHost: h\r\n", headMore},
		{"GET /x HTTP/1.1\r", headMore},
		{"HEAD / HTTP/1.1\r\n", headOther},
		{"POST / HTTP/1.1\r\nHost: h\r\n\r\n", headOther},
		{"GET / HTTP/1.0\r\nHost: h\r\n\r\n", headOther},
		{"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", headOther},
		{"GET * HTTP/1.1\r\nHost: h\r\n\r\n", headOther},
		{"GET /x HTTP/1.1\nHost: h\n", headOther},         // bare LF, before the end
		{"GET /x HTTP/1.1\r\nHost: h\x00\r\n", headOther}, // a NUL, before the end
		{"GET /x HTTP/1.1\r\n\r\n", headOther},            // no Host
		{"GET /x HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", headOther},
		{"GET /x HTTP/1.1\r\nHost: a b\r\n\r\n", headOther},
		{"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", headOther},
		{"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", headOther},
		{"GET /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", headOther},
		{"GET /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", headOther},
		{"GET /x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", headOther},
		{"GET /x HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", headOther},
		{"GET /x HTTP/1.1\r\nHost: h\r\nX : y\r\n\r\n", headOther},
		{"GET /x HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", headOther},
		{"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", headOther},
		{"GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n", headOther},
	} {
		_, got := parseHead([]byte(tc.in), httpBufSize, nil)
		if got != tc.want {
			t.Errorf("%q: %d, want %d", tc.in, got, tc.want)
		}
	}
	// The limit: a head not complete within it is net/http's.
	long := "GET /x HTTP/1.1\r\nHost: h\r\nX: " + string(bytes.Repeat([]byte("y"), 100)) + "\r\n\r\n"
	if _, st := parseHead([]byte(long), 64, nil); st != headOther {
		t.Errorf("over the limit: %d", st)
	}
	if _, st := parseHead([]byte(long), len(long), nil); st != headDone {
		t.Errorf("at the limit: %d", st)
	}
	h, _ := parseHead([]byte("GET /q?a=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, CLOSE\r\nX-A:  v \t\r\n\r\n"), httpBufSize, nil)
	if h.target != "/q?a=1" || h.host != "h" || !h.close || !slices.Equal(h.fields, []field{{"Connection", "keep-alive, CLOSE"}, {"X-A", "v"}}) {
		t.Errorf("parsed %+v", h)
	}
	// "ſ" is not "s" in HTTP.
	if h, _ := parseHead([]byte("GET / HTTP/1.1\r\nHost: h\r\nConnection: clo\u017fe\r\n\r\n"), httpBufSize, nil); h.close {
		t.Error(`"cloſe" taken for "close"`)
	}
}

// FuzzParseHead: no input makes parseHead panic or read past its limit, and a
// head it accepts means the same to net/http's parser: same method, target,
// Host, headers and Connection: close, and no body.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET /pmapi/1/fetch?names=kernel.all.load HTTP/1.1\r\nHost: 127.0.0.1:44322\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: h\r\nX: a\r\nx: b\r\n\r\nGET /y HTTP/1.1\r\n",
		"GET /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /x HTTP/1.1\nHost: h\n\n",
		"GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET //x/../y HTTP/1.1\r\nHost: h\r\n\r\n",
	} {
		f.Add([]byte(s), 4096)
	}
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		if limit <= 0 || limit > 1<<16 {
			limit = 4096
		}
		h, st := parseHead(b, limit, nil)
		if st != headDone {
			return
		}
		if h.n > limit || h.n > len(b) {
			t.Fatalf("head of %d bytes past the limit %d or the input %d", h.n, limit, len(b))
		}
		u, err := url.ParseRequestURI(h.target)
		req, rerr := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:h.n])))
		if err != nil {
			return // the loop hands such a target to net/http
		}
		if rerr != nil {
			t.Fatalf("accepted a head net/http refuses (%v): %q", rerr, b[:h.n])
		}
		if req.Method != "GET" || req.RequestURI != h.target || req.URL.String() != u.String() || req.Host != h.host ||
			req.Close != h.close || req.ContentLength != 0 || len(req.TransferEncoding) != 0 {
			t.Fatalf("net/http reads %q as %s %q host %q close %v length %d; we read %q host %q close %v",
				b[:h.n], req.Method, req.RequestURI, req.Host, req.Close, req.ContentLength, h.target, h.host, h.close)
		}
		ours := http.Header{}
		for _, fl := range h.fields {
			k := textproto.CanonicalMIMEHeaderKey(fl.name)
			ours[k] = append(ours[k], fl.value)
		}
		if len(ours) != len(req.Header) {
			t.Fatalf("headers: ours %q, net/http's %q", ours, req.Header)
		}
		for k, v := range req.Header {
			if !slices.Equal(ours[k], v) {
				t.Fatalf("header %q: ours %q, net/http's %q", k, ours[k], v)
			}
		}
	})
}
