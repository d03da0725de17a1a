// Package ptest holds proxyd's test fixtures: our collectord started in-process,
// a small PKI with certificate stores and PCP tls.conf files, and proxyd itself
// started in-process on 127.0.0.1.
package ptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	cserver "github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/collectord/server/servertest"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/relay"
	"github.com/gopcp/gopcp/proxyd/server"
	"github.com/gopcp/gopcp/proxyd/upstream"
	"github.com/gopcp/gopcp/tlsconfig"
)

// Collector is our collectord running in-process.
type Collector struct {
	Server *cserver.Server
	Addr   string // 127.0.0.1:port
	Port   int
}

// StartCollector starts our collectord on 127.0.0.1:0; tweak may set TLS and
// limits before it serves. It stops when the test ends.
func StartCollector(t testing.TB, tweak func(*cserver.Server)) *Collector {
	t.Helper()
	return StartCollectorAt(t, "127.0.0.1:0", tweak)
}

// StartCollectorAt is StartCollector on a given address (to restart a collector
// on the port it had).
func StartCollectorAt(t testing.TB, addr string, tweak func(*cserver.Server)) *Collector {
	t.Helper()
	s, a := servertest.StartAt(t, addr, tweak)
	_, port, _ := net.SplitHostPort(a)
	n, _ := strconv.Atoi(port)
	return &Collector{Server: s, Addr: a, Port: n}
}

// PKI is a CA with a server and a client certificate, in every form the tests
// need.
type PKI struct {
	CA, Server, Client *testcerts.Cert
	Dir                string

	// ServerStore holds the CA (CT,,) and the server identity "server".
	ServerStore string
	// ClientStore holds the CA (CT,,) and the client identity "client".
	ClientStore string
	// TrustStore holds only the CA (CT,,): a client that verifies servers but has
	// no certificate of its own.
	TrustStore string
	// ServerTLSConf is a PCP tls.conf for a real pmcd (certificate, key, CA).
	ServerTLSConf string
	// ClientTLSConf is a PCP tls.conf for a real client with a certificate.
	ClientTLSConf string
	// NoCertTLSConf is a PCP tls.conf for a real client without a certificate.
	NoCertTLSConf string
	CAFile        string
}

// Nicknames in the stores.
const (
	ServerNick = "server"
	ClientNick = "client"
)

