package stress

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/tlsconfig"
)

// pki is a small certificate hierarchy and the two stores built from it: the
// collector's (the CA trusted for clients and servers, the server identity) and the
// monitor's (the CA trusted for servers, the client identity).
type pki struct {
	ca, server, client  *testcerts.Cert
	serverStore         string // -C; identity nickname "srv"
	clientStore         string // PCP_SECURE_DB_PATH
	serverCfg           *tls.Config
	roots               *x509.CertPool
	serverNick, cliNick string
}

// storeOptions is how newPKI's stores derive their keys: certdb's default in
// the full run (make stress), whose figures stand for real stores; otherwise
// the test-only cheap cost, since clientHook opens the client store at every
// connection (20 sessions paid 4 s of scrypt each under the race detector).
func storeOptions() store.CreateOptions {
	return store.CreateOptions{TestOnlyFastKDF: !full()}
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{serverNick: "srv", cliNick: "cli"}
	p.ca = testcerts.New(t, nil, testcerts.Options{CN: "stress CA", IsCA: true})
	p.server = testcerts.New(t, p.ca, testcerts.Options{CN: "collector", Server: true,
		IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, DNS: []string{"localhost"}})
	p.client = testcerts.New(t, p.ca, testcerts.Options{CN: "monitor", Client: true})
	dir := t.TempDir()
	p.serverStore = filepath.Join(dir, "server-db")
	st, err := store.CreateWith(p.serverStore, nil, storeOptions())
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, st, "ca", p.ca, "CT,,")
	mustAdd(t, st, p.serverNick, p.server, "u,u,u")
	if err := st.ImportKey(p.serverNick, p.server.Key); err != nil {
		t.Fatal(err)
	}
	p.clientStore = filepath.Join(dir, "client-db")
	ct, err := store.CreateWith(p.clientStore, nil, storeOptions())
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, ct, "ca", p.ca, "C,,")
	mustAdd(t, ct, p.cliNick, p.client, "u,u,u")
	if err := ct.ImportKey(p.cliNick, p.client.Key); err != nil {
		t.Fatal(err)
	}
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.ca.Cert)
	return p
}

func mustAdd(t testing.TB, st *store.Store, nick string, c *testcerts.Cert, trust string) {
	t.Helper()
	if _, err := st.AddCert(nick, c.Cert, store.MustParseTrust(trust)); err != nil {
		t.Fatal(err)
	}
}

// serverTLS is the collector's configuration as collectord -C -M [-Q] builds it.
func (p *pki) serverTLS(t testing.TB, requireClientCert bool) *tls.Config {
	t.Helper()
	cfg, err := tlsconfig.Server(tlsconfig.ServerOptions{Store: p.serverStore, Nickname: p.serverNick, RequireClientCert: requireClientCert})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// clientHook is what pminfo gives pmapi: the monitor's store and policy.
func (p *pki) clientHook() func(string) (*tls.Config, error) {
	return tlsconfig.Client(tlsconfig.ClientOptions{StoreDir: p.clientStore})
}

// rawTLS is a bare client configuration presenting id (nil: none) and trusting the CA.
func (p *pki) rawTLS(id *testcerts.Cert) *tls.Config {
	cfg := &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if id != nil {
		cert := &tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key}
		// Sent whatever the server asks for, as a misconfigured or hostile client would.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg
}

// leafConfig serves one certificate as it is, bypassing tlsconfig.Server's checks,
// to play a misconfigured or hostile server.
func leafConfig(c *testcerts.Cert) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key}}}
}

// expired and notYet are validity windows outside now.
func expired() (time.Time, time.Time) {
	return time.Now().Add(-48 * time.Hour), time.Now().Add(-24 * time.Hour)
}

func notYet() (time.Time, time.Time) {
	return time.Now().Add(24 * time.Hour), time.Now().Add(48 * time.Hour)
}
