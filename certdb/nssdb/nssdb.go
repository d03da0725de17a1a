// Package nssdb reads an NSS sql database (cert9.db and key4.db, as certutil
// and pk12util make them) so that its certificates, trust and private keys can
// move into a certdb store without exporting each key by hand.
//
// Both files are SQLite databases holding PKCS#11 objects, one row per object
// and one column per attribute ("a" and the attribute type in hex; values as
// NSS writes them: CK_ULONGs as 4 bytes big endian, a5 00 5a for an empty
// value). cert9.db has the certificates (CKO_CERTIFICATE: label = nickname,
// value = DER, CKA_ID) and their trust (CKO_NSS_TRUST, one trust level per
// usage, found by the certificate's SHA-1 or issuer and serial). key4.db has the
// private keys (CKO_PRIVATE_KEY, linked to certificates by CKA_ID), whose secret
// attributes are encrypted, and in its metaData table the "password" entry: the
// global salt and an encrypted "password-check".
//
// Encrypted values are DER EncryptedPrivateKeyInfo-like structures. NSS 3.49
// and later use PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC, where the
// PBKDF2 password is SHA-1(global salt || database password) and the 16-byte
// IV is stored as 14 bytes (NSS writes the IV's DER header as its first two
// bytes, 04 0e). Older databases use PKCS#5 PBE-SHA1-3DES, which this package
// does not read: export such keys with pk12util -o.
package nssdb

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/gopcp/gopcp/certdb/store"
)

// Errors; test with errors.Is.
var (
	ErrNoDatabase  = errors.New("no NSS sql database")
	ErrBadPassword = errors.New("NSS database password incorrect")
	ErrCorrupt     = errors.New("damaged NSS database")
	ErrUnsupported = errors.New("unsupported NSS database content")
)

// PKCS#11 and NSS constants.
const (
	ckaClass       = 0x0
	ckaLabel       = 0x3
	ckaValue       = 0x11
	ckaIssuer      = 0x81
	ckaSerial      = 0x82
	ckaKeyType     = 0x100
	ckaID          = 0x102
	ckaModulus     = 0x120
	ckaPublicExp   = 0x122
	ckaPrivateExp  = 0x123
	ckaPrime1      = 0x124
	ckaPrime2      = 0x125
	ckaECParams    = 0x180
	ckaTrustServer = 0xce536358
	ckaTrustClient = 0xce536359
	ckaTrustCode   = 0xce53635a
	ckaTrustEmail  = 0xce53635b
	ckaCertSHA1    = 0xce5363b4

	ckoCertificate = 1
	ckoPrivateKey  = 3
	ckoNSSTrust    = 0xce534353

	ckkRSA = 0
	ckkEC  = 3

	cktTrusted          = 0xce534351
	cktTrustedDelegator = 0xce534352
	cktMustVerify       = 0xce534353
	cktNotTrusted       = 0xce53435a
	cktValidDelegator   = 0xce53435b
)

// nssNull is how NSS stores an empty attribute value.
var nssNull = []byte{0xa5, 0x00, 0x5a}

// object is one row: attribute type to value.
type object map[uint32][]byte

