package pkcs12

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopcp/gopcp/internal/testcerts"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// FuzzPKCS12Parse feeds the reader anything, seeded with the real files of
// testdata and with files the test makes (every algorithm, DER and BER). The
// limits are low so that fuzzing spends its time parsing, not hashing (the
// real files are refused by them; go-pkcs12 seeds with 2 iterations go deep).
func FuzzPKCS12Parse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.p12")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data, []byte("secret"))
		}
	}
	k := testcerts.New(f, nil, testcerts.Options{CN: "fuzz"})
	for _, enc := range []*gopkcs12.Encoder{gopkcs12.LegacyRC2, gopkcs12.LegacyDES, gopkcs12.Modern} {
		der, err := enc.WithIterations(2).Encode(k.Key, k.Cert, []*x509.Certificate{k.Cert}, "pw")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der, []byte("pw"))
		f.Add(der, []byte(""))
	}
	f.Add(pfxFile(seq(dataCI(shroudedBag(pbeAlg(oidPBEWithSHA3DES, i64(1<<31)))))), []byte("pw"))
	f.Add(pfxFile(seq(encryptedCI(pbes2Alg(i64(3)), make([]byte, 32))), macDER(i64(1), make([]byte, 32))), []byte(""))
	f.Add([]byte{0x30, 0x80, 0x02, 0x01, 0x03, 0x00, 0x00}, []byte(""))
	lim := Limits{MaxIterations: 1_000, MaxBags: 100, MaxAttributes: 8}
	f.Fuzz(func(t *testing.T, data, password []byte) {
		c, err := lim.Decode(data, password)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrBadPassword) && !errors.Is(err, ErrTooMuchWork) {
				t.Fatalf("an error outside the four kinds: %v", err)
			}
			return
		}
		if c.Iterations > lim.MaxIterations || len(c.Bags) > lim.MaxBags {
			t.Fatalf("over the limits: %d iterations, %d bags", c.Iterations, len(c.Bags))
		}
		for _, b := range c.Bags {
			if (b.PrivateKey == nil) == (b.Certificate == nil) {
				t.Fatal("a bag with both or neither of key and certificate")
			}
		}
	})
}
