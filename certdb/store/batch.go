package store

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"time"
)

// Item is one certificate for AddAll, with its private key if it has one; or,
// with no certificate, a key waiting for one (see AddPendingKey).
type Item struct {
	Nickname string
	Cert     *x509.Certificate
	Key      crypto.Signer // nil: certificate only
	Trust    Trust
}

// Outcome says what AddAll did with one item.
type Outcome struct {
	Nickname string // the entry's nickname now
	Added    bool   // a new entry was made
	KeyAdded bool   // the key joined an entry that had none
	Existed  bool   // the certificate was stored already (under Nickname)
	Renamed  bool   // the nickname asked for was taken: Nickname is "NAME #2"...
}

// AddAll stores items in one write: all of them, or on any error none. It is
// what an import from another store or keystore needs:
//
//   - a certificate already stored keeps its entry, nickname and trust (its
//     trust is set only if it had none); its key joins it if it had none;
//   - a nickname taken by another certificate or a pending key becomes
//     "NAME #2", "NAME #3"... (Outcome.Renamed);
//   - keys must match their certificates (ErrKeyMismatch) and need the store's
//     password (ErrLocked);
//   - a key without a certificate becomes a pending key (unless one with the
//     same public key is pending already).
func (s *Store) AddAll(items []Item) (outcomes []Outcome, warnings []string, err error) {
	norm := make([]Trust, len(items))
	for i, it := range items {
		if err := CheckNickname(it.Nickname); err != nil {
			return nil, nil, err
		}
		if it.Cert == nil && it.Key == nil {
			return nil, nil, fmt.Errorf("%q: no certificate and no key: %w", it.Nickname, ErrBadInput)
		}
		if norm[i], err = it.Trust.normalize(); err != nil {
			return nil, nil, fmt.Errorf("%q: %v: %w", it.Nickname, err, ErrBadInput)
		}
		if it.Key != nil && it.Cert != nil && !publicKeyEqual(it.Key, it.Cert.PublicKey) {
			return nil, nil, fmt.Errorf("%q (%s): %w", it.Nickname, it.Cert.Subject, ErrKeyMismatch)
		}
	}
	err = s.update(func(st *state) error {
		outcomes, warnings = nil, nil
		now := time.Now()
		for i, it := range items {
			if it.Key != nil && s.aead == nil {
				return fmt.Errorf("%s: %w", s.path(), ErrLocked)
			}
			o := Outcome{}
			if it.Cert == nil {
				spki, err := x509.MarshalPKIXPublicKey(it.Key.Public())
				if err != nil {
					return fmt.Errorf("%q: public key: %v: %w", it.Nickname, err, ErrBadInput)
				}
				if p := st.pendingFor(it.Key.Public()); p != nil {
					outcomes = append(outcomes, Outcome{Nickname: p.nickname, Existed: true})
					continue
				}
				der, err := x509.MarshalPKCS8PrivateKey(it.Key)
				if err != nil {
					return fmt.Errorf("%q: %v: %w", it.Nickname, err, ErrBadInput)
				}
				sealed, err := seal(s.aead, der, pendingAAD(spki))
				if err != nil {
					return err
				}
				name := st.uniqueNickname(it.Nickname)
				st.pending = append(st.pending, &pending{nickname: name, public: spki, pub: it.Key.Public(), sealed: sealed})
				outcomes = append(outcomes, Outcome{Nickname: name, Added: true, Renamed: name != it.Nickname})
				continue
			}
			if e := st.findCert(it.Cert.Raw); e != nil {
				o.Nickname, o.Existed = e.nickname, true
				if e.trust.IsZero() && !norm[i].IsZero() {
					e.trust = norm[i]
				}
				if it.Key != nil && e.sealed == nil {
					sealed, err := s.sealKey(e.cert, it.Key)
					if err != nil {
						return err
					}
					e.sealed, o.KeyAdded = sealed, true
				}
				outcomes = append(outcomes, o)
				continue
			}
			name := st.uniqueNickname(it.Nickname)
			o.Nickname, o.Added, o.Renamed = name, true, name != it.Nickname
			e := &entry{nickname: name, cert: it.Cert, trust: norm[i]}
			if it.Key != nil {
				sealed, err := s.sealKey(it.Cert, it.Key)
				if err != nil {
					return err
				}
				e.sealed = sealed
			}
			st.entries = append(st.entries, e)
			outcomes = append(outcomes, o)
			warnings = append(warnings, validityWarnings(name, it.Cert, now)...)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return outcomes, warnings, nil
}
