package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	urfave "github.com/urfave/cli/v2"
)

// storeCommands are the certutil and pk12util commands.
func storeCommands(r *runner, o *opts) []*urfave.Command {
	return []*urfave.Command{
		cmd(&urfave.Command{Name: "create", Category: groupStore, Usage: "create an empty store (certutil -N)",
			Flags: dirFlags(o), Action: r.action("create", runCreate)}, createHelp),
		cmd(&urfave.Command{Name: "add", Category: groupStore, Usage: "add a certificate with trust attributes (certutil -A)",
			Flags: with(o,
				strF(&o.nick, "the `NICKNAME` to store it under", "nickname", "n"),
				strF(&o.trust, "`TRUST` attributes, e.g. \"CT,,\" or \"P,,\"", "trust", "t"),
				fileF(&o.in, "the certificate, `FILE` (\"-\": stdin)", "in", "i"),
				boolF(&o.ascii, "accepted and ignored (the input format is detected)", "ascii", "a"),
				fileF(&o.keyFile, "also store this unencrypted private key, `KEYFILE` (PEM or DER, PKCS#8, PKCS#1 or SEC 1); it must match the certificate", "key"),
			), Action: r.action("add", runAdd)}, addHelp),
		cmd(&urfave.Command{Name: "list", Category: groupStore, Usage: "list the certificates, or show one (certutil -L)",
			Flags: with(o,
				strF(&o.nick, "the certificate to show, `NICKNAME`", "nickname", "n"),
				boolF(&o.ascii, "print it in PEM", "ascii", "a"),
			), Action: r.action("list", runList)}, listHelp),
		cmd(&urfave.Command{Name: "keys", Category: groupStore, Usage: "list the private keys (certutil -K)",
			Flags: dirFlags(o), Action: r.action("keys", runKeys)}, keysHelp),
		cmd(&urfave.Command{Name: "trust", Category: groupStore, Usage: "change a certificate's trust attributes (certutil -M)",
			Flags: with(o,
				strF(&o.nick, "the certificate, `NICKNAME`", "nickname", "n"),
				strF(&o.trust, "the new `TRUST` attributes", "trust", "t"),
			), Action: r.action("trust", runTrust)}, trustHelp),
		cmd(&urfave.Command{Name: "delete", Category: groupStore, Usage: "delete a certificate (with -F, also its key) (certutil -D, -F)",
			Flags: with(o,
				strF(&o.nick, "the certificate, `NICKNAME`", "nickname", "n"),
				boolF(&o.deleteKey, "also delete its private key", "delete-key", "F"),
			), Action: r.action("delete", runDelete)}, deleteHelp),
		cmd(&urfave.Command{Name: "import", Category: groupStore, Usage: "import a PKCS#12 file: certificate, key and CAs (pk12util -i)",
			Flags: with(o,
				fileF(&o.in, "the PKCS#12 `FILE` (.p12, .pfx, or pk12util's .key)", "in", "i"),
				fileF(&o.p12pwFile, "`FILE` whose first line is the PKCS#12 password", "p12-password-file", "w"),
				strF(&o.nick, "`NICKNAME` for the certificate", "nickname", "n"),
			), Action: r.action("import", runImport)}, importHelp),
		cmd(&urfave.Command{Name: "export", Category: groupStore, Usage: "export a certificate (and key) as PKCS#12, PEM or DER (pk12util -o)",
			Flags: with(o,
				strF(&o.nick, "the certificate, `NICKNAME`", "nickname", "n"),
				fileF(&o.out, "the `FILE` to write (\"-\": stdout)", "out", "o"),
				&urfave.StringFlag{Name: "format", Destination: &o.format, DefaultText: "p12", Usage: "output `FORMAT`: p12, pem or der"},
				fileF(&o.p12pwFile, "`FILE` whose first line is the PKCS#12 password", "p12-password-file", "w"),
				boolF(&o.withKey, "PEM: include the private key", "with-key"),
				boolF(&o.force, "replace FILE if it exists", "force"),
			), Action: r.action("export", runExport)}, exportHelp),
	}
}

func runCreate(c *ctx) int {
	if rc := c.require("d"); rc != exitOK {
		return rc
	}
	pw, how := []byte{}, "empty password"
	if c.o.pwFile != "" {
		var err error
		if pw, err = c.readPasswordFile(c.o.pwFile); err != nil {
			return c.fail(err)
		}
		if len(pw) > 0 {
			how = "password from " + c.o.pwFile
		}
	}
	s, err := store.CreateWith(c.o.dir, pw, c.create)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "created certificate store %s (%s); add certificates with: certdb add -d %s -n NICKNAME -t TRUST -i FILE\n",
		s.Dir(), how, quote(c.o.dir))
	return exitOK
}

