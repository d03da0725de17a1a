package check

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
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

// find returns the result named name.
func find(t *testing.T, rep Report, name string) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %q result in %v", name, rep.Results)
	return Result{}
}

func expect(t *testing.T, rep Report, name string, s Status, substr string) {
	t.Helper()
	r := find(t, rep, name)
	if r.Status != s || !strings.Contains(r.Message, substr) {
		t.Errorf("%s: got %s, want %s containing %q", name, r, s, substr)
	}
}

type fixture struct {
	root, inter, server, client *testcerts.Cert
	anchors                     *Anchors
}

// fastKDF: the stores these tests make derive their key at the test-only
// scrypt cost; what is checked here does not depend on it, and the default
// costs a derivation at every Open, also in the certdb program the fix lines run.
var fastKDF = store.CreateOptions{TestOnlyFastKDF: true}

func newFixture(t *testing.T) *fixture {
	f := &fixture{}
	f.root = testcerts.New(t, nil, testcerts.Options{CN: "root", IsCA: true})
	f.inter = testcerts.New(t, f.root, testcerts.Options{CN: "inter", IsCA: true})
	f.server = testcerts.New(t, f.inter, testcerts.Options{CN: "srv", DNS: []string{"srv.example"}, IPs: []net.IP{net.ParseIP("192.0.2.1")}, Server: true})
	f.client = testcerts.New(t, f.root, testcerts.Options{CN: "cli", Client: true})
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(f.root.Cert)
	inter.AddCert(f.inter.Cert)
	f.anchors = &Anchors{Roots: roots, Intermediates: inter, Source: "test CAs", Where: "in test"}
	return f
}

func TestAllPass(t *testing.T) {
	f := newFixture(t)
	rep := Certificate(f.server.Cert, Options{Role: RoleServer, Hosts: []string{"srv.example", "192.0.2.1"}, Anchors: f.anchors,
		Key: Key{State: KeyHeld, Signer: f.server.Key, Where: "in test"}})
	if rep.Worst() != Pass || rep.Failed() || rep.Count(Pass) != 7 {
		t.Errorf("server: %v", rep.Results)
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "validity,usage,host srv.example,host 192.0.2.1,chain,key,strength" {
		t.Errorf("checks: %s", got)
	}
	expect(t, rep, CheckChain, Pass, "issued by CN=inter,O=gopcp test, issued by CN=root,O=gopcp test, one of the test CAs")
	if s := find(t, rep, CheckValidity).String(); !strings.HasPrefix(s, "PASS validity: valid until ") {
		t.Errorf("String: %q", s)
	}
	// No hosts: the names are listed instead.
	rep = Certificate(f.server.Cert, Options{Anchors: f.anchors})
	if rep.Role != RoleServer {
		t.Errorf("inferred role %v", rep.Role)
	}
	expect(t, rep, CheckNames, Pass, "DNS:srv.example, IP:192.0.2.1")
	for _, r := range rep.Results {
		if r.Name == CheckKey {
			t.Errorf("key checked without a key state: %v", r)
		}
	}
}

func TestValidity(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	// A root older than the certificates below.
	f.root = testcerts.New(t, nil, testcerts.Options{CN: "old root", IsCA: true, NotBefore: now.Add(-100 * time.Hour), NotAfter: now.Add(1000 * time.Hour)})
	roots := x509.NewCertPool()
	roots.AddCert(f.root.Cert)
	f.anchors = &Anchors{Roots: roots}
	for _, tc := range []struct {
		nb, na time.Time
		s      Status
		substr string
	}{
		{now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), Fail, "expired on"},
		{now.Add(time.Hour), now.Add(48 * time.Hour), Fail, "not valid before"},
		{now.Add(-time.Hour), now.Add(10 * 24 * time.Hour), Warn, "in 9 days"},
		{now.Add(-time.Hour), now.Add(31 * 24 * time.Hour), Pass, "(30 days left)"},
	} {
		c := testcerts.New(t, f.root, testcerts.Options{CN: "x", DNS: []string{"x"}, Server: true, NotBefore: tc.nb, NotAfter: tc.na})
		rep := Certificate(c.Cert, Options{Anchors: f.anchors, Now: now})
		expect(t, rep, CheckValidity, tc.s, tc.substr)
		// The chain check does not fail because of the leaf's dates.
		expect(t, rep, CheckChain, Pass, "issued by")
	}
	// The warning threshold is an option.
	c := testcerts.New(t, f.root, testcerts.Options{CN: "x", DNS: []string{"x"}, Server: true, NotAfter: now.Add(40 * 24 * time.Hour)})
	expect(t, Certificate(c.Cert, Options{Now: now, ExpiryWarning: 60 * 24 * time.Hour}), CheckValidity, Warn, "renew")
}

