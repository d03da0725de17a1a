package store

import (
	"crypto"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"time"
)

// A pending key is a private key made for a certificate signing request (certdb
// request) whose certificate has not come back yet: what a key-only object is in
// an NSS database after `certutil -R`. It has a nickname of its own, which no
// certificate may take; when the signed certificate is added (ReceiveCert, or
// AddCert with a certificate for that key) the key joins it and the pending entry
// goes. Pending keys need format version 2 (see doc.go).

// pendingAADLabel starts the additional data that binds a pending key to its
// public key; the certificate is not known yet.
const pendingAADLabel = "gopcp-certdb/v2 pending\x00"

type pending struct {
	nickname string
	public   []byte // SubjectPublicKeyInfo DER
	pub      crypto.PublicKey
	sealed   []byte
	csr      *x509.CertificateRequest // nil if none was kept
}

// Pending describes a key waiting for its certificate.
type Pending struct {
	Nickname  string
	PublicKey crypto.PublicKey
	// Request is the certificate signing request made with the key, if kept.
	Request *x509.CertificateRequest
}

func pendingAAD(spki []byte) []byte {
	sum := sha256.Sum256(spki)
	return append([]byte(pendingAADLabel), sum[:]...)
}

func (st *state) findPending(nickname string) *pending {
	for _, p := range st.pending {
		if p.nickname == nickname {
			return p
		}
	}
	return nil
}

// pendingFor returns the pending key whose public key is pub.
func (st *state) pendingFor(pub crypto.PublicKey) *pending {
	for _, p := range st.pending {
		if publicEqual(p.pub, pub) {
			return p
		}
	}
	return nil
}

func (st *state) removePending(nickname string) {
	out := st.pending[:0]
	for _, p := range st.pending {
		if p.nickname != nickname {
			out = append(out, p)
		}
	}
	st.pending = out
}

