package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"fmt"
	"hash"
	"math/big"
	"unicode/utf16"
)

// normalizePKCS12 turns a BER PKCS#12 file, as NSS's pk12util writes it, into the
// DER that go-pkcs12 reads. The MAC covers the encoding of the authenticated
// safe, which has to change, so it is checked here with password first, and the
// DER file gets a fresh MAC (one iteration: it only travels to the decoder in
// memory). A DER file, or anything this does not understand, is returned as it
// is for go-pkcs12 to accept or report.
func normalizePKCS12(data, password []byte) ([]byte, error) {
	root, rest, err := parseBER(data, 0)
	if err != nil || len(rest) != 0 {
		return data, nil
	}
	if d, err := root.der(); err != nil || bytes.Equal(d, data) {
		return data, nil // already DER
	}
	// PFX ::= SEQUENCE { version INTEGER, authSafe ContentInfo, macData MacData OPTIONAL }
	if root.tag != tagSequence || len(root.children) < 2 || len(root.children) > 3 {
		return data, nil
	}
	ver, authSafe := root.children[0], root.children[1]
	if ver.tag != 0x02 || authSafe.tag != tagSequence || len(authSafe.children) != 2 ||
		!isOID(authSafe.children[0], oidPKCS7Data) || authSafe.children[1].tag != tagContext0Constructed ||
		len(authSafe.children[1].children) != 1 {
		return data, nil
	}
	content, err := authSafe.children[1].children[0].flatten()
	if err != nil {
		return data, nil
	}
	var mac *macInfo
	if len(root.children) == 3 {
		md, err := root.children[2].der()
		if err != nil {
			return data, nil
		}
		if mac, err = parseMacData(md); err != nil {
			return nil, fmt.Errorf("PKCS#12 MAC: %v: %w", err, ErrBadInput)
		}
	}
	pw := bmpPassword(password)
	if mac != nil {
		ok, err := mac.verify(content, pw)
		if err != nil {
			return nil, fmt.Errorf("PKCS#12 MAC: %v: %w", err, ErrBadInput)
		}
		if !ok && len(password) == 0 {
			// Some writers MAC the empty password as no bytes at all.
			pw = nil
			ok, _ = mac.verify(content, pw)
		}
		if !ok {
			return nil, ErrBadPKCS12Password
		}
	}

	// The authenticated safe: SEQUENCE OF ContentInfo. Data ContentInfos hold their
	// SafeContents in an OCTET STRING, in BER too.
	safe, r, err := parseBER(content, 0)
	if err != nil || len(r) != 0 || safe.tag != tagSequence {
		return data, nil
	}
	var body []byte
	for _, ci := range safe.children {
		if ci.tag == tagSequence && len(ci.children) == 2 && isOID(ci.children[0], oidPKCS7Data) &&
			ci.children[1].tag == tagContext0Constructed && len(ci.children[1].children) == 1 {
			inner, err := ci.children[1].children[0].flatten()
			if err != nil {
				return data, nil
			}
			if n, r, err := parseBER(inner, 0); err == nil && len(r) == 0 {
				if d, err := n.der(); err == nil {
					inner = d
				}
			}
			oid, _ := ci.children[0].der()
			body = append(body, encodeTLV(tagSequence, append(oid, encodeTLV(tagContext0Constructed, encodeTLV(tagOctetString, inner))...))...)
			continue
		}
		d, err := ci.der()
		if err != nil {
			return data, nil
		}
		body = append(body, d...)
	}
	newContent := encodeTLV(tagSequence, body)

	oid, _ := authSafe.children[0].der()
	verDER, _ := ver.der()
	pfx := append(verDER, encodeTLV(tagSequence, append(oid, encodeTLV(tagContext0Constructed, encodeTLV(tagOctetString, newContent))...))...)
	if mac != nil {
		md, err := mac.remac(newContent, pw)
		if err != nil {
			return data, nil
		}
		pfx = append(pfx, md...)
	}
	return encodeTLV(tagSequence, pfx), nil
}

func isOID(n *berNode, want asn1.ObjectIdentifier) bool {
	if n.tag != 0x06 {
		return false
	}
	var oid asn1.ObjectIdentifier
	_, err := asn1.Unmarshal(encodeTLV(0x06, n.content), &oid)
	return err == nil && oid.Equal(want)
}

