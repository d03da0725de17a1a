package keystore

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"strings"
	"unicode/utf16"

	"github.com/gopcp/gopcp/certdb/keystore/internal/rc2"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

var (
	oidData              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidSafeContentsBag   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 6}
	oidX509Certificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidFriendlyName      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidLocalKeyID        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	oidJavaTrusted       = asn1.ObjectIdentifier{2, 16, 840, 1, 113894, 746875, 1, 1}
	oidPBES2             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBEWithSHA3DES    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidPBEWithSHA2DES    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 4}
	oidPBEWithSHARC2_128 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidPBEWithSHARC2_40  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
	oidAES128CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC        = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidSHA1              = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA224            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidSHA256            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidHMACSHA1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224        = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256        = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384        = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512        = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
)

// Limits against crafted files.
const (
	maxIterations = 10_000_000
	maxBags       = 10_000
)

type pfxPdu struct {
	Version  int
	AuthSafe contentInfo
	MacData  macData `asn1:"optional"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type encryptedData struct {
	Version              int
	EncryptedContentInfo encryptedContentInfo
}

type encryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedContent           []byte `asn1:"tag:0,optional"`
}

type macData struct {
	Mac        digestInfo
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type digestInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Digest    []byte
}

type safeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue     `asn1:"tag:0,explicit"`
	Attributes []pkcs12Attribute `asn1:"set,optional"`
}

type pkcs12Attribute struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"set"`
}

type certBag struct {
	ID   asn1.ObjectIdentifier
	Data []byte `asn1:"tag:0,explicit"`
}

type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type pbeParams struct {
	Salt       []byte
	Iterations int
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       asn1.RawValue
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

func unmarshalAll(der []byte, out any) error {
	rest, err := asn1.Unmarshal(der, out)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return errors.New("trailing data")
	}
	return nil
}

// bmpPassword encodes a password as PKCS#12 wants it for its own KDF: UTF-16
// big endian with a terminating zero.
func bmpPassword(pw []byte) []byte {
	u := utf16.Encode([]rune(string(pw)))
	out := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		out = append(out, byte(c>>8), byte(c))
	}
	return append(out, 0, 0)
}

// pkcs12KDF is the key derivation of RFC 7292 appendix B.2.
func pkcs12KDF(h func() hash.Hash, v int, salt, password []byte, iterations int, id byte, size int) []byte {
	u := h().Size()
	D := bytes.Repeat([]byte{id}, v)
	fill := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		n := v * ((len(b) + v - 1) / v)
		out := make([]byte, n)
		for i := range out {
			out[i] = b[i%len(b)]
		}
		return out
	}
	I := append(fill(salt), fill(password)...)
	var out []byte
	for len(out) < size {
		hh := h()
		hh.Write(D)
		hh.Write(I)
		A := hh.Sum(nil)
		for i := 1; i < iterations; i++ {
			hh = h()
			hh.Write(A)
			A = hh.Sum(nil)
		}
		out = append(out, A...)
		if len(out) >= size {
			break
		}
		B := make([]byte, v)
		for i := range B {
			B[i] = A[i%u]
		}
		for j := 0; j < len(I)/v; j++ {
			Ij := I[j*v : (j+1)*v]
			carry := 1
			for k := v - 1; k >= 0; k-- {
				carry += int(Ij[k]) + int(B[k])
				Ij[k] = byte(carry)
				carry >>= 8
			}
		}
	}
	return out[:size]
}

