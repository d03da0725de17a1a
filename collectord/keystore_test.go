package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/keystore"
	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/tlsconfig"
)

// writeKeystore writes a keystore of typ holding id (chain id, ca) under pw.
func writeKeystore(t *testing.T, path string, typ keystore.Type, id, ca *testcerts.Cert, pw string) {
	t.Helper()
	data, err := keystore.EncodeKeystore(typ, keystore.Identity{Alias: "collector", Key: id.Key, Chain: []*x509.Certificate{id.Cert, ca.Cert}}, []byte(pw), nil)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(data))
}

func writeTruststore(t *testing.T, path string, typ keystore.Type, pw string, cas ...*testcerts.Cert) {
	t.Helper()
	var list []keystore.TrustedCert
	for i, c := range cas {
		list = append(list, keystore.TrustedCert{Alias: "ca" + strconv.Itoa(i), Cert: c.Cert})
	}
	data, err := keystore.EncodeTruststore(typ, list, []byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(data))
}

// TestKeystoreConfigErrors: one identity source, keystore settings only with
// a keystore, known types.
func TestKeystoreConfigErrors(t *testing.T) {
	for _, tc := range []struct{ toml, want string }{
		{"[tls]\nkeystore = \"/k.jks\"\ncert_db = \"/s\"\nnickname = \"n\"\n", "alternative to cert_db"},
		{"[tls]\nkeystore = \"/k.jks\"\ntls_conf = \"/t.conf\"\n", "alternative to cert_db (-C) and tls_conf"},
		{"[tls]\ncert_db = \"/s\"\nnickname = \"n\"\ntruststore = \"/t.jks\"\n", "truststore goes with tls.keystore"},
		{"[tls]\ncert_db = \"/s\"\nnickname = \"n\"\nkey_alias = \"a\"\n", "need keystore"},
		{"[tls]\nkeystore = \"/k.jks\"\nkeystore_type = \"jceks\"\n", "want jks or pkcs12"},
		{"[tls]\nkeystore = \"/k.jks\"\ntruststore_password_file = \"/p\"\n", "need truststore"},
	} {
		path := filepath.Join(t.TempDir(), "c.toml")
		writeFile(t, path, tc.toml)
		if _, err := LoadConfig(path, true); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.toml, err, tc.want)
		}
	}
	// require_client_cert with only a keystore is a valid file; the missing
	// truststore is the TLS build's error, naming what to set.
	path := filepath.Join(t.TempDir(), "c.toml")
	writeFile(t, path, "[tls]\nkeystore = \"/k.jks\"\nrequire_client_cert = true\n")
	if _, err := LoadConfig(path, true); err != nil {
		t.Errorf("keystore with -Q: %v", err)
	}
}

// TestReloadKeystore: SIGHUP and the watch apply a renewed keystore; a wrong
// password, a keystore without a key entry and a half-written file are
// refused with the file named, the last good identity staying in service.
func TestReloadKeystore(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Test CA", IsCA: true})
	dir := t.TempDir()
	ks, pw, ts := filepath.Join(dir, "collector.jks"), filepath.Join(dir, "ks.pw"), filepath.Join(dir, "trust.p12")
	good := serverCert(t, ca, "good")
	writeKeystore(t, ks, keystore.JKS, good, ca, "changeit")
	writeFile(t, pw, "changeit\n")
	writeTruststore(t, ts, keystore.PKCS12, "", ca)
	base := "[reload]\nwatch_interval = \"0s\"\n[tls]\nkeystore = \"" + ks + "\"\nkeystore_password_file = \"" + pw + "\"\ntruststore = \"" + ts + "\"\n"
	h := startReloader(t, base, ca)
	if s := h.connect(t); !s.served.Equal(good.Cert) {
		t.Fatal("not serving the keystore's certificate")
	}
	for _, f := range []string{ks, pw, ts} {
		if !strings.Contains(strings.Join(tlsFiles(h.rl.Config().TLS), " "), f) {
			t.Errorf("the watch does not look at %s: %v", f, tlsFiles(h.rl.Config().TLS))
		}
	}
	data, _ := os.ReadFile(ks)
	for _, tc := range []struct {
		name   string
		break_ func()
		want   []string
	}{
		{"wrong password", func() { writeFile(t, pw, "not-it\n") }, []string{ks, "password is wrong", pw}},
		{"no key entry", func() { writeTruststore(t, ks, keystore.JKS, "changeit", ca) }, []string{ks, "no private key entry"}},
		{"half-written keystore", func() { writeFile(t, ks, string(data[:len(data)/2])) }, []string{ks}},
		{"truststore gone", func() { os.Remove(ts) }, []string{ts}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeKeystore(t, ks, keystore.JKS, good, ca, "changeit")
			writeFile(t, pw, "changeit\n")
			writeTruststore(t, ts, keystore.PKCS12, "", ca)
			tc.break_()
			before := len(h.log.String())
			if err := h.rl.Reload("SIGHUP"); err == nil {
				t.Fatal("reload accepted a broken keystore")
			}
			line := h.log.String()[before:]
			if !strings.Contains(line, "reload failed; keeping the last good configuration") {
				t.Fatalf("log:\n%s", line)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("log line lacks %q:\n%s", w, line)
				}
			}
			s := h.connect(t)
			if !s.served.Equal(good.Cert) {
				t.Fatalf("serving %s after a failed reload", s.served.Subject)
			}
			s.fetch(t)
		})
	}
	writeFile(t, pw, "changeit\n")
	writeTruststore(t, ts, keystore.PKCS12, "", ca)
	writeKeystore(t, ks, keystore.JKS, good, ca, "changeit")
	if err := h.rl.Reload("SIGHUP"); err != nil {
		t.Fatal(err)
	}

	// The watch: a renewed keystore (now PKCS12, detected) is applied.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.rl.Watch(ctx, 30*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	renewed := serverCert(t, ca, "renewed")
	writeKeystore(t, ks, keystore.PKCS12, renewed, ca, "changeit")
	waitFor(t, 5*time.Second, "the watch to apply the renewed keystore", func() bool {
		return h.rl.TLSConfig().Certificates[0].Leaf.Equal(renewed.Cert)
	})
	if s := h.connect(t); !s.served.Equal(renewed.Cert) {
		t.Fatal("new handshake did not get the renewed certificate")
	}
}

