package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

type pki struct {
	ca, server, client *testcerts.Cert
	serverDir          string
	clientDir          string
}

// newPKI builds a CA, a server and a client certificate and the two stores of the
// seed walkthrough: the CA with CT,, in each, and each side's identity.
func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{}
	p.ca = testcerts.New(t, nil, testcerts.Options{CN: "myCA", IsCA: true})
	p.server = testcerts.New(t, p.ca, testcerts.Options{CN: "pmserver", Server: true, DNS: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	p.client = testcerts.New(t, p.ca, testcerts.Options{CN: "pmclient", Client: true})
	p.serverDir = makeStore(t, p.ca, "pmserver_cert", p.server)
	p.clientDir = makeStore(t, p.ca, "pmclient_cert", p.client)
	return p
}

func makeStore(t *testing.T, ca *testcerts.Cert, nick string, id *testcerts.Cert) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	st, err := store.CreateWith(dir, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddCert("Root CA", ca.Cert, store.MustParseTrust("CT,,")); err != nil {
		t.Fatal(err)
	}
	if id != nil {
		if _, err := st.AddCert(nick, id.Cert, store.MustParseTrust("P,,")); err != nil {
			t.Fatal(err)
		}
		if err := st.ImportKey(nick, id.Key); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestServerRefusesCertWithoutServerAuth(t *testing.T) {
	p := newPKI(t)
	_, err := Server(ServerOptions{Store: p.clientDir, Nickname: "pmclient_cert"})
	if err == nil || !strings.Contains(err.Error(), "does not allow serverAuth") {
		t.Fatalf("got %v", err)
	}
	if _, err := Server(ServerOptions{Store: p.serverDir, Nickname: "nope"}); err == nil || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing nickname: %v", err)
	}
	_, err = Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert", Now: func() time.Time { return time.Now().Add(2 * 365 * 24 * time.Hour) }})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	cfg, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.RequireAnyClientCert {
		t.Fatalf("min %x auth %v", cfg.MinVersion, cfg.ClientAuth)
	}
}

func TestVerifyClientReasons(t *testing.T) {
	p := newPKI(t)
	other := testcerts.New(t, nil, testcerts.Options{CN: "otherCA", IsCA: true})
	st, _ := store.Open(p.serverDir, nil)
	a := storeAnchors(st, true)
	now := time.Now()
	cases := []struct {
		name string
		cert *testcerts.Cert
		want string
	}{
		{"good", p.client, ""},
		{"untrusted CA", testcerts.New(t, other, testcerts.Options{CN: "x", Client: true}), "not a trusted client CA"},
		{"expired", testcerts.New(t, p.ca, testcerts.Options{CN: "x", Client: true, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}), "expired"},
		{"not yet valid", testcerts.New(t, p.ca, testcerts.Options{CN: "x", Client: true, NotBefore: now.Add(time.Hour)}), "not valid before"},
		{"server-only EKU", testcerts.New(t, p.ca, testcerts.Options{CN: "x", Server: true}), "does not allow clientAuth"},
		{"no EKU at all (openssl x509 -req)", testcerts.New(t, p.ca, testcerts.Options{CN: "x"}), ""},
	}
	for _, c := range cases {
		err := VerifyClient([][]byte{c.cert.Cert.Raw}, a, now)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), Fingerprint(c.cert.Cert)) {
			t.Errorf("%s: got %v, want %q and the sha256", c.name, err, c.want)
		}
	}
}

func TestClientPolicy(t *testing.T) {
	p := newPKI(t)
	self := testcerts.New(t, nil, testcerts.Options{CN: "selfie", Server: true, DNS: []string{"localhost"}})
	st, _ := store.Open(p.clientDir, nil)
	a := storeAnchors(st, false)
	var warn bytes.Buffer
	o := ClientOptions{Warn: &warn}
	now := time.Now()
	var ue *UntrustedError
	var be *BadDomainError
	if err := o.verifyServer([]*x509.Certificate{p.server.Cert}, "127.0.0.1", a, nil, now); err != nil {
		t.Fatalf("trusted server: %v", err)
	}
	if err := o.verifyServer([]*x509.Certificate{self.Cert}, "localhost", a, nil, now); !errors.As(err, &ue) {
		t.Fatalf("self-signed: %v", err)
	}
	if err := o.verifyServer([]*x509.Certificate{p.server.Cert}, "wrong.example", a, nil, now); !errors.As(err, &be) {
		t.Fatalf("bad domain: %v", err)
	}
	if !strings.Contains(be.Error(), "PCP_ALLOW_BAD_CERT_DOMAIN") || !strings.Contains(ue.Error(), "PCP_ALLOW_SERVER_SELF_CERT") {
		t.Fatalf("errors do not name the fix: %v / %v", be, ue)
	}
	o.AllowSelfCert, o.AllowBadDomain = true, true
	if err := o.verifyServer([]*x509.Certificate{self.Cert}, "wrong.example", a, nil, now); err != nil {
		t.Fatal(err)
	}
	if w := warn.String(); !strings.Contains(w, "PCP_ALLOW_SERVER_SELF_CERT") || !strings.Contains(w, "PCP_ALLOW_BAD_CERT_DOMAIN") {
		t.Fatalf("warnings: %q", w)
	}
	// A pinned (P) certificate is accepted for the host it was pinned for.
	o = ClientOptions{}
	if err := o.verifyServer([]*x509.Certificate{self.Cert}, "wrong.example", a, []pin{{cert: self.Cert, host: "wrong.example"}}, now); err != nil {
		t.Fatalf("pinned: %v", err)
	}
}

// TestHandshake runs real TLS between configurations built from the two stores.
func TestHandshake(t *testing.T) {
	p := newPKI(t)
	srv, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	try := func(o ClientOptions) (clientErr, serverErr error) {
		cc, err := Client(o)("127.0.0.1")
		if err != nil {
			return err, nil
		}
		return testcerts.Handshake(t, srv, cc)
	}
	if ce, se := try(ClientOptions{StoreDir: p.clientDir}); ce != nil || se != nil {
		t.Fatalf("with certificate: client %v, server %v", ce, se)
	}
	empty := makeStore(t, p.ca, "", nil)
	if _, se := try(ClientOptions{StoreDir: empty}); se == nil || !strings.Contains(se.Error(), "certificate") {
		t.Fatalf("without certificate the server said %v", se)
	}
	if _, err := Client(ClientOptions{StoreDir: p.clientDir, Nickname: "nobody"})("h"); err == nil {
		t.Fatal("unknown nickname accepted")
	}
}

func TestParseTLSConf(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tls.conf")
	os.WriteFile(path, []byte("# server\ntls-cert-file = server.crt\ntls-key-file: /abs/server.key\ntls-verify-clients = yes\n"), 0o600)
	c, err := ParseTLSConf(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.CertFile != filepath.Join(dir, "server.crt") || c.KeyFile != "/abs/server.key" || !c.VerifyClients {
		t.Fatalf("%+v", c)
	}
	os.WriteFile(path, []byte("tls-cert-file = a\ntls-verify-client = true\n"), 0o600)
	if _, err := ParseTLSConf(path); err == nil || !strings.Contains(err.Error(), ":2: unknown key") {
		t.Fatalf("typo accepted: %v", err)
	}
}

// TestMissingClientTLSConf: a PCP_TLSCONF_PATH naming no file is ignored by the
// client, as libpcp ignores it.
func TestMissingClientTLSConf(t *testing.T) {
	if _, err := Client(ClientOptions{StoreDir: t.TempDir(), TLSConf: "/nonexistent/tls.conf"})("h"); err != nil {
		t.Fatal(err)
	}
}
