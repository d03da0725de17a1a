package keystore

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	jks "github.com/pavlo-v-chernykh/keystore-go/v4"
)

const (
	jksTagKey     = 1
	jksTagTrusted = 2
	jksDigestLen  = 20
	maxJKSEntries = 10000
	// jksMinEntry is the smallest entry: tag, empty alias, timestamp, and a
	// trusted certificate's length (version 1 has no certificate type).
	jksMinEntry = 4 + 2 + 8 + 4
)

// scanJKS walks a JKS file checking every count and length against what is
// left, so that keystore-go (which allocates whatever length it reads) only
// sees sound files. JKS has no iteration counts: its work (a SHA-1 over the
// file, the key protector's SHA-1 stream over each key) grows with the file's
// size, which Decode bounds by MaxSize.
func scanJKS(data []byte) error {
	p := 0
	bad := func(what string) error {
		return fmt.Errorf("JKS structure broken at byte %d (%s): %w", p, what, ErrCorrupt)
	}
	need := func(n int) bool { return n >= 0 && len(data)-p >= n }
	u32 := func() (uint32, bool) {
		if !need(4) {
			return 0, false
		}
		v := binary.BigEndian.Uint32(data[p:])
		p += 4
		return v, true
	}
	skip := func(n uint32) bool {
		if uint64(n) > uint64(len(data)-p) {
			return false
		}
		p += int(n)
		return true
	}
	utf := func() bool {
		if !need(2) {
			return false
		}
		n := binary.BigEndian.Uint16(data[p:])
		p += 2
		return skip(uint32(n))
	}
	magic, _ := u32()
	if magic != jksMagic {
		return bad("magic")
	}
	version, ok := u32()
	if !ok || version != 1 && version != 2 {
		return bad(fmt.Sprintf("version %d", version))
	}
	count, ok := u32()
	if !ok || count > maxJKSEntries {
		return bad("entry count")
	}
	// Every entry takes at least jksMinEntry bytes, so a count the file cannot
	// hold is refused before walking it (nothing here allocates from a count or
	// a length; keystore-go, which does, only sees files that pass this scan).
	if uint64(count)*jksMinEntry > uint64(len(data)-p) {
		return bad(fmt.Sprintf("%d entries claimed in %d bytes", count, len(data)))
	}
	cert := func() bool {
		if version == 2 && !utf() {
			return false
		}
		n, ok := u32()
		return ok && skip(n)
	}
	for i := uint32(0); i < count; i++ {
		tag, ok := u32()
		if !ok || !utf() || !skip(8) {
			return bad(fmt.Sprintf("entry %d", i+1))
		}
		switch tag {
		case jksTagKey:
			n, ok := u32()
			if !ok || !need(int(n)) {
				return bad(fmt.Sprintf("entry %d key", i+1))
			}
			if err := checkJKSKey(data[p : p+int(n)]); err != nil {
				return bad(fmt.Sprintf("entry %d key: %v", i+1, err))
			}
			p += int(n)
			chain, ok := u32()
			// Each certificate of a chain takes at least its 4-byte length.
			if !ok || chain > maxJKSEntries || uint64(chain)*4 > uint64(len(data)-p) {
				return bad(fmt.Sprintf("entry %d chain", i+1))
			}
			for j := uint32(0); j < chain; j++ {
				if !cert() {
					return bad(fmt.Sprintf("entry %d certificate %d", i+1, j+1))
				}
			}
		case jksTagTrusted:
			if !cert() {
				return bad(fmt.Sprintf("entry %d certificate", i+1))
			}
		default:
			return bad(fmt.Sprintf("entry %d has unknown tag %d", i+1, tag))
		}
	}
	if len(data)-p != jksDigestLen {
		return bad(fmt.Sprintf("%d bytes after the entries, want a %d-byte digest", len(data)-p, jksDigestLen))
	}
	return nil
}

