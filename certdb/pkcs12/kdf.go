package pkcs12

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"hash"
	"unicode/utf16"
)

var (
	oidSHA1       = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA224     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidSHA256     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
)

// hashFor maps a digest (MAC) or HMAC (PBKDF2 PRF) identifier to the hash and
// its block size v, which the PKCS#12 KDF needs.
func hashFor(oid asn1.ObjectIdentifier) (h func() hash.Hash, v int, ok bool) {
	switch {
	case oid.Equal(oidSHA1), oid.Equal(oidHMACSHA1):
		return sha1.New, 64, true
	case oid.Equal(oidSHA224), oid.Equal(oidHMACSHA224):
		return sha256.New224, 64, true
	case oid.Equal(oidSHA256), oid.Equal(oidHMACSHA256):
		return sha256.New, 64, true
	case oid.Equal(oidSHA384), oid.Equal(oidHMACSHA384):
		return sha512.New384, 128, true
	case oid.Equal(oidSHA512), oid.Equal(oidHMACSHA512):
		return sha512.New, 128, true
	}
	return nil, 0, false
}

// Purpose bytes (the ID of RFC 7292 B.3).
const (
	idKey = 1
	idIV  = 2
	idMAC = 3
)

// bmpPassword encodes a password as the PKCS#12 KDF wants it: a BMPString
// (UTF-16 big endian) with a terminating zero character.
func bmpPassword(pw []byte) []byte {
	u := utf16.Encode([]rune(string(pw)))
	out := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		out = append(out, byte(c>>8), byte(c))
	}
	return append(out, 0, 0)
}

// bmpCandidates are the encodings of password to try with the PKCS#12 KDF.
// The empty password is two zero bytes by RFC 7292, but some writers (old
// NSS and Java versions among them) use no bytes at all; OpenSSL and NSS try
// both, and so do we.
func bmpCandidates(password []byte) [][]byte {
	if len(password) == 0 {
		return [][]byte{{0, 0}, nil}
	}
	return [][]byte{bmpPassword(password)}
}

// kdf is the PKCS#12 key derivation of RFC 7292 appendix B.2: size bytes for
// purpose id from salt and the BMPString password, with h (block size v).
// The caller has charged iterations to the file's work budget.
func kdf(h func() hash.Hash, v int, salt, password []byte, iterations int, id byte, size int) []byte {
	u := h().Size()
	// fill repeats b to a multiple of v bytes (S and P of B.2 steps 2 and 3).
	fill := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		out := make([]byte, v*((len(b)+v-1)/v))
		for i := range out {
			out[i] = b[i%len(b)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	in := append(fill(salt), fill(password)...)
	out := make([]byte, 0, size+u)
	hh := h()
	a := make([]byte, 0, u)
	b := make([]byte, v)
	for len(out) < size {
		hh.Reset()
		hh.Write(d)
		hh.Write(in)
		a = hh.Sum(a[:0])
		for i := 1; i < iterations; i++ {
			hh.Reset()
			hh.Write(a)
			a = hh.Sum(a[:0])
		}
		out = append(out, a...)
		if len(out) >= size {
			break
		}
		// I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I.
		for i := range b {
			b[i] = a[i%u]
		}
		for j := 0; j+v <= len(in); j += v {
			blk := in[j : j+v]
			carry := 1
			for k := v - 1; k >= 0; k-- {
				carry += int(blk[k]) + int(b[k])
				blk[k] = byte(carry)
				carry >>= 8
			}
		}
	}
	return out[:size]
}

// macKey is the HMAC of the authenticated safe with the PKCS#12 MAC key.
func pkcs12MAC(h func() hash.Hash, v int, salt, password []byte, iterations int, message []byte) []byte {
	key := kdf(h, v, salt, password, iterations, idMAC, h().Size())
	m := hmac.New(h, key)
	m.Write(message)
	return m.Sum(nil)
}
