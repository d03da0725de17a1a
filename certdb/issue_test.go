package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/tlsconfig"
)

func readPEMCerts(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := store.ParseCertificates(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return certs
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCAIssueExport(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "ca")
	out := must(t, "ca", "-d", db, "--cn", "myCA", "--days", "400")
	if !strings.HasPrefix(out, `created CA "PCP CA" (CN=myCA, valid until `) || !strings.Contains(out, "ECDSA P-256) in new store "+db+" with trust CTu,u,u; issue certificates with: certdb issue -d "+db+" --ca 'PCP CA'") {
		t.Errorf("ca said %q", out)
	}
	if fileMode(t, filepath.Join(db, store.FileName)) != 0o600 {
		t.Error("store not 0600")
	}
	// The seed 000's SAN line, pasted as it is.
	out = must(t, "issue", "-d", db, "--ca", "PCP CA", "-n", "agent", "--server",
		"--san", "DNS: system1, IP: 192.0.2.1, DNS: system2, IP: 192.0.2.2", "--san", "DNS:localhost")
	if !strings.HasPrefix(out, `issued "agent" (CN=system1, valid until `) ||
		!strings.Contains(out, "DNS:system1, DNS:system2, DNS:localhost, IP:192.0.2.1, IP:192.0.2.2; serverAuth; ECDSA P-256) signed by \"PCP CA\", stored with its key, trust u,u,u; export it with: certdb export -d "+db+" -n agent -o FILE.p12 -w PASSWORDFILE\n") {
		t.Errorf("issue said %q", out)
	}
	must(t, "issue", "-d", db, "--ca", "PCP CA", "-n", "pmclient", "--client", "--key-type", "rsa2048", "--days", "30")
	must(t, "issue", "-d", db, "--ca", "PCP CA", "-n", "both", "--client", "--server", "--cn", "both.example")

	want := listHeader +
		"PCP CA                                                       CTu,u,u\n" +
		"agent                                                        u,u,u\n" +
		"pmclient                                                     u,u,u\n" +
		"both                                                         u,u,u\n"
	if got := must(t, "list", "-d", db); got != want {
		t.Errorf("list:\n%s\nwant\n%s", got, want)
	}
	details := must(t, "list", "-d", db, "-n", "pmclient")
	for _, w := range []string{"Subject:              CN=pmclient\n", "Issuer:               CN=myCA\n", "Public Key:           RSA 2048 bits\n",
		"Key Usage:            Digital Signature, Key Encipherment\n", "Extended Key Usage:   TLS Web Client Authentication\n", "(29 days left)"} {
		if !strings.Contains(details, w) {
			t.Errorf("pmclient details lack %q:\n%s", w, details)
		}
	}
	details = must(t, "list", "-d", db, "-n", "both")
	if !strings.Contains(details, "TLS Web Server Authentication, TLS Web Client Authentication") || !strings.Contains(details, "DNS:both.example") {
		t.Errorf("both: %s", details)
	}

	// Exports: PKCS#12 with the CA (what openssl pkcs12 -export -certfile rootCA.crt makes), PEM, DER.
	pw := writeFile(t, filepath.Join(dir, "pw"), []byte("p12pass\n"))
	p12 := filepath.Join(dir, "agent.p12")
	if out := must(t, "export", "-d", db, "-n", "agent", "-o", p12, "-w", pw); !strings.Contains(out, "certificate, private key and 1 CA certificate(s)") {
		t.Errorf("export said %q", out)
	}
	if fileMode(t, p12) != 0o600 {
		t.Errorf("p12 mode %v", fileMode(t, p12))
	}
	der := filepath.Join(dir, "agent.der")
	if out := must(t, "export", "-d", db, "-n", "agent", "-o", der, "--format", "der"); !strings.Contains(out, "(certificate, DER)") {
		t.Errorf("der export said %q", out)
	}
	raw, _ := os.ReadFile(der)
	leaf, err := x509.ParseCertificate(raw)
	if err != nil || leaf.Subject.CommonName != "system1" {
		t.Fatalf("DER export: %v", err)
	}
	caPEM := filepath.Join(dir, "ca.pem")
	must(t, "export", "-d", db, "-n", "PCP CA", "-o", caPEM, "--format", "pem")
	keyPEM := filepath.Join(dir, "agent.key")
	must(t, "export", "-d", db, "-n", "agent", "-o", keyPEM, "--format", "pem", "--with-key")
	if fileMode(t, keyPEM) != 0o600 || fileMode(t, caPEM) != 0o644 {
		t.Errorf("modes: key %v, CA %v", fileMode(t, keyPEM), fileMode(t, caPEM))
	}
	ca := readPEMCerts(t, caPEM)[0]
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "system2", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("agent does not verify: %v", err)
	}
	// The PKCS#12 file opens with the key and the CA.
	data, _ := os.ReadFile(p12)
	key, c, others, _, err := store.DecodePKCS12(data, []byte("p12pass"))
	if err != nil || !c.Equal(leaf) || len(others) != 1 || !others[0].Equal(ca) || key == nil {
		t.Errorf("p12: %v %d", err, len(others))
	}

	if _, err := exec.LookPath("openssl"); err == nil {
		for _, args := range [][]string{
			{"verify", "-CAfile", caPEM, "-purpose", "sslserver", keyPEM},
			{"pkcs12", "-in", p12, "-passin", "pass:p12pass", "-nokeys", "-out", filepath.Join(dir, "p12certs.pem")},
			{"x509", "-in", keyPEM, "-noout", "-ext", "subjectKeyIdentifier,authorityKeyIdentifier"},
		} {
			sh(t, dir, "openssl", args...)
		}
		if n := len(readPEMCerts(t, filepath.Join(dir, "p12certs.pem"))); n != 2 {
			t.Errorf("openssl found %d certificates in the PKCS#12 file, want 2", n)
		}
	}
}

