package store

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"os"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// testdata/pk12util-nss3.87.p12 was written by `pk12util -o -n pmserver_cert -w
// (secret)` from NSS 3.87 after the PCP walkthrough: BER with indefinite lengths,
// chunked OCTET STRINGs, an HMAC-SHA-256 MAC with 600000 iterations.
func TestDecodeNSSPKCS12(t *testing.T) {
	data, err := os.ReadFile("testdata/pk12util-nss3.87.p12")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := pkcs12.DecodeChain(data, "secret"); err == nil {
		t.Log("go-pkcs12 now reads BER itself; normalizePKCS12 may be unnecessary")
	}
	key, leaf, others, name, err := DecodePKCS12(data, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "pmserver" || len(others) != 1 || others[0].Subject.CommonName != "myCA" || name != "pmserver_cert" {
		t.Errorf("leaf %v, %d others, friendly name %q", leaf.Subject, len(others), name)
	}
	if !publicKeyEqual(key, leaf.PublicKey) {
		t.Error("key does not match leaf")
	}
	if _, _, _, _, err := DecodePKCS12(data, []byte("wrong")); !errors.Is(err, ErrBadPKCS12Password) {
		t.Errorf("wrong password: %v", err)
	}
	s, _ := newStore(t, "")
	added, _, err := s.ImportPKCS12(data, []byte("secret"), "")
	if err != nil || len(added) != 2 || added[0] != "pmserver_cert" || added[1] != "myCA" {
		t.Errorf("ImportPKCS12: %v %v", added, err)
	}
}

// toBER re-encodes DER the way NSS's streaming encoder does: every constructed
// element with an indefinite length, every OCTET STRING longer than chunk bytes
// split into a constructed string.
func toBER(t *testing.T, der []byte, chunk int) []byte {
	t.Helper()
	n, rest, err := parseBER(der, 0)
	if err != nil || len(rest) != 0 {
		t.Fatalf("parse: %v", err)
	}
	var enc func(n *berNode) []byte
	enc = func(n *berNode) []byte {
		if !n.constructed() {
			if n.tag == tagOctetString && len(n.content) > chunk {
				out := []byte{tagOctetStringConstructed, 0x80}
				for c := n.content; len(c) > 0; {
					k := min(chunk, len(c))
					out = append(out, encodeTLV(tagOctetString, c[:k])...)
					c = c[k:]
				}
				return append(out, 0, 0)
			}
			return encodeTLV(n.tag, n.content)
		}
		out := []byte{n.tag, 0x80}
		for _, c := range n.children {
			out = append(out, enc(c)...)
		}
		return append(out, 0, 0)
	}
	return enc(n)
}

func TestBERRoundTrip(t *testing.T) {
	p := newPKI(t)
	der, err := pkcs12.Modern.Encode(p.server.Key, p.server.Cert, []*x509.Certificate{p.inter.Cert, p.root.Cert}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	ber := toBER(t, der, 100)
	if bytes.Equal(ber, der) {
		t.Fatal("toBER changed nothing")
	}
	if got := berToDER(ber); !bytes.Equal(got, der) {
		t.Error("berToDER(toBER(der)) != der")
	}
	// Whole file in BER, with the MAC over the BER authenticated safe (as NSS
	// computes it): build it by hand from the DER parts.
	root, _, _ := parseBER(der, 0)
	content, _ := root.children[1].children[1].children[0].flatten()
	berContent := toBER(t, content, 64)
	md, _ := root.children[2].der()
	mac, err := parseMacData(md)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := mac.compute(berContent, bmpPassword([]byte("pw")), mac.iterations)
	if err != nil {
		t.Fatal(err)
	}
	mac.digest = digest
	newMD, err := asn1.Marshal(asnMacData{
		Mac:        asnDigestInfo{Algorithm: asnAlgorithm{Algorithm: mac.alg, Parameters: asn1.NullRawValue}, Digest: digest},
		MacSalt:    mac.salt,
		Iterations: mac.iterations,
	})
	if err != nil {
		t.Fatal(err)
	}
	verDER, _ := root.children[0].der()
	oid, _ := root.children[1].children[0].der()
	authSafe := append([]byte{tagSequence, 0x80}, oid...)
	authSafe = append(authSafe, tagContext0Constructed, 0x80)
	authSafe = append(authSafe, toBER(t, encodeTLV(tagOctetString, berContent), 500)...)
	authSafe = append(authSafe, 0, 0, 0, 0)
	file := append([]byte{tagSequence, 0x80}, verDER...)
	file = append(file, authSafe...)
	file = append(file, newMD...)
	file = append(file, 0, 0)

	if _, _, _, err := pkcs12.DecodeChain(file, "pw"); err == nil {
		t.Fatal("go-pkcs12 read the BER file; the test does not exercise normalizePKCS12")
	}
	key, leaf, others, _, err := DecodePKCS12(file, []byte("pw"))
	if err != nil {
		t.Fatalf("DecodePKCS12(BER): %v", err)
	}
	if !leaf.Equal(p.server.Cert) || len(others) != 2 || !publicKeyEqual(key, leaf.PublicKey) {
		t.Error("BER file decoded to something else")
	}
	if _, _, _, _, err := DecodePKCS12(file, []byte("wrong")); !errors.Is(err, ErrBadPKCS12Password) {
		t.Errorf("wrong password on BER: %v", err)
	}
}

func TestPKCS12KDFVector(t *testing.T) {
	// go-pkcs12 computes the same MAC key: a DER file it wrote verifies with ours.
	p := newPKI(t)
	der, err := pkcs12.Modern.Encode(p.client.Key, p.client.Cert, nil, "pässwörd")
	if err != nil {
		t.Fatal(err)
	}
	root, _, _ := parseBER(der, 0)
	content, _ := root.children[1].children[1].children[0].flatten()
	md, _ := root.children[2].der()
	mac, err := parseMacData(md)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := mac.verify(content, bmpPassword([]byte("pässwörd"))); !ok || err != nil {
		t.Errorf("our MAC disagrees with go-pkcs12's: %v", err)
	}
	if ok, _ := mac.verify(content, bmpPassword([]byte("other"))); ok {
		t.Error("MAC verified with a wrong password")
	}
}

func FuzzNormalizePKCS12(f *testing.F) {
	if data, err := os.ReadFile("testdata/pk12util-nss3.87.p12"); err == nil {
		f.Add(data)
	}
	f.Add([]byte{0x30, 0x80, 0x02, 0x01, 0x03, 0x00, 0x00})
	f.Add([]byte{0x24, 0x80, 0x04, 0x01, 0x41, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := normalizePKCS12(data, []byte("secret"))
		if err == nil && out == nil {
			t.Fatal("nil output without error")
		}
		berToDER(data)
	})
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"format":"gopcp-certdb","version":1,"kdf":{"name":"scrypt","salt":"AAAAAAAAAAA=","n":2,"r":1,"p":1},"check":"","entries":[]}`))
	f.Add([]byte(`{"format":"gopcp-certdb","version":1,"entries":[{"nickname":"a","trust":"CT,,","cert":"MA=="}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeState(data)
		if err != nil {
			return
		}
		if _, err := st.encode(); err != nil {
			t.Fatalf("decoded state does not encode: %v", err)
		}
	})
}
