package tlsconfig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// issue makes a certificate from a template of the test's own, for the shapes
// testcerts does not make: a given key (a CA reissued under its old key), raw
// subject attributes (hostile names).
func issue(t *testing.T, tmpl *x509.Certificate, key crypto.Signer, parent *testcerts.Cert) *testcerts.Cert {
	t.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	}
	signer, skey := tmpl, key
	if parent != nil {
		signer, skey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), skey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testcerts.Cert{Cert: c, Key: key}
}

func addCert(t *testing.T, dir, nick string, c *testcerts.Cert, trust string) {
	t.Helper()
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddCert(nick, c.Cert, store.MustParseTrust(trust)); err != nil {
		t.Fatal(err)
	}
}

// leafConfig serves (or presents) a chain as it is, bypassing Server's checks,
// as a hostile peer would.
func leafConfig(id *testcerts.Cert, chain ...*testcerts.Cert) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Cert.Raw)
	}
	return c
}

// rawClient is a client that presents cert whatever the server asks for and
// verifies nothing: the attacker's side of a -Q server.
func rawClient(cert tls.Certificate) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
}

// rawServer serves cert as it is.
func rawServer(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
}

func wantDistrusted(t *testing.T, what string, err error, c *x509.Certificate) {
	t.Helper()
	var de *DistrustedError
	if !errors.As(err, &de) {
		t.Fatalf("%s: got %v, want a DistrustedError", what, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "distrusted in the store") || !strings.Contains(msg, Fingerprint(c)) || !strings.Contains(msg, c.Subject.CommonName) {
		t.Fatalf("%s: %q does not name the certificate (subject, sha256) and say it is distrusted", what, msg)
	}
}

// TestDistrustedClient: a client certificate marked p in the server's store is
// refused, with -Q and without, even though its CA is trusted.
func TestDistrustedClient(t *testing.T) {
	p := newPKI(t)
	addCert(t, p.serverDir, "revoked client", p.client, "p,,")
	for _, q := range []bool{true, false} {
		srv, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert", RequireClientCert: q})
		if err != nil {
			t.Fatal(err)
		}
		_, se := testcerts.Handshake(t, srv, rawClient(leafConfig(p.client)))
		wantDistrusted(t, "client with -Q="+map[bool]string{true: "on", false: "off"}[q], se, p.client.Cert)
		// Another client of the same CA still gets in.
		other := testcerts.New(t, p.ca, testcerts.Options{CN: "other", Client: true})
		if _, se := testcerts.Handshake(t, srv, rawClient(leafConfig(other))); se != nil {
			t.Fatalf("an undistrusted client was refused: %v", se)
		}
	}
}

// TestDistrustedServer: a server certificate marked p in the user's store is
// refused by the client, even though its CA is trusted, and the ALLOW variables
// do not override it.
func TestDistrustedServer(t *testing.T) {
	p := newPKI(t)
	addCert(t, p.clientDir, "bad server", p.server, "p,,")
	cc, err := Client(ClientOptions{StoreDir: p.clientDir, AllowSelfCert: true, AllowBadDomain: true})("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ce, _ := testcerts.Handshake(t, rawServer(leafConfig(p.server)), cc)
	wantDistrusted(t, "server", ce, p.server.Cert)
}

// TestDistrustedIntermediate: a chain through an intermediate CA marked p fails
// in both directions although the root is trusted, whether the peer sends the
// intermediate or the store supplies it, and also when the intermediate is
// reissued under the same key and subject (new serial and dates).
func TestDistrustedIntermediate(t *testing.T) {
	p := newPKI(t)
	interTmpl := func() *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: "Issuing CA 2"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
	}
	inter := issue(t, interTmpl(), nil, p.ca)
	reissued := issue(t, interTmpl(), inter.Key, p.ca)
	if bytes.Equal(inter.Cert.Raw, reissued.Cert.Raw) {
		t.Fatal("reissue made the same certificate")
	}
	srvLeaf := testcerts.New(t, inter, testcerts.Options{CN: "srv2", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	cliLeaf := testcerts.New(t, inter, testcerts.Options{CN: "cli2", Client: true})

	// Before it is distrusted both chains verify: the test shows what p changes.
	srv, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, se := testcerts.Handshake(t, srv, rawClient(leafConfig(cliLeaf, inter))); se != nil {
		t.Fatalf("chain through the intermediate refused before distrust: %v", se)
	}
	addCert(t, p.serverDir, "distrusted issuing CA", inter, "p,,")
	addCert(t, p.clientDir, "distrusted issuing CA", inter, "p,,")
	srv, err = Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, sent := range []*testcerts.Cert{inter, reissued} {
		_, se := testcerts.Handshake(t, srv, rawClient(leafConfig(cliLeaf, sent)))
		wantDistrusted(t, "client chain", se, sent.Cert)
		cc, err := Client(ClientOptions{StoreDir: p.clientDir})("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		ce, _ := testcerts.Handshake(t, rawServer(leafConfig(srvLeaf, sent)), cc)
		wantDistrusted(t, "server chain", ce, sent.Cert)
	}
	// Not sent by the peer: the store must not complete the chain with it.
	_, se := testcerts.Handshake(t, srv, rawClient(leafConfig(cliLeaf)))
	if se == nil {
		t.Fatal("chain completed through the distrusted intermediate from the store")
	}
}

// TestDistrustedForRole: "pT,," is a client CA for a server but distrusted when
// verifying servers.
func TestDistrustedForRole(t *testing.T) {
	p := newPKI(t)
	dir := filepath.Join(t.TempDir(), "db")
	if _, err := store.CreateWith(dir, nil, store.CreateOptions{TestOnlyFastKDF: true}); err != nil {
		t.Fatal(err)
	}
	addCert(t, dir, "client CA only", p.ca, "pT,,")
	st, _ := store.Open(dir, nil)
	if a := storeAnchors(st, true); len(a.Distrusted) != 0 || a.NumRoots != 1 {
		t.Fatalf("for clients: %d distrusted, %d roots; want 0 and 1", len(a.Distrusted), a.NumRoots)
	}
	if a := storeAnchors(st, false); len(a.Distrusted) != 1 || a.NumRoots != 0 {
		t.Fatalf("for servers: %d distrusted, %d roots; want 1 and 0", len(a.Distrusted), a.NumRoots)
	}
}

// TestRequireClientCertNeedsCA: -Q without a CA trusted for clients is a
// configuration error, from a store and from a tls.conf; never the system bundle.
func TestRequireClientCertNeedsCA(t *testing.T) {
	p := newPKI(t)
	st, _ := store.Open(p.serverDir, nil)
	if err := st.SetTrust("Root CA", store.MustParseTrust("C,,")); err != nil {
		t.Fatal(err)
	}
	_, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert", RequireClientCert: true})
	if err == nil || !strings.Contains(err.Error(), "no CA trusted for client certificates") || !strings.Contains(err.Error(), "-t CT,,") {
		t.Fatalf("-Q with no T CA: %v", err)
	}
	if _, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert"}); err != nil {
		t.Fatalf("without -Q the same store is fine: %v", err)
	}

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("server.crt", p.server.CertPEM())
	write("server.key", p.server.KeyPEM(t))
	write("ca.crt", p.ca.CertPEM())
	noCA := write("noca.conf", []byte("tls-cert-file = server.crt\ntls-key-file = server.key\n"))
	noCAVerify := write("noca-verify.conf", []byte("tls-cert-file = server.crt\ntls-key-file = server.key\ntls-verify-clients = true\n"))
	withCA := write("ca.conf", []byte("tls-cert-file = server.crt\ntls-key-file = server.key\ntls-ca-cert-file = ca.crt\n"))
	for _, o := range []ServerOptions{{TLSConf: noCA, RequireClientCert: true}, {TLSConf: noCAVerify}} {
		if _, err := Server(o); err == nil || !strings.Contains(err.Error(), "tls-ca-cert-file") {
			t.Fatalf("%+v: %v", o, err)
		}
	}
	// The CertificateRequest lists exactly the configured CAs: none without one
	// (not the system's), the CA file's with one.
	for _, c := range []struct {
		conf string
		want [][]byte
	}{{noCA, nil}, {withCA, [][]byte{p.ca.Cert.RawSubject}}} {
		srv, err := Server(ServerOptions{TLSConf: c.conf})
		if err != nil {
			t.Fatal(err)
		}
		if srv.ClientCAs == nil {
			t.Fatalf("%s: ClientCAs is nil (crypto/tls would not restrict it)", c.conf)
		}
		var got [][]byte
		cli := rawClient(leafConfig(p.client))
		cli.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			got = cri.AcceptableCAs
			return &tls.Certificate{}, nil
		}
		testcerts.Handshake(t, srv, cli)
		if len(got) != len(c.want) || len(got) == 1 && !bytes.Equal(got[0], c.want[0]) {
			t.Fatalf("%s: CertificateRequest lists %d CAs, want %d", c.conf, len(got), len(c.want))
		}
	}
}

// TestCAAsLeaf: a CA certificate is refused as the server's own identity, as a
// client's, as a server's, and as a pinned server.
func TestCAAsLeaf(t *testing.T) {
	p := newPKI(t)
	caSrv := testcerts.New(t, p.ca, testcerts.Options{CN: "sub CA with serverAuth", IsCA: true, Server: true, Client: true,
		DNS: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	dir := makeStore(t, p.ca, "ca-ident", caSrv)
	var ce *CAAsLeafError
	if _, err := Server(ServerOptions{Store: dir, Nickname: "ca-ident"}); !errors.As(err, &ce) || !strings.Contains(err.Error(), "CA:TRUE") {
		t.Fatalf("CA as server identity: %v", err)
	}
	srv, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, se := testcerts.Handshake(t, srv, rawClient(leafConfig(caSrv))); !errors.As(se, &ce) {
		t.Fatalf("CA as client: %v", se)
	}
	addCert(t, p.clientDir, "pinned CA", caSrv, "P,,")
	cc, err := Client(ClientOptions{StoreDir: p.clientDir, AllowSelfCert: true, AllowBadDomain: true})("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if ce2, _ := testcerts.Handshake(t, rawServer(leafConfig(caSrv)), cc); !errors.As(ce2, &ce) {
		t.Fatalf("CA as (pinned) server: %v", ce2)
	}
	if _, err := SavePeer(p.clientDir, "", "127.0.0.1", caSrv.Cert); !errors.As(err, &ce) {
		t.Fatalf("SavePeer of a CA: %v", err)
	}
}

// TestPinnedPeer: a certificate accepted at the prompt (P,,) is honoured only
// while valid, and only for its own names or the host it was accepted for.
func TestPinnedPeer(t *testing.T) {
	now := time.Now()
	self := testcerts.New(t, nil, testcerts.Options{CN: "selfie", Server: true, DNS: []string{"selfie.example"}})
	dir := filepath.Join(t.TempDir(), "db")
	nick, err := SavePeer(dir, "", "collector.example", self.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nick, "collector.example") {
		t.Fatalf("nickname %q does not record the host", nick)
	}
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, pins := storeAnchors(st, false), storePins(st)
	o := ClientOptions{}
	var ue *UntrustedError
	var pe *PinExpiredError
	for _, c := range []struct {
		host string
		now  time.Time
		ok   bool
	}{
		{"collector.example", now, true},
		{"COLLECTOR.example", now, true},
		{"selfie.example", now, true}, // a name the certificate holds
		{"other.example", now, false}, // neither
		{"collector.example.evil", now, false},
		{"collector.example", now.Add(2 * 365 * 24 * time.Hour), false}, // expired
		{"collector.example", now.Add(-48 * time.Hour), false},          // not yet valid
	} {
		err := o.verifyServer([]*x509.Certificate{self.Cert}, c.host, a, pins, c.now)
		switch {
		case c.ok && err != nil:
			t.Errorf("%s at %s: %v", c.host, c.now, err)
		case !c.ok && c.now.Equal(now) && !errors.As(err, &ue):
			t.Errorf("%s: got %v, want the usual UntrustedError (the prompt asks again)", c.host, err)
		case !c.ok && !c.now.Equal(now) && !errors.As(err, &pe):
			t.Errorf("%s at %s: got %v, want PinExpiredError", c.host, c.now, err)
		}
	}
	// A P,, made by hand (no host in its nickname) is good for its names only.
	other := testcerts.New(t, nil, testcerts.Options{CN: "o", Server: true, DNS: []string{"o.example"}})
	pins = []pin{{cert: other.Cert, nickname: "server x.example 0000000000000000", host: pinnedHost("server x.example 0000000000000000", other.Cert)}}
	if pins[0].host != "" {
		t.Fatal("a nickname with another certificate's fingerprint gave a host")
	}
	if err := o.verifyServer([]*x509.Certificate{other.Cert}, "x.example", a, pins, now); !errors.As(err, &ue) {
		t.Fatalf("forged nickname honoured: %v", err)
	}
	if err := o.verifyServer([]*x509.Certificate{other.Cert}, "o.example", a, pins, now); err != nil {
		t.Fatalf("pinned by name: %v", err)
	}
}

// hostile is a server certificate whose subject and names try to drive the
// terminal: clear the screen, ring the bell, overwrite and forge lines, and a C1
// CSI (0x9b in a T61String, which decodes as U+009B).
func hostile(t *testing.T) *testcerts.Cert {
	evil := "x\x1b[2J\a\rFAKE\nline"
	t61, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagT61String, Bytes: []byte("c1\x9b2J")})
	if err != nil {
		t.Fatal(err)
	}
	var ou asn1.RawValue
	if _, err := asn1.Unmarshal(t61, &ou); err != nil {
		t.Fatal(err)
	}
	return issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: evil, ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: ou}}},
		DNSNames:    []string{"san\x1b]0;title\a.example", "cr\rnl\n.example"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, nil, nil)
}

