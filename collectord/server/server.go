// Package server is collectord's PCP protocol server: the accept loop, one goroutine
// per client, the greeting/CREDS handshake with the same-socket TLS upgrade, request
// dispatch, limits and the client-certificate policy. Metric data comes from a
// metrics.Registry; the server knows nothing of /proc.
//
// The -Q policy (RequireClientCert) has one exemption: clients on a unix-domain
// socket (ListenUnix, pmcd -s), whose uid, gid and pid the kernel tells us. Every TCP
// client, loopback included, must upgrade to TLS and present a verified
// certificate: a proxyd on this host connects from 127.0.0.1 on behalf of remote
// clients, so loopback proves nothing about who is asking.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/internal/rawconn"
	"github.com/gopcp/gopcp/internal/stackgrow"
	"github.com/gopcp/gopcp/protocol"
)

// Limits and their defaults. Every one is a field of Server; zero means the default.
const (
	// DefaultMaxClients is the most clients served at once; the next one gets
	// PM_ERR_CONNLIMIT in its greeting and is closed.
	DefaultMaxClients = 4096
	// MaxProfiles bounds the contexts (profiles) one connection may keep.
	MaxProfiles = 64
	// refuseLinger bounds how long a refused client is read from after its ERROR
	// PDU, so that closing does not reset the connection before the client has
	// read why (a reset can destroy data the client has not read yet).
	refuseLinger = time.Second
	// refuseDrainMax bounds what is read (and discarded) from a refused client.
	refuseDrainMax = 64 * 1024
	// readBufSize is each connection's read buffer. Requests are small (a fetch of
	// 30 metrics is 148 bytes) and a larger PDU is read into its own buffer
	// anyway, so 2 KiB serves. protocol.NewConn's 16 KiB would cost 200 clients
	// 2.8 MiB more heap, and every connection their allocation and zeroing.
	readBufSize = 2 * 1024
)

// Features advertised in the greeting: LABELS, HIGHRES and DESCS always; SECURE with
// SECURE_ACK when TLS is configured; CERT_REQD with RequireClientCert. We do not offer
// AUTH (SASL) or CONTAINER, so clients never send those handshakes.
const baseFeatures = protocol.FeatureLabels | protocol.FeatureHighres | protocol.FeatureDescs

// Settings are what a reload may change while the server runs (Server.Update): the
// limits and the client-certificate policy. A client keeps the settings in force
// when it connected; new clients get the new ones.
type Settings struct {
	RequireClientCert bool
	MaxPDUSize        int
	MaxClients        int
	MaxClientsPerAddr int
	MaxHandshakes     int
	RequestTimeout    time.Duration
	IdleTimeout       time.Duration
	HandshakeTimeout  time.Duration
}

