package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gopcp/gopcp/internal/rawconn"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/proxyd/upstream"
)

// conn is one pooled connection to a collector.
type conn struct {
	pc      *pmapi.Context
	raw     *boundConn // the TCP connection under pmapi, bounded by each request's deadline
	lastUse time.Time
}

// collector is one collector reached by host spec: a pool of idle connections
// and the metadata learnt from it.
type collector struct {
	api      *API
	key      string // the host spec as given
	cacheKey string // collectorKey: the spec and the client's standing
	spec     *pmapi.HostSpec
	host     string // the collector's host name or address, for messages
	opts     pmapi.Options
	// trusted is the standing of the HTTP clients this collector serves
	// (trustedClient); presents says whether proxyd's client certificate is
	// presented on their behalf; hasCert whether the identity has one at all.
	trusted, presents, hasCert bool

	mu      sync.Mutex
	idle    []*conn
	open    int // connections open, idle and borrowed
	lastUse time.Time
	closed  bool

	meta meta
}

var errLocalSpec = errors.New("unix socket and local: host specs are not served through proxyd; name the collector by host")

// dialState remembers what the dialler learnt: why the policy refused a
// connection, whether the peer failed to greet as a collector, and whether its
// greeting demanded client certificates.
type dialState struct {
	mu           sync.Mutex
	denied       error
	notCollector error
	certReqd     bool
	raw          *boundConn
}

// connect opens a new connection, through the policy.
func (c *collector) connect(ctx context.Context) (*conn, error) {
	st := &dialState{}
	opts := c.opts
	opts.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if network != "tcp" {
			return nil, errLocalSpec
		}
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.Atoi(p)
		if err != nil {
			return nil, err
		}
		// The greeting is read and checked here, before pmapi writes anything:
		// a service that is not a PCP collector never receives a byte.
		nc, greeting, err := c.api.conf().Policy.DialCollector(ctx, h, port, 0)
		st.mu.Lock()
		defer st.mu.Unlock()
		if err != nil {
			if upstream.IsDenied(err) {
				st.denied = err
				// Refusals are errors with their own code, so pmapi stops trying.
				return nil, &protocol.Error{Code: protocol.ErrPermission}
			}
			st.notCollector = err
			return nil, &protocol.Error{Code: protocol.ErrIPC}
		}
		if f, _, err := protocol.Decode(greeting); err == nil {
			if feat, err := protocol.ParseGreeting(f); err == nil && feat&protocol.FeatureCertReqd != 0 {
				st.certReqd = true
			}
		}
		// Raw system calls on the collector's socket: see rawconn.Wrap.
		st.raw = &boundConn{Conn: rawconn.Wrap(nc)}
		return upstream.NewGreetedConn(st.raw, greeting), nil
	}
	pc, err := pmapi.Connect(ctx, c.key, opts)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.denied != nil {
		if pc != nil {
			pc.Close()
		}
		return nil, &apiError{status: 403, msg: st.denied.Error()}
	}
	if st.notCollector != nil {
		if pc != nil {
			pc.Close()
		}
		// One answer for refused, closed, silent and garbage: proxyd must not tell
		// an open non-PCP port from a closed one. The log keeps the cause.
		c.api.log.Info("http: not a PCP collector", "hostspec", c.key, "err", st.notCollector)
		return nil, notCollectorError(c.key)
	}
	if err != nil {
		if e := c.certError(err, st.certReqd); e != nil {
			return nil, e
		}
		return nil, connectError(ctx, c.key, err)
	}
	c.mu.Lock()
	if c.open == 0 {
		// No connection was open: the collector may have restarted since the
		// metadata was cached, with another namespace. One with connections
		// open is watched through them (put).
		c.meta.invalidate()
	}
	c.open++
	c.mu.Unlock()
	return &conn{pc: pc, raw: st.raw, lastUse: time.Now()}, nil
}

// notCollectorError is the answer for anything that did not greet as a PCP
// collector.
func notCollectorError(spec string) *apiError {
	return &apiError{status: http.StatusBadGateway, msg: "cannot connect to PMCD on host " + strconv.Quote(spec) + ": not a PCP collector"}
}

// certError is the answer when the collector wants a client certificate that
// it was not given (PM_ERR_NEEDCLIENTCERT, or a failure after a greeting that
// asked for one while proxyd presented none), or nil for other failures. An
// untrusted HTTP client is told what would change it: authenticate to proxyd.
func (c *collector) certError(err error, certReqd bool) *apiError {
	need := protocol.CodeOf(err) == protocol.ErrNeedClientCert || (certReqd && !c.presents)
	if !need {
		return nil
	}
	msg := "PMCD on host " + strconv.Quote(c.key) + " requires a client certificate"
	if !c.presents && !c.trusted && c.hasCert {
		return &apiError{status: http.StatusForbidden, msg: msg + "; proxyd presents its own only for HTTP clients on loopback or " +
			"authenticated to proxyd: connect to proxyd with HTTPS and present a client certificate it trusts"}
	}
	if !c.presents {
		return &apiError{status: http.StatusBadGateway, msg: msg + "; proxyd presents none to it: its upstream identity has no certificate " +
			"(cert_db and nickname in [upstream.client] or its [[collector]] entry), or lend_identity = \"never\""}
	}
	return &apiError{status: http.StatusBadGateway, msg: msg + " and proxyd's upstream identity for it has none the collector accepts (" +
		pmapi.Message(err) + "); check its cert_db and nickname"}
}

