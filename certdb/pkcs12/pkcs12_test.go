package pkcs12

import (
	"bytes"
	"crypto"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/testcerts"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// The DER encoding of each legacy algorithm identifier, to prove a file
// really uses it.
var (
	derRC2_40  = oidDER(oidPBEWithSHARC2_40)
	derRC2_128 = oidDER(oidPBEWithSHARC2_128)
	der3DES    = oidDER(oidPBEWithSHA3DES)
)

type fixture struct{ root, leaf *testcerts.Cert }

func newFixture(t *testing.T) *fixture {
	f := &fixture{}
	f.root = testcerts.New(t, nil, testcerts.Options{CN: "P12 Root", IsCA: true})
	f.leaf = testcerts.New(t, f.root, testcerts.Options{CN: "p12 leaf", Server: true, RSA: true})
	return f
}

// keyAndCerts checks that c holds one key whose certificate is named cn.
func keyAndCerts(t *testing.T, name string, c *Contents, cn string) (key crypto.Signer, leaf *Bag) {
	t.Helper()
	var keys []*Bag
	for i := range c.Bags {
		if c.Bags[i].PrivateKey != nil {
			keys = append(keys, &c.Bags[i])
		}
	}
	if len(keys) != 1 {
		t.Fatalf("%s: %d keys", name, len(keys))
	}
	k, err := x509.ParsePKCS8PrivateKey(keys[0].PrivateKey)
	if err != nil {
		t.Fatalf("%s: key: %v", name, err)
	}
	key = k.(crypto.Signer)
	for i := range c.Bags {
		b := &c.Bags[i]
		if b.Certificate != nil && b.Certificate.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
			leaf = b
		}
	}
	if leaf == nil || leaf.Certificate.Subject.CommonName != cn {
		t.Fatalf("%s: no certificate %q for the key", name, cn)
	}
	return key, leaf
}

func TestGoPKCS12Encoders(t *testing.T) {
	f := newFixture(t)
	for name, enc := range map[string]*gopkcs12.Encoder{
		"LegacyRC2": gopkcs12.LegacyRC2, "LegacyDES": gopkcs12.LegacyDES,
		"Modern2023": gopkcs12.Modern2023, "Modern": gopkcs12.Modern,
	} {
		for _, pw := range []string{"pässwörd", ""} {
			der, err := enc.Encode(f.leaf.Key, f.leaf.Cert, []*x509.Certificate{f.root.Cert}, pw)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Decode(der, []byte(pw))
			if err != nil {
				t.Fatalf("%s %q: %v", name, pw, err)
			}
			keyAndCerts(t, name, c, "p12 leaf")
			if len(c.Bags) != 3 || c.Iterations < 2048 {
				t.Errorf("%s: %d bags, %d iterations", name, len(c.Bags), c.Iterations)
			}
			if _, err := Decode(der, []byte("wrong")); !errors.Is(err, ErrBadPassword) {
				t.Errorf("%s %q, wrong password: %v", name, pw, err)
			}
		}
	}
}

