package protocol

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gopcp/gopcp/internal/stackgrow"
)

// Limits with the defaults of the real pmcd and libpcp.
const (
	// DefaultMaxPDUSize is the largest PDU a server accepts from a client (pmcd -L).
	DefaultMaxPDUSize = 64 * 1024
	// DefaultRequestTimeout is how long a peer has to deliver the rest of a PDU once
	// its first byte has arrived (pmcd -t).
	DefaultRequestTimeout = 5 * time.Second
	// DefaultIdleTimeout is how long a server waits for the next request of an idle
	// client before closing it. The real pmcd waits for ever; a collector exposed
	// to a network should not, but an hour keeps long-lived monitors connected.
	DefaultIdleTimeout = time.Hour
	// DefaultHandshakeTimeout bounds the greeting/CREDS exchange and a TLS handshake.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultClientTimeout is libpcp's PMCD_REQUEST_TIMEOUT: the wait for each reply.
	DefaultClientTimeout = 10 * time.Second
	// DefaultConnectTimeout is libpcp's PMCD_CONNECT_TIMEOUT.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultPort is pmcd's TCP port.
	DefaultPort = 44321
)

// Feature bits, in the greeting's feature mask and in CREDS flags.
const (
	FeatureSecure    uint16 = 0x0001
	FeatureCompress  uint16 = 0x0002
	FeatureAuth      uint16 = 0x0004
	FeatureCredsReqd uint16 = 0x0008
	FeatureSecureAck uint16 = 0x0010
	FeatureContainer uint16 = 0x0040
	FeatureCertReqd  uint16 = 0x0080
	FeatureLabels    uint16 = 0x0200
	FeatureHighres   uint16 = 0x0400
	FeatureDescs     uint16 = 0x0800

	// CredsAllowed are the only bits a server accepts in CREDS.
	CredsAllowed = FeatureSecure | FeatureCompress | FeatureAuth | FeatureCredsReqd |
		FeatureSecureAck | FeatureContainer | FeatureCertReqd
)

// Greeting builds the 20-byte extended ERROR a server sends first. code is a PCP
// (version 2) error code; it is written in version 1 numbering as pmcd does.
func Greeting(code int32, features uint16) *ErrorPDU {
	return &ErrorPDU{Code: ToV1(code), Extended: true, Datum: uint32(PDUVersion)<<24 | 1<<16 | uint32(features)}
}

// ParseGreeting checks a server's first PDU and returns its feature mask. A non-zero
// code (already translated to version 2 numbering) is returned as a *Error.
func ParseGreeting(p PDU) (features uint16, err error) {
	e, ok := p.(*ErrorPDU)
	if !ok || !e.Extended {
		return 0, &Error{Code: ErrIPC}
	}
	if e.Code != 0 {
		return 0, &Error{Code: FromV1(e.Code)}
	}
	return uint16(e.Datum), nil
}

// ToV1 maps a version 2 error code to the PCP 1.x numbering used in the greeting.
func ToV1(code int32) int32 {
	if code <= ErrGeneric {
		return code + 11345
	}
	return code
}

// FromV1 maps a greeting error code back to version 2 numbering.
func FromV1(code int32) int32 {
	if code <= -1000 && code > ErrGeneric {
		return code - 11345
	}
	return code
}

// ErrNegativeType is returned for a header whose type is negative.
var ErrNegativeType = errors.New("pdu: negative type")

// Conn frames PDUs on a stream. It reads through a buffer and writes each PDU with
// one Write. A TLS upgrade replaces the stream but keeps the Conn.
type Conn struct {
	net.Conn
	r     *bufio.Reader
	rsize int // r's size, kept across a TLS upgrade
	rbuf  []byte
	wbuf  []byte

	// MaxSize is the largest PDU accepted (0 = no limit, as libpcp clients read).
	MaxSize int
	// IdleTimeout bounds the wait for the first byte of the next PDU (0 = none).
	IdleTimeout time.Duration
	// RequestTimeout bounds the rest of a PDU once it has started (0 = none).
	RequestTimeout time.Duration
	// WriteTimeout bounds each write (0 = none, or whatever deadline the caller set).
	WriteTimeout time.Duration
	// From is written in the header of every PDU sent.
	From int32
	// Trace, when set, sees every whole PDU read (out false) or written (out true),
	// inside TLS too. It must not keep the slice.
	Trace func(out bool, pdu []byte)

	// The read and write deadlines last set through this Conn (zero = none). Setting
	// a deadline arms a runtime timer, which costs more than answering a small
	// fetch, so the idle and write deadlines are set with a little slack and only
	// re-armed once the slack is used up (see extend). Deadlines set on the
	// embedded net.Conn directly bypass this record: set them through the Conn.
	rdl, wdl time.Time
}

// deadlineSlack is how much later than nominal an idle or write timeout may
// fire: a deadline is armed slack beyond what is needed and re-armed only once
// less than the timeout is left, that is at most once per slack. A quarter of the
// timeout, and never more than a second, keeps short test timeouts meaningful.
func deadlineSlack(d time.Duration) time.Duration { return min(time.Second, d/4) }