// Server serves PCP clients. Set the fields before Serve; do not change them after
// (Update changes the Settings fields safely).
type Server struct {
	// Registry holds the metrics served.
	Registry *metrics.Registry
	// TLSConfig returns the TLS configuration for a new handshake, or nil when TLS is
	// not configured. It is called for each upgrade so a reload takes effect for new
	// handshakes while existing sessions keep theirs.
	TLSConfig func() *tls.Config
	// RequireClientCert is pmcd -Q: every TCP client, loopback included, must
	// upgrade to TLS and present a verified client certificate. A TCP client that
	// does not ask for TLS, and a TLS client (on any socket) without a certificate,
	// get an ERROR PDU PM_ERR_NEEDCLIENTCERT and are closed with nothing else sent.
	// Only plaintext clients on a unix-domain socket (ListenUnix) are exempt.
	RequireClientCert bool
	// MaxPDUSize is the largest PDU accepted from a client (default 64 KiB).
	MaxPDUSize int
	// MaxClients is the most clients served at once (default DefaultMaxClients);
	// a connection takes a client slot only once its handshake is done.
	MaxClients int
	// MaxClientsPerAddr is the most connections from one IP address, handshaking
	// or served (default DefaultMaxClientsPerAddr); unix-socket clients are exempt.
	MaxClientsPerAddr int
	// MaxHandshakes is the most connections still in their handshake at once
	// (default DefaultMaxHandshakes).
	MaxHandshakes int
	// RequestTimeout bounds the rest of a PDU once it has started (default 5 s).
	RequestTimeout time.Duration
	// IdleTimeout closes a client that sends nothing for this long (default 1 h).
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the CREDS exchange and the TLS handshake (default 10 s).
	HandshakeTimeout time.Duration
	// Logger receives the lines about refused clients and protocol failures, those
	// a client can cause at will rate-limited (limits.go).
	Logger *slog.Logger
	// PDUTrace, when set, sees every PDU of every client, in and out, inside TLS
	// too (collectord -D pdu). It must not keep the slice.
	PDUTrace func(peer net.Addr, out bool, pdu []byte)
	// ReloadStats, when set, reports configuration reloads (successful, failed)
	// for the pmcd.gopcp.reload.* metrics.
	ReloadStats func() (ok, failed uint64)

	mu         sync.Mutex
	clients    map[*client]struct{} // every open connection, handshaking or served
	served     int                  // connections past the handshake (client slots)
	handshakes int                  // connections in the handshake
	perAddr    map[netip.Addr]int   // open TCP connections per address
	nextSlot   uint32
	ln         []net.Listener
	relaxed    [2]*tls.Config // a TLS configuration and its copy that lets no certificate through the handshake
	wg         sync.WaitGroup
	closing    atomic.Bool
	nclients   atomic.Int32
	live       atomic.Pointer[Settings] // nil: the fields
	own        selfStats                // pducount.go: PDU and SIGHUP counts for the pmcd.* metrics
	scratch    sync.Pool                // *replyScratch (client.go), lent to a connection per request

	limitOnce  sync.Once
	badPDULog  *logLimiter
	refusalLog *logLimiter
	clock      func() time.Time // tests: the log limiters' clock
}

// ListenConfig is how collectord's TCP listeners are made. Accepted connections
// get no TCP keep-alive, as with pmcd (which sets no socket option on the
// connections it accepts). Go's default turns keep-alive on with four
// setsockopt calls per connection, a fifth of the server's CPU for a short
// connection; what it would buy, noticing a peer that vanished without a FIN
// within about two minutes instead of at the idle timeout (IdleTimeout, an hour
// by default), matters little here: such a peer costs one goroutine and a few
// kilobytes until then, and the per-address and MaxClients limits bound how many
// there can be. Sites that want quicker reaping lower idle_timeout. Sockets
// passed by the service manager keep Go's default (keep-alive on).
func ListenConfig() net.ListenConfig { return net.ListenConfig{KeepAlive: -1} }

// Update replaces the settings for clients that connect from now on (a reload).
func (s *Server) Update(st Settings) { s.live.Store(&st) }

// Settings are the settings in force, defaults filled in.
func (s *Server) Settings() Settings {
	var st Settings
	if p := s.live.Load(); p != nil {
		st = *p
	} else {
		st = Settings{RequireClientCert: s.RequireClientCert, MaxPDUSize: s.MaxPDUSize, MaxClients: s.MaxClients,
			MaxClientsPerAddr: s.MaxClientsPerAddr, MaxHandshakes: s.MaxHandshakes,
			RequestTimeout: s.RequestTimeout, IdleTimeout: s.IdleTimeout, HandshakeTimeout: s.HandshakeTimeout}
	}
	if st.MaxPDUSize <= 0 {
		st.MaxPDUSize = protocol.DefaultMaxPDUSize
	}
	if st.MaxClients <= 0 {
		st.MaxClients = DefaultMaxClients
	}
	if st.MaxClientsPerAddr <= 0 {
		st.MaxClientsPerAddr = DefaultMaxClientsPerAddr
	}
	if st.MaxHandshakes <= 0 {
		st.MaxHandshakes = DefaultMaxHandshakes
	}
	st.RequestTimeout = orDefault(st.RequestTimeout, protocol.DefaultRequestTimeout)
	st.IdleTimeout = orDefault(st.IdleTimeout, protocol.DefaultIdleTimeout)
	st.HandshakeTimeout = orDefault(st.HandshakeTimeout, protocol.DefaultHandshakeTimeout)
	return st
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Features is the greeting's feature mask.
func (s *Server) Features() uint16 { return s.features(s.Settings()) }

func (s *Server) features(st Settings) uint16 {
	f := baseFeatures
	if s.TLSConfig != nil && s.TLSConfig() != nil {
		f |= protocol.FeatureSecure | protocol.FeatureSecureAck
	}
	if st.RequireClientCert {
		f |= protocol.FeatureCertReqd
	}
	return f
}

// Serve accepts clients on ln until ctx is cancelled or Close is called.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.clients == nil {
		s.clients = map[*client]struct{}{}
	}
	s.ln = append(s.ln, ln)
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: back off, keep serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log().Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
}