func hashFor(oid asn1.ObjectIdentifier) (func() hash.Hash, int, bool) {
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

func (m *macData) compute(content, bmp []byte) ([]byte, error) {
	h, v, ok := hashFor(m.Mac.Algorithm.Algorithm)
	if !ok {
		return nil, fmt.Errorf("MAC algorithm %s: %w", m.Mac.Algorithm.Algorithm, ErrUnsupported)
	}
	if m.Iterations < 1 || m.Iterations > maxIterations {
		return nil, fmt.Errorf("MAC iteration count %d: %w", m.Iterations, ErrCorrupt)
	}
	key := pkcs12KDF(h, v, m.MacSalt, bmp, m.Iterations, 3, h().Size())
	mac := hmac.New(h, key)
	mac.Write(content)
	return mac.Sum(nil), nil
}

// decrypter returns a CBC decrypter for alg and password.
func decrypter(alg pkix.AlgorithmIdentifier, password []byte) (cipher.BlockMode, error) {
	switch {
	case alg.Algorithm.Equal(oidPBES2):
		return pbes2Decrypter(alg, password)
	case alg.Algorithm.Equal(oidPBEWithSHA3DES), alg.Algorithm.Equal(oidPBEWithSHA2DES),
		alg.Algorithm.Equal(oidPBEWithSHARC2_128), alg.Algorithm.Equal(oidPBEWithSHARC2_40):
		var p pbeParams
		if err := unmarshalAll(alg.Parameters.FullBytes, &p); err != nil {
			return nil, fmt.Errorf("PBE parameters: %v: %w", err, ErrCorrupt)
		}
		if p.Iterations < 1 || p.Iterations > maxIterations {
			return nil, fmt.Errorf("PBE iteration count %d: %w", p.Iterations, ErrCorrupt)
		}
		bmp := bmpPassword(password)
		var block cipher.Block
		var err error
		switch {
		case alg.Algorithm.Equal(oidPBEWithSHA3DES):
			block, err = des.NewTripleDESCipher(pkcs12KDF(sha1.New, 64, p.Salt, bmp, p.Iterations, 1, 24))
		case alg.Algorithm.Equal(oidPBEWithSHA2DES):
			k := pkcs12KDF(sha1.New, 64, p.Salt, bmp, p.Iterations, 1, 16)
			block, err = des.NewTripleDESCipher(append(k, k[:8]...))
		case alg.Algorithm.Equal(oidPBEWithSHARC2_128):
			block, err = rc2.New(pkcs12KDF(sha1.New, 64, p.Salt, bmp, p.Iterations, 1, 16), 128)
		default:
			block, err = rc2.New(pkcs12KDF(sha1.New, 64, p.Salt, bmp, p.Iterations, 1, 5), 40)
		}
		if err != nil {
			return nil, err
		}
		iv := pkcs12KDF(sha1.New, 64, p.Salt, bmp, p.Iterations, 2, block.BlockSize())
		return cipher.NewCBCDecrypter(block, iv), nil
	}
	return nil, fmt.Errorf("encryption algorithm %s: %w", alg.Algorithm, ErrUnsupported)
}

func pbes2Decrypter(alg pkix.AlgorithmIdentifier, password []byte) (cipher.BlockMode, error) {
	var p pbes2Params
	if err := unmarshalAll(alg.Parameters.FullBytes, &p); err != nil {
		return nil, fmt.Errorf("PBES2 parameters: %v: %w", err, ErrCorrupt)
	}
	if !p.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("PBES2 key derivation %s: %w", p.KeyDerivationFunc.Algorithm, ErrUnsupported)
	}
	var kp pbkdf2Params
	if err := unmarshalAll(p.KeyDerivationFunc.Parameters.FullBytes, &kp); err != nil {
		return nil, fmt.Errorf("PBKDF2 parameters: %v: %w", err, ErrCorrupt)
	}
	if kp.Salt.Tag != asn1.TagOctetString || kp.Iterations < 1 || kp.Iterations > maxIterations {
		return nil, fmt.Errorf("PBKDF2 salt or iteration count %d: %w", kp.Iterations, ErrCorrupt)
	}
	prf := sha1.New
	if len(kp.PRF.Algorithm) > 0 {
		h, _, ok := hashFor(kp.PRF.Algorithm)
		if !ok {
			return nil, fmt.Errorf("PBKDF2 PRF %s: %w", kp.PRF.Algorithm, ErrUnsupported)
		}
		prf = h
	}
	var keyLen int
	var newBlock func([]byte) (cipher.Block, error)
	switch enc := p.EncryptionScheme.Algorithm; {
	case enc.Equal(oidAES128CBC):
		keyLen, newBlock = 16, aes.NewCipher
	case enc.Equal(oidAES192CBC):
		keyLen, newBlock = 24, aes.NewCipher
	case enc.Equal(oidAES256CBC):
		keyLen, newBlock = 32, aes.NewCipher
	case enc.Equal(oidDESEDE3CBC):
		keyLen, newBlock = 24, des.NewTripleDESCipher
	default:
		return nil, fmt.Errorf("PBES2 cipher %s: %w", enc, ErrUnsupported)
	}
	var iv []byte
	if err := unmarshalAll(p.EncryptionScheme.Parameters.FullBytes, &iv); err != nil {
		return nil, fmt.Errorf("PBES2 IV: %v: %w", err, ErrCorrupt)
	}
	key, err := pbkdf2.Key(prf, string(password), kp.Salt.Bytes, kp.Iterations, keyLen)
	if err != nil {
		return nil, err
	}
	block, err := newBlock(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != block.BlockSize() {
		return nil, fmt.Errorf("PBES2 IV of %d bytes: %w", len(iv), ErrCorrupt)
	}
	return cipher.NewCBCDecrypter(block, iv), nil
}

// errDecrypt: padding wrong after decryption, i.e. the password.
var errDecrypt = errors.New("decryption failed")

func decrypt(alg pkix.AlgorithmIdentifier, data, password []byte) ([]byte, error) {
	mode, err := decrypter(alg, password)
	if err != nil {
		return nil, err
	}
	bs := mode.BlockSize()
	if len(data) == 0 || len(data)%bs != 0 {
		return nil, fmt.Errorf("encrypted data of %d bytes: %w", len(data), ErrCorrupt)
	}
	out := make([]byte, len(data))
	mode.CryptBlocks(out, data)
	n := int(out[len(out)-1])
	if n == 0 || n > bs {
		return nil, errDecrypt
	}
	if subtle.ConstantTimeCompare(out[len(out)-n:], bytes.Repeat([]byte{byte(n)}, n)) != 1 {
		return nil, errDecrypt
	}
	return out[:len(out)-n], nil
}

// p12Bag is a decoded bag.
type p12Bag struct {
	key      crypto.Signer
	cert     *x509.Certificate
	name     string
	keyID    []byte
	trusted  bool
	position int
}

func decodeP12(data, password []byte) (*Contents, error) {
	var pfx pfxPdu
	if err := unmarshalAll(data, &pfx); err != nil {
		return nil, fmt.Errorf("not a PKCS#12 file (%v): %w", err, ErrCorrupt)
	}
	if pfx.Version != 3 {
		return nil, fmt.Errorf("PKCS#12 version %d: %w", pfx.Version, ErrUnsupported)
	}
	if !pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil, fmt.Errorf("a public-key protected PKCS#12 file (%s): %w", pfx.AuthSafe.ContentType, ErrUnsupported)
	}
	var authSafe []byte
	if err := unmarshalAll(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil, fmt.Errorf("PKCS#12 content (%v; BER files from NSS import with certdb import): %w", err, ErrCorrupt)
	}
	// The password: PKCS#12's own algorithms use it as UTF-16, PBES2 as UTF-8.
	// An empty password is written either as two zero bytes or as nothing.
	bmp := bmpPassword(password)
	if len(pfx.MacData.Mac.Algorithm.Algorithm) > 0 {
		mac, err := pfx.MacData.compute(authSafe, bmp)
		if err != nil {
			return nil, err
		}
		if !hmac.Equal(mac, pfx.MacData.Mac.Digest) {
			ok := false
			if len(password) == 0 {
				mac, _ = pfx.MacData.compute(authSafe, nil)
				ok = hmac.Equal(mac, pfx.MacData.Mac.Digest)
			}
			if !ok {
				return nil, fmt.Errorf("the integrity check fails (wrong password, or a changed file): %w", ErrBadPassword)
			}
		}
	}
	var cis []contentInfo
	if err := unmarshalAll(authSafe, &cis); err != nil {
		return nil, fmt.Errorf("PKCS#12 authenticated safe: %v: %w", err, ErrCorrupt)
	}
	var bags []p12Bag
	var walk func(raw []byte, depth int) error
	walk = func(raw []byte, depth int) error {
		var sbs []safeBag
		if err := unmarshalAll(raw, &sbs); err != nil {
			return fmt.Errorf("PKCS#12 safe contents: %v: %w", err, ErrCorrupt)
		}
		for _, sb := range sbs {
			if len(bags) >= maxBags {
				return fmt.Errorf("more than %d entries: %w", maxBags, ErrCorrupt)
			}
			b := p12Bag{position: len(bags)}
			for _, a := range sb.Attributes {
				switch {
				case a.ID.Equal(oidFriendlyName):
					var s asn1.RawValue
					if unmarshalAll(a.Value.Bytes, &s) == nil && s.Tag == asn1.TagBMPString {
						b.name = decodeBMP(s.Bytes)
					}
				case a.ID.Equal(oidLocalKeyID):
					var id []byte
					if unmarshalAll(a.Value.Bytes, &id) == nil {
						b.keyID = id
					}
				case a.ID.Equal(oidJavaTrusted):
					b.trusted = true
				}
			}
			switch {
			case sb.ID.Equal(oidCertBag):
				var cb certBag
				if err := unmarshalAll(sb.Value.Bytes, &cb); err != nil {
					return fmt.Errorf("certificate entry: %v: %w", err, ErrCorrupt)
				}
				if !cb.ID.Equal(oidX509Certificate) {
					continue // SDSI certificates: nothing we can use
				}
				c, err := x509.ParseCertificate(cb.Data)
				if err != nil {
					return fmt.Errorf("certificate %q: %v: %w", b.name, err, ErrCorrupt)
				}
				b.cert = c
			case sb.ID.Equal(oidShroudedKeyBag), sb.ID.Equal(oidKeyBag):
				der := sb.Value.Bytes
				if sb.ID.Equal(oidShroudedKeyBag) {
					var epki encryptedPrivateKeyInfo
					if err := unmarshalAll(sb.Value.Bytes, &epki); err != nil {
						return fmt.Errorf("encrypted key: %v: %w", err, ErrCorrupt)
					}
					plain, err := decrypt(epki.Algorithm, epki.EncryptedData, password)
					if errors.Is(err, errDecrypt) && len(password) == 0 {
						plain, err = decrypt(epki.Algorithm, epki.EncryptedData, nil)
					}
					if errors.Is(err, errDecrypt) {
						return fmt.Errorf("private key %q does not decrypt with the password: %w", b.name, ErrBadPassword)
					}
					if err != nil {
						return fmt.Errorf("private key %q: %w", b.name, err)
					}
					der = plain
				}
				signer, err := parseKey(der, b.name)
				if err != nil {
					return err
				}
				b.key = signer
			case sb.ID.Equal(oidSafeContentsBag):
				if depth > 4 {
					return fmt.Errorf("nested too deep: %w", ErrCorrupt)
				}
				if err := walk(sb.Value.Bytes, depth+1); err != nil {
					return err
				}
				continue
			default:
				continue // CRLs, secrets: not for us
			}
			bags = append(bags, b)
		}
		return nil
	}
	for _, ci := range cis {
		switch {
		case ci.ContentType.Equal(oidData):
			var raw []byte
			if err := unmarshalAll(ci.Content.Bytes, &raw); err != nil {
				return nil, fmt.Errorf("PKCS#12 data: %v: %w", err, ErrCorrupt)
			}
			if err := walk(raw, 0); err != nil {
				return nil, err
			}
		case ci.ContentType.Equal(oidEncryptedData):
			var ed encryptedData
			if err := unmarshalAll(ci.Content.Bytes, &ed); err != nil {
				return nil, fmt.Errorf("PKCS#12 encrypted data: %v: %w", err, ErrCorrupt)
			}
			eci := ed.EncryptedContentInfo
			raw, err := decrypt(eci.ContentEncryptionAlgorithm, eci.EncryptedContent, password)
			if errors.Is(err, errDecrypt) && len(password) == 0 {
				raw, err = decrypt(eci.ContentEncryptionAlgorithm, eci.EncryptedContent, nil)
			}
			if errors.Is(err, errDecrypt) {
				return nil, fmt.Errorf("the certificates do not decrypt with the password: %w", ErrBadPassword)
			}
			if err != nil {
				return nil, err
			}
			if err := walk(raw, 0); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("PKCS#12 content of type %s (public-key encryption): %w", ci.ContentType, ErrUnsupported)
		}
	}
	return assemble(bags)
}