// connectError turns a failed Connect into the client's answer: 504 for timeouts,
// 502 for a collector that refused or failed the handshake.
func connectError(ctx context.Context, spec string, err error) *apiError {
	var hse *pmapi.HostSpecError
	if errors.As(err, &hse) {
		return &apiError{status: 400, msg: "invalid host spec " + strconv.Quote(spec) + ": " + hse.Reason}
	}
	code := protocol.CodeOf(err)
	msg := "cannot connect to PMCD on host " + strconv.Quote(spec) + ": " + pmapi.Message(err)
	// pmapi keeps the cause of a TLS failure (an untrusted certificate, ...) after
	// the PCP message; it is what a person needs to fix it.
	if detail, ok := strings.CutPrefix(err.Error(), pmapi.Message(err)+": "); ok && detail != "" {
		msg += " (" + detail + ")"
	}
	if ctx.Err() != nil || code == protocol.ErrTimeout || code == -110 /* ETIMEDOUT */ {
		if ctx.Err() != nil {
			msg = "cannot connect to PMCD on host " + strconv.Quote(spec) + ": " + pmapi.ErrStr(protocol.ErrTimeout)
		}
		return &apiError{status: 504, msg: msg}
	}
	return &apiError{status: 502, msg: msg}
}

// get borrows a connection: an idle one (pooled true), or a new one. fresh skips
// the pool and empties it (its connections are suspect).
func (c *collector) get(ctx context.Context, fresh bool) (cn *conn, pooled bool, err error) {
	now := time.Now()
	c.mu.Lock()
	c.lastUse = now
	for len(c.idle) > 0 {
		cn := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if !fresh && now.Sub(cn.lastUse) < c.api.conf().PoolIdleTimeout {
			c.mu.Unlock()
			return cn, true, nil
		}
		c.open--
		cn.pc.Close()
	}
	c.mu.Unlock()
	cn, err = c.connect(ctx)
	return cn, false, err
}

// put returns a connection after use; broken ones are closed.
func (c *collector) put(cn *conn, broken bool) {
	if cn == nil {
		return
	}
	// A state change (a new namespace, an agent restarted) or a broken
	// connection (the collector restarted, perhaps with another namespace)
	// makes the cached metadata suspect: names may map to other PMIDs, PMIDs
	// to other types.
	if sc := cn.pc.StateChange(); sc != 0 || broken {
		c.meta.invalidate()
	}
	c.mu.Lock()
	if broken || c.closed || len(c.idle) >= c.api.conf().MaxIdlePerCollector {
		c.open--
		c.mu.Unlock()
		cn.pc.Close()
		return
	}
	cn.lastUse = time.Now()
	c.idle = append(c.idle, cn)
	c.mu.Unlock()
}

// close drops the idle connections; borrowed ones are closed when returned.
func (c *collector) close() {
	c.mu.Lock()
	c.closed = true
	idle := c.idle
	c.idle = nil
	c.open -= len(idle)
	c.mu.Unlock()
	for _, cn := range idle {
		cn.pc.Close()
	}
}

// transport reports whether err means the connection can no longer be trusted
// (as opposed to a PCP error about the request, after which it is fine).
func transport(err error) bool {
	if err == nil {
		return false
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return true
	}
	switch pe.Code {
	case protocol.ErrIPC, protocol.ErrTimeout, protocol.ErrEOF, protocol.ErrReset, protocol.ErrTLS,
		protocol.ErrNoContext, protocol.ErrNotConn, protocol.ErrNeedClientCert:
		return true
	}
	return pe.Code < 0 && pe.Code > -1000 // an errno from the socket
}

// session is one request's use of a collector: a borrowed connection whose
// reads and writes fail once the request's time is up (boundConn).
type session struct {
	col    *collector
	cn     *conn
	pooled bool // the connection came from the pool (it may have gone stale)
	ctx    context.Context
	err    error // the first transport failure
	dv     *ctxDerived
	// private: the context has derived metrics of its own, so derived names
	// and PMIDs mean something else in other contexts and bypass the
	// collector's metadata cache.
	private bool
}

