package server

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// TestPDUStream: the framing follows PDUs split anywhere, and stops at TLS.
func TestPDUStream(t *testing.T) {
	var stream []byte
	stream = protocol.Encode(stream, protocol.Greeting(0, 0x10), 0)
	stream = protocol.Encode(stream, &protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}, 42)
	stream = protocol.Encode(stream, &protocol.ErrorPDU{Code: protocol.ErrPMID}, 0)
	stream = append(stream, 0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5) // a TLS record
	stream = protocol.Encode(stream, &protocol.ErrorPDU{}, 0)            // encrypted in reality: not traced
	for _, chunk := range []int{1, 3, 7, 12, len(stream)} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		var s pduStream
		for b := stream; len(b) > 0; {
			n := min(chunk, len(b))
			s.feed(b[:n], log, "in")
			b = b[n:]
		}
		got := buf.String()
		if strings.Count(got, "msg=pdu ") != 3 || !strings.Contains(got, "type=ERROR len=20") ||
			!strings.Contains(got, "type=CREDS len=20") || !strings.Contains(got, "TLS from here on") {
			t.Errorf("chunk %d:\n%s", chunk, got)
		}
	}
}

// TestTraceListener: connections accepted while tracing is on log both directions;
// others are not wrapped.
func TestTraceListener(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	on := true
	tl := TraceListener(ln, log, func() bool { return on })
	defer tl.Close()
	go func() {
		for i := 0; i < 2; i++ {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return
			}
			c.Write(protocol.Encode(nil, &protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}, 1))
			c.Close()
		}
	}()
	c, err := tl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*traceConn); !ok {
		t.Fatal("not wrapped while on")
	}
	pc := protocol.NewConn(c)
	pc.Write(protocol.Greeting(0, 0))
	pc.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := pc.Read(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := buf.String(); !strings.Contains(got, "dir=out type=ERROR len=20") || !strings.Contains(got, "dir=in type=CREDS len=20") {
		t.Fatalf("log:\n%s", got)
	}
	on = false
	c, err = tl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*traceConn); ok {
		t.Fatal("wrapped while off")
	}
}
