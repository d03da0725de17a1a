package store

import (
	"bytes"
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors. Every error the package returns wraps one of these (or an I/O error) with
// the file or nickname concerned; test them with errors.Is.
var (
	ErrNotFound            = errors.New("no such nickname")
	ErrBadPassword         = errors.New("store password incorrect")
	ErrLocked              = errors.New("store opened without its password; private keys need it")
	ErrBadPKCS12Password   = errors.New("PKCS#12 password incorrect")
	ErrExists              = errors.New("a certificate store already exists")
	ErrNoStore             = errors.New("no certificate store")
	ErrKeyMismatch         = errors.New("private key does not match the certificate")
	ErrNoKey               = errors.New("no private key for this certificate")
	ErrDuplicate           = errors.New("duplicate nickname or certificate")
	ErrLooseKeyPermissions = errors.New("private key file readable by others")
	ErrCorrupt             = errors.New("damaged or foreign store file")
	ErrBadInput            = errors.New("unusable input")
	// ErrUnsafeStore: the store folder, file or lock file could be changed by
	// another user (owner, group or world write, a planted link); the error says
	// which and the chmod, chown or rm that fixes it.
	ErrUnsafeStore = errors.New("store folder or file not safe to trust")
)

// Store is an open certificate store. Its methods are safe for concurrent use, and
// several processes may write the same store at once: every write takes the store's
// lock, re-reads the file and applies the change to what it finds.
//
// Reads (List, Get, Identity...) answer from the snapshot taken at Open or at this
// Store's last write; Reload refreshes it.
type Store struct {
	dir string

	mu   sync.Mutex
	aead cipher.AEAD // nil when the store is locked
	st   *state
}

// Entry is one certificate of the store.
type Entry struct {
	Nickname string
	Cert     *x509.Certificate
	// Trust as certutil shows it: with u in every position when HasKey.
	Trust  Trust
	HasKey bool
}

// KeyInfo describes a private key held by the store, for `certdb keys`.
type KeyInfo struct {
	Nickname  string
	Algorithm string // "rsa", "ec", "ed25519" (NSS's key type names)
	Bits      int    // RSA modulus or curve size
	// ID is NSS's CKA_ID for the key, in hex: the SHA-1 of the RSA modulus or of the
	// public point, as `certutil -K` prints it.
	ID string
	// Pending: the key waits for its certificate (certdb request).
	Pending bool
}

// Exists reports whether dir (optionally prefixed with "sql:") holds a store.
func Exists(dir string) bool {
	_, err := os.Lstat(filepath.Join(cleanDir(dir), FileName))
	return err == nil
}

// Create makes a new, empty store in dir, creating the folder (mode 0700) if needed,
// protected by password. An empty or nil password is allowed (like
// `certutil -N -f emptyfile`). It fails with ErrExists if dir already holds one.
// The store key is derived with scrypt N=2^15 r=8 p=1 (32 MiB; see doc.go).
func Create(dir string, password []byte) (*Store, error) {
	return CreateWith(dir, password, CreateOptions{})
}

// CreateOptions are Create's choices. The zero value is what Create and the
// certdb program always use.
type CreateOptions struct {
	// TestOnlyFastKDF derives the store key with scrypt N=2^6 r=8 p=1 (64 KiB,
	// 1/512 of the default work) and records that in the file, so every later
	// Open of the store, by any program, pays the small cost too. Tests only:
	// there the default derivation, at Create and at every Open, dominated the
	// run time (about 0.3-0.8 s each, 4 s under the race detector), while a
	// password guess against such a store costs 1/512 of what it should. The
	// certdb program has no flag, variable or file that reaches it (certdb's
	// TestProgramCreatesDefaultKDF checks the stores it makes).
	TestOnlyFastKDF bool
}

// CreateWith is Create with options (see CreateOptions).
func CreateWith(dir string, password []byte, o CreateOptions) (*Store, error) {
	dir = cleanDir(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating store folder: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Lstat(filepath.Join(dir, FileName)); err == nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FileName), ErrExists)
	}
	st, aead, err := newState(password, o.TestOnlyFastKDF)
	if err != nil {
		return nil, err
	}
	if err := writeState(dir, st); err != nil {
		return nil, err
	}
	return &Store{dir: dir, aead: aead, st: st}, nil
}

