// Package relay is proxyd's PCP protocol relay, as pmproxy 6 runs it (PROTOCOL.md
// 7.1): a text prelude names the collector, then bytes flow both ways untouched,
// so the client's TLS upgrade (CREDS, then the handshake) runs end to end with the
// collector, which sees the client's own certificate.
//
//	C->S  "pmproxy-client 1\n"
//	S->C  "pmproxy-server 1\n"
//	C->S  "<collector-host> <port>\n"
//	S->C  <the collector's greeting> ... a transparent byte relay from here on
//
// The relay is not a tunnel. Which collectors may be reached is the
// upstream.Policy's decision, and even an allowed address must prove that it is
// a PCP collector before the client may talk to it: proxyd reads the collector's
// greeting itself and checks it (upstream.ReadGreeting) before a single client
// byte is sent upstream. Bytes the client sent early stay unread (in the prelude
// reader, at most its size, and in the socket) until then, and are dropped with
// the session otherwise. So a web service or database bound to loopback, which
// waits for its client to speak first or greets in its own protocol, never sees
// a relayed client's request and the client never sees its reply. Any failure (a
// bad prelude, a refused collector, something that is not a collector, a
// timeout) closes both connections, which libpcp reports as a failed connection.
package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcp/gopcp/proxyd/upstream"
)

// Limits and their defaults; zero fields of Relay take these.
const (
	// DefaultPreludeTimeout bounds the whole prelude exchange.
	DefaultPreludeTimeout = 10 * time.Second
	// DefaultConnectTimeout bounds the connection to the collector and the wait
	// for its greeting (libpcp's PMCD_CONNECT_TIMEOUT default).
	DefaultConnectTimeout = 5 * time.Second
	// DefaultIdleTimeout closes a session that moved no byte either way for this
	// long (collectord's idle limit; monitoring tools poll far more often).
	DefaultIdleTimeout = time.Hour
	// MaxPreludeLine is the longest prelude line accepted: a 255-byte host name,
	// a space, a port and the newline fit with room to spare.
	MaxPreludeLine = 512
	// BufferSize is the copy buffer per direction.
	BufferSize = 32 * 1024
)

// The prelude lines.
const (
	ClientHello = "pmproxy-client 1"
	ServerHello = "pmproxy-server 1\n"
)

// Settings are what a reload may change while the relay runs (Update). A session
// keeps the settings in force when it started.
type Settings struct {
	Policy         *upstream.Policy
	PreludeTimeout time.Duration
	ConnectTimeout time.Duration
	IdleTimeout    time.Duration
}

// Relay serves PCP relay clients. Set the fields before the first Serve and do
// not change them after; Update changes them safely.
type Relay struct {
	Policy         *upstream.Policy
	PreludeTimeout time.Duration
	ConnectTimeout time.Duration
	IdleTimeout    time.Duration
	Logger         *slog.Logger

	mu       sync.Mutex
	sessions map[*session]struct{}
	closing  bool
	wg       sync.WaitGroup
	live     atomic.Pointer[Settings] // nil: the fields
}

// Update replaces the settings for sessions that start from now on (a reload).
func (r *Relay) Update(st Settings) { r.live.Store(&st) }

// settings are the settings in force, defaults filled in.
func (r *Relay) settings() Settings {
	st := Settings{Policy: r.Policy, PreludeTimeout: r.PreludeTimeout, ConnectTimeout: r.ConnectTimeout, IdleTimeout: r.IdleTimeout}
	if p := r.live.Load(); p != nil {
		st = *p
	}
	st.PreludeTimeout = orDefault(st.PreludeTimeout, DefaultPreludeTimeout)
	st.ConnectTimeout = orDefault(st.ConnectTimeout, DefaultConnectTimeout)
	st.IdleTimeout = orDefault(st.IdleTimeout, DefaultIdleTimeout)
	return st
}

// session is one relayed client.
type session struct {
	client net.Conn
	moved  atomic.Uint64 // bytes moved either way

	mu       sync.Mutex
	upstream net.Conn // nil until the collector is connected
	closed   bool
}

// connected records the collector's connection; false if the session was closed
// meanwhile (the caller then closes up).
func (s *session) connected(up net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.upstream = up
	return true
}

func (s *session) inPrelude() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.upstream == nil
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.client.Close()
	if s.upstream != nil {
		s.upstream.Close()
	}
}

func (r *Relay) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// ErrPrelude is a malformed prelude.
var ErrPrelude = errors.New("bad pmproxy prelude")

// readLine reads one prelude line (without its newline) of at most MaxPreludeLine
// bytes.
func readLine(br *bufio.Reader) (string, error) {
	var line []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if b == '\n' {
			return string(bytes.TrimSuffix(line, []byte{'\r'})), nil
		}
		if len(line) >= MaxPreludeLine {
			return "", ErrPrelude
		}
		line = append(line, b)
	}
}

// ParseTarget parses the second prelude line, "<host> <port>".
func ParseTarget(line string) (host string, port int, err error) {
	sp := bytes.IndexByte([]byte(line), ' ')
	if sp <= 0 || sp > upstream.MaxHostLen {
		return "", 0, ErrPrelude
	}
	host = line[:sp]
	port, err = strconv.Atoi(line[sp+1:])
	if err != nil || port < 1 || port > 65535 {
		return "", 0, ErrPrelude
	}
	return host, port, nil
}

