package pkcs12

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"unicode/utf16"

	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// TrustedCert is a truststore entry.
type TrustedCert struct {
	Cert         *x509.Certificate
	FriendlyName string
}

// Encode writes key, its certificate and the CA certificates with go-pkcs12's
// Modern encoder: PBES2 AES-256-CBC with PBKDF2-HMAC-SHA-256 for the key and
// the certificates, an HMAC-SHA-256 MAC; OpenSSL 1.1+, NSS 3.x and Java
// 8u301+ read it. A friendlyName, if given, is added to the key bag, which
// go-pkcs12 does not do and Java takes a private key entry's alias from.
func Encode(key crypto.PrivateKey, leaf *x509.Certificate, cas []*x509.Certificate, friendlyName string, password []byte) ([]byte, error) {
	der, err := gopkcs12.Modern.Encode(key, leaf, cas, string(password))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrUnsupported)
	}
	if friendlyName == "" {
		return der, nil
	}
	return nameKeyBag(der, friendlyName, password)
}

// EncodeTrustStore writes certificates with Java's trusted-certificate
// attribute and their friendly names (Java's aliases), with go-pkcs12's
// Modern encoder.
func EncodeTrustStore(certs []TrustedCert, password []byte) ([]byte, error) {
	var entries []gopkcs12.TrustStoreEntry
	for _, c := range certs {
		entries = append(entries, gopkcs12.TrustStoreEntry{Cert: c.Cert, FriendlyName: c.FriendlyName})
	}
	der, err := gopkcs12.Modern.EncodeTrustStoreEntries(entries, string(password))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrUnsupported)
	}
	return der, nil
}

// DER shapes of what go-pkcs12 writes, for nameKeyBag.
type pfxPDU struct {
	Version  int
	AuthSafe derContentInfo
	MacData  derMacData
}

type derContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type derMacData struct {
	Mac        derDigestInfo
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type derDigestInfo struct {
	Algorithm struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	Digest []byte
}

type derSafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue  `asn1:"tag:0,explicit"`
	Attributes []derAttribute `asn1:"set,optional"`
}

type derAttribute struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"set"`
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

// nameKeyBag adds a friendlyName to the shrouded key bag of a DER file that
// go-pkcs12 wrote, and MACs the new content with a fresh salt and the same
// algorithm and iteration count.
func nameKeyBag(der []byte, name string, password []byte) ([]byte, error) {
	var pfx pfxPDU
	if err := unmarshalAll(der, &pfx); err != nil {
		return nil, err
	}
	var authSafe []byte
	if err := unmarshalAll(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil, err
	}
	var cis []derContentInfo
	if err := unmarshalAll(authSafe, &cis); err != nil {
		return nil, err
	}
	attr, err := friendlyNameAttribute(name)
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
		var bags []derSafeBag
		if err := unmarshalAll(raw, &bags); err != nil {
			return nil, err
		}
		for j := range bags {
			if bags[j].ID.Equal(oidShroudedKeyBag) {
				bags[j].Attributes = append(bags[j].Attributes, attr)
				named = true
			}
		}
		if raw, err = asn1.Marshal(bags); err != nil {
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
	h, v, ok := hashFor(pfx.MacData.Mac.Algorithm.Algorithm)
	if !ok {
		return nil, fmt.Errorf("MAC algorithm %s: %w", pfx.MacData.Mac.Algorithm.Algorithm, ErrUnsupported)
	}
	salt := make([]byte, len(pfx.MacData.MacSalt))
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	pfx.MacData.MacSalt = salt
	pfx.MacData.Mac.Digest = pkcs12MAC(h, v, salt, bmpPassword(password), pfx.MacData.Iterations, authSafe)
	return asn1.Marshal(pfx)
}

func friendlyNameAttribute(s string) (derAttribute, error) {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	v, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagBMPString, Bytes: b})
	if err != nil {
		return derAttribute{}, err
	}
	return derAttribute{ID: oidFriendlyName, Value: asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: v}}, nil
}
