package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the deadlines set on a server-side connection.
type countingConn struct {
	net.Conn
	reads, writes *atomic.Int64
}

func (c *countingConn) SetDeadline(t time.Time) error {
	c.reads.Add(1)
	c.writes.Add(1)
	return c.Conn.SetDeadline(t)
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.reads.Add(1)
	return c.Conn.SetReadDeadline(t)
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.writes.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

type countingListener struct {
	net.Listener
	reads, writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, reads: &l.reads, writes: &l.writes}, nil
}

// startLoop serves h on a loopback port; tweak sets limits. It returns the
// address and the listener (for its deadline counts).
func startLoop(t *testing.T, h http.Handler, tweak func(*Server)) (*Server, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	s := &Server{HTTP: h}
	if tweak != nil {
		tweak(s)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(cl)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return s, cl
}

// echoHandler answers the path and query, and the Host and X-Test headers.
var echoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "body="+string(b))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" host="+r.Host+" x="+r.Header.Get("X-Test"))
})

func dial(t *testing.T, ln net.Listener) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readResp(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading a body: %v", err)
	}
	return resp, string(b)
}

// A keep-alive connection's plain GETs are answered by the loop, with the
// deadlines set a few times for the whole run, not per request (net/http sets
// them seven times per request).
func TestLoopKeepAliveDeadlines(t *testing.T) {
	_, ln := startLoop(t, echoHandler, nil)
	c, br := dial(t, ln)
	const n = 200
	start := time.Now()
	for i := range n {
		io.WriteString(c, "GET /a/b?i="+strconv.Itoa(i)+" HTTP/1.1\r\nHost: example\r\nX-Test: t\r\n\r\n")
		resp, body := readResp(t, br, "GET")
		if want := "GET /a/b?i=" + strconv.Itoa(i) + " host=example x=t"; resp.StatusCode != 200 || body != want {
			t.Fatalf("request %d: %d %q, want %q", i, resp.StatusCode, body, want)
		}
		if resp.Header.Get("Date") == "" || resp.ContentLength != int64(len(body)) || resp.Close {
			t.Fatalf("response head %v", resp.Header)
		}
	}
	secs := int64(time.Since(start)/time.Second) + 1
	// The first idle and write deadlines, then at most one re-arm of each a
	// second; the demultiplexer's handshake deadline and its clearing.
	if r, w := ln.reads.Load(), ln.writes.Load(); r > 3+secs || w > 3+secs {
		t.Fatalf("%d requests set the read deadline %d times and the write deadline %d times", n, r, w)
	}
}

// A target repeated on a connection is parsed once, but each request gets
// a URL of its own: what a handler does to one is not seen by the next.
func TestLoopRepeatedTarget(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path+"?"+r.URL.RawQuery)
		r.URL.Path, r.URL.RawQuery = "/changed", "by=handler"
	})
	_, ln := startLoop(t, h, nil)
	c, br := dial(t, ln)
	for i, target := range []string{"/a?x=1", "/a?x=1", "/b", "/a?x=1", "/a?x=1"} {
		io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n")
		_, body := readResp(t, br, "GET")
		if want := strings.TrimSuffix(target, "?x=1"); !strings.HasPrefix(body, want) || body != target && body != target+"?" {
			t.Fatalf("request %d for %s: handler saw %q", i, target, body)
		}
	}
}

