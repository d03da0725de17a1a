// Package httpapi is proxyd's HTTP face: the PCP web API endpoints that pmproxy
// clients use most (/pmapi/context, metric, fetch, indom, children, derive) with
// pmproxy 6's JSON shapes (PROTOCOL.md 7.2), and /metrics (also /pmapi/metrics)
// in the Prometheus text format with pmproxy's "# PCP5" metadata lines (7.3), for
// any collector the upstream policy allows (hostspec parameter).
//
// Each request borrows a connection to its collector from a small pool and gives
// it back; metadata (names, descriptors, help, labels, instance names) is cached
// per collector as pmproxy caches it per context, values never are. Contexts
// (/pmapi/context, /pmapi/N/..., context=N) are numbers that live for their poll
// timeout, as in pmproxy. Each context has its derived metrics (derive.go): the
// global set libpcp would load and those /pmapi/derive added to it.
//
// Failures are JSON {"context":N,"message":"...","success":false}: 400 for a bad
// request or a PCP error about it, 403 for a collector the policy refuses, 502
// for a collector that is down or broke the connection, 504 for one that did not
// answer in time.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/proxyd/server"
	"github.com/gopcp/gopcp/proxyd/upstream"
)

// Limits and defaults; zero fields of Config take these.
const (
	// DefaultRequestTimeout bounds all the collector work of one HTTP request.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultConnectTimeout bounds each connection to a collector.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultPollTimeout is how long a context lives unused (pmproxy's polltimeout).
	DefaultPollTimeout = 5 * time.Second
	// MaxPollTimeout caps the polltimeout a client may ask for.
	MaxPollTimeout = time.Hour
	// DefaultMaxContexts bounds the live contexts; the least recently used go first.
	DefaultMaxContexts = 16384
	// DefaultMaxCollectors bounds the collectors with pooled connections and cached
	// metadata.
	DefaultMaxCollectors = 256
	// DefaultMaxIdlePerCollector is how many idle connections are kept per collector.
	DefaultMaxIdlePerCollector = 4
	// DefaultPoolIdleTimeout closes pooled connections unused for this long.
	DefaultPoolIdleTimeout = time.Minute
	// DefaultMetadataTTL is how long cached metadata is trusted.
	DefaultMetadataTTL = time.Minute
	// DefaultMaxBodyBytes bounds a request body (the API takes its parameters from
	// the URL).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultHostspec is the collector when a request names none, as in pmproxy.
	DefaultHostspec = "localhost"
	// FetchBatch is how many metrics one fetch asks for, as pmproxy batches.
	FetchBatch = 256
	// MaxDeriveExpr bounds one derived metric's expression (bytes): parsing
	// and evaluating nest as deep as the expression does. Dashboards' are
	// far shorter.
	MaxDeriveExpr = 4096
	// MaxDerivedPerContext bounds the definitions /pmapi/derive adds to one
	// context.
	MaxDerivedPerContext = 1024
	// DefaultMaxDerivedBytes bounds the names and expressions of the
	// definitions held by all live contexts together; they are released when
	// contexts expire.
	DefaultMaxDerivedBytes = 4 << 20
)

// Config configures the API.
type Config struct {
	Policy              *upstream.Policy
	Clients             *upstream.Clients
	DefaultHostspec     string
	RequestTimeout      time.Duration
	ConnectTimeout      time.Duration
	MaxContexts         int
	MaxCollectors       int
	MaxIdlePerCollector int
	PoolIdleTimeout     time.Duration
	MetadataTTL         time.Duration
	MaxBodyBytes        int64
	Logger              *slog.Logger
	// Derived is the global derived-metric set every context starts with; nil
	// loads it as libpcp (and so pmproxy) does: PCP_DERIVED_CONFIG, or the
	// default configuration directory when that is unset.
	Derived *pmapi.DerivedSet
	// MaxDerivedBytes: DefaultMaxDerivedBytes when zero.
	MaxDerivedBytes int64
}

// API serves the HTTP endpoints.
type API struct {
	cfg atomic.Pointer[Config]
	// derivedBytes is what the contexts' own derived definitions hold
	// (Config.MaxDerivedBytes).
	derivedBytes atomic.Int64
	log          *slog.Logger
	contexts     contexts
	collectors   collectors
}

