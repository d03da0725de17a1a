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
	"strconv"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/check"
	"github.com/gopcp/gopcp/certdb/nssdb"
	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
	"github.com/gopcp/gopcp/internal/shellquote"
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

// DefaultStoreDir is the user's certdb store: PCP_SECURE_DB_PATH, else
// $HOME/.pki/gopcp. It is where pminfo saves what it learns at its trust prompt
// unless PCP_SECURE_DB_PATH names an NSS database (see PinStoreDir); which
// stores a client reads is ClientOptionsFromEnv's search.
func DefaultStoreDir() string {
	if p := os.Getenv(EnvDBPath); p != "" {
		return strings.TrimPrefix(p, "sql:")
	}
	return userStoreDir()
}

// userStoreDir is $HOME/.pki/gopcp, the user's own certdb store.
func userStoreDir() string { return filepath.Join(userHome(), ".pki", "gopcp") }

// userNSSDir is $HOME/.pki/nssdb, the NSS database of the PCP walkthrough
// (certutil -d sql:$HOME/.pki/nssdb), read in place.
func userNSSDir() string { return filepath.Join(userHome(), ".pki", "nssdb") }

func userHome() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return home
}

// ClientOptions is the client's secure-connection policy.
type ClientOptions struct {
	// StoreDir is the certificate store read first: a certdb store or an NSS
	// database used in place ("" = DefaultStoreDir()).
	StoreDir string
	// ExtraStoreDirs are read after StoreDir (each that exists): the user's
	// other place, see ClientOptionsFromEnv. Trust from all of them counts, a
	// distrust (p) in any of them too.
	ExtraStoreDirs []string
	// PinDir is the certdb store pminfo saves accepted server certificates in
	// ("" = StoreDir); never an NSS database, which is only read.
	PinDir string
	// Looked lists where the search looked, for the error when nothing exists.
	Looked []string

	PasswordFile   string // the store's password file ("" = empty password)
	Nickname       string // identity to present ("" = the one the server accepts)
	TLSConf        string // PCP 6 client tls.conf ("" = none)
	AllowSelfCert  bool   // PCP_ALLOW_SERVER_SELF_CERT
	AllowBadDomain bool   // PCP_ALLOW_BAD_CERT_DOMAIN
	Warn           io.Writer
	Now            func() time.Time
	CRLFiles       []string // CRL files besides the store's and the tls.conf's; see crl.go
	// Java is a keystore identity and truststore CAs (proxyd's TOML; pminfo
	// reads them from the tls.conf); see keystore.go.
	Java JavaStores
}

// ClientOptionsFromEnv reads the policy from the environment. The stores: with
// PCP_SECURE_DB_PATH, that one (a certdb store or, "sql:" or not, an NSS
// database); otherwise $HOME/.pki/gopcp and $HOME/.pki/nssdb, the first that
// exists first. An NSS database is only read, so what pminfo learns at its
// prompt goes to $HOME/.pki/gopcp, which is then read beside it: the walkthrough's
// database keeps giving the client certificate and the CA after a first pin.
func ClientOptionsFromEnv(warn io.Writer) ClientOptions {
	_, self := os.LookupEnv(EnvAllowSelfCert)
	_, dom := os.LookupEnv(EnvAllowBadDomain)
	o := ClientOptions{
		PasswordFile:   os.Getenv(EnvDBPasswordFile),
		Nickname:       os.Getenv(EnvClientNickname),
		TLSConf:        os.Getenv(EnvTLSConf),
		AllowSelfCert:  self,
		AllowBadDomain: dom,
		Warn:           warn,
	}
	own, nss := userStoreDir(), userNSSDir()
	if p := os.Getenv(EnvDBPath); p != "" {
		o.StoreDir = cleanStoreDir(p)
		o.Looked = []string{o.StoreDir + " (" + EnvDBPath + ")"}
		if IsNSSDatabase(o.StoreDir) {
			o.PinDir, o.ExtraStoreDirs = own, []string{own}
		}
		return o
	}
	o.Looked = []string{own, nss}
	switch {
	case storeExists(own):
		o.StoreDir = own
		if storeExists(nss) {
			o.ExtraStoreDirs = []string{nss}
		}
	case storeExists(nss):
		o.StoreDir = nss
		if IsNSSDatabase(nss) {
			o.PinDir, o.ExtraStoreDirs = own, []string{own}
		}
	default:
		o.StoreDir = own
	}
	return o
}