// assemble turns bags into entries: each key with its certificate (same
// localKeyId, else same public key) and the issuers found in the file.
func assemble(bags []p12Bag) (*Contents, error) {
	var certs []*p12Bag
	var pool []*x509.Certificate
	for i := range bags {
		if bags[i].cert != nil {
			certs = append(certs, &bags[i])
			pool = append(pool, bags[i].cert)
		}
	}
	used := map[*x509.Certificate]bool{}
	c := &Contents{}
	for i := range bags {
		k := &bags[i]
		if k.key == nil {
			continue
		}
		var leaf *p12Bag
		for _, cb := range certs {
			if len(k.keyID) > 0 && bytes.Equal(cb.keyID, k.keyID) {
				leaf = cb
				break
			}
		}
		if leaf == nil {
			for _, cb := range certs {
				if pub, ok := k.key.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(cb.cert.PublicKey) {
					leaf = cb
					break
				}
			}
		}
		if leaf == nil {
			return nil, fmt.Errorf("private key %q has no certificate in the file: %w", k.name, ErrUnsupported)
		}
		if pub, ok := k.key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.cert.PublicKey) {
			return nil, fmt.Errorf("private key %q does not match its certificate %s: %w", k.name, leaf.cert.Subject, ErrCorrupt)
		}
		alias := k.name
		if alias == "" {
			alias = leaf.name
		}
		if alias == "" {
			alias = defaultAlias(leaf.cert)
		}
		chain := buildChain(leaf.cert, pool)
		for _, x := range chain {
			used[x] = true
		}
		c.Identities = append(c.Identities, Identity{Alias: alias, Key: k.key, Chain: chain})
	}
	for _, cb := range certs {
		switch {
		case cb.trusted:
			alias := cb.name
			if alias == "" {
				alias = defaultAlias(cb.cert)
			}
			c.Trusted = append(c.Trusted, TrustedCert{Alias: alias, Cert: cb.cert})
		case !used[cb.cert]:
			c.Others = append(c.Others, cb.cert)
		}
	}
	return c, nil
}

