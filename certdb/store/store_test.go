package store

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/testcerts"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// pki is a root CA, an intermediate, and leaves signed by each.
type pki struct {
	root, inter, server, client *testcerts.Cert
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{}
	p.root = testcerts.New(t, nil, testcerts.Options{CN: "myCA", IsCA: true})
	p.inter = testcerts.New(t, p.root, testcerts.Options{CN: "myCA intermediate", IsCA: true})
	p.server = testcerts.New(t, p.inter, testcerts.Options{CN: "pmserver", DNS: []string{"pmserver", "localhost"}, Server: true})
	p.client = testcerts.New(t, p.root, testcerts.Options{CN: "pmclient", Client: true, RSA: true})
	return p
}

// newStore creates a store with the test-only scrypt cost: the default costs
// 0.8 s a derivation (4 s under the race detector) at Create and at every Open,
// and only TestDefaultKDF needs it.
func newStore(t *testing.T, password string) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "nssdb")
	s, err := CreateWith(dir, []byte(password), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// dirSnapshot reads every file of dir with its mode, for before/after comparisons.
func dirSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		out[e.Name()] = info.Mode().String() + "\n" + string(data)
	}
	return out
}

func sameDir(t *testing.T, before, after map[string]string) {
	t.Helper()
	if len(before) != len(after) {
		t.Errorf("directory changed: %d files before, %d after", len(before), len(after))
	}
	for name, b := range before {
		if after[name] != b {
			t.Errorf("%s changed", name)
		}
	}
}

func nicknames(s *Store) []string {
	var out []string
	for _, e := range s.List() {
		out = append(out, e.Nickname+" "+e.Trust.String())
	}
	return out
}

func TestCreateOpenRoundTrip(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "s3cret")
	if !Exists(dir) || !Exists("sql:"+dir) {
		t.Fatal("Exists = false after Create")
	}
	if _, err := Create("sql:"+dir, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	if w, err := s.AddCert("Root CA", p.root.Cert, MustParseTrust("CT,,")); err != nil || len(w) != 0 {
		t.Fatalf("AddCert: %v %v", w, err)
	}
	if _, err := s.AddCert("inter", p.inter.Cert, MustParseTrust("c,,")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddCert("pmserver_cert", p.server.Cert, MustParseTrust("P,,")); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportKey("pmserver_cert", p.server.Key); err != nil {
		t.Fatal(err)
	}

	for _, d := range []string{dir, "sql:" + dir} {
		s2, err := Open(d, []byte("s3cret"))
		if err != nil {
			t.Fatal(err)
		}
		if s2.Dir() != dir {
			t.Errorf("Dir() = %q, want %q", s2.Dir(), dir)
		}
		got := strings.Join(nicknames(s2), "|")
		if want := "Root CA CT,,|inter c,,|pmserver_cert Pu,u,u"; got != want {
			t.Errorf("List = %q, want %q", got, want)
		}
		e, err := s2.Get("pmserver_cert")
		if err != nil || !e.HasKey || !e.Cert.Equal(p.server.Cert) {
			t.Fatalf("Get = %+v, %v", e, err)
		}
		k, err := s2.PrivateKey("pmserver_cert")
		if err != nil || !publicKeyEqual(k, p.server.Cert.PublicKey) {
			t.Fatalf("PrivateKey: %v", err)
		}
	}

	// Modes: folder 0700, store 0600.
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, FileName): 0o600, filepath.Join(dir, LockName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	// The password really protects the key: the PKCS#8 bytes are not in the file.
	raw, _ := os.ReadFile(filepath.Join(dir, FileName))
	der, _ := x509.MarshalPKCS8PrivateKey(p.server.Key)
	if bytes.Contains(raw, der) || bytes.Contains(raw, []byte("PRIVATE KEY")) {
		t.Error("store file holds the key in clear")
	}
}

func TestGetNotFound(t *testing.T) {
	s, _ := newStore(t, "")
	_, err := s.Get("nope")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Get: %v", err)
	}
	for name, err := range map[string]error{
		"SetTrust":     s.SetTrust("nope", Trust{}),
		"Delete":       s.Delete("nope"),
		"ImportKey":    s.ImportKey("nope", newPKI(t).server.Key),
		"ExportPEM":    func() error { _, err := s.ExportPEM("nope", false); return err }(),
		"ExportPKCS12": func() error { _, err := s.ExportPKCS12("nope", nil); return err }(),
		"Identity":     func() error { _, err := s.Identity("nope"); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
}

func TestOpenMissing(t *testing.T) {
	dir := t.TempDir()
	if Exists(dir) {
		t.Fatal("Exists on an empty folder")
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrNoStore) {
		t.Errorf("Open: %v, want ErrNoStore", err)
	}
}

func TestPasswords(t *testing.T) {
	p := newPKI(t)
	_, dir := newStore(t, "s3cret")
	if _, err := Open(dir, []byte("wrong")); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := Open(dir, []byte{}); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("empty password on a protected store: %v", err)
	}
	// nil: certificates only.
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Locked() {
		t.Fatal("store with a password opened with nil is not Locked")
	}
	if _, err := s.AddCert("pmserver_cert", p.server.Cert, Trust{}); err != nil {
		t.Fatalf("AddCert on a locked store: %v", err)
	}
	if err := s.ImportKey("pmserver_cert", p.server.Key); !errors.Is(err, ErrLocked) {
		t.Fatalf("ImportKey on a locked store: %v", err)
	}

	// An empty-password store is usable with nil, as PCP's always were.
	s2, dir2 := newStore(t, "")
	s2.AddCert("pmserver_cert", p.server.Cert, Trust{})
	if err := s2.ImportKey("pmserver_cert", p.server.Key); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(dir2, nil)
	if err != nil || s3.Locked() {
		t.Fatalf("Open(nil) of an empty-password store: locked=%v err=%v", s3 != nil && s3.Locked(), err)
	}
	if _, err := s3.Identity("pmserver_cert"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir2, []byte("x")); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("password on an empty-password store: %v", err)
	}
}