// Close stops accepting, closes every client and waits for their goroutines.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	for _, ln := range s.ln {
		ln.Close()
	}
	for c := range s.clients {
		c.raw.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Shutdown stops accepting and waits for in-flight requests: idle clients are closed
// at once, busy ones after their current reply, until ctx expires.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	for _, ln := range s.ln {
		ln.Close()
	}
	for c := range s.clients {
		// Wake readers blocked between requests; a request being served finishes
		// and its reply is written before the next read sees the deadline.
		c.raw.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return s.Close()
	}
}

// NumClients reports the clients connected now (pmcd.numclients).
func (s *Server) NumClients() int { return int(s.nclients.Load()) }

// MetricFeatures tells the pmcd.feature.* metrics what this server does.
func (s *Server) MetricFeatures() metrics.Features {
	return metrics.Features{
		Secure:             s.TLSConfig != nil && s.TLSConfig() != nil,
		ClientCertRequired: s.Settings().RequireClientCert,
	}
}

// Clients lists the connected clients for pmcd.client.*, in slot order.
func (s *Server) Clients() []metrics.Client {
	s.mu.Lock()
	out := make([]metrics.Client, 0, len(s.clients))
	for c := range s.clients {
		if !c.served {
			continue
		}
		c.mu.Lock()
		out = append(out, metrics.Client{Slot: c.slot, WhoAmI: c.whoami, Start: c.start})
		c.mu.Unlock()
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

// Self adapts the server to metrics.Self (its Features method name is taken by the
// greeting mask).
func (s *Server) Self() metrics.Self { return selfView{s} }

type selfView struct{ s *Server }

func (v selfView) NumClients() int            { return v.s.NumClients() }
func (v selfView) Features() metrics.Features { return v.s.MetricFeatures() }
func (v selfView) Clients() []metrics.Client  { return v.s.Clients() }

// Reloads implements metrics.Health.
func (v selfView) Reloads() (ok, failed uint64) {
	if v.s.ReloadStats == nil {
		return 0, 0
	}
	return v.s.ReloadStats()
}

// CertNotAfter implements metrics.Health from the certificate new handshakes get.
func (v selfView) CertNotAfter() (time.Time, bool) {
	if v.s.TLSConfig == nil {
		return time.Time{}, false
	}
	cfg := v.s.TLSConfig()
	if cfg == nil || len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
		return time.Time{}, false
	}
	leaf := cfg.Certificates[0].Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cfg.Certificates[0].Certificate[0]); err != nil {
			return time.Time{}, false
		}
	}
	return leaf.NotAfter, true
}

// handshakeConfig is cfg for one handshake. A configuration that requires a
// client certificate (-Q, or tls.conf tls-verify-clients) would end a handshake
// without one with a TLS alert, which PCP clients report as "IPC protocol
// failure". The copy lets such a client finish the handshake, so that it can be
// told PM_ERR_NEEDCLIENTCERT (the caller checks); a certificate that is offered
// is still verified by cfg's own check and fails the handshake if it does not verify.
func (s *Server) handshakeConfig(cfg *tls.Config) (use *tls.Config, required bool) {
	switch cfg.ClientAuth {
	case tls.RequireAnyClientCert, tls.RequireAndVerifyClientCert:
	default:
		return cfg, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.relaxed[0] == cfg {
		return s.relaxed[1], true
	}
	r := cfg.Clone()
	if cfg.ClientAuth == tls.RequireAndVerifyClientCert {
		r.ClientAuth = tls.VerifyClientCertIfGiven
	} else {
		r.ClientAuth = tls.RequestClientCert
	}
	if verify := cfg.VerifyPeerCertificate; verify != nil {
		r.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return nil // decided after the handshake
			}
			return verify(raw, chains)
		}
	}
	s.relaxed = [2]*tls.Config{cfg, r}
	return r, true
}