func (o object) ulong(t uint32) (uint32, bool) {
	v, ok := o[t]
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// readObjects reads every row of table in the SQLite file path.
func readObjects(path, table string) ([]object, error) {
	db, err := openSQLite(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	cols, rows, err := db.table(table)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	types := make([]int64, len(cols))
	for i, c := range cols {
		types[i] = -1
		if len(c) > 1 && c[0] == 'a' {
			var t uint32
			if _, err := fmt.Sscanf(c[1:], "%x", &t); err == nil {
				types[i] = int64(t)
			}
		}
	}
	var out []object
	for _, r := range rows {
		o := object{}
		for i, v := range r {
			if i >= len(types) || types[i] < 0 {
				continue
			}
			var b []byte
			switch x := v.(type) {
			case []byte:
				b = x
			case string:
				b = []byte(x)
			default:
				continue
			}
			if bytes.Equal(b, nssNull) {
				b = []byte{}
			}
			o[uint32(types[i])] = b
		}
		out = append(out, o)
	}
	return out, nil
}

// DB is an NSS sql database opened for reading.
type DB struct {
	Dir     string
	public  []object // cert9.db nssPublic
	private []object // key4.db nssPrivate
	salt    []byte   // global salt
	check   []byte   // encrypted "password-check"
}

// Open reads the database in dir ("sql:" prefix allowed). It needs no
// password: certificates and trust are not encrypted.
func Open(dir string) (*DB, error) {
	dir = filepath.Clean(strings.TrimPrefix(dir, "sql:"))
	db := &DB{Dir: dir}
	certPath, keyPath := filepath.Join(dir, "cert9.db"), filepath.Join(dir, "key4.db")
	if _, err := os.Stat(certPath); err != nil {
		for _, old := range []string{"cert8.db", "key3.db"} {
			if _, e := os.Stat(filepath.Join(dir, old)); e == nil {
				return nil, fmt.Errorf("%s holds an old NSS DBM database (%s), not an sql one; NSS converts it when opened as sql: certutil -d sql:%s -L -f PASSWORDFILE (back it up first): %w", dir, old, dir, ErrUnsupported)
			}
		}
		return nil, fmt.Errorf("%s: no cert9.db (%v): %w", dir, err, ErrNoDatabase)
	}
	var err error
	if db.public, err = readObjects(certPath, "nssPublic"); err != nil {
		return nil, err
	}
	if _, err := os.Stat(keyPath); err == nil {
		if db.private, err = readObjects(keyPath, "nssPrivate"); err != nil {
			return nil, err
		}
		meta, err := openSQLite(keyPath)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrCorrupt)
		}
		_, rows, err := meta.table("metaData")
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrCorrupt)
		}
		for _, r := range rows {
			if len(r) >= 3 && r[0] == "password" {
				db.salt, _ = r[1].([]byte)
				db.check, _ = r[2].([]byte)
			}
		}
	}
	return db, nil
}

// Cert is a certificate of the database.
type Cert struct {
	Nickname string
	Cert     *x509.Certificate
	Trust    store.Trust
	ID       []byte // CKA_ID, which links it to its private key
}