func TestAddCertRules(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "")
	if _, err := s.AddCert("Root CA", p.root.Cert, MustParseTrust("CT,,")); err != nil {
		t.Fatal(err)
	}
	// The identical certificate again: only the trust changes.
	if _, err := s.AddCert("Root CA", p.root.Cert, MustParseTrust("C,C,C")); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Get("Root CA"); e.Trust.String() != "C,C,C" {
		t.Errorf("trust after re-add = %v", e.Trust)
	}
	before := dirSnapshot(t, dir)
	// Another certificate under a taken nickname.
	if _, err := s.AddCert("Root CA", p.inter.Cert, Trust{}); !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), `"Root CA"`) {
		t.Errorf("duplicate nickname: %v", err)
	}
	// The same certificate under another nickname.
	if _, err := s.AddCert("Other", p.root.Cert, Trust{}); !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), `"Root CA"`) {
		t.Errorf("same cert, other nickname: %v", err)
	}
	for _, bad := range []string{"", " lead", "trail ", "a\nb", strings.Repeat("x", 256)} {
		if _, err := s.AddCert(bad, p.inter.Cert, Trust{}); !errors.Is(err, ErrBadInput) {
			t.Errorf("nickname %q: %v", bad, err)
		}
	}
	if _, err := s.AddCert("x", p.inter.Cert, Trust{SSL: "Z"}); !errors.Is(err, ErrBadInput) {
		t.Errorf("bad trust: %v", err)
	}
	if _, err := s.AddCert("x", nil, Trust{}); !errors.Is(err, ErrBadInput) {
		t.Errorf("nil cert: %v", err)
	}
	sameDir(t, before, dirSnapshot(t, dir))
}

func TestExpiredWarning(t *testing.T) {
	old := testcerts.New(t, nil, testcerts.Options{CN: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	future := testcerts.New(t, nil, testcerts.Options{CN: "future", NotBefore: time.Now().Add(24 * time.Hour)})
	s, _ := newStore(t, "")
	w, err := s.AddCert("old", old.Cert, Trust{})
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "expired") {
		t.Errorf("expired: %q %v", w, err)
	}
	w, err = s.AddCert("future", future.Cert, Trust{})
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "not valid before") {
		t.Errorf("not yet valid: %q %v", w, err)
	}
	if len(s.List()) != 2 {
		t.Errorf("expired certificates not stored")
	}
}

func TestSetTrustDelete(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "")
	s.AddCert("Root CA", p.root.Cert, MustParseTrust("CT,,"))
	s.AddCert("srv", p.server.Cert, Trust{})
	if err := s.ImportKey("srv", p.server.Key); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTrust("srv", MustParseTrust("Pu,u,u")); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, FileName))
	if !strings.Contains(string(raw), `"trust": "P,,"`) {
		t.Errorf("u flag stored: %s", raw)
	}
	if err := s.Delete("srv"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(nicknames(s), "|"); got != "Root CA CT,," {
		t.Errorf("after delete: %q", got)
	}
	if len(s.Keys()) != 0 {
		t.Error("key survived Delete")
	}
}

