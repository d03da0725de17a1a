package tlsconfig

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/gopcp/gopcp/certdb/keystore"
	"github.com/gopcp/gopcp/internal/safetext"
)

// JavaStores names Java keystores used in place, as a Java agent or server is
// configured (keystore, truststore, their types and passwords): the keystore's
// private key entry is the identity, the truststore's trusted-certificate
// entries are the CAs that vouch for peers. JKS and PKCS#12 are read through
// certdb/keystore; nothing is copied into a certdb store, so the files the Java
// side already maintains stay the only copy, and a change to them is picked up
// by the daemons' reload watch (Files).
//
// The names in error messages are the daemons' TOML keys; a tls.conf has the
// same settings with a tls- prefix and dashes (tls-keystore-password-file).
type JavaStores struct {
	// Keystore is a JKS or PKCS#12 file holding the identity (a private key
	// entry with its certificate chain).
	Keystore string
	// KeystoreType is "jks" or "pkcs12"; "" detects it from the file's magic.
	KeystoreType string
	// KeystorePasswordFile holds the keystore password (one line); "" is an
	// empty password. A JKS key entry must use the same password, as keytool
	// makes it by default.
	KeystorePasswordFile string
	// KeyAlias picks the key entry; "" means the only one (an error listing
	// the aliases when there are several). Matched case-insensitively, as
	// Java aliases are.
	KeyAlias string
	// Truststore is a JKS or PKCS#12 file whose trusted-certificate entries
	// are the trusted CAs. Key entries and certificates without Java's trusted
	// mark in it are not trusted (fail closed).
	Truststore             string
	TruststoreType         string
	TruststorePasswordFile string
}

// Enabled reports whether any Java store is named.
func (j JavaStores) Enabled() bool { return j.Keystore != "" || j.Truststore != "" }

// Validate checks the settings without reading the files: known types, and no
// setting of a keystore or truststore that is not named (a forgotten keystore
// line would otherwise leave its password file silently unused).
func (j JavaStores) Validate() error {
	if j.Keystore == "" && (j.KeystoreType != "" || j.KeystorePasswordFile != "" || j.KeyAlias != "") {
		return errors.New("keystore_type, keystore_password_file and key_alias need keystore (the file holding the identity)")
	}
	if j.Truststore == "" && (j.TruststoreType != "" || j.TruststorePasswordFile != "") {
		return errors.New("truststore_type and truststore_password_file need truststore (the file holding the trusted CAs)")
	}
	if j.KeystoreType != "" {
		if _, err := keystore.ParseType(j.KeystoreType); err != nil {
			return fmt.Errorf("keystore_type: %w", err)
		}
	}
	if j.TruststoreType != "" {
		if _, err := keystore.ParseType(j.TruststoreType); err != nil {
			return fmt.Errorf("truststore_type: %w", err)
		}
	}
	return nil
}

// readJava opens one Java store, turning the keystore package's errors into
// ones that name the file and the setting that fixes them.
func readJava(what, path, typ, pwFile string) (*keystore.Contents, error) {
	var t keystore.Type
	if typ != "" {
		var err error
		if t, err = keystore.ParseType(typ); err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, path, err)
		}
	}
	pw, err := ReadPassword(pwFile)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	c, err := keystore.ReadFile(path, t, pw, nil)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, keystore.ErrBadPassword):
		src := "an empty password (no " + what + "_password_file)"
		if pwFile != "" {
			src = "the password in " + pwFile
		}
		return nil, fmt.Errorf("%s %s: the password is wrong: %s does not open it", what, path, src)
	case errors.Is(err, keystore.ErrBadKeyPassword):
		return nil, fmt.Errorf("%s %s: its private key has a password other than the keystore's; give it the keystore's (keytool -keypasswd -keystore %s)", what, path, path)
	}
	// keystore.ReadFile names the file already.
	return nil, fmt.Errorf("%s: %w", what, err)
}

