package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// sh runs a command in dir and fails the test if it fails.
func sh(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not found: install it (apt-get install openssl) to run the PCP walkthrough test")
	}
}

// seedPKI makes the certificates exactly as the PCP secure-connections walkthrough
// our users follow (the one e2e/secure_test.go runs) does, with -subj instead of the interactive prompts and
// -passout instead of the export password prompt.
func seedPKI(t *testing.T) string {
	t.Helper()
	needOpenSSL(t)
	d := t.TempDir()
	testcerts.WalkthroughPKI(t, d, func(who string) string { return who + "-p12" })
	for _, who := range []string{"pmclient", "pmserver"} {
		writeFile(t, filepath.Join(d, who+".p12pass"), []byte(who+"-p12\n"))
	}
	return d
}

// TestSeedWalkthrough follows the walkthrough command for command, certutil and
// pk12util replaced by certdb, then uses the two stores for a mutual TLS
// handshake, as pmcd -Q and a monitor tool would.
func TestSeedWalkthrough(t *testing.T) {
	d := seedPKI(t)
	in := func(f string) string { return filepath.Join(d, f) }

	// 16.4 Collector setup.
	server := "sql:" + filepath.Join(t.TempDir(), "etc", "pcp", "nssdb")
	must(t, "create", "-d", server, "-f", in("empty"))
	must(t, "add", "-d", server, "-t", "CT,,", "-n", "Root CA", "-i", in("rootCA.crt"))
	must(t, "add", "-d", server, "-t", "P,,", "-n", "pmserver_cert", "-i", in("pmserver.crt"))
	out := must(t, "import", "-i", in("pmserver_pkcs12.key"), "-d", server, "-w", in("pmserver.p12pass"))
	if out != "imported the private key of \"pmserver_cert\"\n" {
		t.Errorf("import said %q", out)
	}
	out = must(t, "list", "-d", server)
	// certutil -L prints exactly this after pk12util (u: the key is held).
	want := listHeader +
		"Root CA                                                      CT,, \n" +
		"pmserver_cert                                                Pu,u,u\n"
	if out != want {
		t.Errorf("certdb list:\n%s\nwant:\n%s", out, want)
	}

	// 16.5 Monitor setup, in a $HOME/.pki/nssdb made with mkdir -m 0755.
	home := t.TempDir()
	client := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(client, 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, "-d", "sql:"+client, "-N", "-f", in("empty"))
	must(t, "-d", "sql:"+client, "-A", "-t", "CT,,", "-n", "Root CA", "-i", in("rootCA.crt"))
	must(t, "-d", "sql:"+client, "-A", "-t", "P,,", "-n", "pmclient_cert", "-i", in("pmclient.crt"))
	must(t, "import", "-i", in("pmclient_pkcs12.key"), "-d", "sql:"+client, "-w", in("pmclient.p12pass"))

	srv, err := store.Open(server, nil)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := store.Open("sql:"+client, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Identity gives a usable tls.Certificate: X509KeyPair accepts its PEM form.
	id, err := srv.Identity("pmserver_cert")
	if err != nil {
		t.Fatal(err)
	}
	if len(id.Certificate) != 1 {
		t.Errorf("server chain has %d certificates; the self-signed root must be left out", len(id.Certificate))
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(id.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Certificate[0]})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("Identity does not round-trip through tls.X509KeyPair: %v", err)
	}
	if !bytes.Equal(certPEM, mustRead(t, in("pmserver.crt"))) {
		t.Error("Identity's certificate is not pmserver.crt")
	}

	// TrustedCAs verifies the server certificate ("CT,,": C for servers, T for clients).
	pmserver := testcerts.ReadPEMCert(t, in("pmserver.crt"))
	if _, err := pmserver.Verify(x509.VerifyOptions{Roots: cli.TrustedCAs(false)}); err != nil {
		t.Errorf("server certificate does not verify against the monitor's TrustedCAs: %v", err)
	}
	pmclient := testcerts.ReadPEMCert(t, in("pmclient.crt"))
	if _, err := pmclient.Verify(x509.VerifyOptions{Roots: srv.TrustedCAs(true), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify against the collector's TrustedCAs(true): %v", err)
	}

	// Mutual TLS between the two stores. The walkthrough's certificates carry no
	// subject alternative names, so the client checks the chain, not the host name.
	clientID, err := cli.Identity("pmclient_cert")
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	scfg := &tls.Config{Certificates: []tls.Certificate{id}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: srv.TrustedCAs(true)}
	ccfg := &tls.Config{
		Certificates:       []tls.Certificate{clientID},
		InsecureSkipVerify: true, // replaced by the chain check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			c, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			_, err = c.Verify(x509.VerifyOptions{Roots: cli.TrustedCAs(false)})
			return err
		},
	}
	done := make(chan error, 1)
	go func() {
		s := tls.Server(a, scfg)
		s.SetDeadline(time.Now().Add(10 * time.Second))
		done <- s.Handshake()
	}()
	c := tls.Client(b, ccfg)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if peer := c.ConnectionState().PeerCertificates[0]; !peer.Equal(pmserver) {
		t.Error("client saw another server certificate")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSeedBadInputs: the walkthrough's files, misused.
func TestSeedBadInputs(t *testing.T) {
	d := seedPKI(t)
	in := func(f string) string { return filepath.Join(d, f) }
	db := filepath.Join(t.TempDir(), "nssdb")
	must(t, "create", "-d", db, "-f", in("empty"))
	must(t, "add", "-d", db, "-t", "CT,,", "-n", "Root CA", "-i", in("rootCA.crt"))
	before := dirSnapshot(t, db)

	// pmclient's p12 opened with pmserver's password.
	errs := fails(t, 1, "import", "-d", db, "-i", in("pmclient_pkcs12.key"), "-w", in("pmserver.p12pass"))
	if !strings.Contains(errs, "PKCS#12 password incorrect") || !strings.Contains(errs, in("pmserver.p12pass")) {
		t.Errorf("wrong p12 password: %s", errs)
	}
	// A key file given as a certificate.
	errs = fails(t, 1, "add", "-d", db, "-t", ",,", "-n", "x", "-i", in("pmserver.key"))
	if !strings.Contains(errs, in("pmserver.key")) {
		t.Errorf("key as certificate: %s", errs)
	}
	// pmserver.crt with pmclient.key.
	errs = fails(t, 1, "add", "-d", db, "-t", "P,,", "-n", "pmserver_cert", "-i", in("pmserver.crt"), "--key", in("pmclient.key"))
	if !strings.Contains(errs, "does not match") {
		t.Errorf("mismatched key: %s", errs)
	}
	// The root again under another name.
	fails(t, 1, "add", "-d", db, "-t", "CT,,", "-n", "myCA", "-i", in("rootCA.crt"))
	// A certificate signing request is not a certificate.
	fails(t, 1, "add", "-d", db, "-t", ",,", "-n", "csr", "-i", in("pmserver.csr"))
	assertUnchanged(t, db, before)
}

// TestCertutilInterop compares certdb with the real NSS tools when they are
// installed: the same walkthrough gives the same `-L` and `-K` output, and
// PKCS#12 files travel both ways.
func TestCertutilInterop(t *testing.T) {
	for _, tool := range []string{"certutil", "pk12util"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: install libnss3-tools to compare certdb with NSS", tool)
		}
	}
	d := seedPKI(t)
	in := func(f string) string { return filepath.Join(d, f) }
	nss := "sql:" + filepath.Join(t.TempDir(), "nss")
	os.MkdirAll(strings.TrimPrefix(nss, "sql:"), 0o700)
	ours := "sql:" + filepath.Join(t.TempDir(), "ours")

	sh(t, d, "certutil", "-d", nss, "-N", "-f", in("empty"))
	sh(t, d, "certutil", "-d", nss, "-A", "-t", "CT,,", "-n", "Root CA", "-i", in("rootCA.crt"))
	sh(t, d, "certutil", "-d", nss, "-A", "-t", "P,,", "-n", "pmserver_cert", "-i", in("pmserver.crt"))
	sh(t, d, "pk12util", "-i", in("pmserver_pkcs12.key"), "-d", nss, "-w", in("pmserver.p12pass"), "-k", in("empty"))
	sh(t, d, "certutil", "-d", nss, "-A", "-t", "c,C,T", "-n", "a nickname with spaces", "-i", in("pmclient.crt"))
	sh(t, d, "certutil", "-d", nss, "-M", "-t", "CTP,w,g", "-n", "Root CA")
	sh(t, d, "openssl", "req", "-new", "-x509", "-key", "rootCA.key", "-out", "other.crt", "-days", "1", "-subj", "/CN=other")
	sh(t, d, "certutil", "-d", nss, "-A", "-t", "p,p,p", "-n", "Wurzel-CA Äöü", "-i", in("other.crt"))

	must(t, "-d", ours, "-N", "-f", in("empty"))
	must(t, "-d", ours, "-A", "-t", "CT,,", "-n", "Root CA", "-i", in("rootCA.crt"))
	must(t, "-d", ours, "-A", "-t", "P,,", "-n", "pmserver_cert", "-i", in("pmserver.crt"))
	must(t, "import", "-i", in("pmserver_pkcs12.key"), "-d", ours, "-w", in("pmserver.p12pass"), "-k", in("empty"))
	must(t, "-d", ours, "-A", "-t", "c,C,T", "-n", "a nickname with spaces", "-i", in("pmclient.crt"))
	must(t, "-d", ours, "-M", "-t", "CTP,w,g", "-n", "Root CA")
	must(t, "-d", ours, "-A", "-t", "p,p,p", "-n", "Wurzel-CA Äöü", "-i", in("other.crt"))

	if got, want := must(t, "-d", ours, "-L"), sh(t, d, "certutil", "-d", nss, "-L"); got != want {
		t.Errorf("certdb -L:\n%q\ncertutil -L:\n%q", got, want)
	}
	nssKeys := sh(t, d, "certutil", "-d", nss, "-K", "-f", in("empty"))
	nssKeys = nssKeys[strings.Index(nssKeys, "\n")+1:] // "certutil: Checking token ..."
	if got := must(t, "-d", ours, "-K"); got != nssKeys {
		t.Errorf("certdb -K:\n%q\ncertutil -K:\n%q", got, nssKeys)
	}

	// Ours to NSS.
	p12 := filepath.Join(d, "from-certdb.p12")
	must(t, "export", "-d", ours, "-n", "pmserver_cert", "-o", p12, "-w", in("pmclient.p12pass"))
	nss2 := "sql:" + filepath.Join(t.TempDir(), "nss2")
	os.MkdirAll(strings.TrimPrefix(nss2, "sql:"), 0o700)
	sh(t, d, "certutil", "-d", nss2, "-N", "-f", in("empty"))
	sh(t, d, "pk12util", "-i", p12, "-d", nss2, "-w", in("pmclient.p12pass"), "-k", in("empty"))
	if out := sh(t, d, "certutil", "-d", nss2, "-K", "-f", in("empty")); !strings.Contains(out, "rsa") {
		t.Errorf("NSS did not import our key: %s", out)
	}
	// NSS to ours.
	p12b := filepath.Join(d, "from-nss.p12")
	sh(t, d, "pk12util", "-o", p12b, "-n", "pmserver_cert", "-d", nss, "-w", in("pmclient.p12pass"), "-k", in("empty"))
	db3 := filepath.Join(t.TempDir(), "ours3")
	must(t, "create", "-d", db3)
	out := must(t, "import", "-d", db3, "-i", p12b, "-w", in("pmclient.p12pass"))
	if !strings.HasPrefix(out, `imported the private key of "pmserver_cert"`) {
		t.Errorf("import of pk12util's export: %q (the friendly name should become the nickname)", out)
	}
}

var _ = errors.New
