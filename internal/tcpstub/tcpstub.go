// Package tcpstub runs stand-in TCP servers on loopback for tests: a collector
// that greets and echoes, a port that sends garbage or an SSH banner, so a test
// can see what a client or relay does with whatever answers.
package tcpstub

import (
	"net"
	"testing"
)

// Serve listens on 127.0.0.1 on a free port, runs handle in its own goroutine
// for each connection it accepts and closes the connection when handle
// returns, and returns the port. The listener closes when the test ends;
// connections still open then are left to their handlers (an echo handler
// ends when its client hangs up), so cleanup never waits on a client.
func Serve(t testing.TB, handle func(net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