func TestImportKeyMismatch(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "pw")
	s.AddCert("srv", p.server.Cert, Trust{})
	before := dirSnapshot(t, dir)
	err := s.ImportKey("srv", p.client.Key)
	if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), `"srv"`) {
		t.Errorf("ImportKey(wrong key): %v", err)
	}
	sameDir(t, before, dirSnapshot(t, dir))
}

func TestGarbageStoreFile(t *testing.T) {
	_, dir := newStore(t, "")
	path := filepath.Join(dir, FileName)
	for _, garbage := range []string{"", "garbage", `{"format":"other","version":1}`, `{"format":"gopcp-certdb","version":9}`,
		`{"format":"gopcp-certdb","version":1,"kdf":{"name":"scrypt","salt":"AAAAAAAAAAA=","n":1073741824,"r":8,"p":1}}`} {
		os.WriteFile(path, []byte(garbage), 0o600)
		_, err := Open(dir, nil)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%q): %v", garbage, err)
		}
	}
}

func TestLoosePermissionsRefused(t *testing.T) {
	_, dir := newStore(t, "")
	path := filepath.Join(dir, FileName)
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
		os.Chmod(path, mode)
		_, err := Open(dir, nil)
		if !errors.Is(err, ErrLooseKeyPermissions) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %v: %v", mode, err)
		}
	}
	os.Chmod(path, 0o600)
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
}

func TestKeyBoundToCertificate(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "")
	s.AddCert("a", p.server.Cert, Trust{})
	s.AddCert("b", p.client.Cert, Trust{})
	if err := s.ImportKey("a", p.server.Key); err != nil {
		t.Fatal(err)
	}
	// Move a's sealed key to b by editing the file: it must not decrypt.
	path := filepath.Join(dir, FileName)
	var fs fileStore
	raw, _ := os.ReadFile(path)
	json.Unmarshal(raw, &fs)
	fs.Entries[1].Key, fs.Entries[0].Key = fs.Entries[0].Key, nil
	raw, _ = json.Marshal(&fs)
	os.WriteFile(path, raw, 0o600)
	s2, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.PrivateKey("b"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("moved key: %v", err)
	}
}

