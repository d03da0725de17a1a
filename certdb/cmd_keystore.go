package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gopcp/gopcp/certdb/keystore"
	"github.com/gopcp/gopcp/certdb/store"
	urfave "github.com/urfave/cli/v2"
)

// keystoreCommands move identities and CAs to and from Java keystores.
func keystoreCommands(r *runner, o *opts) []*urfave.Command {
	ksType := func(usage string) urfave.Flag { return strF(&o.ksType, usage, "type") }
	return []*urfave.Command{
		cmd(&urfave.Command{Name: "export-keystore", Category: groupMigrate, Usage: "write a certificate, its key and chain to a Java keystore",
			Flags: with(o,
				strF(&o.nick, "the certificate with its key, `NICKNAME`", "nickname", "n"),
				ksType("keystore format, `jks|pkcs12`"),
				fileF(&o.out, "the keystore to write, `FILE`", "out", "o"),
				&urfave.StringFlag{Name: "alias", Destination: &o.alias, DefaultText: "NICKNAME", Usage: "entry name in the keystore, `ALIAS`"},
				fileF(&o.storepassFile, "`FILE` whose first line is the keystore password", "storepass-file"),
				&urfave.StringFlag{Name: "keypass-file", Destination: &o.keypassFile, TakesFile: true, DefaultText: "the store password, as keytool does",
					Usage: "JKS only: `FILE` with a separate password for the key"},
				boolF(&o.force, "replace FILE if it exists", "force"),
			), Action: r.action("export-keystore", runExportKeystore)}, exportKeystoreHelp),
		cmd(&urfave.Command{Name: "export-truststore", Category: groupMigrate, Usage: "write CA certificates to a Java truststore",
			Flags: with(o,
				listF(&o.hosts, "a certificate to trust, `NICKNAME` (repeatable)", "nickname", "n"),
				ksType("truststore format, `jks|pkcs12`"),
				fileF(&o.out, "the truststore to write, `FILE`", "out", "o"),
				strF(&o.alias, "entry name for a single certificate, `ALIAS`", "alias"),
				fileF(&o.storepassFile, "`FILE` whose first line is the truststore password", "storepass-file"),
				boolF(&o.force, "replace FILE if it exists", "force"),
			), Action: r.action("export-truststore", runExportTruststore)}, exportTruststoreHelp),
		cmd(&urfave.Command{Name: "import-keystore", Category: groupMigrate, Usage: "import the keys and trusted certificates of a Java keystore",
			Flags: with(o,
				fileF(&o.in, "the keystore, `FILE`", "in", "i"),
				ksType("its format, `jks|pkcs12` (checked against the content)"),
				fileF(&o.storepassFile, "`FILE` whose first line is the keystore password", "storepass-file"),
				fileF(&o.keypassFile, "JKS: `FILE` with the key password, when it is not the store's", "keypass-file"),
			), Action: r.action("import-keystore", runImportKeystore)}, importKeystoreHelp),
	}
}

// ksType parses --type; required reports a missing one.
func (c *ctx) ksType(required bool) (keystore.Type, int) {
	if c.o.ksType == "" {
		if required {
			return "", c.usage("--type jks|pkcs12 is required")
		}
		return "", exitOK
	}
	t, err := keystore.ParseType(c.o.ksType)
	if err != nil {
		return "", c.usage("--type: %v", err)
	}
	return t, exitOK
}

// keystorePasswords reads --storepass-file (required) and --keypass-file.
func (c *ctx) keystorePasswords() (storepass, keypass []byte, rc int) {
	if c.o.storepassFile == "" {
		return nil, nil, c.usage("--storepass-file FILE is required: the keystore's password (first line of the file)")
	}
	storepass, err := c.readPasswordFile(c.o.storepassFile)
	if err != nil {
		return nil, nil, c.fail(err)
	}
	if c.o.keypassFile != "" {
		if keypass, err = c.readPasswordFile(c.o.keypassFile); err != nil {
			return nil, nil, c.fail(err)
		}
	}
	return storepass, keypass, exitOK
}

