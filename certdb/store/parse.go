package store

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// ParseCertificates reads certificates in PEM (any number of CERTIFICATE blocks,
// other blocks skipped) or DER, telling them apart by content as certutil -A does
// with or without -a.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		var certs []*x509.Certificate
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" && b.Type != "X509 CERTIFICATE" && b.Type != "TRUSTED CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM certificate %d: %v: %w", len(certs)+1, err, ErrBadInput)
			}
			certs = append(certs, c)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("no CERTIFICATE block in PEM data: %w", ErrBadInput)
		}
		return certs, nil
	}
	certs, err := x509.ParseCertificates(data)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("neither PEM nor DER certificate data: %w", ErrBadInput)
	}
	return certs, nil
}

// ParsePrivateKey reads an unencrypted private key: PEM ("PRIVATE KEY",
// "RSA PRIVATE KEY", "EC PRIVATE KEY") or DER (PKCS#8, PKCS#1, SEC 1).
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	der := data
	if bytes.Contains(data, []byte("-----BEGIN")) {
		der = nil
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "" {
				return nil, fmt.Errorf("the private key is encrypted; decrypt it first (openssl pkey -in KEY -out plain.key) or import a PKCS#12 file: %w", ErrBadInput)
			}
			if b.Type == "PRIVATE KEY" || b.Type == "RSA PRIVATE KEY" || b.Type == "EC PRIVATE KEY" {
				der = b.Bytes
				break
			}
		}
		if der == nil {
			return nil, fmt.Errorf("no PRIVATE KEY block in PEM data: %w", ErrBadInput)
		}
	}
	var k any
	var err error
	if k, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if k, err = x509.ParsePKCS1PrivateKey(der); err != nil {
			if k, err = x509.ParseECPrivateKey(der); err != nil {
				return nil, fmt.Errorf("not a PKCS#8, PKCS#1 or SEC 1 private key: %w", ErrBadInput)
			}
		}
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign: %w", k, ErrBadInput)
	}
	return s, nil
}