// TestKeytoolKeystoreServesPminfo is the seed's agent side: collectord's
// identity is a JKS keystore and its client CAs a JKS truststore, all made by
// keytool, with -Q. The real PCP pminfo (its client certificate through
// PCP_TLSCONF_PATH, as PEM) and ours (the keystore keys in its tls.conf) are
// served; a client of another CA is refused.
func TestKeytoolKeystoreServesPminfo(t *testing.T) {
	testcerts.NeedKeytool(t)
	d := t.TempDir()
	pki := testcerts.NewKeytoolPKI(t, d, "Org CA")
	ks := pki.Identity(t, testcerts.KeytoolIdentity{File: "keystore.jks", Type: "JKS", Alias: "agent", Password: "agent-pass",
		CN: "localhost", SAN: "dns:localhost,ip:127.0.0.1", EKU: "serverAuth"})
	cks := pki.Identity(t, testcerts.KeytoolIdentity{File: "client.p12", Type: "PKCS12", Alias: "ui", Password: "ui-pass",
		CN: "ui", RSA: true, EKU: "clientAuth"})
	ts := pki.Truststore(t, "truststore.jks", "JKS", "trust-pass")
	in := func(f string) string { return filepath.Join(d, f) }
	writeFile(t, in("agent.pw"), "agent-pass\n")
	writeFile(t, in("ui.pw"), "ui-pass\n")
	writeFile(t, in("trust.pw"), "trust-pass\n")
	caPEM, _ := os.ReadFile(pki.CAPEM)
	cas, err := store.ParseCertificates(caPEM)
	if err != nil || len(cas) != 1 {
		t.Fatalf("%s: %v", pki.CAPEM, err)
	}
	h := startReloader(t, "[reload]\nwatch_interval = \"0s\"\n[tls]\nrequire_client_cert = true\nkeystore = \""+ks+
		"\"\nkeystore_type = \"jks\"\nkeystore_password_file = \""+in("agent.pw")+"\"\ntruststore = \""+ts+
		"\"\ntruststore_password_file = \""+in("trust.pw")+"\"\n", &testcerts.Cert{Cert: cas[0]})
	hostport := net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port))

	// Ours, as pminfo reads it: PCP_TLSCONF_PATH's tls.conf names the
	// keytool PKCS12 keystore and the JKS truststore.
	conf := in("client.conf")
	writeFile(t, conf, "tls-keystore = client.p12\ntls-keystore-password-file = ui.pw\ntls-truststore = truststore.jks\ntls-truststore-password-file = trust.pw\n")
	opts := tlsconfig.ClientOptions{StoreDir: in("no-store"), TLSConf: conf}
	c, err := pmapi.Connect(context.Background(), "127.0.0.1", pmapi.Options{Secure: pmapi.SecureEnforce, Ports: []int{h.port}, TLSConfig: tlsconfig.Client(opts)})
	if err != nil {
		t.Fatalf("our client with keytool keystores: %v\nlog:\n%s", err, h.log)
	}
	(&session{ctx: c}).fetch(t)
	c.Close()

	// The real pminfo: the same client identity, converted to PEM.
	t.Run("real pminfo", func(t *testing.T) {
		pcptest.Require(t, pcptest.PMInfo)
		if _, err := exec.LookPath("openssl"); err != nil {
			t.Skip("openssl not found (apt-get install openssl): it converts the keytool identity to PEM for the real pminfo")
		}
		out, err := exec.Command("openssl", "pkcs12", "-in", cks, "-nodes", "-passin", "pass:ui-pass", "-out", in("ui.pem")).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl pkcs12: %v\n%s", err, out)
		}
		writeFile(t, in("real.conf"), "tls-client-cert-file = "+in("ui.pem")+"\ntls-client-key-file = "+in("ui.pem")+"\ntls-ca-cert-file = "+pki.CAPEM+"\n")
		got, code := runReal(t, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + in("real.conf")}, pcptest.PMInfo, "-h", hostport, "-f", "hinv.ncpu")
		if code != 0 || !strings.Contains(got, "value") {
			t.Fatalf("real pminfo: exit %d\n%s\nlog:\n%s", code, got, h.log)
		}
		// Without the client certificate: refused under -Q.
		writeFile(t, in("nocert.conf"), "tls-ca-cert-file = "+pki.CAPEM+"\n")
		if got, code := runReal(t, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + in("nocert.conf")}, pcptest.PMInfo, "-h", hostport, "-f", "hinv.ncpu"); code == 0 || strings.Contains(got, "value") {
			t.Fatalf("real pminfo without a certificate served: exit %d\n%s", code, got)
		}
	})

	// The attacker: a client certificate from another CA, sent whatever the
	// server asks for.
	evilCA := testcerts.New(t, nil, testcerts.Options{CN: "Org CA", IsCA: true})
	evil := testcerts.New(t, evilCA, testcerts.Options{CN: "ui", Client: true})
	if err := connectTLSAny(h.port, evil, evilCA); err == nil {
		t.Fatal("a client of another CA was served under -Q")
	}
	waitFor(t, 3*time.Second, "the refusal in the log", func() bool {
		return strings.Contains(h.log.String(), tlsconfig.Fingerprint(evil.Cert))
	})
}