func TestUsageAndNames(t *testing.T) {
	f := newFixture(t)
	// A client certificate used as a server.
	rep := Certificate(f.client.Cert, Options{Role: RoleServer, Anchors: f.anchors})
	expect(t, rep, CheckUsage, Fail, "extendedKeyUsage is clientAuth, without serverAuth")
	// No subjectAltName at all: clients fall back to the common name, a warning.
	expect(t, rep, CheckNames, Warn, `no subjectAltName: clients match the common name "cli" instead`)
	// And as the client it is.
	rep = Certificate(f.client.Cert, Options{Anchors: f.anchors})
	if rep.Role != RoleClient {
		t.Errorf("inferred %v", rep.Role)
	}
	expect(t, rep, CheckUsage, Pass, "allows clientAuth")
	if rep.Failed() {
		t.Errorf("client: %v", rep.Results)
	}
	// The server as a client.
	expect(t, Certificate(f.server.Cert, Options{Role: RoleClient, Anchors: f.anchors}), CheckUsage, Fail, "without clientAuth")
	// No EKU at all: any use.
	any := testcerts.New(t, f.root, testcerts.Options{CN: "any", DNS: []string{"any"}})
	expect(t, Certificate(any.Cert, Options{Role: RoleClient}), CheckUsage, Pass, "any use is allowed")
	// A CA used as a leaf.
	expect(t, Certificate(f.root.Cert, Options{Role: RoleClient}), CheckUsage, Warn, "CA certificate")
	// Hosts.
	rep = Certificate(f.server.Cert, Options{Hosts: []string{"other.example", "192.0.2.2", "[192.0.2.1]", "SRV.example"}})
	expect(t, rep, "host other.example", Fail, "with subjectAltName DNS:srv.example,IP:192.0.2.1,DNS:other.example")
	expect(t, rep, "host 192.0.2.2", Fail, "IP:192.0.2.2 (certdb issue --server --san")
	expect(t, rep, "host [192.0.2.1]", Pass, "covered")
	expect(t, rep, "host SRV.example", Pass, "covered")
}

func TestChain(t *testing.T) {
	f := newFixture(t)
	other := testcerts.New(t, nil, testcerts.Options{CN: "other root", IsCA: true})
	pool := x509.NewCertPool()
	pool.AddCert(other.Cert)
	a := &Anchors{Roots: pool, Source: "CAs trusted with C in /x", Fix: "add it"}
	expect(t, Certificate(f.client.Cert, Options{Anchors: a}), CheckChain, Fail, "issuer CN=root,O=gopcp test is not among the CAs trusted with C in /x; add it")
	// Missing intermediate: supplied by the file's own chain.
	roots := x509.NewCertPool()
	roots.AddCert(f.root.Cert)
	a = &Anchors{Roots: roots, Source: "roots"}
	expect(t, Certificate(f.server.Cert, Options{Anchors: a}), CheckChain, Fail, "not among the roots")
	expect(t, Certificate(f.server.Cert, Options{Anchors: a, Chain: []*x509.Certificate{f.inter.Cert}}), CheckChain, Pass, "issued by CN=inter")
	// A trusted peer: self-signed, a warning (no CA any other client could
	// trust); issued by a CA not trusted here, a pass; chaining to a trusted
	// CA, the chain is reported.
	self := testcerts.New(t, nil, testcerts.Options{CN: "self", DNS: []string{"self"}, Server: true})
	expect(t, Certificate(self.Cert, Options{Anchors: &Anchors{Roots: x509.NewCertPool(), Peers: []*x509.Certificate{self.Cert}, Where: "in /p"}}),
		CheckChain, Warn, "self-signed, trusted only as a peer (P) in /p")
	expect(t, Certificate(f.client.Cert, Options{Anchors: &Anchors{Roots: x509.NewCertPool(), Peers: []*x509.Certificate{f.client.Cert}, Where: "in /p"}}),
		CheckChain, Pass, "trusted as a peer (P) in /p")
	expect(t, Certificate(f.client.Cert, Options{Anchors: &Anchors{Roots: roots, Peers: []*x509.Certificate{f.client.Cert}, Source: "roots"}}),
		CheckChain, Pass, "issued by CN=root,O=gopcp test, one of the roots")
	// Anchors without a pool never fall back to the system's CAs.
	expect(t, Certificate(f.client.Cert, Options{Anchors: &Anchors{Source: "nothing"}}), CheckChain, Fail, "not among the nothing")
	// No anchors at all.
	expect(t, Certificate(f.client.Cert, Options{Anchors: &Anchors{Empty: "no CA trusted with T"}}), CheckChain, Fail, "no CA trusted with T")
	expect(t, Certificate(f.client.Cert, Options{}), CheckChain, Warn, "not checked")
	// An expired root.
	oldRoot := testcerts.New(t, nil, testcerts.Options{CN: "old", IsCA: true, NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	leaf := testcerts.New(t, oldRoot, testcerts.Options{CN: "l", Client: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-2 * time.Hour)})
	p := x509.NewCertPool()
	p.AddCert(oldRoot.Cert)
	expect(t, Certificate(leaf.Cert, Options{Anchors: &Anchors{Roots: p}}), CheckChain, Fail, "expired")
}

func TestKey(t *testing.T) {
	f := newFixture(t)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		k      Key
		s      Status
		substr string
	}{
		{Key{State: KeyAbsent, Where: "in /s"}, Fail, "no private key in /s; import"},
		{Key{State: KeyLocked, Where: "in /s"}, Warn, "-f FILE"},
		{Key{State: KeyHeld, Signer: stranger, Where: "in /s"}, Fail, "does not match"},
		{Key{State: KeyHeld, Signer: f.client.Key, Where: "in /s"}, Pass, "matches"},
	} {
		expect(t, Certificate(f.client.Cert, Options{Key: tc.k}), CheckKey, tc.s, tc.substr)
	}
}