// New builds the API; Close releases its pooled connections.
func New(cfg Config) *API {
	cfg = withDefaults(cfg)
	a := &API{log: cfg.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.loadDerived(&cfg)
	a.cfg.Store(&cfg)
	a.contexts.max = cfg.MaxContexts
	a.collectors.max = cfg.MaxCollectors
	return a
}

// conf is the configuration in force.
func (a *API) conf() *Config { return a.cfg.Load() }

// Reconfigure puts cfg in force (a reload): requests from now on see the new
// policy, identities and limits. The pooled connections and cached metadata are
// dropped, so new requests connect under the new policy and identities; a
// context created before keeps its collector connection settings until it
// expires (its polltimeout), but every connection it opens is checked against
// the new policy. MaxContexts, MaxCollectors and Logger keep their first values.
func (a *API) Reconfigure(cfg Config) {
	cfg = withDefaults(cfg)
	old := a.conf()
	cfg.MaxContexts, cfg.MaxCollectors, cfg.Logger = old.MaxContexts, old.MaxCollectors, old.Logger
	a.loadDerived(&cfg)
	a.cfg.Store(&cfg)
	a.collectors.closeAll()
}

// withDefaults fills in the zero fields.
func withDefaults(cfg Config) Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.RequestTimeout, DefaultRequestTimeout)
	def(&cfg.ConnectTimeout, DefaultConnectTimeout)
	def(&cfg.PoolIdleTimeout, DefaultPoolIdleTimeout)
	def(&cfg.MetadataTTL, DefaultMetadataTTL)
	if cfg.MaxContexts <= 0 {
		cfg.MaxContexts = DefaultMaxContexts
	}
	if cfg.MaxCollectors <= 0 {
		cfg.MaxCollectors = DefaultMaxCollectors
	}
	if cfg.MaxIdlePerCollector <= 0 {
		cfg.MaxIdlePerCollector = DefaultMaxIdlePerCollector
	}
	if cfg.MaxDerivedBytes <= 0 {
		cfg.MaxDerivedBytes = DefaultMaxDerivedBytes
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.DefaultHostspec == "" {
		cfg.DefaultHostspec = DefaultHostspec
	}
	if cfg.Policy == nil {
		cfg.Policy, _ = upstream.NewPolicy(nil, true)
	}
	return cfg
}

// Close closes the pooled connections.
func (a *API) Close() { a.collectors.closeAll() }

// apiError is a failure answered with JSON.
type apiError struct {
	status int
	msg    string
	ctx    uint32 // 0: no context
}

func (e *apiError) Error() string { return e.msg }

// request is one API call being served.
type request struct {
	a      *API
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	params params
	ctxid  string // from the path
	client string // the "client" parameter, echoed
	wc     *webContext
	sess   *session
	// The request's context and session, allocated with it.
	rctx    reqContext
	sessMem session
	fresh   bool // connect anew rather than use the pool
	// trusted: the HTTP client is on loopback or authenticated to proxyd with a
	// verified certificate, so proxyd may present its own client certificate to
	// collectors on its behalf (upstream.Identity.Presents).
	trusted bool
}

