package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/gopcp/gopcp/certdb/issue"
	"github.com/gopcp/gopcp/certdb/store"
	urfave "github.com/urfave/cli/v2"
)

// requestCommands get a certificate from an outside CA: request, then receive.
func requestCommands(r *runner, o *opts) []*urfave.Command {
	return []*urfave.Command{
		cmd(&urfave.Command{Name: "request", Category: groupSetup, Usage: "make a key and a certificate signing request for an outside CA (certutil -R, openssl req -new)",
			Flags: with(o,
				strF(&o.nick, "the `NICKNAME` the certificate will have", "nickname", "n"),
				strF(&o.cn, "subject common `NAME`", "cn"),
				listF(&o.sans, "subject alternative names, `LIST` (repeatable), e.g. \"DNS:agent.example.com,IP:192.0.2.1\"", "san"),
				strF(&o.keyType, keyTypeUsage, "key-type"),
				boolF(&o.server, "request serverAuth", "server"),
				boolF(&o.client, "request clientAuth", "client"),
				fileF(&o.out, "the request to write, `FILE` (\"-\": stdout)", "out", "o"),
				boolF(&o.force, "replace FILE if it exists", "force"),
			), Action: r.action("request", runRequest)}, requestHelp),
		cmd(&urfave.Command{Name: "receive", Category: groupSetup, Usage: "store the signed certificate of a request with its key (certutil -A after -R)",
			Flags: with(o,
				strF(&o.nick, "the `NICKNAME` given to certdb request", "nickname", "n"),
				fileF(&o.in, "the signed certificate, `FILE`, optionally followed by its chain", "in", "i"),
				&urfave.StringFlag{Name: "trust", Aliases: []string{"t"}, Destination: &o.trust, DefaultText: `",,"`, Usage: "`TRUST` attributes"},
			), Action: r.action("receive", runReceive)}, receiveHelp),
	}
}