// taken reports whether a certificate or a pending key uses nickname.
func (st *state) taken(nickname string) bool {
	return st.find(nickname) != nil || st.findPending(nickname) != nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func (p *pending) info() Pending {
	return Pending{Nickname: p.nickname, PublicKey: p.pub, Request: p.csr}
}

// AddPendingKey keeps key under nickname until its certificate arrives, with the
// request made with it (DER; may be nil). The nickname must be free.
func (s *Store) AddPendingKey(nickname string, key crypto.Signer, csrDER []byte) error {
	if err := CheckNickname(nickname); err != nil {
		return err
	}
	if key == nil {
		return fmt.Errorf("%q: no key: %w", nickname, ErrBadInput)
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("%q: public key: %v: %w", nickname, err, ErrBadInput)
	}
	var csr *x509.CertificateRequest
	if len(csrDER) > 0 {
		if csr, err = x509.ParseCertificateRequest(csrDER); err != nil {
			return fmt.Errorf("%q: request: %v: %w", nickname, err, ErrBadInput)
		}
		if !publicEqual(key.Public(), csr.PublicKey) {
			return fmt.Errorf("%q: the request is for another key: %w", nickname, ErrKeyMismatch)
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding private key: %v: %w", err, ErrBadInput)
	}
	return s.update(func(st *state) error {
		if s.aead == nil {
			return fmt.Errorf("%s: %w", s.path(), ErrLocked)
		}
		if e := st.find(nickname); e != nil {
			return fmt.Errorf("%q already holds a certificate (%s) in %s: %w", nickname, e.cert.Subject, s.dir, ErrDuplicate)
		}
		if st.findPending(nickname) != nil {
			return fmt.Errorf("%q already has a key waiting for its certificate in %s: %w", nickname, s.dir, ErrDuplicate)
		}
		sealed, err := seal(s.aead, der, pendingAAD(spki))
		if err != nil {
			return err
		}
		st.pending = append(st.pending, &pending{nickname: nickname, public: spki, pub: key.Public(), sealed: sealed, csr: csr})
		return nil
	})
}

// PendingKeys lists the keys waiting for their certificates, in order.
func (s *Store) PendingKeys() []Pending {
	var out []Pending
	for _, p := range s.snapshot().pending {
		out = append(out, p.info())
	}
	return out
}

// PendingKey describes nickname's pending key, or fails with ErrNotFound.
func (s *Store) PendingKey(nickname string) (Pending, error) {
	p := s.snapshot().findPending(nickname)
	if p == nil {
		return Pending{}, fmt.Errorf("no key waiting for a certificate under %q in %s: %w", nickname, s.dir, ErrNotFound)
	}
	return p.info(), nil
}

// PendingPrivateKey decrypts nickname's pending key.
func (s *Store) PendingPrivateKey(nickname string) (crypto.Signer, error) {
	p := s.snapshot().findPending(nickname)
	if p == nil {
		return nil, fmt.Errorf("no key waiting for a certificate under %q in %s: %w", nickname, s.dir, ErrNotFound)
	}
	return s.openPending(p)
}

func (s *Store) openPending(p *pending) (crypto.Signer, error) {
	s.mu.Lock()
	aead := s.aead
	s.mu.Unlock()
	return s.openPendingWith(aead, p)
}

// openPendingWith decrypts p with aead (nil: the store is locked).
func (s *Store) openPendingWith(aead cipher.AEAD, p *pending) (crypto.Signer, error) {
	if aead == nil {
		return nil, fmt.Errorf("pending key of %q in %s: %w", p.nickname, s.path(), ErrLocked)
	}
	der, err := open(aead, p.sealed, pendingAAD(p.public))
	if err != nil {
		return nil, fmt.Errorf("pending key of %q in %s does not decrypt (%v): %w", p.nickname, s.path(), err, ErrCorrupt)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("pending key of %q in %s: %v: %w", p.nickname, s.path(), err, ErrCorrupt)
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !publicEqual(signer.Public(), p.pub) {
		return nil, fmt.Errorf("pending key of %q in %s is not the key recorded: %w", p.nickname, s.path(), ErrCorrupt)
	}
	return signer, nil
}

// join moves pending key p onto cert: it is decrypted and sealed again, bound to
// the certificate. The caller holds the update (and so s.mu).
func (s *Store) join(p *pending, cert *x509.Certificate) ([]byte, error) {
	key, err := s.openPendingWith(s.aead, p)
	if err != nil {
		return nil, err
	}
	if !publicKeyEqual(key, cert.PublicKey) {
		return nil, fmt.Errorf("the certificate (%s) is not for the key waiting under %q: %w", cert.Subject, p.nickname, ErrKeyMismatch)
	}
	return s.sealKey(cert, key)
}

// ReceiveCert gives nickname's pending key its signed certificate: the entry
// becomes an identity (certificate with key) with trust. chain holds more
// certificates that came with it (the issuing CAs); those not yet stored are
// added with no trust under their common names. The certificate must be for the
// pending key (ErrKeyMismatch); nickname must be pending (ErrNotFound). added
// lists the nicknames created, nickname first.
func (s *Store) ReceiveCert(nickname string, cert *x509.Certificate, chain []*x509.Certificate, trust Trust) (added, warnings []string, err error) {
	if cert == nil {
		return nil, nil, fmt.Errorf("%q: no certificate: %w", nickname, ErrBadInput)
	}
	t, err := trust.normalize()
	if err != nil {
		return nil, nil, fmt.Errorf("%q: %v: %w", nickname, err, ErrBadInput)
	}
	err = s.update(func(st *state) error {
		added, warnings = nil, nil
		p := st.findPending(nickname)
		if p == nil {
			if e := st.find(nickname); e != nil {
				return fmt.Errorf("%q in %s already has its certificate (%s); no key is waiting under that name: %w", nickname, s.dir, e.cert.Subject, ErrNotFound)
			}
			return fmt.Errorf("no key waiting for a certificate under %q in %s: %w", nickname, s.dir, ErrNotFound)
		}
		if e := st.findCert(cert.Raw); e != nil {
			return fmt.Errorf("this certificate is already stored as %q in %s: %w", e.nickname, s.dir, ErrDuplicate)
		}
		sealed, err := s.join(p, cert)
		if err != nil {
			return err
		}
		st.removePending(nickname)
		st.entries = append(st.entries, &entry{nickname: nickname, cert: cert, trust: t, sealed: sealed})
		added = append(added, nickname)
		now := time.Now()
		warnings = append(warnings, validityWarnings(nickname, cert, now)...)
		for _, c := range chain {
			if c.Equal(cert) || st.findCert(c.Raw) != nil {
				continue
			}
			name := st.uniqueNickname(defaultNickname(c))
			st.entries = append(st.entries, &entry{nickname: name, cert: c})
			added = append(added, name)
			warnings = append(warnings, validityWarnings(name, c, now)...)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return added, warnings, nil
}