// Identity reads the keystore's key entry (KeyAlias, or the only one) as a
// TLS certificate with its chain. It checks that the key belongs to the
// certificate; the role checks (serverAuth, not a CA, validity) are the
// caller's, as for the other identity sources.
func (j JavaStores) Identity() (tls.Certificate, string, error) {
	if j.Keystore == "" {
		return tls.Certificate{}, "", errors.New("no keystore")
	}
	c, err := readJava("keystore", j.Keystore, j.KeystoreType, j.KeystorePasswordFile)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	aliases := make([]string, 0, len(c.Identities))
	for _, id := range c.Identities {
		aliases = append(aliases, id.Alias)
	}
	sort.Strings(aliases)
	var picked *keystore.Identity
	switch {
	case len(c.Identities) == 0:
		return tls.Certificate{}, "", fmt.Errorf("keystore %s holds no private key entry (%d trusted certificate(s)): it looks like a truststore; point keystore at the file with the key (certdb export-keystore, keytool -genkeypair)", j.Keystore, len(c.Trusted))
	case j.KeyAlias != "":
		for i := range c.Identities {
			if strings.EqualFold(c.Identities[i].Alias, j.KeyAlias) {
				picked = &c.Identities[i]
				break
			}
		}
		if picked == nil {
			return tls.Certificate{}, "", fmt.Errorf("keystore %s has no key entry with alias %s; its key entries: %s", j.Keystore, quoteAlias(j.KeyAlias), quoteAliases(aliases))
		}
	case len(c.Identities) > 1:
		return tls.Certificate{}, "", fmt.Errorf("keystore %s holds %d key entries; choose one with key_alias: %s", j.Keystore, len(c.Identities), quoteAliases(aliases))
	default:
		picked = &c.Identities[0]
	}
	if len(picked.Chain) == 0 {
		return tls.Certificate{}, "", fmt.Errorf("keystore %s: key entry %s has no certificate", j.Keystore, quoteAlias(picked.Alias))
	}
	leaf := picked.Chain[0]
	if pub, ok := picked.Key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.PublicKey) {
		return tls.Certificate{}, "", fmt.Errorf("keystore %s: the key of entry %s does not belong to its certificate", j.Keystore, quoteAlias(picked.Alias))
	}
	cert := tls.Certificate{PrivateKey: picked.Key, Leaf: leaf}
	for _, x := range picked.Chain {
		cert.Certificate = append(cert.Certificate, x.Raw)
	}
	return cert, picked.Alias, nil
}

// TrustedCAs reads the truststore's trusted-certificate entries; a truststore
// without any is an error (it would trust nobody, silently).
func (j JavaStores) TrustedCAs() ([]*x509.Certificate, error) {
	if j.Truststore == "" {
		return nil, nil
	}
	c, err := readJava("truststore", j.Truststore, j.TruststoreType, j.TruststorePasswordFile)
	if err != nil {
		return nil, err
	}
	if len(c.Trusted) == 0 {
		return nil, fmt.Errorf("truststore %s holds no trusted-certificate entry (%d key entries, %d other certificates); add the CA: certdb export-truststore, or keytool -importcert -alias ca -file ca.crt -keystore %s", j.Truststore, len(c.Identities), len(c.Others), j.Truststore)
	}
	out := make([]*x509.Certificate, 0, len(c.Trusted))
	for _, t := range c.Trusted {
		out = append(out, t.Cert)
	}
	return out, nil
}

