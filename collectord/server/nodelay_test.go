package server

import (
	"net"
	"syscall"
	"testing"
)

// handle no longer sets TCP_NODELAY itself: it relies on Go's accept turning it on
// for every TCP connection. Replies are single small writes; with Nagle on, a
// client pipelining requests would wait for delayed ACKs. This guards the reliance.
func TestAcceptedTCPHasNoDelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
	defer nc.Close()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		v, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	if v == 0 {
		t.Fatal("an accepted TCP connection has Nagle's algorithm on: set TCP_NODELAY in handle again")
	}
}
