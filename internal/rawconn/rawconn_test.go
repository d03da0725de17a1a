package rawconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// loopbackPair is an accepted connection (wrapped as the server wraps it) and its
// client end.
func loopbackPair(t *testing.T) (srv net.Conn, cli net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	srv = Wrap(nc)
	if _, ok := srv.(*rawConn); !ok {
		t.Fatalf("a TCP connection was not wrapped: %T", srv)
	}
	t.Cleanup(func() { srv.Close(); cli.Close() })
	return srv, cli
}

// The raw reads and writes keep the contract of the net.Conn they replace: data
// both ways, a write larger than the socket buffer completes (the EAGAIN path
// waits in the poller), deadlines fire as os.ErrDeadlineExceeded, a closed
// connection reads as net.ErrClosed, the peer's close as io.EOF, its reset as
// ECONNRESET.
func TestRawConnContract(t *testing.T) {
	srv, cli := loopbackPair(t)

	if _, err := cli.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := srv.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: more than the socket takes at once
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(cli, int64(len(big))))
		got <- b
	}()
	if n, err := srv.Write(big); err != nil || n != len(big) {
		t.Fatalf("write of 1 MiB: %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("the peer read %d bytes, not the 1 MiB written", len(b))
	}

	srv.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := srv.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if err := srv.SetReadDeadline(time.Time{}); err != nil {
		t.Fatalf("clearing the deadline: %v", err)
	}

	cli.Close()
	if _, err := srv.Read(buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want io.EOF", err)
	}
	srv.Close()
	if _, err := srv.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v, want net.ErrClosed", err)
	}
	if _, err := srv.Write(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}

func TestRawConnPeerReset(t *testing.T) {
	srv, cli := loopbackPair(t)
	cli.(*net.TCPConn).SetLinger(0) // close sends a reset
	cli.Write([]byte("x"))
	cli.Close()
	time.Sleep(20 * time.Millisecond)
	buf := make([]byte, 16)
	var err error
	for err == nil {
		_, err = srv.Read(buf)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the peer's reset: %v, want ECONNRESET", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("error %v is not a read *net.OpError as the net package gives", err)
	}
}

// A connection the runtime does not poll is left as it is.
func TestRawConnLeavesOthersAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := Wrap(a); c != a {
		t.Fatalf("net.Pipe wrapped as %T", c)
	}
}
