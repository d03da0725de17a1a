package tlsconfig

import (
	"bufio"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
)

// Environment variables the client honours.
const (
	EnvDBPath         = "PCP_SECURE_DB_PATH"          // the user's store (default ~/.pki/gopcp)
	EnvDBPasswordFile = "PCP_SECURE_DB_PASSWORD_FILE" // its password file (default: empty password)
	EnvClientNickname = "PCP_SECURE_CLIENT_NICKNAME"  // which identity to present when there are several
	EnvAllowSelfCert  = "PCP_ALLOW_SERVER_SELF_CERT"  // accept an untrusted or self-signed server certificate
	EnvAllowBadDomain = "PCP_ALLOW_BAD_CERT_DOMAIN"   // accept a server certificate for another name
	EnvTLSConf        = "PCP_TLSCONF_PATH"            // PCP 6 tls.conf
)

// DefaultStoreDir is the user's store under $HOME/.pki. It is not NSS's nssdb: our
// store has its own format, and NSS tools would not read it.
func DefaultStoreDir() string {
	if p := os.Getenv(EnvDBPath); p != "" {
		return strings.TrimPrefix(p, "sql:")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".pki", "gopcp")
}

// ClientOptions is the client's secure-connection policy.
type ClientOptions struct {
	StoreDir       string // default DefaultStoreDir()
	PasswordFile   string // the store's password file ("" = empty password)
	Nickname       string // identity to present ("" = the one the server accepts)
	TLSConf        string // PCP 6 client tls.conf ("" = none)
	AllowSelfCert  bool   // PCP_ALLOW_SERVER_SELF_CERT
	AllowBadDomain bool   // PCP_ALLOW_BAD_CERT_DOMAIN
	Warn           io.Writer
	Now            func() time.Time
}

// ClientOptionsFromEnv reads the policy from the environment.
func ClientOptionsFromEnv(warn io.Writer) ClientOptions {
	_, self := os.LookupEnv(EnvAllowSelfCert)
	_, dom := os.LookupEnv(EnvAllowBadDomain)
	return ClientOptions{
		StoreDir:       DefaultStoreDir(),
		PasswordFile:   os.Getenv(EnvDBPasswordFile),
		Nickname:       os.Getenv(EnvClientNickname),
		TLSConf:        os.Getenv(EnvTLSConf),
		AllowSelfCert:  self,
		AllowBadDomain: dom,
		Warn:           warn,
	}
}

// UntrustedError: the server's certificate chains to no CA the user trusts.
type UntrustedError struct {
	Host   string
	Cert   *x509.Certificate
	Reason error
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("server certificate for %s is not trusted (%v); trust its CA with 'certdb add -d %s -n NAME -t C,, -i ca.pem', or set %s=1",
		e.Host, e.Reason, DefaultStoreDir(), EnvAllowSelfCert)
}

// BadDomainError: the server's certificate does not name the host connected to.
type BadDomainError struct {
	Host string
	Cert *x509.Certificate
}

func (e *BadDomainError) Error() string {
	return fmt.Sprintf("server certificate is not valid for %q (it names %s); connect with a name it holds, or set %s=1",
		e.Host, strings.Join(certNames(e.Cert), ", "), EnvAllowBadDomain)
}

func certNames(c *x509.Certificate) []string {
	var n []string
	n = append(n, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		n = append(n, ip.String())
	}
	if len(n) == 0 {
		n = append(n, "no subjectAltName, CN="+c.Subject.CommonName)
	}
	return n
}

// Client returns the pmapi TLS hook: for each secure connection it builds a
// configuration that presents the user's identity and verifies the server by the
// policy. Problems reading the store or tls.conf surface at connect time.
func Client(o ClientOptions) func(serverName string) (*tls.Config, error) {
	return func(serverName string) (*tls.Config, error) { return o.config(serverName) }
}

func (o ClientOptions) config(serverName string) (*tls.Config, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if o.StoreDir == "" {
		o.StoreDir = DefaultStoreDir()
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	var peers []*x509.Certificate
	var idents []tls.Certificate
	if store.Exists(o.StoreDir) {
		pw, err := ReadPassword(o.PasswordFile)
		if err != nil {
			return nil, err
		}
		st, err := store.Open(o.StoreDir, pw)
		if err != nil {
			return nil, fmt.Errorf("certificate store %s: %w", o.StoreDir, err)
		}
		roots, inter, peers = st.TrustedCAs(false), st.Intermediates(), st.TrustedPeers()
		for _, e := range st.Identities() {
			if o.Nickname != "" && e.Nickname != o.Nickname {
				continue
			}
			id, err := st.Identity(e.Nickname)
			if err != nil {
				return nil, fmt.Errorf("client certificate %q: %w", e.Nickname, err)
			}
			idents = append(idents, id)
		}
		if o.Nickname != "" && len(idents) == 0 {
			return nil, fmt.Errorf("client certificate %q: not in %s (or it has no key)", o.Nickname, o.StoreDir)
		}
	}
	if _, err := os.Stat(o.TLSConf); o.TLSConf != "" && err == nil {
		// A missing tls.conf is no tls.conf, as libpcp treats it.
		conf, err := ParseTLSConf(o.TLSConf)
		if err != nil {
			return nil, err
		}
		roots = roots.Clone()
		if err := conf.AddCAs(roots); err != nil {
			return nil, err
		}
		cf, kf := conf.ClientCertFile, conf.ClientKeyFile
		if cf == "" {
			cf, kf = conf.CertFile, conf.KeyFile
		}
		if cf != "" {
			id, err := tls.LoadX509KeyPair(cf, kf)
			if err != nil {
				return nil, fmt.Errorf("%s: client certificate: %w", conf.Path, err)
			}
			idents = append([]tls.Certificate{id}, idents...)
		}
	}
	host := serverName
	if h, _, err := net.SplitHostPort(serverName); err == nil {
		host = h
	}
	cfg := &tls.Config{
		MinVersion:         MinVersion,
		ServerName:         host,
		InsecureSkipVerify: true, // verification is ours, in VerifyConnection, with better errors
	}
	if len(idents) > 0 {
		cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			for i := range idents {
				if cri.SupportsCertificate(&idents[i]) == nil {
					return &idents[i], nil
				}
			}
			return &idents[0], nil
		}
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return o.verifyServer(cs.PeerCertificates, host, roots, inter, peers, now())
	}
	return cfg, nil
}

