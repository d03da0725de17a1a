package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/certdb/keystore"
	cserver "github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
)

// javaFiles writes the seed's server-side pair as certdb export-keystore and
// export-truststore write them (keystore.EncodeKeystore, EncodeTruststore): a
// keystore of typ with id's key and chain, and a JKS truststore with ca.
func javaFiles(t *testing.T, dir string, typ keystore.Type, id, ca *testcerts.Cert) (ks, ts, pw string) {
	t.Helper()
	ks, ts, pw = filepath.Join(dir, "keystore."+string(typ)), filepath.Join(dir, "truststore.jks"), filepath.Join(dir, "pass")
	data, err := keystore.EncodeKeystore(typ, keystore.Identity{Alias: "proxyd", Key: id.Key, Chain: []*x509.Certificate{id.Cert, ca.Cert}}, []byte("store pass"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ks, data, 0o600); err != nil {
		t.Fatal(err)
	}
	data, err = keystore.EncodeTruststore(keystore.JKS, []keystore.TrustedCert{{Alias: "org ca", Cert: ca.Cert}}, []byte("store pass"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ts, data, 0o600); err != nil {
		t.Fatal(err)
	}
	rewrite(t, pw, "store pass\n")
	return ks, ts, pw
}

func javaKeys(ks, ts, pw string) string {
	return "keystore = " + strconv.Quote(ks) + "\nkeystore_password_file = " + strconv.Quote(pw) +
		"\ntruststore = " + strconv.Quote(ts) + "\ntruststore_type = \"jks\"\ntruststore_password_file = " + strconv.Quote(pw) + "\n"
}

// TestUpstreamKeystore is the seed's server side: proxyd connects to a
// collector that requires client certificates (-Q) with a PKCS12 keystore
// (its client certificate) and a JKS truststore (the collector's CA), from
// [upstream.client] and from a [[collector]] entry. A collector with a
// certificate of another CA for the same address (a man in the middle) is
// refused.
func TestUpstreamKeystore(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, func(s *cserver.Server) {
		cfg := pki.ServerTLS(t, true)
		s.TLSConfig = func() *tls.Config { return cfg }
	})
	ks, ts, pw := javaFiles(t, t.TempDir(), keystore.PKCS12, pki.Client, pki.CA)
	u := "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	for name, conf := range map[string]string{
		"upstream.client": "[upstream]\nallow = [" + strconv.Quote(col.Addr) + "]\n[upstream.client]\nsecure = \"enforce\"\n" + javaKeys(ks, ts, pw),
		"collector":       "[[collector]]\nhost = \"127.0.0.1\"\nport = " + strconv.Itoa(col.Port) + "\nsecure = \"enforce\"\n" + javaKeys(ks, ts, pw),
	} {
		p := startConfig(t, conf+"[reload]\nwatch_interval = \"0s\"\n")
		if code, body := get(t, http.DefaultClient, p.url()+u); code != 200 || !strings.Contains(body, "hinv.ncpu") {
			t.Fatalf("%s: %d %s\n%s", name, code, body, p.logs)
		}
	}
	// Without the keystore (truststore only) the -Q collector refuses proxyd.
	p := startConfig(t, "[upstream]\nallow = ["+strconv.Quote(col.Addr)+"]\n[upstream.client]\nsecure = \"enforce\"\ntruststore = "+strconv.Quote(ts)+
		"\ntruststore_password_file = "+strconv.Quote(pw)+"\n")
	if code, body := get(t, http.DefaultClient, p.url()+u); code == 200 {
		t.Fatalf("served without a client certificate: %s", body)
	}

	// The man in the middle: same address, a certificate of another CA.
	evilCA := testcerts.New(t, nil, testcerts.Options{CN: "proxyd test CA", IsCA: true})
	evil := testcerts.New(t, evilCA, testcerts.Options{CN: "collector", Server: true, DNS: []string{"localhost"}})
	mitm := ptest.StartCollector(t, func(s *cserver.Server) {
		cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{evil.Cert.Raw, evilCA.Cert.Raw}, PrivateKey: evil.Key}}}
		s.TLSConfig = func() *tls.Config { return cfg }
	})
	p = startConfig(t, "[upstream]\nallow = ["+strconv.Quote(mitm.Addr)+"]\n[upstream.client]\nsecure = \"enforce\"\n"+javaKeys(ks, ts, pw))
	code, body := get(t, http.DefaultClient, p.url()+"/pmapi/fetch?names=hinv.ncpu&hostspec="+mitm.Addr)
	if code == 200 || !strings.Contains(body, "not trusted") {
		t.Fatalf("man in the middle: %d %s", code, body)
	}
}

