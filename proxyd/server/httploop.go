package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// proxyd's own keep-alive loop for HTTP/1.1 connections. A dashboard polls
// the REST API with plain GETs on one connection, and on that path net/http's
// connection loop cost more than the handler: per request it sets the read
// deadline five times and the write deadline twice (each arms a runtime
// timer), starts a goroutine to watch the connection while the handler runs
// and wakes it through a past deadline afterwards. This loop answers the
// plain GETs itself (parseHead's subset) with deadlines re-armed at most once
// a second, no goroutine per request and the response written with one
// system call. The first request outside the subset hands the connection,
// bytes still unread, to net/http, which serves it from then on with every
// limit of its own.
//
// The limits net/http enforces hold here too: MaxHeaderBytes (a head longer
// than it, or than the loop's buffer, goes to net/http, which answers 431),
// ReadHeaderTimeout from a head's first byte, IdleTimeout between requests,
// WriteTimeout from a request read to its response written (up to a second
// late, deadlineSlack), no request body at all (bodies go to net/http).

// httpBufSize is the loop's read buffer, and so the longest head it parses.
const httpBufSize = 4096

// maxKeptBody is the largest response buffer a connection keeps between
// requests; a larger one (a /metrics scrape) is dropped after use.
const maxKeptBody = 64 << 10

// httpConn is one HTTP connection served by the loop.
type httpConn struct {
	s       *Server
	c       net.Conn // the connection, or its TLS session
	br      *bufio.Reader
	tls     *tls.Conn
	ctx     context.Context // the base of every request's context
	remote  string
	release func()

	readHeaderTimeout, idleTimeout, writeTimeout time.Duration
	maxHead                                      int

	// The deadlines last set (zero: none), so that they are re-armed only
	// when needed (extendDeadline).
	rdl, wdl time.Time

	idle   bool // waiting for a request (Shutdown may close it)
	fields []field
	w      response

	// Reused for every request (a handler keeps nothing after it returns):
	// the request (tmpl carries the connection's context, which only
	// WithContext can set), the header map and the values' backing store.
	req, tmpl *http.Request
	hdr       http.Header
	vals      []string
	// The URL handed to the handler, and the last target parsed with what
	// it parsed to: a client polling one URL has it parsed once (each
	// request gets its own copy in url, so a handler that changes it
	// changes nothing kept).
	url        url.URL
	lastTarget string
	lastURL    url.URL
}

// deadlineSlack is how late an idle or write deadline may fire: it is armed
// this much beyond what is needed and re-armed only once less than the
// timeout is left, so at most once per slack.
func deadlineSlack(d time.Duration) time.Duration { return min(time.Second, d/4) }

// extendDeadline returns a deadline at least d after now: dl itself when it
// is (ok false: nothing to set), else d plus slack after now.
func extendDeadline(dl, now time.Time, d time.Duration) (time.Time, bool) {
	if !dl.IsZero() && !dl.Before(now.Add(d)) {
		return dl, false
	}
	return now.Add(d + deadlineSlack(d)), true
}

func (h *httpConn) setReadDeadline(t time.Time) error {
	h.rdl = t
	return h.c.SetReadDeadline(t)
}

// serveHTTP runs the loop on a demultiplexed HTTP connection whose first
// bytes are in br.
func (s *Server) serveHTTP(h *httpConn) {
	defer s.httpWG.Done()
	handOff := false
	defer func() {
		if p := recover(); p != nil {
			// As net/http does: a handler's panic costs its connection, not
			// the process.
			s.log().Error("http: panic serving request; connection closed", "peer", h.remote, "panic", p)
			handOff = false
		}
		s.untrackHTTP(h)
		if handOff {
			h.c.SetDeadline(time.Time{})
			pc := &peekConn{Conn: h.c, r: h.br, tls: h.tls, release: h.release}
			pc.verified, _ = h.ctx.Value(verifiedKey{}).(bool)
			if s.httpLn.push(pc) {
				return
			}
		}
		h.c.Close()
		h.release()
	}()
	for {
		st, keep := h.serveOne()
		switch {
		case st == headOther:
			handOff = true
			return
		case !keep:
			return
		}
	}
}