func (o ClientOptions) warn(format string, args ...any) {
	if o.Warn != nil {
		fmt.Fprintf(o.Warn, "Warning: "+format+"\n", args...)
	}
}

// verifyServer applies the policy: a pinned (P) certificate is accepted as is;
// otherwise the chain must reach a trusted CA and the certificate must name host,
// unless the ALLOW variables say otherwise (each with a warning).
func (o ClientOptions) verifyServer(certs []*x509.Certificate, host string, roots, inter *x509.CertPool, peers []*x509.Certificate, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("server presented no certificate")
	}
	leaf := certs[0]
	for _, p := range peers {
		if p.Equal(leaf) {
			return nil
		}
	}
	pool := inter.Clone()
	for _, c := range certs[1:] {
		pool.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		if !o.AllowSelfCert {
			return &UntrustedError{Host: host, Cert: leaf, Reason: err}
		}
		o.warn("accepting the untrusted certificate of %s (%s) because %s is set", host, Fingerprint(leaf), EnvAllowSelfCert)
	}
	if err := leaf.VerifyHostname(host); err != nil {
		if !o.AllowBadDomain {
			return &BadDomainError{Host: host, Cert: leaf}
		}
		o.warn("accepting a certificate for %s on %s because %s is set", strings.Join(certNames(leaf), ", "), host, EnvAllowBadDomain)
	}
	return nil
}

// Describe shows a certificate as the trust prompt does.
func Describe(c *x509.Certificate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  Subject:     %s\n", c.Subject)
	fmt.Fprintf(&b, "  Issuer:      %s\n", c.Issuer)
	fmt.Fprintf(&b, "  Names (SAN): %s\n", strings.Join(certNames(c), ", "))
	fmt.Fprintf(&b, "  Valid:       %s to %s\n", c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "  SHA-256:     %s\n", Fingerprint(c))
	sum := sha1.Sum(c.Raw)
	fmt.Fprintf(&b, "  SHA-1:       %X\n", sum)
	return b.String()
}

// Prompt asks a person whether to accept the certificate of a failed verification
// (an *UntrustedError or *BadDomainError) and reports the answer. The caller checks
// that in is a terminal: without one the error must be reported, not prompted for.
func Prompt(err error, in io.Reader, out io.Writer) (accepted bool, cert *x509.Certificate) {
	var ue *UntrustedError
	var be *BadDomainError
	var question string
	switch {
	case errors.As(err, &ue):
		cert = ue.Cert
		fmt.Fprintf(out, "WARNING: the certificate of %s is issued by an authority you do not trust:\n", ue.Host)
		question = "Do you want to accept and save this certificate locally anyway (y/n)? "
	case errors.As(err, &be):
		cert = be.Cert
		fmt.Fprintf(out, "WARNING: the certificate of %s is for a different name:\n", be.Host)
		question = "Do you want to accept and save this certificate locally anyway (y/n)? "
	default:
		return false, nil
	}
	fmt.Fprint(out, Describe(cert))
	fmt.Fprint(out, question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes", cert
}

// SavePeer records an accepted server certificate in the user's store with peer
// trust (P,,), creating the store (empty password) when there is none.
func SavePeer(dir, passwordFile, host string, cert *x509.Certificate) (string, error) {
	pw, err := ReadPassword(passwordFile)
	if err != nil {
		return "", err
	}
	var st *store.Store
	if store.Exists(dir) {
		st, err = store.Open(dir, pw)
	} else {
		st, err = store.Create(dir, pw)
	}
	if err != nil {
		return "", fmt.Errorf("certificate store %s: %w", dir, err)
	}
	nick := "server " + host + " " + Fingerprint(cert)[:16]
	if _, err := st.AddCert(nick, cert, store.MustParseTrust("P,,")); err != nil {
		return "", fmt.Errorf("saving the certificate in %s: %w", dir, err)
	}
	return nick, nil
}