func TestEncodeNamesKey(t *testing.T) {
	f := newFixture(t)
	der, err := Encode(f.leaf.Key, f.leaf.Cert, []*x509.Certificate{f.root.Cert}, "My Alias ✓", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(der, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range c.Bags {
		if b.PrivateKey != nil && b.FriendlyName != "My Alias ✓" {
			t.Errorf("key friendlyName %q", b.FriendlyName)
		}
	}
	// go-pkcs12 reads it too: the new MAC is right.
	if _, _, _, err := gopkcs12.DecodeChain(der, "pw"); err != nil {
		t.Errorf("go-pkcs12 does not read the named file: %v", err)
	}
	// Without a name, exactly go-pkcs12's Modern format.
	der, err = Encode(f.leaf.Key, f.leaf.Cert, nil, "", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(der, oidDER(oidFriendlyName)) {
		t.Error("an unnamed file carries a friendlyName")
	}
	ts, err := EncodeTrustStore([]TrustedCert{{Cert: f.root.Cert, FriendlyName: "root"}}, []byte("tp"))
	if err != nil {
		t.Fatal(err)
	}
	c, err = Decode(ts, []byte("tp"))
	if err != nil || len(c.Bags) != 1 || !c.Bags[0].JavaTrusted || c.Bags[0].FriendlyName != "root" {
		t.Errorf("truststore: %+v %v", c, err)
	}
}

// The empty password: a MAC over "" as no bytes (not two zero bytes), and a
// file without a MAC whose key was encrypted with "" as no bytes.
func TestEmptyPasswordVariants(t *testing.T) {
	f := newFixture(t)
	der, err := gopkcs12.LegacyDES.Encode(f.leaf.Key, f.leaf.Cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	// Re-MAC with the no-bytes encoding.
	authSafe, mac, _, err := readPFX(der)
	if err != nil {
		t.Fatal(err)
	}
	h, v, _ := hashFor(mac.Mac.Algorithm.Algorithm)
	old := pkcs12MAC(h, v, mac.MacSalt, []byte{0, 0}, int(mac.Iterations.Int64()), authSafe)
	if !bytes.Equal(old, mac.Mac.Digest) {
		t.Fatal("go-pkcs12 did not MAC the empty password as two zero bytes")
	}
	remac := bytes.Replace(der, old, pkcs12MAC(h, v, mac.MacSalt, nil, int(mac.Iterations.Int64()), authSafe), 1)
	for _, pw := range [][]byte{nil, {}} {
		if _, err := Decode(remac, pw); err != nil {
			t.Errorf("MAC over no bytes, password %q: %v", pw, err)
		}
	}
	if _, err := Decode(remac, []byte("x")); !errors.Is(err, ErrBadPassword) {
		t.Errorf("MAC over no bytes, password x: %v", err)
	}

	keyDER, _ := x509.MarshalPKCS8PrivateKey(f.leaf.Key)
	alg := pbeAlg(oidPBEWithSHA3DES, i64(10))
	bag := seq(oidDER(oidShroudedKeyBag), exp0(seq(alg, octet(encrypt3DES(t, keyDER, nil, 10)))))
	noMAC := pfxFile(seq(dataCI(bag)))
	c, err := Decode(noMAC, nil)
	if err != nil || len(c.Bags) != 1 || !bytes.Equal(c.Bags[0].PrivateKey, keyDER) {
		t.Fatalf("key encrypted with no bytes: %v", err)
	}
	if _, err := Decode(noMAC, []byte("x")); !errors.Is(err, ErrBadPassword) {
		t.Errorf("key encrypted with no bytes, password x: %v", err)
	}
}

// TestBER: a file as pk12util writes it (indefinite lengths everywhere,
// chunked strings, the MAC over the BER authenticated safe), which go-pkcs12
// cannot read.
func TestBER(t *testing.T) {
	f := newFixture(t)
	der, err := gopkcs12.Modern.Encode(f.leaf.Key, f.leaf.Cert, []*x509.Certificate{f.root.Cert}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	_, mac, infos, err := readPFX(der)
	if err != nil {
		t.Fatal(err)
	}
	var cis [][]byte
	for _, ci := range infos {
		switch {
		case ci.typ.Equal(oidData):
			sc, _ := ci.content.octets()
			cis = append(cis, indefinite(tagSequence, oidDER(oidData), indefinite(tagContext0Explicit, chunked(0x24, toBER(t, sc, 40), 50))))
		default:
			d, _ := ci.content.toDER()
			cis = append(cis, indefinite(tagSequence, oidDER(ci.typ), indefinite(tagContext0Explicit, toBER(t, d, 64))))
		}
	}
	content := indefinite(tagSequence, cis...)
	h, v, _ := hashFor(mac.Mac.Algorithm.Algorithm)
	digest := pkcs12MAC(h, v, mac.MacSalt, bmpPassword([]byte("pw")), int(mac.Iterations.Int64()), content)
	macPart := seq(seq(seq(oidDER(mac.Mac.Algorithm.Algorithm), null), octet(digest)), octet(mac.MacSalt), intDER(mac.Iterations))
	file := indefinite(tagSequence, intDER(i64(3)), indefinite(tagSequence, oidDER(oidData), indefinite(tagContext0Explicit, chunked(0x24, content, 100))), toBER(t, macPart, 8))

	if _, _, _, err := gopkcs12.DecodeChain(file, "pw"); err == nil {
		t.Fatal("go-pkcs12 read the BER file: the test does not test BER")
	}
	c, err := Decode(file, []byte("pw"))
	if err != nil {
		t.Fatalf("BER file: %v", err)
	}
	key, _ := keyAndCerts(t, "BER", c, "p12 leaf")
	if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(f.leaf.Key.Public()) {
		t.Error("BER: another key")
	}
	if _, err := Decode(file, []byte("wrong")); !errors.Is(err, ErrBadPassword) {
		t.Errorf("BER, wrong password: %v", err)
	}
	// Every strict prefix fails, never panics.
	for i := 0; i < len(file); i += 13 {
		if _, err := Decode(file[:i], []byte("pw")); err == nil {
			t.Fatalf("prefix of %d bytes decoded", i)
		}
	}
}

// Files made by real tools, kept in testdata (see testdata/README).
func TestRealFiles(t *testing.T) {
	for _, tc := range []struct {
		file, password, cn string
		mustUse            []byte
	}{
		{"pk12util-nss3.87.p12", "secret", "pmserver", nil},
		{"openssl3-legacy-rc2-40.p12", "legacy-pw", "legacy", derRC2_40},
		{"openssl3-rc2-128.p12", "x", "legacy", derRC2_128},
		{"keytool17-legacy.p12", "storepw1", "javalegacy", derRC2_40},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if tc.mustUse != nil && !bytes.Contains(data, tc.mustUse) {
			t.Fatalf("%s does not use the algorithm it is kept for", tc.file)
		}
		c, err := Decode(data, []byte(tc.password))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		keyAndCerts(t, tc.file, c, tc.cn)
		if _, err := Decode(data, []byte("not-"+tc.password)); !errors.Is(err, ErrBadPassword) {
			t.Errorf("%s, wrong password: %v", tc.file, err)
		}
	}
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestOpenSSLMade: files made now by openssl pkcs12 -export, legacy and
// modern, with and without a password.
func TestOpenSSLMade(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not found: apt-get install openssl")
	}
	f := newFixture(t)
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "leaf.crt"), f.leaf.CertPEM(), 0o600)
	os.WriteFile(filepath.Join(d, "leaf.key"), f.leaf.KeyPEM(t), 0o600)
	os.WriteFile(filepath.Join(d, "root.crt"), f.root.CertPEM(), 0o600)
	for _, tc := range []struct {
		name, password string
		args           []string
		mustUse        [][]byte
	}{
		{"legacy", "op3n", []string{"-legacy"}, [][]byte{derRC2_40, der3DES}},
		{"rc2-128", "op3n", []string{"-legacy", "-certpbe", "PBE-SHA1-RC2-128", "-keypbe", "PBE-SHA1-RC2-128"}, [][]byte{derRC2_128}},
		{"legacy-empty", "", []string{"-legacy"}, [][]byte{derRC2_40}},
		{"modern", "op3n", nil, [][]byte{oidDER(oidPBES2), oidDER(oidAES256CBC)}},
		{"modern-empty", "", nil, nil},
		{"nomac", "op3n", []string{"-nomac"}, nil},
	} {
		out := filepath.Join(d, tc.name+".p12")
		args := append([]string{"pkcs12", "-export", "-in", "leaf.crt", "-inkey", "leaf.key", "-certfile", "root.crt",
			"-name", "leaf name", "-passout", "pass:" + tc.password, "-out", out}, tc.args...)
		run(t, d, "openssl", args...)
		data, _ := os.ReadFile(out)
		for _, oid := range tc.mustUse {
			if !bytes.Contains(data, oid) {
				t.Errorf("%s: openssl did not use %x", tc.name, oid)
			}
		}
		c, err := Decode(data, []byte(tc.password))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, leaf := keyAndCerts(t, tc.name, c, "p12 leaf")
		if leaf.FriendlyName != "leaf name" || len(c.Bags) != 3 {
			t.Errorf("%s: friendlyName %q, %d bags", tc.name, leaf.FriendlyName, len(c.Bags))
		}
		if _, err := Decode(data, []byte("wrong")); !errors.Is(err, ErrBadPassword) {
			t.Errorf("%s, wrong password: %v", tc.name, err)
		}
	}
}

// TestKeytoolMade: a keystore made now by keytool with Java's legacy PKCS#12
// algorithms (RC2-40 certificates, 3DES keys, SHA-1 MAC).
func TestKeytoolMade(t *testing.T) {
	if _, err := exec.LookPath("keytool"); err != nil {
		t.Skip("keytool not found: install a JDK (apt-get install openjdk-17-jdk-headless)")
	}
	d := t.TempDir()
	run(t, d, "keytool", "-J-Dkeystore.pkcs12.legacy", "-genkeypair", "-alias", "javakey", "-keyalg", "EC", "-groupname", "secp256r1",
		"-dname", "CN=java legacy", "-validity", "30", "-keystore", "legacy.p12", "-storetype", "pkcs12", "-storepass", "storepass9")
	data, err := os.ReadFile(filepath.Join(d, "legacy.p12"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, derRC2_40) || !bytes.Contains(data, der3DES) {
		t.Error("keytool -J-Dkeystore.pkcs12.legacy did not write RC2-40 and 3DES")
	}
	c, err := Decode(data, []byte("storepass9"))
	if err != nil {
		t.Fatal(err)
	}
	keyAndCerts(t, "keytool", c, "java legacy")
	for _, b := range c.Bags {
		if b.PrivateKey != nil && b.FriendlyName != "javakey" {
			t.Errorf("key alias %q", b.FriendlyName)
		}
	}
	if _, err := Decode(data, []byte("wrong")); !errors.Is(err, ErrBadPassword) {
		t.Errorf("wrong password: %v", err)
	}
}

// hostile: what a crafted file asks for is refused before any key
// derivation, with the right password or a wrong one.
func TestHostileIterations(t *testing.T) {
	two31 := i64(1 << 31)
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	secret := seq(oidDER(oidX509Certificate), exp0(null)) // a bag we skip
	many := make([][]byte, 10_000)
	for i := range many {
		many[i] = shroudedBag(pbeAlg(oidPBEWithSHA3DES, i64(2048)))
	}
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"MAC 2^31", pfxFile(seq(dataCI(secret)), macDER(two31, make([]byte, 32))), "asks for 2147483648 iterations"},
		{"MAC beyond int64", pfxFile(seq(dataCI(secret)), macDER(huge, make([]byte, 32))), "asks for 123456789012345678901234567890 iterations"},
		{"RC2-40 safe 2^31", pfxFile(seq(encryptedCI(pbeAlg(oidPBEWithSHARC2_40, two31), make([]byte, 64)))), "asks for 2147483648 iterations"},
		{"PBES2 safe 2^31", pfxFile(seq(encryptedCI(pbes2Alg(two31), make([]byte, 64)))), "asks for 2147483648 iterations"},
		{"3DES key 2^31", pfxFile(seq(dataCI(shroudedBag(pbeAlg(oidPBEWithSHA3DES, two31))))), "asks for 2147483648 iterations"},
		{"nested key 2^31", pfxFile(seq(dataCI(seq(oidDER(oidSafeContentsBag), exp0(seq(shroudedBag(pbes2Alg(two31)))))))), "asks for 2147483648 iterations"},
		{"10,000 keys of 2,048", pfxFile(seq(dataCI(many...)), macDER(i64(2048), make([]byte, 32))), "asks for 20482048 iterations"},
		{"sum of moderate", pfxFile(seq(encryptedCI(pbes2Alg(i64(6_000_000)), make([]byte, 16))), macDER(i64(6_000_000), make([]byte, 32))), "asks for 12000000 iterations"},
	} {
		for _, pw := range []string{"", "pw"} {
			start := time.Now()
			_, err := Decode(tc.file, []byte(pw))
			took := time.Since(start)
			if !errors.Is(err, ErrTooMuchWork) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "at most 10000000") {
				t.Errorf("%s (password %q): %v", tc.name, pw, err)
			}
			t.Logf("%s: refused in %v (%d bytes)", tc.name, took, len(tc.file))
		}
	}
	// Counts below 1 are damage, not work.
	for _, n := range []int64{0, -5} {
		if _, err := Decode(pfxFile(seq(dataCI(secret)), macDER(i64(n), make([]byte, 32))), nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("MAC iterations %d: %v", n, err)
		}
	}
}

// A key hidden in an encrypted safe is charged before its derivation too.
func TestHiddenIterations(t *testing.T) {
	inner := seq(shroudedBag(pbeAlg(oidPBEWithSHA3DES, i64(1<<31))))
	file := pfxFile(seq(encryptedCI(pbeAlg(oidPBEWithSHA3DES, i64(1)), encrypt3DES(t, inner, bmpPassword([]byte("pw")), 1))))
	_, err := Decode(file, []byte("pw"))
	if !errors.Is(err, ErrTooMuchWork) || !strings.Contains(err.Error(), "asks for 2147483649 iterations") {
		t.Errorf("hidden key: %v", err)
	}
	// The budget is the file's: the safe's count and the key's add up.
	lim := Limits{MaxIterations: 1000, MaxBags: 10, MaxAttributes: 4}
	inner = seq(shroudedBag(pbeAlg(oidPBEWithSHA3DES, i64(600))))
	file = pfxFile(seq(encryptedCI(pbeAlg(oidPBEWithSHA3DES, i64(600)), encrypt3DES(t, inner, bmpPassword([]byte("pw")), 600))))
	if _, err := lim.Decode(file, []byte("pw")); !errors.Is(err, ErrTooMuchWork) || !strings.Contains(err.Error(), "1200") {
		t.Errorf("hidden key over the rest of the budget: %v", err)
	}
}

func TestBagAndAttributeLimits(t *testing.T) {
	skipped := seq(oidDER(oidX509Certificate), exp0(null))
	bags := make([][]byte, 10_001)
	for i := range bags {
		bags[i] = skipped
	}
	if _, err := Decode(pfxFile(seq(dataCI(bags...))), nil); !errors.Is(err, ErrTooMuchWork) || !strings.Contains(err.Error(), "more than 10000 bags") {
		t.Errorf("10,001 bags: %v", err)
	}
	var attrs [][]byte
	for i := 0; i < 65; i++ {
		attrs = append(attrs, seq(oidDER(oidLocalKeyID), set(octet([]byte{byte(i)}))))
	}
	if _, err := Decode(pfxFile(seq(dataCI(shroudedBag(pbeAlg(oidPBEWithSHA3DES, i64(1)), attrs...)))), nil); !errors.Is(err, ErrTooMuchWork) || !strings.Contains(err.Error(), "64 attribute values") {
		t.Errorf("65 attributes: %v", err)
	}
	// Safe contents nested in safe contents, too deep.
	bag := shroudedBag(pbeAlg(oidPBEWithSHA3DES, i64(1)))
	for i := 0; i < 6; i++ {
		bag = seq(oidDER(oidSafeContentsBag), exp0(seq(bag)))
	}
	if _, err := Decode(pfxFile(seq(dataCI(bag))), nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("nested 6 deep: %v", err)
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

func TestHugeLengths(t *testing.T) {
	valid := pfxFile(seq(dataCI(seq(oidDER(oidX509Certificate), exp0(null)))))
	cases := map[string][]byte{
		"outer 4 GiB":          {0x30, 0x84, 0xff, 0xff, 0xff, 0xf0, 0x02, 0x01, 0x03},
		"length of 8 bytes":    {0x30, 0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x03},
		"inner octets 4 GiB":   pfxFile(cat([]byte{0x04, 0x84, 0xff, 0xff, 0xff, 0xff}, valid[:20])),
		"indefinite, no end":   append([]byte{0x30, 0x80}, bytes.Repeat([]byte{0x30, 0x80}, 20)...),
		"indefinite 100k deep": bytes.Repeat([]byte{0x30, 0x80}, 100_000),
		"definite 1000 deep":   nestDefinite(1000),
		"primitive indefinite": {0x04, 0x80, 0x00, 0x00},
		"trailing data":        append(append([]byte{}, valid...), 0x00),
		"high tag number":      {0x3f, 0x81, 0x01, 0x00},
		"empty":                {},
		"version 2":            bytes.Replace(valid, []byte{0x02, 0x01, 0x03}, []byte{0x02, 0x01, 0x02}, 1),
		"public-key protected": seq(intDER(i64(3)), seq(oidDER(oidEncryptedData), exp0(octet(nil)))),
	}
	for name, data := range cases {
		var err error
		n := allocated(func() { _, err = Decode(data, []byte("pw")) })
		if err == nil || errors.Is(err, ErrTooMuchWork) {
			t.Errorf("%s: %v", name, err)
		}
		if n > 1<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte file", name, n, len(data))
		}
		t.Logf("%s: %v (%d bytes allocated)", name, err, n)
	}
}

// nestDefinite is n SEQUENCEs inside each other with definite lengths.
func nestDefinite(n int) []byte {
	b := []byte{0x05, 0x00}
	for i := 0; i < n; i++ {
		b = encodeTLV(tagSequence, b)
	}
	return b
}

func TestKDFMatchesGoPKCS12MAC(t *testing.T) {
	// go-pkcs12's own MAC, with a non-ASCII password, checks with ours; a
	// changed byte of content or password does not.
	f := newFixture(t)
	der, _ := gopkcs12.Modern.Encode(f.leaf.Key, f.leaf.Cert, nil, "pässwörd€")
	authSafe, mac, _, err := readPFX(der)
	if err != nil {
		t.Fatal(err)
	}
	it := int(mac.Iterations.Int64())
	if !bytes.Equal(pkcs12MAC(sha256.New, 64, mac.MacSalt, bmpPassword([]byte("pässwörd€")), it, authSafe), mac.Mac.Digest) {
		t.Error("MAC differs from go-pkcs12's")
	}
	if bytes.Equal(pkcs12MAC(sha256.New, 64, mac.MacSalt, bmpPassword([]byte("passwörd€")), it, authSafe), mac.Mac.Digest) {
		t.Error("MAC matches with another password")
	}
}

// A key encrypted with the empty password as no bytes, where decrypting with
// the other encoding (two zero bytes) happens to leave valid padding: the
// decoder must go on to the next encoding, not report a wrong password. About
// one key in 256 is such a key; the test makes keys until it has one.
func TestEmptyPasswordPaddingByChance(t *testing.T) {
	salt := []byte("saltsalt") // encrypt3DES's
	wrongKey := kdf(sha1.New, 64, salt, []byte{0, 0}, 10, idKey, 24)
	wrongIV := kdf(sha1.New, 64, salt, []byte{0, 0}, 10, idIV, 8)
	block, err := des.NewTripleDESCipher(wrongKey)
	if err != nil {
		t.Fatal(err)
	}
	for try := 0; try < 20000; try++ {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalPKCS8PrivateKey(k)
		ct := encrypt3DES(t, keyDER, nil, 10)
		out := make([]byte, len(ct))
		cipher.NewCBCDecrypter(block, wrongIV).CryptBlocks(out, ct)
		if out[len(out)-1] != 1 { // valid one-byte padding under the wrong encoding
			continue
		}
		alg := pbeAlg(oidPBEWithSHA3DES, i64(10))
		bag := seq(oidDER(oidShroudedKeyBag), exp0(seq(alg, octet(ct))))
		c, err := Decode(pfxFile(seq(dataCI(bag))), nil)
		if err != nil || len(c.Bags) != 1 || !bytes.Equal(c.Bags[0].PrivateKey, keyDER) {
			t.Fatalf("key %d, whose padding is valid under the other encoding of the empty password: %v", try, err)
		}
		return
	}
	t.Fatal("no key in 20,000 had valid padding under the other encoding")
}
