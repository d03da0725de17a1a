// Package servertest runs collectord's server in-process on loopback for the
// tests of other packages, as net/http/httptest does for handlers: the
// registry of every metric, a port on 127.0.0.1, closed (and its Serve
// returned) when the test ends.
package servertest

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/collectord/server"
)

// Start serves on a free port of 127.0.0.1 and returns the server and its
// address. tweak, when set, may change the server (TLS, limits, a logger)
// before its registry is made and it serves; the logger is a discarding one
// unless tweak sets another.
func Start(t testing.TB, tweak func(*server.Server)) (*server.Server, string) {
	t.Helper()
	return StartAt(t, "127.0.0.1:0", tweak)
}

// StartAt is Start on a given address (to restart a collector on the port it
// had).
func StartAt(t testing.TB, addr string, tweak func(*server.Server)) (*server.Server, string) {
	t.Helper()
	s := &server.Server{Logger: slog.New(slog.DiscardHandler)}
	if tweak != nil {
		tweak(s)
	}
	reg, err := metrics.New(metrics.Options{Version: "test", Self: s.Self()})
	if err != nil {
		t.Fatal(err)
	}
	s.Registry = reg
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(context.Background(), ln) }()
	// The listener is closed as well: Close may come before Serve has taken
	// it. Waiting for Serve leaves nothing of the test running.
	t.Cleanup(func() { s.Close(); ln.Close(); <-done })
	return s, ln.Addr().String()
}