// Open opens the store in dir. With a password, a wrong one fails with
// ErrBadPassword. With a nil password the certificates can be read and changed;
// private keys are usable only if the store's password is empty (the common case
// for PCP), otherwise the store is Locked and key operations fail with ErrLocked.
//
// A store file that group or others can read or write is refused with
// ErrLooseKeyPermissions and the chmod command that fixes it. A store folder or
// file owned by another user (neither the caller nor root), a folder that group
// or others may write in (without the sticky bit), and a symbolic link in place
// of certdb.json or certdb.lock are refused with ErrUnsafeStore, for reading as
// for writing. Key derivation parameters beyond what certdb could have written
// (over 256 MiB of scrypt memory) are refused with ErrCorrupt before any work.
func Open(dir string, password []byte) (*Store, error) {
	dir = cleanDir(dir)
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, st: st}
	try := password
	if try == nil {
		try = []byte{}
	}
	aead, err := deriveAEAD(st.kdf, try)
	if err != nil {
		return nil, err
	}
	if verifyPassword(aead, st.check) {
		s.aead = aead
	} else if password != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FileName), ErrBadPassword)
	}
	return s, nil
}

// Dir returns the store's folder, without any "sql:" prefix.
func (s *Store) Dir() string { return s.dir }

// Locked reports whether private keys are out of reach because the store was
// opened without its (non-empty) password.
func (s *Store) Locked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aead == nil
}

// Reload re-reads the store from disk.
func (s *Store) Reload() error {
	st, err := readState(s.dir)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aead != nil && !verifyPassword(s.aead, st.check) {
		return fmt.Errorf("%s was re-created with another password: %w", s.path(), ErrBadPassword)
	}
	s.st = st
	return nil
}

func (s *Store) path() string { return filepath.Join(s.dir, FileName) }

