package check

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// emailOnly makes a certificate whose subjectAltName extension holds only an
// email address, with common name cn: a client must not fall back to cn.
func emailOnly(t *testing.T, ca *testcerts.Cert, cn string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), EmailAddresses: []string{"a@example.com"},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestMatchHost(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true})
	cnOnly := testcerts.New(t, ca, testcerts.Options{CN: "pmserver"}).Cert
	ipCN := testcerts.New(t, ca, testcerts.Options{CN: "192.0.2.7"}).Cert
	// An attacker's certificate from the same CA: its SAN names another host and
	// its CN the victim. With a SAN present the CN must never be used.
	withSAN := testcerts.New(t, ca, testcerts.Options{CN: "victim.example", DNS: []string{"attacker.example"}}).Cert
	mail := emailOnly(t, ca, "victim.example")
	for _, tc := range []struct {
		c         *x509.Certificate
		host      string
		ok, viaCN bool
	}{
		{cnOnly, "pmserver", true, true},
		{cnOnly, "PMServer.", true, true},
		{cnOnly, "pmserver.example", false, true},
		{cnOnly, "", false, false},
		{ipCN, "192.0.2.7", false, false}, // an address is never matched by CN
		{ipCN, "[192.0.2.7]", false, false},
		{cnOnly, "192.0.2.7", false, false},
		{withSAN, "victim.example", false, false},
		{withSAN, "attacker.example", true, false},
		{mail, "victim.example", false, false},
	} {
		ok, via := MatchHost(tc.c, tc.host)
		if ok != tc.ok || ok && via != tc.viaCN {
			t.Errorf("MatchHost(CN=%s, %q) = %v, %v; want %v, %v", tc.c.Subject.CommonName, tc.host, ok, via, tc.ok, tc.viaCN)
		}
	}
	// The checker agrees: names and hosts.
	expect(t, Certificate(mail, Options{Role: RoleServer}), CheckNames, Fail, "clients ignore the common name when a subjectAltName extension is present")
	expect(t, Certificate(withSAN, Options{Role: RoleServer, Hosts: []string{"victim.example"}}), "host victim.example", Fail, "not covered")
	expect(t, Certificate(cnOnly, Options{Role: RoleServer, Hosts: []string{"pmserver"}}), "host pmserver", Warn, "matched by the common name only")
	ipOnly := testcerts.New(t, ca, testcerts.Options{CN: "x", IPs: []net.IP{net.ParseIP("192.0.2.9")}, Server: true}).Cert
	expect(t, Certificate(ipOnly, Options{Role: RoleServer}), CheckNames, Warn, "only IP addresses (IP:192.0.2.9): clients must connect by address")
}