// anchors makes verification anchors of the truststore's CAs.
func (j JavaStores) anchors() (Anchors, []*x509.Certificate, error) {
	a := Anchors{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	cas, err := j.TrustedCAs()
	if err != nil {
		return a, nil, err
	}
	for _, c := range cas {
		a.Roots.AddCert(c)
	}
	a.NumRoots = len(cas)
	return a, cas, nil
}

// Files lists the files read, for the daemons' watch.
func (j JavaStores) Files() []string {
	var out []string
	for _, f := range []string{j.Keystore, j.KeystorePasswordFile, j.Truststore, j.TruststorePasswordFile} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// source describes the identity for log lines and errors.
func (j JavaStores) source(alias string) string {
	return fmt.Sprintf("key entry %s of keystore %s", quoteAlias(alias), j.Keystore)
}

// quoteAlias shows an alias (text from the file) quoted and escaped.
func quoteAlias(a string) string { return `"` + safetext.Escape(a) + `"` }

func quoteAliases(list []string) string {
	q := make([]string, len(list))
	for i, a := range list {
		q[i] = quoteAlias(a)
	}
	return strings.Join(q, ", ")
}

// checkSources refuses a server configuration naming more than one identity
// source: which one would win is not something a person should have to guess.
func (o ServerOptions) checkSources() error {
	var named []string
	if o.Store != "" {
		named = append(named, "a certificate store ("+o.Store+")")
	}
	if o.TLSConf != "" {
		named = append(named, "a tls.conf ("+o.TLSConf+")")
	}
	if o.Java.Keystore != "" {
		named = append(named, "a keystore ("+o.Java.Keystore+")")
	}
	if len(named) > 1 {
		return fmt.Errorf("the server identity comes from one source, and %s are given: keep one", strings.Join(named, " and "))
	}
	if o.Java.Truststore != "" && o.Java.Keystore == "" {
		// The CAs of a store or tls.conf are configured there; a truststore
		// beside them would be a second, silently merged trust list.
		return fmt.Errorf("truststore %s goes with a keystore identity; with a certificate store or tls.conf, trust the client CA there", o.Java.Truststore)
	}
	if err := o.Java.Validate(); err != nil {
		return err
	}
	return nil
}

// javaServer reads the server identity from the keystore and the client CAs
// from the truststore.
func (o ServerOptions) javaServer() (cert tls.Certificate, a Anchors, source, addCA string, err error) {
	cert, alias, err := o.Java.Identity()
	if err != nil {
		return cert, a, "", "", fmt.Errorf("server identity: %w", err)
	}
	if a, _, err = o.Java.anchors(); err != nil {
		return cert, a, "", "", err
	}
	addCA = "set truststore to a truststore holding the CA that issues client certificates (certdb export-truststore -n CA -o truststore.jks)"
	return cert, a, o.Java.source(alias), addCA, nil
}

// addCRLInputs makes the truststore's CAs the possible issuers of the
// configured CRLs.
func (j JavaStores) addCRLInputs(in *crlInputs) error {
	if j.Truststore == "" || len(in.files)+len(in.dirs) == 0 {
		return nil
	}
	cas, err := j.TrustedCAs()
	if err != nil {
		return err
	}
	in.cas = append(in.cas, cas...)
	return nil
}

// checkJava checks a tls.conf's keystore keys: an identity comes from
// certificate files or a keystore, not both.
func (c *TLSConf) checkJava() error {
	if err := c.Java.Validate(); err != nil {
		return fmt.Errorf("%s: %s", c.Path, strings.NewReplacer("keystore_password_file", "tls-keystore-password-file",
			"truststore_password_file", "tls-truststore-password-file", "keystore_type", "tls-keystore-type",
			"truststore_type", "tls-truststore-type", "key_alias", "tls-key-alias", "keystore", "tls-keystore",
			"truststore", "tls-truststore").Replace(err.Error()))
	}
	if c.Java.Keystore != "" && (c.CertFile != "" || c.ClientCertFile != "") {
		return fmt.Errorf("%s: tls-keystore and tls-cert-file/tls-client-cert-file are alternatives: keep one", c.Path)
	}
	return nil
}

// clientJava is the client's keystore settings: its own (proxyd's TOML) or
// its tls.conf's, not both.
func (o ClientOptions) clientJava(conf *TLSConf) (JavaStores, error) {
	if conf == nil || !conf.Java.Enabled() {
		return o.Java, o.Java.Validate()
	}
	if o.Java.Enabled() {
		return JavaStores{}, fmt.Errorf("keystore settings are given twice, in the configuration and in the tls.conf %s: keep one", conf.Path)
	}
	return conf.Java, nil
}

// addJavaClient puts a keystore identity first among the client's identities
// and adds the truststore's CAs to its anchors for verifying servers.
func addJavaClient(j JavaStores, a *Anchors, idents *[]tls.Certificate) error {
	if j.Keystore != "" {
		cert, alias, err := j.Identity()
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		if isCA(cert.Leaf) {
			return fmt.Errorf("client certificate %s: %w", j.source(alias), &CAAsLeafError{Role: "client", Cert: cert.Leaf})
		}
		*idents = append([]tls.Certificate{cert}, *idents...)
	}
	if j.Truststore != "" {
		cas, err := j.TrustedCAs()
		if err != nil {
			return err
		}
		// The pool may be the store's; adding to a copy leaves it alone.
		a.Roots = a.Roots.Clone()
		for _, c := range cas {
			a.Roots.AddCert(c)
		}
		a.NumRoots += len(cas)
	}
	return nil
}

// java is the keystore settings in force for this client (see clientJava).
func (o ClientOptions) java() (JavaStores, error) {
	var conf *TLSConf
	if _, err := os.Stat(o.TLSConf); o.TLSConf != "" && err == nil {
		// A missing tls.conf is no tls.conf, as libpcp treats it.
		if conf, err = ParseTLSConf(o.TLSConf); err != nil {
			return JavaStores{}, err
		}
	}
	return o.clientJava(conf)
}

// describe names the Java stores for pminfo's account of what it read.
func (j JavaStores) describe() string {
	var parts []string
	if j.Keystore != "" {
		what := "keystore " + safetext.Escape(j.Keystore)
		if j.KeyAlias != "" {
			what += " (key entry " + quoteAlias(j.KeyAlias) + ")"
		}
		parts = append(parts, what)
	}
	if j.Truststore != "" {
		parts = append(parts, "truststore "+safetext.Escape(j.Truststore))
	}
	return strings.Join(parts, " and ")
}

// ConfigError is a client's own configuration that cannot be used (a keystore
// with a wrong password, a truststore without CAs): it is returned by the
// Client hook before the handshake, so a program can print it as it is rather
// than as a TLS failure.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// javaOnly reports whether a program's own keystore settings (proxyd's TOML)
// are the client's whole configuration: with no store named, the default
// user store ($PCP_SECURE_DB_PATH, ~/.pki/gopcp of the daemon's user) is not
// read, so it cannot add CAs or pins to what the truststore says. pminfo's
// keystore keys come from its tls.conf and leave the user's stores read, as
// a tls.conf does.
func (o ClientOptions) javaOnly() bool {
	return o.Java.Enabled() && o.StoreDir == "" && len(o.ExtraStoreDirs) == 0
}
