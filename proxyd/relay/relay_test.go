package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/syncbuf"
	"github.com/gopcp/gopcp/internal/tcpstub"
	"github.com/gopcp/gopcp/protocol"

	"github.com/gopcp/gopcp/proxyd/upstream"
)

// logBuf is a log sink that goroutines may share.
type logBuf = syncbuf.Buffer

// startRelay serves r on 127.0.0.1:0.
func startRelay(t *testing.T, r *Relay) (string, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	r.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if r.Policy == nil {
		// The tests' collectors listen on ephemeral ports: list 127.0.0.1 (every
		// port) explicitly, as a user would for a collector off 44321.
		r.Policy, _ = upstream.NewPolicy([]string{"127.0.0.1"}, true)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); r.Serve(context.Background(), c, bufio.NewReader(c)) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		wg.Wait()
	})
	return ln.Addr().String(), logs
}

// greeting is a collector's greeting as collectord sends it.
var greeting = string(protocol.Encode(nil, protocol.Greeting(0, 0x0e44), 0))

// startEcho is a collector stand-in: it greets as a collector does and echoes.
func startEcho(t *testing.T) int {
	t.Helper()
	return tcpstub.Serve(t, func(c net.Conn) {
		c.Write([]byte(greeting))
		io.Copy(c, c)
	})
}

// closedWithin reads until EOF and reports what was read; the test fails if the
// connection is still open after d.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil // closed with unread data
	}
	if err != nil {
		t.Fatalf("connection not closed within %v (read %q): %v", d, b, err)
	}
	return string(b)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRelayEcho(t *testing.T) {
	port := startEcho(t)
	addr, _ := startRelay(t, &Relay{})
	c := dial(t, addr)
	// Everything in one write: bytes after the prelude must reach the collector.
	io.WriteString(c, "pmproxy-client 1\n127.0.0.1 "+strconv.Itoa(port)+"\nping\n")
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := br.ReadString('\n'); err != nil || got != ServerHello {
		t.Fatalf("got %q, %v; want %q", got, err, ServerHello)
	}
	g := make([]byte, len(greeting))
	if _, err := io.ReadFull(br, g); err != nil || string(g) != greeting {
		t.Fatalf("greeting: got %x, %v", g, err)
	}
	if got, err := br.ReadString('\n'); err != nil || got != "ping\n" {
		t.Fatalf("got %q, %v; want the early bytes echoed", got, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 8192) // 128 KiB, several buffers
	go c.Write(big)
	got := make([]byte, len(big))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("bulk relay: %v", err)
	}
}

// readGreeting reads the server's prelude line and the collector's greeting.
func readGreeting(t *testing.T, br *bufio.Reader) {
	t.Helper()
	b := make([]byte, len(ServerHello)+len(greeting))
	if _, err := io.ReadFull(br, b); err != nil || string(b) != ServerHello+greeting {
		t.Fatalf("got %q, %v; want the prelude and the greeting", b, err)
	}
}

func TestBadPreludes(t *testing.T) {
	port := startEcho(t)
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedPort := refused.Addr().(*net.TCPAddr).Port
	refused.Close()
	r := &Relay{PreludeTimeout: 300 * time.Millisecond, ConnectTimeout: time.Second}
	addr, logs := startRelay(t, r)
	p := strconv.Itoa(port)
	cases := []struct {
		name, send, want string
	}{
		{"wrong version", "pmproxy-client 2\n", ""},
		{"not a prelude", "pcp please\n", ""},
		{"no port", "pmproxy-client 1\n127.0.0.1\n", ServerHello},
		{"port zero", "pmproxy-client 1\n127.0.0.1 0\n", ServerHello},
		{"port not a number", "pmproxy-client 1\n127.0.0.1 pcp\n", ServerHello},
		{"port too big", "pmproxy-client 1\n127.0.0.1 70000\n", ServerHello},
		{"no host", "pmproxy-client 1\n " + p + "\n", ServerHello},
		{"host line too long", "pmproxy-client 1\n" + strings.Repeat("a", MaxPreludeLine+10), ServerHello},
		{"hello too long", strings.Repeat("p", MaxPreludeLine+10), ""},
		{"collector not allowed", "pmproxy-client 1\n192.0.2.1 44321\n", ServerHello},
		{"collector down", "pmproxy-client 1\n127.0.0.1 " + strconv.Itoa(refusedPort) + "\n", ServerHello},
		{"silent client", "", ""},
		{"prelude stops halfway", "pmproxy-client 1\n127.0.", ServerHello},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := dial(t, addr)
			io.WriteString(conn, c.send)
			if got := closedWithin(t, conn, 3*time.Second); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	if !strings.Contains(logs.String(), "refused by policy") {
		t.Errorf("no policy refusal logged:\n%s", logs)
	}
	waitSessions(t, r, 0)
}

func waitSessions(t *testing.T, r *Relay, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for r.Sessions() != n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := r.Sessions(); got != n {
		t.Fatalf("%d sessions, want %d", got, n)
	}
}

func TestParseTarget(t *testing.T) {
	h, p, err := ParseTarget("127.0.0.1 44321")
	if err != nil || h != "127.0.0.1" || p != 44321 {
		t.Fatalf("%q %d %v", h, p, err)
	}
	for _, s := range []string{"", "host", "host ", " 1", "host 1 2", "host -1", strings.Repeat("h", 300) + " 1"} {
		if _, _, err := ParseTarget(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	port := startEcho(t)
	r := &Relay{IdleTimeout: 200 * time.Millisecond}
	addr, logs := startRelay(t, r)
	c := dial(t, addr)
	io.WriteString(c, "pmproxy-client 1\n127.0.0.1 "+strconv.Itoa(port)+"\n")
	start := time.Now()
	if got := closedWithin(t, c, 3*time.Second); got != ServerHello+greeting {
		t.Fatalf("got %q", got)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
	if !strings.Contains(logs.String(), "idle session closed") {
		t.Errorf("logs:\n%s", logs)
	}
}

func TestCollectorHangsUp(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte(greeting))
			c.Close()
		}
	}()
	addr, _ := startRelay(t, &Relay{})
	c := dial(t, addr)
	io.WriteString(c, "pmproxy-client 1\n127.0.0.1 "+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)+"\n")
	if got := closedWithin(t, c, 3*time.Second); got != ServerHello+greeting {
		t.Fatalf("got %q", got)
	}
}

func TestClientHangsUp(t *testing.T) {
	port := startEcho(t)
	r := &Relay{}
	addr, _ := startRelay(t, r)
	c := dial(t, addr)
	io.WriteString(c, "pmproxy-client 1\n127.0.0.1 "+strconv.Itoa(port)+"\n")
	br := bufio.NewReader(c)
	readGreeting(t, br)
	c.Close()
	waitSessions(t, r, 0)
}

func TestShutdownClosesQuietSessions(t *testing.T) {
	port := startEcho(t)
	r := &Relay{}
	addr, _ := startRelay(t, r)
	c := dial(t, addr)
	io.WriteString(c, "pmproxy-client 1\n127.0.0.1 "+strconv.Itoa(port)+"\n")
	br := bufio.NewReader(c)
	readGreeting(t, br)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	closedWithin(t, c, time.Second)
	// New sessions are refused.
	c2 := dial(t, addr)
	io.WriteString(c2, "pmproxy-client 1\n")
	if got := closedWithin(t, c2, time.Second); got != "" {
		t.Fatalf("after shutdown: %q", got)
	}
}