// ServeHTTP routes a request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Canonical keys and shared values: Header.Set would canonicalise the key
	// and allocate a one-element slice for each of these on every request.
	// net/http only reads them; a slice of length = capacity is copied by any
	// append, so no request can change another's.
	h["Access-Control-Allow-Origin"] = corsOrigin
	h["Access-Control-Allow-Headers"] = corsHeaders
	h["Access-Control-Max-Age"] = corsMaxAge
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
		w.WriteHeader(http.StatusOK)
		return
	default:
		h.Set("Allow", "GET, HEAD, POST, OPTIONS")
		writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, msg: r.Method + " is not supported"})
		return
	}
	if r.ContentLength > a.conf().MaxBodyBytes {
		writeError(w, r, &apiError{status: http.StatusRequestEntityTooLarge,
			msg: "request body of " + strconv.FormatInt(r.ContentLength, 10) + " bytes exceeds the limit of " + strconv.FormatInt(a.conf().MaxBodyBytes, 10)})
		return
	}
	if r.Body != http.NoBody { // both servers give a request without a body NoBody: nothing to bound
		r.Body = http.MaxBytesReader(w, r.Body, a.conf().MaxBodyBytes)
	}

	cmd, ctxid, err := route(r.URL.Path)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := &request{a: a, w: w, r: r, ctxid: ctxid, trusted: trustedClient(r)}
	q.rctx.init(r.Context(), a.conf().RequestTimeout)
	q.ctx = &q.rctx
	defer q.rctx.release()
	q.params.parse(r.URL.RawQuery)
	q.client = q.params.Get("client")
	if v := q.params.Get("context"); v != "" && q.ctxid == "" {
		q.ctxid = v
	}
	defer func() {
		if q.sess != nil {
			q.sess.done()
		}
	}()
	var e *apiError
	for attempt := 0; ; attempt++ {
		switch cmd {
		case "context":
			e = q.context()
		case "metric":
			e = q.metric()
		case "fetch":
			e = q.fetch()
		case "indom":
			e = q.indom()
		case "children":
			e = q.children()
		case "derive":
			e = q.derive()
		case "metrics":
			e = q.scrape()
		}
		// Nothing is written before a handler succeeds, so a request that failed on
		// a stale pooled connection is tried once more on a new one.
		if e == nil || attempt > 0 || q.sess == nil || !q.sess.stale() {
			break
		}
		a.log.Debug("http: pooled connection failed; retrying on a new one", "collector", q.sess.col.key, "err", q.sess.err)
		q.sess.done()
		q.sess = nil
		q.fresh = true
	}
	if e != nil {
		if e.ctx == 0 && q.wc != nil {
			e.ctx = q.wc.id
		}
		if e.status >= 500 {
			a.log.Info("http: collector failure", "path", r.URL.Path, "status", e.status, "err", e.msg)
		}
		writeError(w, r, e)
	}
}

// route splits /pmapi/[N/]command and /metrics.
func route(path string) (cmd, ctxid string, e *apiError) {
	if path == "/metrics" {
		return "metrics", "", nil
	}
	rest, ok := strings.CutPrefix(path, "/pmapi/")
	if !ok {
		return "", "", &apiError{status: http.StatusNotFound, msg: "no handler for URL " + strconv.Quote(path)}
	}
	if i := strings.IndexByte(rest, '/'); i > 0 {
		if _, err := strconv.ParseUint(rest[:i], 10, 32); err != nil {
			return "", "", &apiError{status: http.StatusNotFound, msg: "no handler for URL " + strconv.Quote(path)}
		}
		ctxid, rest = rest[:i], rest[i+1:]
	}
	if strings.HasPrefix(rest, "_") {
		return "", "", &apiError{status: http.StatusNotImplemented, msg: "the pmwebd-compatible API (/pmapi/_" + rest[1:] + ") is not supported by proxyd"}
	}
	switch rest {
	case "context", "metric", "fetch", "indom", "children", "metrics", "derive":
		return rest, ctxid, nil
	case "profile", "store":
		return "", "", &apiError{status: http.StatusNotImplemented, msg: "/pmapi/" + rest + " is not supported by proxyd"}
	}
	return "", "", &apiError{status: http.StatusNotFound, msg: "no handler for URL " + strconv.Quote(path)}
}

// writeError answers {"context":N,"message":"...","success":false}.
func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	b := make([]byte, 0, 64+len(e.msg))
	b = append(b, '{')
	if e.ctx != 0 {
		b = append(b, `"context":`...)
		b = appendUint(b, uint64(e.ctx))
		b = append(b, ',')
	}
	b = append(b, `"message":`...)
	b = appendJSONString(b, e.msg)
	b = append(b, `,"success":false}`...)
	b = append(b, '\r', '\n')
	writeBody(w, r, e.status, "application/json", b)
}

// Header values every answer carries (ServeHTTP, writeBody): shared, never
// appended to in place (length = capacity).
var (
	corsOrigin  = []string{"*"}
	corsHeaders = []string{"Accept, Accept-Language, Content-Language, Content-Type"}
	corsMaxAge  = []string{"86400"}
	ctypeJSON   = []string{"application/json"}
)