// describeCert is a short description for one-line outcomes.
func describeCert(cert *x509.Certificate) string {
	return fmt.Sprintf("%s, valid until %s", cert.Subject, cert.NotAfter.UTC().Format("2006-01-02"))
}

func runAdd(c *ctx) int {
	if rc := c.require("d", "n", "i"); rc != exitOK {
		return rc
	}
	if c.o.trust == "" {
		// The signed certificate of a request (certdb request) needs no trust.
		if s, err := store.Open(c.o.dir, nil); err != nil || !hasPending(s, c.o.nick) {
			return c.require("t")
		}
	}
	trust, err := store.ParseTrust(c.o.trust)
	if err != nil {
		return c.usage("%v", err)
	}
	if err := store.CheckNickname(c.o.nick); err != nil {
		return c.usage("%v", err)
	}
	data, err := c.readInput(c.o.in)
	if err != nil {
		return c.failf("reading the certificate: %v", err)
	}
	certs, err := store.ParseCertificates(data)
	if err != nil {
		return c.failf("%s: %v; give a PEM or DER certificate with -i", c.o.in, err)
	}
	cert := certs[0]
	var key crypto.Signer
	if c.o.keyFile != "" {
		kd, err := c.readInput(c.o.keyFile)
		if err != nil {
			return c.failf("reading the private key: %v", err)
		}
		if key, err = store.ParsePrivateKey(kd); err != nil {
			return c.failf("%s: %v", c.o.keyFile, err)
		}
		pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(cert.PublicKey) {
			return c.fail(fmt.Errorf("%s does not match the certificate in %s (%s): %w", c.o.keyFile, c.o.in, cert.Subject, store.ErrKeyMismatch))
		}
	}
	s, rc := c.openStore(key != nil)
	if rc != exitOK {
		return rc
	}
	old, err := s.Get(c.o.nick)
	update := err == nil && old.Cert.Equal(cert)
	if key == nil && s.Locked() && pendingFor(s, cert) != "" {
		// The certificate's key waits in the store: it moves, so it needs the password.
		if s, rc = c.unlock(s); rc != exitOK {
			return rc
		}
	}
	warnings, err := s.AddCert(c.o.nick, cert, trust)
	if err != nil {
		return c.fail(err)
	}
	if key != nil {
		if err := s.ImportKey(c.o.nick, key); err != nil {
			return c.fail(err)
		}
	}
	if len(certs) > 1 {
		c.warn(fmt.Sprintf("%s holds %d certificates; only the first was added (add the others with their own nicknames)", c.o.in, len(certs)))
	}
	for _, w := range warnings {
		c.warn(w)
	}
	e, _ := s.Get(c.o.nick)
	switch {
	case update && key == nil:
		fmt.Fprintf(c.stdout, "%q was already stored; its trust is now %s\n", c.o.nick, e.Trust)
	case key != nil:
		fmt.Fprintf(c.stdout, "added %q (%s) with its private key, trust %s\n", c.o.nick, describeCert(cert), e.Trust)
	case e.HasKey && !update:
		fmt.Fprintf(c.stdout, "added %q (%s) to the key its request was made with, trust %s\n", c.o.nick, describeCert(cert), e.Trust)
	default:
		fmt.Fprintf(c.stdout, "added %q (%s) with trust %s\n", c.o.nick, describeCert(cert), e.Trust)
	}
	return exitOK
}

func runList(c *ctx) int {
	if rc := c.require("d"); rc != exitOK {
		return rc
	}
	if c.o.ascii && c.o.nick == "" {
		return c.usage("-a prints one certificate in PEM: give its nickname with -n")
	}
	s, rc := c.openStore(false)
	if rc != exitOK {
		return rc
	}
	if c.o.nick == "" {
		writeList(c.stdout, s.List())
		if p := s.PendingKeys(); len(p) > 0 {
			var names []string
			for _, k := range p {
				names = append(names, fmt.Sprintf("%q", k.Nickname))
			}
			fmt.Fprintf(c.stderr, "certdb list: %d key(s) waiting for their certificate (certdb request): %s; store one with: certdb receive -d %s -n NICKNAME -i SIGNED.crt\n",
				len(p), strings.Join(names, ", "), quote(c.o.dir))
		}
		return exitOK
	}
	e, err := s.Get(c.o.nick)
	if err != nil {
		if p, perr := s.PendingKey(c.o.nick); perr == nil && !c.o.ascii {
			writePending(c.stdout, p)
			return exitOK
		}
		return c.fail(err)
	}
	if c.o.ascii {
		pem.Encode(c.stdout, &pem.Block{Type: "CERTIFICATE", Bytes: e.Cert.Raw})
		return exitOK
	}
	writeDetails(c.stdout, e, time.Now())
	return exitOK
}

