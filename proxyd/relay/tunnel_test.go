package relay

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/proxyd/upstream"
)

// recorder is a service on 127.0.0.1 that is not a PCP collector: it sends
// banner on accept (or nothing), answers reply to the first byte it receives (as
// a web service answers a request), and records every byte it was sent.
type recorder struct {
	port     int
	mu       sync.Mutex
	got      []byte
	accepted atomic.Int32
}

func startRecorder(t *testing.T, banner, reply string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rec.accepted.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if banner != "" {
					c.Write([]byte(banner))
				}
				buf := make([]byte, 4096)
				replied := false
				for {
					n, err := c.Read(buf)
					rec.mu.Lock()
					rec.got = append(rec.got, buf[:n]...)
					rec.mu.Unlock()
					if n > 0 && !replied && reply != "" {
						c.Write([]byte(reply))
						replied = true
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return rec
}

func (r *recorder) received() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.got...)
}

// attack sends the prelude naming port and a request in one write, as a client
// that does not wait for anything would, and returns all it gets back.
func attack(t *testing.T, addr string, port int, request string) string {
	t.Helper()
	c := dial(t, addr)
	io.WriteString(c, "pmproxy-client 1\n127.0.0.1 "+strconv.Itoa(port)+"\n"+request)
	return closedWithin(t, c, 5*time.Second)
}

// TestNotATunnel: services on loopback that are not PCP collectors, even on a
// port the policy allows, get zero bytes from a relayed client, and the client
// gets zero bytes of theirs. Before the greeting check, the client's request
// reached them and their answer came back through proxyd.
func TestNotATunnel(t *testing.T) {
	const request = "GET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n"
	r := &Relay{ConnectTimeout: 500 * time.Millisecond}
	addr, logs := startRelay(t, r)
	cases := []struct{ name, banner, reply string }{
		{"web service answering a request", "", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"},
		{"service with a banner", "SSH-2.0-OpenSSH_9.6\r\n", "bye\r\n"},
		{"redis-like service", "", "+OK\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := startRecorder(t, c.banner, c.reply)
			got := attack(t, addr, svc.port, request)
			if got != ServerHello {
				t.Errorf("client got %q, want only the prelude line", got)
			}
			time.Sleep(50 * time.Millisecond) // let the service record anything in flight
			if b := svc.received(); len(b) != 0 {
				t.Errorf("the service received %q from the relayed client", b)
			}
		})
	}
	if !strings.Contains(logs.String(), "not a PCP collector") {
		t.Errorf("not logged:\n%s", logs)
	}
	waitSessions(t, r, 0)
}

// TestNotATunnelHTTP: a real net/http server on loopback behind the relay
// serves no request.
func TestNotATunnelHTTP(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "secret")
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	addr, _ := startRelay(t, &Relay{ConnectTimeout: 300 * time.Millisecond})
	for i := 0; i < 3; i++ {
		got := attack(t, addr, port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if got != ServerHello {
			t.Fatalf("client got %q", got)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the web server served %d relayed requests", n)
	}
}

// TestBadGreetings: a fake collector that sends anything but a valid greeting is
// dropped: the client sees none of it, and the fake sees none of the client's
// bytes.
func TestBadGreetings(t *testing.T) {
	good := []byte(greeting)
	with := func(off int, v uint32) string {
		b := append([]byte(nil), good...)
		binary.BigEndian.PutUint32(b[off:], v)
		return string(b)
	}
	short := string(protocol.Encode(nil, &protocol.ErrorPDU{Code: 0}, 0)) // a 16-byte ERROR
	cases := []struct{ name, send string }{
		{"nothing, then close", ""},
		{"garbage", "\x00\x01\x02\x03garbage and more garbage"},
		{"16-byte ERROR", short + "padding!"},
		{"length 21", with(0, 21) + "x"},
		{"huge length", with(0, 0x7fffffff)},
		{"not an ERROR", with(4, uint32(protocol.TypeDesc))},
		{"positive code", with(12, 7)},
		{"protocol version 1", with(16, 0x01010e44)},
		{"cut short", greeting[:15]},
	}
	r := &Relay{ConnectTimeout: 500 * time.Millisecond}
	addr, _ := startRelay(t, r)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			gotc := make(chan []byte, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					gotc <- nil
					return
				}
				defer conn.Close()
				conn.Write([]byte(c.send))
				if c.send == "" || c.name == "cut short" {
					conn.(*net.TCPConn).CloseWrite()
				}
				conn.SetReadDeadline(time.Now().Add(3 * time.Second))
				b, _ := io.ReadAll(conn)
				gotc <- b
			}()
			got := attack(t, addr, ln.Addr().(*net.TCPAddr).Port, "\x00\x00\x00\x14\x00\x00\x70\x0c client bytes")
			if got != ServerHello {
				t.Errorf("client got %q", got)
			}
			if b := <-gotc; len(b) != 0 {
				t.Errorf("the fake collector received %q", b)
			}
		})
	}
	waitSessions(t, r, 0)
}

// TestGreetingRefusalPassedOn: a collector that refuses the client in its
// greeting (a non-zero code, as pmcd at its connection limit) is still a
// collector: the greeting reaches the client.
func TestGreetingRefusalPassedOn(t *testing.T) {
	refusal := string(protocol.Encode(nil, protocol.Greeting(protocol.ErrPermission, 0), 0))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte(refusal))
			c.Close()
		}
	}()
	addr, _ := startRelay(t, &Relay{})
	if got := attack(t, addr, ln.Addr().(*net.TCPAddr).Port, ""); got != ServerHello+refusal {
		t.Fatalf("got %q", got)
	}
}

// TestSilentUpstream: a service that accepts and says nothing (as an HTTP
// server waits for its request) is dropped at the connect timeout.
func TestSilentUpstream(t *testing.T) {
	svc := startRecorder(t, "", "")
	r := &Relay{ConnectTimeout: 200 * time.Millisecond}
	addr, logs := startRelay(t, r)
	start := time.Now()
	if got := attack(t, addr, svc.port, "hello?"); got != ServerHello {
		t.Fatalf("got %q", got)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("closed after %v, before the connect timeout", d)
	}
	if b := svc.received(); len(b) != 0 {
		t.Errorf("service received %q", b)
	}
	if !strings.Contains(logs.String(), "no greeting") {
		t.Errorf("logs:\n%s", logs)
	}
}

// TestDefaultPorts: with the default policy only the collector port is reachable
// on loopback; a collector on another loopback port must be listed.
func TestDefaultPorts(t *testing.T) {
	port := startEcho(t)
	def, _ := upstream.NewPolicy(nil, true)
	r := &Relay{Policy: def}
	addr, logs := startRelay(t, r)
	if got := attack(t, addr, port, "ping\n"); got != ServerHello {
		t.Fatalf("unlisted loopback port: got %q", got)
	}
	if !strings.Contains(logs.String(), "refused by policy") {
		t.Errorf("logs:\n%s", logs)
	}
	listed, _ := upstream.NewPolicy([]string{"127.0.0.1:" + strconv.Itoa(port)}, true)
	r.Update(Settings{Policy: listed})
	c := dial(t, addr)
	io.WriteString(c, "pmproxy-client 1\n127.0.0.1 "+strconv.Itoa(port)+"\nping\n")
	want := ServerHello + greeting + "ping\n"
	b := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, b); err != nil || !bytes.Equal(b, []byte(want)) {
		t.Fatalf("listed port: got %q, %v", b, err)
	}
}
