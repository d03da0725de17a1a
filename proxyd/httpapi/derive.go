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
}

// newCtxDerived starts a context's derived metrics from the global set.
func (a *API) newCtxDerived() *ctxDerived {
	return &ctxDerived{st: pmapi.NewDerivedState(a.conf().Derived, &logWriter{log: a.log, level: slog.LevelDebug,
		msg: "derived metric unavailable"})}
}

// loadDerived fills in cfg.Derived from the environment, as libpcp does for
// pmproxy; problems in the configuration files are logged.
func (a *API) loadDerived(cfg *Config) {
	if cfg.Derived != nil {
		return
	}
	cfg.Derived = pmapi.LoadDerivedFromEnv(os.Getenv, os.LookupEnv, &logWriter{log: a.log, level: slog.LevelWarn,
		msg: "derived metric configuration"})
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
	_, hasName := q.params["name"]
	_, hasExpr := q.params["expr"]
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
	err := q.sess.dv.st.AddDerived(q.sess.cn.pc, name, expr)
	if err == nil {
		// From now on this context's derived names are its own.
		q.sess.private = true
		return nil
	}
	var ae *pmapi.AddError
	if !errors.As(err, &ae) {
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