func writeBody(w http.ResponseWriter, r *http.Request, status int, ctype string, b []byte) {
	h := w.Header()
	if ctype == "application/json" {
		h["Content-Type"] = ctypeJSON
	} else {
		h.Set("Content-Type", ctype)
	}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

func (q *request) writeJSON(b []byte) {
	writeBody(q.w, q.r, http.StatusOK, "application/json", b)
}

// openContext resolves the request's context: the one it names, or a new one for
// its hostspec; and borrows a connection to the collector.
func (q *request) openContext() *apiError {
	a := q.a
	if q.wc != nil { // a retry: the context is known
		s, err := q.wc.col.session(q.ctx, q.fresh, q.wc.dv, &q.sessMem)
		if err != nil {
			return asAPIError(err)
		}
		q.sess = s
		return nil
	}
	if q.ctxid != "" {
		n, err := strconv.ParseUint(q.ctxid, 10, 32)
		if err != nil {
			return &apiError{status: http.StatusBadRequest, msg: "invalid context identifier: " + q.ctxid}
		}
		// A context made for a trusted client is not found by an untrusted one
		// (nor the other way round): the number alone must not lend the identity.
		wc, ok := a.contexts.use(uint32(n), q.trusted)
		if !ok {
			return &apiError{status: http.StatusBadRequest, ctx: uint32(n), msg: "unknown context identifier: " + strconv.FormatUint(n, 10)}
		}
		q.wc = wc
		s, err := wc.col.session(q.ctx, q.fresh, wc.dv, &q.sessMem)
		if err != nil {
			return asAPIError(err)
		}
		q.sess = s
		return nil
	}
	spec := q.params.Get("hostspec")
	if spec == "" {
		spec = q.params.Get("hostname")
	}
	if spec == "" {
		spec = a.conf().DefaultHostspec
	}
	timeout := DefaultPollTimeout
	if v := q.params.Get("polltimeout"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return &apiError{status: http.StatusBadRequest, msg: "invalid timeout requested in polltime"}
		}
		timeout = min(time.Duration(f*float64(time.Second)), MaxPollTimeout)
	}
	col, err := a.collector(spec, q.trusted)
	if err != nil {
		return asAPIError(err)
	}
	dv := a.newCtxDerived()
	s, err := col.session(q.ctx, q.fresh, dv, &q.sessMem)
	if err != nil {
		return asAPIError(err)
	}
	q.sess = s
	q.wc = a.contexts.add(col, timeout, q.trusted, dv)
	return nil
}

func asAPIError(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	return &apiError{status: http.StatusBadGateway, msg: err.Error()}
}

