package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/keystore"
	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

func writePass(t *testing.T, dir, name, pw string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// javaFixture is the seed's four files made by keytool: the agent (our
// collector) has a JKS keystore with an EC server key and a JKS truststore;
// the server side (our client) a PKCS12 keystore with an RSA client key and
// the same JKS truststore.
type javaFixture struct {
	dir                            string
	agent, agentTrust, ui          JavaStores
	serverKS, clientKS, trustStore string
	serverPass, clientPass, tsPass string
	pki                            *testcerts.KeytoolPKI
}

func newJavaFixture(t *testing.T) *javaFixture {
	t.Helper()
	testcerts.NeedKeytool(t)
	d := t.TempDir()
	f := &javaFixture{dir: d}
	f.pki = testcerts.NewKeytoolPKI(t, d, "Org CA")
	f.serverKS = f.pki.Identity(t, testcerts.KeytoolIdentity{File: "keystore.jks", Type: "JKS", Alias: "agent", Password: "agent-pass",
		CN: "localhost", SAN: "dns:localhost,ip:127.0.0.1", EKU: "serverAuth"})
	f.clientKS = f.pki.Identity(t, testcerts.KeytoolIdentity{File: "keystore.p12", Type: "PKCS12", Alias: "ui", Password: "ui-pass",
		CN: "ui", RSA: true, EKU: "clientAuth"})
	f.trustStore = f.pki.Truststore(t, "truststore.jks", "JKS", "trust-pass")
	f.serverPass = writePass(t, d, "agent.pw", "agent-pass")
	f.clientPass = writePass(t, d, "ui.pw", "ui-pass")
	f.tsPass = writePass(t, d, "trust.pw", "trust-pass")
	f.agent = JavaStores{Keystore: f.serverKS, KeystorePasswordFile: f.serverPass, Truststore: f.trustStore, TruststoreType: "jks", TruststorePasswordFile: f.tsPass}
	f.ui = JavaStores{Keystore: f.clientKS, KeystoreType: "PKCS12", KeystorePasswordFile: f.clientPass, Truststore: f.trustStore, TruststorePasswordFile: f.tsPass}
	return f
}

func (f *javaFixture) client(t *testing.T, j JavaStores) *tls.Config {
	t.Helper()
	cfg, err := ClientOptions{StoreDir: filepath.Join(f.dir, "no-store"), Java: j}.config("localhost:44321")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestJavaKeystoresKeytool: keytool's files serve and verify both ways, and
// the attacker's side of each trust decision is refused.
func TestJavaKeystoresKeytool(t *testing.T) {
	f := newJavaFixture(t)
	srv, err := Server(ServerOptions{Java: f.agent, RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Certificates[0].Leaf.Subject.CommonName; got != "localhost" || len(srv.Certificates[0].Certificate) != 2 {
		t.Fatalf("server identity %q with %d certificates", got, len(srv.Certificates[0].Certificate))
	}
	if cerr, serr := testcerts.Handshake(t, srv, f.client(t, f.ui)); cerr != nil || serr != nil {
		t.Fatalf("keytool identities refused: client %v, server %v", cerr, serr)
	}

	// A client certificate from another CA (the attacker's own) is refused
	// under -Q, and so is a raw client that offers none.
	evilCA := testcerts.New(t, nil, testcerts.Options{CN: "Org CA", IsCA: true}) // same name, other key
	evil := testcerts.New(t, evilCA, testcerts.Options{CN: "ui", Client: true})
	evilID := &tls.Certificate{Certificate: [][]byte{evil.Cert.Raw, evilCA.Cert.Raw}, PrivateKey: evil.Key}
	raw := &tls.Config{InsecureSkipVerify: true, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return evilID, nil }}
	if _, serr := testcerts.Handshake(t, srv, raw); serr == nil || !strings.Contains(serr.Error(), "not a trusted client CA") {
		t.Errorf("client of another CA: server said %v", serr)
	}
	if _, serr := testcerts.Handshake(t, srv, &tls.Config{InsecureSkipVerify: true}); serr == nil {
		t.Error("a client without a certificate was accepted under -Q")
	}

	// A man in the middle with a certificate of another CA for the same name:
	// the truststore's client refuses it.
	mitm := testcerts.New(t, evilCA, testcerts.Options{CN: "localhost", DNS: []string{"localhost"}, Server: true})
	mitmSrv := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{mitm.Cert.Raw}, PrivateKey: mitm.Key}}}
	var ue *UntrustedError
	if cerr, _ := testcerts.Handshake(t, mitmSrv, f.client(t, f.ui)); !errors.As(cerr, &ue) {
		t.Errorf("man in the middle: client said %v", cerr)
	}
	// A truststore-only client (no keystore) verifies the server too.
	if cerr, serr := testcerts.Handshake(t, mustServer(t, ServerOptions{Java: f.agent}), f.client(t, JavaStores{Truststore: f.trustStore, TruststorePasswordFile: f.tsPass})); cerr != nil || serr != nil {
		t.Errorf("truststore-only client: %v / %v", cerr, serr)
	}

	// The files the daemons watch.
	want := []string{f.serverPass, f.serverKS, f.tsPass, f.trustStore}
	if got := (ServerOptions{Java: f.agent}).Files(); strings.Join(got, " ") != strings.Join(sortedCopy(want), " ") {
		t.Errorf("Files() = %v, want %v", got, want)
	}
	t.Run("errors", func(t *testing.T) { javaKeystoreErrors(t, f) })
}

