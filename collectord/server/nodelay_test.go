package server

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// handle no longer sets TCP_NODELAY itself: it relies on Go's accept turning it on
// for every TCP connection. Replies are single small writes; with Nagle on, a
// client pipelining requests would wait for delayed ACKs. This guards the reliance.
func TestAcceptedTCPHasNoDelay(t *testing.T) {
	nc := acceptOne(t, net.ListenConfig{})
	if v := sockopt(t, nc, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); v == 0 {
		t.Fatal("an accepted TCP connection has Nagle's algorithm on: set TCP_NODELAY in handle again")
	}
	// collectord's own listeners keep it too.
	nc = acceptOne(t, ListenConfig())
	if v := sockopt(t, nc, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); v == 0 {
		t.Fatal("ListenConfig's accepted connection has Nagle's algorithm on")
	}
}

// The keep-alive decision (ListenConfig): connections accepted by collectord's
// listeners have no SO_KEEPALIVE, those of a default listener do (so the test
// would see a change in Go's default).
func TestListenConfigNoKeepAlive(t *testing.T) {
	if v := sockopt(t, acceptOne(t, ListenConfig()), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); v != 0 {
		t.Fatal("ListenConfig's accepted connection has TCP keep-alive on")
	}
	if v := sockopt(t, acceptOne(t, net.ListenConfig{}), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); v == 0 {
		t.Fatal("Go's default accept no longer turns keep-alive on: revisit ListenConfig's comment")
	}
}

// acceptOne returns the server end of one loopback connection accepted by a
// listener made with lc.
func acceptOne(t *testing.T, lc net.ListenConfig) net.Conn {
	t.Helper()
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			var b [1]byte
			c.Read(b[:])
		}
	}()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func sockopt(t *testing.T, nc net.Conn, level, opt int) int {
	t.Helper()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return v
}
