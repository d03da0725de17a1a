package pkcs12

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
	"encoding/asn1"
	"math/big"
	"testing"
)

// Builders for hand-made (and hostile) files, in DER.

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func seq(parts ...[]byte) []byte  { return encodeTLV(tagSequence, cat(parts...)) }
func set(parts ...[]byte) []byte  { return encodeTLV(tagSet, cat(parts...)) }
func exp0(parts ...[]byte) []byte { return encodeTLV(tagContext0Explicit, cat(parts...)) }
func octet(b []byte) []byte       { return encodeTLV(tagOctetString, b) }

var null = []byte{0x05, 0x00}

func oidDER(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return b
}

func intDER(n *big.Int) []byte {
	b, err := asn1.Marshal(n)
	if err != nil {
		panic(err)
	}
	return b
}

func i64(n int64) *big.Int { return big.NewInt(n) }

func pfxFile(authSafe []byte, mac ...[]byte) []byte {
	return seq(cat(intDER(i64(3)), seq(oidDER(oidData), exp0(octet(authSafe)))), cat(mac...))
}

func dataCI(bags ...[]byte) []byte {
	return seq(oidDER(oidData), exp0(octet(seq(bags...))))
}

func encryptedCI(alg, ct []byte) []byte {
	return seq(oidDER(oidEncryptedData), exp0(seq(intDER(i64(0)), seq(oidDER(oidData), alg, encodeTLV(tagContext0, ct)))))
}

func macDER(iterations *big.Int, digest []byte) []byte {
	return seq(seq(seq(oidDER(oidSHA256), null), octet(digest)), octet([]byte("saltsalt")), intDER(iterations))
}

func pbeAlg(oid asn1.ObjectIdentifier, iterations *big.Int) []byte {
	return seq(oidDER(oid), seq(octet([]byte("saltsalt")), intDER(iterations)))
}

func pbes2Alg(iterations *big.Int) []byte {
	kdf := seq(oidDER(oidPBKDF2), seq(octet([]byte("saltsalt")), intDER(iterations), seq(oidDER(oidHMACSHA256), null)))
	return seq(oidDER(oidPBES2), seq(kdf, seq(oidDER(oidAES256CBC), octet(make([]byte, 16)))))
}

func shroudedBag(alg []byte, attrs ...[]byte) []byte {
	b := cat(oidDER(oidShroudedKeyBag), exp0(seq(alg, octet(make([]byte, 32)))))
	if len(attrs) > 0 {
		b = cat(b, set(attrs...))
	}
	return seq(b)
}

// encrypt3DES encrypts plain as pbeWithSHAAnd3-KeyTripleDES-CBC does, with the
// KDF password bmp as given (so that the empty-password variants can be made).
func encrypt3DES(t *testing.T, plain, bmp []byte, iterations int) []byte {
	t.Helper()
	salt := []byte("saltsalt")
	block, err := des.NewTripleDESCipher(kdf(sha1.New, 64, salt, bmp, iterations, idKey, 24))
	if err != nil {
		t.Fatal(err)
	}
	iv := kdf(sha1.New, 64, salt, bmp, iterations, idIV, 8)
	n := 8 - len(plain)%8
	padded := append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(n)}, n)...)
	out := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, padded)
	return out
}

// toBER re-encodes DER as NSS's streaming encoder does: every constructed
// element with an indefinite length, every OCTET STRING (and implicitly
// tagged [0] string) longer than chunk bytes split into a constructed one.
func toBER(t *testing.T, der []byte, chunk int) []byte {
	t.Helper()
	e, err := parseOne(der, 0)
	if err != nil {
		t.Fatalf("toBER: %v", err)
	}
	var enc func(e element) []byte
	enc = func(e element) []byte {
		if !e.constructed() {
			if (e.tag == tagOctetString || e.tag == tagContext0) && len(e.body) > chunk {
				return chunked(e.tag|tagConstructed, e.body, chunk)
			}
			return encodeTLV(e.tag, e.body)
		}
		out := []byte{e.tag, 0x80}
		c := e.children()
		for c.more() {
			x, err := c.next()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, enc(x)...)
		}
		return append(out, 0, 0)
	}
	return enc(e)
}

func chunked(tag byte, b []byte, chunk int) []byte {
	out := []byte{tag, 0x80}
	for len(b) > 0 {
		k := min(chunk, len(b))
		out = append(out, encodeTLV(tagOctetString, b[:k])...)
		b = b[k:]
	}
	return append(out, 0, 0)
}

func indefinite(tag byte, parts ...[]byte) []byte {
	return append(append([]byte{tag, 0x80}, cat(parts...)...), 0, 0)
}