// refuseExisting fails unless -o is new or --force was given.
func (c *ctx) refuseExisting() int {
	if !c.o.force {
		if _, err := os.Lstat(c.o.out); err == nil {
			return c.failf("%s already exists; choose another -o FILE, or add --force to replace it", c.o.out)
		}
	}
	return exitOK
}

func (c *ctx) warnShortPassword(pw []byte) {
	if len(pw) < 6 {
		c.warn("keytool refuses store passwords shorter than 6 characters (Java programs accept them)")
	}
}

func runExportKeystore(c *ctx) int {
	if rc := c.require("d", "n", "o"); rc != exitOK {
		return rc
	}
	t, rc := c.ksType(true)
	if rc != exitOK {
		return rc
	}
	if c.o.out == "-" {
		return c.usage("-o -: a keystore is binary; give a file name")
	}
	storepass, keypass, rc := c.keystorePasswords()
	if rc != exitOK {
		return rc
	}
	if t == keystore.PKCS12 && keypass != nil && string(keypass) != string(storepass) {
		return c.usage("a PKCS#12 keystore has one password: drop --keypass-file (Java uses the store password for the key), or use --type jks")
	}
	if rc := c.refuseExisting(); rc != exitOK {
		return rc
	}
	s, rc := c.openStore(true)
	if rc != exitOK {
		return rc
	}
	e, err := s.Get(c.o.nick)
	if err != nil {
		return c.fail(err)
	}
	if !e.HasKey {
		return c.failf("%q has no private key in %s, and a keystore holds an identity; for the certificate alone use certdb export-truststore", c.o.nick, s.Dir())
	}
	key, err := s.PrivateKey(c.o.nick)
	if err != nil {
		return c.fail(err)
	}
	issuers, _ := s.Chain(c.o.nick)
	alias := c.o.alias
	if alias == "" {
		alias = c.o.nick
	}
	data, err := keystore.EncodeKeystore(t, keystore.Identity{Alias: alias, Key: key, Chain: append([]*x509.Certificate{e.Cert}, issuers...)}, storepass, keypass)
	if err != nil {
		return c.failf("making the keystore: %v", err)
	}
	if err := c.writeOutput(c.o.out, data, 0o600); err != nil {
		return c.failf("writing %s: %v", c.o.out, err)
	}
	c.warnShortPassword(storepass)
	fmt.Fprintf(c.stdout, "wrote %s keystore %s: alias %q with the key and %d certificate(s) of %q; check it with: keytool -list -keystore %s -storetype %s\n",
		strings.ToUpper(string(t)), c.o.out, alias, 1+len(issuers), c.o.nick, quote(c.o.out), strings.ToUpper(string(t)))
	return exitOK
}

func runExportTruststore(c *ctx) int {
	if rc := c.require("d", "o"); rc != exitOK {
		return rc
	}
	nicks := []string(c.o.hosts)
	if len(nicks) == 0 {
		return c.usage("-n NICKNAME is required: the CA certificate(s) to trust (repeat -n for more)")
	}
	if c.o.alias != "" && len(nicks) > 1 {
		return c.usage("--alias names one certificate; with several -n each keeps its nickname as alias")
	}
	t, rc := c.ksType(true)
	if rc != exitOK {
		return rc
	}
	if c.o.out == "-" {
		return c.usage("-o -: a truststore is binary; give a file name")
	}
	if c.o.keypassFile != "" {
		return c.usage("a truststore holds no keys: drop --keypass-file")
	}
	storepass, _, rc := c.keystorePasswords()
	if rc != exitOK {
		return rc
	}
	if rc := c.refuseExisting(); rc != exitOK {
		return rc
	}
	s, rc := c.openStore(false)
	if rc != exitOK {
		return rc
	}
	var certs []keystore.TrustedCert
	for _, n := range nicks {
		e, err := s.Get(n)
		if err != nil {
			return c.fail(err)
		}
		alias := n
		if c.o.alias != "" {
			alias = c.o.alias
		}
		if !e.Cert.IsCA {
			c.warn(fmt.Sprintf("%q is not a CA certificate: Java will trust it as it is, not certificates it issued", n))
		}
		certs = append(certs, keystore.TrustedCert{Alias: alias, Cert: e.Cert})
	}
	data, err := keystore.EncodeTruststore(t, certs, storepass)
	if err != nil {
		return c.failf("making the truststore: %v", err)
	}
	if err := c.writeOutput(c.o.out, data, 0o600); err != nil {
		return c.failf("writing %s: %v", c.o.out, err)
	}
	c.warnShortPassword(storepass)
	var q []string
	for _, x := range certs {
		q = append(q, fmt.Sprintf("%q", x.Alias))
	}
	fmt.Fprintf(c.stdout, "wrote %s truststore %s: %d trusted certificate(s) %s; check it with: keytool -list -keystore %s -storetype %s\n",
		strings.ToUpper(string(t)), c.o.out, len(certs), strings.Join(q, ", "), quote(c.o.out), strings.ToUpper(string(t)))
	return exitOK
}

