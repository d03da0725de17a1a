// Package server is proxyd's listener: one port for every protocol, chosen by the
// first bytes of each connection as pmproxy chooses (PROTOCOL.md 7):
//
//	'p'                    the PCP relay ("pmproxy-client 1\n")
//	G H P D T O C          HTTP/1.1 (the REST API and /metrics)
//	0x16                   TLS first (only with a certificate configured); the
//	                       decrypted stream is demultiplexed again: HTTPS, or the
//	                       relay over TLS
//	anything else          closed
//
// It enforces the connection limit, the handshake deadline (first byte and TLS),
// and the HTTP limits (header size, read-header, idle and write timeouts), and it
// shuts down gracefully: listeners first, then in-flight HTTP requests and relay
// exchanges are finished, within the caller's deadline.
//
// HTTP connections are served by a keep-alive loop of the server's own for plain
// GETs (httploop.go, the REST polling path), which hands a connection to
// net/http at its first request of any other kind. Accepted sockets are read
// and written with raw system calls (internal/rawconn).
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopcp/gopcp/internal/rawconn"
	"github.com/gopcp/gopcp/proxyd/relay"
	"github.com/gopcp/gopcp/tlsconfig"
)

// Limits and their defaults; zero fields of Server take these.
const (
	// DefaultMaxConnections is the most client connections open at once, all
	// protocols together. Beyond it an HTTP client is answered 503 and any other
	// is closed.
	DefaultMaxConnections = 1024
	// DefaultHandshakeTimeout bounds the wait for a connection's first byte and a
	// TLS handshake.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultReadHeaderTimeout bounds the reading of an HTTP request's header.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes an HTTP keep-alive connection idle this long.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultWriteTimeout bounds writing a response (it includes the collector
	// work, itself bounded by the API's request timeout).
	DefaultWriteTimeout = 30 * time.Second
	// DefaultMaxHeaderBytes bounds an HTTP request header (net/http adds 4 KiB of
	// slack); larger ones get 431.
	DefaultMaxHeaderBytes = 16 << 10
	// maxOverflow bounds the connections being turned away at once.
	maxOverflow = 64
)

// Settings are what a reload may change while the server runs (Update): the
// TLS configuration, -Q, the connection limit and the handshake deadline. A
// connection is handled with the settings in force when it was accepted. (The
// HTTP limits belong to net/http's server, fixed once serving starts.)
type Settings struct {
	TLSConfig         *tls.Config
	RequireClientCert bool
	MaxConnections    int
	HandshakeTimeout  time.Duration
}

// Server serves one or more listeners. Set the fields before Serve and do not
// change them after; Update changes the Settings safely.
type Server struct {
	// HTTP handles HTTP and HTTPS requests.
	HTTP http.Handler
	// Relay serves PCP relay clients.
	Relay *relay.Relay
	// TLSConfig enables TLS-first connections (nil: they are closed).
	TLSConfig *tls.Config
	// RequireClientCert is -Q: as pmcd does, clients must come over TLS (whose
	// configuration then demands a verified certificate), except loopback ones;
	// a plain HTTP client elsewhere gets 403, a plain relay client is closed.
	RequireClientCert bool
	// IsLocal decides which peers are exempt from RequireClientCert (nil: loopback
	// addresses).
	IsLocal func(net.Addr) bool

	MaxConnections    int
	HandshakeTimeout  time.Duration
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	WriteTimeout      time.Duration
	MaxHeaderBytes    int
	Logger            *slog.Logger

	once     sync.Once
	httpSrv  *http.Server
	httpLn   *chanListener
	httpDone chan struct{}

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	pending   map[net.Conn]struct{} // connections still being demultiplexed
	closing   bool
	wg        sync.WaitGroup // accept loops and demultiplexers

	// Connections served by the HTTP loop (httploop.go), and its goroutines.
	hconns map[*httpConn]struct{}
	httpWG sync.WaitGroup

	conns    atomic.Int64 // open client connections
	overflow atomic.Int64
	refused  atomic.Uint64
	live     atomic.Pointer[Settings] // nil: the fields
}

// Update replaces the settings for connections accepted from now on (a reload).
func (s *Server) Update(st Settings) { s.live.Store(&st) }