type macInfo struct {
	alg        asn1.ObjectIdentifier
	salt       []byte
	iterations int
	digest     []byte
}

type asnMacData struct {
	Mac        asnDigestInfo
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type asnDigestInfo struct {
	Algorithm asnAlgorithm
	Digest    []byte
}

type asnAlgorithm struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

var (
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// maxMacIterations bounds the work a crafted file can ask for.
const maxMacIterations = 10_000_000

func parseMacData(der []byte) (*macInfo, error) {
	var md asnMacData
	if rest, err := asn1.Unmarshal(der, &md); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("unreadable MacData")
	}
	if md.Iterations < 1 || md.Iterations > maxMacIterations {
		return nil, fmt.Errorf("MAC iteration count %d out of range", md.Iterations)
	}
	return &macInfo{alg: md.Mac.Algorithm.Algorithm, salt: md.MacSalt, iterations: md.Iterations, digest: md.Mac.Digest}, nil
}

func (m *macInfo) hash() (func() hash.Hash, int, int, error) {
	switch {
	case m.alg.Equal(oidSHA1):
		return sha1.New, 20, 64, nil
	case m.alg.Equal(oidSHA256):
		return sha256.New, 32, 64, nil
	case m.alg.Equal(oidSHA512):
		return sha512.New, 64, 128, nil
	}
	return nil, 0, 0, fmt.Errorf("MAC digest %v not supported", m.alg)
}

func (m *macInfo) compute(message, pw []byte, iterations int) ([]byte, error) {
	h, u, v, err := m.hash()
	if err != nil {
		return nil, err
	}
	key := pkcs12KDF(h, u, v, m.salt, pw, iterations, 3, u)
	mac := hmac.New(h, key)
	mac.Write(message)
	return mac.Sum(nil), nil
}

func (m *macInfo) verify(message, pw []byte) (bool, error) {
	d, err := m.compute(message, pw, m.iterations)
	if err != nil {
		return false, err
	}
	return hmac.Equal(d, m.digest), nil
}

// remac returns a DER MacData over message, with one iteration.
func (m *macInfo) remac(message, pw []byte) ([]byte, error) {
	d, err := m.compute(message, pw, 1)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asnMacData{
		Mac:        asnDigestInfo{Algorithm: asnAlgorithm{Algorithm: m.alg, Parameters: asn1.NullRawValue}, Digest: d},
		MacSalt:    m.salt,
		Iterations: 1,
	})
}

// bmpPassword encodes a password as PKCS#12 wants it: UTF-16BE with a
// terminating zero.
func bmpPassword(pw []byte) []byte {
	var out []byte
	for _, r := range utf16.Encode([]rune(string(pw))) {
		out = append(out, byte(r>>8), byte(r))
	}
	return append(out, 0, 0)
}

// pkcs12KDF is the key derivation of RFC 7292 appendix B.2.
func pkcs12KDF(h func() hash.Hash, u, v int, salt, password []byte, iterations int, id byte, size int) []byte {
	fill := func(p []byte) []byte {
		if len(p) == 0 {
			return nil
		}
		out := make([]byte, v*((len(p)+v-1)/v))
		for i := range out {
			out[i] = p[i%len(p)]
		}
		return out
	}
	D := bytes.Repeat([]byte{id}, v)
	I := append(fill(salt), fill(password)...)
	var out []byte
	one := big.NewInt(1)
	mod := new(big.Int).Lsh(one, uint(v*8))
	for len(out) < size {
		hh := h()
		hh.Write(D)
		hh.Write(I)
		A := hh.Sum(nil)
		for j := 1; j < iterations; j++ {
			hh.Reset()
			hh.Write(A)
			A = hh.Sum(A[:0])
		}
		out = append(out, A...)
		if len(out) >= size {
			break
		}
		B := new(big.Int).SetBytes(fill(A)[:v])
		B.Add(B, one)
		for k := 0; k < len(I); k += v {
			Ij := new(big.Int).SetBytes(I[k : k+v])
			Ij.Add(Ij, B).Mod(Ij, mod)
			b := Ij.Bytes()
			blk := I[k : k+v]
			for i := range blk {
				blk[i] = 0
			}
			copy(blk[v-len(b):], b)
		}
	}
	return out[:size]
}
