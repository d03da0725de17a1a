package store

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gopcp/gopcp/internal/safetext"
)

// CRLs live beside certdb.json, not inside it: a CRL is public, may be replaced
// often by a cron job, and is read by daemons that do not need the store's
// password; keeping it out of certdb.json also leaves that file's format (where an
// unknown field makes it unreadable) unchanged for older certdb versions.
//
//	crl/                  mode 0755
//	crl/<id>.crl          one DER CRL per issuing CA, mode 0644, replaced atomically
//
// <id> is the first 32 hex digits of SHA-256(issuer subject DER || issuer
// SubjectPublicKeyInfo DER), so a CA's next CRL replaces its previous one and two
// CAs with one name but different keys do not collide.

// CRLDirName is the folder of a store that holds its CRLs.
const CRLDirName = "crl"

// crlExt is the file name extension of a stored CRL.
const crlExt = ".crl"

// MaxCRLSize bounds a CRL file read from disk: large enough for a CA that has
// revoked a few hundred thousand certificates, small enough not to exhaust memory
// on a hostile file.
const MaxCRLSize = 64 << 20

// Errors of the CRL operations.
var (
	ErrCRLIssuer   = errors.New("the CRL's issuer is not a CA in the store, or its signature does not verify")
	ErrCRLNotNewer = errors.New("the store already holds a CRL of this issuer that is as new or newer")
	ErrNoCRL       = errors.New("no CRL stored for that CA")
)

// StoredCRL is a CRL held by the store, with the store entry of the CA that signed it.
type StoredCRL struct {
	Path   string
	List   *x509.RevocationList
	Issuer Entry
}

// ParseCRLs reads CRLs in PEM ("X509 CRL" blocks, several allowed) or one DER CRL.
func ParseCRLs(data []byte) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	rest := data
	sawPEM := false
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		sawPEM = true
		if b.Type != "X509 CRL" {
			continue
		}
		l, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CRL %d: %w", len(out)+1, err)
		}
		out = append(out, l)
	}
	if sawPEM {
		if len(out) == 0 {
			return nil, errors.New("no X509 CRL PEM block in the file")
		}
		return out, nil
	}
	l, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("neither PEM nor a DER CRL: %w", err)
	}
	return []*x509.RevocationList{l}, nil
}

// CRLIssuerID names a CA's CRL file: see the layout above.
func CRLIssuerID(ca *x509.Certificate) string {
	h := sha256.New()
	h.Write(ca.RawSubject)
	h.Write(ca.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// CRLIssuer returns the CA certificate of the store that signed l: a CA entry
// whose subject is the CRL's issuer and whose key verifies its signature.
func (s *Store) CRLIssuer(l *x509.RevocationList) (Entry, error) {
	for _, e := range s.List() {
		if !e.Cert.IsCA || !bytes.Equal(e.Cert.RawSubject, l.RawIssuer) {
			continue
		}
		if l.CheckSignatureFrom(e.Cert) == nil {
			return e, nil
		}
	}
	return Entry{}, ErrCRLIssuer
}

// CRLs reads the store's CRLs, each checked against the CA of the store that
// issued it. A file that does not parse, or whose CA is gone or does not verify
// it, is an error naming the file: a daemon must not silently run without a
// revocation list it was given.
func (s *Store) CRLs() ([]StoredCRL, error) {
	dir := filepath.Join(s.dir, CRLDirName)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("CRL folder: %w", err)
	}
	var out []StoredCRL
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), crlExt) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := readCRLFile(p)
		if err != nil {
			return nil, err
		}
		l, err := x509.ParseRevocationList(data)
		if err != nil {
			return nil, fmt.Errorf("CRL %s: %w; delete it with certdb crl delete", p, err)
		}
		ca, err := s.CRLIssuer(l)
		if err != nil {
			return nil, fmt.Errorf("CRL %s (issuer \"%s\"): %w", p, safetext.Escape(l.Issuer.String()), err)
		}
		out = append(out, StoredCRL{Path: p, List: l, Issuer: ca})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Issuer.Nickname < out[j].Issuer.Nickname })
	return out, nil
}

func readCRLFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("CRL: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("CRL %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > MaxCRLSize {
		return nil, fmt.Errorf("CRL %s: not a regular file of at most %d bytes", p, MaxCRLSize)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return nil, fmt.Errorf("CRL %s: %w", p, err)
	}
	return data, nil
}

// newerCRL reports whether next supersedes prev: by CRL number when both carry
// one (RFC 5280 5.2.3: numbers increase), else by thisUpdate.
func newerCRL(next, prev *x509.RevocationList) bool {
	if next.Number != nil && prev.Number != nil {
		return next.Number.Cmp(prev.Number) > 0
	}
	return next.ThisUpdate.After(prev.ThisUpdate)
}

// AddCRL stores a CRL (DER) after checking its signature against a CA of the
// store. It replaces the CRL of the same CA only when the new one is newer, so
// an old CRL replayed (by mistake or on purpose) cannot un-revoke a certificate.
// replaced reports whether an older CRL was replaced.
func (s *Store) AddCRL(der []byte) (sc StoredCRL, replaced bool, err error) {
	l, err := x509.ParseRevocationList(der)
	if err != nil {
		return sc, false, fmt.Errorf("reading the CRL: %w", err)
	}
	ca, err := s.CRLIssuer(l)
	if err != nil {
		return sc, false, fmt.Errorf("CRL issued by \"%s\": %w", safetext.Escape(l.Issuer.String()), err)
	}
	unlock, err := lockDir(s.dir)
	if err != nil {
		return sc, false, err
	}
	defer unlock()
	dir := filepath.Join(s.dir, CRLDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sc, false, fmt.Errorf("CRL folder: %w", err)
	}
	name := CRLIssuerID(ca.Cert) + crlExt
	p := filepath.Join(dir, name)
	if old, err := readCRLFile(p); err == nil {
		if prev, err := x509.ParseRevocationList(old); err == nil {
			if !newerCRL(l, prev) {
				return sc, false, fmt.Errorf("%w (stored: number %s, this update %s; given: number %s, this update %s)",
					ErrCRLNotNewer, numberText(prev.Number), prev.ThisUpdate.UTC().Format("2006-01-02 15:04:05"),
					numberText(l.Number), l.ThisUpdate.UTC().Format("2006-01-02 15:04:05"))
			}
		}
		// A stored file that no longer parses is replaced: it protects nothing.
		replaced = true
	}
	if err := writePublicAtomic(dir, name, l.Raw); err != nil {
		return sc, false, err
	}
	return StoredCRL{Path: p, List: l, Issuer: ca}, replaced, nil
}

// DeleteCRL removes the CRL of the CA stored under nickname.
func (s *Store) DeleteCRL(nickname string) error {
	e, err := s.Get(nickname)
	if err != nil {
		return err
	}
	unlock, err := lockDir(s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	dir := filepath.Join(s.dir, CRLDirName)
	err = os.Remove(filepath.Join(dir, CRLIssuerID(e.Cert)+crlExt))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%q: %w", nickname, ErrNoCRL)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

func numberText(n *big.Int) string {
	if n == nil {
		return "none"
	}
	return n.String()
}

// writePublicAtomic writes a world-readable file through a temporary file in the
// same folder, fsync and rename, so a daemon reading it sees the old or the new
// CRL, whole.
func writePublicAtomic(dir, name string, data []byte) error {
	return replaceFile(dir, name, "."+name+".tmp-", 0o644, "CRL", data)
}

// OpenCertificates opens a store for its certificates and CRLs only, without
// deriving the key from a password (scrypt costs a tenth of a second and much
// memory): what a TLS client needs to check revocation on each connection. Its
// private keys are out of reach (Locked).
func OpenCertificates(dir string) (*Store, error) {
	dir = cleanDir(dir)
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, st: st}, nil
}
