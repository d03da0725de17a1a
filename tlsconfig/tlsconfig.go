// Package tlsconfig builds crypto/tls configurations for collectord, proxyd and
// pminfo from a certdb store, an NSS database used in place (nss.go), a PCP 6
// tls.conf or Java keystores (keystore.go): the server identity with its
// serverAuth check, client-certificate verification with reasons a person can
// act on, and the client's server-verification policy (trusted CAs, trusted
// peers, host names, and the PCP_ALLOW_* escapes).
package tlsconfig

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gopcp/gopcp/certdb/nssdb"
	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/shellquote"
)

// MinVersion is the lowest TLS version offered or accepted anywhere.
const MinVersion = tls.VersionTLS12

// Fingerprint is the hex SHA-256 of a certificate, as log lines and prompts show it.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// allowsUsage reports whether a certificate's extendedKeyUsage permits u; a
// certificate without the extension permits everything (RFC 5280), as OpenSSL and
// NSS treat it.
func allowsUsage(c *x509.Certificate, u x509.ExtKeyUsage) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, k := range c.ExtKeyUsage {
		if k == u || k == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// ServerOptions selects the server's identity and client policy.
type ServerOptions struct {
	// Store and Nickname name the identity (collectord -C -M); PasswordFile holds the
	// store's password (-P; empty = empty password).
	Store, Nickname, PasswordFile string
	// TLSConf is a PCP 6 tls.conf used instead of a store.
	TLSConf string
	// RequireClientCert is -Q: every TLS client must present a verified certificate.
	RequireClientCert bool
	// Now is the clock for validity checks (tests); nil = time.Now.
	Now func() time.Time
	// CRLFiles are CRL files besides the store's and the tls.conf's (crl_files);
	// see crl.go.
	CRLFiles []string
	// Logger gets the CRL warnings (past their next update); nil = none.
	Logger *slog.Logger
	// Java is a Java keystore identity and truststore used in place of a
	// store or tls.conf (keystore.go).
	Java JavaStores
}

// ReadPassword reads a password file, dropping one trailing newline; "" = empty.
func ReadPassword(path string) ([]byte, error) {
	if path == "" {
		return []byte{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b, nil
}

// Server builds the server configuration. It fails, saying why, when the
// identity cannot be used: missing, not matching its key, expired, a CA
// certificate, or without serverAuth in its extendedKeyUsage; and when client
// certificates are required (-Q, or tls-verify-clients) but no CA is configured to
// vouch for them.
func Server(o ServerOptions) (*tls.Config, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	var (
		cert    tls.Certificate
		anchors Anchors
		source  string
		err     error
		confCAs bool
		addCA   string // how to configure a client CA, for the error below
	)
	if err := o.checkSources(); err != nil {
		return nil, err
	}
	switch {
	case o.Java.Keystore != "":
		if cert, anchors, source, addCA, err = o.javaServer(); err != nil {
			return nil, err
		}
	case o.Store != "" && IsNSSDatabase(o.Store):
		// An NSS database used in place (pmcd's -C sql:/etc/pcp/nssdb).
		dir := cleanStoreDir(o.Store)
		source = fmt.Sprintf("%q in NSS database sql:%s", o.Nickname, dir)
		if o.Nickname == "" {
			return nil, fmt.Errorf("NSS database sql:%s: no certificate nickname given (-M)", dir)
		}
		pw, err := ReadPassword(o.PasswordFile)
		if err != nil {
			return nil, err
		}
		n, err := openNSS(dir)
		if err != nil {
			return nil, err
		}
		pwFrom := "the empty password (no -P)"
		if o.PasswordFile != "" {
			pwFrom = "the password in " + o.PasswordFile + " (-P)"
		}
		if cert, err = n.serverIdentity(o.Nickname, pw, pwFrom, now()); err != nil {
			return nil, fmt.Errorf("server identity: %w", err)
		}
		anchors = entriesAnchors(n.entries(), true)
		addCA = fmt.Sprintf("trust the CA that issues client certificates with T: certutil -M -d %s -n 'CA NICKNAME' -t CT,,", shellquote.Quote("sql:"+dir))
	case o.Store != "":
		source = fmt.Sprintf("%q in store %s", o.Nickname, o.Store)
		if o.Nickname == "" {
			return nil, fmt.Errorf("store %s: no certificate nickname given (-M)", o.Store)
		}
		pw, err := ReadPassword(o.PasswordFile)
		if err != nil {
			return nil, err
		}
		st, err := store.Open(o.Store, pw)
		if err != nil {
			return nil, fmt.Errorf("certificate store: %w", err)
		}
		if cert, err = st.Identity(o.Nickname); err != nil {
			return nil, fmt.Errorf("server identity %s: %w", source, err)
		}
		anchors = storeAnchors(st, true)
		addCA = fmt.Sprintf("trust the CA that issues client certificates with T: certdb trust -d %s -n 'CA NICKNAME' -t CT,,", shellquote.Quote(o.Store))
	case o.TLSConf != "":
		source = "tls.conf " + o.TLSConf
		conf, err := ParseTLSConf(o.TLSConf)
		if err != nil {
			return nil, err
		}
		if conf.Java.Enabled() {
			// The keystore keys are pminfo's; a daemon's keystore is a key of
			// its own configuration, watched and reloaded with it.
			return nil, fmt.Errorf("%s: tls-keystore and tls-truststore are read by clients (pminfo); for a daemon set keystore and truststore in its [tls] section instead of tls_conf", o.TLSConf)
		}
		if conf.CertFile == "" || conf.KeyFile == "" {
			return nil, fmt.Errorf("%s: tls-cert-file and tls-key-file are both needed for a server", o.TLSConf)
		}
		if cert, err = tls.LoadX509KeyPair(conf.CertFile, conf.KeyFile); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		cas, err := conf.CACerts()
		if err != nil {
			return nil, err
		}
		anchors = Anchors{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), NumRoots: len(cas)}
		for _, ca := range cas {
			anchors.Roots.AddCert(ca)
		}
		confCAs = conf.VerifyClients
		addCA = fmt.Sprintf("set tls-ca-cert-file (or tls-ca-cert-dir) in %s to the CA that issues client certificates", o.TLSConf)
	default:
		return nil, errors.New("no server identity: give a store and nickname (-C DIR -M NICK), a tls.conf or a keystore")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("server certificate %s: %w", source, err)
	}
	if isCA(leaf) {
		return nil, fmt.Errorf("server certificate %s: %w", source, &CAAsLeafError{Role: "server", Cert: leaf})
	}
	if !allowsUsage(leaf, x509.ExtKeyUsageServerAuth) {
		return nil, fmt.Errorf("server certificate %s does not allow serverAuth in its extendedKeyUsage; issue one for a server (certdb issue --server)", source)
	}
	if t := now(); t.After(leaf.NotAfter) {
		return nil, fmt.Errorf("server certificate %s expired on %s", source, leaf.NotAfter.UTC().Format(time.RFC3339))
	} else if t.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("server certificate %s is not valid until %s", source, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	for _, c := range cert.Certificate[1:] {
		if ic, err := x509.ParseCertificate(c); err == nil {
			anchors.Intermediates.AddCert(ic)
		}
	}
	cert.Leaf = leaf
	required := o.RequireClientCert || confCAs
	if required && anchors.NumRoots == 0 {
		// Without an anchor no client could ever verify; worse, an empty
		// ClientCAs would let a TLS stack fall back to the system bundle. Say so
		// now rather than refuse every client later.
		return nil, fmt.Errorf("client certificates are required (-Q) but %s has no CA trusted for client certificates; %s", source, addCA)
	}
	cfg := &tls.Config{
		MinVersion:   MinVersion,
		Certificates: []tls.Certificate{cert},
		// Like pmcd we always ask for a certificate; whether one is required is
		// decided here, and any certificate offered must verify (fail closed).
		ClientAuth: tls.RequestClientCert,
		// The CertificateRequest names exactly the configured client CAs (an
		// empty list when there are none), never the system's.
		ClientCAs: anchors.Roots,
	}
	if required {
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	// No session tickets: libpcp never resumes, so each ticket was an encryption
	// of the session (the client's chain included) and a 1 KB record written for
	// nothing; and a resumed session would skip VerifyPeerCertificate, so without
	// tickets every session's certificate is checked by the code below.
	cfg.SessionTicketsDisabled = true
	crls, err := o.loadRevocation(now)
	if err != nil {
		return nil, err
	}
	v := &clientVerifier{anchors: anchors, crls: crls, required: required, now: now}
	cfg.VerifyPeerCertificate = v.verifyPeer
	return cfg, nil
}

// VerifyClient checks a client's certificate chain: not a CA, not distrusted
// (itself or anything in its chain), trusted issuer, validity, and clientAuth in
// the extendedKeyUsage. The error names the reason and the certificate's SHA-256.
func VerifyClient(raw [][]byte, a Anchors, now time.Time) error {
	if len(raw) == 0 {
		return errors.New("client presented no certificate")
	}
	certs, err := parseClientChain(raw)
	if err != nil {
		return err
	}
	_, err = verifyClientCerts(certs, a, now)
	return err
}

// parseClientChain parses the certificates a client sent.
func parseClientChain(raw [][]byte) ([]*x509.Certificate, error) {
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return nil, fmt.Errorf("client certificate unreadable: %w", err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// verifyClientCerts is VerifyClient on parsed certificates; it returns a chain
// from the client's certificate to a trusted CA that avoids every distrusted
// certificate.
func verifyClientCerts(certs []*x509.Certificate, a Anchors, now time.Time) ([]*x509.Certificate, error) {
	leaf := certs[0]
	id := fmt.Sprintf("client certificate %q (sha256 %s)", leaf.Subject.CommonName, Fingerprint(leaf))
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("%s expired on %s", id, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("%s is not valid before %s", id, leaf.NotBefore.UTC().Format(time.RFC3339))
	case !allowsUsage(leaf, x509.ExtKeyUsageClientAuth):
		return nil, fmt.Errorf("%s does not allow clientAuth in its extendedKeyUsage", id)
	}
	chains, err := verifyChain(certs, a, "client", x509.ExtKeyUsageClientAuth, now)
	if err != nil {
		var ua x509.UnknownAuthorityError
		var de *DistrustedError
		var ce *CAAsLeafError
		switch {
		case errors.As(err, &de), errors.As(err, &ce):
			return nil, err
		case errors.As(err, &ua):
			return nil, fmt.Errorf("%s is issued by %q, which is not a trusted client CA (trust T) in the server's store", id, leaf.Issuer.String())
		}
		return nil, fmt.Errorf("%s: %s", id, describeChainError(err))
	}
	return chains[0], nil
}

// Files lists the files a server configuration is built from, so a daemon can
// watch them for changes: the store file and password file, or the tls.conf and
// the certificate, key and CA files it names (a CA directory and its files too).
func (o ServerOptions) Files() []string {
	var files []string
	switch {
	case o.Java.Enabled():
		files = append(files, o.Java.Files()...)
	case o.Store != "" && IsNSSDatabase(o.Store):
		// Both files: certutil -A/-M changes cert9.db, pk12util -i both.
		files = append(files, nssdb.Files(o.Store)...)
	case o.Store != "":
		files = append(files, filepath.Join(o.Store, store.FileName))
	case o.TLSConf != "":
		files = append(files, o.TLSConf)
		if conf, err := ParseTLSConf(o.TLSConf); err == nil {
			for _, f := range []string{conf.CertFile, conf.KeyFile, conf.CAFile} {
				if f != "" {
					files = append(files, f)
				}
			}
			if conf.CADir != "" {
				files = append(files, conf.CADir)
				if ents, err := os.ReadDir(conf.CADir); err == nil {
					for _, e := range ents {
						files = append(files, filepath.Join(conf.CADir, e.Name()))
					}
				}
			}
		}
	}
	if o.PasswordFile != "" {
		files = append(files, o.PasswordFile)
	}
	var conf *TLSConf
	if o.Store == "" && o.TLSConf != "" {
		conf, _ = ParseTLSConf(o.TLSConf)
	}
	files = append(files, crlFiles(o.Store, conf, o.CRLFiles)...)
	sort.Strings(files)
	return files
}
