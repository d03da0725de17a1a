package server

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"

	"github.com/gopcp/gopcp/protocol"
)

// TraceListener wraps ln so that connections accepted while enabled() is true log
// every PDU they carry, in and out, with its type and length, at debug level on log
// (collectord -D pdu). enabled is asked once per connection, so turning tracing on
// or off by a reload affects new connections; connections accepted while it is off
// are returned unwrapped and cost nothing.
//
// The trace reads the byte stream on the socket, so it sees the greeting, CREDS and
// every PDU of a plain session; once a session upgrades to TLS the PDUs are
// encrypted there and the trace says so and stops. Tracing inside TLS needs a hook
// where the server reads and writes PDUs (see collectord's report).
func TraceListener(ln net.Listener, log *slog.Logger, enabled func() bool) net.Listener {
	return &traceListener{Listener: ln, log: log, enabled: enabled}
}

type traceListener struct {
	net.Listener
	log     *slog.Logger
	enabled func() bool
}

func (l *traceListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || !l.enabled() {
		return c, err
	}
	return NewTraceConn(c, l.log), nil
}

// NewTraceConn wraps one connection as TraceListener does.
func NewTraceConn(c net.Conn, log *slog.Logger) net.Conn {
	peer := "unknown"
	if a := c.RemoteAddr(); a != nil {
		peer = a.String()
	}
	return &traceConn{Conn: c, log: log.With("peer", peer)}
}

type traceConn struct {
	net.Conn
	log     *slog.Logger
	in, out pduStream
}

func (c *traceConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.in.feed(p[:n], c.log, "in")
	}
	return n, err
}

func (c *traceConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.out.feed(p[:n], c.log, "out")
	}
	return n, err
}

// pduStream follows the PDU framing of one direction of a connection.
type pduStream struct {
	hdr    [8]byte // length and type of the PDU being read
	nhdr   int
	left   int64 // body bytes of the current PDU still to come
	opaque bool  // TLS (or garbage) from here on: no more framing
}

// isTLSRecord reports a TLS record header (handshake, alert, change cipher spec or
// application data, version 3.x) where a PDU header was expected. A PDU of that
// length would be over 300 MB, far above any limit, so the two cannot be confused.
func isTLSRecord(b []byte) bool {
	return b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03
}

func (s *pduStream) feed(b []byte, log *slog.Logger, dir string) {
	for len(b) > 0 && !s.opaque {
		if s.left > 0 {
			n := min(int64(len(b)), s.left)
			s.left -= n
			b = b[n:]
			continue
		}
		n := copy(s.hdr[s.nhdr:], b)
		s.nhdr += n
		b = b[n:]
		if s.nhdr < len(s.hdr) {
			return
		}
		s.nhdr = 0
		length := int32(binary.BigEndian.Uint32(s.hdr[:4]))
		typ := int32(binary.BigEndian.Uint32(s.hdr[4:]))
		if isTLSRecord(s.hdr[:]) {
			s.opaque = true
			log.Debug("pdu: TLS from here on; PDUs on this connection are encrypted", "dir", dir)
			return
		}
		if length < protocol.HeaderSize {
			s.opaque = true
			log.Debug("pdu: unframed bytes; tracing stops for this connection", "dir", dir, "len", length)
			return
		}
		if log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug("pdu", "dir", dir, "type", protocol.TypeName(typ), "len", length)
		}
		s.left = int64(length) - int64(len(s.hdr))
	}
}