// serveOne waits for a request and answers it when it is in the subset.
// keep says whether the connection stays open.
func (h *httpConn) serveOne() (headStatus, bool) {
	if !h.s.setHTTPIdle(h, true) {
		return headMore, false
	}
	if dl, ok := extendDeadline(h.rdl, time.Now(), h.idleTimeout); ok {
		h.setReadDeadline(dl)
	}
	_, err := h.br.Peek(1)
	if !h.s.setHTTPIdle(h, false) || err != nil {
		return headMore, false
	}
	var head reqHead
	headDeadline := false
	for {
		buf, _ := h.br.Peek(h.br.Buffered())
		var st headStatus
		head, st = parseHead(buf, h.maxHead, h.fields)
		if st == headOther {
			return headOther, false
		}
		if st == headDone {
			break
		}
		// A head arriving in pieces has ReadHeaderTimeout from now (its first
		// byte came at most a moment ago), exactly, as in net/http.
		if !headDeadline {
			headDeadline = true
			h.setReadDeadline(time.Now().Add(h.readHeaderTimeout))
		}
		if _, err := h.br.Peek(len(buf) + 1); err != nil {
			if len(buf)+1 > h.br.Size() {
				return headOther, false // cannot happen: parseHead's limit is below the buffer
			}
			return headMore, false
		}
	}
	h.fields = head.fields
	req, ok := h.request(&head)
	if !ok {
		return headOther, false
	}
	h.br.Discard(head.n)
	if dl, ok := extendDeadline(h.wdl, time.Now(), h.writeTimeout); ok {
		h.wdl = dl
		h.c.SetWriteDeadline(dl)
	}
	w := &h.w
	w.reset(h)
	h.s.handler().ServeHTTP(w, req)
	keep := !head.close && !w.closeAfter()
	if err := w.finish(!keep); err != nil {
		h.s.log().Debug("http: writing a response failed", "peer", h.remote, "err", err)
		return headDone, false
	}
	if !keep {
		if cw, ok := h.c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	return headDone, keep
}

// request builds the *http.Request net/http would have made of head, or
// reports false for a target url.ParseRequestURI refuses (net/http answers
// it).
func (h *httpConn) request(head *reqHead) (*http.Request, bool) {
	if head.target != h.lastTarget || h.lastTarget == "" {
		u, err := url.ParseRequestURI(head.target)
		if err != nil {
			return nil, false
		}
		h.lastTarget, h.lastURL = head.target, *u
	}
	h.url = h.lastURL
	if h.tmpl == nil {
		h.tmpl = (&http.Request{}).WithContext(h.ctx)
		h.req = new(http.Request)
		h.hdr = make(http.Header, len(head.fields))
	}
	clear(h.hdr)
	vals := h.vals[:0]
	for _, f := range head.fields {
		k := textproto.CanonicalMIMEHeaderKey(f.name)
		if old, ok := h.hdr[k]; ok {
			h.hdr[k] = append(old[:len(old):len(old)], f.value) // a repeated field: a slice of its own
			continue
		}
		vals = append(vals, f.value)
		// Capacity = length: a handler's append copies instead of writing
		// into the next field's value.
		h.hdr[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	h.vals = vals
	r := h.req
	*r = *h.tmpl
	r.Method = http.MethodGet
	r.URL = &h.url
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.Header = h.hdr
	r.Body = http.NoBody
	r.Host = head.host
	r.RemoteAddr = h.remote
	r.RequestURI = head.target
	r.Close = head.close
	return r, true
}

func (s *Server) handler() http.Handler {
	if s.HTTP == nil {
		return http.NotFoundHandler()
	}
	return s.HTTP
}

// response is the loop's http.ResponseWriter: the body is buffered and
// written with the head in one system call once the handler returns (the
// handlers answer with whole bodies; a large one is written after the head).
type response struct {
	h      *httpConn
	hdr    http.Header
	status int
	body   []byte
	out    []byte
	keys   []string
	date   []byte
	dateAt int64
}

func (w *response) reset(h *httpConn) {
	w.h = h
	if w.hdr == nil {
		w.hdr = http.Header{}
	} else {
		clear(w.hdr)
	}
	w.status = 0
	w.body = w.body[:0]
}

func (w *response) Header() http.Header { return w.hdr }

func (w *response) WriteHeader(code int) {
	if w.status != 0 || code < 200 {
		return // a second status, or an informational one: not sent, as net/http drops a second
	}
	if code > 999 {
		panic("proxyd: invalid WriteHeader code " + strconv.Itoa(code)) // as net/http's checkWriteHeaderCode
	}
	w.status = code
}

func (w *response) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// closeAfter reports whether the handler asked to close the connection.
func (w *response) closeAfter() bool {
	return hasToken(strings.Join(w.hdr["Connection"], ","), "close")
}

// finish writes the response: status line, the handler's headers (sorted,
// CR and LF in values made spaces, invalid names dropped, as net/http writes
// them), Date, Content-Length from the body, and the body.
func (w *response) finish(closing bool) error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if _, ok := w.hdr["Content-Type"]; !ok && len(w.body) > 0 {
		w.hdr["Content-Type"] = []string{http.DetectContentType(w.body)}
	}
	b := w.out[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	if t := http.StatusText(w.status); t != "" {
		b = append(b, t...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(w.status), 10)
	}
	b = append(b, "\r\n"...)
	w.keys = w.keys[:0]
	for k := range w.hdr {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection", "Trailer":
			continue // ours to say
		}
		if !validFieldName(k) {
			continue
		}
		w.keys = append(w.keys, k)
	}
	slices.Sort(w.keys)
	for _, k := range w.keys {
		for _, v := range w.hdr[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			for i := 0; i < len(v); i++ {
				c := v[i]
				if c == '\r' || c == '\n' {
					c = ' '
				}
				b = append(b, c)
			}
			b = append(b, "\r\n"...)
		}
	}
	if _, ok := w.hdr["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, w.httpDate()...)
		b = append(b, "\r\n"...)
	}
	if closing {
		b = append(b, "Connection: close\r\n"...)
	}
	if bodyAllowed(w.status) {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(w.body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	var err error
	if len(b)+len(w.body) <= maxKeptBody {
		b = append(b, w.body...)
		_, err = w.h.c.Write(b)
	} else if _, err = w.h.c.Write(b); err == nil {
		_, err = w.h.c.Write(w.body)
	}
	w.out = b[:0]
	if cap(w.out) > maxKeptBody {
		w.out = nil
	}
	if cap(w.body) > maxKeptBody {
		w.body = nil
	}
	return err
}

// httpDate is the Date header's value, formatted once a second.
func (w *response) httpDate() []byte {
	now := time.Now()
	if s := now.Unix(); s != w.dateAt || w.date == nil {
		w.dateAt = s
		w.date = now.UTC().AppendFormat(w.date[:0], http.TimeFormat)
	}
	return w.date
}

func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isTokenByte(k[i]) {
			return false
		}
	}
	return true
}