// SetDeadline sets both deadlines and records them.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl, c.wdl = t, t
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline and records it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl = t
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline and records it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl = t
	return c.Conn.SetWriteDeadline(t)
}

// ClearDeadlines clears both deadlines unless the Conn knows them clear
// already: clearing costs the runtime two timer updates.
func (c *Conn) ClearDeadlines() {
	if !c.rdl.IsZero() || !c.wdl.IsZero() {
		c.SetDeadline(time.Time{})
	}
}

// extend checks that the deadline dl is at least d after now. When it is not (or
// there is none) it returns a new one, d plus slack after now, and ok true; when
// dl stands it returns ok false and nothing needs setting.
func extend(dl time.Time, now time.Time, d time.Duration) (next time.Time, ok bool) {
	if !dl.IsZero() && !dl.Before(now.Add(d)) {
		return dl, false
	}
	return now.Add(d + deadlineSlack(d)), true
}

// NewConn wraps c.
func NewConn(c net.Conn) *Conn { return NewConnSize(c, 16*1024) }

// NewConnSize wraps c with a read buffer of size bytes. A server whose clients
// send small requests needs little: a PDU larger than the buffer is read
// straight into its own buffer all the same.
func NewConnSize(c net.Conn, size int) *Conn {
	return &Conn{Conn: c, r: bufio.NewReaderSize(c, size), rsize: size}
}