// certFingerprint is the SHA-256 of a peer certificate for log lines.
func certFingerprint(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return "none"
	}
	sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
	return hex.EncodeToString(sum[:])
}

// errBadPDU marks a failure caused by a malformed or unexpected PDU: the client is
// closed and the log line is rate-limited.
var errBadPDU = errors.New("bad PDU")

// errRefused marks a refusal that has been logged with its reason.
var errRefused = errors.New("refused")

// handle runs one client from greeting to close.
func (s *Server) handle(ctx context.Context, nc net.Conn) {
	// Reads and writes go through raw system calls (internal/rawconn); Close and
	// Shutdown still act on nc itself.
	// First, while the stack holds two frames: see connStack. Later, the
	// goroutine's 2 KiB stack would already have doubled once (in the allocations
	// below) and this would copy it a second time.
	stackgrow.To(connStack)
	c := &client{srv: s, set: s.Settings(), raw: nc, conn: protocol.NewConnSize(rawconn.Wrap(nc), readBufSize), start: time.Now(), peer: nc.RemoteAddr()}
	defer nc.Close()
	// A bug in one request's handling must cost that client, not the daemon.
	defer func() {
		if p := recover(); p != nil {
			s.log().Error("client dropped: internal error", "peer", c.peer.String(), "panic", p, "stack", string(debug.Stack()))
		}
	}()
	if s.PDUTrace != nil {
		c.conn.Trace = func(out bool, b []byte) { s.PDUTrace(c.peer, out, b) }
	}
	var log *slog.Logger
	if _, c.unix = nc.(*net.UnixConn); c.unix {
		log = unixPeer(nc, s.log())
		c.peer = nc.LocalAddr() // the accepted side's remote address has no name
	} else {
		log = peerLogger(s.log(), c.peer)
		c.addr = addrKey(c.peer)
	}
	// No SetNoDelay: Go's accept already turns TCP_NODELAY on, and a second
	// setsockopt per connection showed in the connect profile.
	if reason := s.admit(c); reason != "" {
		// Logged before the client can read why: whoever watches both (a test,
		// an operator) finds the line once the refusal has arrived.
		s.logRefusal(log, slog.LevelWarn, "client refused: "+reason, "max_clients", c.set.MaxClients,
			"max_clients_per_addr", c.set.MaxClientsPerAddr, "max_handshakes", c.set.MaxHandshakes)
		c.conn.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		c.conn.Write(protocol.Greeting(protocol.ErrConnLimit, 0))
		s.own.countOut(protocol.TypeError)
		return
	}
	defer s.release(c)
	if err := c.handshake(ctx, log); err != nil {
		switch {
		case errors.Is(err, errRefused): // logged with its reason
		case s.closing.Load():
		case errors.Is(err, errBadPDU):
			s.logBadPDU(log, "client dropped: bad PDU in the handshake", "err", err)
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
			// Port probes and health checks connect and hang up: not worth a line.
			log.Debug("client left during the handshake", "err", err)
		default:
			s.logRefusal(log, slog.LevelInfo, "client handshake failed", "err", err)
		}
		return
	}
	if !s.promote(c) {
		c.sendError(protocol.ErrConnLimit)
		s.logRefusal(log, slog.LevelWarn, "client refused: connection limit reached", "max_clients", c.set.MaxClients)
		return
	}
	c.conn.MaxSize = c.set.MaxPDUSize
	c.conn.IdleTimeout = c.set.IdleTimeout
	c.conn.RequestTimeout = c.set.RequestTimeout
	for {
		raw, err := c.conn.ReadRaw()
		if err != nil {
			c.readFailed(err, log)
			return
		}
		if err := c.dispatch(raw, log); err != nil {
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, errBadPDU) {
				log.Info("client dropped", "err", err)
			}
			return
		}
		if s.closing.Load() {
			return
		}
	}
}

