package upstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// GreetingSize is the length of a collector's greeting: the 20-byte extended
// ERROR PDU that pmcd and collectord send first on every connection
// (PROTOCOL.md 3.1).
const GreetingSize = 20

// ErrNotCollector says that a peer did not greet as a PCP collector: it refused
// the connection, closed it, stayed silent or sent something else. Callers that
// answer people outside (REST) must show only this, so that proxyd cannot be used
// to tell an open non-PCP port from a closed one; the wrapped cause is for the
// log.
var ErrNotCollector = errors.New("not a PCP collector")

// NotCollectorError is ErrNotCollector with its cause.
type NotCollectorError struct{ Cause error }

func (e *NotCollectorError) Error() string {
	return fmt.Sprintf("%v (%v)", ErrNotCollector, e.Cause)
}
func (e *NotCollectorError) Is(target error) bool { return target == ErrNotCollector }
func (e *NotCollectorError) Unwrap() error        { return e.Cause }

func notCollector(format string, a ...any) error {
	return &NotCollectorError{Cause: fmt.Errorf(format, a...)}
}

// ReadGreeting reads a collector's greeting from r and returns its 20 bytes, to
// be passed on unchanged. The greeting must be exactly what a PCP collector
// sends: a header of length 20 and type ERROR, then a code and the PDU-info word.
// A zero code must come with protocol version 2; a non-zero code is a collector
// refusing the client (connection limit, access control) and is passed on too.
// The header is checked before more is read, so a peer announcing some other
// length is refused after 12 bytes. Any failure is a *NotCollectorError.
func ReadGreeting(r io.Reader) ([]byte, error) {
	b := make([]byte, GreetingSize)
	if _, err := io.ReadFull(r, b[:protocol.HeaderSize]); err != nil {
		return nil, notCollector("no greeting: %w", err)
	}
	length, typ, _, _ := protocol.ParseHeader(b)
	if length != GreetingSize || typ != protocol.TypeError {
		return nil, notCollector("first PDU header has length %d, type %#x; a greeting has length %d, type %#x",
			length, uint32(typ), GreetingSize, protocol.TypeError)
	}
	if _, err := io.ReadFull(r, b[protocol.HeaderSize:]); err != nil {
		return nil, notCollector("greeting cut short: %w", err)
	}
	p, _, err := protocol.Decode(b)
	if err != nil {
		return nil, notCollector("greeting: %w", err)
	}
	e, ok := p.(*protocol.ErrorPDU)
	if !ok || !e.Extended {
		return nil, notCollector("first PDU is not a greeting")
	}
	switch {
	case e.Code == 0:
		if v := binary.BigEndian.Uint32(b[16:]) >> 24; v != protocol.PDUVersion {
			return nil, notCollector("greeting announces protocol version %d, want %d", v, protocol.PDUVersion)
		}
	case e.Code > 0:
		return nil, notCollector("greeting has a positive code %d", e.Code)
	}
	return b, nil
}

// DialCollector is Dial followed by ReadGreeting within the same timeout (<= 0:
// only ctx bounds it): the connection is returned only once its peer has greeted
// as a PCP collector, with the greeting read from it. Nothing is written to the
// peer before that. A policy refusal is a *DeniedError; anything else that goes
// wrong, from a refused connect to a wrong greeting, is a *NotCollectorError.
func (p *Policy) DialCollector(ctx context.Context, host string, port int, timeout time.Duration) (net.Conn, []byte, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	c, err := p.Dial(ctx, host, port, 0)
	if err != nil {
		if IsDenied(err) {
			return nil, nil, err
		}
		return nil, nil, &NotCollectorError{Cause: err}
	}
	if d, ok := ctx.Deadline(); ok {
		c.SetReadDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	g, err := ReadGreeting(c)
	stop()
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	c.SetReadDeadline(time.Time{})
	return c, g, nil
}

// GreetedConn is a collector connection whose greeting was read by
// DialCollector: reads return the greeting first, then the connection's bytes,
// so a PCP client library can run its handshake on it as on a fresh connection.
type GreetedConn struct {
	net.Conn
	mu      sync.Mutex
	pending []byte
}

// NewGreetedConn replays greeting before c's own bytes.
func NewGreetedConn(c net.Conn, greeting []byte) *GreetedConn {
	return &GreetedConn{Conn: c, pending: greeting}
}

func (g *GreetedConn) Read(b []byte) (int, error) {
	g.mu.Lock()
	if len(g.pending) > 0 {
		n := copy(b, g.pending)
		g.pending = g.pending[n:]
		g.mu.Unlock()
		return n, nil
	}
	g.mu.Unlock()
	return g.Conn.Read(b)
}
