package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
	urfave "github.com/urfave/cli/v2"
)

// The crl commands keep a store's certificate revocation lists: collectord,
// proxyd and pminfo refuse a peer certificate that a CRL in their store lists
// (see tlsconfig/crl.go). They are two-word commands ("certdb crl add").

// crlCommand is "certdb crl" and its subcommands add, list and delete.
func crlCommand(r *runner, o *opts) *urfave.Command {
	return cmd(&urfave.Command{Name: "crl", Category: groupStore, Usage: "keep the store's certificate revocation lists: add, list, delete (crlutil)",
		Action: func(cc *urfave.Context) error {
			c := &ctx{cmd: &command{name: "crl"}, stderr: r.stderr}
			if cc.Args().Present() {
				return status(c.usage("unknown subcommand %q: want add, list or delete", cc.Args().First()))
			}
			return status(c.usage("give a subcommand: add, list or delete"))
		},
		Subcommands: []*urfave.Command{
			cmd(&urfave.Command{Name: "add", Usage: "add a CA's CRL (revoked certificates), checked against the CA (crlutil -I)",
				Flags:  with(o, fileF(&o.in, "the CRL, `FILE` (PEM or DER; \"-\": stdin)", "in", "i")),
				Action: r.action("crl add", runCRLAdd)}, crlAddHelp),
			cmd(&urfave.Command{Name: "list", Usage: "list the CRLs: issuer, updates, revoked certificates (crlutil -L)",
				Flags:  with(o, strF(&o.nick, "show this CA's CRL in full, `CA-NICKNAME`", "nickname", "n")),
				Action: r.action("crl list", runCRLList)}, crlListHelp),
			cmd(&urfave.Command{Name: "delete", Usage: "delete the CRL of a CA (crlutil -D)",
				Flags:  with(o, strF(&o.nick, "the CA whose CRL goes, `CA-NICKNAME`", "nickname", "n")),
				Action: r.action("crl delete", runCRLDelete)}, crlDeleteHelp),
		}}, crlHelp)
}

const crlHelp = `
Usage: certdb crl add|list|delete -d DIR [flags]

Keep the store's certificate revocation lists (CRLs). collectord, proxyd and
pminfo using the store refuse a certificate that a CRL in it lists. Run
'certdb crl COMMAND --help' for a subcommand's flags.

Examples:
  certdb crl add -d /etc/gopcp/certs/server -i ca.crl
  certdb crl list -d /etc/gopcp/certs/server
`

const dateFormat = "2006-01-02 15:04:05 UTC"

func runCRLAdd(c *ctx) int {
	if rc := c.require("d", "i"); rc != exitOK {
		return rc
	}
	data, err := readLimited(c.o.in, c.stdin, store.MaxCRLSize)
	if err != nil {
		return c.failf("reading the CRL: %v", err)
	}
	lists, err := store.ParseCRLs(data)
	if err != nil {
		return c.failf("%s: %v; give a CRL in PEM or DER (openssl ca -gencrl makes one)", c.o.in, err)
	}
	s, rc := c.openStore(false)
	if rc != exitOK {
		return rc
	}
	failed := false
	for _, l := range lists {
		sc, replaced, err := s.AddCRL(l.Raw)
		switch {
		case errors.Is(err, store.ErrCRLIssuer):
			failed = true
			c.failf("%s: %v; add the CA that issued it first: certdb add -d %s -n NAME -t CT,, -i ca.pem", c.o.in, err, quote(c.o.dir))
			continue
		case errors.Is(err, store.ErrCRLNotNewer):
			failed = true
			c.failf("%s: %v; nothing changed", c.o.in, err)
			continue
		case err != nil:
			failed = true
			c.fail(fmt.Errorf("%s: %w", c.o.in, err))
			continue
		}
		verb := "added"
		if replaced {
			verb = "replaced"
		}
		fmt.Fprintf(c.stdout, "%s the CRL of %q (number %s, next update %s, %d revoked) in %s\n",
			verb, safetext.Escape(sc.Issuer.Nickname), numberOf(sc), nextUpdate(sc), len(l.RevokedCertificateEntries), sc.Path)
		if !l.NextUpdate.IsZero() && time.Now().After(l.NextUpdate) {
			c.warn("this CRL is past its next update: the daemons use it, and warn; get the CA's current CRL")
		}
	}
	if failed {
		return exitFail
	}
	return exitOK
}

func numberOf(sc store.StoredCRL) string {
	if sc.List.Number == nil {
		return "none"
	}
	return sc.List.Number.String()
}

func nextUpdate(sc store.StoredCRL) string {
	if sc.List.NextUpdate.IsZero() {
		return "none"
	}
	return sc.List.NextUpdate.UTC().Format(dateFormat)
}

