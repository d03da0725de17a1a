package tlsconfig

import (
	"bufio"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TLSConf holds the keys of a PCP 6 tls.conf (PROTOCOL.md 6.3).
type TLSConf struct {
	Path           string
	CertFile       string // tls-cert-file
	KeyFile        string // tls-key-file
	CAFile         string // tls-ca-cert-file
	CADir          string // tls-ca-cert-dir
	ClientCertFile string // tls-client-cert-file
	ClientKeyFile  string // tls-client-key-file
	Ciphers        string // tls-ciphers (accepted, not applied: Go picks safe suites)
	CipherSuites   string // tls-ciphersuites
	VerifyClients  bool   // tls-verify-clients: server requires client certs; client verifies the server
	// Our keys (PCP 6 has no revocation): CRLs checked for peer certificates.
	CRLFiles []string // tls-crl-file: may repeat, or hold a comma-separated list
	CRLDir   string   // tls-crl-dir: a folder of CRL files
	// Java keystores used in place (ours): tls-keystore, tls-keystore-type,
	// tls-keystore-password-file, tls-key-alias, tls-truststore,
	// tls-truststore-type, tls-truststore-password-file; see keystore.go.
	Java JavaStores
}

// ParseTLSConf reads a tls.conf: `key = value` or `key: value` lines, # comments.
// Unlike PCP's prefix match, keys must be spelled exactly; an unknown key is an error
// naming its line, so a typo cannot silently disable verification.
func ParseTLSConf(path string) (*TLSConf, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tls.conf: %w", err)
	}
	defer f.Close()
	c := &TLSConf{Path: path}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			return nil, fmt.Errorf("%s:%d: want key = value", path, n)
		}
		key, val := strings.TrimSpace(line[:i]), strings.Trim(strings.TrimSpace(line[i+1:]), `"`)
		rel := func() string {
			if val != "" && !filepath.IsAbs(val) {
				return filepath.Join(filepath.Dir(path), val)
			}
			return val
		}
		switch key {
		case "tls-cert-file":
			c.CertFile = rel()
		case "tls-key-file":
			c.KeyFile = rel()
		case "tls-ca-cert-file":
			c.CAFile = rel()
		case "tls-ca-cert-dir":
			c.CADir = rel()
		case "tls-client-cert-file":
			c.ClientCertFile = rel()
		case "tls-client-key-file":
			c.ClientKeyFile = rel()
		case "tls-crl-file":
			for _, f := range strings.Split(val, ",") {
				if f = strings.TrimSpace(f); f != "" {
					if !filepath.IsAbs(f) {
						f = filepath.Join(filepath.Dir(path), f)
					}
					c.CRLFiles = append(c.CRLFiles, f)
				}
			}
		case "tls-crl-dir":
			c.CRLDir = rel()
		case "tls-keystore":
			c.Java.Keystore = rel()
		case "tls-keystore-type":
			c.Java.KeystoreType = val
		case "tls-keystore-password-file":
			c.Java.KeystorePasswordFile = rel()
		case "tls-key-alias":
			c.Java.KeyAlias = val
		case "tls-truststore":
			c.Java.Truststore = rel()
		case "tls-truststore-type":
			c.Java.TruststoreType = val
		case "tls-truststore-password-file":
			c.Java.TruststorePasswordFile = rel()
		case "tls-ciphers":
			c.Ciphers = val
		case "tls-ciphersuites":
			c.CipherSuites = val
		case "tls-verify-clients":
			switch strings.ToLower(val) {
			case "true", "yes", "1", "on":
				c.VerifyClients = true
			case "false", "no", "0", "off", "":
			default:
				return nil, fmt.Errorf("%s:%d: tls-verify-clients = %q: want true or false", path, n, val)
			}
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q", path, n, key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.checkJava(); err != nil {
		return nil, err
	}
	return c, nil
}

// HasCA reports whether the tls.conf names a CA file or folder.
func (c *TLSConf) HasCA() bool { return c.CAFile != "" || c.CADir != "" }

// CAPool loads tls-ca-cert-file and tls-ca-cert-dir. With neither it returns an
// empty pool, never the system bundle: the CAs a PCP site trusts to vouch for its
// collectors and clients are its own, and a public CA's customers are not them
// (a server asking for client certificates would otherwise accept any of them).
func (c *TLSConf) CAPool() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	return pool, c.AddCAs(pool)
}

// AddCAs appends the certificates of tls-ca-cert-file and tls-ca-cert-dir to pool.
func (c *TLSConf) AddCAs(pool *x509.CertPool) error {
	certs, err := c.CACerts()
	for _, ca := range certs {
		pool.AddCert(ca)
	}
	return err
}

// caFiles lists tls-ca-cert-file then every entry of tls-ca-cert-dir, the
// order in which both the trust pool and the CRL issuers are read.
func (c *TLSConf) caFiles() []string {
	var files []string
	if c.CAFile != "" {
		files = append(files, c.CAFile)
	}
	if c.CADir != "" {
		m, _ := filepath.Glob(filepath.Join(c.CADir, "*"))
		files = append(files, m...)
	}
	return files
}

// CACerts reads the certificates of tls-ca-cert-file and tls-ca-cert-dir. The CA
// file must hold at least one; files of the folder that hold none are skipped, as
// OpenSSL skips them.
func (c *TLSConf) CACerts() ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, f := range c.caFiles() {
		b, err := os.ReadFile(f)
		if err != nil {
			if f != c.CAFile {
				continue // a subfolder or an unreadable stray file in the CA folder
			}
			return out, fmt.Errorf("%s: CA file: %w", c.Path, err)
		}
		n := 0
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			ca, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return out, fmt.Errorf("%s: CA file %s: %w", c.Path, f, err)
			}
			out = append(out, ca)
			n++
		}
		if n == 0 && f == c.CAFile {
			return out, fmt.Errorf("%s: CA file %s holds no PEM certificate", c.Path, f)
		}
	}
	return out, nil
}
