package server

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// countingAddr is a peer address that counts how often it is formatted.
type countingAddr struct {
	net.Addr
	n *int
}

func (a countingAddr) String() string { *a.n++; return a.Addr.String() }

// TestPeerLoggerMatchesWith: every line the per-connection logger writes is
// byte for byte what log.With("peer", addr) writes, through text and JSON
// handlers, with attributes and groups added after it, and a peer string that
// needs quoting.
func TestPeerLoggerMatchesWith(t *testing.T) {
	addrs := []net.Addr{
		&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40123},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "eth0"},
		&net.UnixAddr{Name: "/run/pcp/pmcd.socket\n=x", Net: "unix"},
	}
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	}
	for name, mk := range handlers {
		for _, addr := range addrs {
			var want, got bytes.Buffer
			wl := slog.New(mk(&want)).With("peer", addr.String())
			gl := peerLogger(slog.New(mk(&got)), addr)
			for _, l := range []*slog.Logger{wl, gl} {
				l.Warn("client refused: x", "max_clients", 3)
				l.With("a", 1).Info("derived", "b", 2)
				l.WithGroup("g").Info("grouped", "c", 3)
				l.Debug("not written")
			}
			if strip(want.String()) != strip(got.String()) {
				t.Errorf("%s, %v:\nWith wrote\n%s\npeerLogger wrote\n%s", name, addr, want.String(), got.String())
			}
		}
	}
}

// strip removes the time attribute, which differs between the two loggers' lines.
func strip(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "level"); i >= 0 {
			line = line[i:]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// TestPeerLoggerLazy: a connection whose lines are all below the log level
// never has its address formatted (the reason peerLogger exists), and one
// that is logged has it formatted per line, as required.
func TestPeerLoggerLazy(t *testing.T) {
	n := 0
	addr := countingAddr{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}, &n}
	var b bytes.Buffer
	l := peerLogger(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelError})), addr)
	l.Debug("client left during the handshake")
	l.Info("client dropped")
	if n != 0 || b.Len() != 0 {
		t.Fatalf("logging below the level formatted the peer %d times and wrote %q", n, b.String())
	}
	l.Error("client dropped: internal error")
	if n != 1 || !strings.Contains(b.String(), "peer=127.0.0.1:1") {
		t.Fatalf("after one line: %d formats, wrote %q", n, b.String())
	}
}

// TestPeerLoggerAllocs: building the logger costs two small allocations, not
// the address's formatting and a copy of the handler, as With does.
func TestPeerLoggerAllocs(t *testing.T) {
	base := slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError}))
	addr := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40123}
	if n := testing.AllocsPerRun(100, func() { peerLogger(base, addr).Debug("x") }); n > 2 {
		t.Errorf("peerLogger allocates %.0f times per connection, want at most 2", n)
	}
}