func mustServer(t *testing.T, o ServerOptions) *tls.Config {
	t.Helper()
	cfg, err := Server(o)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// javaKeystoreErrors: each misconfiguration is an error naming the file and
// what to change.
func javaKeystoreErrors(t *testing.T, f *javaFixture) {
	wrong := writePass(t, f.dir, "wrong.pw", "not-it")
	// Two key entries: the RSA client key added beside the agent's.
	two := f.pki.Identity(t, testcerts.KeytoolIdentity{File: "two.jks", Type: "JKS", Alias: "first", Password: "two-pass", CN: "localhost", EKU: "serverAuth"})
	f.pki.Identity(t, testcerts.KeytoolIdentity{File: "two.jks", Type: "JKS", Alias: "second", Password: "two-pass", CN: "localhost", RSA: true, EKU: "serverAuth"})
	twoPass := writePass(t, f.dir, "two.pw", "two-pass")
	pem := filepath.Join(f.dir, "ca.crt")

	for _, tc := range []struct {
		name string
		o    ServerOptions
		want []string
	}{
		{"wrong keystore password", ServerOptions{Java: JavaStores{Keystore: f.serverKS, KeystorePasswordFile: wrong}},
			[]string{f.serverKS, "password is wrong", wrong}},
		{"wrong truststore password", ServerOptions{Java: JavaStores{Keystore: f.serverKS, KeystorePasswordFile: f.serverPass, Truststore: f.trustStore, TruststorePasswordFile: wrong}},
			[]string{f.trustStore, "password is wrong"}},
		{"truststore as keystore", ServerOptions{Java: JavaStores{Keystore: f.trustStore, KeystorePasswordFile: f.tsPass}},
			[]string{f.trustStore, "no private key entry", "truststore"}},
		{"keystore as truststore", ServerOptions{Java: JavaStores{Keystore: f.serverKS, KeystorePasswordFile: f.serverPass, Truststore: f.clientKS, TruststorePasswordFile: f.clientPass}},
			[]string{f.clientKS, "no trusted-certificate entry"}},
		{"several keys", ServerOptions{Java: JavaStores{Keystore: two, KeystorePasswordFile: twoPass}},
			[]string{two, "2 key entries", `"first", "second"`, "key_alias"}},
		{"unknown alias", ServerOptions{Java: JavaStores{Keystore: two, KeystorePasswordFile: twoPass, KeyAlias: "third\x1b[31m"}},
			[]string{two, `"third\x1b[31m"`, `"first", "second"`}},
		{"type mismatch", ServerOptions{Java: JavaStores{Keystore: f.serverKS, KeystoreType: "pkcs12", KeystorePasswordFile: f.serverPass}},
			[]string{f.serverKS, "not PKCS12"}},
		{"unknown type", ServerOptions{Java: JavaStores{Keystore: f.serverKS, KeystoreType: "jceks"}}, []string{"keystore_type", "want jks or pkcs12"}},
		{"PEM file", ServerOptions{Java: JavaStores{Keystore: pem}}, []string{pem, "PEM file, not a keystore"}},
		{"missing file", ServerOptions{Java: JavaStores{Keystore: filepath.Join(f.dir, "nope.jks")}}, []string{"nope.jks", "no such file"}},
		{"client key as server", ServerOptions{Java: f.ui}, []string{"serverAuth"}},
		{"two sources", ServerOptions{Java: f.agent, Store: f.dir, Nickname: "x"}, []string{"one source", "keystore (" + f.serverKS, "store (" + f.dir}},
		{"truststore without keystore", ServerOptions{Store: f.dir, Nickname: "x", Java: JavaStores{Truststore: f.trustStore}}, []string{"goes with a keystore"}},
		{"password without keystore", ServerOptions{Store: f.dir, Nickname: "x", Java: JavaStores{KeystorePasswordFile: f.serverPass}}, []string{"need keystore"}},
		{"-Q without truststore", ServerOptions{Java: JavaStores{Keystore: f.serverKS, KeystorePasswordFile: f.serverPass}, RequireClientCert: true},
			[]string{"no CA trusted for client certificates", "truststore"}},
	} {
		_, err := Server(tc.o)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tc.name, err, w)
			}
		}
	}
	// The alias picks one of several, case-insensitively as Java does.
	cfg, err := Server(ServerOptions{Java: JavaStores{Keystore: two, KeystorePasswordFile: twoPass, KeyAlias: "SECOND"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Certificates[0].PrivateKey.(interface{ Size() int }); !ok {
		t.Errorf("alias second should be the RSA key, got %T", cfg.Certificates[0].PrivateKey)
	}
}

// TestJavaKeystoreCertdbExport: the files certdb export-keystore and
// export-truststore write (keystore.EncodeKeystore, EncodeTruststore) serve
// too, including a PKCS12 truststore, and CRLs verify against the truststore.
func TestJavaKeystoreCertdbExport(t *testing.T) {
	d := t.TempDir()
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Export CA", IsCA: true})
	srvCert := testcerts.New(t, ca, testcerts.Options{CN: "localhost", DNS: []string{"localhost"}, Server: true, RSA: true})
	cli := testcerts.New(t, ca, testcerts.Options{CN: "cli", Client: true})
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := writePass(t, d, "pw", "secret")
	ks := write("srv.p12", encodeKS(t, keystore.PKCS12, "collector", srvCert, ca, []byte("secret")))
	tsData, err := keystore.EncodeTruststore(keystore.PKCS12, []keystore.TrustedCert{{Alias: "export ca", Cert: ca.Cert}}, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	ts := write("trust.p12", tsData)
	cks := write("cli.jks", encodeKS(t, keystore.JKS, "cli", cli, ca, []byte("secret")))
	srv := mustServer(t, ServerOptions{Java: JavaStores{Keystore: ks, KeystorePasswordFile: pw, Truststore: ts, TruststorePasswordFile: pw}, RequireClientCert: true})
	c, err := ClientOptions{StoreDir: filepath.Join(d, "none"), Java: JavaStores{Keystore: cks, KeystorePasswordFile: pw, Truststore: ts, TruststorePasswordFile: pw}}.config("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if cerr, serr := testcerts.Handshake(t, srv, c); cerr != nil || serr != nil {
		t.Fatalf("certdb-exported keystores: %v / %v", cerr, serr)
	}

	// A CRL from the truststore's CA revoking the client: refused. From a CA
	// the truststore does not hold: a configuration error naming the file.
	crl := write("ca.crl", crlPEM(makeCRL(t, ca, 1, time.Now().Add(time.Hour), cli)))
	srv = mustServer(t, ServerOptions{Java: JavaStores{Keystore: ks, KeystorePasswordFile: pw, Truststore: ts, TruststorePasswordFile: pw}, RequireClientCert: true, CRLFiles: []string{crl}})
	if _, serr := testcerts.Handshake(t, srv, c); serr == nil || !strings.Contains(serr.Error(), "revoked") {
		t.Errorf("revoked client: %v", serr)
	}
	other := testcerts.New(t, nil, testcerts.Options{CN: "Other CA", IsCA: true})
	bad := write("other.crl", crlPEM(makeCRL(t, other, 1, time.Now().Add(time.Hour))))
	if _, err := Server(ServerOptions{Java: JavaStores{Keystore: ks, KeystorePasswordFile: pw, Truststore: ts, TruststorePasswordFile: pw}, CRLFiles: []string{bad}}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("CRL of an unknown CA: %v", err)
	}
}

func encodeKS(t *testing.T, typ keystore.Type, alias string, id, ca *testcerts.Cert, pw []byte) []byte {
	t.Helper()
	b, err := keystore.EncodeKeystore(typ, keystore.Identity{Alias: alias, Key: id.Key, Chain: []*x509.Certificate{id.Cert, ca.Cert}}, pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJavaTLSConf: pminfo's keystore keys in a tls.conf (PCP_TLSCONF_PATH).
func TestJavaTLSConf(t *testing.T) {
	d := t.TempDir()
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Conf CA", IsCA: true})
	srvCert := testcerts.New(t, ca, testcerts.Options{CN: "localhost", DNS: []string{"localhost"}, Server: true})
	cli := testcerts.New(t, ca, testcerts.Options{CN: "cli", Client: true})
	ksData := encodeKS(t, keystore.JKS, "me", cli, ca, []byte("pw1"))
	tsData, err := keystore.EncodeTruststore(keystore.JKS, []keystore.TrustedCert{{Alias: "ca", Cert: ca.Cert}}, []byte("pw2"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"me.jks": ksData, "trust.jks": tsData} {
		if err := os.WriteFile(filepath.Join(d, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePass(t, d, "ks.pw", "pw1")
	writePass(t, d, "ts.pw", "pw2")
	conf := filepath.Join(d, "tls.conf")
	// Relative paths are relative to the tls.conf, as for its other files.
	os.WriteFile(conf, []byte("tls-keystore = me.jks\ntls-keystore-password-file = ks.pw\ntls-key-alias = ME\ntls-truststore = trust.jks\ntls-truststore-type = jks\ntls-truststore-password-file = ts.pw\n"), 0o600)
	srvKS := encodeKS(t, keystore.PKCS12, "srv", srvCert, ca, []byte("x"))
	os.WriteFile(filepath.Join(d, "srv.p12"), srvKS, 0o600)
	writePass(t, d, "srv.pw", "x")
	srv := mustServer(t, ServerOptions{RequireClientCert: true, Java: JavaStores{Keystore: filepath.Join(d, "srv.p12"), KeystorePasswordFile: filepath.Join(d, "srv.pw"),
		Truststore: filepath.Join(d, "trust.jks"), TruststorePasswordFile: filepath.Join(d, "ts.pw")}})
	c, err := ClientOptions{StoreDir: filepath.Join(d, "none"), TLSConf: conf}.config("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if cerr, serr := testcerts.Handshake(t, srv, c); cerr != nil || serr != nil {
		t.Fatalf("tls.conf keystore: %v / %v", cerr, serr)
	}
	if got := (ClientOptions{StoreDir: filepath.Join(d, "none"), TLSConf: conf}).Stores(); !strings.Contains(got, "keystore "+filepath.Join(d, "me.jks")+` (key entry "ME")`) ||
		!strings.Contains(got, "truststore "+filepath.Join(d, "trust.jks")) {
		t.Errorf("Stores() = %q", got)
	}
	// Both a certificate file and a keystore: refused, naming the file.
	os.WriteFile(conf, []byte("tls-keystore = me.jks\ntls-client-cert-file = c.pem\n"), 0o600)
	if _, err := ParseTLSConf(conf); err == nil || !strings.Contains(err.Error(), "alternatives") || !strings.Contains(err.Error(), conf) {
		t.Errorf("keystore and cert file: %v", err)
	}
	os.WriteFile(conf, []byte("tls-truststore-password-file = ts.pw\n"), 0o600)
	if _, err := ParseTLSConf(conf); err == nil || !strings.Contains(err.Error(), "tls-truststore-password-file") || !strings.Contains(err.Error(), "need tls-truststore") {
		t.Errorf("password without truststore: %v", err)
	}
	// A wrong keystore password: a ConfigError naming the file, before any
	// handshake.
	os.WriteFile(conf, []byte("tls-keystore = me.jks\n"), 0o600)
	var ce *ConfigError
	if _, err := (ClientOptions{StoreDir: filepath.Join(d, "none"), TLSConf: conf}).config("localhost"); !errors.As(err, &ce) ||
		!strings.Contains(err.Error(), filepath.Join(d, "me.jks")) || !strings.Contains(err.Error(), "password is wrong") {
		t.Errorf("wrong keystore password: %v", err)
	}
	// Settings in both the TOML (proxyd) and the tls.conf: refused.
	os.WriteFile(conf, []byte("tls-truststore = trust.jks\n"), 0o600)
	// A daemon's tls.conf with the keystore keys: refused, saying where they go.
	if _, err := Server(ServerOptions{TLSConf: conf}); err == nil || !strings.Contains(err.Error(), "[tls] section") {
		t.Errorf("server tls.conf with tls-keystore: %v", err)
	}
	if _, err := (ClientOptions{StoreDir: filepath.Join(d, "none"), TLSConf: conf, Java: JavaStores{Truststore: "x"}}).config("localhost"); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("keystore settings twice: %v", err)
	}
}

// TestJavaAliasEscaped: an alias from a hostile keystore is shown escaped in
// the error that lists the aliases (it reaches logs and terminals).
func TestJavaAliasEscaped(t *testing.T) {
	d := t.TempDir()
	ca := testcerts.New(t, nil, testcerts.Options{CN: "CA", IsCA: true})
	srv := testcerts.New(t, ca, testcerts.Options{CN: "localhost", DNS: []string{"localhost"}, Server: true})
	data, err := keystore.EncodeKeystore(keystore.JKS, keystore.Identity{Alias: "evil\x1b]0;owned\a\u202e", Key: srv.Key, Chain: []*x509.Certificate{srv.Cert}}, []byte("pw"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ks := filepath.Join(d, "evil.jks")
	os.WriteFile(ks, data, 0o600)
	_, err = Server(ServerOptions{Java: JavaStores{Keystore: ks, KeystorePasswordFile: writePass(t, d, "pw", "pw"), KeyAlias: "other"}})
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\a\u202e") || !strings.Contains(err.Error(), `evil\x1b]0;owned`) {
		t.Fatalf("alias not escaped: %q", err)
	}
}

// TestJavaOnlyIgnoresDefaultStore: a client configured with a truststore and
// no store (proxyd's [upstream.client]) does not take CAs from the default
// user store: a server of a CA trusted only there is refused.
func TestJavaOnlyIgnoresDefaultStore(t *testing.T) {
	d := t.TempDir()
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Org CA", IsCA: true})
	other := testcerts.New(t, nil, testcerts.Options{CN: "Other CA", IsCA: true})
	srv := testcerts.New(t, other, testcerts.Options{CN: "localhost", DNS: []string{"localhost"}, Server: true})
	userStore := filepath.Join(d, "user")
	st, err := store.CreateWith(userStore, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddCert("other", other.Cert, store.MustParseTrust("CT,,")); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDBPath, userStore)
	tsData, err := keystore.EncodeTruststore(keystore.JKS, []keystore.TrustedCert{{Alias: "ca", Cert: ca.Cert}}, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	ts := filepath.Join(d, "trust.jks")
	os.WriteFile(ts, tsData, 0o600)
	cfg, err := ClientOptions{Java: JavaStores{Truststore: ts, TruststorePasswordFile: writePass(t, d, "pw", "pw")}}.config("localhost")
	if err != nil {
		t.Fatal(err)
	}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srv.Cert.Raw}, PrivateKey: srv.Key}}}
	var ue *UntrustedError
	if cerr, _ := testcerts.Handshake(t, srvCfg, cfg); !errors.As(cerr, &ue) {
		t.Fatalf("server of a CA trusted only in the default store: %v", cerr)
	}
	// Without the truststore setting the default store is read, as before.
	cfg, err = ClientOptions{}.config("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if cerr, _ := testcerts.Handshake(t, srvCfg, cfg); cerr != nil {
		t.Fatalf("default store not read without keystore settings: %v", cerr)
	}
}