// Certificates returns the certificates with their nicknames and trust, in
// the database's order.
func (db *DB) Certificates() ([]Cert, error) {
	type trust struct{ server, client, email, code uint32 }
	bySHA1 := map[[20]byte]trust{}
	byIssuerSerial := map[string]trust{}
	for _, o := range db.public {
		if c, _ := o.ulong(ckaClass); c != ckoNSSTrust {
			continue
		}
		var t trust
		t.server, _ = o.ulong(ckaTrustServer)
		t.client, _ = o.ulong(ckaTrustClient)
		t.email, _ = o.ulong(ckaTrustEmail)
		t.code, _ = o.ulong(ckaTrustCode)
		if h := o[ckaCertSHA1]; len(h) == 20 {
			bySHA1[[20]byte(h)] = t
		}
		byIssuerSerial[string(o[ckaIssuer])+"\x00"+string(o[ckaSerial])] = t
	}
	var out []Cert
	for _, o := range db.public {
		if c, _ := o.ulong(ckaClass); c != ckoCertificate {
			continue
		}
		cert, err := x509.ParseCertificate(o[ckaValue])
		if err != nil {
			return nil, fmt.Errorf("certificate %q in %s: %v: %w", string(o[ckaLabel]), db.Dir, err, ErrCorrupt)
		}
		c := Cert{Nickname: string(o[ckaLabel]), Cert: cert, ID: o[ckaID]}
		t, ok := bySHA1[sha1.Sum(cert.Raw)]
		if !ok {
			serial, _ := asn1.Marshal(cert.SerialNumber)
			t, ok = byIssuerSerial[string(cert.RawIssuer)+"\x00"+string(serial)]
		}
		if ok {
			ssl := letters(t.server, "C") + letters(t.client, "T")
			c.Trust, err = store.ParseTrust(ssl + "," + letters(t.email, "C") + "," + letters(t.code, "C"))
			if err != nil {
				return nil, fmt.Errorf("trust of %q: %v: %w", c.Nickname, err, ErrCorrupt)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// letters turns an NSS trust level into certutil letters; delegator is the
// letter of a trusted CA for this usage.
func letters(level uint32, delegator string) string {
	switch level {
	case cktTrustedDelegator:
		return delegator
	case cktTrusted:
		return "P"
	case cktValidDelegator:
		return "c"
	case cktNotTrusted:
		return "p"
	}
	return ""
}

// HasKeys reports whether key4.db holds private keys.
func (db *DB) HasKeys() bool {
	for _, o := range db.private {
		if c, _ := o.ulong(ckaClass); c == ckoPrivateKey {
			return true
		}
	}
	return false
}

// CheckPassword reports ErrBadPassword unless password opens the database.
func (db *DB) CheckPassword(password []byte) error {
	if db.salt == nil || db.check == nil {
		if db.HasKeys() {
			return fmt.Errorf("%s: key4.db has keys but no password entry: %w", db.Dir, ErrCorrupt)
		}
		return nil
	}
	plain, err := db.decrypt(db.check, password)
	if err != nil {
		if errors.Is(err, errDecrypt) {
			return fmt.Errorf("%s: %w", filepath.Join(db.Dir, "key4.db"), ErrBadPassword)
		}
		return fmt.Errorf("%s password check: %w", filepath.Join(db.Dir, "key4.db"), err)
	}
	if string(plain) != "password-check" {
		return fmt.Errorf("%s: %w", filepath.Join(db.Dir, "key4.db"), ErrBadPassword)
	}
	return nil
}

// Key is a private key of the database.
type Key struct {
	Nickname string // the key's label (often the certificate's nickname)
	ID       []byte // CKA_ID
	Signer   crypto.Signer
}

// Keys decrypts the private keys with the database password.
func (db *DB) Keys(password []byte) ([]Key, error) {
	if err := db.CheckPassword(password); err != nil {
		return nil, err
	}
	var out []Key
	for _, o := range db.private {
		if c, _ := o.ulong(ckaClass); c != ckoPrivateKey {
			continue
		}
		name := string(o[ckaLabel])
		if name == "" {
			name = hex.EncodeToString(o[ckaID])
		}
		kt, _ := o.ulong(ckaKeyType)
		dec := func(t uint32) ([]byte, error) {
			v, ok := o[t]
			if !ok || len(v) == 0 {
				return nil, fmt.Errorf("key %q in %s lacks attribute %#x: %w", name, db.Dir, t, ErrCorrupt)
			}
			plain, err := db.decrypt(v, password)
			if err != nil {
				return nil, fmt.Errorf("key %q in %s: %w", name, db.Dir, err)
			}
			return plain, nil
		}
		var signer crypto.Signer
		switch kt {
		case ckkRSA:
			d, err := dec(ckaPrivateExp)
			if err != nil {
				return nil, err
			}
			p, err := dec(ckaPrime1)
			if err != nil {
				return nil, err
			}
			q, err := dec(ckaPrime2)
			if err != nil {
				return nil, err
			}
			n, e := new(big.Int).SetBytes(o[ckaModulus]), new(big.Int).SetBytes(o[ckaPublicExp])
			if !e.IsInt64() || e.Int64() > 1<<31 {
				return nil, fmt.Errorf("key %q in %s: public exponent: %w", name, db.Dir, ErrCorrupt)
			}
			k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: int(e.Int64())}, D: new(big.Int).SetBytes(d),
				Primes: []*big.Int{new(big.Int).SetBytes(p), new(big.Int).SetBytes(q)}}
			if err := k.Validate(); err != nil {
				return nil, fmt.Errorf("key %q in %s: %v: %w", name, db.Dir, err, ErrCorrupt)
			}
			k.Precompute()
			signer = k
		case ckkEC:
			var oid asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(o[ckaECParams], &oid); err != nil {
				return nil, fmt.Errorf("key %q in %s: curve: %v: %w", name, db.Dir, err, ErrUnsupported)
			}
			curve := curveFor(oid)
			if curve == nil {
				return nil, fmt.Errorf("key %q in %s: curve %s: %w", name, db.Dir, oid, ErrUnsupported)
			}
			v, err := dec(ckaValue)
			if err != nil {
				return nil, err
			}
			size := (curve.Params().BitSize + 7) / 8
			if len(v) > size {
				return nil, fmt.Errorf("key %q in %s: EC value of %d bytes: %w", name, db.Dir, len(v), ErrCorrupt)
			}
			raw := make([]byte, size)
			copy(raw[size-len(v):], v)
			k, err := ecdsa.ParseRawPrivateKey(curve, raw)
			if err != nil {
				return nil, fmt.Errorf("key %q in %s: %v: %w", name, db.Dir, err, ErrCorrupt)
			}
			signer = k
		default:
			return nil, fmt.Errorf("key %q in %s: key type %#x (only RSA and EC keys are read): %w", name, db.Dir, kt, ErrUnsupported)
		}
		out = append(out, Key{Nickname: string(o[ckaLabel]), ID: o[ckaID], Signer: signer})
	}
	return out, nil
}

func curveFor(oid asn1.ObjectIdentifier) elliptic.Curve {
	switch {
	case oid.Equal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}):
		return elliptic.P256()
	case oid.Equal(asn1.ObjectIdentifier{1, 3, 132, 0, 34}):
		return elliptic.P384()
	case oid.Equal(asn1.ObjectIdentifier{1, 3, 132, 0, 35}):
		return elliptic.P521()
	}
	return nil
}

