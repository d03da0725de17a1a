package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/tlsconfig"
)

type testPKI struct {
	ca, server, client, stranger *testcerts.Cert
	cfg                          *tls.Config
}

// newTLSServer starts a server with -Q and a store-backed identity.
func newTLSServer(t *testing.T, require bool) (*Server, string, *logBuf, *testPKI) {
	t.Helper()
	return newTLSServerWith(t, require, nil)
}

// newTLSServerWith is newTLSServer with more settings made by tweak.
func newTLSServerWith(t *testing.T, require bool, tweak func(*Server)) (*Server, string, *logBuf, *testPKI) {
	t.Helper()
	p := &testPKI{}
	p.ca = testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true})
	p.server = testcerts.New(t, p.ca, testcerts.Options{CN: "srv", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	p.client = testcerts.New(t, p.ca, testcerts.Options{CN: "cli", Client: true})
	other := testcerts.New(t, nil, testcerts.Options{CN: "other", IsCA: true})
	p.stranger = testcerts.New(t, other, testcerts.Options{CN: "stranger", Client: true})
	dir := filepath.Join(t.TempDir(), "db")
	st, err := store.CreateWith(dir, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	st.AddCert("ca", p.ca.Cert, store.MustParseTrust("CT,,"))
	st.AddCert("srv", p.server.Cert, store.MustParseTrust("u,u,u"))
	if err := st.ImportKey("srv", p.server.Key); err != nil {
		t.Fatal(err)
	}
	p.cfg, err = tlsconfig.Server(tlsconfig.ServerOptions{Store: dir, Nickname: "srv", RequireClientCert: require})
	if err != nil {
		t.Fatal(err)
	}
	s, addr, logs := startServer(t, func(s *Server) {
		s.TLSConfig = func() *tls.Config { return p.cfg }
		s.RequireClientCert = require
		s.HandshakeTimeout = 500 * time.Millisecond
		if tweak != nil {
			tweak(s)
		}
	})
	return s, addr, logs, p
}

// secureDial performs the CREDS exchange asking for TLS and upgrades with cfg.
func secureDial(t *testing.T, addr string, cfg *tls.Config) (*protocol.Conn, error) {
	t.Helper()
	return secureDialFrom(t, "", addr, cfg)
}

// secureDialFrom is secureDial from the local IP address from ("": any), so that
// one test can play clients on several hosts (all of 127/8 is loopback).
func secureDialFrom(t *testing.T, from, addr string, cfg *tls.Config) (*protocol.Conn, error) {
	t.Helper()
	nc, err := dialFrom(from, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := protocol.NewConn(nc)
	c.IdleTimeout = 5 * time.Second
	g, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	f, err := protocol.ParseGreeting(g)
	if err != nil {
		return nil, err // a limit
	}
	if f&protocol.FeatureSecure == 0 {
		t.Fatalf("greeting %#x %v", f, err)
	}
	c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(protocol.FeatureSecure | protocol.FeatureSecureAck)}})
	if ack, err := c.Read(); err != nil {
		t.Fatal(err)
	} else {
		wantError(t, ack, 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := c.UpgradeClient(ctx, cfg); err != nil {
		return nil, err
	}
	// TLS 1.3 finishes on the client before the server has judged its certificate:
	// the first request tells.
	c.Write(&protocol.DescReq{PMID: 0x0f000020})
	p, err := c.Read()
	if err != nil {
		return nil, err
	}
	if e, ok := p.(*protocol.ErrorPDU); ok && e.Code < 0 {
		return nil, &protocol.Error{Code: e.Code}
	}
	if _, ok := p.(*protocol.DescPDU); !ok {
		t.Fatalf("reply %#v", p)
	}
	return c, nil
}

func clientCfg(p *testPKI, id *testcerts.Cert) *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if id != nil {
		// Sent whatever CAs the server names, as a misconfigured client would.
		cert := &tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg
}

// TestTLSPolicy: under -Q only a client with a certificate from a trusted CA gets a
// reply; each refusal is logged with its reason and the certificate's SHA-256.
func TestTLSPolicy(t *testing.T) {
	srv, addr, logs, p := newTLSServer(t, true)
	c, err := secureDial(t, addr, clientCfg(p, p.client))
	if err != nil {
		t.Fatalf("trusted client: %v", err)
	}
	// The health metric shows the seconds left on the serving certificate.
	m, _ := srv.Registry.ByName("pmcd.gopcp.cert.expiry")
	c.Write(&protocol.Profile{})
	res := roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{m.Desc.PMID}}).(*protocol.Result)
	left, _ := res.VSets[0].Values[0].Int64(protocol.Type64, false)
	if want := int64(time.Until(p.server.Cert.NotAfter).Seconds()); left < want-60 || left > want {
		t.Fatalf("cert.expiry %d, want about %d", left, want)
	}
	// A client without a certificate finishes the handshake and is told why.
	if _, err := secureDial(t, addr, clientCfg(p, nil)); !errors.Is(err, &protocol.Error{Code: protocol.ErrNeedClientCert}) {
		t.Fatalf("client without a certificate: %v, want PM_ERR_NEEDCLIENTCERT", err)
	}
	if _, err := secureDial(t, addr, clientCfg(p, p.stranger)); err == nil {
		t.Fatal("client from an untrusted CA was served")
	}
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(logs.String(), tlsconfig.Fingerprint(p.stranger.Cert)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	l := logs.String()
	if !strings.Contains(l, "not a trusted client CA") || !strings.Contains(l, tlsconfig.Fingerprint(p.stranger.Cert)) {
		t.Fatalf("log lacks the reason or the fingerprint:\n%s", l)
	}
	// TLS 1.0 and 1.1 are refused.
	old := clientCfg(p, p.client)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, err := secureDial(t, addr, old); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
}

// askTLSAndStall connects, asks for TLS and reads the server's ack, so that the
// server is waiting in its TLS handshake for a client that never starts it. The
// connection is closed at the end of the test.
func askTLSAndStall(t *testing.T, addr string) *protocol.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := protocol.NewConn(nc)
	c.IdleTimeout = 5 * time.Second
	if _, err := c.Read(); err != nil { // the greeting
		t.Fatal(err)
	}
	c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(protocol.FeatureSecure | protocol.FeatureSecureAck)}})
	if _, err := c.Read(); err != nil { // the ack
		t.Fatal(err)
	}
	return c
}