// NewPKI makes the PKI under a temporary directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	host, _ := os.Hostname()
	p := &PKI{Dir: t.TempDir()}
	p.CA = testcerts.New(t, nil, testcerts.Options{CN: "proxyd test CA", IsCA: true})
	p.Server = testcerts.New(t, p.CA, testcerts.Options{CN: "collector", Server: true,
		DNS: []string{"localhost", host}, IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}})
	p.Client = testcerts.New(t, p.CA, testcerts.Options{CN: "monitor", Client: true})
	p.ServerStore = p.store(t, "server-db", ServerNick, p.Server)
	p.ClientStore = p.store(t, "client-db", ClientNick, p.Client)
	p.TrustStore = p.store(t, "trust-db", "", nil)
	write := func(name string, data []byte, mode os.FileMode) string {
		path := filepath.Join(p.Dir, name)
		if err := os.WriteFile(path, data, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p.CAFile = write("ca.pem", p.CA.CertPEM(), 0o644)
	sc := write("server.pem", p.Server.CertPEM(), 0o644)
	sk := write("server.key", p.Server.KeyPEM(t), 0o600)
	cc := write("client.pem", p.Client.CertPEM(), 0o644)
	ck := write("client.key", p.Client.KeyPEM(t), 0o600)
	p.ServerTLSConf = write("server-tls.conf", []byte("tls-cert-file = "+sc+"\ntls-key-file = "+sk+"\ntls-ca-cert-file = "+p.CAFile+"\n"), 0o644)
	p.ClientTLSConf = write("client-tls.conf", []byte("tls-client-cert-file = "+cc+"\ntls-client-key-file = "+ck+"\ntls-ca-cert-file = "+p.CAFile+"\n"), 0o644)
	p.NoCertTLSConf = write("nocert-tls.conf", []byte("tls-ca-cert-file = "+p.CAFile+"\n"), 0o644)
	return p
}

func (p *PKI) store(t testing.TB, name, nick string, id *testcerts.Cert) string {
	t.Helper()
	dir := filepath.Join(p.Dir, name)
	st, err := store.CreateWith(dir, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddCert("test CA", p.CA.Cert, store.MustParseTrust("CT,,")); err != nil {
		t.Fatal(err)
	}
	if id != nil {
		if _, err := st.AddIdentity(nick, id.Cert, id.Key, store.Trust{}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ServerTLS is the collector/proxy server configuration from ServerStore.
func (p *PKI) ServerTLS(t testing.TB, requireClientCert bool) *tls.Config {
	t.Helper()
	cfg, err := tlsconfig.Server(tlsconfig.ServerOptions{Store: p.ServerStore, Nickname: ServerNick, RequireClientCert: requireClientCert})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ClientTLS is a crypto/tls client configuration trusting the CA, with the client
// certificate when withCert.
func (p *PKI) ClientTLS(withCert bool) *tls.Config {
	pool := newPool(p.CA)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if withCert {
		cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{p.Client.Cert.Raw}, PrivateKey: p.Client.Key, Leaf: p.Client.Cert}}
	}
	return cfg
}

func newPool(certs ...*testcerts.Cert) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c.Cert)
	}
	return pool
}

// Proxy is proxyd's server running in-process.
type Proxy struct {
	Server *server.Server
	API    *httpapi.API
	Relay  *relay.Relay
	Addr   string
	Port   int
	Logs   *LogBuffer
}

// ProxyOptions shape an in-process proxy.
type ProxyOptions struct {
	// Allow is the allow list. Nil allows 127.0.0.1 on every port, as the
	// tests' collectors listen on ephemeral ports; DefaultPolicy keeps it nil.
	Allow []string
	// DefaultPolicy: proxyd's default allow list (loopback port 44321 only).
	DefaultPolicy bool
	NoLoopback    bool
	TLS           *tls.Config
	Clients       *upstream.Clients
	API           func(*httpapi.Config)
	Server        func(*server.Server)
	Relay         func(*relay.Relay)
	ListenAddress string // default 127.0.0.1:0
}

// StartProxy starts proxyd's server; it is shut down when the test ends.
func StartProxy(t testing.TB, o ProxyOptions) *Proxy {
	t.Helper()
	logs := &LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	allow := o.Allow
	if allow == nil && !o.DefaultPolicy {
		allow = []string{"127.0.0.1"}
	}
	policy, err := upstream.NewPolicy(allow, !o.NoLoopback)
	if err != nil {
		t.Fatal(err)
	}
	acfg := httpapi.Config{Policy: policy, Clients: o.Clients, Logger: log}
	if o.API != nil {
		o.API(&acfg)
	}
	api := httpapi.New(acfg)
	rl := &relay.Relay{Policy: policy, Logger: log}
	if o.Relay != nil {
		o.Relay(rl)
	}
	srv := &server.Server{HTTP: api, Relay: rl, TLSConfig: o.TLS, Logger: log}
	if o.Server != nil {
		o.Server(srv)
	}
	addr := o.ListenAddress
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		api.Close()
	})
	return &Proxy{Server: srv, API: api, Relay: rl, Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port, Logs: logs}
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.Addr }

// Spec is "collector@proxy" for a collector port.
func (p *Proxy) Spec(collectorPort int) string {
	return "127.0.0.1:" + strconv.Itoa(collectorPort) + "@127.0.0.1:" + strconv.Itoa(p.Port)
}

// LogBuffer collects log output safely.
type LogBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// SlowForwarder relays TCP connections to target, holding every chunk from the
// target back for delay: a collector that answers slowly. It returns the port.
func SlowForwarder(t testing.TB, target string, delay time.Duration) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Add(2)
			go func() {
				defer wg.Done()
				defer up.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						up.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := up.Read(buf)
					if n > 0 {
						time.Sleep(delay)
						c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