// PinStoreDir is where an accepted server certificate is saved.
func (o ClientOptions) PinStoreDir() string {
	switch {
	case o.PinDir != "":
		return o.PinDir
	case o.StoreDir == "" || IsNSSDatabase(o.StoreDir):
		// Never into an NSS database (we do not write them).
		return userStoreDir()
	}
	return cleanStoreDir(o.StoreDir)
}

// storeDirs are the stores to read, in order, without repeats.
func (o ClientOptions) storeDirs() []string {
	first := o.StoreDir
	if first == "" && !o.javaOnly() {
		first = DefaultStoreDir()
	}
	var out []string
	seen := map[string]bool{}
	for _, d := range append([]string{first}, o.ExtraStoreDirs...) {
		d = cleanStoreDir(d)
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// Stores says which certificate stores the client reads, for a person: "NSS
// database sql:/home/u/.pki/nssdb (client certificate "pmclient_cert")", or
// where it looked when there is none. Errors that name no store are followed
// by it, so that nobody has to guess which file pminfo used.
func (o ClientOptions) Stores() string {
	var parts []string
	for _, d := range o.storeDirs() {
		if !storeExists(d) {
			continue
		}
		ids := identityNames(d, o.Nickname)
		what := "no client certificate"
		if len(ids) > 0 {
			what = "client certificate " + strings.Join(safetext.Strings(quoteAll(ids)), ", ")
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", safetext.Escape(describeStore(d)), what))
	}
	if j, err := o.java(); err == nil && j.Enabled() {
		parts = append(parts, j.describe())
	}
	if len(parts) == 0 {
		looked := o.Looked
		if len(looked) == 0 {
			looked = o.storeDirs()
		}
		return "no certificate store: looked for " + strings.Join(safetext.Strings(looked), " and ") +
			" (a certdb store, or an NSS database made by certutil)"
	}
	return "certificates from " + strings.Join(parts, " and ")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// UntrustedError: the server's certificate chains to no CA the user trusts.
type UntrustedError struct {
	Host   string
	Cert   *x509.Certificate
	Reason error
	// Stores says which stores were read (ClientOptions.Stores); "" when the
	// error was made outside a client configuration.
	Stores string
	// Fix is the command that makes the server's CA trusted: trusting the CA
	// the stores already hold without C (certdb trust, or certutil -M for an
	// NSS database), else adding it; "" = the generic certdb add.
	Fix string
}

func (e *UntrustedError) Error() string {
	fix := e.Fix
	if fix == "" {
		fix = fmt.Sprintf("trust its CA with 'certdb add -d %s -n NAME -t C,, -i ca.pem'", shellquote.Quote(DefaultStoreDir()))
	}
	stores := ""
	if e.Stores != "" {
		stores = "; " + e.Stores
	}
	// "; or" rather than ", or": a fix may end in a trust such as C,, and must
	// stay copyable as it is.
	return fmt.Sprintf("server certificate for %s is not trusted (%s)%s; %s; or set %s=1",
		safetext.Escape(e.Host), describeChainError(e.Reason), stores, fix, EnvAllowSelfCert)
}

func (e *UntrustedError) Unwrap() error { return e.Reason }

// BadDomainError: the server's certificate does not name the host connected to.
type BadDomainError struct {
	Host string
	Cert *x509.Certificate
}

func (e *BadDomainError) Error() string {
	return fmt.Sprintf("server certificate is not valid for %s (it names %s); connect with a name it holds, or set %s=1",
		strconv.Quote(e.Host), strings.Join(safetext.Strings(certNames(e.Cert)), ", "), EnvAllowBadDomain)
}

// PinExpiredError: the server presented a certificate pinned in the store (P,,),
// but outside its validity dates. It is not offered at the prompt again: an
// expired pin is replaced by the server's new certificate, not by re-accepting.
type PinExpiredError struct {
	Host     string
	Nickname string
	Cert     *x509.Certificate
	Now      time.Time
	// Store is the store holding the pin ("" = DefaultStoreDir()).
	Store string
}

func (e *PinExpiredError) Error() string {
	when := "expired on " + e.Cert.NotAfter.UTC().Format(time.RFC3339)
	if e.Now.Before(e.Cert.NotBefore) {
		when = "is not valid before " + e.Cert.NotBefore.UTC().Format(time.RFC3339)
	}
	dir := e.Store
	if dir == "" {
		dir = DefaultStoreDir()
	}
	remove := fmt.Sprintf("certdb delete -d %s -n %s", shellquote.Quote(dir), shellquote.Quote(e.Nickname))
	if IsNSSDatabase(dir) {
		remove = fmt.Sprintf("certutil -D -d %s -n %s", shellquote.Quote("sql:"+dir), shellquote.Quote(e.Nickname))
	}
	return fmt.Sprintf("server certificate for %s (sha256 %s), accepted earlier as %s in %s, %s; ask the server's administrator for a current one, and remove the old one with '%s'",
		safetext.Escape(e.Host), Fingerprint(e.Cert), strconv.Quote(e.Nickname), safetext.Escape(dir), when, remove)
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

// pin is a certificate accepted as it is (trust P in the SSL position).
type pin struct {
	cert     *x509.Certificate
	nickname string
	// host is the host it was accepted for at pminfo's prompt, read back from
	// the nickname SavePeer gives it; "" for a pin made otherwise (certdb add -t P,,).
	host string
	// dir is the store holding it, for the expired-pin message.
	dir string
}

// pinNicknamePrefix starts the nickname SavePeer gives an accepted certificate:
// "server HOST FINGERPRINT16". The store has no free-form attributes (an unknown
// field makes the file unreadable to older certdb versions), so the nickname is
// where the host lives; the fingerprint part ties it to this certificate.
const pinNicknamePrefix = "server "

// pinNickname is the nickname SavePeer stores a certificate accepted for host under.
func pinNickname(host string, c *x509.Certificate) string {
	return pinNicknamePrefix + host + " " + Fingerprint(c)[:16]
}

// pinnedHost reads the host back from a SavePeer nickname, or "" when the
// nickname is not one (or names another certificate).
func pinnedHost(nickname string, c *x509.Certificate) string {
	rest, ok := strings.CutPrefix(nickname, pinNicknamePrefix)
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(rest, ' ')
	if i <= 0 || rest[i+1:] != Fingerprint(c)[:16] {
		return ""
	}
	return rest[:i]
}

func storePins(st *store.Store) []pin {
	var out []pin
	for _, e := range st.List() {
		if e.Trust.TrustedPeer() {
			out = append(out, pin{cert: e.Cert, nickname: e.Nickname, host: pinnedHost(e.Nickname, e.Cert)})
		}
	}
	return out
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
	if o.StoreDir == "" && !o.javaOnly() {
		o.StoreDir = DefaultStoreDir()
	}
	pw, err := ReadPassword(o.PasswordFile)
	if err != nil {
		return nil, err
	}
	pwFrom := "the empty password (" + EnvDBPasswordFile + " unset)"
	if o.PasswordFile != "" {
		pwFrom = "the password in " + o.PasswordFile + " (" + EnvDBPasswordFile + ")"
	}
	var (
		entries []sourcedEntry
		idents  []tls.Certificate
	)
	for _, dir := range o.storeDirs() {
		switch {
		case store.Exists(dir):
			st, err := store.Open(dir, pw)
			if err != nil {
				return nil, fmt.Errorf("certificate store %s: %w", dir, err)
			}
			for _, e := range st.List() {
				entries = append(entries, sourcedEntry{Entry: e, dir: st.Dir()})
			}
			for _, e := range st.Identities() {
				if o.Nickname != "" && e.Nickname != o.Nickname {
					continue
				}
				id, err := st.Identity(e.Nickname)
				if err != nil {
					return nil, fmt.Errorf("client certificate %q in %s: %w", e.Nickname, dir, err)
				}
				idents = append(idents, id)
			}
		case nssdb.Exists(dir):
			n, err := openNSS(dir)
			if err != nil {
				return nil, err
			}
			for _, e := range n.entries() {
				entries = append(entries, sourcedEntry{Entry: e, dir: n.dir, nss: true})
			}
			ids, err := n.clientIdentities(o.Nickname, pw, pwFrom)
			if err != nil {
				return nil, err
			}
			idents = append(idents, ids...)
		}
	}
	if o.Nickname != "" && len(idents) == 0 {
		return nil, fmt.Errorf("client certificate %q: none with its private key (%s); %s",
			o.Nickname, EnvClientNickname, o.Stores())
	}
	plain := make([]store.Entry, len(entries))
	var pins []pin
	for i, e := range entries {
		plain[i] = e.Entry
		if e.Trust.TrustedPeer() {
			pins = append(pins, pin{cert: e.Cert, nickname: e.Nickname, host: pinnedHost(e.Nickname, e.Cert), dir: e.dir})
		}
	}
	anchors := entriesAnchors(plain, false)
	if _, err := os.Stat(o.TLSConf); o.TLSConf != "" && err == nil {
		// A missing tls.conf is no tls.conf, as libpcp treats it.
		conf, err := ParseTLSConf(o.TLSConf)
		if err != nil {
			return nil, err
		}
		anchors.Roots = anchors.Roots.Clone()
		if err := conf.AddCAs(anchors.Roots); err != nil {
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
	if j, err := o.java(); err != nil {
		return nil, &ConfigError{err}
	} else if err := addJavaClient(j, &anchors, &idents); err != nil {
		return nil, &ConfigError{err}
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
		err := o.verifyServer(cs.PeerCertificates, host, anchors, pins, now())
		var ue *UntrustedError
		if errors.As(err, &ue) {
			ue.Stores, ue.Fix = o.Stores(), o.untrustedFix(cs.PeerCertificates, entries)
		}
		return err
	}
	if err := o.addRevocation(cfg, now); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (o ClientOptions) warn(format string, args ...any) {
	if o.Warn != nil {
		fmt.Fprintf(o.Warn, "Warning: "+format+"\n", args...)
	}
}

// verifyServer applies the policy. What no escape hatch overrides comes first:
// a CA certificate as the server's, and a certificate distrusted (p) in the store
// anywhere in the chain. Then a pinned (P) certificate is accepted while it is
// valid, for the names it holds or the host it was accepted for. Otherwise the
// chain must reach a trusted CA and the certificate must name host, unless the
// ALLOW variables say otherwise (each with a warning).
func (o ClientOptions) verifyServer(certs []*x509.Certificate, host string, a Anchors, pins []pin, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("server presented no certificate")
	}
	leaf := certs[0]
	if isCA(leaf) {
		return &CAAsLeafError{Role: "server", Cert: leaf}
	}
	for i, c := range certs {
		if distrusted(c, a.Distrusted) != nil {
			return &DistrustedError{Role: "server", Cert: c, Leaf: i == 0}
		}
	}
	for _, p := range pins {
		if !p.cert.Equal(leaf) {
			continue
		}
		if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
			return &PinExpiredError{Host: host, Nickname: p.nickname, Cert: leaf, Now: now, Store: p.dir}
		}
		if allowsUsage(leaf, x509.ExtKeyUsageServerAuth) && (p.host != "" && strings.EqualFold(p.host, host) || o.namesHost(leaf, host)) {
			return nil
		}
		// Pinned for other names: verify it like any certificate, so that
		// the person is asked again (or the ALLOW variables apply).
	}
	_, err := verifyChain(certs, a, "server", x509.ExtKeyUsageServerAuth, now)
	if err != nil {
		var de *DistrustedError
		if errors.As(err, &de) {
			return err
		}
		if !o.AllowSelfCert {
			return &UntrustedError{Host: host, Cert: leaf, Reason: err}
		}
		o.warn("accepting the untrusted certificate of %s (%s) because %s is set", safetext.Escape(host), Fingerprint(leaf), EnvAllowSelfCert)
	}
	if !o.namesHost(leaf, host) {
		if !o.AllowBadDomain {
			return &BadDomainError{Host: host, Cert: leaf}
		}
		o.warn("accepting a certificate for %s on %s because %s is set", strings.Join(safetext.Strings(certNames(leaf)), ", "), safetext.Escape(host), EnvAllowBadDomain)
	}
	return nil
}

// namesHost reports whether the certificate names host. A certificate with no
// subjectAltName extension at all (openssl x509 -req without an extension file, as
// PCP's walkthrough makes them) is matched against its common name, as NSS and
// OpenSSL do, with a warning; when the extension exists the common name is never
// used (certdb/check.MatchHost, the rule certdb check and verify --secure apply).
func (o ClientOptions) namesHost(leaf *x509.Certificate, host string) bool {
	ok, byCN := check.MatchHost(leaf, host)
	if ok && byCN {
		o.warn("the certificate of %s has no subjectAltName and was matched by its common name \"%s\"; re-issue it with names (certdb issue --server --san DNS:%s)",
			safetext.Escape(host), safetext.Escape(leaf.Subject.CommonName), safetext.Escape(host))
	}
	return ok
}

// Describe shows a certificate as the trust prompt does. Subject, issuer and
// names are the certificate maker's text, escaped so that none of it can act on
// the terminal the question is asked on.
func Describe(c *x509.Certificate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  Subject:     %s\n", safetext.Escape(c.Subject.String()))
	fmt.Fprintf(&b, "  Issuer:      %s\n", safetext.Escape(c.Issuer.String()))
	fmt.Fprintf(&b, "  Names (SAN): %s\n", strings.Join(safetext.Strings(certNames(c)), ", "))
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
		fmt.Fprintf(out, "WARNING: the certificate of %s is issued by an authority you do not trust:\n", safetext.Escape(ue.Host))
		question = "Do you want to accept and save this certificate locally anyway (y/n)? "
	case errors.As(err, &be):
		cert = be.Cert
		fmt.Fprintf(out, "WARNING: the certificate of %s is for a different name:\n", safetext.Escape(be.Host))
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
// trust (P,,), creating the store (empty password) when there is none. The
// nickname, "server HOST FINGERPRINT16", records the host it was accepted for:
// the pin is honoured for that host and the names the certificate holds, and
// only while the certificate is valid. A CA certificate is never saved (and a
// distrusted one never reaches the prompt).
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
	if isCA(cert) {
		return "", &CAAsLeafError{Role: "server", Cert: cert}
	}
	if err := store.CheckNickname(pinNickname(host, cert)); err != nil || strings.ContainsRune(host, ' ') {
		return "", fmt.Errorf("cannot record the certificate for host %s: not a host name", strconv.Quote(host))
	}
	nick := pinNickname(host, cert)
	if _, err := st.AddCert(nick, cert, store.MustParseTrust("P,,")); err != nil {
		return "", fmt.Errorf("saving the certificate in %s: %w", dir, err)
	}
	return nick, nil
}