// ReadRaw reads one PDU and returns its bytes, valid until the next read. Oversize,
// undersize and negative-type headers are refused before the body is read. The
// idle timeout may fire up to deadlineSlack late; the request timeout is exact.
func (c *Conn) ReadRaw() ([]byte, error) {
	if c.IdleTimeout > 0 || c.RequestTimeout > 0 {
		if c.IdleTimeout > 0 {
			if dl, ok := extend(c.rdl, time.Now(), c.IdleTimeout); ok {
				c.SetReadDeadline(dl)
			}
		} else if !c.rdl.IsZero() {
			c.SetReadDeadline(time.Time{})
		}
		if _, err := c.r.Peek(1); err != nil {
			return nil, err
		}
		// A PDU that arrived whole (the usual case: one small request, one
		// segment) needs no request deadline: nothing more will be read for it.
		if c.RequestTimeout > 0 && !c.buffered() {
			c.SetReadDeadline(time.Now().Add(c.RequestTimeout))
		}
	}
	hdr, err := c.r.Peek(HeaderSize)
	if err != nil {
		if err == io.EOF && c.r.Buffered() > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	length, typ, _, _ := ParseHeader(hdr)
	switch {
	case length < HeaderSize:
		return nil, fmt.Errorf("%w: length %d below the header size", ErrLength, length)
	case c.MaxSize > 0 && int(length) > c.MaxSize:
		return nil, fmt.Errorf("%w: length %d, limit %d", ErrTooLarge, length, c.MaxSize)
	case typ < 0:
		return nil, ErrNegativeType
	}
	b, err := c.readBody(int(length))
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if c.Trace != nil {
		c.Trace(false, b)
	}
	return b, nil
}

// buffered reports whether a whole PDU is already in the read buffer.
func (c *Conn) buffered() bool {
	n := c.r.Buffered()
	if n < HeaderSize {
		return false
	}
	hdr, err := c.r.Peek(HeaderSize)
	if err != nil {
		return false
	}
	length, _, _, _ := ParseHeader(hdr)
	return length >= HeaderSize && int(length) <= n
}

// growStep bounds what a header alone can make us allocate: beyond it the buffer
// grows only as the bytes arrive, so a peer claiming 2 GiB and sending nothing
// costs at most this much (it matters where MaxSize is 0, as in clients).
const growStep = 1 << 20

// minBody is the least the reused PDU buffer is made with. A connection's first
// PDUs grow in size (CREDS, a name lookup, a fetch, each a few dozen to a few
// hundred bytes): made to each one's exact length, the buffer was made again
// for each, two or three allocations per short-lived client.
const minBody = 512

// readBody reads a whole PDU of length bytes into the reused buffer.
func (c *Conn) readBody(length int) ([]byte, error) {
	if length <= cap(c.rbuf) || length <= growStep {
		if cap(c.rbuf) < length {
			c.rbuf = make([]byte, length, max(length, minBody))
		}
		b := c.rbuf[:length]
		_, err := io.ReadFull(c.r, b)
		return b, err
	}
	b := c.rbuf[:0]
	for len(b) < length {
		n := min(length-len(b), growStep)
		b = append(b, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, b[len(b)-n:]); err != nil {
			return nil, err
		}
	}
	c.rbuf = b
	return b, nil
}

// Read reads and decodes one PDU.
func (c *Conn) Read() (PDU, error) {
	b, err := c.ReadRaw()
	if err != nil {
		return nil, err
	}
	p, _, err := Decode(b)
	return p, err
}

// Write encodes and sends one PDU.
func (c *Conn) Write(p PDU) error {
	c.wbuf = Encode(c.wbuf[:0], p, c.From)
	return c.WriteRaw(c.wbuf)
}

// WriteRaw sends bytes that already form whole PDUs.
func (c *Conn) WriteRaw(b []byte) error {
	if c.Trace != nil {
		for rest := b; len(rest) >= HeaderSize; {
			n, _, _, _ := ParseHeader(rest)
			if n < HeaderSize || int(n) > len(rest) {
				break
			}
			c.Trace(true, rest[:n])
			rest = rest[n:]
		}
	}
	if c.WriteTimeout > 0 {
		if dl, ok := extend(c.wdl, time.Now(), c.WriteTimeout); ok {
			c.SetWriteDeadline(dl)
		}
	}
	_, err := c.Conn.Write(b)
	return err
}

// bufferedConn is the stream under a TLS session: the bytes the Conn had
// already buffered come first, so that a handshake that follows a PDU in the
// same segment loses nothing. While handshaking is set, every read goes through
// that buffer: crypto/tls reads a record in pieces of a few hundred bytes, and a
// client's whole flight (certificate, CertificateVerify, Finished: about 1 KB
// for libpcp's mutual TLS) then costs one read(2) instead of two. Afterwards the
// buffer is drained and dropped, and reads go straight to the socket.
type bufferedConn struct {
	net.Conn
	r           *bufio.Reader
	handshaking bool
}

func (b *bufferedConn) Read(p []byte) (int, error) {
	if b.r != nil {
		if b.handshaking || b.r.Buffered() > 0 {
			return b.r.Read(p)
		}
		b.r = nil
	}
	return b.Conn.Read(p)
}

// UpgradeServer runs a TLS server handshake on the same socket and switches the
// Conn to the encrypted stream. ctx's deadline (DefaultHandshakeTimeout when it
// has none) bounds the handshake, and cancelling ctx ends it.
func (c *Conn) UpgradeServer(ctx context.Context, cfg *tls.Config) (*tls.Conn, error) {
	b := &bufferedConn{Conn: c.Conn, r: c.r, handshaking: true}
	t := tls.Server(b, cfg)
	return t, c.upgrade(ctx, b, t)
}

// UpgradeServerBy is UpgradeServer for a server that bounds the handshake by a
// deadline alone and ends handshakes in flight by closing their connections or
// moving their read deadlines (as collectord's Close and Shutdown do): nothing
// watches a context, which saves crypto/tls a context, a cancel registration
// and their clean-up per handshake. The deadline is set through the Conn (and
// not again when the Conn already holds it); both deadlines are clear after.
func (c *Conn) UpgradeServerBy(deadline time.Time, cfg *tls.Config) (*tls.Conn, error) {
	b := &bufferedConn{Conn: c.Conn, r: c.r, handshaking: true}
	t := tls.Server(b, cfg)
	if deadline.IsZero() {
		// A handshake with no bound would let a silent client hold its slot.
		return t, errors.New("protocol: TLS upgrade without a deadline")
	}
	if !c.rdl.Equal(deadline) || !c.wdl.Equal(deadline) {
		c.SetDeadline(deadline)
	}
	return t, c.finish(b, t, serverHandshake(t))
}

// serverHandshake runs t's handshake on a stack grown beforehand, in one step, to
// handshakeStack.
//
//go:noinline
func serverHandshake(t *tls.Conn) error {
	stackgrow.To(handshakeStack)
	return t.Handshake()
}

// handshakeStack is the stack a TLS server handshake needs (ECDSA P-256
// signatures, X25519, certificate parsing): 16 KiB, measured in collectord with
// and without a client certificate. Left alone, the runtime doubles the stack
// from deep inside crypto/tls, each time copying the stack and walking the
// tables of every frame on it: several per cent of a mutual-TLS connection's
// server CPU. Grown in serverHandshake, while the stack is shallow, it is
// copied once with few frames to walk (internal/stackgrow). collectord has
// grown the connection's stack to 8 KiB before (its connStack): this is then
// that stack's one more copy.
const handshakeStack = 16 << 10

// UpgradeClient runs a TLS client handshake on the same socket and switches the
// Conn to the encrypted stream.
func (c *Conn) UpgradeClient(ctx context.Context, cfg *tls.Config) (*tls.Conn, error) {
	b := &bufferedConn{Conn: c.Conn, r: c.r, handshaking: true}
	t := tls.Client(b, cfg)
	return t, c.upgrade(ctx, b, t)
}

func (c *Conn) upgrade(ctx context.Context, b *bufferedConn, t *tls.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultHandshakeTimeout)
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	return c.finish(b, t, t.HandshakeContext(ctx))
}

// finish clears the handshake's deadlines and, when the handshake succeeded,
// switches the Conn to the TLS stream.
func (c *Conn) finish(b *bufferedConn, t *tls.Conn, err error) error {
	c.ClearDeadlines()
	if err != nil {
		return err
	}
	b.handshaking = false
	c.Conn = t
	if b.r.Buffered() == 0 {
		// Nothing of the client's is left in the plaintext buffer (the usual
		// case: a client waits for the handshake before it sends a request), so
		// the buffer itself can serve the TLS stream and no new one is made.
		b.r = nil
		c.r.Reset(t)
		return nil
	}
	c.r = bufio.NewReaderSize(t, c.rsize)
	return nil
}