// connectTLSAny connects presenting client (and its CA) whatever CAs the
// server names, without checking the server: an attacker's client.
func connectTLSAny(port int, client, ca *testcerts.Cert) error {
	id := &tls.Certificate{Certificate: [][]byte{client.Cert.Raw, ca.Cert.Raw}, PrivateKey: client.Key}
	c, err := pmapi.Connect(context.Background(), "127.0.0.1", pmapi.Options{Secure: pmapi.SecureEnforce, Ports: []int{port},
		TLSConfig: func(string) (*tls.Config, error) {
			return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return id, nil }}, nil
		}})
	if err == nil {
		defer c.Close()
		// Under TLS 1.3 a refused certificate shows at the first exchange.
		_, err = c.LookupNames([]string{"hinv.ncpu"})
	}
	return err
}

// TestVerifyKeystore: collectord verify --secure reads the identity from the
// keystore the daemon uses and checks it against the truststore's CAs; a
// wrong password and -Q without a truststore fail, naming what to change.
func TestVerifyKeystore(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	ks, pw, ts := filepath.Join(dir, "collector.jks"), filepath.Join(dir, "ks.pw"), filepath.Join(dir, "trust.jks")
	writeKeystore(t, ks, keystore.JKS, p.server, p.ca, "changeit")
	writeFile(t, pw, "changeit\n")
	writeTruststore(t, ts, keystore.JKS, "changeit", p.ca)
	conf := "[tls]\nrequire_client_cert = true\nkeystore = \"" + ks + "\"\nkeystore_password_file = \"" + pw +
		"\"\ntruststore = \"" + ts + "\"\ntruststore_password_file = \"" + pw + "\"\n"
	h := startReloader(t, conf, p.ca)
	out, code := verifyRun(t, "--secure", "--config", h.cfg, "-p", itoa(h.port), "--client-store", p.clientDir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"PASS keystore: " + ks + ` read, key entry "collector"`, "PASS truststore: " + ts + " read, 1 trusted CA(s)",
		"PASS chain: issued by CN=Test CA,O=gopcp test", "PASS key", "PASS client certificates: required (-Q); 1 client CA(s) trusted", "PASS handshake", "PASS fetch"} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}

	writeFile(t, h.cfg, strings.Replace(conf, "keystore_password_file = \""+pw, "keystore_password_file = \""+filepath.Join(dir, "wrong.pw"), 1))
	writeFile(t, filepath.Join(dir, "wrong.pw"), "wrong\n")
	if out, code := verifyRun(t, "--secure", "--config", h.cfg, "-p", itoa(h.port), "--client-store", p.clientDir); code == 0 ||
		!strings.Contains(out, "FAIL keystore: keystore "+ks+": the password is wrong") {
		t.Errorf("wrong password: exit %d:\n%s", code, out)
	}
	writeFile(t, h.cfg, "[tls]\nrequire_client_cert = true\nkeystore = \""+ks+"\"\nkeystore_password_file = \""+pw+"\"\n")
	if out, code := verifyRun(t, "--secure", "--config", h.cfg, "-p", itoa(h.port), "--client-store", p.clientDir); code == 0 ||
		!strings.Contains(out, "FAIL client certificates: -Q is in effect but no tls.truststore") {
		t.Errorf("-Q without a truststore: exit %d:\n%s", code, out)
	}
}