func runKeys(c *ctx) int {
	if rc := c.require("d"); rc != exitOK {
		return rc
	}
	s, rc := c.openStore(false)
	if rc != exitOK {
		return rc
	}
	keys := s.Keys()
	if len(keys) == 0 {
		fmt.Fprintf(c.stderr, "certdb keys: no private keys in %s; import one with: certdb import -d %s -i FILE.p12\n", s.Dir(), quote(c.o.dir))
		return exitOK
	}
	writeKeys(c.stdout, keys)
	return exitOK
}

func runTrust(c *ctx) int {
	if rc := c.require("d", "n", "t"); rc != exitOK {
		return rc
	}
	trust, err := store.ParseTrust(c.o.trust)
	if err != nil {
		return c.usage("%v", err)
	}
	s, rc := c.openStore(false)
	if rc != exitOK {
		return rc
	}
	if err := s.SetTrust(c.o.nick, trust); err != nil {
		return c.fail(err)
	}
	e, _ := s.Get(c.o.nick)
	fmt.Fprintf(c.stdout, "trust of %q is now %s (%s)\n", c.o.nick, e.Trust, e.Trust.Describe())
	return exitOK
}

func runDelete(c *ctx) int {
	if rc := c.require("d", "n"); rc != exitOK {
		return rc
	}
	s, rc := c.openStore(false)
	if rc != exitOK {
		return rc
	}
	e, err := s.Get(c.o.nick)
	if err != nil {
		if _, perr := s.PendingKey(c.o.nick); perr == nil {
			if !c.o.deleteKey {
				return c.failf("%q is a key waiting for the certificate of its request; deleting it makes that certificate useless. Add -F to delete it anyway", c.o.nick)
			}
			if err := s.Delete(c.o.nick); err != nil {
				return c.fail(err)
			}
			fmt.Fprintf(c.stdout, "deleted the pending key %q\n", c.o.nick)
			return exitOK
		}
		return c.fail(err)
	}
	if e.HasKey && !c.o.deleteKey {
		return c.failf("%q has a private key, which would be lost for good; nothing deleted. Export it first (certdb export -d %s -n %s -o FILE.p12), then add -F to delete the key with the certificate",
			c.o.nick, quote(c.o.dir), quote(c.o.nick))
	}
	if err := s.Delete(c.o.nick); err != nil {
		return c.fail(err)
	}
	if e.HasKey {
		fmt.Fprintf(c.stdout, "deleted %q and its private key\n", c.o.nick)
	} else {
		fmt.Fprintf(c.stdout, "deleted %q\n", c.o.nick)
	}
	return exitOK
}

func runImport(c *ctx) int {
	if rc := c.require("d", "i"); rc != exitOK {
		return rc
	}
	if c.o.nick != "" {
		if err := store.CheckNickname(c.o.nick); err != nil {
			return c.usage("%v", err)
		}
	}
	data, err := c.readInput(c.o.in)
	if err != nil {
		return c.failf("reading the PKCS#12 file: %v", err)
	}
	var p12pw []byte
	if c.o.p12pwFile != "" {
		if p12pw, err = c.readPasswordFile(c.o.p12pwFile); err != nil {
			return c.fail(err)
		}
	} else {
		// No -w: a file without a password works as it is; otherwise ask.
		p12pw = []byte{}
		if _, _, _, _, err := store.DecodePKCS12(data, p12pw); errors.Is(err, store.ErrBadPKCS12Password) {
			fd, ok := c.terminal()
			if !ok {
				return c.failf("%s is protected by a password (stdin is not a terminal, so certdb does not prompt): give a file holding it with -w FILE", c.o.in)
			}
			if p12pw, err = c.prompt(fd, "Password for PKCS#12 file "+c.o.in); err != nil {
				return c.fail(err)
			}
		}
	}
	if _, _, _, _, err := store.DecodePKCS12(data, p12pw); err != nil {
		if errors.Is(err, store.ErrBadPKCS12Password) && c.o.p12pwFile != "" {
			return c.failf("%s: %v: the password in %s does not open it; give the right file with -w FILE", c.o.in, err, c.o.p12pwFile)
		}
		return c.fail(fmt.Errorf("%s: %w", c.o.in, err))
	}
	s, rc := c.openStore(true)
	if rc != exitOK {
		return rc
	}
	added, warnings, err := s.ImportPKCS12(data, p12pw, c.o.nick)
	if err != nil {
		return c.fail(fmt.Errorf("importing %s: %w", c.o.in, err))
	}
	for _, w := range warnings {
		c.warn(w)
	}
	msg := fmt.Sprintf("imported the private key of %q", added[0])
	if cas := added[1:]; len(cas) > 0 {
		var q []string
		for _, n := range cas {
			q = append(q, fmt.Sprintf("%q", n))
		}
		msg += fmt.Sprintf(" and %d CA certificate(s) with no trust: %s (to trust one: certdb trust -d %s -n %s -t \"CT,,\")",
			len(cas), strings.Join(q, ", "), quote(c.o.dir), quote(cas[len(cas)-1]))
	}
	fmt.Fprintln(c.stdout, msg)
	return exitOK
}