func TestWeakAlgorithms(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not found: install it (apt-get install openssl) to make weak certificates")
	}
	d := t.TempDir()
	for _, tc := range []struct{ args, want string }{
		{"-newkey rsa:1024 -sha256", "RSA 1024-bit key: too weak"},
		{"-newkey rsa:2048 -sha1", "signed with SHA1-RSA"},
	} {
		args := append([]string{"req", "-x509", "-nodes", "-subj", "/CN=weak", "-days", "2", "-keyout", filepath.Join(d, "k"), "-out", filepath.Join(d, "c")},
			strings.Fields(tc.args)...)
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Skipf("openssl %s: %v %s", tc.args, err, out)
		}
		data, _ := os.ReadFile(filepath.Join(d, "c"))
		certs, err := store.ParseCertificates(data)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, Certificate(certs[0], Options{}), CheckStrength, Fail, tc.want)
	}
}

func TestInStore(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "s")
	st, err := store.CreateWith(dir, []byte("pw"), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	st.AddCert("root", f.root.Cert, store.MustParseTrust("C,,"))
	st.AddCert("inter", f.inter.Cert, store.Trust{})
	if _, err := st.AddIdentity("srv", f.server.Cert, f.server.Key, store.Trust{}); err != nil {
		t.Fatal(err)
	}
	st.AddCert("cli", f.client.Cert, store.Trust{})

	rep, err := InStore(st, "srv", StoreOptions{Hosts: []string{"srv.example"}})
	if err != nil || rep.Failed() || rep.Worst() != Pass {
		t.Fatalf("srv: %v %v", rep.Results, err)
	}
	expect(t, rep, CheckChain, Pass, "CAs trusted with C in "+dir)
	expect(t, rep, CheckKey, Pass, "in "+dir+" matches")

	// The client certificate: no T CA here, and no key.
	rep, _ = InStore(st, "cli", StoreOptions{})
	expect(t, rep, CheckChain, Fail, dir+" holds no CA trusted with T")
	expect(t, rep, CheckKey, Fail, "no private key in "+dir)
	st.SetTrust("root", store.MustParseTrust("CT,,"))
	rep, _ = InStore(st, "cli", StoreOptions{})
	expect(t, rep, CheckChain, Pass, "CAs trusted with T")

	// Locked store: the key is there but not compared.
	locked, _ := store.Open(dir, nil)
	rep, _ = InStore(locked, "srv", StoreOptions{})
	expect(t, rep, CheckKey, Warn, "password")
	if rep.Failed() {
		t.Errorf("locked: %v", rep.Results)
	}

	// Another store's CAs.
	other, _ := store.CreateWith(filepath.Join(t.TempDir(), "o"), nil, fastKDF)
	rep, _ = InStore(st, "srv", StoreOptions{CAStore: other})
	expect(t, rep, CheckChain, Fail, "holds no CA trusted with C")

	if _, err := InStore(st, "nope", StoreOptions{}); err == nil {
		t.Error("unknown nickname")
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{"": RoleAuto, "server": RoleServer, "Client": RoleClient, "collector": RoleServer} {
		if r, err := ParseRole(in); err != nil || r != want {
			t.Errorf("%q: %v %v", in, r, err)
		}
	}
	if _, err := ParseRole("ca"); err == nil {
		t.Error("role ca accepted")
	}
}
