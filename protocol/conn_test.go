package protocol

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// countingConn counts the deadlines set on a connection, to show that they are
// not re-armed on every request.
type countingConn struct {
	net.Conn
	mu          sync.Mutex
	read, write int
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.read++
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.write++
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *countingConn) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read, c.write
}

// tcpPair returns the two ends of a loopback TCP connection (net.Pipe has no
// buffering, so a writer would block until the reader reads).
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			done <- nil
			return
		}
		done <- s
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-done
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Whole requests arriving one after another re-arm no deadline: the idle deadline
// is armed once (with slack) and a PDU already in the buffer needs no request
// deadline. The replies' write deadline is armed once too.
func TestDeadlinesNotRearmedPerRequest(t *testing.T) {
	cl, sv := tcpPair(t)
	cc := &countingConn{Conn: sv}
	c := NewConn(cc)
	c.IdleTimeout = time.Hour
	c.RequestTimeout = 5 * time.Second
	c.WriteTimeout = 5 * time.Second
	peer := NewConn(cl)
	const n = 200
	for i := 0; i < n; i++ {
		if err := peer.Write(&DescReq{PMID: PMID(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadRaw(); err != nil {
			t.Fatal(err)
		}
		if err := c.Write(&ErrorPDU{Code: ErrPMID}); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.ReadRaw(); err != nil {
			t.Fatal(err)
		}
	}
	// A machine stalled for over a second mid-loop may cost a re-arm or two, no more.
	if r, w := cc.counts(); r > 4 || w > 4 {
		t.Fatalf("%d requests set the read deadline %d times and the write deadline %d times", n, r, w)
	}
}

// The idle timeout still closes a client that stops after many requests, no
// later than the slack allows.
func TestIdleTimeoutAfterRequests(t *testing.T) {
	cl, sv := tcpPair(t)
	c := NewConn(sv)
	c.IdleTimeout = 200 * time.Millisecond
	c.RequestTimeout = 5 * time.Second
	peer := NewConn(cl)
	for i := 0; i < 50; i++ {
		peer.Write(&DescReq{PMID: PMID(i)})
		if _, err := c.ReadRaw(); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	_, err := c.ReadRaw()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle read ended with %v, want a deadline error", err)
	}
	// Correctness, not speed: the deadline must neither fire early nor be lost.
	if took := time.Since(began); took < 200*time.Millisecond || took > 200*time.Millisecond+deadlineSlack(200*time.Millisecond)+2*time.Second {
		t.Fatalf("idle timeout of 200ms fired after %v", took)
	}
}

// A peer that sends the start of a PDU and stalls (slowloris) is cut off by the
// request timeout, not the (much longer) idle timeout, even after whole requests
// that armed only the idle deadline.
func TestRequestTimeoutOnStalledPDU(t *testing.T) {
	cl, sv := tcpPair(t)
	c := NewConn(sv)
	c.IdleTimeout = time.Hour
	c.RequestTimeout = 300 * time.Millisecond
	peer := NewConn(cl)
	for i := 0; i < 5; i++ {
		peer.Write(&DescReq{PMID: PMID(i)})
		if _, err := c.ReadRaw(); err != nil {
			t.Fatal(err)
		}
	}
	whole := Encode(nil, &DescReq{PMID: 1}, 0)
	for _, cut := range []int{1, HeaderSize - 1, HeaderSize, len(whole) - 1} {
		if _, err := cl.Write(whole[:cut]); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := c.ReadRaw(); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("cut at %d: read ended with %v, want a deadline error", cut, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("cut at %d: a stalled PDU was waited for past the request timeout", cut)
		}
		// A fresh pair for the next cut: the stream is out of step now.
		cl, sv = tcpPair(t)
		c = NewConn(sv)
		c.IdleTimeout = time.Hour
		c.RequestTimeout = 300 * time.Millisecond
	}
}

// A deadline set through the Conn (a shutdown waking its readers, say) is not
// overridden by the cached idle deadline being thought still valid in the wrong
// direction: setting it through the Conn records it.
func TestDeadlineSetThroughConnIsRecorded(t *testing.T) {
	cl, sv := tcpPair(t)
	c := NewConn(sv)
	c.IdleTimeout = time.Hour
	peer := NewConn(cl)
	peer.Write(&DescReq{PMID: 1})
	if _, err := c.ReadRaw(); err != nil {
		t.Fatal(err)
	}
	// Cleared by the caller: the next read must arm the idle deadline again.
	c.SetReadDeadline(time.Time{})
	if !c.rdl.IsZero() {
		t.Fatal("clearing the deadline was not recorded")
	}
	peer.Write(&DescReq{PMID: 2})
	if _, err := c.ReadRaw(); err != nil {
		t.Fatal(err)
	}
	if c.rdl.IsZero() || time.Until(c.rdl) < 59*time.Minute {
		t.Fatalf("idle deadline not re-armed after being cleared: %v", c.rdl)
	}
}

// A connection's first PDUs, each longer than the one before but all short, are
// read into one buffer: it is not made again for each (minBody).
func TestReadRawKeepsBuffer(t *testing.T) {
	a, b := tcpPair(t)
	w, r := NewConn(a), NewConn(b)
	pdus := []PDU{
		&Creds{Creds: []uint32{VersionCred(0)}},
		&PMNSNames{Names: []string{"kernel.all.load", "kernel.all.cpu.user", "mem.util.free"}},
		&Fetch{PMIDs: []PMID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}},
	}
	var first *byte
	last := 0
	for i, p := range pdus {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		raw, err := r.ReadRaw()
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) <= last {
			t.Fatalf("PDU %d is %d bytes, not longer than the one before (%d): the test needs growing PDUs", i, len(raw), last)
		}
		last = len(raw)
		if got, _, err := Decode(raw); err != nil || got.Type() != p.Type() {
			t.Fatalf("PDU %d: %v, %v", i, got, err)
		}
		if i == 0 {
			first = &raw[0]
		} else if &raw[0] != first {
			t.Fatalf("PDU %d (%d bytes) was read into a new buffer", i, len(raw))
		}
	}
}