func decodeBMP(b []byte) string {
	if len(b)%2 != 0 {
		return ""
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}

// encodeP12Identity writes key and chain with go-pkcs12's Modern encoder, then
// names the key: go-pkcs12 writes no friendlyName, and Java takes a private key
// entry's alias from the key bag's friendlyName.
func encodeP12Identity(id Identity, password []byte) ([]byte, error) {
	der, err := pkcs12.Modern.Encode(id.Key, id.Chain[0], id.Chain[1:], string(password))
	if err != nil {
		return nil, fmt.Errorf("PKCS#12: %v: %w", err, ErrUnsupported)
	}
	return setKeyFriendlyName(der, id.Alias, password)
}

func setKeyFriendlyName(der []byte, alias string, password []byte) ([]byte, error) {
	var pfx pfxPdu
	if err := unmarshalAll(der, &pfx); err != nil {
		return nil, err
	}
	var authSafe []byte
	if err := unmarshalAll(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil, err
	}
	var cis []contentInfo
	if err := unmarshalAll(authSafe, &cis); err != nil {
		return nil, err
	}
	name, err := bmpAttribute(alias)
	if err != nil {
		return nil, err
	}
	named := false
	for i, ci := range cis {
		if !ci.ContentType.Equal(oidData) {
			continue
		}
		var raw []byte
		if err := unmarshalAll(ci.Content.Bytes, &raw); err != nil {
			return nil, err
		}
		var sbs []safeBag
		if err := unmarshalAll(raw, &sbs); err != nil {
			return nil, err
		}
		for j := range sbs {
			if sbs[j].ID.Equal(oidShroudedKeyBag) {
				sbs[j].Attributes = append(sbs[j].Attributes, name)
				named = true
			}
		}
		if raw, err = asn1.Marshal(sbs); err != nil {
			return nil, err
		}
		oct, err := asn1.Marshal(raw)
		if err != nil {
			return nil, err
		}
		cis[i].Content = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: oct}
	}
	if !named {
		return nil, errors.New("PKCS#12: no key bag to name")
	}
	if authSafe, err = asn1.Marshal(cis); err != nil {
		return nil, err
	}
	oct, err := asn1.Marshal(authSafe)
	if err != nil {
		return nil, err
	}
	pfx.AuthSafe.Content = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: oct}
	// A fresh salt and MAC over the new content, with the encoder's algorithm
	// and iteration count.
	salt := make([]byte, len(pfx.MacData.MacSalt))
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	pfx.MacData.MacSalt = salt
	if pfx.MacData.Mac.Digest, err = pfx.MacData.compute(authSafe, bmpPassword(password)); err != nil {
		return nil, err
	}
	return asn1.Marshal(pfx)
}

func bmpAttribute(s string) (pkcs12Attribute, error) {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	v, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagBMPString, Bytes: b})
	if err != nil {
		return pkcs12Attribute{}, err
	}
	return pkcs12Attribute{ID: oidFriendlyName, Value: asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: v}}, nil
}

// encodeP12Trust writes a truststore Java reads: certificates with Java's
// trusted-certificate attribute and their aliases as friendly names.
func encodeP12Trust(certs []TrustedCert, password []byte) ([]byte, error) {
	var entries []pkcs12.TrustStoreEntry
	for _, c := range certs {
		entries = append(entries, pkcs12.TrustStoreEntry{Cert: c.Cert, FriendlyName: c.Alias})
	}
	der, err := pkcs12.Modern.EncodeTrustStoreEntries(entries, string(password))
	if err != nil {
		return nil, fmt.Errorf("PKCS#12: %v: %w", err, ErrUnsupported)
	}
	return der, nil
}