// session borrows a connection for one request of the context whose derived
// metrics are dv, and lends dv to it; the session is written to mem (the
// request's, so that it costs no allocation of its own). Requests of one
// context take turns, as they do in pmproxy's single thread: its derived
// definitions may change.
func (c *collector) session(ctx context.Context, fresh bool, dv *ctxDerived, mem *session) (*session, error) {
	dv.mu.Lock()
	cn, pooled, err := c.get(ctx, fresh)
	if err != nil {
		dv.mu.Unlock()
		return nil, err
	}
	cn.pc.UseDerivedState(dv.st)
	s := mem
	*s = session{col: c, cn: cn, pooled: pooled, ctx: ctx, dv: dv, private: dv.st.HasLocal()}
	if dl, ok := ctx.Deadline(); ok && cn.raw != nil {
		cn.raw.bound(dl, c.opts.RequestTimeout)
	}
	return s, nil
}

// check records a transport failure of err and turns it into the client's answer
// when the request cannot go on; PCP errors about the request come back as nil.
func (s *session) check(err error) *apiError {
	if err == nil || !transport(err) {
		return nil
	}
	if s.err == nil {
		s.err = err
	}
	return s.failure()
}

// failure is the answer for a session whose connection failed.
func (s *session) failure() *apiError {
	if e := s.col.certError(s.err, false); e != nil {
		return e
	}
	if s.ctx.Err() != nil || protocol.CodeOf(s.err) == protocol.ErrTimeout {
		return &apiError{status: 504, msg: "timeout waiting for PMCD on host " + strconv.Quote(s.col.key)}
	}
	return &apiError{status: 502, msg: "lost connection to PMCD on host " + strconv.Quote(s.col.key) + ": " + pmapi.Message(s.err)}
}

// stale reports whether the session failed on a pooled connection before the
// request's time was up: the collector may have restarted, and a new connection
// may well succeed.
func (s *session) stale() bool {
	return s.pooled && s.err != nil && s.ctx.Err() == nil && protocol.CodeOf(s.err) != protocol.ErrTimeout
}

// done returns the connection to the pool (or closes it).
func (s *session) done() {
	// A request whose time ran out may have left its exchange half done.
	fired := s.ctx.Err() != nil
	// A pooled connection keeps no context's derived metrics.
	s.cn.pc.UseDerivedState(nil)
	s.col.put(s.cn, fired || s.err != nil)
	s.dv.mu.Unlock()
}

// collectors keeps one collector per host spec, the least recently used dropped
// beyond the limit.
type collectors struct {
	mu  sync.Mutex
	m   map[string]*collector
	max int
}

func (cs *collectors) get(key string, mk func() (*collector, error)) (*collector, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.m[key]; ok {
		return c, nil
	}
	c, err := mk()
	if err != nil {
		return nil, err
	}
	if cs.m == nil {
		cs.m = map[string]*collector{}
	}
	if len(cs.m) >= cs.max {
		var oldest *collector
		for _, o := range cs.m {
			o.mu.Lock()
			if oldest == nil || o.lastUse.Before(oldest.lastUse) {
				oldest = o
			}
			o.mu.Unlock()
		}
		if oldest != nil {
			delete(cs.m, oldest.cacheKey)
			oldest.close()
		}
	}
	cs.m[key] = c
	return c, nil
}

func (cs *collectors) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for k, c := range cs.m {
		c.close()
		delete(cs.m, k)
	}
}

// boundConn is a collector connection whose reads and writes are bounded by
// the deadline of the request using it, rather than by pmapi's deadline per
// reply: pmapi sets the read and write deadlines around every exchange, and
// each set re-arms a runtime timer, which cost more than the rest of a small
// fetch's exchange. Once bound, pmapi's own settings are ignored (the
// request's deadline is the stricter bound); the bound is re-armed only when
// the one in force would end the request early, or more than a little late
// (deadlineSlack), so a connection polled many times a second arms it about
// once a second. Before the first bound (pmapi's handshake) pmapi's deadlines
// apply. Only the goroutine of the session holding the connection uses it.
type boundConn struct {
	net.Conn
	bounded bool
	limit   time.Time // the deadline in force while bounded
}

// deadlineSlack is how late a request's deadline may cut its collector
// connection: a quarter of the request timeout, at most a second.
func deadlineSlack(d time.Duration) time.Duration { return min(time.Second, d/4) }

// bound makes reads and writes fail from about dl on (up to the slack of
// timeout later), replacing pmapi's deadlines.
func (c *boundConn) bound(dl time.Time, timeout time.Duration) {
	slack := deadlineSlack(timeout)
	if c.bounded && !c.limit.Before(dl) && c.limit.Sub(dl) <= slack {
		return
	}
	c.bounded, c.limit = true, dl.Add(slack)
	c.Conn.SetDeadline(c.limit)
}

func (c *boundConn) SetDeadline(t time.Time) error {
	if c.bounded {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

func (c *boundConn) SetReadDeadline(t time.Time) error {
	if c.bounded {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *boundConn) SetWriteDeadline(t time.Time) error {
	if c.bounded {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}