// Settings are the settings in force, defaults filled in.
func (s *Server) Settings() Settings {
	st := Settings{TLSConfig: s.TLSConfig, RequireClientCert: s.RequireClientCert,
		MaxConnections: s.MaxConnections, HandshakeTimeout: s.HandshakeTimeout}
	if p := s.live.Load(); p != nil {
		st = *p
	}
	st.MaxConnections = pick(st.MaxConnections, DefaultMaxConnections)
	st.HandshakeTimeout = pick(st.HandshakeTimeout, DefaultHandshakeTimeout)
	return st
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func pick[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (s *Server) init() {
	s.once.Do(func() {
		s.httpLn = &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
		s.httpSrv = &http.Server{
			Handler:           s.HTTP,
			ReadHeaderTimeout: pick(s.ReadHeaderTimeout, DefaultReadHeaderTimeout),
			IdleTimeout:       pick(s.IdleTimeout, DefaultIdleTimeout),
			WriteTimeout:      pick(s.WriteTimeout, DefaultWriteTimeout),
			MaxHeaderBytes:    pick(s.MaxHeaderBytes, DefaultMaxHeaderBytes),
			ErrorLog:          slog.NewLogLogger(s.log().Handler(), slog.LevelDebug),
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				if pc, ok := c.(*peekConn); ok && pc.tls != nil {
					ctx = context.WithValue(ctx, tlsStateKey{}, pc.tls)
					if pc.verified {
						ctx = context.WithValue(ctx, verifiedKey{}, true)
					}
				}
				return ctx
			},
		}
		if s.httpSrv.Handler == nil {
			s.httpSrv.Handler = http.NotFoundHandler()
		}
		s.httpDone = make(chan struct{})
		go func() {
			defer close(s.httpDone)
			s.httpSrv.Serve(s.httpLn)
		}()
	})
}

type tlsStateKey struct{}

// TLSState returns the TLS connection state of an HTTPS request (net/http cannot
// see it through the demultiplexer), or nil.
func TLSState(r *http.Request) *tls.ConnectionState {
	if c, ok := r.Context().Value(tlsStateKey{}).(*tls.Conn); ok {
		st := c.ConnectionState()
		return &st
	}
	return nil
}

type verifiedKey struct{}

// ClientAuthenticated reports whether an HTTPS request's client presented a
// certificate that the TLS handshake verified. proxyd lends its own upstream
// identity only to such clients and to loopback ones.
func ClientAuthenticated(r *http.Request) bool {
	v, _ := r.Context().Value(verifiedKey{}).(bool)
	return v
}

// peerVerified reports whether the client's certificate was verified by the
// handshake under cfg. Go verifies it itself for the Verify* client auth types;
// for Request/RequireAnyClientCert only a VerifyPeerCertificate hook does, as
// tlsconfig.Server's does for every certificate offered. Anything else is not
// verified (fail closed).
func peerVerified(cfg *tls.Config, cs tls.ConnectionState) bool {
	if len(cs.PeerCertificates) == 0 {
		return false
	}
	switch cfg.ClientAuth {
	case tls.VerifyClientCertIfGiven, tls.RequireAndVerifyClientCert:
		return len(cs.VerifiedChains) > 0
	case tls.RequestClientCert, tls.RequireAnyClientCert:
		return cfg.VerifyPeerCertificate != nil
	}
	return false
}

// Connections reports the client connections open now.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Refused reports the connections turned away at the limit.
func (s *Server) Refused() uint64 { return s.refused.Load() }

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("proxyd: server closed")

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors: back off instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log().Warn("accept failed; backing off", "err", err, "delay", delay.String())
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c = rawconn.Wrap(c)
		st := s.Settings()
		if s.conns.Add(1) > int64(st.MaxConnections) {
			s.conns.Add(-1)
			s.refuse(c, st.MaxConnections)
			continue
		}
		if !s.track(c, true) {
			s.conns.Add(-1)
			c.Close()
			continue
		}
		go s.demux(c, st)
	}
}