func runImportKeystore(c *ctx) int {
	if rc := c.require("d", "i"); rc != exitOK {
		return rc
	}
	t, rc := c.ksType(false)
	if rc != exitOK {
		return rc
	}
	storepass, keypass, rc := c.keystorePasswords()
	if rc != exitOK {
		return rc
	}
	data, err := readLimited(c.o.in, c.stdin, keystore.MaxSize)
	if err != nil {
		return c.failf("reading the keystore: %v", err)
	}
	contents, err := keystore.Decode(data, t, storepass, keypass)
	if err != nil {
		msg := fmt.Sprintf("%s: %v", c.o.in, err)
		switch {
		case errors.Is(err, keystore.ErrBadPassword):
			msg += fmt.Sprintf("; give the right password with --storepass-file (%s was used)", c.o.storepassFile)
		case errors.Is(err, keystore.ErrBadKeyPassword):
			msg += "; give the key password with --keypass-file (keytool -keypass)"
		}
		return c.failf("%s", msg)
	}
	var items []store.Item
	for _, id := range contents.Identities {
		items = append(items, store.Item{Nickname: nicknameFor(id.Alias, id.Chain[0]), Cert: id.Chain[0], Key: id.Key})
		for _, ca := range id.Chain[1:] {
			items = append(items, store.Item{Nickname: nicknameFor("", ca), Cert: ca})
		}
	}
	for _, tc := range contents.Trusted {
		items = append(items, store.Item{Nickname: nicknameFor(tc.Alias, tc.Cert), Cert: tc.Cert, Trust: store.MustParseTrust("CT,,")})
	}
	for _, o := range contents.Others {
		items = append(items, store.Item{Nickname: nicknameFor("", o), Cert: o})
	}
	if len(items) == 0 {
		return c.failf("%s holds no key and no certificate; nothing imported", c.o.in)
	}
	s, created, rc := c.openOrCreate()
	if rc != exitOK {
		return rc
	}
	outcomes, warnings, err := s.AddAll(items)
	if err != nil {
		return c.fail(fmt.Errorf("importing %s: %w", c.o.in, err))
	}
	for _, w := range warnings {
		c.warn(w)
	}
	var keys, trusted, others, existing []string
	for i, o := range outcomes {
		it := items[i]
		switch {
		case o.Existed && !o.KeyAdded:
			existing = append(existing, fmt.Sprintf("%q", o.Nickname))
		case it.Key != nil:
			keys = append(keys, fmt.Sprintf("%q", o.Nickname))
		case !it.Trust.IsZero():
			trusted = append(trusted, fmt.Sprintf("%q", o.Nickname))
		default:
			others = append(others, fmt.Sprintf("%q", o.Nickname))
		}
		if o.Renamed {
			c.warn(fmt.Sprintf("%q was taken in %s; stored as %q", it.Nickname, s.Dir(), o.Nickname))
		}
	}
	var parts []string
	if len(keys) > 0 {
		parts = append(parts, fmt.Sprintf("%d identity(ies) with their keys: %s", len(keys), strings.Join(keys, ", ")))
	}
	if len(trusted) > 0 {
		parts = append(parts, fmt.Sprintf("%d trusted certificate(s) as CAs with trust CT,,: %s", len(trusted), strings.Join(trusted, ", ")))
	}
	if len(others) > 0 {
		parts = append(parts, fmt.Sprintf("%d chain certificate(s) with no trust: %s", len(others), strings.Join(others, ", ")))
	}
	if len(existing) > 0 {
		parts = append(parts, fmt.Sprintf("%d already stored: %s", len(existing), strings.Join(existing, ", ")))
	}
	where := s.Dir()
	if created {
		where = "new store " + where
	}
	fmt.Fprintf(c.stdout, "imported from %s into %s: %s\n", c.o.in, where, strings.Join(parts, "; "))
	return exitOK
}

