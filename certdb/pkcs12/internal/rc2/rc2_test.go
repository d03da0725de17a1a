package rc2

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// The test vectors of RFC 2268 section 5, all eight of them.
var rfcVectors = []struct {
	effective                  int
	key, plaintext, ciphertext string
}{
	{63, "0000000000000000", "0000000000000000", "ebb773f993278eff"},
	{64, "ffffffffffffffff", "ffffffffffffffff", "278b27e42e2f0d49"},
	{64, "3000000000000000", "1000000000000001", "30649edf9be7d2c2"},
	{64, "88", "0000000000000000", "61a8a244adacccf0"},
	{64, "88bca90e90875a", "0000000000000000", "6ccf4308974c267f"},
	{64, "88bca90e90875a7f0f79c384627bafb2", "0000000000000000", "1a807d272bbe5db1"},
	{128, "88bca90e90875a7f0f79c384627bafb2", "0000000000000000", "2269552ab0f85ca6"},
	{129, "88bca90e90875a7f0f79c384627bafb216f80a6f85920584c42fceb0be255daf1e", "0000000000000000", "5b78d3a43dfff1f1"},
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRFC2268Vectors(t *testing.T) {
	for i, v := range rfcVectors {
		key, pt, ct := unhex(t, v.key), unhex(t, v.plaintext), unhex(t, v.ciphertext)
		c, err := New(key, v.effective)
		if err != nil {
			t.Fatalf("vector %d: %v", i+1, err)
		}
		got := make([]byte, BlockSize)
		c.Encrypt(got, pt)
		if !bytes.Equal(got, ct) {
			t.Errorf("vector %d (%d-byte key, %d bits): encrypt = %x, want %x", i+1, len(key), v.effective, got, ct)
		}
		c.Decrypt(got, ct)
		if !bytes.Equal(got, pt) {
			t.Errorf("vector %d: decrypt = %x, want %x", i+1, got, pt)
		}
	}
}

func TestPiTableIsPermutation(t *testing.T) {
	var seen [256]bool
	for _, b := range piTable {
		if seen[b] {
			t.Fatalf("PITABLE repeats %#x", b)
		}
		seen[b] = true
	}
}

func TestBadParameters(t *testing.T) {
	for _, tc := range []struct {
		key  int
		bits int
	}{{0, 64}, {129, 64}, {8, 0}, {8, 1025}} {
		if _, err := New(make([]byte, tc.key), tc.bits); err == nil {
			t.Errorf("New(%d-byte key, %d bits) accepted", tc.key, tc.bits)
		}
	}
}

// In place, and every effective length round-trips.
func TestRoundTripInPlace(t *testing.T) {
	key := []byte("0123456789abcdef")
	for bits := 1; bits <= 1024; bits += 37 {
		c, err := New(key, bits)
		if err != nil {
			t.Fatal(err)
		}
		b := []byte("8 bytes!")
		c.Encrypt(b, b)
		if string(b) == "8 bytes!" {
			t.Fatalf("%d bits: encryption changed nothing", bits)
		}
		c.Decrypt(b, b)
		if string(b) != "8 bytes!" {
			t.Fatalf("%d bits: round trip gave %q", bits, b)
		}
	}
}
