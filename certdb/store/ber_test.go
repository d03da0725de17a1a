package store

import (
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// testdata/pk12util-nss3.87.p12 was written by `pk12util -o -n pmserver_cert -w
// (secret)` from NSS 3.87 after the PCP walkthrough: BER with indefinite lengths,
// chunked OCTET STRINGs, an HMAC-SHA-256 MAC with 600000 iterations. The BER
// reading itself is tested in certdb/pkcs12.
func TestDecodeNSSPKCS12(t *testing.T) {
	data, err := os.ReadFile("testdata/pk12util-nss3.87.p12")
	if err != nil {
		t.Fatal(err)
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

// A file asking for 2^31-1 iterations of MAC derivation is refused as bad
// input, whatever the password, before any key derivation (which would take
// minutes).
func TestPKCS12TooMuchWork(t *testing.T) {
	// PFX { 3, data { SEQUENCE { data { SEQUENCE {} } } }, MAC sha256, 2^31-1 }
	hostile, _ := hex.DecodeString("306e020103302406092a864886f70d010701a01704153013301106092a864886f70d010701a0040402300030" +
		"433031300d0609608648016503040201050004200000000000000000000000000000000000000000000000000000000000000000" +
		"040873616c7473616c7402047fffffff")
	for _, pw := range []string{"", "secret"} {
		_, _, _, _, err := DecodePKCS12(hostile, []byte(pw))
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "the file asks for 2147483647 iterations of key derivation; at most 10000000") {
			t.Errorf("password %q: %v", pw, err)
		}
	}
}