// TestWalkthroughCertificate: the PCP walkthrough's server certificate, made
// with openssl x509 -req and no subjectAltName, passes with warnings.
func TestWalkthroughCertificate(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: apt-get install openssl")
	}
	d := t.TempDir()
	ossl := func(args ...string) {
		t.Helper()
		testcerts.Run(t, d, append([]string{"openssl"}, args...)...)
	}
	ossl("genrsa", "-out", "rootCA.key", "2048")
	ossl("req", "-new", "-x509", "-extensions", "v3_ca", "-key", "rootCA.key", "-out", "rootCA.crt", "-days", "3650", "-subj", "/CN=myCA")
	ossl("genrsa", "-out", "pmserver.key", "2048")
	ossl("req", "-new", "-key", "pmserver.key", "-out", "pmserver.csr", "-subj", "/CN=pmserver")
	ossl("x509", "-req", "-in", "pmserver.csr", "-CA", "rootCA.crt", "-CAkey", "rootCA.key", "-CAcreateserial", "-out", "pmserver.crt", "-days", "500", "-sha256")
	caData, _ := os.ReadFile(filepath.Join(d, "rootCA.crt"))
	cas, err := store.ParseCertificates(caData)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := InFiles(filepath.Join(d, "pmserver.crt"), filepath.Join(d, "pmserver.key"), FileOptions{Role: RoleServer,
		Anchors: AnchorsFromCerts(cas, "CAs of rootCA.crt", "in rootCA.crt", "add it")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() || rep.Worst() != Warn {
		t.Fatalf("walkthrough certificate: %v", rep.Results)
	}
	expect(t, rep, CheckNames, Warn, `clients match the common name "pmserver" instead`)
	expect(t, rep, CheckKey, Pass, "matches")
	expect(t, rep, CheckChain, Pass, "issued by CN=myCA")
	r := ForHost(rep.Cert, []string{"somehost", "localhost"}, []string{"127.0.0.1"}, nil)
	if r.Status != Warn || !strings.Contains(r.Message, `clients must connect by the name "pmserver"`) {
		t.Errorf("ForHost: %v", r)
	}
}

func TestForHost(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true})
	names, addrs := []string{"h1", "h1.example", "localhost"}, []string{"127.0.0.1"}
	for _, tc := range []struct {
		o    testcerts.Options
		s    Status
		want string
	}{
		{testcerts.Options{CN: "h1", DNS: []string{"h1", "h1.example", "localhost"}}, Pass, "the certificate names h1, h1.example, localhost"},
		{testcerts.Options{CN: "h1", DNS: []string{"h1.example"}}, Warn, "does not name h1, localhost"},
		{testcerts.Options{CN: "h1"}, Warn, "h1 matched by the common name only"},
		{testcerts.Options{CN: "pmserver"}, Warn, `clients must connect by the name "pmserver"`},
		{testcerts.Options{CN: "x", IPs: []net.IP{net.ParseIP("127.0.0.1")}}, Warn, "only addresses (IP:127.0.0.1): clients must connect by address 127.0.0.1"},
		{testcerts.Options{CN: "x", DNS: []string{"elsewhere.example"}}, Fail, "names none of this host's names h1, h1.example, localhost, nor its addresses 127.0.0.1 (it names DNS:elsewhere.example)"},
	} {
		r := ForHost(testcerts.New(t, ca, tc.o).Cert, names, addrs, nil)
		if r.Status != tc.s || !strings.Contains(r.Message, tc.want) || (r.Status == Pass) != (r.Fix == "" && !strings.Contains(r.Message, "issue a new")) {
			t.Errorf("%+v: %v", tc.o, r)
		}
	}
	// Control characters in a certificate's names never reach the message raw.
	evil := testcerts.New(t, ca, testcerts.Options{CN: "x\x1b[2J\nFAKE"}).Cert
	if r := ForHost(evil, names, nil, nil); strings.ContainsAny(r.Message+r.Fix, "\x1b\n") {
		t.Errorf("raw control characters: %q", r.Message)
	}
}

// buildCertdb builds the certdb program for tests that run fix lines.
func buildCertdb(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds certdb; not in -short")
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(bin, "certdb"), "github.com/gopcp/gopcp/certdb")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build certdb: %v\n%s", err, out)
	}
	return bin
}

// runFix runs a fix line exactly as printed, with sh -c and certdb on PATH.
func runFix(t *testing.T, bin, line string) {
	t.Helper()
	if line == "" {
		t.Fatal("no fix line")
	}
	cmd := exec.Command("sh", "-c", line)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fix %s: %v\n%s", line, err, out)
	}
}

