// Package keystore reads and writes Java keystores and truststores, JKS and
// PKCS#12, so that a certdb store can hand its certificates to Java programs
// (and take theirs): the four files a Java agent and server exchange, a keystore
// with an identity and a truststore with the CA on each side.
//
// JKS goes through github.com/pavlo-v-chernykh/keystore-go, after a bounds
// check of the whole file (that library trusts the lengths it reads). PKCS#12
// goes through certdb/pkcs12, the one implementation certdb has: it writes
// with go-pkcs12's Modern encoder (PBES2 AES-256-CBC, PBKDF2-HMAC-SHA-256,
// HMAC-SHA-256 MAC: what Java 17 writes and reads) plus the alias as the
// key's friendlyName, and reads DER or BER with any number of keys and
// certificates, Java's trusted-certificate attribute, the legacy algorithms
// of older Java and OpenSSL versions (SHA-1 3DES and RC2 PBEs), and a bound
// on the key-derivation work a file may ask for.
package keystore

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
)

// Errors; test with errors.Is.
var (
	ErrBadPassword    = errors.New("keystore password incorrect")
	ErrBadKeyPassword = errors.New("key password incorrect")
	ErrCorrupt        = errors.New("damaged or not a keystore")
	ErrUnsupported    = errors.New("unsupported keystore content")
	ErrBadInput       = errors.New("unusable input")
)

// MaxSize bounds a keystore read into memory.
const MaxSize = 16 << 20

// Type is a keystore format.
type Type string

// Types.
const (
	JKS    Type = "jks"
	PKCS12 Type = "pkcs12"
)

// ParseType reads "jks" or "pkcs12" ("p12", "pfx" accepted), any case.
func ParseType(s string) (Type, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "jks":
		return JKS, nil
	case "pkcs12", "p12", "pfx", "pkcs#12":
		return PKCS12, nil
	}
	return "", fmt.Errorf("keystore type %q: want jks or pkcs12", s)
}

// Java keystore magic numbers.
const (
	jksMagic   = 0xFEEDFEED
	jceksMagic = 0xCECECECE
)

// Detect tells the format from the content: JKS by its magic number, PKCS#12 by
// its DER SEQUENCE. JCEKS is recognised and refused.
func Detect(data []byte) (Type, error) {
	if len(data) >= 4 {
		switch uint32(data[0])<<24 | uint32(data[1])<<16 | uint32(data[2])<<8 | uint32(data[3]) {
		case jksMagic:
			return JKS, nil
		case jceksMagic:
			return "", fmt.Errorf("a JCEKS keystore, which certdb does not read; convert it first: keytool -importkeystore -srckeystore FILE -srcstoretype JCEKS -destkeystore FILE.p12 -deststoretype PKCS12: %w", ErrUnsupported)
		}
	}
	if len(data) > 0 && data[0] == 0x30 {
		return PKCS12, nil
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return "", fmt.Errorf("a PEM file, not a keystore (use certdb add or certdb import): %w", ErrCorrupt)
	}
	return "", fmt.Errorf("neither a JKS nor a PKCS#12 keystore: %w", ErrCorrupt)
}