var (
	oidPBES2       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES256CBC   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidPBESHA13DES = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 5, 1, 3}
)

type encrypted struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

var errDecrypt = errors.New("does not decrypt")

const maxIterations = 10_000_000

// decrypt opens an encrypted attribute or the password check with password.
func (db *DB) decrypt(der, password []byte) ([]byte, error) {
	var e encrypted
	if rest, err := asn1.Unmarshal(der, &e); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("encrypted value unreadable: %w", ErrCorrupt)
	}
	if e.Algorithm.Algorithm.Equal(oidPBESHA13DES) {
		return nil, fmt.Errorf("encrypted with NSS's old PBE-SHA1-3DES (a database from before NSS 3.49), which certdb does not read; export the keys with pk12util -o and use certdb import: %w", ErrUnsupported)
	}
	if !e.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("encryption %s: %w", e.Algorithm.Algorithm, ErrUnsupported)
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(e.Algorithm.Parameters.FullBytes, &p); err != nil || !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("PBES2 parameters: %w", ErrUnsupported)
	}
	var kp pbkdf2Params
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil || kp.Iterations < 1 || kp.Iterations > maxIterations {
		return nil, fmt.Errorf("PBKDF2 parameters: %w", ErrCorrupt)
	}
	var prf func() hash.Hash
	switch a := kp.PRF.Algorithm; {
	case len(a) == 0, a.Equal(oidHMACSHA1):
		prf = sha1.New
	case a.Equal(oidHMACSHA256):
		prf = sha256.New
	case a.Equal(oidHMACSHA384):
		prf = sha512.New384
	case a.Equal(oidHMACSHA512):
		prf = sha512.New
	default:
		return nil, fmt.Errorf("PBKDF2 PRF %s: %w", a, ErrUnsupported)
	}
	keyLen := 32
	switch {
	case p.Enc.Algorithm.Equal(oidAES256CBC):
	case p.Enc.Algorithm.Equal(oidAES128CBC):
		keyLen = 16
	default:
		return nil, fmt.Errorf("cipher %s: %w", p.Enc.Algorithm, ErrUnsupported)
	}
	if kp.KeyLength != 0 && kp.KeyLength != keyLen {
		return nil, fmt.Errorf("key length %d: %w", kp.KeyLength, ErrCorrupt)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(p.Enc.Parameters.FullBytes, &iv); err != nil {
		return nil, fmt.Errorf("IV: %w", ErrCorrupt)
	}
	switch len(iv) {
	case 14: // NSS's own: the IV's DER header is its first two bytes
		iv = append([]byte{0x04, 0x0e}, iv...)
	case 16:
	default:
		return nil, fmt.Errorf("IV of %d bytes: %w", len(iv), ErrCorrupt)
	}
	// sftkdb_passwordToKey: SHA-1(global salt || password).
	h := sha1.New()
	h.Write(db.salt)
	h.Write(password)
	pwKey := h.Sum(nil)
	key, err := pbkdf2.Key(prf, string(pwKey), kp.Salt, kp.Iterations, keyLen)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(e.Data) == 0 || len(e.Data)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("encrypted data of %d bytes: %w", len(e.Data), ErrCorrupt)
	}
	out := make([]byte, len(e.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, e.Data)
	n := int(out[len(out)-1])
	if n == 0 || n > aes.BlockSize || subtle.ConstantTimeCompare(out[len(out)-n:], bytes.Repeat([]byte{byte(n)}, n)) != 1 {
		return nil, errDecrypt
	}
	return out[:len(out)-n], nil
}

