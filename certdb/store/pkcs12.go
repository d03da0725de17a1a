package store

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/pkcs12"
)

// DecodePKCS12 reads a PKCS#12 file, DER or BER (as NSS's pk12util writes it),
// through certdb/pkcs12 with its default work limits: the certificate that
// matches the private key (the leaf), the other certificates, and the friendly
// name of the leaf if the file carries one. A wrong password fails with
// ErrBadPKCS12Password, a key that matches none of the certificates with
// ErrKeyMismatch, a file asking for too much key derivation (or anything else
// unusable) with ErrBadInput.
func DecodePKCS12(data, password []byte) (key crypto.Signer, leaf *x509.Certificate, others []*x509.Certificate, friendlyName string, err error) {
	contents, err := pkcs12.Decode(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrBadPassword) {
			return nil, nil, nil, "", ErrBadPKCS12Password
		}
		if errors.Is(err, pkcs12.ErrTooMuchWork) {
			return nil, nil, nil, "", fmt.Errorf("%w (%w)", err, ErrBadInput) // says "the file asks for..."
		}
		return nil, nil, nil, "", fmt.Errorf("not a usable PKCS#12 file: %w (%w)", err, ErrBadInput)
	}
	var keyBag *pkcs12.Bag
	var certs []*pkcs12.Bag
	for i := range contents.Bags {
		b := &contents.Bags[i]
		switch {
		case b.PrivateKey != nil:
			if keyBag != nil {
				return nil, nil, nil, "", fmt.Errorf("the PKCS#12 file holds more than one private key; import takes one (split it with openssl pkcs12, or use certdb keystore import): %w", ErrBadInput)
			}
			keyBag = b
		case b.Certificate != nil:
			certs = append(certs, b)
		}
	}
	if keyBag == nil {
		return nil, nil, nil, "", fmt.Errorf("the PKCS#12 file holds no private key (add its certificates with certdb add): %w", ErrBadInput)
	}
	if len(certs) == 0 {
		return nil, nil, nil, "", fmt.Errorf("the PKCS#12 file holds no certificate for its key: %w", ErrBadInput)
	}
	k, err := x509.ParsePKCS8PrivateKey(keyBag.PrivateKey)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("the PKCS#12 private key: %v: %w", err, ErrBadInput)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, nil, "", fmt.Errorf("PKCS#12 private key of type %T cannot sign: %w", k, ErrBadInput)
	}
	for _, b := range certs {
		if leaf == nil && publicKeyEqual(signer, b.Certificate.PublicKey) {
			leaf = b.Certificate
			// pk12util names the certificate; Java names the key.
			friendlyName = b.FriendlyName
			if friendlyName == "" {
				friendlyName = keyBag.FriendlyName
			}
		} else {
			others = append(others, b.Certificate)
		}
	}
	if leaf == nil {
		return nil, nil, nil, "", fmt.Errorf("the private key in the PKCS#12 file matches none of its %d certificates: %w", len(certs), ErrKeyMismatch)
	}
	return signer, leaf, others, friendlyName, nil
}

// defaultNickname is what pk12util names a certificate that has no friendly name:
// its subject's common name, else the whole subject.
func defaultNickname(c *x509.Certificate) string {
	if cn := strings.TrimSpace(c.Subject.CommonName); cn != "" && CheckNickname(cn) == nil {
		return cn
	}
	return c.Subject.String()
}

// uniqueNickname returns name, or "name #2", "name #3"... if taken.
func (st *state) uniqueNickname(name string) string {
	if !st.taken(name) {
		return name
	}
	for i := 2; ; i++ {
		n := fmt.Sprintf("%s #%d", name, i)
		if !st.taken(n) {
			return n
		}
	}
}

