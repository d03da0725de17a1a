// Package server is collectord's PCP protocol server: the accept loop, one goroutine
// per client, the greeting/CREDS handshake with the same-socket TLS upgrade, request
// dispatch, limits and the client-certificate policy. Metric data comes from a
// metrics.Registry; the server knows nothing of /proc.
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
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/protocol"
)

// Limits and their defaults. Every one is a field of Server; zero means the default.
const (
	// DefaultMaxClients is the most clients served at once; the next one gets
	// PM_ERR_CONNLIMIT in its greeting and is closed.
	DefaultMaxClients = 4096
	// MaxProfiles bounds the contexts (profiles) one connection may keep.
	MaxProfiles = 64
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
	// RequireClientCert is pmcd -Q: remote clients must upgrade to TLS with a
	// verified client certificate; TLS clients must present one, loopback included.
	RequireClientCert bool
	// MaxPDUSize is the largest PDU accepted from a client (default 64 KiB).
	MaxPDUSize int
	// MaxClients is the most clients served at once (default DefaultMaxClients).
	MaxClients int
	// RequestTimeout bounds the rest of a PDU once it has started (default 5 s).
	RequestTimeout time.Duration
	// IdleTimeout closes a client that sends nothing for this long (default 1 h).
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the CREDS exchange and the TLS handshake (default 10 s).
	HandshakeTimeout time.Duration
	// Logger receives one line per refused client or protocol failure.
	Logger *slog.Logger
	// PDUTrace, when set, sees every PDU of every client, in and out, inside TLS
	// too (collectord -D pdu). It must not keep the slice.
	PDUTrace func(peer net.Addr, out bool, pdu []byte)
	// ReloadStats, when set, reports configuration reloads (successful, failed)
	// for the pmcd.gopcp.reload.* metrics.
	ReloadStats func() (ok, failed uint64)

	mu       sync.Mutex
	clients  map[*client]struct{}
	nextSlot uint32
	ln       []net.Listener
	wg       sync.WaitGroup
	closing  atomic.Bool
	nclients atomic.Int32
	live     atomic.Pointer[Settings] // nil: the fields
}

// Update replaces the settings for clients that connect from now on (a reload).
func (s *Server) Update(st Settings) { s.live.Store(&st) }

// Settings are the settings in force, defaults filled in.
func (s *Server) Settings() Settings {
	var st Settings
	if p := s.live.Load(); p != nil {
		st = *p
	} else {
		st = Settings{RequireClientCert: s.RequireClientCert, MaxPDUSize: s.MaxPDUSize, MaxClients: s.MaxClients,
			RequestTimeout: s.RequestTimeout, IdleTimeout: s.IdleTimeout, HandshakeTimeout: s.HandshakeTimeout}
	}
	if st.MaxPDUSize <= 0 {
		st.MaxPDUSize = protocol.DefaultMaxPDUSize
	}
	if st.MaxClients <= 0 {
		st.MaxClients = DefaultMaxClients
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
func (s *Server) register(c *client) (ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients == nil {
		s.clients = map[*client]struct{}{}
	}
	if len(s.clients) >= c.set.MaxClients || s.closing.Load() {
		return false
	}
	c.slot = s.nextSlot
	s.nextSlot++
	s.clients[c] = struct{}{}
	s.nclients.Add(1)
	return true
}

func (s *Server) unregister(c *client) {
	s.mu.Lock()
	if _, ok := s.clients[c]; ok {
		delete(s.clients, c)
		s.nclients.Add(-1)
	}
	s.mu.Unlock()
}

// isLocal reports a loopback or unix-socket peer, which -Q exempts from the
// plaintext refusal as pmcd does.
func isLocal(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// certFingerprint is the SHA-256 of a peer certificate for log lines.
func certFingerprint(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return "none"
	}
	sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
	return hex.EncodeToString(sum[:])
}

// handle runs one client from greeting to close.
func (s *Server) handle(ctx context.Context, nc net.Conn) {
	c := &client{srv: s, set: s.Settings(), raw: nc, conn: protocol.NewConn(nc), start: time.Now(), peer: nc.RemoteAddr()}
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
	log := s.log().With("peer", c.peer.String())
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if !s.register(c) {
		c.conn.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		c.conn.Write(protocol.Greeting(protocol.ErrConnLimit, 0))
		log.Warn("client refused: connection limit reached", "max_clients", c.set.MaxClients)
		return
	}
	defer s.unregister(c)
	if err := c.handshake(ctx, log); err != nil {
		if !errors.Is(err, errRefused) { // refusals were logged with their reason
			log.Info("client handshake failed", "err", err)
		}
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
		if err := c.dispatch(raw); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Info("client dropped", "err", err)
			}
			return
		}
		if s.closing.Load() {
			return
		}
	}
}

