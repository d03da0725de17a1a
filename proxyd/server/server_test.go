package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	cserver "github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
	"github.com/gopcp/gopcp/proxyd/server"
)

// fetchNcpu connects through the proxy (host@proxy) and fetches hinv.ncpu.
func fetchNcpu(t *testing.T, spec string, opts pmapi.Options) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pmapi.Connect(ctx, spec, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	ids, err := c.LookupNames([]string{"hinv.ncpu"})
	if err != nil {
		return err
	}
	r, err := c.Fetch(ids)
	if err != nil {
		return err
	}
	if len(r.VSets) != 1 || r.VSets[0].NumVal != 1 {
		t.Fatalf("fetch: %+v", r)
	}
	return nil
}

func closedWithin(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection not closed within %v (read %q): %v", d, b, err)
	}
	return string(b)
}

func TestDemultiplexing(t *testing.T) {
	col := ptest.StartCollector(t, nil)
	px := ptest.StartProxy(t, ptest.ProxyOptions{})
	// PCP relay.
	if err := fetchNcpu(t, px.Spec(col.Port), pmapi.Options{}); err != nil {
		t.Fatalf("relay: %v", err)
	}
	// HTTP on the same port, keep-alive included.
	for range 3 {
		resp, err := http.Get(px.URL() + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("http: %d", resp.StatusCode)
		}
	}
	// Anything else is closed; so is TLS without a certificate configured.
	for _, first := range []string{"\x00junk", "xyz\n", "-redis\r\n", "\x16\x03\x01\x00\x05hello"} {
		c, err := net.Dial("tcp", px.Addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, first)
		if got := closedWithin(t, c, 3*time.Second); got != "" {
			t.Errorf("%q: got %q", first, got)
		}
		c.Close()
	}
}

func TestTLSFirst(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, nil)
	px := ptest.StartProxy(t, ptest.ProxyOptions{TLS: pki.ServerTLS(t, false)})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(false)}}
	resp, err := client.Get("https://" + px.Addr + "/pmapi/context?hostspec=" + col.Addr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"source":`) {
		t.Fatalf("https: %d %s", resp.StatusCode, body)
	}
	// Plain HTTP still works on the same port.
	if resp, err := http.Get(px.URL() + "/pmapi/context?hostspec=" + col.Addr); err != nil || resp.StatusCode != 200 {
		t.Fatalf("http beside https: %v", err)
	} else {
		resp.Body.Close()
	}
	// The relay inside TLS.
	viaTLS := pmapi.Options{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := tls.Dialer{Config: pki.ClientTLS(false)}
		return d.DialContext(ctx, network, addr)
	}}
	if err := fetchNcpu(t, px.Spec(col.Port), viaTLS); err != nil {
		t.Fatalf("relay over TLS: %v", err)
	}
}

func TestRequireClientCert(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, nil)
	var remote atomic.Bool // whether the test's loopback peers count as remote (read by the server's goroutines)
	px := ptest.StartProxy(t, ptest.ProxyOptions{TLS: pki.ServerTLS(t, true), Server: func(s *server.Server) {
		s.RequireClientCert = true
		s.IsLocal = func(net.Addr) bool { return !remote.Load() }
	}})
	// Local plain clients are exempt, as pmcd -Q exempts them.
	if resp, err := http.Get(px.URL() + "/pmapi/context?hostspec=" + col.Addr); err != nil || resp.StatusCode != 200 {
		t.Fatalf("local plain client: %v", err)
	} else {
		resp.Body.Close()
	}
	remote.Store(true)
	resp, err := http.Get(px.URL() + "/pmapi/context?hostspec=" + col.Addr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "requires a client certificate") {
		t.Fatalf("remote plain HTTP client: %d %s", resp.StatusCode, body)
	}
	if err := fetchNcpu(t, px.Spec(col.Port), pmapi.Options{}); err == nil {
		t.Fatal("remote plain relay client served")
	}
	viaTLS := pmapi.Options{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := tls.Dialer{Config: pki.ClientTLS(true)}
		return d.DialContext(ctx, network, addr)
	}}
	if err := fetchNcpu(t, px.Spec(col.Port), viaTLS); err != nil {
		t.Fatalf("remote relay client over TLS with a certificate: %v", err)
	}
	u := "https://" + px.Addr + "/pmapi/context?hostspec=" + col.Addr
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(false)}}
	if resp, err := anon.Get(u); err == nil {
		resp.Body.Close()
		t.Fatalf("no client certificate: status %d", resp.StatusCode)
	}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(true)}}
	resp, err = withCert.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("client certificate: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(px.Logs.String(), "TLS handshake failed") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(px.Logs.String(), "TLS handshake failed") {
		t.Errorf("refused handshake not logged:\n%s", px.Logs)
	}
}

func TestConnectionLimit(t *testing.T) {
	col := ptest.StartCollector(t, nil)
	px := ptest.StartProxy(t, ptest.ProxyOptions{Server: func(s *server.Server) { s.MaxConnections = 2 }})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", px.Addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitConns(t, px, 2)
	// An HTTP client beyond the limit is told so.
	c, _ := net.Dial("tcp", px.Addr)
	io.WriteString(c, "GET /pmapi/context HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	c.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"success":false`) {
		t.Fatalf("over the limit: %d %s", resp.StatusCode, body)
	}
	// A relay client beyond the limit is closed.
	c, _ = net.Dial("tcp", px.Addr)
	io.WriteString(c, "pmproxy-client 1\n")
	if got := closedWithin(t, c, 3*time.Second); got != "" {
		t.Fatalf("relay over the limit got %q", got)
	}
	c.Close()
	if px.Server.Refused() < 2 {
		t.Errorf("refused %d", px.Server.Refused())
	}
	for _, h := range held {
		h.Close()
	}
	waitConns(t, px, 0)
	if err := fetchNcpu(t, px.Spec(col.Port), pmapi.Options{}); err != nil {
		t.Fatalf("after the limit cleared: %v", err)
	}
}

