package keystore

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/gopcp/gopcp/certdb/pkcs12"
)

// p12Bag is a decoded bag.
type p12Bag struct {
	key     crypto.Signer
	cert    *x509.Certificate
	name    string
	keyID   []byte
	trusted bool
}

// decodeP12 reads a PKCS#12 keystore through certdb/pkcs12 (DER or BER, work
// bounded by its default limits) and pairs its keys with their certificates.
func decodeP12(data, password []byte) (*Contents, error) {
	contents, err := pkcs12.Decode(data, password)
	if err != nil {
		switch {
		case errors.Is(err, pkcs12.ErrBadPassword):
			return nil, fmt.Errorf("%w (%w)", err, ErrBadPassword)
		case errors.Is(err, pkcs12.ErrUnsupported):
			return nil, fmt.Errorf("%w (%w)", err, ErrUnsupported)
		}
		return nil, fmt.Errorf("%w (%w)", err, ErrCorrupt)
	}
	bags := make([]p12Bag, 0, len(contents.Bags))
	for _, b := range contents.Bags {
		pb := p12Bag{cert: b.Certificate, name: b.FriendlyName, keyID: b.LocalKeyID, trusted: b.JavaTrusted}
		if b.PrivateKey != nil {
			if pb.key, err = parseKey(b.PrivateKey, b.FriendlyName); err != nil {
				return nil, err
			}
		}
		bags = append(bags, pb)
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

// encodeP12Identity writes key and chain, with the alias as the key's
// friendlyName: Java takes a private key entry's alias from it.
func encodeP12Identity(id Identity, password []byte) ([]byte, error) {
	der, err := pkcs12.Encode(id.Key, id.Chain[0], id.Chain[1:], id.Alias, password)
	if err != nil {
		return nil, fmt.Errorf("PKCS#12: %w (%w)", err, ErrUnsupported)
	}
	return der, nil
}

// encodeP12Trust writes a truststore Java reads: certificates with Java's
// trusted-certificate attribute and their aliases as friendly names.
func encodeP12Trust(certs []TrustedCert, password []byte) ([]byte, error) {
	var entries []pkcs12.TrustedCert
	for _, c := range certs {
		entries = append(entries, pkcs12.TrustedCert{Cert: c.Cert, FriendlyName: c.Alias})
	}
	der, err := pkcs12.EncodeTrustStore(entries, password)
	if err != nil {
		return nil, fmt.Errorf("PKCS#12: %w (%w)", err, ErrUnsupported)
	}
	return der, nil
}