// readFailed logs why a client's stream ended and tells it when the PDU itself was
// the reason (too big, bad header).
func (c *client) readFailed(err error, log *slog.Logger) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return
	case errors.Is(err, protocol.ErrTooLarge):
		c.sendError(protocol.ErrTooBig)
		log.Warn("client dropped: PDU too large", "err", err)
	case errors.Is(err, protocol.ErrLength), errors.Is(err, protocol.ErrNegativeType):
		c.sendError(protocol.ErrIPC)
		log.Warn("client dropped: bad PDU header", "err", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if !c.srv.closing.Load() {
			log.Info("client dropped: timed out", "err", err)
		}
	default:
		log.Info("client dropped", "err", err)
	}
}

func (c *client) sendError(code int32) error {
	c.conn.Conn.SetWriteDeadline(time.Now().Add(c.set.RequestTimeout))
	return c.conn.Write(&protocol.ErrorPDU{Code: code})
}

var errRefused = errors.New("refused")

// handshake sends the greeting, reads CREDS and performs the TLS upgrade when asked.
func (c *client) handshake(ctx context.Context, log *slog.Logger) error {
	s := c.srv
	deadline := time.Now().Add(c.set.HandshakeTimeout)
	c.conn.Conn.SetDeadline(deadline)
	defer c.conn.Conn.SetDeadline(time.Time{})
	features := s.features(c.set)
	if err := c.conn.Write(protocol.Greeting(0, features)); err != nil {
		return err
	}
	c.conn.MaxSize = c.set.MaxPDUSize
	raw, err := c.conn.ReadRaw()
	if err != nil {
		return fmt.Errorf("reading CREDS: %w", err)
	}
	p, _, err := protocol.Decode(raw)
	if err != nil {
		c.sendError(protocol.ErrIPC)
		return fmt.Errorf("bad first PDU: %w", err)
	}
	creds, ok := p.(*protocol.Creds)
	if !ok {
		return fmt.Errorf("first PDU is %s, not CREDS", protocol.TypeName(p.Type()))
	}
	_, flags, ok := creds.Flags()
	if !ok || flags&^protocol.CredsAllowed != 0 {
		c.sendError(protocol.ErrIPC)
		return fmt.Errorf("CREDS without a version or with unknown flags %#x", flags)
	}
	if flags&(protocol.FeatureCompress|protocol.FeatureAuth|protocol.FeatureContainer|protocol.FeatureCredsReqd) != 0 {
		c.sendError(-int32(95)) // EOPNOTSUPP: features we did not advertise
		return fmt.Errorf("client asked for unsupported features %#x", flags)
	}
	if flags&protocol.FeatureSecure == 0 {
		if c.set.RequireClientCert && !isLocal(c.peer) {
			// pmcd would answer and carry on; we fail closed: no metric data at all.
			c.sendError(protocol.ErrNeedClientCert)
			log.Warn("client refused: client certificate required (-Q) but the client did not ask for TLS")
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
	if flags&protocol.FeatureSecureAck != 0 {
		if err := c.conn.Write(&protocol.ErrorPDU{Code: 0}); err != nil {
			return err
		}
	}
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	tc, err := c.conn.UpgradeServer(hctx, cfg)
	if err != nil {
		cs := tc.ConnectionState()
		log.Warn("client refused: TLS handshake failed", "err", err, "peer_cert_sha256", certFingerprint(cs))
		return errRefused
	}
	cs := tc.ConnectionState()
	// The TLS configuration verified any certificate offered (tlsconfig.Server); this
	// is the belt to its braces for -Q.
	if c.set.RequireClientCert && len(cs.PeerCertificates) == 0 {
		log.Warn("client refused: no client certificate")
		return errRefused
	}
	c.tls = true
	log.Debug("TLS established", "version", tls.VersionName(cs.Version), "peer_cert_sha256", certFingerprint(cs))
	return nil
}
