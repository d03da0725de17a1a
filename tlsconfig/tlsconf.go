package tlsconfig

import (
	"bufio"
	"crypto/x509"
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
	return c, nil
}

// CAPool loads tls-ca-cert-file and tls-ca-cert-dir; with neither, the system pool.
func (c *TLSConf) CAPool() (*x509.CertPool, error) {
	if c.CAFile == "" && c.CADir == "" {
		p, err := x509.SystemCertPool()
		if err != nil {
			return x509.NewCertPool(), nil
		}
		return p, nil
	}
	pool := x509.NewCertPool()
	return pool, c.AddCAs(pool)
}

// AddCAs appends the certificates of tls-ca-cert-file and tls-ca-cert-dir to pool.
func (c *TLSConf) AddCAs(pool *x509.CertPool) error {
	var files []string
	if c.CAFile != "" {
		files = append(files, c.CAFile)
	}
	if c.CADir != "" {
		m, _ := filepath.Glob(filepath.Join(c.CADir, "*"))
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("%s: CA file: %w", c.Path, err)
		}
		if !pool.AppendCertsFromPEM(b) && f == c.CAFile {
			return fmt.Errorf("%s: CA file %s holds no PEM certificate", c.Path, f)
		}
	}
	return nil
}