// trustedClient reports whether proxyd may present its own client certificate
// on r's behalf: the client is on loopback, or it authenticated to proxyd with a
// certificate that the TLS handshake verified.
func trustedClient(r *http.Request) bool {
	if server.ClientAuthenticated(r) {
		return true
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 { // net/http serving TLS itself
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// collectorKey keys the collector cache: pooled connections and cached metadata
// are made with or without proxyd's client certificate, and must not be shared
// between clients that may use it and clients that may not.
func collectorKey(spec string, trusted bool) string {
	if trusted {
		return "trusted\x00" + spec
	}
	return "untrusted\x00" + spec
}

// weakens explains how a host spec asks for less security than the identity's
// Secure mode, or returns "". Stronger is fine. pmapi lets a pcps: spec's
// secure= attribute replace the configured mode, and the local and unixsock
// attributes make it skip the certificate request: none of that may be chosen
// by an HTTP client against the configuration.
func weakens(hs *pmapi.HostSpec, mode pmapi.SecureMode) string {
	if mode == pmapi.SecureNone {
		return ""
	}
	asked := mode
	if hs.Scheme == "pcps" {
		asked = pmapi.SecureEnforce
	}
	if v, ok := hs.Attr("secure"); ok {
		m, err := pmapi.ParseSecure(v)
		if err != nil {
			return "secure=" + strconv.Quote(v) + " is not a security level"
		}
		asked = m
	}
	if asked < mode {
		return "it asks for secure=" + asked.String() + " but proxyd is configured for secure=" + mode.String() + " with this collector"
	}
	for name := range hs.Attrs {
		if name == "secure" || name == "protocol" && hs.Attrs[name] == hs.Scheme {
			continue // the scheme, weighed above
		}
		if mode == pmapi.SecureEnforce || name == "local" || name == "unixsock" {
			return "attribute " + strconv.Quote(name) + " is not accepted while proxyd is configured for secure=" + mode.String() + " with this collector"
		}
	}
	return ""
}

// collector returns the collector for a host spec, checking the spec first.
// trusted is the HTTP client's standing (trustedClient): it decides whether
// proxyd's client certificate is presented, and keys the cache.
func (a *API) collector(spec string, trusted bool) (*collector, error) {
	return a.collectors.get(collectorKey(spec, trusted), func() (*collector, error) {
		hs, err := pmapi.ParseHostSpec(spec)
		if err != nil {
			var hse *pmapi.HostSpecError
			if errors.As(err, &hse) {
				return nil, &apiError{status: http.StatusBadRequest, msg: "invalid host spec " + strconv.Quote(spec) + ": " + hse.Reason}
			}
			return nil, &apiError{status: http.StatusBadRequest, msg: "invalid host spec " + strconv.Quote(spec)}
		}
		if len(hs.Hosts) == 0 || hs.Hosts[0].Name == "" {
			return nil, &apiError{status: http.StatusBadRequest, msg: "invalid host spec " + strconv.Quote(spec) + ": no host"}
		}
		if hs.Local() {
			return nil, &apiError{status: http.StatusBadRequest, msg: errLocalSpec.Error()}
		}
		if len(hs.Hosts) > 1 {
			return nil, &apiError{status: http.StatusBadRequest, msg: "host spec " + strconv.Quote(spec) + " names a proxy (@); proxyd connects to collectors itself"}
		}
		host := hs.Hosts[0].Name
		port := protocol.DefaultPort
		if len(hs.Hosts[0].Ports) > 0 {
			port = hs.Hosts[0].Ports[0]
		} else if ps := pmapi.PortsFromEnv(); len(ps) > 0 {
			port = ps[0]
		}
		id := a.conf().Clients.For(host, port)
		if why := weakens(hs, id.Secure); why != "" {
			return nil, &apiError{status: http.StatusForbidden, msg: "host spec " + strconv.Quote(spec) +
				" may not weaken the configured upstream security: " + why + "; drop the attribute or ask for more security"}
		}
		c := &collector{api: a, key: spec, cacheKey: collectorKey(spec, trusted), spec: hs, host: host,
			trusted: trusted, hasCert: id.TLSConfig() != nil} // a store, tls.conf or keystore
		c.presents = c.hasCert && id.Presents(trusted)
		c.opts = pmapi.Options{
			Secure:         id.Secure,
			TLSConfig:      id.TLSConfigFor(id.Presents(trusted)),
			RequestTimeout: a.conf().RequestTimeout,
			ConnectTimeout: a.conf().ConnectTimeout,
		}
		c.meta.ttl = a.conf().MetadataTTL
		return c, nil
	})
}

// Contexts reports the live contexts (for tests and metrics).
func (a *API) Contexts() int { return a.contexts.len() }

// appendHead starts a JSON reply: {"context":N[,"client":"..."].
func (q *request) appendHead(b []byte) []byte {
	b = append(b, `{"context":`...)
	b = appendUint(b, uint64(q.wc.id))
	if q.client != "" {
		b = append(b, `,"client":`...)
		b = appendJSONString(b, q.client)
	}
	return b
}

// list splits a comma-separated parameter (the first of keys given), dropping
// empty elements: "names=a," must not add the whole namespace ("").
func (q *request) list(keys ...string) []string {
	for _, k := range keys {
		if v := q.params.Get(k); v != "" {
			return splitList(v)
		}
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty elements.
func splitList(v string) []string {
	var out []string
	for v != "" {
		var e string
		e, v, _ = strings.Cut(v, ",")
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