// TestTLSHandshakeDeadline: a client that asks for TLS and never starts its
// handshake is cut at the handshake deadline.
func TestTLSHandshakeDeadline(t *testing.T) {
	_, addr, logs, _ := newTLSServer(t, true)
	c := askTLSAndStall(t, addr)
	start := time.Now()
	if _, err := c.Read(); err == nil {
		t.Fatal("server sent a PDU instead of waiting for TLS")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cut after %v", d)
	}
	// The close can reach us before the server has written its log line.
	for deadline := time.Now().Add(3 * time.Second); !strings.Contains(logs.String(), "TLS handshake failed"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line:\n%s", logs.String())
		}
	}
}

// TestStopEndsTLSHandshake: a client that asks for TLS and never starts its
// handshake does not hold up Shutdown or Close, although its handshake deadline
// is far off: the handshake watches no context, so ending it is the server's
// own doing (Shutdown moves the connection's read deadline, Close closes it).
func TestStopEndsTLSHandshake(t *testing.T) {
	for _, stop := range []string{"Shutdown", "Close"} {
		t.Run(stop, func(t *testing.T) {
			s, addr, _, _ := newTLSServerWith(t, true, func(s *Server) { s.HandshakeTimeout = time.Minute })
			c := askTLSAndStall(t, addr)
			start := time.Now()
			if stop == "Shutdown" {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				s.Shutdown(ctx)
			} else {
				s.Close()
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("%s took %v with a client in its handshake", stop, d)
			}
			if _, err := c.Read(); err == nil {
				t.Fatal("the client in its handshake was not closed")
			}
		})
	}
}

