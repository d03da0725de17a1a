package main

import (
	"bytes"
	"fmt"

	"github.com/gopcp/gopcp/certdb/check"
	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
	urfave "github.com/urfave/cli/v2"
)

// checkCommands check certificates for the job they will do.
func checkCommands(r *runner, o *opts) []*urfave.Command {
	return []*urfave.Command{
		cmd(&urfave.Command{Name: "check", Category: groupCheck, Usage: "check a certificate for a role: dates, usage, names, chain, key",
			Flags: with(o,
				strF(&o.nick, "the certificate to check, `NICKNAME`", "nickname", "n"),
				fileF(&o.file, "check a PEM or DER `FILE` instead (a PEM bundle may hold its chain and key after it)", "file"),
				strF(&o.role, "`ROLE`: server or client", "role"),
				listF(&o.hosts, "names and addresses it must cover, `NAME,...` (repeatable)", "host"),
				&urfave.StringFlag{Name: "ca-store", Destination: &o.caStore, TakesFile: true, Usage: "store whose trusted CAs the chain must reach, `CADIR`"},
			), Action: r.action("check", runCheck)}, checkHelp),
	}
}

func runCheck(c *ctx) int {
	switch {
	case c.o.file != "" && (c.o.dir != "" || c.o.nick != ""):
		return c.usage("give either -d DIR -n NICKNAME (a certificate of a store) or --file FILE, not both")
	case c.o.file == "" && (c.o.dir == "" || c.o.nick == ""):
		return c.usage("give -d DIR -n NICKNAME (a certificate of a store) or --file FILE")
	}
	role, err := check.ParseRole(c.o.role)
	if err != nil {
		return c.usage("--role: %v", err)
	}
	hosts := c.o.hosts.split()

	var caStore *store.Store
	if c.o.caStore != "" {
		// Certificates only: no password needed.
		if caStore, err = store.Open(c.o.caStore, nil); err != nil {
			return c.fail(fmt.Errorf("--ca-store: %w", err))
		}
	}
	var rep check.Report
	var what string
	if c.o.file != "" {
		data, err := c.readInput(c.o.file)
		if err != nil {
			return c.failf("reading the certificate: %v", err)
		}
		certs, err := store.ParseCertificates(data)
		if err != nil {
			return c.failf("%s: %v; give a PEM or DER certificate with --file", c.o.file, err)
		}
		o := check.Options{Role: role, Hosts: hosts, Chain: certs[1:]}
		if caStore != nil {
			r := role
			if r == check.RoleAuto {
				r = check.InferRole(certs[0])
			}
			o.Anchors = check.AnchorsFromStore(caStore, r)
		}
		if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
			// A PEM bundle with its key (certdb export --with-key): compare it.
			o.Key = check.Key{State: check.KeyAbsent, Where: "in " + c.o.file}
			if k, err := store.ParsePrivateKey(data); err == nil {
				o.Key = check.Key{State: check.KeyHeld, Signer: k, Where: "in " + c.o.file}
			} else {
				return c.failf("%s: %v", c.o.file, err)
			}
		}
		rep = check.Certificate(certs[0], o)
		what = c.o.file
	} else {
		s, rc := c.openStore(false)
		if rc != exitOK {
			return rc
		}
		if rep, err = check.InStore(s, c.o.nick, check.StoreOptions{Role: role, Hosts: hosts, CAStore: caStore}); err != nil {
			return c.fail(err)
		}
		what = fmt.Sprintf("%q in %s", c.o.nick, s.Dir())
	}
	how := "as a " + rep.Role.String() + " certificate"
	if role == check.RoleAuto {
		how += " (from its extendedKeyUsage; choose with --role)"
	}
	fmt.Fprintf(c.stdout, "checking %s (%s) %s\n", safetext.Escape(what), safetext.Escape(rep.Cert.Subject.String()), how)
	for _, r := range rep.Results {
		// check escapes what it quotes; escaping the whole line again costs
		// nothing (Escape leaves escaped text alone) and covers any message
		// that forgets to.
		fmt.Fprintf(c.stdout, "%s\n", safetext.Escape(r.String()))
	}
	nf, nw := rep.Count(check.Fail), rep.Count(check.Warn)
	switch {
	case nf > 0:
		fmt.Fprintf(c.stdout, "result: FAIL (%d failed, %d warning(s), of %d checks)\n", nf, nw, len(rep.Results))
		return exitFail
	case nw > 0:
		fmt.Fprintf(c.stdout, "result: WARN (%d warning(s), nothing failed, of %d checks)\n", nw, len(rep.Results))
	default:
		fmt.Fprintf(c.stdout, "result: PASS (all %d checks)\n", len(rep.Results))
	}
	return exitOK
}

const checkHelp = `
Usage: certdb check -d DIR -n NICKNAME [--role server|client] [--host NAME,...]
                    [--ca-store CADIR] [-f PASSWORDFILE]
       certdb check --file CERT.pem [--role server|client] [--host NAME,...]
                    [--ca-store CADIR]

Check a certificate for the job it will do, one line per check:

  validity  PASS while valid, WARN in its last 30 days, FAIL expired or not
            yet valid
  usage     extendedKeyUsage fits the role: serverAuth for a server (a
            collector), clientAuth for a client (a monitor tool)
  names     a server's DNS and IP subjectAltNames (FAIL when there are none:
            TLS clients ignore the common name); with --host, one
  host H    line per host instead: PASS when the certificate covers H
  chain     the chain reaches a CA of CADIR (default: the certificate's own
            store) trusted with C (to issue server certificates) for a server,
            with T (client certificates) for a client; a certificate trusted
            as a peer (P) passes too. WARN when there is nothing to check
            against (--file without --ca-store)
  key       the store holds the private key and it matches (with --file, when
            the file holds a key); WARN when a store password is needed to
            compare it (-f FILE)
  strength  key size and signature algorithm that TLS libraries accept

Without --role, the role comes from the certificate's extendedKeyUsage
(clientAuth only: client; otherwise server). The last line sums up. The store
is only read.

Exit status: 0 when no check failed (PASS, or only WARN), 1 when one failed.

Examples:
  certdb check -d /etc/pcp/tls/server -n "PCP Collector certificate" --host pcp.example.com
  certdb check -d $HOME/.pki/gopcp -n "PCP client certificate" --role client \
      --ca-store /etc/pcp/tls/server
  certdb check --file pmserver.crt --role server --ca-store /etc/pcp/tls/client
`