// Exists reports whether dir ("sql:" prefix allowed) holds an NSS database in
// either format: cert9.db or key4.db (sql), or the old DBM cert8.db or key3.db,
// so that a caller can tell "an NSS database" from "something else" before
// Open says what is wrong with it.
func Exists(dir string) bool {
	dir = filepath.Clean(strings.TrimPrefix(dir, "sql:"))
	for _, f := range []string{"cert9.db", "key4.db", "cert8.db", "key3.db"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// Files are the files of an sql database in dir that a reader depends on, for
// a daemon's change watch.
func Files(dir string) []string {
	dir = filepath.Clean(strings.TrimPrefix(dir, "sql:"))
	return []string{filepath.Join(dir, "cert9.db"), filepath.Join(dir, "key4.db")}
}

// LegacyEncryption reports whether key4.db protects its keys the way NSS did
// before 3.49 (PKCS#5 PBE-SHA1-3DES), which Keys cannot decrypt: a database
// made by an old NSS, or converted from the DBM format, keeps it until its
// password is changed (certutil -W), which re-encrypts every key.
func (db *DB) LegacyEncryption() bool {
	var e encrypted
	if db.check == nil {
		return false
	}
	if _, err := asn1.Unmarshal(db.check, &e); err != nil {
		return false
	}
	return e.Algorithm.Algorithm.Equal(oidPBESHA13DES)
}

// ckoNSSCRL is the class of a CRL object (CKO_NSS + 1), as crlutil -I stores it.
const ckoNSSCRL = 0xce534351

// CRLs returns the DER of the CRLs the database holds (crlutil -I puts them in
// cert9.db), in the database's order. They are not verified here: a caller
// checks each one's signature against a CA it trusts.
func (db *DB) CRLs() [][]byte {
	var out [][]byte
	for _, o := range db.public {
		if c, _ := o.ulong(ckaClass); c == ckoNSSCRL && len(o[ckaValue]) > 0 {
			out = append(out, o[ckaValue])
		}
	}
	return out
}

// HasKeyFor reports whether key4.db holds a private key whose CKA_ID is id
// (Cert.ID): how NSS links a key to its certificate, readable without the
// password, so that a tool can say which certificates are identities before
// it decrypts anything.
func (db *DB) HasKeyFor(id []byte) bool {
	if len(id) == 0 {
		return false
	}
	for _, o := range db.private {
		if c, _ := o.ulong(ckaClass); c == ckoPrivateKey && bytes.Equal(o[ckaID], id) {
			return true
		}
	}
	return false
}