// TestTLSKeystoreReload: proxyd's own identity from a JKS keystore with -Q
// and a JKS truststore; a client of another CA is refused; a keystore with a
// wrong password keeps the last good identity and names the file; a renewed
// keystore is picked up by the watch.
func TestTLSKeystoreReload(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, nil)
	dir := t.TempDir()
	ks, ts, pw := javaFiles(t, dir, keystore.JKS, pki.Server, pki.CA)
	p := startConfig(t, "[tls]\nrequire_client_cert = true\n"+javaKeys(ks, ts, pw)+"[reload]\nwatch_interval = \"50ms\"\n", "--allow", "127.0.0.1")
	roots := x509.NewCertPool()
	roots.AddCert(pki.CA.Cert)
	u := "https://" + p.addr + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	with := func(id *testcerts.Cert, ca *testcerts.Cert) *http.Client {
		cert := &tls.Certificate{Certificate: [][]byte{id.Cert.Raw, ca.Cert.Raw}, PrivateKey: id.Key}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost",
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}}}
	}
	if code, body := get(t, with(pki.Client, pki.CA), u); code != 200 {
		t.Fatalf("client of the truststore's CA: %d %s", code, body)
	}
	evilCA := testcerts.New(t, nil, testcerts.Options{CN: "proxyd test CA", IsCA: true})
	evil := testcerts.New(t, evilCA, testcerts.Options{CN: "monitor", Client: true})
	if resp, err := with(evil, evilCA).Get(u); err == nil {
		resp.Body.Close()
		t.Fatalf("client of another CA served: %d", resp.StatusCode)
	}
	for _, f := range []string{ks, ts, pw} {
		if !strings.Contains(strings.Join(tlsFiles(p.rl.Current().cfg.TLS), " "), f) {
			t.Errorf("the watch does not look at %s", f)
		}
	}

	// A wrong password (the keystore rewritten under another one): refused,
	// the last good identity stays, the log names the file.
	renewed := testcerts.New(t, pki.CA, testcerts.Options{CN: "renewed", Server: true, DNS: []string{"localhost"}})
	data, err := keystore.EncodeKeystore(keystore.JKS, keystore.Identity{Alias: "proxyd", Key: renewed.Key, Chain: []*x509.Certificate{renewed.Cert}}, []byte("other pass"), nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ks, data, 0o600)
	waitUntil(t, "the failure", func() bool { return p.rl.Stats().Failures() >= 1 })
	if got := served(t, p, roots); !got.Equal(pki.Server.Cert) {
		t.Fatalf("serving %s after a failed reload", got.Subject)
	}
	if logs := p.logs.String(); !strings.Contains(logs, "reload failed") || !strings.Contains(logs, "password is wrong") || !strings.Contains(logs, ks) {
		t.Fatalf("log does not say why, naming the file:\n%s", logs)
	}
	// The same renewed keystore under the right password: applied.
	data, err = keystore.EncodeKeystore(keystore.JKS, keystore.Identity{Alias: "proxyd", Key: renewed.Key, Chain: []*x509.Certificate{renewed.Cert}}, []byte("store pass"), nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ks, data, 0o600)
	waitUntil(t, "the renewed keystore", func() bool { return served(t, p, roots).Equal(renewed.Cert) })
}

// TestKeystoreConfigErrors: two identity sources in one section, keystore
// settings without a keystore.
func TestKeystoreConfigErrors(t *testing.T) {
	for _, tc := range []struct{ toml, want string }{
		{"[tls]\nkeystore = \"/k\"\ncert_db = \"/s\"\nnickname = \"n\"\n", "alternative to cert_db"},
		{"[tls]\ncert_db = \"/s\"\nnickname = \"n\"\ntruststore = \"/t\"\n", "truststore goes with tls.keystore"},
		{"[upstream.client]\nkeystore = \"/k\"\ncert_db = \"/s\"\n", "upstream.client: keystore is an alternative"},
		{"[upstream.client]\ntls_conf = \"/c\"\ntruststore = \"/t\"\n", "upstream.client: truststore is an alternative"},
		{"[[collector]]\nhost = \"db1\"\nkeystore = \"/k\"\ntls_conf = \"/c\"\n", "collector db1: keystore is an alternative"},
		{"[[collector]]\nhost = \"db1\"\nkey_alias = \"a\"\n", "need keystore"},
		{"[upstream.client]\nkeystore = \"/k\"\nkeystore_type = \"jceks\"\n", "want jks or pkcs12"},
	} {
		path := writeFile(t, "c.toml", tc.toml)
		c, err := LoadConfig(path, true)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.toml, err, tc.want)
		}
	}
}