func TestIssueErrors(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "ca")
	must(t, "ca", "-d", db)
	must(t, "issue", "-d", db, "--ca", "PCP CA", "-n", "srv", "--server", "--san", "DNS:srv")
	p := newPKIFiles(t)
	must(t, "add", "-d", db, "-n", "foreign CA", "-t", "CT,,", "-i", p.rootPEM)
	before := dirSnapshot(t, db)

	for _, tc := range []struct {
		code int
		args []string
		want []string
	}{
		{1, []string{"issue", "-d", db, "--ca", "srv", "-n", "x", "--client"}, []string{`--ca "srv" in ` + db + ` cannot issue certificates: CN=srv is not a CA certificate`, "certdb ca"}},
		{1, []string{"issue", "-d", db, "--ca", "foreign CA", "-n", "x", "--client"}, []string{`"foreign CA"`, "has no private key here"}},
		{1, []string{"issue", "-d", db, "--ca", "nope", "-n", "x", "--client"}, []string{`CA "nope"`, "certdb list"}},
		{1, []string{"issue", "-d", db, "--ca", "PCP CA", "-n", "srv", "--client"}, []string{`"srv" already exists`}},
		{1, []string{"ca", "-d", db}, []string{`"PCP CA" already exists`}},
		{2, []string{"issue", "-d", db, "--ca", "PCP CA", "-n", "x"}, []string{"--server, --client, or both"}},
		{2, []string{"issue", "-d", db, "-n", "x", "--client"}, []string{"--ca NICKNAME is required"}},
		{2, []string{"issue", "-d", db, "--ca", "PCP CA", "-n", "x", "--server"}, []string{"needs its host names"}},
		{2, []string{"issue", "-d", db, "--ca", "PCP CA", "-n", "x", "--client", "--key-type", "dsa"}, []string{`key type "dsa" is not supported`}},
		{2, []string{"issue", "-d", db, "--ca", "PCP CA", "-n", "x", "--client", "--days", "0"}, []string{"--days 0"}},
		{2, []string{"issue", "-d", db, "--ca", "PCP CA", "-n", "x", "--client", "--days", "many"}, []string{"invalid value"}},
		{2, []string{"issue", "-d", db, "--ca", "PCP CA", "-n", "x", "--server", "--san", "IP:1.2.3"}, []string{`"1.2.3" is not an IP address`}},
		{2, []string{"ca", "-d", db, "-n", "y", "--key-type", "rsa1024"}, []string{"rsa1024"}},
		{2, []string{"quickstart", "--dir", dir, "--ip", "nope"}, []string{`--ip "nope"`}},
	} {
		errs := fails(t, tc.code, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%v: stderr lacks %q: %s", tc.args, w, errs)
			}
		}
		assertUnchanged(t, db, before)
	}

	// A store with a password: issue needs it.
	pdb := filepath.Join(dir, "pwdb")
	pw := writeFile(t, filepath.Join(dir, "pw"), []byte("secret\n"))
	must(t, "ca", "-d", pdb, "-f", pw)
	errs := fails(t, 1, "issue", "-d", pdb, "--ca", "PCP CA", "-n", "c", "--client")
	if !strings.Contains(errs, "has a password") {
		t.Errorf("locked store: %s", errs)
	}
	must(t, "issue", "-d", pdb, "-f", pw, "--ca", "PCP CA", "-n", "c", "--client")
}