// nicknameFor turns a keystore alias into a nickname: the alias if it makes a
// valid one, else the certificate's common name.
func nicknameFor(alias string, cert *x509.Certificate) string {
	if alias = strings.TrimSpace(alias); alias != "" && store.CheckNickname(alias) == nil {
		return alias
	}
	if cn := strings.TrimSpace(cert.Subject.CommonName); cn != "" && store.CheckNickname(cn) == nil {
		return cn
	}
	return "imported certificate"
}

const exportKeystoreHelp = `
Usage: certdb export-keystore -d DIR -n NICKNAME --type jks|pkcs12 -o FILE
                              --storepass-file FILE [--keypass-file FILE]
                              [--alias ALIAS] [--force]

Write NICKNAME's certificate, its private key and its issuers found in the store
(root included) as one private key entry of a Java keystore, for a Java program
that presents this identity (a "keystore" in Java configuration). JKS files are
written as keytool writes them; PKCS#12 files use PBES2 AES-256 and an
HMAC-SHA-256 MAC, which Java 8u301, 11.0.12, 17 and later read. The alias is
the nickname unless --alias is given (JKS keeps aliases in lower case). The
file is written with mode 0600, whole or not at all, and an existing one is not
replaced without --force.

Examples:
  certdb export-keystore -d /etc/pcp/ca -n agent --type jks -o keystore.jks \
      --storepass-file ks.pass --alias agent
  certdb export-keystore -d /etc/pcp/ca -n server --type pkcs12 -o keystore.p12 \
      --storepass-file ks.pass
  keytool -list -keystore keystore.jks -storetype JKS -storepass "$(cat ks.pass)"
`

const exportTruststoreHelp = `
Usage: certdb export-truststore -d DIR -n CANICKNAME [-n CANICKNAME...]
                                --type jks|pkcs12 -o FILE --storepass-file FILE
                                [--alias ALIAS] [--force]

Write CA certificates of the store as trusted certificate entries of a Java
truststore, for a Java program that must verify its peers (a "truststore" in
Java configuration). PKCS#12 truststores carry Java's trusted-certificate
attribute, as keytool -importcert writes them. Aliases are the nicknames
(--alias renames a single one). Mode 0600, written whole; --force replaces an
existing file.

Examples:
  certdb export-truststore -d /etc/pcp/ca -n "PCP CA" --type jks -o truststore.jks \
      --storepass-file ts.pass
  certdb export-truststore -d /etc/pcp/ca -n "PCP CA" -n "Old CA" --type pkcs12 \
      -o truststore.p12 --storepass-file ts.pass
`

const importKeystoreHelp = `
Usage: certdb import-keystore -d DIR -i FILE [--type jks|pkcs12]
                              --storepass-file FILE [--keypass-file FILE]

Import a Java keystore or truststore into the store DIR (created, with the
password from -f or an empty one, if it does not exist): each private key
entry becomes an identity (certificate and key, nickname from its alias) with
the rest of its chain added with no trust; each trusted certificate entry
becomes a CA with trust CT,,. Other certificates of a PKCS#12 file are added
with no trust. Certificates already stored are left as they are. The type is
detected from the content when --type is not given; JCEKS is not read (convert
it with keytool -importkeystore). Everything is imported in one write, or
nothing: a wrong password, a damaged file or an unsupported entry changes
nothing.

Examples:
  certdb import-keystore -d /etc/pcp/tls/server -i keystore.jks --storepass-file ks.pass
  certdb import-keystore -d $HOME/.pki/gopcp -i truststore.p12 --type pkcs12 --storepass-file ts.pass
`