func assertInert(t *testing.T, what, s string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\a", "\r", "\u009b", "FAKE\n", "\nline"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s holds %q raw:\n%q", what, bad, s)
		}
	}
}

// TestHostileNamesEscaped: nothing from a certificate reaches the prompt,
// errors or warnings with its control characters.
func TestHostileNamesEscaped(t *testing.T) {
	p := newPKI(t)
	h := hostile(t)
	st, _ := store.Open(p.clientDir, nil)
	a := storeAnchors(st, false)
	var warn bytes.Buffer
	o := ClientOptions{Warn: &warn}
	err := o.verifyServer([]*x509.Certificate{h.Cert}, "host\x1b[2J", a, nil, time.Now())
	var ue *UntrustedError
	if !errors.As(err, &ue) {
		t.Fatal(err)
	}
	assertInert(t, "UntrustedError", err.Error())
	var out bytes.Buffer
	Prompt(err, strings.NewReader("n\n"), &out)
	assertInert(t, "prompt", out.String())
	if !strings.Contains(out.String(), `x\x1b[2J\a\rFAKE\nline`) || !strings.Contains(out.String(), `c1\u009b2J`) {
		t.Errorf("prompt does not show the escaped subject:\n%s", out.String())
	}
	err = o.verifyServer([]*x509.Certificate{p.server.Cert}, "wrong\r\n.example", a, nil, time.Now())
	assertInert(t, "BadDomainError", err.Error())
	out.Reset()
	Prompt(err, strings.NewReader("n\n"), &out)
	assertInert(t, "prompt (bad domain)", out.String())
	o.AllowSelfCert, o.AllowBadDomain = true, true
	if err := o.verifyServer([]*x509.Certificate{h.Cert}, "x\x1b.example", a, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	assertInert(t, "warnings", warn.String())
	addCert(t, p.clientDir, "hostile", h, "p,,")
	st, _ = store.Open(p.clientDir, nil)
	err = o.verifyServer([]*x509.Certificate{h.Cert}, "h", storeAnchors(st, false), nil, time.Now())
	wantDistrustedQuiet(t, err)
	assertInert(t, "DistrustedError", err.Error())
	assertInert(t, "CAAsLeafError", (&CAAsLeafError{Role: "server", Cert: h.Cert}).Error())
}

func wantDistrustedQuiet(t *testing.T, err error) {
	t.Helper()
	var de *DistrustedError
	if !errors.As(err, &de) {
		t.Fatalf("got %v, want a DistrustedError", err)
	}
}