func TestIdentityAndTrust(t *testing.T) {
	p := newPKI(t)
	s, _ := newStore(t, "pw")
	s.AddCert("Root CA", p.root.Cert, MustParseTrust("CT,,"))
	s.AddCert("inter", p.inter.Cert, MustParseTrust("c,,"))
	s.AddCert("srv", p.server.Cert, MustParseTrust("P,,"))
	s.AddCert("cli", p.client.Cert, Trust{})
	s.ImportKey("srv", p.server.Key)
	s.ImportKey("cli", p.client.Key)

	id, err := s.Identity("srv")
	if err != nil {
		t.Fatal(err)
	}
	if len(id.Certificate) != 2 || !bytes.Equal(id.Certificate[0], p.server.Cert.Raw) || !bytes.Equal(id.Certificate[1], p.inter.Cert.Raw) {
		t.Fatalf("Identity chain has %d certificates, want leaf+intermediate", len(id.Certificate))
	}
	// A usable tls.Certificate: the same thing tls.X509KeyPair makes from the PEM.
	pemData, err := s.ExportPEM("srv", true)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tls.X509KeyPair(pemData, pemData)
	if err != nil {
		t.Fatal(err)
	}
	if len(kp.Certificate) != 2 || !bytes.Equal(kp.Certificate[1], id.Certificate[1]) {
		t.Error("ExportPEM chain differs from Identity")
	}
	if _, err := s.Identity("Root CA"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Identity without key: %v", err)
	}

	opts := x509.VerifyOptions{Roots: s.TrustedCAs(false), Intermediates: s.Intermediates(), DNSName: "pmserver"}
	if _, err := p.server.Cert.Verify(opts); err != nil {
		t.Errorf("server does not verify against TrustedCAs(false): %v", err)
	}
	copts := x509.VerifyOptions{Roots: s.TrustedCAs(true), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := p.client.Cert.Verify(copts); err != nil {
		t.Errorf("client does not verify against TrustedCAs(true): %v", err)
	}
	// C only: no client anchors.
	s.SetTrust("Root CA", MustParseTrust("C,,"))
	if _, err := p.client.Cert.Verify(x509.VerifyOptions{Roots: s.TrustedCAs(true), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("client verified against a C-only root")
	}
	if peers := s.TrustedPeers(); len(peers) != 1 || !peers[0].Equal(p.server.Cert) {
		t.Errorf("TrustedPeers = %d certs", len(peers))
	}
	ids := s.Identities()
	if len(ids) != 2 || ids[0].Nickname != "srv" || ids[1].Nickname != "cli" {
		t.Errorf("Identities = %+v", ids)
	}
	keys := s.Keys()
	if len(keys) != 2 || keys[0].Algorithm != "ec" || keys[0].Bits != 256 || keys[1].Algorithm != "rsa" || keys[1].Bits != 2048 || len(keys[1].ID) != 40 {
		t.Errorf("Keys = %+v", keys)
	}
}

func TestPKCS12RoundTrip(t *testing.T) {
	p := newPKI(t)
	src, _ := newStore(t, "pw")
	src.AddCert("Root CA", p.root.Cert, MustParseTrust("CT,,"))
	src.AddCert("inter", p.inter.Cert, MustParseTrust("c,,"))
	src.AddCert("srv", p.server.Cert, MustParseTrust("P,,"))
	src.ImportKey("srv", p.server.Key)
	data, err := src.ExportPKCS12("srv", []byte("p12pw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ExportPKCS12("Root CA", []byte("p12pw")); !errors.Is(err, ErrNoKey) {
		t.Errorf("export without key: %v", err)
	}

	dst, dir := newStore(t, "")
	before := dirSnapshot(t, dir)
	if _, _, err := dst.ImportPKCS12(data, []byte("wrong"), ""); !errors.Is(err, ErrBadPKCS12Password) {
		t.Errorf("wrong p12 password: %v", err)
	}
	if _, _, err := dst.ImportPKCS12([]byte("garbage"), nil, ""); !errors.Is(err, ErrBadInput) {
		t.Errorf("garbage p12: %v", err)
	}
	sameDir(t, before, dirSnapshot(t, dir))

	added, warn, err := dst.ImportPKCS12(data, []byte("p12pw"), "")
	if err != nil || len(warn) != 0 {
		t.Fatalf("ImportPKCS12: %v %v", warn, err)
	}
	if got := strings.Join(added, "|"); got != "pmserver|myCA intermediate|myCA" {
		t.Errorf("added = %q", got)
	}
	if got := strings.Join(nicknames(dst), "|"); got != "pmserver u,u,u|myCA intermediate ,,|myCA ,," {
		t.Errorf("List = %q", got)
	}
	// Again, with an explicit other name: the key goes to the existing entry.
	added, warn, err = dst.ImportPKCS12(data, []byte("p12pw"), "other")
	if err != nil || len(added) != 1 || added[0] != "pmserver" || len(warn) != 1 {
		t.Errorf("re-import: %v %v %v", added, warn, err)
	}
	if len(dst.List()) != 3 {
		t.Errorf("re-import added entries: %v", nicknames(dst))
	}
	id, err := dst.Identity("pmserver")
	if err != nil || len(id.Certificate) != 2 {
		t.Fatalf("Identity after import: %v", err)
	}
}

func TestImportPKCS12ExistingLeafAndNames(t *testing.T) {
	p := newPKI(t)
	data, err := pkcs12.Modern.Encode(p.client.Key, p.client.Cert, []*x509.Certificate{p.root.Cert}, "x")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t, "")
	s.AddCert("Root CA", p.root.Cert, MustParseTrust("CT,,"))
	s.AddCert("pmclient_cert", p.client.Cert, MustParseTrust("P,,"))
	added, _, err := s.ImportPKCS12(data, []byte("x"), "")
	if err != nil || strings.Join(added, "|") != "pmclient_cert" {
		t.Fatalf("added %v, %v", added, err)
	}
	if got := strings.Join(nicknames(s), "|"); got != "Root CA CT,,|pmclient_cert Pu,u,u" {
		t.Errorf("List = %q", got)
	}

	// The leaf's CN is taken by another certificate: pk12util-style " #2".
	s2, _ := newStore(t, "")
	s2.AddCert("pmclient", p.server.Cert, Trust{})
	added, _, err = s2.ImportPKCS12(data, []byte("x"), "")
	if err != nil || strings.Join(added, "|") != "pmclient #2|myCA" {
		t.Fatalf("added %v, %v", added, err)
	}
	// An explicit name that is taken is an error, and changes nothing.
	s3, dir3 := newStore(t, "")
	s3.AddCert("taken", p.server.Cert, Trust{})
	before := dirSnapshot(t, dir3)
	if _, _, err := s3.ImportPKCS12(data, []byte("x"), "taken"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("explicit taken name: %v", err)
	}
	sameDir(t, before, dirSnapshot(t, dir3))
}

func TestImportPKCS12KeyMatchesNoCert(t *testing.T) {
	p := newPKI(t)
	// go-pkcs12 does not check that key and certificate belong together.
	data, err := pkcs12.Modern.Encode(p.client.Key, p.server.Cert, nil, "x")
	if err != nil {
		t.Skipf("encoder refuses a mismatched key: %v", err)
	}
	s, dir := newStore(t, "")
	before := dirSnapshot(t, dir)
	if _, _, err := s.ImportPKCS12(data, []byte("x"), ""); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("mismatched p12: %v", err)
	}
	sameDir(t, before, dirSnapshot(t, dir))
}

func TestParseInputs(t *testing.T) {
	p := newPKI(t)
	pemData := append(p.server.CertPEM(), p.inter.CertPEM()...)
	certs, err := ParseCertificates(pemData)
	if err != nil || len(certs) != 2 {
		t.Fatalf("PEM: %d %v", len(certs), err)
	}
	certs, err = ParseCertificates(p.root.Cert.Raw)
	if err != nil || len(certs) != 1 {
		t.Fatalf("DER: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("garbage"), []byte("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n")} {
		if _, err := ParseCertificates(bad); !errors.Is(err, ErrBadInput) {
			t.Errorf("ParseCertificates(%q): %v", bad, err)
		}
	}
	k, err := ParsePrivateKey(p.client.KeyPEM(t))
	if err != nil || !publicKeyEqual(k, p.client.Cert.PublicKey) {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	if _, err := ParsePrivateKey([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("encrypted key: %v", err)
	}
}

func TestStaleTempFileIgnoredAndRemoved(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "")
	stale := filepath.Join(dir, tempPrefix+"123")
	os.WriteFile(stale, []byte("half a store"), 0o600)
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	s.AddCert("x", p.root.Cert, Trust{})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Error("stale temporary file left after a write")
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	sort.Strings(names)
	if len(names) != 2 {
		t.Errorf("files in store: %v", names)
	}
}

// fastKDF is the test-only scrypt cost (see newStore); it is never written to.
var fastKDF = CreateOptions{TestOnlyFastKDF: true}

// kdfInFile reads the key derivation parameters recorded in dir's store file.
func kdfInFile(t *testing.T, dir string) kdfParams {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cleanDir(dir), FileName))
	if err != nil {
		t.Fatal(err)
	}
	var fs fileStore
	if err := json.Unmarshal(data, &fs); err != nil {
		t.Fatal(err)
	}
	return fs.KDF
}

// TestDefaultKDF keeps the real cost end to end, as every store outside the
// tests has it: Create writes scrypt N=2^15 r=8 p=1 with a fresh salt, and the
// right password opens the store and its keys while a wrong one is refused.
// The other tests use the fast cost, which changes only N, r and p.
func TestDefaultKDF(t *testing.T) {
	p := newPKI(t)
	dir := filepath.Join(t.TempDir(), "db")
	s, err := Create(dir, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	k := kdfInFile(t, dir)
	if k.Name != "scrypt" || k.N != 1<<15 || k.R != 8 || k.P != 1 || len(k.Salt) != 16 {
		t.Fatalf("Create wrote %s N=%d r=%d p=%d with a %d-byte salt, want scrypt N=32768 r=8 p=1 and 16 bytes", k.Name, k.N, k.R, k.P, len(k.Salt))
	}
	if _, err := s.AddIdentity("pmserver_cert", p.server.Cert, p.server.Key, Trust{}); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, []byte("s3cret"))
	if err != nil || s2.Locked() {
		t.Fatalf("Open with the password: %v", err)
	}
	if _, err := s2.Identity("pmserver_cert"); err != nil {
		t.Fatalf("the key sealed under the default cost: %v", err)
	}
	if _, err := Open(dir, []byte("s3cre7")); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("wrong password: %v, want ErrBadPassword", err)
	}

	// The fast cost differs only in N, r and p, and a new salt each time.
	fastDir := filepath.Join(t.TempDir(), "fast")
	if _, err := CreateWith(fastDir, []byte("s3cret"), fastKDF); err != nil {
		t.Fatal(err)
	}
	f := kdfInFile(t, fastDir)
	if f.Name != "scrypt" || f.N != 1<<6 || f.R != 8 || f.P != 1 || len(f.Salt) != 16 || bytes.Equal(f.Salt, k.Salt) {
		t.Fatalf("CreateWith(TestOnlyFastKDF) wrote %s N=%d r=%d p=%d salt %x", f.Name, f.N, f.R, f.P, f.Salt)
	}
}