// Requests in one write (pipelined) are answered in order.
func TestLoopPipelined(t *testing.T) {
	_, ln := startLoop(t, echoHandler, nil)
	c, br := dial(t, ln)
	var req strings.Builder
	for i := range 5 {
		req.WriteString("GET /p" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: h\r\n\r\n")
	}
	io.WriteString(c, req.String())
	for i := range 5 {
		_, body := readResp(t, br, "GET")
		if want := "GET /p" + strconv.Itoa(i) + "? host=h x="; body != want {
			t.Fatalf("response %d: %q, want %q", i, body, want)
		}
	}
}

// What the loop does not answer goes to net/http on the same connection, the
// unread bytes with it, and is answered as net/http answers it.
func TestLoopHandsOff(t *testing.T) {
	_, ln := startLoop(t, echoHandler, nil)
	for _, tc := range []struct {
		name, req, method string
		status            int
		body              string
	}{
		{"POST with a body", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", "POST", 200, "body=hello"},
		{"HEAD", "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n", "HEAD", 200, ""},
		{"HTTP/1.0", "GET /x HTTP/1.0\r\nHost: h\r\n\r\n", "GET", 200, "GET /x? host=h x="},
		{"bare LF", "GET /x HTTP/1.1\nHost: h\n\n", "GET", 200, "GET /x? host=h x="},
		{"no Host", "GET /x HTTP/1.1\r\n\r\n", "GET", 400, ""},
		{"two Hosts", "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET", 400, ""},
		// net/http reads the body as chunked (the length dropped): the
		// chunk's end must not be taken for the next request.
		{"length and chunked", "GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "GET", 200, "GET /x? host=h x="},
		{"space before colon", "GET /x HTTP/1.1\r\nHost : h\r\n\r\n", "GET", 400, ""},
		{"control byte in a value", "GET /x HTTP/1.1\r\nHost: h\r\nX-Test: a\x01b\r\n\r\n", "GET", 400, ""},
		{"folded line", "GET /x HTTP/1.1\r\nHost: h\r\nX-Test: a\r\n b\r\n\r\n", "GET", 200, "GET /x? host=h x=a b"},
		{"absolute form", "GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 200, "GET /x? host=h x="},
		{"bad escape", "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dial(t, ln)
			io.WriteString(c, tc.req)
			resp, body := readResp(t, br, tc.method)
			if resp.StatusCode != tc.status || tc.status == 200 && body != tc.body {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			if resp.StatusCode != 200 || resp.Close {
				return
			}
			// net/http keeps serving the connection.
			io.WriteString(c, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
			if _, body := readResp(t, br, "GET"); body != "GET /after? host=h x=" {
				t.Fatalf("after the hand-off: %q", body)
			}
		})
	}
}

// A head longer than MaxHeaderBytes gets 431 (from net/http, to which the
// loop hands it); one within it but beyond the loop's buffer is served.
func TestLoopHeaderLimits(t *testing.T) {
	_, ln := startLoop(t, echoHandler, func(s *Server) { s.MaxHeaderBytes = 8 << 10 })
	c, br := dial(t, ln)
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\nX-Test: "+strings.Repeat("y", 6000)+"\r\n\r\n")
	if resp, body := readResp(t, br, "GET"); resp.StatusCode != 200 || !strings.HasSuffix(body, strings.Repeat("y", 6000)) {
		t.Fatalf("6000-byte header: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/x", nil)
	req.Header.Set("X-Test", strings.Repeat("y", 20000))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("20000-byte header: %d", resp.StatusCode)
	}
}

// A connection idle after a response is closed after IdleTimeout (slack
// included); one that stops inside a head after ReadHeaderTimeout.
func TestLoopTimeouts(t *testing.T) {
	s, ln := startLoop(t, echoHandler, func(s *Server) {
		s.IdleTimeout = 200 * time.Millisecond
		s.ReadHeaderTimeout = 200 * time.Millisecond
	})
	c, br := dial(t, ln)
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
	readResp(t, br, "GET")
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v", err)
	}
	// Not at once (the lower bound leaves room for a client scheduled late).
	if d := time.Since(start); d < 50*time.Millisecond || d > 3*time.Second {
		t.Fatalf("idle connection closed after %v", d)
	}
	c, br = dial(t, ln)
	io.WriteString(c, "GET /x HTTP/1.1\r\nHo")
	start = time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("slow head: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("slow head closed after %v", d)
	}
	waitLoopConns(t, s, 0)
}

func waitLoopConns(t *testing.T, s *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.Connections() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", s.Connections(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A client that asks and never reads is cut off by WriteTimeout.
func TestLoopWriteTimeout(t *testing.T) {
	big := bytes.Repeat([]byte("z"), 32<<20) // beyond what loopback socket buffers hold
	served := make(chan struct{})
	s, ln := startLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(served)
		w.Write(big)
	}), func(s *Server) { s.WriteTimeout = 200 * time.Millisecond })
	c, _ := dial(t, ln)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
	// The handler running proves the connection is served; its count may
	// already be back to 0 when a loaded machine runs this goroutine again
	// (the cut comes 250 ms after the write starts), so it is not polled for.
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the handler")
	}
	waitLoopConns(t, s, 0)
	// Cut off, not finished: what the socket buffers held, then the end.
	n, _ := io.Copy(io.Discard, c)
	if n >= int64(len(big)) {
		t.Fatalf("read %d bytes, the whole response: not cut off", n)
	}
}

// Headers a handler sets cannot split the response: CR and LF in values
// become spaces, invalid names are dropped; Content-Length is the body's.
func TestLoopResponseHeaders(t *testing.T) {
	_, ln := startLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Evil"] = []string{"a\r\nSet-Cookie: stolen=1"}
		w.Header()["Bad Name"] = []string{"v"}
		w.Header().Set("Content-Length", "999")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "short")
	}), nil)
	c, br := dial(t, ln)
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != http.StatusTeapot || body != "short" || resp.Header.Get("Set-Cookie") != "" ||
		resp.Header.Get("X-Evil") != "a  Set-Cookie: stolen=1" || len(resp.Header["Bad Name"]) != 0 {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	// Connection: close from the client closes after the response.
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if resp, _ := readResp(t, br, "GET"); !resp.Close {
		t.Fatal("Connection: close not answered in kind")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close: %v", err)
	}
}

