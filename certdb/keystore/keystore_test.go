package keystore

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/testcerts"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

type fixture struct {
	root, inter, leaf, rsaLeaf *testcerts.Cert
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{}
	f.root = testcerts.New(t, nil, testcerts.Options{CN: "Test Root", IsCA: true})
	f.inter = testcerts.New(t, f.root, testcerts.Options{CN: "Test Inter", IsCA: true})
	f.leaf = testcerts.New(t, f.inter, testcerts.Options{CN: "agent", DNS: []string{"agent"}, Server: true})
	f.rsaLeaf = testcerts.New(t, f.root, testcerts.Options{CN: "client", Client: true, RSA: true})
	return f
}

func sameKey(a, b crypto.Signer) bool {
	pub, ok := a.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(b.Public())
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	for _, typ := range []Type{JKS, PKCS12} {
		for _, leaf := range []*testcerts.Cert{f.leaf, f.rsaLeaf} {
			chain := []*x509.Certificate{leaf.Cert, f.inter.Cert, f.root.Cert}
			if leaf == f.rsaLeaf {
				chain = []*x509.Certificate{leaf.Cert, f.root.Cert}
			}
			data, err := EncodeKeystore(typ, Identity{Alias: "My Server", Key: leaf.Key, Chain: chain}, []byte("storepass"), nil)
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if got, err := Detect(data); err != nil || got != typ {
				t.Errorf("Detect: %v %v", got, err)
			}
			c, err := Decode(data, typ, []byte("storepass"), nil)
			if err != nil {
				t.Fatalf("%s decode: %v", typ, err)
			}
			if len(c.Identities) != 1 || len(c.Trusted) != 0 || len(c.Others) != 0 {
				t.Fatalf("%s: %+v", typ, c)
			}
			id := c.Identities[0]
			if id.Alias != "my server" && id.Alias != "My Server" {
				t.Errorf("%s alias %q", typ, id.Alias)
			}
			if !sameKey(id.Key, leaf.Key) || len(id.Chain) != len(chain) || !id.Chain[0].Equal(leaf.Cert) {
				t.Errorf("%s: identity differs (%d certificates)", typ, len(id.Chain))
			}
			// Wrong password.
			if _, err := Decode(data, typ, []byte("nope"), nil); !errors.Is(err, ErrBadPassword) {
				t.Errorf("%s wrong password: %v", typ, err)
			}
			// Wrong declared type.
			other := map[Type]Type{JKS: PKCS12, PKCS12: JKS}[typ]
			if _, err := Decode(data, other, []byte("storepass"), nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "--type "+string(typ)) {
				t.Errorf("%s as %s: %v", typ, other, err)
			}
		}
		ts, err := EncodeTruststore(typ, []TrustedCert{{Alias: "Root CA", Cert: f.root.Cert}, {Alias: "inter", Cert: f.inter.Cert}}, []byte("trustpass"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := Decode(ts, typ, []byte("trustpass"), nil)
		if err != nil {
			t.Fatalf("%s truststore: %v", typ, err)
		}
		if len(c.Trusted) != 2 || len(c.Identities) != 0 || !c.Trusted[0].Cert.Equal(f.root.Cert) && !c.Trusted[1].Cert.Equal(f.root.Cert) {
			t.Errorf("%s truststore: %+v", typ, c)
		}
		if _, err := EncodeTruststore(typ, []TrustedCert{{Alias: "a", Cert: f.root.Cert}, {Alias: "A", Cert: f.inter.Cert}}, []byte("x")); !errors.Is(err, ErrBadInput) {
			t.Errorf("repeated alias: %v", err)
		}
	}
	// JKS: a separate key password.
	data, err := EncodeKeystore(JKS, Identity{Alias: "k", Key: f.leaf.Key, Chain: []*x509.Certificate{f.leaf.Cert}}, []byte("storepass"), []byte("keypass"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(data, JKS, []byte("storepass"), nil); !errors.Is(err, ErrBadKeyPassword) {
		t.Errorf("JKS key with the store password: %v", err)
	}
	if _, err := Decode(data, JKS, []byte("storepass"), []byte("keypass")); err != nil {
		t.Errorf("JKS key password: %v", err)
	}
	// PKCS#12 has one password.
	if _, err := EncodeKeystore(PKCS12, Identity{Alias: "k", Key: f.leaf.Key, Chain: []*x509.Certificate{f.leaf.Cert}}, []byte("a"), []byte("b")); !errors.Is(err, ErrBadInput) {
		t.Errorf("PKCS#12 with two passwords: %v", err)
	}
	// A key that is not the certificate's.
	if _, err := EncodeKeystore(JKS, Identity{Alias: "k", Key: f.rsaLeaf.Key, Chain: []*x509.Certificate{f.leaf.Cert}}, []byte("a"), nil); !errors.Is(err, ErrBadInput) {
		t.Errorf("mismatched key: %v", err)
	}
}

// TestPKCS12Legacy reads files with the algorithms older Java and OpenSSL
// versions write: SHA-1 3DES for keys, RC2-40 for certificates, SHA-1 MAC.
func TestPKCS12Legacy(t *testing.T) {
	f := newFixture(t)
	for name, enc := range map[string]*pkcs12.Encoder{"LegacyRC2": pkcs12.LegacyRC2, "LegacyDES": pkcs12.LegacyDES, "Modern2023": pkcs12.Modern2023} {
		data, err := enc.Encode(f.rsaLeaf.Key, f.rsaLeaf.Cert, []*x509.Certificate{f.root.Cert}, "pässwörd")
		if err != nil {
			t.Fatal(err)
		}
		c, err := Decode(data, "", []byte("pässwörd"), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(c.Identities) != 1 || len(c.Identities[0].Chain) != 2 || !sameKey(c.Identities[0].Key, f.rsaLeaf.Key) || c.Identities[0].Alias != "client" {
			t.Errorf("%s: %+v", name, c.Identities)
		}
		if _, err := Decode(data, "", []byte("password"), nil); !errors.Is(err, ErrBadPassword) {
			t.Errorf("%s wrong password: %v", name, err)
		}
	}
	// An OpenSSL-style file: the chain is "other" certificates.
	data, _ := pkcs12.Modern.Encode(f.leaf.Key, f.leaf.Cert, []*x509.Certificate{f.inter.Cert, testcerts.New(t, nil, testcerts.Options{CN: "unrelated", IsCA: true}).Cert}, "")
	c, err := Decode(data, PKCS12, []byte{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Identities[0].Chain) != 2 || len(c.Others) != 1 || c.Others[0].Subject.CommonName != "unrelated" {
		t.Errorf("others: %d %v", len(c.Identities[0].Chain), c.Others)
	}
}

func TestCorrupt(t *testing.T) {
	f := newFixture(t)
	jks, _ := EncodeKeystore(JKS, Identity{Alias: "k", Key: f.leaf.Key, Chain: []*x509.Certificate{f.leaf.Cert}}, []byte("storepass"), nil)
	p12, _ := EncodeKeystore(PKCS12, Identity{Alias: "k", Key: f.leaf.Key, Chain: []*x509.Certificate{f.leaf.Cert}}, []byte("storepass"), nil)
	cases := map[string][]byte{
		"empty":     {},
		"pem":       []byte("-----BEGIN CERTIFICATE-----\n"),
		"jceks":     {0xCE, 0xCE, 0xCE, 0xCE, 0, 0, 0, 2},
		"garbage":   []byte("hello world"),
		"jks short": jks[:len(jks)-30],
		"p12 short": p12[:len(p12)-30],
	}
	// A JKS entry claiming 4 GiB of key.
	huge := append([]byte{}, jks...)
	copy(huge[12:], []byte{0, 0, 0, 1, 0, 1, 'k', 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	cases["jks huge length"] = huge
	// Every single-byte change of the JKS file: an error, never a panic.
	for i := 0; i < len(jks); i += 7 {
		b := append([]byte{}, jks...)
		b[i] ^= 0x5A
		if _, err := Decode(b, "", []byte("storepass"), nil); err == nil {
			t.Errorf("JKS with byte %d changed decoded", i)
		}
	}
	for i := 0; i < len(p12); i += 5 {
		b := append([]byte{}, p12...)
		b[i] ^= 0x5A
		Decode(b, "", []byte("storepass"), nil) // must not panic
	}
	for name, data := range cases {
		_, err := Decode(data, "", []byte("storepass"), nil)
		if err == nil || !(errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrBadPassword)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Decode(cases["jceks"], "", nil, nil); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "keytool -importkeystore") {
		t.Errorf("jceks: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	k := testcerts.New(f, nil, testcerts.Options{CN: "k"})
	for _, typ := range []Type{JKS, PKCS12} {
		data, _ := EncodeKeystore(typ, Identity{Alias: "k", Key: k.Key, Chain: []*x509.Certificate{k.Cert}}, []byte("pw"), nil)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		Decode(data, "", []byte("pw"), nil)
	})
}

// keytool runs the JDK's keytool, skipping the test when it is not installed.
func keytool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("keytool"); err != nil {
		t.Skip("keytool not found: install a JDK (apt-get install openjdk-17-jdk-headless) to test Java interop")
	}
	cmd := exec.Command("keytool", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keytool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestKeytoolReadsOurs: keytool -list lists what we write, in both formats.
func TestKeytoolReadsOurs(t *testing.T) {
	if _, err := exec.LookPath("keytool"); err != nil {
		t.Skip("keytool not found: install a JDK (apt-get install openjdk-17-jdk-headless) to test Java interop")
	}
	f := newFixture(t)
	d := t.TempDir()
	for _, typ := range []Type{JKS, PKCS12} {
		st := strings.ToUpper(string(typ))
		ks, err := EncodeKeystore(typ, Identity{Alias: "pcp-agent", Key: f.leaf.Key, Chain: []*x509.Certificate{f.leaf.Cert, f.inter.Cert, f.root.Cert}}, []byte("changeit"), nil)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, "keystore."+string(typ))
		os.WriteFile(p, ks, 0o600)
		out := keytool(t, d, "-list", "-v", "-keystore", p, "-storepass", "changeit", "-storetype", st)
		if !strings.Contains(out, "Alias name: pcp-agent") || !strings.Contains(out, "Entry type: PrivateKeyEntry") || !strings.Contains(out, "Certificate chain length: 3") {
			t.Errorf("keytool -list %s:\n%s", st, out)
		}
		// Java can use the key: export it to another store, which decrypts it.
		keytool(t, d, "-importkeystore", "-srckeystore", p, "-srcstoretype", st, "-srcstorepass", "changeit",
			"-destkeystore", filepath.Join(d, "copy-"+string(typ)+".p12"), "-deststoretype", "PKCS12", "-deststorepass", "another", "-noprompt")

		ts, err := EncodeTruststore(typ, []TrustedCert{{Alias: "pcp-ca", Cert: f.root.Cert}}, []byte("trustpw"))
		if err != nil {
			t.Fatal(err)
		}
		tp := filepath.Join(d, "truststore."+string(typ))
		os.WriteFile(tp, ts, 0o600)
		out = keytool(t, d, "-list", "-keystore", tp, "-storepass", "trustpw", "-storetype", st)
		if !strings.Contains(out, "pcp-ca,") || !strings.Contains(out, "trustedCertEntry") || !strings.Contains(out, "Your keystore contains 1 entry") {
			t.Errorf("keytool -list truststore %s:\n%s", st, out)
		}
	}
}

// TestOursReadsKeytool: keystores made by keytool -genkeypair and -importcert.
func TestOursReadsKeytool(t *testing.T) {
	if _, err := exec.LookPath("keytool"); err != nil {
		t.Skip("keytool not found: install a JDK (apt-get install openjdk-17-jdk-headless) to test Java interop")
	}
	f := newFixture(t)
	d := t.TempDir()
	ca := filepath.Join(d, "ca.crt")
	os.WriteFile(ca, f.root.CertPEM(), 0o644)
	for _, tc := range []struct {
		st, keyalg string
		extra      []string
	}{
		{"PKCS12", "EC", []string{"-groupname", "secp256r1"}},
		{"JKS", "RSA", []string{"-keysize", "2048", "-keypass", "keypass9"}},
	} {
		p := filepath.Join(d, "java."+strings.ToLower(tc.st))
		args := append([]string{"-genkeypair", "-alias", "javaserver", "-keyalg", tc.keyalg, "-dname", "CN=java.example,O=Java", "-validity", "30",
			"-ext", "SAN=dns:java.example", "-keystore", p, "-storetype", tc.st, "-storepass", "storepass9"}, tc.extra...)
		keytool(t, d, args...)
		keytool(t, d, "-importcert", "-noprompt", "-alias", "Our CA", "-file", ca, "-keystore", p, "-storetype", tc.st, "-storepass", "storepass9")
		data, _ := os.ReadFile(p)
		var keypass []byte
		if tc.st == "JKS" {
			keypass = []byte("keypass9")
		}
		c, err := Decode(data, "", []byte("storepass9"), keypass)
		if err != nil {
			t.Fatalf("%s: %v", tc.st, err)
		}
		if len(c.Identities) != 1 || c.Identities[0].Alias != "javaserver" || c.Identities[0].Chain[0].Subject.CommonName != "java.example" {
			t.Errorf("%s identities: %+v", tc.st, c.Identities)
		}
		if len(c.Trusted) != 1 || !strings.EqualFold(c.Trusted[0].Alias, "our ca") || !c.Trusted[0].Cert.Equal(f.root.Cert) {
			t.Errorf("%s trusted: %+v", tc.st, c.Trusted)
		}
		// The key works: sign and verify.
		id := c.Identities[0]
		digest := make([]byte, 32)
		if _, err := id.Key.Sign(rand.Reader, digest, crypto.SHA256); err != nil {
			t.Errorf("%s key does not sign: %v", tc.st, err)
		}
		if _, err := Decode(data, "", []byte("wrongpass"), keypass); !errors.Is(err, ErrBadPassword) {
			t.Errorf("%s wrong password: %v", tc.st, err)
		}
		if tc.st == "JKS" {
			if _, err := Decode(data, "", []byte("storepass9"), []byte("wrongkey")); !errors.Is(err, ErrBadKeyPassword) {
				t.Errorf("JKS wrong key password: %v", err)
			}
		}
	}
	// A truststore alone (keytool -importcert into a new PKCS12 file).
	tp := filepath.Join(d, "trust.p12")
	keytool(t, d, "-importcert", "-noprompt", "-alias", "root", "-file", ca, "-keystore", tp, "-storetype", "PKCS12", "-storepass", "trustpass")
	data, _ := os.ReadFile(tp)
	c, err := Decode(data, PKCS12, []byte("trustpass"), nil)
	if err != nil || len(c.Trusted) != 1 || len(c.Identities) != 0 || !bytes.Equal(c.Trusted[0].Cert.Raw, f.root.Cert.Raw) {
		t.Errorf("truststore: %+v %v", c, err)
	}
}

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileSizes: counts and lengths a file cannot hold are refused without
// allocating them, and a PKCS#12 keystore asking for too much key derivation
// is refused whatever the password.
func TestHostileSizes(t *testing.T) {
	f := newFixture(t)
	jksFile, _ := EncodeKeystore(JKS, Identity{Alias: "k", Key: f.leaf.Key, Chain: []*x509.Certificate{f.leaf.Cert}}, []byte("storepass"), nil)
	withCount := func(count []byte) []byte {
		b := append([]byte{}, jksFile...)
		copy(b[8:], count)
		return b
	}
	// A key entry whose chain claims 9,999 certificates.
	chainAt := bytes.Index(jksFile, f.leaf.Cert.Raw) - 4 - 2 - len("X.509") - 4
	manyChain := append([]byte{}, jksFile...)
	copy(manyChain[chainAt:], []byte{0, 0, 0x27, 0x0f})
	for name, data := range map[string][]byte{
		"entry count 9,999":      withCount([]byte{0, 0, 0x27, 0x0f}),
		"entry count 2^32-1":     withCount([]byte{0xff, 0xff, 0xff, 0xff}),
		"chain of 9,999":         manyChain,
		"key length 4 GiB":       append(append([]byte{}, jksFile[:12]...), 0, 0, 0, 1, 0, 1, 'k', 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff),
		"p12 sequence of 4 GiB":  {0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x03},
		"p12 octets of 4 GiB":    {0x30, 0x0c, 0x02, 0x01, 0x03, 0x30, 0x07, 0x06, 0x01, 0x00, 0xa0, 0x82, 0xff, 0xff},
		"p12 indefinite, no end": bytes.Repeat([]byte{0x30, 0x80}, 1000),
	} {
		var err error
		n := allocated(func() { _, err = Decode(data, "", []byte("storepass"), nil) })
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
		if strings.HasPrefix(name, "entry count") && !strings.Contains(err.Error(), "at byte 12 ") {
			t.Errorf("%s: not refused up front: %v", name, err)
		}
		if n > 1<<20 {
			t.Errorf("%s: %d bytes allocated for a %d-byte file", name, n, len(data))
		}
	}
	// 2^31-1 iterations for the MAC of a PKCS#12 keystore (the total adds the
	// 2 x 2048 of its key and certificates).
	p12, _ := EncodeKeystore(PKCS12, Identity{Alias: "k", Key: f.leaf.Key, Chain: []*x509.Certificate{f.leaf.Cert}}, []byte("storepass"), nil)
	macIter := []byte{0x02, 0x02, 0x08, 0x00} // INTEGER 2048, the MAC's count, last in the file
	if !bytes.HasSuffix(p12, macIter) {
		t.Fatalf("the MAC iteration count is not where expected: % x", p12[len(p12)-8:])
	}
	hostile := append(append([]byte{}, p12[:len(p12)-len(macIter)]...), 0x02, 0x04, 0x7f, 0xff, 0xff, 0xff)
	// Fix the enclosing lengths: the PFX and the MacData each grew by 2 bytes.
	hostile = growLengths(t, hostile, 2)
	for _, pw := range []string{"storepass", "wrong"} {
		if _, err := Decode(hostile, PKCS12, []byte(pw), nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "the file asks for 2147487743 iterations of key derivation; at most 10000000") {
			t.Errorf("MAC of 2^31-1 iterations, password %s: %v", pw, err)
		}
	}
}

// growLengths adds n to the length of the outer SEQUENCE and of its last
// element (the MacData) of a DER file whose last element was lengthened.
func growLengths(t *testing.T, der []byte, n int) []byte {
	t.Helper()
	if der[0] != 0x30 || der[1] != 0x82 {
		t.Fatal("outer length is not two bytes")
	}
	l := int(der[2])<<8 | int(der[3]) + n
	der[2], der[3] = byte(l>>8), byte(l)
	// The MacData SEQUENCE: find it from its start, a SEQUENCE of a
	// DigestInfo, near the end; its length is one byte.
	for i := len(der) - 2; i > 4; i-- {
		if der[i] == 0x30 && int(der[i+1])+i+2 == len(der)-n {
			der[i+1] += byte(n)
			return der
		}
	}
	t.Fatal("MacData not found")
	return nil
}