// Serve runs one client: c is the client's connection and br reads from it (the
// demultiplexer has already peeked at the first byte). It returns when the
// session is over; c is closed by then.
func (r *Relay) Serve(ctx context.Context, c net.Conn, br *bufio.Reader) {
	s := &session{client: c}
	if !r.track(s, true) {
		c.Close()
		return
	}
	defer r.track(s, false)
	defer s.close()
	peer := c.RemoteAddr().String()
	st := r.settings()

	c.SetDeadline(time.Now().Add(st.PreludeTimeout))
	hello, err := readLine(br)
	if err != nil || hello != ClientHello {
		r.log().Info("relay: bad prelude", "peer", peer, "got", truncate(hello), "err", err)
		return
	}
	if _, err := io.WriteString(c, ServerHello); err != nil {
		return
	}
	line, err := readLine(br)
	if err != nil {
		r.log().Info("relay: no collector named", "peer", peer, "err", err)
		return
	}
	host, port, err := ParseTarget(line)
	if err != nil {
		r.log().Info("relay: bad collector line", "peer", peer, "line", truncate(line))
		return
	}
	// Nothing of the client's is read or forwarded until the collector has
	// greeted: the client's early bytes wait in br and in its socket.
	up, greeting, err := st.Policy.DialCollector(ctx, host, port, st.ConnectTimeout)
	if err != nil {
		target := net.JoinHostPort(host, strconv.Itoa(port))
		switch {
		case upstream.IsDenied(err):
			r.log().Warn("relay: collector refused by policy", "peer", peer, "err", err)
		case errors.Is(err, upstream.ErrNotCollector):
			r.log().Warn("relay: not a PCP collector; closed", "peer", peer, "collector", target, "err", err)
		default:
			r.log().Info("relay: cannot reach collector", "peer", peer, "collector", target, "err", err)
		}
		return
	}
	if !s.connected(up) {
		up.Close()
		return
	}
	c.SetDeadline(time.Time{})
	r.log().Debug("relay: session", "peer", peer, "collector", up.RemoteAddr().String())
	if _, err := c.Write(greeting); err != nil {
		return
	}

	// Bytes the client sent after the prelude are already in br.
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if _, err := up.Write(b); err != nil {
			return
		}
		br.Discard(n)
	}
	r.pump(s, st.IdleTimeout)
}

// pump copies both ways until either side closes or the session idles out.
func (r *Relay) pump(s *session, idle time.Duration) {
	var last uint64
	var timer *time.Timer
	var tmu sync.Mutex
	ended := false
	check := func() {
		tmu.Lock()
		defer tmu.Unlock()
		if ended {
			return
		}
		now := s.moved.Load()
		if now == last {
			r.log().Info("relay: idle session closed", "peer", s.client.RemoteAddr().String(), "idle", idle.String())
			s.close()
			return
		}
		last = now
		timer.Reset(idle)
	}
	tmu.Lock()
	timer = time.AfterFunc(idle, check)
	tmu.Unlock()
	defer func() {
		tmu.Lock()
		ended = true
		timer.Stop()
		tmu.Unlock()
	}()

	done := make(chan struct{})
	go func() {
		defer close(done)
		copyCounting(s.client, s.upstream, &s.moved)
		// The collector is gone (or the session closed): finish the client too.
		s.close()
	}()
	copyCounting(s.upstream, s.client, &s.moved)
	// The client is done sending; let the collector see EOF and finish.
	if cw, ok := s.upstream.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		s.close()
	}
	<-done
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// copyCounting copies src to dst until EOF or an error, adding to moved.
func copyCounting(dst, src net.Conn, moved *atomic.Uint64) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			moved.Add(uint64(n))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// track adds or removes a session; adding fails once Shutdown has begun.
func (r *Relay) track(s *session, add bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if add {
		if r.closing {
			return false
		}
		if r.sessions == nil {
			r.sessions = map[*session]struct{}{}
		}
		r.sessions[s] = struct{}{}
		r.wg.Add(1)
		return true
	}
	delete(r.sessions, s)
	r.wg.Done()
	return true
}

// Sessions reports the sessions open now.
func (r *Relay) Sessions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// Shutdown refuses new sessions and closes the open ones as they go quiet: a
// session that moved no byte during one poll interval has no request in flight
// (PCP clients wait for each reply). At ctx's end the rest are closed.
func (r *Relay) Shutdown(ctx context.Context) error {
	const poll = 50 * time.Millisecond
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	last := map[*session]uint64{}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		r.mu.Lock()
		for s := range r.sessions {
			n := s.moved.Load()
			if prev, ok := last[s]; ok && prev == n || s.inPrelude() {
				s.close()
			}
			last[s] = n
		}
		r.mu.Unlock()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			r.mu.Lock()
			for s := range r.sessions {
				s.close()
			}
			r.mu.Unlock()
			<-done
			return ctx.Err()
		case <-t.C:
		}
	}
}