// peerLogger is log with the attribute peer=addr on every line, as
// log.With("peer", addr.String()) would write it, but built for nothing when
// nothing is logged: With formats the address and copies the handler for every
// connection, and a short-lived client usually leaves no line at all.
func peerLogger(log *slog.Logger, addr net.Addr) *slog.Logger {
	return slog.New(&peerHandler{inner: log.Handler(), peer: addr})
}

// peerHandler adds the peer attribute when a line is written (or the handler
// is derived from), not when it is made.
type peerHandler struct {
	inner slog.Handler
	peer  net.Addr
}

func (h *peerHandler) withPeer() slog.Handler {
	return h.inner.WithAttrs([]slog.Attr{slog.String("peer", h.peer.String())})
}

func (h *peerHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *peerHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.withPeer().Handle(ctx, r)
}

func (h *peerHandler) WithAttrs(as []slog.Attr) slog.Handler { return h.withPeer().WithAttrs(as) }

func (h *peerHandler) WithGroup(name string) slog.Handler { return h.withPeer().WithGroup(name) }

// readFailed logs why a client's stream ended and tells it when the PDU itself was
// the reason (too big, bad header).
func (c *client) readFailed(err error, log *slog.Logger) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return
	case errors.Is(err, protocol.ErrTooLarge):
		c.sendError(protocol.ErrTooBig)
		c.srv.logBadPDU(log, "client dropped: PDU too large", "err", err)
	case errors.Is(err, protocol.ErrLength), errors.Is(err, protocol.ErrNegativeType):
		c.sendError(protocol.ErrIPC)
		c.srv.logBadPDU(log, "client dropped: bad PDU header", "err", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if !c.srv.closing.Load() {
			c.srv.logRefusal(log, slog.LevelInfo, "client dropped: timed out", "err", err)
		}
	default:
		log.Info("client dropped", "err", err)
	}
}

func (c *client) sendError(code int32) error {
	c.conn.Conn.SetWriteDeadline(time.Now().Add(c.set.RequestTimeout))
	c.srv.own.countOut(protocol.TypeError)
	return c.conn.Write(&protocol.ErrorPDU{Code: code})
}

// refuse sends the ERROR PDU code and ends the conversation: the client reads the
// error as the reply to its next request and then end of file, and nothing else
// is sent. Whatever the client sends meanwhile is read and discarded, briefly, so
// that closing does not reset the connection before the client has read the error.
func (c *client) refuse(code int32) {
	conn := c.conn.Conn
	conn.SetWriteDeadline(time.Now().Add(refuseLinger))
	c.srv.own.countOut(protocol.TypeError)
	if err := c.conn.Write(&protocol.ErrorPDU{Code: code}); err != nil {
		return
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite() // TCP FIN, or TLS close_notify
	}
	conn.SetReadDeadline(time.Now().Add(refuseLinger))
	io.Copy(io.Discard, io.LimitReader(conn, refuseDrainMax))
}