// TestFixLinesRun runs every kind of fix line this package prints through sh
// with the real certdb, and checks the finding is gone afterwards.
func TestFixLinesRun(t *testing.T) {
	bin := buildCertdb(t)
	ca := testcerts.New(t, nil, testcerts.Options{CN: "PCP CA", IsCA: true})
	// A nickname a shell would split and a quote it would end at.
	const nick = "it's the \"server\" $(id)"
	cnOnly := testcerts.New(t, ca, testcerts.Options{CN: "pmserver"})

	t.Run("issue from the store's CA", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "with ca")
		st, err := store.CreateWith(dir, nil, fastKDF)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddIdentity("PCP CA", ca.Cert, ca.Key, store.MustParseTrust("CT,,")); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddIdentity(nick, cnOnly.Cert, cnOnly.Key, store.Trust{}); err != nil {
			t.Fatal(err)
		}
		rep, err := InStore(st, nick, StoreOptions{Role: RoleServer})
		if err != nil {
			t.Fatal(err)
		}
		r := find(t, rep, CheckNames)
		if r.Status != Warn || !strings.HasPrefix(r.Fix, "certdb issue -d ") {
			t.Fatalf("names: %v", r)
		}
		runFix(t, bin, r.Fix)
		st, _ = store.Open(dir, nil)
		rep, err = InStore(st, nick+" renewed", StoreOptions{Role: RoleServer, Hosts: []string{"pmserver"}})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, rep, "host pmserver", Pass, "covered")
		if rep.Worst() != Pass {
			t.Errorf("renewed: %v", rep.Results)
		}
		// Checked again, the old certificate's fix picks a nickname still free.
		rep, _ = InStore(st, nick, StoreOptions{Role: RoleServer})
		if r := find(t, rep, CheckNames); !strings.Contains(r.Fix, "renewed 2'") {
			t.Errorf("second renewal: %v", r)
		} else {
			runFix(t, bin, r.Fix)
		}
	})

	t.Run("request for an outside CA", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "server")
		st, _ := store.CreateWith(dir, nil, fastKDF)
		st.AddCert("Root CA", ca.Cert, store.MustParseTrust("CT,,"))
		expired := testcerts.New(t, ca, testcerts.Options{CN: "srv", DNS: []string{"srv.example"}, Server: true,
			NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
		if _, err := st.AddIdentity(nick, expired.Cert, expired.Key, store.Trust{}); err != nil {
			t.Fatal(err)
		}
		reqDir := t.TempDir()
		rep, _ := InStore(st, nick, StoreOptions{Role: RoleServer, RequestDir: reqDir})
		r := find(t, rep, CheckValidity)
		if r.Status != Fail || !strings.HasPrefix(r.Fix, "certdb request -d ") {
			t.Fatalf("validity: %v", r)
		}
		runFix(t, bin, r.Fix)
		// The CA signs the request, keeping its extensions, as the message says.
		csrs, _ := filepath.Glob(filepath.Join(reqDir, "*.csr"))
		if len(csrs) != 1 {
			t.Fatalf("request files: %v", csrs)
		}
		data, _ := os.ReadFile(csrs[0])
		blk, _ := pem.Decode(data)
		if blk == nil {
			t.Fatalf("%s: no PEM", csrs[0])
		}
		req, err := x509.ParseCertificateRequest(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(99), Subject: req.Subject, DNSNames: req.DNSNames, IPAddresses: req.IPAddresses,
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(90 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, req.PublicKey, ca.Key)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(strings.TrimSuffix(csrs[0], ".csr")+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
		m := regexp.MustCompile(`then store it with: (.*) and use it as`).FindStringSubmatch(r.Message)
		if m == nil {
			t.Fatalf("no receive command in %q", r.Message)
		}
		runFix(t, bin, m[1])
		st, _ = store.Open(dir, nil)
		rep, err = InStore(st, nick+" renewed", StoreOptions{Role: RoleServer, Hosts: []string{"srv.example"}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Worst() != Pass {
			t.Errorf("renewed: %v", rep.Results)
		}
	})

	t.Run("trust the held CA", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "s")
		st, _ := store.CreateWith(dir, nil, fastKDF)
		st.AddCert("my CA's cert", ca.Cert, store.Trust{})
		srv := testcerts.New(t, ca, testcerts.Options{CN: "srv", DNS: []string{"srv"}, Server: true})
		st.AddIdentity("srv", srv.Cert, srv.Key, store.Trust{})
		rep, _ := InStore(st, "srv", StoreOptions{})
		r := find(t, rep, CheckChain)
		if r.Status != Fail || r.Fix != `certdb trust -d `+dir+` -n 'my CA'\''s cert' -t CT,,` {
			t.Fatalf("chain: %v", r)
		}
		runFix(t, bin, r.Fix)
		st, _ = store.Open(dir, nil)
		rep, _ = InStore(st, "srv", StoreOptions{})
		expect(t, rep, CheckChain, Pass, "issued by CN=PCP CA")
	})
}

// leafWith makes a certificate signed by ca, shaped by mod.
func leafWith(t *testing.T, ca *testcerts.Cert, useRSA bool, mod func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	var pub any
	if useRSA {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub = k.Public()
	} else {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = k.Public()
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "srv"}, DNSNames: []string{"srv"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	mod(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// TestKeyUsage: keyUsage is checked as well as extendedKeyUsage.
func TestKeyUsage(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true})
	for _, tc := range []struct {
		rsa  bool
		ku   x509.KeyUsage
		s    Status
		want string
	}{
		{false, x509.KeyUsageDigitalSignature, Pass, "allows serverAuth"},
		{false, x509.KeyUsageKeyAgreement, Fail, "keyUsage lacks digitalSignature, which a TLS server with an ECDSA P-256 key needs"},
		{true, x509.KeyUsageKeyEncipherment, Warn, "keyUsage lacks digitalSignature: a TLS server with an RSA key needs it for TLS 1.3"},
		{true, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, Pass, "allows serverAuth"},
		{false, 0, Pass, "allows serverAuth"}, // no keyUsage extension: any
	} {
		c := leafWith(t, ca, tc.rsa, func(c *x509.Certificate) { c.KeyUsage = tc.ku })
		expect(t, Certificate(c, Options{Role: RoleServer}), CheckUsage, tc.s, tc.want)
	}
}

// TestInFilesHostile: files that are not what tls.conf says they are give an
// error or a finding, never a panic or a pass.
func TestInFilesHostile(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true})
	srv := testcerts.New(t, ca, testcerts.Options{CN: "srv", DNS: []string{"srv"}, Server: true})
	d := t.TempDir()
	f := func(name, data string) string {
		p := filepath.Join(d, name)
		os.WriteFile(p, []byte(data), 0o600)
		return p
	}
	good, key := f("good.crt", string(srv.CertPEM())), f("good.key", string(srv.KeyPEM(t)))
	for _, bad := range []string{"", "garbage\x00\xff", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", string(srv.KeyPEM(t))} {
		if _, err := InFiles(f("bad.crt", bad), key, FileOptions{}); err == nil {
			t.Errorf("certificate file %q accepted", bad)
		}
	}
	if _, err := InFiles(filepath.Join(d, "missing"), key, FileOptions{}); err == nil {
		t.Error("missing certificate file accepted")
	}
	other := testcerts.New(t, ca, testcerts.Options{CN: "other"})
	for name, k := range map[string]string{"garbage": "not a key", "certificate": string(srv.CertPEM()), "other key": string(other.KeyPEM(t))} {
		rep, err := InFiles(good, f("k", k), FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r := find(t, rep, CheckKey); r.Status != Fail {
			t.Errorf("key file %s: %v", name, r)
		}
	}
	rep, _ := InFiles(good, filepath.Join(d, "nokey"), FileOptions{})
	expect(t, rep, CheckKey, Fail, "no such file")
}

// TestOneRenewalPerReport: every finding that needs a new certificate names
// the same one, with all the names missing anywhere, and its command is
// printed once.
func TestOneRenewalPerReport(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true})
	old := testcerts.New(t, ca, testcerts.Options{CN: "pmserver", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	rep := Certificate(old.Cert, Options{Role: RoleServer, Hosts: []string{"pmserver", "127.0.0.1"},
		ThisHost: &Machine{Names: []string{"h1", "localhost"}, Addrs: []string{"127.0.0.1"}},
		Origin:   &Origin{Store: "/s", Nickname: "srv", Dir: "/r"}})
	var fixes []string
	for _, r := range rep.Results {
		if r.Fix != "" {
			fixes = append(fixes, r.Name+": "+r.Fix)
		}
	}
	want := "validity: certdb request -d /s -n 'srv renewed' --cn pmserver --server --san DNS:pmserver,IP:127.0.0.1,DNS:h1,DNS:localhost -o /r/srv-renewed.csr"
	if len(fixes) != 1 || fixes[0] != want {
		t.Fatalf("fixes:\n%s\nwant\n%s\nresults: %v", strings.Join(fixes, "\n"), want, rep.Results)
	}
	expect(t, rep, "host 127.0.0.1", Fail, `(the fix of the "validity" line does it)`)
	expect(t, rep, CheckThisHost, Warn, `(the fix of the "validity" line does it)`)
}
