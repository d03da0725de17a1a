package server_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	cserver "github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
	"github.com/gopcp/gopcp/proxyd/server"
	"github.com/gopcp/gopcp/proxyd/upstream"
)

// asRemote makes the API see every request as coming from another host, so
// that only proxyd's own authentication of the client can make it trusted.
func asRemote(s *server.Server) {
	inner := s.HTTP
	s.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = "192.0.2.7:40000"
		inner.ServeHTTP(w, r)
	})
}

func fetchWith(t *testing.T, cfg *tls.Config, u string) (int, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLendsOnlyToAuthenticatedClients: through the real listener, a remote
// HTTPS client that presented a certificate proxyd verified reads a -Q
// collector with proxyd's identity; one without a certificate, and a plain HTTP
// one, get 403 telling them to authenticate.
func TestLendsOnlyToAuthenticatedClients(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, func(s *cserver.Server) {
		cfg := pki.ServerTLS(t, true)
		s.TLSConfig = func() *tls.Config { return cfg }
		s.RequireClientCert = true
	})
	px := ptest.StartProxy(t, ptest.ProxyOptions{
		TLS:     pki.ServerTLS(t, false),
		Clients: &upstream.Clients{Default: upstream.Identity{Secure: pmapi.SecureEnforce, StoreDir: pki.ClientStore}},
		Server:  asRemote,
	})
	path := "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	if st, body := fetchWith(t, pki.ClientTLS(true), "https://"+px.Addr+path); st != 200 || !strings.Contains(body, `"hinv.ncpu"`) {
		t.Fatalf("authenticated client: %d %s", st, body)
	}
	if st, body := fetchWith(t, pki.ClientTLS(false), "https://"+px.Addr+path); st != 403 || !strings.Contains(body, "authenticated to proxyd") {
		t.Errorf("HTTPS without a certificate: %d %s", st, body)
	}
	if st, body := fetchWith(t, nil, px.URL()+path); st != 403 || !strings.Contains(body, "requires a client certificate") {
		t.Errorf("plain HTTP: %d %s", st, body)
	}
}

// TestUnverifiedCertificateNotTrusted: a server TLS configuration that asks for
// client certificates without verifying them (no VerifyPeerCertificate) does not
// make a self-made certificate count as authentication.
func TestUnverifiedCertificateNotTrusted(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, func(s *cserver.Server) {
		cfg := pki.ServerTLS(t, true)
		s.TLSConfig = func() *tls.Config { return cfg }
		s.RequireClientCert = true
	})
	lax := pki.ServerTLS(t, false).Clone()
	lax.VerifyPeerCertificate = nil
	px := ptest.StartProxy(t, ptest.ProxyOptions{
		TLS:     lax,
		Clients: &upstream.Clients{Default: upstream.Identity{Secure: pmapi.SecureEnforce, StoreDir: pki.ClientStore}},
		Server:  asRemote,
	})
	self := testcerts.New(t, nil, testcerts.Options{CN: "mallory", Client: true})
	cfg := pki.ClientTLS(false)
	// Sent whatever CAs the server names, as an attacker would.
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &tls.Certificate{Certificate: [][]byte{self.Cert.Raw}, PrivateKey: self.Key, Leaf: self.Cert}, nil
	}
	st, body := fetchWith(t, cfg, "https://"+px.Addr+"/pmapi/fetch?names=hinv.ncpu&hostspec="+col.Addr)
	if st != 403 {
		t.Fatalf("self-made certificate: %d %s", st, body)
	}
}

// TestDefaultPolicyPorts: with proxyd's default allow list, a collector on a
// loopback port other than 44321 is refused by REST (403) and by the relay
// (closed after the prelude line), through the real listener.
func TestDefaultPolicyPorts(t *testing.T) {
	col := ptest.StartCollector(t, nil)
	px := ptest.StartProxy(t, ptest.ProxyOptions{DefaultPolicy: true})
	resp, err := http.Get(px.URL() + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "not allowed by proxyd's allow list") {
		t.Errorf("REST: %d %s", resp.StatusCode, b)
	}
	c, err := net.Dial("tcp", px.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "pmproxy-client 1\n"+strings.Replace(col.Addr, ":", " ", 1)+"\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	if string(got) != "pmproxy-server 1\n" {
		t.Errorf("relay: got %q", got)
	}
}