// Identity is a private key entry: the key and its certificate chain, leaf
// first.
type Identity struct {
	Alias string
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// TrustedCert is a trusted certificate entry.
type TrustedCert struct {
	Alias string
	Cert  *x509.Certificate
}

// Contents is what a keystore holds.
type Contents struct {
	Identities []Identity
	Trusted    []TrustedCert
	// Others are certificates that belong to no key and are not marked trusted
	// (a PKCS#12 file from OpenSSL carries its CA chain this way).
	Others []*x509.Certificate
}

// EncodeKeystore writes a keystore holding one identity. For JKS the key is
// protected by keypass (nil: storepass), the file by storepass; PKCS#12 has one
// password, so a different keypass is refused.
func EncodeKeystore(t Type, id Identity, storepass, keypass []byte) ([]byte, error) {
	if id.Key == nil || len(id.Chain) == 0 {
		return nil, fmt.Errorf("an identity needs a key and a certificate: %w", ErrBadInput)
	}
	if pub, ok := id.Key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(id.Chain[0].PublicKey) {
		return nil, fmt.Errorf("the key does not match the certificate %s: %w", id.Chain[0].Subject, ErrBadInput)
	}
	if id.Alias == "" {
		return nil, fmt.Errorf("an empty alias: %w", ErrBadInput)
	}
	if keypass == nil {
		keypass = storepass
	}
	switch t {
	case JKS:
		return encodeJKS(&id, nil, storepass, keypass)
	case PKCS12:
		if !bytes.Equal(keypass, storepass) {
			return nil, fmt.Errorf("a PKCS#12 keystore has one password (Java uses the store password for its keys): drop the key password, or use JKS: %w", ErrBadInput)
		}
		return encodeP12Identity(id, storepass)
	}
	return nil, fmt.Errorf("keystore type %q: %w", t, ErrUnsupported)
}

// EncodeTruststore writes a truststore: trusted certificate entries only.
func EncodeTruststore(t Type, certs []TrustedCert, storepass []byte) ([]byte, error) {
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificates for the truststore: %w", ErrBadInput)
	}
	seen := map[string]bool{}
	for _, c := range certs {
		a := strings.ToLower(c.Alias)
		if c.Alias == "" || c.Cert == nil || seen[a] {
			return nil, fmt.Errorf("empty or repeated alias %q: %w", c.Alias, ErrBadInput)
		}
		seen[a] = true
	}
	switch t {
	case JKS:
		return encodeJKS(nil, certs, storepass, nil)
	case PKCS12:
		return encodeP12Trust(certs, storepass)
	}
	return nil, fmt.Errorf("keystore type %q: %w", t, ErrUnsupported)
}

// Decode reads a keystore of type t ("" detects it). keypass opens JKS private
// keys; nil means storepass, as keytool does.
func Decode(data []byte, t Type, storepass, keypass []byte) (*Contents, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("larger than %d bytes: %w", MaxSize, ErrCorrupt)
	}
	found, err := Detect(data)
	if err != nil {
		return nil, err
	}
	if t == "" {
		t = found
	} else if t != found {
		return nil, fmt.Errorf("this is a %s keystore, not %s (give --type %s): %w", strings.ToUpper(string(found)), strings.ToUpper(string(t)), found, ErrCorrupt)
	}
	if keypass == nil {
		keypass = storepass
	}
	if t == JKS {
		return decodeJKS(data, storepass, keypass)
	}
	return decodeP12(data, storepass)
}

// parseKey reads a PKCS#8 private key, naming an algorithm certdb does not hold.
func parseKey(der []byte, alias string) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		var info struct {
			Version int
			Algo    pkix.AlgorithmIdentifier
		}
		if _, e := asn1.Unmarshal(der, &info); e == nil {
			name := info.Algo.Algorithm.String()
			if info.Algo.Algorithm.Equal(asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}) {
				name = "DSA"
			}
			return nil, fmt.Errorf("private key %q is a %s key; certdb holds RSA, ECDSA and Ed25519 keys (make a new key pair): %w", alias, name, ErrUnsupported)
		}
		return nil, fmt.Errorf("private key %q: %v: %w", alias, err, ErrCorrupt)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key %q of type %T: %w", alias, k, ErrUnsupported)
	}
	return signer, nil
}

// buildChain returns leaf followed by its issuers found in pool, nearest first.
func buildChain(leaf *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{leaf}
	cur := leaf
	for len(chain) < 10 && !bytes.Equal(cur.RawIssuer, cur.RawSubject) {
		var next *x509.Certificate
		for _, c := range pool {
			if contains(chain, c) || !bytes.Equal(c.RawSubject, cur.RawIssuer) {
				continue
			}
			if cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}

func contains(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// defaultAlias names a certificate without an alias: its common name, lower
// case as Java keeps aliases, else "entry".
func defaultAlias(c *x509.Certificate) string {
	if cn := strings.TrimSpace(c.Subject.CommonName); cn != "" {
		return strings.ToLower(cn)
	}
	return "entry"
}