// handshake sends the greeting, reads CREDS and performs the TLS upgrade when asked.
func (c *client) handshake(ctx context.Context, log *slog.Logger) error {
	s := c.srv
	deadline := time.Now().Add(c.set.HandshakeTimeout)
	// Set through the Conn, which records it: the TLS upgrade then need not set
	// the same deadline again, and the deferred clear is skipped once the
	// upgrade has cleared it (a Shutdown's read deadline set meanwhile stays).
	c.conn.SetDeadline(deadline)
	defer c.conn.ClearDeadlines()
	features := s.features(c.set)
	if err := c.conn.Write(protocol.Greeting(0, features)); err != nil {
		return err
	}
	s.own.countOut(protocol.TypeError) // the greeting is an ERROR PDU
	c.conn.MaxSize = c.set.MaxPDUSize
	raw, err := c.conn.ReadRaw()
	if err != nil {
		switch {
		case errors.Is(err, protocol.ErrTooLarge):
			c.sendError(protocol.ErrTooBig)
			return fmt.Errorf("%w: reading CREDS: %w", errBadPDU, err)
		case errors.Is(err, protocol.ErrLength), errors.Is(err, protocol.ErrNegativeType):
			c.sendError(protocol.ErrIPC)
			return fmt.Errorf("%w: reading CREDS: %w", errBadPDU, err)
		}
		return fmt.Errorf("reading CREDS: %w", err)
	}
	s.own.countIn(raw)
	p, _, err := protocol.Decode(raw)
	if err != nil {
		c.sendError(protocol.ErrIPC)
		return fmt.Errorf("%w: first PDU: %w", errBadPDU, err)
	}
	creds, ok := p.(*protocol.Creds)
	if !ok {
		c.sendError(protocol.ErrIPC)
		return fmt.Errorf("%w: first PDU is %s, not CREDS", errBadPDU, protocol.TypeName(p.Type()))
	}
	_, flags, ok := creds.Flags()
	if !ok || flags&^protocol.CredsAllowed != 0 {
		c.sendError(protocol.ErrIPC)
		return fmt.Errorf("%w: CREDS without a version or with unknown flags %#x", errBadPDU, flags)
	}
	unsupported := protocol.FeatureCompress | protocol.FeatureAuth | protocol.FeatureContainer
	if !c.unix {
		// On a unix socket the credentials CREDS_REQD asks for are the kernel's
		// (SO_PEERCRED), as with pmcd; over TCP they would need SASL.
		unsupported |= protocol.FeatureCredsReqd
	}
	if flags&unsupported != 0 {
		c.sendError(-int32(95)) // EOPNOTSUPP: features we did not advertise
		return fmt.Errorf("client asked for unsupported features %#x", flags)
	}
	if flags&protocol.FeatureSecure == 0 {
		if c.set.RequireClientCert && !c.unix {
			// pmcd would answer and carry on, and exempts loopback; we fail closed
			// and exempt only unix sockets: no metric data at all.
			c.refuse(protocol.ErrNeedClientCert)
			s.logRefusal(log, slog.LevelWarn, "client refused: a client certificate is required (-Q) and the client did not ask for TLS; only unix-socket clients are exempt")
			return errRefused
		}
		return nil
	}
	var cfg *tls.Config
	if s.TLSConfig != nil {
		cfg = s.TLSConfig()
	}
	if cfg == nil {
		c.sendError(protocol.ErrNotConn)
		return errors.New("client asked for TLS, which is not configured")
	}
	cfg, required := s.handshakeConfig(cfg)
	required = required || c.set.RequireClientCert
	if flags&protocol.FeatureSecureAck != 0 {
		s.own.countOut(protocol.TypeError)
		if err := c.conn.Write(&protocol.ErrorPDU{Code: 0}); err != nil {
			return err
		}
	}
	// Bounded by the deadline alone: Close closes the connection and Shutdown
	// moves its read deadline, either of which ends a handshake in flight, so
	// crypto/tls need not watch a context too.
	tc, err := c.conn.UpgradeServerBy(deadline, cfg)
	if err != nil {
		if s.closing.Load() {
			return errRefused
		}
		cs := tc.ConnectionState()
		s.logRefusal(log, slog.LevelWarn, "client refused: TLS handshake failed", "err", err, "peer_cert_sha256", certFingerprint(cs))
		return errRefused
	}
	cs := tc.ConnectionState()
	// Any certificate offered was verified in the handshake (tlsconfig.Server);
	// none offered is decided here, so that the client can be told why.
	if required && len(cs.PeerCertificates) == 0 {
		c.refuse(protocol.ErrNeedClientCert)
		s.logRefusal(log, slog.LevelWarn, "client refused: TLS without a client certificate, and one is required (-Q)")
		return errRefused
	}
	c.tls = true
	// A certificate counts as authentication only if the handshake verified it:
	// by Go's own chain check, or by the VerifyPeerCertificate hook tlsconfig
	// installs (which rejects any certificate offered that does not verify). A
	// config that merely requested one proves nothing.
	c.certAuth = len(cs.PeerCertificates) > 0 &&
		(len(cs.VerifiedChains) > 0 || cfg.VerifyPeerCertificate != nil)
	if log.Enabled(ctx, slog.LevelDebug) {
		// Asked first: the fingerprint is a SHA-256 and a hex string per handshake.
		log.Debug("TLS established", "version", tls.VersionName(cs.Version), "peer_cert_sha256", certFingerprint(cs))
	}
	return nil
}