// refuse turns a connection away at the limit: HTTP clients get 503, others are
// closed.
func (s *Server) refuse(c net.Conn, limit int) {
	s.refused.Add(1)
	if s.overflow.Add(1) > maxOverflow {
		s.overflow.Add(-1)
		c.Close()
		return
	}
	s.log().Warn("connection limit reached; refusing", "peer", c.RemoteAddr().String(), "limit", limit)
	go func() {
		defer s.overflow.Add(-1)
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		br := bufio.NewReaderSize(c, 1024)
		if b, err := br.Peek(1); err == nil && isHTTP(b[0]) {
			httpRefusal(c, br, "503 Service Unavailable", "too many connections to proxyd; try again later")
		}
	}()
}

// httpRefusal answers an HTTP request that will not be served, after reading its
// header (briefly), so that the client sees the answer rather than a reset.
func httpRefusal(c net.Conn, br *bufio.Reader, status, msg string) {
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	http.ReadRequest(bufio.NewReader(io.LimitReader(br, 16<<10)))
	body := `{"message":"` + msg + `","success":false}` + "\r\n"
	c.SetWriteDeadline(time.Now().Add(time.Second))
	io.WriteString(c, "HTTP/1.1 "+status+"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// isHTTP reports whether a first byte starts an HTTP/1.1 method (pmproxy's set).
func isHTTP(b byte) bool {
	switch b {
	case 'G', 'H', 'P', 'D', 'T', 'O', 'C':
		return true
	}
	return false
}

// isTLS reports whether a first byte starts a TLS record (handshake, 0x16; pmproxy
// accepts the record types 0x14-0x18, but a client's first record is a handshake).
func isTLS(b byte) bool { return b == 0x16 }

// track adds or removes a connection being demultiplexed.
func (s *Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing {
			return false
		}
		if s.pending == nil {
			s.pending = map[net.Conn]struct{}{}
		}
		s.pending[c] = struct{}{}
		s.wg.Add(1)
		return true
	}
	delete(s.pending, c)
	s.wg.Done()
	return true
}

// demux reads the first byte and hands the connection to its protocol.
func (s *Server) demux(c net.Conn, st Settings) {
	release := sync.OnceFunc(func() { s.conns.Add(-1) })
	handed := false
	defer func() {
		if !handed {
			c.Close()
			release()
		}
	}()
	defer s.track(c, false)
	hs := st.HandshakeTimeout
	c.SetDeadline(time.Now().Add(hs))
	br := bufio.NewReaderSize(c, 4096)
	first, err := br.Peek(1)
	if err != nil {
		return
	}
	var tc *tls.Conn
	if isTLS(first[0]) {
		if st.TLSConfig == nil {
			s.log().Debug("TLS connection but no certificate configured; closed", "peer", c.RemoteAddr().String())
			return
		}
		tc = tls.Server(&peekConn{Conn: c, r: br}, st.TLSConfig)
		ctx, cancel := context.WithTimeout(context.Background(), hs)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.logHandshake(c, tc, err)
			return
		}
		br = bufio.NewReaderSize(tc, 4096)
		if first, err = br.Peek(1); err != nil {
			return
		}
	}
	var inner net.Conn = c
	if tc != nil {
		inner = tc
	} else if st.RequireClientCert && !s.isLocal(c.RemoteAddr()) {
		s.log().Warn("plain connection refused: a client certificate is required (-Q); connect with TLS", "peer", c.RemoteAddr().String())
		if isHTTP(first[0]) {
			httpRefusal(c, br, "403 Forbidden", "proxyd requires a client certificate: connect with TLS (https) and present one")
		}
		return
	}
	switch {
	case first[0] == 'p' && s.Relay != nil:
		handed = true
		go func() {
			defer release()
			s.Relay.Serve(context.Background(), inner, br)
		}()
	case isHTTP(first[0]):
		inner.SetDeadline(time.Time{})
		h := s.newHTTPConn(inner, br, tc, st, release)
		if s.trackHTTP(h) {
			handed = true
			go s.serveHTTP(h)
		}
	default:
		s.log().Debug("unknown protocol; closed", "peer", c.RemoteAddr().String(), "first", int(first[0]))
	}
}