// update runs fn on a fresh copy of the store read under the lock and writes the
// result. If fn fails nothing is written.
func (s *Store) update(fn func(st *state) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockDir(s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := readState(s.dir)
	if err != nil {
		return err
	}
	if s.aead != nil && !verifyPassword(s.aead, st.check) {
		return fmt.Errorf("%s was re-created with another password since it was opened: %w", s.path(), ErrBadPassword)
	}
	if err := fn(st); err != nil {
		return err
	}
	if err := writeState(s.dir, st); err != nil {
		return err
	}
	s.st = st
	return nil
}

func (s *Store) snapshot() *state {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (e *entry) public() Entry {
	t := e.trust
	if e.sealed != nil {
		t = t.withUser()
	}
	return Entry{Nickname: e.nickname, Cert: e.cert, Trust: t, HasKey: e.sealed != nil}
}

// List returns every entry, in the order they were added.
func (s *Store) List() []Entry {
	st := s.snapshot()
	out := make([]Entry, 0, len(st.entries))
	for _, e := range st.entries {
		out = append(out, e.public())
	}
	return out
}

// Get returns the entry called nickname, or an error wrapping ErrNotFound.
func (s *Store) Get(nickname string) (Entry, error) {
	e := s.snapshot().find(nickname)
	if e == nil {
		return Entry{}, fmt.Errorf("%q in %s: %w", nickname, s.dir, ErrNotFound)
	}
	return e.public(), nil
}

// CheckNickname validates a nickname: not empty, at most 255 bytes of printable
// UTF-8 without leading or trailing blanks.
func CheckNickname(nickname string) error {
	switch {
	case nickname == "":
		return fmt.Errorf("empty nickname: %w", ErrBadInput)
	case len(nickname) > 255:
		return fmt.Errorf("nickname longer than 255 bytes: %w", ErrBadInput)
	case !utf8.ValidString(nickname):
		return fmt.Errorf("nickname %q is not valid UTF-8: %w", nickname, ErrBadInput)
	}
	for _, r := range nickname {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("nickname %q has a control character: %w", nickname, ErrBadInput)
		}
	}
	if r, _ := utf8.DecodeRuneInString(nickname); unicode.IsSpace(r) {
		return fmt.Errorf("nickname %q starts with a blank: %w", nickname, ErrBadInput)
	}
	if r, _ := utf8.DecodeLastRuneInString(nickname); unicode.IsSpace(r) {
		return fmt.Errorf("nickname %q ends with a blank: %w", nickname, ErrBadInput)
	}
	return nil
}

// validityWarnings returns warnings for a certificate outside its validity period.
func validityWarnings(nickname string, cert *x509.Certificate, now time.Time) []string {
	switch {
	case now.After(cert.NotAfter):
		return []string{fmt.Sprintf("certificate %q (%s) expired on %s; it was stored, but peers will refuse it until it is renewed",
			nickname, cert.Subject, cert.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(cert.NotBefore):
		return []string{fmt.Sprintf("certificate %q (%s) is not valid before %s; check the clocks of this host and of the issuer",
			nickname, cert.Subject, cert.NotBefore.UTC().Format(time.RFC3339))}
	}
	return nil
}

// AddCert stores cert under nickname with trust (certutil -A). Adding the same
// certificate again under the same nickname only sets its trust, as certutil does.
// A nickname that holds another certificate, or a certificate already stored under
// another nickname, fails with ErrDuplicate. An expired or not yet valid
// certificate is stored, with a warning.
func (s *Store) AddCert(nickname string, cert *x509.Certificate, trust Trust) (warnings []string, err error) {
	if err := CheckNickname(nickname); err != nil {
		return nil, err
	}
	if cert == nil {
		return nil, fmt.Errorf("%q: no certificate: %w", nickname, ErrBadInput)
	}
	t, err := trust.normalize()
	if err != nil {
		return nil, fmt.Errorf("%q: %v: %w", nickname, err, ErrBadInput)
	}
	err = s.update(func(st *state) error {
		if e := st.find(nickname); e != nil {
			if !bytes.Equal(e.cert.Raw, cert.Raw) {
				return fmt.Errorf("%q already holds another certificate (%s) in %s: %w", nickname, e.cert.Subject, s.dir, ErrDuplicate)
			}
			e.trust = t
			return nil
		}
		if e := st.findCert(cert.Raw); e != nil {
			return fmt.Errorf("this certificate is already stored as %q in %s: %w", e.nickname, s.dir, ErrDuplicate)
		}
		ne := &entry{nickname: nickname, cert: cert, trust: t}
		// A certificate for a pending key (certdb request) takes the key, as
		// certutil -A does with a key already in the database.
		p := st.findPending(nickname)
		if p != nil && !publicEqual(p.pub, cert.PublicKey) {
			return fmt.Errorf("%q in %s is a key waiting for its certificate, and this certificate (%s) is for another key: %w", nickname, s.dir, cert.Subject, ErrKeyMismatch)
		}
		if p == nil {
			p = st.pendingFor(cert.PublicKey)
		}
		if p != nil {
			sealed, err := s.join(p, cert)
			if err != nil {
				return err
			}
			ne.sealed = sealed
			st.removePending(p.nickname)
		}
		st.entries = append(st.entries, ne)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return validityWarnings(nickname, cert, time.Now()), nil
}

// SetTrust changes the trust of nickname (certutil -M). A u in trust is ignored:
// it is derived from the presence of a key.
func (s *Store) SetTrust(nickname string, trust Trust) error {
	t, err := trust.normalize()
	if err != nil {
		return fmt.Errorf("%q: %v: %w", nickname, err, ErrBadInput)
	}
	return s.update(func(st *state) error {
		e := st.find(nickname)
		if e == nil {
			return fmt.Errorf("%q in %s: %w", nickname, s.dir, ErrNotFound)
		}
		e.trust = t
		return nil
	})
}

// Delete removes nickname's certificate and its private key, if any, or the
// pending key of that name.
func (s *Store) Delete(nickname string) error {
	return s.update(func(st *state) error {
		if !st.taken(nickname) {
			return fmt.Errorf("%q in %s: %w", nickname, s.dir, ErrNotFound)
		}
		st.remove(nickname)
		st.removePending(nickname)
		return nil
	})
}

// publicKeyEqual reports whether the private key's public half is pub.
func publicKeyEqual(key crypto.Signer, pub crypto.PublicKey) bool {
	k, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}

// sealKey encrypts key for e's certificate.
func (s *Store) sealKey(cert *x509.Certificate, key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %v: %w", err, ErrBadInput)
	}
	return seal(s.aead, der, keyAAD(cert))
}

// ImportKey stores key for nickname's certificate; the key must match the
// certificate's public key (ErrKeyMismatch otherwise).
func (s *Store) ImportKey(nickname string, key crypto.Signer) error {
	if key == nil {
		return fmt.Errorf("%q: no key: %w", nickname, ErrBadInput)
	}
	return s.update(func(st *state) error {
		if s.aead == nil {
			return fmt.Errorf("%s: %w", s.path(), ErrLocked)
		}
		e := st.find(nickname)
		if e == nil {
			return fmt.Errorf("%q in %s: %w", nickname, s.dir, ErrNotFound)
		}
		if !publicKeyEqual(key, e.cert.PublicKey) {
			return fmt.Errorf("%q (%s): %w", nickname, e.cert.Subject, ErrKeyMismatch)
		}
		sealed, err := s.sealKey(e.cert, key)
		if err != nil {
			return err
		}
		e.sealed = sealed
		return nil
	})
}

// AddIdentity stores cert with its private key under nickname, with trust, in one
// write: either both are stored or neither. The key must match the certificate
// (ErrKeyMismatch); a nickname or certificate already stored fails with
// ErrDuplicate.
func (s *Store) AddIdentity(nickname string, cert *x509.Certificate, key crypto.Signer, trust Trust) (warnings []string, err error) {
	if err := CheckNickname(nickname); err != nil {
		return nil, err
	}
	if cert == nil || key == nil {
		return nil, fmt.Errorf("%q: a certificate and its key are needed: %w", nickname, ErrBadInput)
	}
	t, err := trust.normalize()
	if err != nil {
		return nil, fmt.Errorf("%q: %v: %w", nickname, err, ErrBadInput)
	}
	if !publicKeyEqual(key, cert.PublicKey) {
		return nil, fmt.Errorf("%q (%s): %w", nickname, cert.Subject, ErrKeyMismatch)
	}
	err = s.update(func(st *state) error {
		if s.aead == nil {
			return fmt.Errorf("%s: %w", s.path(), ErrLocked)
		}
		if e := st.find(nickname); e != nil {
			return fmt.Errorf("%q already holds a certificate (%s) in %s: %w", nickname, e.cert.Subject, s.dir, ErrDuplicate)
		}
		if st.findPending(nickname) != nil {
			return fmt.Errorf("%q is a key waiting for its certificate (certdb request) in %s: %w", nickname, s.dir, ErrDuplicate)
		}
		if e := st.findCert(cert.Raw); e != nil {
			return fmt.Errorf("this certificate is already stored as %q in %s: %w", e.nickname, s.dir, ErrDuplicate)
		}
		sealed, err := s.sealKey(cert, key)
		if err != nil {
			return err
		}
		st.entries = append(st.entries, &entry{nickname: nickname, cert: cert, trust: t, sealed: sealed})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return validityWarnings(nickname, cert, time.Now()), nil
}

// privateKey decrypts the key of e.
func (s *Store) privateKey(e *entry) (crypto.Signer, error) {
	if e.sealed == nil {
		return nil, fmt.Errorf("%q: %w", e.nickname, ErrNoKey)
	}
	s.mu.Lock()
	aead := s.aead
	s.mu.Unlock()
	if aead == nil {
		return nil, fmt.Errorf("key of %q in %s: %w", e.nickname, s.path(), ErrLocked)
	}
	der, err := open(aead, e.sealed, keyAAD(e.cert))
	if err != nil {
		return nil, fmt.Errorf("key of %q in %s does not decrypt (%v): %w", e.nickname, s.path(), err, ErrCorrupt)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("key of %q in %s: %v: %w", e.nickname, s.path(), err, ErrCorrupt)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of %q: type %T cannot sign: %w", e.nickname, k, ErrCorrupt)
	}
	return signer, nil
}

// PrivateKey returns the decrypted private key of nickname.
func (s *Store) PrivateKey(nickname string) (crypto.Signer, error) {
	e := s.snapshot().find(nickname)
	if e == nil {
		return nil, fmt.Errorf("%q in %s: %w", nickname, s.dir, ErrNotFound)
	}
	return s.privateKey(e)
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// issuers walks from cert up through issuers found in st, returning them in order
// (cert excluded, a self-signed root included last).
func (st *state) issuers(cert *x509.Certificate) []*x509.Certificate {
	var chain []*x509.Certificate
	seen := map[*x509.Certificate]bool{cert: true}
	cur := cert
	for len(chain) < maxChain && !selfSigned(cur) {
		var next *x509.Certificate
		for _, e := range st.entries {
			c := e.cert
			if seen[c] || e.trust.Distrusted() || !bytes.Equal(c.RawSubject, cur.RawIssuer) {
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
		seen[next] = true
		chain = append(chain, next)
		cur = next
	}
	return chain
}

// Chain returns the issuers of nickname's certificate found in the store, nearest
// first, including a self-signed root.
func (s *Store) Chain(nickname string) ([]*x509.Certificate, error) {
	st := s.snapshot()
	e := st.find(nickname)
	if e == nil {
		return nil, fmt.Errorf("%q in %s: %w", nickname, s.dir, ErrNotFound)
	}
	return st.issuers(e.cert), nil
}

// Identity returns nickname's certificate and key ready for crypto/tls: the leaf
// first, then the issuers found in the store, stopping before a self-signed root
// (peers have the root already).
func (s *Store) Identity(nickname string) (tls.Certificate, error) {
	st := s.snapshot()
	e := st.find(nickname)
	if e == nil {
		return tls.Certificate{}, fmt.Errorf("%q in %s: %w", nickname, s.dir, ErrNotFound)
	}
	key, err := s.privateKey(e)
	if err != nil {
		return tls.Certificate{}, err
	}
	tc := tls.Certificate{Certificate: [][]byte{e.cert.Raw}, PrivateKey: key, Leaf: e.cert}
	for _, c := range st.issuers(e.cert) {
		if selfSigned(c) {
			break
		}
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// Identities returns the entries that have a private key, in order.
func (s *Store) Identities() []Entry {
	var out []Entry
	for _, e := range s.List() {
		if e.HasKey {
			out = append(out, e)
		}
	}
	return out
}

// TrustedCAs returns the trust anchors for verifying peers, with certutil's
// meaning of the SSL trust position: certificates marked C (trusted to issue server
// certificates) when forClients is false, T (trusted to issue client certificates)
// when it is true. c alone (valid CA) is not an anchor; see Intermediates.
func (s *Store) TrustedCAs(forClients bool) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, e := range s.snapshot().entries {
		if forClients && e.trust.TrustedClientCA() || !forClients && e.trust.TrustedServerCA() {
			pool.AddCert(e.cert)
		}
	}
	return pool
}

// Intermediates returns the CA certificates of the store that are not distrusted
// (p), for building chains up to the anchors of TrustedCAs.
func (s *Store) Intermediates() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, e := range s.snapshot().entries {
		if e.cert.IsCA && !e.trust.Distrusted() {
			pool.AddCert(e.cert)
		}
	}
	return pool
}

// TrustedPeers returns the certificates whose SSL position has P: accepted as they
// are, whoever issued them.
func (s *Store) TrustedPeers() []*x509.Certificate {
	var out []*x509.Certificate
	for _, e := range s.snapshot().entries {
		if e.trust.TrustedPeer() {
			out = append(out, e.cert)
		}
	}
	return out
}

// Keys describes the private keys held, in order (certutil -K). It needs no
// password: everything shown comes from the certificates.
func (s *Store) Keys() []KeyInfo {
	var out []KeyInfo
	st := s.snapshot()
	for _, e := range st.entries {
		if e.sealed == nil {
			continue
		}
		out = append(out, keyInfo(e.nickname, e.cert.PublicKey))
	}
	for _, p := range st.pending {
		ki := keyInfo(p.nickname, p.pub)
		ki.Pending = true
		out = append(out, ki)
	}
	return out
}

func keyInfo(nickname string, pub crypto.PublicKey) KeyInfo {
	ki := KeyInfo{Nickname: nickname}
	var id []byte
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		ki.Algorithm, ki.Bits = "rsa", pub.N.BitLen()
		id = pub.N.Bytes()
	case *ecdsa.PublicKey:
		ki.Algorithm, ki.Bits = "ec", pub.Curve.Params().BitSize
		if ek, err := pub.ECDH(); err == nil {
			id = ek.Bytes()
		}
	case ed25519.PublicKey:
		ki.Algorithm, ki.Bits = "ed25519", 256
		id = pub
	default:
		ki.Algorithm = fmt.Sprintf("%T", pub)
	}
	sum := sha1.Sum(id)
	ki.ID = hex.EncodeToString(sum[:])
	return ki
}