func runRequest(c *ctx) int {
	if rc := c.require("d", "n", "o"); rc != exitOK {
		return rc
	}
	if c.o.cn == "" {
		return c.usage("--cn NAME is required: the common name the CA will certify")
	}
	if err := store.CheckNickname(c.o.nick); err != nil {
		return c.usage("%v", err)
	}
	kt, rc := c.keyType()
	if rc != exitOK {
		return rc
	}
	sans, rc := c.parseSANs()
	if rc != exitOK {
		return rc
	}
	if c.o.out != "-" && !c.o.force {
		if _, err := os.Lstat(c.o.out); err == nil {
			return c.failf("%s already exists; choose another -o FILE, or add --force to replace it", c.o.out)
		}
	}
	s, created, rc := c.openOrCreate()
	if rc != exitOK {
		return rc
	}
	if _, err := s.Get(c.o.nick); err == nil {
		return c.fail(fmt.Errorf("%q already exists in %s: %w", c.o.nick, s.Dir(), store.ErrDuplicate))
	}
	if _, err := s.PendingKey(c.o.nick); err == nil {
		return c.failf("%q in %s already has a key waiting for its certificate; receive it with certdb receive, or start over after: certdb delete -d %s -n %s -F",
			c.o.nick, s.Dir(), quote(c.o.dir), quote(c.o.nick))
	}
	key, err := issue.GenerateKey(kt)
	if err != nil {
		return c.fail(err)
	}
	der, err := issue.NewCSR(key, issue.CSROptions{CommonName: c.o.cn, SANs: sans, Server: c.o.server, Client: c.o.client})
	if err != nil {
		return c.fail(err)
	}
	if err := s.AddPendingKey(c.o.nick, key, der); err != nil {
		return c.fail(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	if err := c.writeOutput(c.o.out, data, 0o644); err != nil {
		// Without its request the key is of no use: take it back out.
		if derr := s.Delete(c.o.nick); derr != nil {
			return c.failf("writing %s: %v; the key stays pending in %s as %q (remove it with certdb delete -F)", c.o.out, err, s.Dir(), c.o.nick)
		}
		return c.failf("writing %s: %v; nothing was kept", c.o.out, err)
	}
	if c.o.out == "-" {
		return exitOK
	}
	where := s.Dir()
	if created {
		where = "new store " + where
	}
	names := ""
	if !sans.Empty() {
		names = ", " + sans.String()
	}
	fmt.Fprintf(c.stdout, "wrote the request %s (CN=%s%s, %s key kept in %s as %q until its certificate comes); once signed: certdb receive -d %s -n %s -i SIGNED.crt\n",
		c.o.out, c.o.cn, names, issue.KeyDescription(key.Public()), where, c.o.nick, quote(c.o.dir), quote(c.o.nick))
	return exitOK
}

func runReceive(c *ctx) int {
	if rc := c.require("d", "n", "i"); rc != exitOK {
		return rc
	}
	trust := store.Trust{}
	if c.o.trust != "" {
		var err error
		if trust, err = store.ParseTrust(c.o.trust); err != nil {
			return c.usage("%v", err)
		}
	}
	data, err := c.readInput(c.o.in)
	if err != nil {
		return c.failf("reading the certificate: %v", err)
	}
	certs, err := store.ParseCertificates(data)
	if err != nil {
		return c.failf("%s: %v; give the signed certificate (PEM or DER) with -i", c.o.in, err)
	}
	s, rc := c.openStore(true)
	if rc != exitOK {
		return rc
	}
	p, err := s.PendingKey(c.o.nick)
	if err != nil {
		return c.fail(err)
	}
	// The certificate is the one for the pending key, wherever it is in the file.
	var leaf *x509.Certificate
	for _, cert := range certs {
		if k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && k.Equal(p.PublicKey) {
			leaf = cert
			break
		}
	}
	if leaf == nil {
		return c.fail(fmt.Errorf("none of the %d certificate(s) in %s is for the key waiting under %q (%s was signed for another key; was it made from this request?): %w",
			len(certs), c.o.in, c.o.nick, certs[0].Subject, store.ErrKeyMismatch))
	}
	added, warnings, err := s.ReceiveCert(c.o.nick, leaf, certs, trust)
	if err != nil {
		return c.fail(fmt.Errorf("%s: %w", c.o.in, err))
	}
	for _, w := range warnings {
		c.warn(w)
	}
	e, _ := s.Get(c.o.nick)
	msg := fmt.Sprintf("stored %q (%s) from %s with its key, trust %s", c.o.nick, describeCert(leaf), c.o.in, e.Trust)
	if cas := added[1:]; len(cas) > 0 {
		msg += fmt.Sprintf(", and %d CA certificate(s) with no trust: %q (to trust one: certdb trust -d %s -n %s -t \"CT,,\")",
			len(cas), cas, quote(c.o.dir), quote(cas[len(cas)-1]))
	} else if chain, _ := s.Chain(c.o.nick); len(chain) == 0 {
		msg += fmt.Sprintf("; add its CA with: certdb add -d %s -n \"Root CA\" -t \"CT,,\" -i CA.crt", quote(c.o.dir))
	}
	fmt.Fprintln(c.stdout, msg)
	return exitOK
}

const requestHelp = `
Usage: certdb request -d DIR -n NICKNAME --cn NAME [--san DNS:HOST,IP:ADDRESS,...]
                      [--server] [--client] [--key-type TYPE] -o FILE.csr [--force]

For a certificate from an outside (organisational) CA: make a new key, keep it in
the store DIR (created if needed) under NICKNAME as a key waiting for its
certificate, and write a PEM certificate signing request (PKCS#10) to FILE.csr
for the CA. --server and --client ask for extendedKeyUsage serverAuth and
clientAuth (whether they are honoured is the CA's choice). When the signed
certificate comes back, 'certdb receive' (or 'certdb add') joins it to the key.
certdb keys lists waiting keys as "(request pending)"; certdb delete -F removes
one. It replaces 'openssl genrsa' plus 'openssl req -new', or certutil -R.

Examples:
  certdb request -d /etc/pcp/tls/server -n "PCP Collector certificate" \
      --cn pcp.example.com --san DNS:pcp.example.com,IP:192.0.2.10 --server -o pcp.csr
  openssl x509 -req -in pcp.csr -CA rootCA.crt -CAkey rootCA.key -CAcreateserial \
      -copy_extensions copy -out pcp.crt -days 500 -sha256      # at the CA
  certdb receive -d /etc/pcp/tls/server -n "PCP Collector certificate" -i pcp.crt
`

const receiveHelp = `
Usage: certdb receive -d DIR -n NICKNAME -i SIGNED.crt [-t TRUST]

Store the certificate a CA signed from 'certdb request': the certificate for the
key waiting under NICKNAME (PEM or DER; in a PEM bundle it may be anywhere, the
other certificates being its CA chain, which is added with no trust) joins the
key, with TRUST (default none: certdb list shows u,u,u). A certificate for
another key is refused and nothing is changed. 'certdb add -d DIR -n NICKNAME
-i SIGNED.crt' does the same for a single certificate.

Examples:
  certdb receive -d /etc/pcp/tls/server -n "PCP Collector certificate" -i pcp.crt
  certdb add -d /etc/pcp/tls/server -t "CT,," -n "Org CA" -i org-ca.crt
`