// remoteConn makes a pipe look like a connection from another host, so the -Q rule
// for remote plaintext clients can be tested without leaving loopback.
type remoteConn struct{ net.Conn }

func (remoteConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 40000} // TEST-NET-1: never dialled
}

// TestRemotePlaintextNeedsCert: under -Q a remote client that does not ask for TLS
// gets PM_ERR_NEEDCLIENTCERT and no metric data; so does a loopback one (a proxyd on
// this host connects from loopback for anyone).
func TestRemotePlaintextNeedsCert(t *testing.T) {
	s, _, _, _ := newTLSServer(t, true)
	a, b := net.Pipe()
	defer a.Close()
	done := make(chan struct{})
	go func() { s.handle(context.Background(), remoteConn{b}); close(done) }()
	c := protocol.NewConn(a)
	c.IdleTimeout = 3 * time.Second
	g, _ := c.Read()
	if f, _ := protocol.ParseGreeting(g); f&protocol.FeatureCertReqd == 0 {
		t.Fatalf("greeting lacks CERT_REQD: %#x", f)
	}
	c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}})
	r, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, r, protocol.ErrNeedClientCert)
	go c.Write(&protocol.DescReq{PMID: 0x0f000020})
	if r, err := c.Read(); err == nil {
		t.Fatalf("remote plaintext client served after the refusal: %#v", r)
	}
	<-done
	_, addr, _, _ := newTLSServer(t, true)
	c = dial(t, addr)
	wantError(t, roundTrip(t, c, &protocol.DescReq{PMID: 0x0f000020}), protocol.ErrNeedClientCert)
	if r, err := c.Read(); err == nil {
		t.Fatalf("loopback plaintext client served after the refusal: %#v", r)
	}
}

// BenchmarkConnectTLSFetch: TCP connect, greeting, CREDS, TLS handshake with ECDSA
// P-256 certificates, one fetch, close: what a monitoring client pays per contact.
func BenchmarkConnectTLSFetch(b *testing.B) {
	benchConnect(b, true)
}

// BenchmarkConnectFetch is the same without TLS.
func BenchmarkConnectFetch(b *testing.B) { benchConnect(b, false) }

func benchConnect(b *testing.B, secure bool) {
	p := &testPKI{}
	p.ca = testcerts.New(b, nil, testcerts.Options{CN: "ca", IsCA: true})
	p.server = testcerts.New(b, p.ca, testcerts.Options{CN: "srv", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	srvCfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{p.server.Cert.Raw}, PrivateKey: p.server.Key}}}
	_, addr, _ := startServer(b, func(s *Server) {
		if secure {
			s.TLSConfig = func() *tls.Config { return srvCfg }
		}
	})
	var cli *tls.Config
	if secure {
		cli = clientCfg(p, nil)
	}
	b.ResetTimer()
	connectFetchLoop(b, addr, cli)
}

// connectFetchLoop connects to addr b.N times: greeting, CREDS, with cli a TLS
// handshake, one fetch, close.
func connectFetchLoop(b *testing.B, addr string, cli *tls.Config) {
	flags := uint16(0)
	if cli != nil {
		flags = protocol.FeatureSecure | protocol.FeatureSecureAck
	}
	for i := 0; i < b.N; i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c := protocol.NewConn(nc)
		c.Read()
		c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(flags)}})
		if cli != nil {
			c.Read()
			if _, err := c.UpgradeClient(context.Background(), cli); err != nil {
				b.Fatal(err)
			}
		}
		c.Write(&protocol.Profile{})
		c.Write(&protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{0x0f000800}})
		if _, err := c.ReadRaw(); err != nil {
			b.Fatal(err)
		}
		nc.Close()
	}
}