// TestQuickstart makes the three stores and uses them as collectord -Q and a
// client with PCP_SECURE_DB_PATH would: a mutual TLS handshake through
// tlsconfig, the package both programs use.
func TestQuickstart(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "pcp-certs")
	out := must(t, "quickstart", "--dir", dir, "--host", "pcp.example,pcp2.example", "--ip", "192.0.2.9")
	srvDir, cliDir := filepath.Join(dir, "server"), filepath.Join(dir, "client")
	for _, w := range []string{
		"created " + filepath.Join(dir, "ca") + `: CA "PCP CA"`,
		"  collectord -C " + srvDir + " -M 'PCP Collector certificate' -Q\n",
		"  PCP_SECURE_DB_PATH=" + cliDir + " PCP_SECURE_SOCKETS=enforce pminfo -h ",
		"DNS:localhost", "DNS:pcp.example, DNS:pcp2.example", "IP:127.0.0.1, IP:::1, IP:192.0.2.9",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("quickstart output lacks %q:\n%s", w, out)
		}
	}
	if got := must(t, "list", "-d", srvDir); got != listHeader+
		"PCP Collector certificate                                    u,u,u\n"+
		"PCP CA                                                       CT,, \n" {
		t.Errorf("server store:\n%s", got)
	}
	if got := must(t, "list", "-d", cliDir); got != listHeader+
		"PCP client certificate                                       u,u,u\n"+
		"PCP CA                                                       CT,, \n" {
		t.Errorf("client store:\n%s", got)
	}
	if got := must(t, "keys", "-d", filepath.Join(dir, "ca")); !strings.Contains(got, "PCP CA") || strings.Count(got, "\n") != 1 {
		t.Errorf("CA store keys: %q", got)
	}
	for _, d := range []string{srvDir, cliDir} {
		if strings.Contains(must(t, "keys", "-d", d), "PCP CA") {
			t.Errorf("the CA key leaked into %s", d)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("%s holds %d entries (a temporary folder left?)", dir, len(ents))
	}

	// Never overwrite.
	errs := fails(t, 1, "quickstart", "--dir", dir)
	if !strings.Contains(errs, filepath.Join(dir, "ca")+" already exists") {
		t.Errorf("second quickstart: %s", errs)
	}
	// An existing empty folder (make run's mktemp -d) is fine; so is a relative default.
	empty := filepath.Join(base, "empty")
	os.Mkdir(empty, 0o755)
	must(t, "quickstart", "--dir", empty, "--key-type", "rsa2048", "--days", "10")
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	rel := filepath.Join(base, "rel")
	os.Mkdir(rel, 0o755)
	os.Chdir(rel)
	must(t, "quickstart")
	if !store.Exists(filepath.Join(rel, "pcp-certs", "server")) {
		t.Error("no ./pcp-certs/server")
	}
	os.Chdir(wd)

	// collectord -C DIR/server -M "PCP Collector certificate" -Q
	srvCfg, err := tlsconfig.Server(tlsconfig.ServerOptions{Store: srvDir, Nickname: collectorNick, RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	// PCP_SECURE_DB_PATH=DIR/client
	cliCfg, err := tlsconfig.Client(tlsconfig.ClientOptions{StoreDir: cliDir, Warn: &bytes.Buffer{}})("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, srvCfg, cliCfg); err != nil {
		t.Fatalf("quickstart stores do not talk: %v", err)
	}
	// A client without a certificate is refused by -Q.
	noCert := cliCfg.Clone()
	noCert.Certificates, noCert.GetClientCertificate = nil, nil
	if err := handshake(t, srvCfg, noCert); err == nil {
		t.Error("collector accepted a client without a certificate")
	}
}

// handshake returns the first error of either side of a loopback handshake.
func handshake(t *testing.T, srv, cli *tls.Config) error {
	t.Helper()
	cerr, serr := testcerts.Handshake(t, srv, cli)
	if serr != nil {
		return serr
	}
	return cerr
}
