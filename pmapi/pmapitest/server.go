package pmapitest

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// Server is a PCP server on 127.0.0.1 for tests. Close it (or let the test's
// cleanup do so) to stop it; Errors lists what went wrong on its connections.
type Server struct {
	Addr string // 127.0.0.1:port
	Port int

	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []string
	conns  []net.Conn
	closed bool
}

func newServer(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{ln: ln, Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port}
	t.Cleanup(s.Close)
	return s
}

func (s *Server) errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

// Errors returns the problems seen so far (requests that did not match the trace,
// extra requests, ...).
func (s *Server) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

// Close stops the listener and waits for the handlers to see their clients go away;
// connections still open after a few seconds are closed.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(5 * time.Second):
	}
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
}

// gone reports whether err means the client went away (libpcp closes with a reset).
func gone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// serve accepts connections and runs handle(n, conn) for the n-th one.
func (s *Server) serve(handle func(n int, c net.Conn)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for n := 0; ; n++ {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func(n int) {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				handle(n, c)
			}(n)
		}
	}()
}

// Serve starts a scripted server: handle runs for every accepted connection with
// the connection wrapped for PDU framing.
func Serve(t testing.TB, handle func(c *protocol.Conn)) *Server {
	s := newServer(t)
	s.serve(func(_ int, c net.Conn) { handle(protocol.NewConn(c)) })
	return s
}

// Mode selects how a replay server matches the client's requests to the trace.
type Mode int

const (
	// Strict requires the client to send exactly the recorded requests, in order
	// and byte for byte (the pid in CREDS excepted), and nothing more.
	Strict Mode = iota
	// Lookup answers each request with the replies recorded after the first unused
	// identical request, so a client may skip recorded requests (e.g. the derived
	// metric checks libpcp makes) but not invent new ones.
	Lookup
)

// sameRequest compares two client PDUs, ignoring the originator field of CREDS.
func sameRequest(a, b []byte) bool {
	if len(a) != len(b) || len(a) < protocol.HeaderSize {
		return false
	}
	if binary.BigEndian.Uint32(a[4:]) == uint32(protocol.TypeCreds) {
		return bytes.Equal(a[:8], b[:8]) && bytes.Equal(a[12:], b[12:])
	}
	return bytes.Equal(a, b)
}

func describe(b []byte) string {
	if len(b) < protocol.HeaderSize {
		return hex.EncodeToString(b)
	}
	return protocol.TypeName(int32(binary.BigEndian.Uint32(b[4:]))) + " " + hex.EncodeToString(b)
}

// Replay starts a server that replays tr: the n-th connection gets the trace's n-th
// TCP connection. Records that are not PDUs (TLS) end the replay of a connection.
// In Strict mode the test fails at cleanup if the requests differed from the trace.
func Replay(t testing.TB, tr *Trace, mode Mode) *Server {
	t.Helper()
	s := newServer(t)
	s.serve(func(n int, c net.Conn) {
		var recs []Record
		for _, r := range tr.Records {
			if r.Conn == n {
				recs = append(recs, r)
			}
		}
		if len(recs) == 0 {
			s.errorf("%s: connection %d was not recorded", tr.Name, n)
			return
		}
		s.replay(tr.Name+" conn "+strconv.Itoa(n), protocol.NewConn(c), recs, mode)
	})
	t.Cleanup(func() {
		s.Close()
		for _, e := range s.Errors() {
			t.Errorf("replay server: %s", e)
		}
	})
	return s
}

func (s *Server) replay(name string, c *protocol.Conn, recs []Record, mode Mode) {
	// replies sends the server records that follow index i; it returns false at a
	// record that is not a PDU.
	replies := func(i int) (int, bool) {
		for ; i < len(recs) && !recs[i].ToServer; i++ {
			if recs[i].Bytes == nil {
				return i, false
			}
			if err := c.WriteRaw(recs[i].Bytes); err != nil {
				return i, false
			}
		}
		return i, true
	}
	i, ok := replies(0)
	if !ok {
		return
	}
	used := make([]bool, len(recs))
	for {
		b, err := c.ReadRaw()
		if gone(err) {
			if mode == Strict && i < len(recs) {
				s.errorf("%s: client closed before sending %s", name, recs[i].Label)
			}
			return
		}
		if err != nil {
			s.errorf("%s: read: %v", name, err)
			return
		}
		req := append([]byte(nil), b...)
		switch mode {
		case Strict:
			if i >= len(recs) {
				s.errorf("%s: unexpected extra request %s", name, describe(req))
				return
			}
			if recs[i].Bytes == nil || !sameRequest(req, recs[i].Bytes) {
				s.errorf("%s: request differs from %s\n got  %s\n want %s", name, recs[i].Label,
					describe(req), describe(recs[i].Bytes))
				return
			}
			if i, ok = replies(i + 1); !ok {
				return
			}
		case Lookup:
			j := 0
			for ; j < len(recs); j++ {
				if recs[j].ToServer && !used[j] && recs[j].Bytes != nil && sameRequest(req, recs[j].Bytes) {
					break
				}
			}
			if j == len(recs) {
				s.errorf("%s: request not in the trace: %s", name, describe(req))
				return
			}
			used[j] = true
			if _, ok = replies(j + 1); !ok {
				return
			}
		}
	}
}