func runExport(c *ctx) int {
	if rc := c.require("d", "n", "o"); rc != exitOK {
		return rc
	}
	format := c.o.format
	if format == "" {
		format = "p12"
	}
	switch format {
	case "p12", "pkcs12":
		format = "p12"
	case "pem", "der":
		if c.o.p12pwFile != "" {
			return c.usage("-w sets a PKCS#12 password; %s output is not encrypted (drop -w, or use --format p12)", strings.ToUpper(format))
		}
		if format == "der" && c.o.withKey {
			return c.usage("--format der holds the certificate alone; for the key use --format pem --with-key, or p12")
		}
	default:
		return c.usage("--format %q: want p12, pem or der", c.o.format)
	}
	if c.o.out != "-" && !c.o.force {
		if _, err := os.Lstat(c.o.out); err == nil {
			return c.failf("%s already exists; choose another -o FILE, or add --force to replace it", c.o.out)
		}
	}
	if format == "p12" && c.o.p12pwFile == "" {
		if _, ok := c.terminal(); !ok {
			return c.usage("a PKCS#12 file needs a password: give a file holding it with -w FILE (an empty file for none)")
		}
	}
	s, rc := c.openStore(false)
	if rc != exitOK {
		return rc
	}
	e, err := s.Get(c.o.nick)
	if err != nil {
		return c.fail(err)
	}
	if format == "p12" && !e.HasKey {
		return c.failf("%q has no private key, and a PKCS#12 file holds one; export the certificate alone with --format pem", c.o.nick)
	}
	if format == "p12" || c.o.withKey {
		if s, rc = c.unlock(s); rc != exitOK {
			return rc
		}
	}
	var p12pw []byte
	if format == "p12" {
		if p12pw, rc = c.newP12Password(); rc != exitOK {
			return rc
		}
	}
	chain, _ := s.Chain(c.o.nick)
	var data []byte
	var what string
	perm := os.FileMode(0o644)
	if format == "p12" {
		data, err = s.ExportPKCS12(c.o.nick, p12pw)
		what = fmt.Sprintf("certificate, private key and %d CA certificate(s), PKCS#12", len(chain))
		perm = 0o600
	} else if format == "der" {
		data, what = e.Cert.Raw, "certificate, DER"
	} else {
		data, err = s.ExportPEM(c.o.nick, c.o.withKey)
		n := strings.Count(string(data), "-----BEGIN CERTIFICATE-----")
		what = fmt.Sprintf("%d certificate(s), PEM", n)
		if c.o.withKey {
			what = fmt.Sprintf("%d certificate(s) and the private key, PEM", n)
			perm = 0o600
		}
	}
	if err != nil {
		return c.fail(err)
	}
	if err := c.writeOutput(c.o.out, data, perm); err != nil {
		return c.failf("writing %s: %v", c.o.out, err)
	}
	if c.o.out == "-" {
		return exitOK
	}
	fmt.Fprintf(c.stdout, "exported %q to %s (%s)\n", c.o.nick, c.o.out, what)
	return exitOK
}

func hasPending(s *store.Store, nick string) bool {
	_, err := s.PendingKey(nick)
	return err == nil
}

// pendingFor returns the nickname of the pending key cert is for, or "".
func pendingFor(s *store.Store, cert *x509.Certificate) string {
	for _, p := range s.PendingKeys() {
		if k, ok := p.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && k.Equal(cert.PublicKey) {
			return p.Nickname
		}
	}
	return ""
}

// newP12Password reads the password for a new PKCS#12 file from -w, or prompts
// for it twice on the terminal.
func (c *ctx) newP12Password() ([]byte, int) {
	if c.o.p12pwFile != "" {
		pw, err := c.readPasswordFile(c.o.p12pwFile)
		if err != nil {
			return nil, c.fail(err)
		}
		return pw, exitOK
	}
	fd, ok := c.terminal()
	if !ok {
		return nil, c.usage("a PKCS#12 file needs a password: give a file holding it with -w FILE (an empty file for none)")
	}
	pw1, err := c.prompt(fd, "Password for the new PKCS#12 file")
	if err != nil {
		return nil, c.fail(err)
	}
	pw2, err := c.prompt(fd, "Same password again")
	if err != nil {
		return nil, c.fail(err)
	}
	if string(pw1) != string(pw2) {
		return nil, c.failf("the two passwords differ; nothing written")
	}
	return pw1, exitOK
}
