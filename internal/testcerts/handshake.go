package testcerts

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// Handshake runs a TLS handshake between srv and cli over a loopback connection and
// returns each side's error. The server then writes two bytes that the client reads,
// because under TLS 1.3 a client learns of a refused certificate only on its first
// read.
func Handshake(t testing.TB, srv, cli *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(c, srv)
		if err = s.Handshake(); err == nil {
			_, err = s.Write([]byte("ok"))
		}
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cc := tls.Client(c, cli)
	if clientErr = cc.Handshake(); clientErr == nil {
		_, clientErr = cc.Read(make([]byte, 2))
	}
	return clientErr, <-done
}