// Shutdown closes idle keep-alive connections at once and lets a request in
// progress finish.
func TestLoopShutdown(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	s, ln := startLoop(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			once.Do(func() { <-release })
		}
		io.WriteString(w, "ok")
	}), nil)
	idle, ibr := dial(t, ln)
	io.WriteString(idle, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
	readResp(t, ibr, "GET")
	busy, bbr := dial(t, ln)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	waitLoopConns(t, s, 2)
	time.Sleep(50 * time.Millisecond) // the slow request is in its handler
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection at shutdown: %v", err)
	}
	close(release)
	if resp, body := readResp(t, bbr, "GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("request in progress at shutdown: %d %q", resp.StatusCode, body)
	}
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("shutdown: %v", err)
	}
}

// BenchmarkLoop is a plain GET over one keep-alive connection answered by a
// trivial handler: the HTTP loop's own cost ("loop") beside net/http's
// server serving the same connection ("net/http"). Client and server share
// the process, so allocs/op are both sides'.
//
//	go test -run XXX -bench Loop -benchmem ./proxyd/server/
func BenchmarkLoop(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		io.WriteString(w, `{"context":1,"values":[]}`)
	})
	run := func(b *testing.B, addr string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		req := []byte("GET /pmapi/1/fetch?names=kernel.all.load HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
		buf := make([]byte, 4096)
		b.ReportAllocs()
		for b.Loop() {
			c.Write(req)
			// The response is small and comes in one segment.
			if n, err := c.Read(buf); err != nil || !bytes.HasSuffix(buf[:n], []byte("[]}")) {
				b.Fatalf("response %q: %v", buf[:n], err)
			}
		}
	}
	b.Run("loop", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		s := &Server{HTTP: h}
		go s.Serve(ln)
		defer s.Shutdown(context.Background())
		run(b, ln.Addr().String())
	})
	b.Run("net/http", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		s := &http.Server{Handler: h, ReadHeaderTimeout: DefaultReadHeaderTimeout, IdleTimeout: DefaultIdleTimeout, WriteTimeout: DefaultWriteTimeout}
		go s.Serve(ln)
		defer s.Shutdown(context.Background())
		run(b, ln.Addr().String())
	})
}