// checkJKSKey checks that a protected key is long enough for keystore-go's
// decryption, which slices without checking.
func checkJKSKey(der []byte) error {
	var info struct {
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	rest, err := asn1.Unmarshal(der, &info)
	if err != nil || len(rest) > 0 {
		return fmt.Errorf("not an encrypted key")
	}
	if len(info.PrivateKey) < 2*jksDigestLen+1 {
		return fmt.Errorf("encrypted key too short")
	}
	return nil
}

func decodeJKS(data, storepass, keypass []byte) (c *Contents, err error) {
	if err := scanJKS(data); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("JKS decoder failed (%v): %w", r, ErrCorrupt)
		}
	}()
	ks := jks.New(jks.WithOrderedAliases(), jks.WithCaseExactAliases())
	if err := ks.Load(bytes.NewReader(data), storepass); err != nil {
		if strings.Contains(err.Error(), "invalid digest") {
			return nil, fmt.Errorf("the integrity check fails (wrong password, or a changed file): %w", ErrBadPassword)
		}
		return nil, fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	c = &Contents{}
	for _, alias := range ks.Aliases() {
		if ks.IsPrivateKeyEntry(alias) {
			e, err := ks.GetPrivateKeyEntry(alias, keypass)
			if err != nil {
				if strings.Contains(err.Error(), "invalid digest") {
					return nil, fmt.Errorf("private key %q does not open with the key password: %w", alias, ErrBadKeyPassword)
				}
				return nil, fmt.Errorf("private key %q: %v: %w", alias, err, ErrUnsupported)
			}
			signer, err := parseKey(e.PrivateKey, alias)
			if err != nil {
				return nil, err
			}
			id := Identity{Alias: alias, Key: signer}
			for i, jc := range e.CertificateChain {
				cert, err := parseJKSCert(jc)
				if err != nil {
					return nil, fmt.Errorf("certificate %d of %q: %w", i+1, alias, err)
				}
				id.Chain = append(id.Chain, cert)
			}
			if len(id.Chain) == 0 {
				return nil, fmt.Errorf("private key %q has no certificate: %w", alias, ErrUnsupported)
			}
			if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(id.Chain[0].PublicKey) {
				return nil, fmt.Errorf("private key %q does not match its certificate: %w", alias, ErrCorrupt)
			}
			c.Identities = append(c.Identities, id)
			continue
		}
		e, err := ks.GetTrustedCertificateEntry(alias)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %v: %w", alias, err, ErrCorrupt)
		}
		cert, err := parseJKSCert(e.Certificate)
		if err != nil {
			return nil, fmt.Errorf("trusted certificate %q: %w", alias, err)
		}
		c.Trusted = append(c.Trusted, TrustedCert{Alias: alias, Cert: cert})
	}
	return c, nil
}

func parseJKSCert(c jks.Certificate) (*x509.Certificate, error) {
	if t := strings.ToUpper(c.Type); t != "X.509" && t != "X509" && t != "" {
		return nil, fmt.Errorf("certificate type %q: %w", c.Type, ErrUnsupported)
	}
	cert, err := x509.ParseCertificate(c.Content)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	return cert, nil
}

func encodeJKS(id *Identity, trusted []TrustedCert, storepass, keypass []byte) ([]byte, error) {
	ks := jks.New(jks.WithOrderedAliases())
	now := time.Now()
	if id != nil {
		der, err := x509.MarshalPKCS8PrivateKey(id.Key)
		if err != nil {
			return nil, fmt.Errorf("encoding the key: %v: %w", err, ErrUnsupported)
		}
		e := jks.PrivateKeyEntry{CreationTime: now, PrivateKey: der}
		for _, c := range id.Chain {
			e.CertificateChain = append(e.CertificateChain, jks.Certificate{Type: "X.509", Content: c.Raw})
		}
		if err := ks.SetPrivateKeyEntry(id.Alias, e, keypass); err != nil {
			return nil, err
		}
	}
	for _, t := range trusted {
		if err := ks.SetTrustedCertificateEntry(t.Alias, jks.TrustedCertificateEntry{CreationTime: now,
			Certificate: jks.Certificate{Type: "X.509", Content: t.Cert.Raw}}); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := ks.Store(&buf, storepass); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
