package server

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Connection slots. A connection holds, from its greeting to its close, one of its
// address's slots (MaxClientsPerAddr; unix-socket clients are exempt); until its
// handshake (CREDS, and TLS when asked) is done it also holds one of the
// MaxHandshakes slots, and only once the handshake is done does it take one of the
// MaxClients slots. So connections that never finish their handshake, however
// many, cannot lock verified clients out of MaxClients, and one address cannot use
// up the handshake slots. Over any limit the greeting carries PM_ERR_CONNLIMIT and
// the connection is closed (a full MaxClients found at the end of a handshake is
// answered with an ERROR PDU PM_ERR_CONNLIMIT instead, the greeting being sent).
const (
	// DefaultMaxClientsPerAddr is the most connections one IP address may hold,
	// in the handshake or served. Loopback is one address like any other: a proxyd
	// on this host relaying to the collector shares this many.
	DefaultMaxClientsPerAddr = 64
	// DefaultMaxHandshakes is the most connections still in the handshake
	// (greeting sent, CREDS or TLS not finished) at once.
	DefaultMaxHandshakes = 256
)

// admit takes an address slot and a handshake slot for a new connection and
// registers it for Close and Shutdown. It returns why the connection is refused,
// or "" when it is admitted.
func (s *Server) admit(c *client) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients == nil {
		s.clients = map[*client]struct{}{}
	}
	switch {
	case s.closing.Load():
		return "shutting down"
	case s.served >= c.set.MaxClients:
		return "connection limit reached"
	case s.handshakes >= c.set.MaxHandshakes:
		return "too many connections in the handshake"
	case !c.unix && s.perAddr[c.addr] >= c.set.MaxClientsPerAddr:
		return "per-address connection limit reached"
	}
	if !c.unix {
		if s.perAddr == nil {
			s.perAddr = map[netip.Addr]int{}
		}
		s.perAddr[c.addr]++
	}
	s.handshakes++
	c.handshaking = true
	s.clients[c] = struct{}{}
	return ""
}

// promote moves a connection whose handshake is done from its handshake slot to
// a client slot; false means MaxClients is full.
func (s *Server) promote(c *client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.handshaking {
		c.handshaking = false
		s.handshakes--
	}
	if s.served >= c.set.MaxClients || s.closing.Load() {
		return false
	}
	c.slot = s.nextSlot
	s.nextSlot++
	c.served = true
	s.served++
	s.nclients.Add(1)
	return true
}

// release gives back every slot the connection holds.
func (s *Server) release(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c]; !ok {
		return
	}
	delete(s.clients, c)
	if c.handshaking {
		c.handshaking = false
		s.handshakes--
	}
	if c.served {
		c.served = false
		s.served--
		s.nclients.Add(-1)
	}
	if !c.unix {
		if s.perAddr[c.addr] <= 1 {
			delete(s.perAddr, c.addr)
		} else {
			s.perAddr[c.addr]--
		}
	}
}

// addrKey is the address a TCP peer is counted under: its IP, an IPv4-mapped IPv6
// address as the IPv4 address it is. Other peers share the zero key.
func addrKey(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap().WithZone("")
	}
	return netip.Addr{}
}

// logLimiter is a token bucket for the log lines a client can cause at will (bad
// PDUs, refusals): a client that reconnects and misbehaves in a loop costs at most
// `rate` lines a second after a burst, and the next line written says how many
// were left out. Each Server has its own; there is no package state.
type logLimiter struct {
	mu         sync.Mutex
	burst      float64
	rate       float64 // tokens per second
	tokens     float64
	last       time.Time
	started    bool
	suppressed int
}

func newLogLimiter(burst int, perSecond float64) *logLimiter {
	return &logLimiter{burst: float64(burst), rate: perSecond, tokens: float64(burst)}
}

// allow takes a token at now. When it returns true the caller writes its line
// and reports suppressed, the lines left out since the last one written.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		if d := now.Sub(l.last).Seconds(); d > 0 {
			l.tokens = min(l.burst, l.tokens+d*l.rate)
		}
	}
	l.started = true
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// Log rate limits. Bad PDUs are pure noise once one is logged: one line a second.
// Refusals (limits, -Q, TLS failures, handshake timeouts) carry a reason and a
// certificate fingerprint an operator may need, so a few may come together.
const (
	badPDULogBurst = 1
	refusalBurst   = 10
	logLinesPerSec = 1
)

// limiters returns the server's log limiters, made on first use.
func (s *Server) limiters() (badPDU, refusal *logLimiter) {
	s.limitOnce.Do(func() {
		s.badPDULog = newLogLimiter(badPDULogBurst, logLinesPerSec)
		s.refusalLog = newLogLimiter(refusalBurst, logLinesPerSec)
	})
	return s.badPDULog, s.refusalLog
}

func (s *Server) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

// limitedLog writes one line through l, or counts it as suppressed.
func (s *Server) limitedLog(l *logLimiter, log *slog.Logger, level slog.Level, msg string, args ...any) {
	ok, n := l.allow(s.now())
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	log.Log(context.Background(), level, msg, args...)
}

// logBadPDU logs a client's malformed or unexpected PDU, rate-limited.
func (s *Server) logBadPDU(log *slog.Logger, msg string, args ...any) {
	bad, _ := s.limiters()
	s.limitedLog(bad, log, slog.LevelWarn, msg, args...)
}

// logRefusal logs a refused or failed connection, rate-limited.
func (s *Server) logRefusal(log *slog.Logger, level slog.Level, msg string, args ...any) {
	_, ref := s.limiters()
	s.limitedLog(ref, log, level, msg, args...)
}