// ImportPKCS12 imports a PKCS#12 file (pk12util -i): the leaf certificate with its
// private key, and the other certificates of the file as CAs with empty trust.
//
// The leaf goes under nickname; if nickname is "" under the file's friendly name,
// else the leaf's subject common name, as pk12util does. If the leaf is already in
// the store (typically added with `certutil -A -t "P,,"` first, as the PCP
// walkthrough does), the key joins that entry and its nickname and trust are kept;
// a different explicit nickname then gives a warning. Chain certificates already in
// the store are left alone; new ones get their common name, made unique with " #2".
//
// added lists the nicknames that were created or got a key, leaf first.
func (s *Store) ImportPKCS12(data, p12password []byte, nickname string) (added []string, warnings []string, err error) {
	if nickname != "" {
		if err := CheckNickname(nickname); err != nil {
			return nil, nil, err
		}
	}
	key, leaf, others, friendly, err := DecodePKCS12(data, p12password)
	if err != nil {
		return nil, nil, err
	}
	err = s.update(func(st *state) error {
		added, warnings = nil, nil
		if s.aead == nil {
			return fmt.Errorf("%s: %w", s.path(), ErrLocked)
		}
		now := time.Now()
		var le *entry
		if le = st.findCert(leaf.Raw); le != nil {
			if nickname != "" && nickname != le.nickname {
				warnings = append(warnings, fmt.Sprintf("the certificate is already stored as %q; its key was added there and the name %q was not used", le.nickname, nickname))
			}
		} else {
			name := nickname
			if name == "" {
				name = friendly
				if CheckNickname(name) != nil {
					name = defaultNickname(leaf)
				}
				name = st.uniqueNickname(name)
			} else if e := st.find(name); e != nil {
				return fmt.Errorf("%q already holds another certificate (%s) in %s: %w", name, e.cert.Subject, s.dir, ErrDuplicate)
			} else if st.findPending(name) != nil {
				return fmt.Errorf("%q is a key waiting for its certificate (certdb request) in %s: %w", name, s.dir, ErrDuplicate)
			}
			le = &entry{nickname: name, cert: leaf}
			st.entries = append(st.entries, le)
		}
		sealed, err := s.sealKey(leaf, key)
		if err != nil {
			return err
		}
		le.sealed = sealed
		added = append(added, le.nickname)
		warnings = append(warnings, validityWarnings(le.nickname, leaf, now)...)
		for _, c := range others {
			if st.findCert(c.Raw) != nil {
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

// ExportPKCS12 writes nickname's certificate, private key and the issuers found in
// the store (root included, as pk12util -o does) as a PKCS#12 file encrypted with
// p12password (PBES2 AES-256-CBC, HMAC-SHA-256 MAC: readable by OpenSSL 1.1+, NSS
// 3.x and Java 8u301+).
func (s *Store) ExportPKCS12(nickname string, p12password []byte) ([]byte, error) {
	st := s.snapshot()
	e := st.find(nickname)
	if e == nil {
		return nil, fmt.Errorf("%q in %s: %w", nickname, s.dir, ErrNotFound)
	}
	key, err := s.privateKey(e)
	if err != nil {
		return nil, err
	}
	return pkcs12.Encode(key, e.cert, st.issuers(e.cert), "", p12password)
}

// ExportPEM returns nickname's certificate in PEM, followed by the intermediate
// issuers found in the store (not the self-signed root): the chain a server
// presents, as tls.conf's tls-cert-file wants it. With withKey the private key
// follows, as an unencrypted PKCS#8 "PRIVATE KEY" block.
func (s *Store) ExportPEM(nickname string, withKey bool) ([]byte, error) {
	st := s.snapshot()
	e := st.find(nickname)
	if e == nil {
		return nil, fmt.Errorf("%q in %s: %w", nickname, s.dir, ErrNotFound)
	}
	var buf bytes.Buffer
	pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: e.cert.Raw})
	for _, c := range st.issuers(e.cert) {
		if selfSigned(c) {
			break
		}
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if withKey {
		key, err := s.privateKey(e)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	return buf.Bytes(), nil
}