func waitConns(t *testing.T, px *ptest.Proxy, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for px.Server.Connections() != n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := px.Server.Connections(); got != n {
		t.Fatalf("%d connections, want %d", got, n)
	}
}

func TestHTTPLimits(t *testing.T) {
	col := ptest.StartCollector(t, nil)
	px := ptest.StartProxy(t, ptest.ProxyOptions{Server: func(s *server.Server) {
		s.MaxHeaderBytes = 1024
		s.ReadHeaderTimeout = 300 * time.Millisecond
		s.HandshakeTimeout = 300 * time.Millisecond
	}})
	// Oversize header: 431.
	req, _ := http.NewRequest("GET", px.URL()+"/pmapi/context?hostspec="+col.Addr, nil)
	req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversize header: %d", resp.StatusCode)
	}
	// A header that never ends is cut off.
	c, _ := net.Dial("tcp", px.Addr)
	io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	closedWithin(t, c, 3*time.Second)
	c.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("slow header held for %v", d)
	}
	// A connection that never speaks, or stops inside the TLS handshake, is closed.
	for _, first := range []string{"", "\x16\x03\x01"} {
		c, _ := net.Dial("tcp", px.Addr)
		io.WriteString(c, first)
		closedWithin(t, c, 3*time.Second)
		c.Close()
	}
	waitConns(t, px, 0)
}

func TestSlowCollector(t *testing.T) {
	col := ptest.StartCollector(t, nil)
	slow := ptest.SlowForwarder(t, col.Addr, 2*time.Second)
	px := ptest.StartProxy(t, ptest.ProxyOptions{API: func(c *httpapi.Config) { c.RequestTimeout = 300 * time.Millisecond }})
	start := time.Now()
	resp, err := http.Get(px.URL() + "/pmapi/fetch?names=hinv.ncpu&hostspec=127.0.0.1:" + strconv.Itoa(slow))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// A greeting later than the request's time is the same answer as no
	// collector at all (proxyd does not tell a slow port from a closed one).
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), `not a PCP collector`) {
		t.Fatalf("slow collector: %d %s", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
	// The proxy is not stuck: the fast collector answers at once.
	resp, err = http.Get(px.URL() + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a slow collector: %v", err)
	}
	resp.Body.Close()
}

func TestGracefulShutdown(t *testing.T) {
	col := ptest.StartCollector(t, nil)
	slow := ptest.SlowForwarder(t, col.Addr, 100*time.Millisecond)
	px := ptest.StartProxy(t, ptest.ProxyOptions{})
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(px.URL() + "/pmapi/fetch?names=hinv.ncpu,kernel.all.load&hostspec=127.0.0.1:" + strconv.Itoa(slow))
		if err != nil {
			done <- result{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	time.Sleep(150 * time.Millisecond) // the request is waiting on the collector
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := px.Server.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r := <-done
	if r.err != nil || r.status != 200 {
		t.Fatalf("in-flight request: %d %v", r.status, r.err)
	}
	if _, err := net.DialTimeout("tcp", px.Addr, time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
	if err := px.Server.Serve(mustListen(t)); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func mustListen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestRelayClientCertEndToEnd: a collector requiring client certificates (-Q)
// sees the relayed client's own certificate, since TLS runs end to end.
func TestRelayClientCertEndToEnd(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, func(s *cserver.Server) {
		cfg := pki.ServerTLS(t, true)
		s.TLSConfig = func() *tls.Config { return cfg }
		s.RequireClientCert = true
	})
	px := ptest.StartProxy(t, ptest.ProxyOptions{})
	var clientName string
	withCert := pmapi.Options{Secure: pmapi.SecureEnforce, TLSConfig: func(sn string) (*tls.Config, error) {
		clientName = sn
		return pki.ClientTLS(true), nil
	}}
	if err := fetchNcpu(t, px.Spec(col.Port), withCert); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	if clientName != "127.0.0.1" {
		t.Errorf("TLS server name %q: libpcp uses the proxy's host name", clientName)
	}
	noCert := pmapi.Options{Secure: pmapi.SecureEnforce, TLSConfig: func(string) (*tls.Config, error) { return pki.ClientTLS(false), nil }}
	err := fetchNcpu(t, px.Spec(col.Port), noCert)
	if err == nil {
		t.Fatal("the collector accepted a client without a certificate through the relay")
	}
	// The collector completes the handshake and says why (PM_ERR_NEEDCLIENTCERT).
	if code := protocol.CodeOf(err); code != protocol.ErrNeedClientCert {
		t.Errorf("without a certificate: %v, want PM_ERR_NEEDCLIENTCERT", err)
	}
	// Plain through the relay: the collector demands a certificate (libpcp gives up).
	if err := fetchNcpu(t, px.Spec(col.Port), pmapi.Options{}); protocol.CodeOf(err) != protocol.ErrNeedClientCert {
		t.Errorf("plain: %v", err)
	}
}
