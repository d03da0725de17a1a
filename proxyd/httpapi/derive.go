package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gopcp/gopcp/pmapi"
)

// Derived metrics, as pmproxy 6.0.3 offers them: every context starts with the
// global set libpcp loads (PCP_DERIVED_CONFIG, else the default configuration
// directory, so kernel.cpu.util.user and friends exist as they do in pmproxy),
// and /pmapi/derive adds definitions to one context (pmAddDerivedMetric). The
// definitions, their bindings and the previous values rate() needs belong to
// the context, not to the pooled connection that happens to serve a request.

// ctxDerived is one context's derived metrics. mu makes the context's requests
// take turns (pmproxy serves them from one thread): a definition added by one
// request changes what the others resolve.
type ctxDerived struct {
	mu sync.Mutex
	st *pmapi.DerivedState
	// defs and bytes are the definitions this context holds and their size,
	// counted in budget (the API's derivedBytes) until release.
	defs     atomic.Int64
	bytes    atomic.Int64
	budget   *atomic.Int64
	limit    int64 // of budget
	released atomic.Bool
}

// newCtxDerived starts a context's derived metrics from the global set.
func (a *API) newCtxDerived() *ctxDerived {
	return &ctxDerived{budget: &a.derivedBytes, limit: a.conf().MaxDerivedBytes, st: pmapi.NewDerivedState(a.conf().Derived,
		&logWriter{log: a.log, level: slog.LevelDebug, msg: "derived metric unavailable"})}
}

// reserve counts n bytes of a new definition against the limits, or says
// why not.
func (dv *ctxDerived) reserve(n int64) *apiError {
	if dv.defs.Load() >= MaxDerivedPerContext {
		return &apiError{status: http.StatusBadRequest, msg: "this context already holds " + strconv.Itoa(MaxDerivedPerContext) +
			" derived metrics, proxyd's limit: use a new context"}
	}
	if dv.budget.Add(n) > dv.limit {
		dv.budget.Add(-n)
		return &apiError{status: http.StatusServiceUnavailable, msg: "proxyd holds as many derived metric definitions as it allows (" +
			strconv.FormatInt(dv.limit, 10) + " bytes across contexts); try again when contexts expire"}
	}
	dv.defs.Add(1)
	dv.bytes.Add(n)
	if dv.released.Load() {
		dv.release() // the context expired meanwhile
	}
	return nil
}

// unreserve gives back a reservation for a definition that was not kept.
func (dv *ctxDerived) unreserve(n int64) {
	dv.defs.Add(-1)
	for {
		cur := dv.bytes.Load()
		if cur < n {
			return // released with the context, budget included
		}
		if dv.bytes.CompareAndSwap(cur, cur-n) {
			dv.budget.Add(-n)
			return
		}
	}
}

// release gives back what an expired context held.
func (dv *ctxDerived) release() {
	dv.released.Store(true)
	dv.budget.Add(-dv.bytes.Swap(0))
}

// loadDerived fills in cfg.Derived from the environment, as libpcp does for
// pmproxy; problems in the configuration files are logged.
func (a *API) loadDerived(cfg *Config) {
	if cfg.Derived != nil {
		return
	}
	// libpcp writes one diagnostic in several pieces: they are gathered into
	// one record.
	var diag bytes.Buffer
	cfg.Derived = pmapi.LoadDerivedFromEnv(os.Getenv, os.LookupEnv, &diag)
	if diag.Len() > 0 {
		a.log.Warn("derived metric configuration has errors; those definitions are left out",
			"detail", string(bytes.TrimRight(diag.Bytes(), "\n")))
	}
}

// logWriter turns libpcp-style diagnostics into log records, one per write.
type logWriter struct {
	log   *slog.Logger
	level slog.Level
	msg   string
}