// newHTTPConn prepares a demultiplexed HTTP connection for the loop.
func (s *Server) newHTTPConn(inner net.Conn, br *bufio.Reader, tc *tls.Conn, st Settings, release func()) *httpConn {
	ctx := context.Background()
	if tc != nil {
		ctx = context.WithValue(ctx, tlsStateKey{}, tc)
		if peerVerified(st.TLSConfig, tc.ConnectionState()) {
			ctx = context.WithValue(ctx, verifiedKey{}, true)
		}
	}
	return &httpConn{s: s, c: inner, br: br, tls: tc, ctx: ctx, remote: inner.RemoteAddr().String(), release: release,
		readHeaderTimeout: pick(s.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		idleTimeout:       pick(s.IdleTimeout, DefaultIdleTimeout),
		writeTimeout:      pick(s.WriteTimeout, DefaultWriteTimeout),
		maxHead:           min(pick(s.MaxHeaderBytes, DefaultMaxHeaderBytes), httpBufSize)}
}

// trackHTTP registers a connection of the HTTP loop (false: shutting down).
func (s *Server) trackHTTP(h *httpConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.hconns == nil {
		s.hconns = map[*httpConn]struct{}{}
	}
	s.hconns[h] = struct{}{}
	s.httpWG.Add(1)
	return true
}

func (s *Server) untrackHTTP(h *httpConn) {
	s.mu.Lock()
	delete(s.hconns, h)
	s.mu.Unlock()
}

// setHTTPIdle marks a loop connection waiting for a request (idle) or serving
// one. It is false when the connection should close instead: idle during
// Shutdown.
func (s *Server) setHTTPIdle(h *httpConn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idle && s.closing {
		return false
	}
	h.idle = idle
	return true
}

func (s *Server) isLocal(a net.Addr) bool {
	if s.IsLocal != nil {
		return s.IsLocal(a)
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	_, unix := a.(*net.UnixAddr)
	return unix
}

// logHandshake logs a failed TLS handshake with the client certificate's SHA-256
// when there was one.
func (s *Server) logHandshake(c net.Conn, tc *tls.Conn, err error) {
	args := []any{"peer", c.RemoteAddr().String(), "err", err}
	if st := tc.ConnectionState(); len(st.PeerCertificates) > 0 {
		args = append(args, "client_cert_sha256", tlsconfig.Fingerprint(st.PeerCertificates[0]))
	}
	s.log().Warn("TLS handshake failed", args...)
}

// Shutdown stops the listeners, closes connections that have not chosen a
// protocol, and waits for in-flight HTTP requests and relay exchanges to finish
// until ctx ends; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.pending {
		c.Close()
	}
	s.mu.Unlock()

	// The HTTP loop's idle connections close now, busy ones after their
	// response; what is left when ctx ends is closed.
	s.mu.Lock()
	for h := range s.hconns {
		if h.idle {
			h.c.Close()
		}
	}
	s.mu.Unlock()
	loopDone := make(chan struct{})
	go func() {
		s.httpWG.Wait()
		close(loopDone)
	}()

	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		select {
		case <-loopDone:
		case <-ctx.Done():
			errs[2] = ctx.Err()
			s.mu.Lock()
			for h := range s.hconns {
				h.c.Close()
			}
			s.mu.Unlock()
			<-loopDone
		}
	}()
	go func() {
		defer wg.Done()
		errs[0] = s.httpSrv.Shutdown(ctx)
		if errs[0] != nil {
			s.httpSrv.Close()
		}
		<-s.httpDone
	}()
	go func() {
		defer wg.Done()
		if s.Relay != nil {
			errs[1] = s.Relay.Shutdown(ctx)
		}
	}()
	wg.Wait()
	s.wg.Wait()
	return errors.Join(errs...)
}

// peekConn is a connection whose first bytes were read into r.
type peekConn struct {
	net.Conn
	r        *bufio.Reader
	tls      *tls.Conn
	verified bool // the client's certificate was verified (peerVerified)
	release  func()
	once     sync.Once
}

func (p *peekConn) Read(b []byte) (int, error) {
	if p.r != nil {
		if p.r.Buffered() > 0 {
			return p.r.Read(b)
		}
		p.r = nil // drained: read the connection directly from now on
	}
	return p.Conn.Read(b)
}

func (p *peekConn) Close() error {
	err := p.Conn.Close()
	p.once.Do(func() {
		if p.release != nil {
			p.release()
		}
	})
	return err
}

// chanListener feeds demultiplexed connections to net/http.
type chanListener struct {
	ch        chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero} }