func runCRLList(c *ctx) int {
	if rc := c.require("d"); rc != exitOK {
		return rc
	}
	s, rc := c.openStore(false)
	if rc != exitOK {
		return rc
	}
	crls, err := s.CRLs()
	if err != nil {
		return c.fail(err)
	}
	shown := 0
	now := time.Now()
	for _, sc := range crls {
		if c.o.nick != "" && sc.Issuer.Nickname != c.o.nick {
			continue
		}
		shown++
		l := sc.List
		fmt.Fprintf(c.stdout, "CA %q\n", safetext.Escape(sc.Issuer.Nickname))
		fmt.Fprintf(c.stdout, "  Issuer:       %s\n", safetext.Escape(l.Issuer.String()))
		fmt.Fprintf(c.stdout, "  Number:       %s\n", numberOf(sc))
		fmt.Fprintf(c.stdout, "  This update:  %s\n", l.ThisUpdate.UTC().Format(dateFormat))
		stale := ""
		if !l.NextUpdate.IsZero() && now.After(l.NextUpdate) {
			stale = " (past: still used, with a warning; get the CA's current CRL)"
		}
		fmt.Fprintf(c.stdout, "  Next update:  %s%s\n", nextUpdate(sc), stale)
		fmt.Fprintf(c.stdout, "  Revoked:      %d\n", len(l.RevokedCertificateEntries))
		// Every serial with -n; the list of all CRLs keeps to the counts.
		if c.o.nick != "" {
			for _, e := range l.RevokedCertificateEntries {
				fmt.Fprintf(c.stdout, "    serial %s  revoked %s\n", strings.ToUpper(e.SerialNumber.Text(16)), e.RevocationTime.UTC().Format(dateFormat))
			}
		}
		fmt.Fprintf(c.stdout, "  File:         %s\n", sc.Path)
	}
	if c.o.nick != "" && shown == 0 {
		return c.fail(fmt.Errorf("%q: %w", c.o.nick, store.ErrNoCRL))
	}
	if shown == 0 {
		fmt.Fprintf(c.stderr, "certdb crl list: no CRL in %s; add one with: certdb crl add -d %s -i ca.crl\n", s.Dir(), quote(c.o.dir))
	}
	return exitOK
}

func runCRLDelete(c *ctx) int {
	if rc := c.require("d", "n"); rc != exitOK {
		return rc
	}
	s, rc := c.openStore(false)
	if rc != exitOK {
		return rc
	}
	if err := s.DeleteCRL(c.o.nick); err != nil {
		if errors.Is(err, store.ErrNoCRL) {
			return c.failf("%v; see the CRLs with: certdb crl list -d %s", err, quote(c.o.dir))
		}
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "deleted the CRL of %q\n", safetext.Escape(c.o.nick))
	return exitOK
}

const crlAddHelp = `
Usage: certdb crl add -d DIR -i FILE                    (crlutil -I)

Add the certificate revocation list in FILE (PEM, several allowed, or DER; "-"
reads stdin) to the store. Its signature must verify with the key of a CA
certificate in the store (trusted or not); otherwise nothing is stored. A CA
has one CRL: a newer one (higher CRL number, or a later this-update without
numbers) replaces it, an older or the same one is refused, so an old list cannot
bring a revoked certificate back.

collectord, proxyd and pminfo using this store then refuse a certificate the
CRL lists, or one issued under a CA it lists. The daemons watch the store's
crl/ folder and apply a new CRL without a restart. A CRL past its next update
is still used, with a warning.

The CRLs are kept in DIR/crl/, one DER file per CA, mode 0644, each replaced
atomically; the store's password is not needed.

Examples:
  openssl ca -gencrl -keyfile ca.key -cert ca.crt -out ca.crl
  certdb crl add -d /etc/gopcp/certs/server -i ca.crl
`

const crlListHelp = `
Usage: certdb crl list -d DIR [-n CA-NICKNAME]          (crlutil -L)

List the store's CRLs: the CA that issued each (its nickname in the store), the
issuer name, CRL number, this and next update, and how many certificates it
revokes. With -n, one CA's CRL with the serial number and date of every
certificate it revokes.

Examples:
  certdb crl list -d /etc/gopcp/certs/server
  certdb crl list -d /etc/gopcp/certs/server -n "Root CA"
`

const crlDeleteHelp = `
Usage: certdb crl delete -d DIR -n CA-NICKNAME          (crlutil -D)

Delete the CRL of the CA stored under CA-NICKNAME. The certificates it revoked
are accepted again by daemons that reload the store.

Examples:
  certdb crl delete -d /etc/gopcp/certs/server -n "Root CA"
`