func (w *logWriter) Write(p []byte) (int, error) {
	if w.log != nil {
		w.log.Log(context.Background(), w.level, w.msg, "detail", string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

// derive: /pmapi/derive?name=N&expr=E defines one metric in the context;
// expr alone (or a POST body) is a list of "name = expression" definitions,
// each ended by a newline, '&' or ';', read as pmproxy reads them.
// Answers {"context":N,"success":true}, or 400 with libpcp's message.
func (q *request) derive() *apiError {
	hasName, hasExpr := q.params.Has("name"), q.params.Has("expr")
	name, expr := q.params.Get("name"), q.params.Get("expr")
	if q.r.Method == http.MethodPost {
		body, err := io.ReadAll(q.r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return &apiError{status: http.StatusRequestEntityTooLarge, msg: "request body exceeds the limit of " + strconv.FormatInt(mbe.Limit, 10) + " bytes"}
			}
			return &apiError{status: http.StatusBadRequest, msg: "cannot read the request body: " + err.Error()}
		}
		if len(body) > 0 {
			// pmproxy takes a POST body as the expression.
			expr, hasExpr = string(body), true
		}
	}
	if e := q.openContext(); e != nil {
		return e
	}
	var e *apiError
	switch {
	case hasExpr && hasName:
		e = q.addDerived(name, expr, func(err error) string { return err.Error() })
	case hasExpr:
		e = q.deriveConfig(expr)
	default:
		e = &apiError{status: http.StatusBadRequest, msg: "invalid derive parameters"}
	}
	if e != nil {
		return e
	}
	b := q.appendHead(make([]byte, 0, 64))
	b = append(b, `,"success":true}`+"\r\n"...)
	q.writeJSON(b)
	return nil
}

// addDerived defines one metric; msg words a refusal.
func (q *request) addDerived(name, expr string, msg func(error) string) *apiError {
	if len(expr) > MaxDeriveExpr {
		return &apiError{status: http.StatusBadRequest, msg: "derived metric " + cQuote(name) + ": expression of " + strconv.Itoa(len(expr)) +
			" bytes exceeds proxyd's limit of " + strconv.Itoa(MaxDeriveExpr)}
	}
	dv := q.sess.dv
	size := int64(len(name) + len(expr))
	if e := dv.reserve(size); e != nil {
		return e
	}
	err := dv.st.AddDerived(q.sess.cn.pc, name, expr)
	var ae *pmapi.AddError
	if errors.As(err, &ae) && (ae.Kind == "Syntax Error" || ae.Kind == "Error") {
		dv.unreserve(size) // refused before anything was kept
	}
	if err == nil {
		// From now on this context's derived names are its own.
		q.sess.private = true
		return nil
	}
	if ae == nil {
		if e := q.sess.check(err); e != nil {
			return e
		}
		return &apiError{status: http.StatusBadRequest, msg: pmapi.Message(err)}
	}
	return &apiError{status: http.StatusBadRequest, msg: msg(err)}
}

// isCSpace is C's isspace in the C locale.
func isCSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }

// isMarker ends an expression in pmproxy's configuration mode.
func isMarker(c byte) bool { return c == '\r' || c == '\n' || c == '&' || c == ';' }

// deriveConfig reads definitions as pmproxy's configuration mode does: blank
// lines and # comments skipped; a name, then spaces and '=' signs, then the
// expression up to a marker. A definition not ended by a marker is
// incomplete. The first failure stops the list (earlier ones stay defined).
func (q *request) deriveConfig(cfg string) *apiError {
	line := 0
	end := len(cfg)
	for p := 0; p < end; p++ {
		c := cfg[p]
		if isCSpace(c) {
			if c == '\n' {
				line++
			}
			continue
		}
		if c == '#' {
			for p < end && !isMarker(cfg[p]) {
				p++
			}
			if p == end {
				break
			}
			line++
			continue
		}
		start := p
		for p < end && !isCSpace(cfg[p]) && cfg[p] != '=' {
			p++
		}
		name := cfg[start:p]
		if p == end {
			return incompleteDerived(name, line)
		}
		p++ // the space or '=' after the name
		for p < end && (isCSpace(cfg[p]) && !isMarker(cfg[p]) || cfg[p] == '=') {
			p++
		}
		es := p
		for p < end && !isMarker(cfg[p]) {
			p++
		}
		if p == end {
			return incompleteDerived(name, line)
		}
		if q.ctx.Err() != nil {
			// A long list is cut at the request's deadline, as any request is.
			return &apiError{status: http.StatusGatewayTimeout, msg: "timeout defining derived metrics: stopped before " + cQuote(name) +
				" on line " + strconv.Itoa(line) + "; the ones before it are defined"}
		}
		expr := cfg[es:p]
		n := line
		if e := q.addDerived(name, expr, func(err error) string {
			return "failed to create derived metric " + cQuote(name) + " on line " + strconv.Itoa(n) + " from: " + expr + "\n" + err.Error()
		}); e != nil {
			return e
		}
		line++
	}
	return nil
}

func incompleteDerived(name string, line int) *apiError {
	return &apiError{status: http.StatusBadRequest,
		msg: "failed to parse derived metric " + cQuote(name) + " on line " + strconv.Itoa(line) + " - incomplete expression\n"}
}

// cQuote is "%s" in double quotes, as libpcp's messages put a name (the JSON
// encoding of the message escapes what needs escaping).
func cQuote(s string) string { return `"` + s + `"` }
