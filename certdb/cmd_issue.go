package main

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/issue"
	"github.com/gopcp/gopcp/certdb/store"
	urfave "github.com/urfave/cli/v2"
)

// Nicknames quickstart uses. "PCP Collector certificate" is pmcd's historical
// default for -M.
const (
	defaultCANick     = "PCP CA"
	collectorNick     = "PCP Collector certificate"
	clientNick        = "PCP client certificate"
	defaultQuickstart = "pcp-certs"
)

// keyTypeUsage is --key-type's usage, for every command that makes a key.
const keyTypeUsage = "key `TYPE`: ecdsa-p256 (default), rsa2048, rsa3072 or rsa4096"

// issueCommands make keys and certificates: what openssl did in the walkthrough.
func issueCommands(r *runner, o *opts) []*urfave.Command {
	return []*urfave.Command{
		cmd(&urfave.Command{Name: "quickstart", Category: groupSetup, Usage: "make a CA, a collector store and a client store in one go (the whole walkthrough)",
			Flags: []urfave.Flag{
				&urfave.StringFlag{Name: "dir", Aliases: []string{"d"}, Destination: &o.dir, TakesFile: true, DefaultText: "./" + defaultQuickstart,
					Usage: "where to create the stores, `DIR`"},
				listF(&o.hosts, "more DNS names for the collector, `NAME,...` (repeatable)", "host"),
				listF(&o.ips, "more IP addresses for the collector, `ADDRESS,...` (repeatable)", "ip"),
				intF(&o.days, "validity of the certificates, `N` days (the CA's is 3650, or N if longer)", "825", "days"),
				strF(&o.keyType, keyTypeUsage, "key-type"),
			}, Action: r.action("quickstart", runQuickstart)}, quickstartHelp),
		cmd(&urfave.Command{Name: "ca", Category: groupSetup, Usage: "create a CA (certificate and key) in a store (openssl req -x509)",
			Flags: with(o,
				&urfave.StringFlag{Name: "nickname", Aliases: []string{"n"}, Destination: &o.nick, DefaultText: defaultCANick, Usage: "the CA's `NICKNAME`"},
				&urfave.StringFlag{Name: "cn", Destination: &o.cn, DefaultText: "PCP CA on HOSTNAME", Usage: "its common `NAME`"},
				intF(&o.days, "validity in days, `N`", "3650", "days"),
				strF(&o.keyType, keyTypeUsage, "key-type"),
			), Action: r.action("ca", runCA)}, caHelp),
		cmd(&urfave.Command{Name: "issue", Category: groupSetup, Usage: "issue a server or client certificate signed by a CA of the store (openssl x509 -req -CA)",
			Flags: with(o,
				strF(&o.nick, "`NICKNAME` of the new certificate", "nickname", "n"),
				strF(&o.caNick, "the CA that signs, `CANICKNAME` (see certdb ca)", "ca"),
				boolF(&o.server, "extendedKeyUsage serverAuth", "server"),
				boolF(&o.client, "extendedKeyUsage clientAuth", "client"),
				strF(&o.cn, "common `NAME`", "cn"),
				listF(&o.sans, "subject alternative names, `LIST` (repeatable)", "san"),
				intF(&o.days, "validity in days, `N`", "825", "days"),
				strF(&o.keyType, keyTypeUsage, "key-type"),
			), Action: r.action("issue", runIssue)}, issueHelp),
	}
}

// keyType parses --key-type, reporting a usage error.
func (c *ctx) keyType() (issue.KeyType, int) {
	kt, err := issue.ParseKeyType(c.o.keyType)
	if err != nil {
		return "", c.usage("--key-type: %v", trimSentinel(err, issue.ErrBadOption))
	}
	return kt, exitOK
}

// checkDays validates --days.
func (c *ctx) checkDays() int {
	if c.o.days < 0 || c.o.days > issue.MaxDays {
		return c.usage("--days %d: want 1 to %d", c.o.days, issue.MaxDays)
	}
	if c.set["days"] && c.o.days == 0 {
		return c.usage("--days 0: want 1 to %d", issue.MaxDays)
	}
	return exitOK
}

// trimSentinel drops ": <sentinel>" from an error message meant for people.
func trimSentinel(err, sentinel error) string {
	return strings.TrimSuffix(err.Error(), ": "+sentinel.Error())
}

// openOrCreate opens the store named by -d with its keys usable, creating it
// (with the password from -f, else empty) when there is none yet.
func (c *ctx) openOrCreate() (s *store.Store, created bool, rc int) {
	if store.Exists(c.o.dir) {
		s, rc = c.openStore(true)
		return s, false, rc
	}
	pw := []byte{}
	if c.o.pwFile != "" {
		var err error
		if pw, err = c.readPasswordFile(c.o.pwFile); err != nil {
			return nil, false, c.fail(err)
		}
	}
	s, err := store.CreateWith(c.o.dir, pw, c.create)
	if err != nil {
		return nil, false, c.fail(err)
	}
	return s, true, exitOK
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || issue.CheckDNSName(h) != nil {
		return "localhost"
	}
	return h
}

func runCA(c *ctx) int {
	if rc := c.require("d"); rc != exitOK {
		return rc
	}
	kt, rc := c.keyType()
	if rc != exitOK {
		return rc
	}
	if rc := c.checkDays(); rc != exitOK {
		return rc
	}
	nick := c.o.nick
	if nick == "" {
		nick = defaultCANick
	}
	if err := store.CheckNickname(nick); err != nil {
		return c.usage("%v", err)
	}
	cn := c.o.cn
	if cn == "" {
		cn = "PCP CA on " + hostname()
	}
	if store.Exists(c.o.dir) {
		// Fail before the (slow) key generation when the name is taken.
		if s, err := store.Open(c.o.dir, nil); err == nil {
			if _, err := s.Get(nick); err == nil {
				return c.fail(fmt.Errorf("%q already exists in %s: %w", nick, s.Dir(), store.ErrDuplicate))
			}
		}
	}
	key, err := issue.GenerateKey(kt)
	if err != nil {
		return c.fail(err)
	}
	cert, err := issue.NewCA(issue.CAOptions{CommonName: cn, Days: c.o.days}, key)
	if err != nil {
		return c.fail(err)
	}
	s, created, rc := c.openOrCreate()
	if rc != exitOK {
		return rc
	}
	if _, err := s.AddIdentity(nick, cert, key, store.MustParseTrust("CT,,")); err != nil {
		return c.fail(err)
	}
	e, _ := s.Get(nick)
	where := s.Dir()
	if created {
		where = "new store " + where
	}
	fmt.Fprintf(c.stdout, "created CA %q (%s, %s) in %s with trust %s; issue certificates with: certdb issue -d %s --ca %s -n NICKNAME --server --san DNS:HOST\n",
		nick, describeCert(cert), issue.KeyDescription(cert.PublicKey), where, e.Trust, quote(c.o.dir), quote(nick))
	return exitOK
}

// caSigner returns the CA nickname's certificate and key, checked for signing.
func (c *ctx) caSigner(s *store.Store, nick string) (*x509.Certificate, crypto.Signer, int) {
	e, err := s.Get(nick)
	if err != nil {
		return nil, nil, c.fail(fmt.Errorf("CA %w", err))
	}
	if err := issue.CheckCA(e.Cert, nil, time.Now()); err != nil {
		return nil, nil, c.failf("--ca %q in %s cannot issue certificates: %s; give the nickname of a CA made with certdb ca (see certdb list -d %s)",
			nick, s.Dir(), trimSentinel(err, issue.ErrNotCA), quote(c.o.dir))
	}
	if !e.HasKey {
		return nil, nil, c.failf("--ca %q in %s has no private key here, so it cannot sign; issue from the store that holds the CA's key (certdb keys -d DIR lists keys)", nick, s.Dir())
	}
	key, err := s.PrivateKey(nick)
	if err != nil {
		return nil, nil, c.fail(err)
	}
	if err := issue.CheckCA(e.Cert, key, time.Now()); err != nil {
		return nil, nil, c.fail(fmt.Errorf("--ca %q: %w", nick, err))
	}
	return e.Cert, key, exitOK
}

// parseSANs reads --san values, reporting a usage error.
func (c *ctx) parseSANs() (issue.SANs, int) {
	sans, err := issue.ParseSANs(c.o.sans...)
	if err != nil {
		return issue.SANs{}, c.usage("--san: %s", trimSentinel(err, issue.ErrBadOption))
	}
	return sans, exitOK
}

func usageNames(server, client bool) string {
	switch {
	case server && client:
		return "serverAuth, clientAuth"
	case server:
		return "serverAuth"
	}
	return "clientAuth"
}

func runIssue(c *ctx) int {
	if rc := c.require("d", "n"); rc != exitOK {
		return rc
	}
	if c.o.caNick == "" {
		return c.usage("--ca NICKNAME is required: the CA of the store that signs (made with certdb ca)")
	}
	if !c.o.server && !c.o.client {
		return c.usage("say what the certificate is for: --server, --client, or both")
	}
	if err := store.CheckNickname(c.o.nick); err != nil {
		return c.usage("%v", err)
	}
	kt, rc := c.keyType()
	if rc != exitOK {
		return rc
	}
	if rc := c.checkDays(); rc != exitOK {
		return rc
	}
	sans, rc := c.parseSANs()
	if rc != exitOK {
		return rc
	}
	if c.o.cn == "" && sans.Empty() {
		if c.o.server {
			return c.usage("a server certificate needs its host names: give --san DNS:HOST,IP:ADDRESS (or --cn HOST)")
		}
		c.o.cn = c.o.nick
	}
	s, rc := c.openStore(true)
	if rc != exitOK {
		return rc
	}
	if _, err := s.Get(c.o.nick); err == nil {
		return c.fail(fmt.Errorf("%q already exists in %s: %w", c.o.nick, s.Dir(), store.ErrDuplicate))
	}
	caCert, caKey, rc := c.caSigner(s, c.o.caNick)
	if rc != exitOK {
		return rc
	}
	key, err := issue.GenerateKey(kt)
	if err != nil {
		return c.fail(err)
	}
	cert, clipped, err := issue.Issue(issue.LeafOptions{CommonName: c.o.cn, SANs: sans, Server: c.o.server, Client: c.o.client, Days: c.o.days},
		key.Public(), caCert, caKey)
	if err != nil {
		if errors.Is(err, issue.ErrBadOption) {
			return c.usage("%s", trimSentinel(err, issue.ErrBadOption))
		}
		return c.fail(err)
	}
	if _, err := s.AddIdentity(c.o.nick, cert, key, store.Trust{}); err != nil {
		return c.fail(err)
	}
	if clipped {
		c.warn(fmt.Sprintf("the certificate ends with its CA on %s, before the %d days asked for; renew the CA (certdb ca) before then", cert.NotAfter.UTC().Format("2006-01-02"), c.o.days))
	}
	e, _ := s.Get(c.o.nick)
	names := issue.SANs{DNS: cert.DNSNames, IPs: cert.IPAddresses, Emails: cert.EmailAddresses, URIs: cert.URIs}.String()
	fmt.Fprintf(c.stdout, "issued %q (%s; %s; %s; %s) signed by %q, stored with its key, trust %s; export it with: certdb export -d %s -n %s -o FILE.p12 -w PASSWORDFILE\n",
		c.o.nick, describeCert(cert), orNone([]string{names}), usageNames(c.o.server, c.o.client), issue.KeyDescription(cert.PublicKey),
		c.o.caNick, e.Trust, quote(c.o.dir), quote(c.o.nick))
	return exitOK
}

// quickstartPlan is everything quickstart makes, built in memory first.
type quickstartPlan struct {
	caCert, serverCert, clientCert *x509.Certificate
	caKey, serverKey, clientKey    crypto.Signer
}

func runQuickstart(c *ctx) int {
	dir := c.o.dir
	if dir == "" {
		dir = defaultQuickstart
	}
	kt, rc := c.keyType()
	if rc != exitOK {
		return rc
	}
	if rc := c.checkDays(); rc != exitOK {
		return rc
	}
	host := hostname()
	sans := issue.SANs{}
	sans.AddDNS(host)
	sans.AddDNS("localhost")
	for _, h := range c.o.hosts.split() {
		if ip := net.ParseIP(h); ip != nil {
			sans.AddIP(ip)
			continue
		}
		if err := issue.CheckDNSName(h); err != nil {
			return c.usage("--host: %s", trimSentinel(err, issue.ErrBadOption))
		}
		sans.AddDNS(h)
	}
	sans.AddIP(net.ParseIP("127.0.0.1"))
	sans.AddIP(net.ParseIP("::1"))
	for _, a := range c.o.ips.split() {
		ip := net.ParseIP(strings.Trim(a, "[]"))
		if ip == nil {
			return c.usage("--ip %q is not an IP address", a)
		}
		sans.AddIP(ip)
	}
	abs, err := filepath.Abs(strings.TrimPrefix(dir, "sql:"))
	if err != nil {
		return c.fail(err)
	}
	parts := []string{"ca", "server", "client"}
	for _, p := range parts {
		if _, err := os.Lstat(filepath.Join(abs, p)); err == nil {
			return c.failf("%s already exists; quickstart never overwrites a store: choose another --dir, or move %s away first", filepath.Join(abs, p), abs)
		}
	}

	var p quickstartPlan
	days := c.o.days
	gen := func(k *crypto.Signer) bool {
		var err error
		*k, err = issue.GenerateKey(kt)
		if err != nil {
			c.fail(err)
			return false
		}
		return true
	}
	if !gen(&p.caKey) || !gen(&p.serverKey) || !gen(&p.clientKey) {
		return exitFail
	}
	caDays := issue.DefaultCADays
	if days > caDays {
		caDays = days
	}
	if p.caCert, err = issue.NewCA(issue.CAOptions{CommonName: "PCP CA on " + host, Days: caDays}, p.caKey); err != nil {
		return c.fail(err)
	}
	if p.serverCert, _, err = issue.Issue(issue.LeafOptions{CommonName: host, SANs: sans, Server: true, Days: days}, p.serverKey.Public(), p.caCert, p.caKey); err != nil {
		return c.fail(err)
	}
	who := "pcp"
	if u, err := user.Current(); err == nil && u.Username != "" {
		who = u.Username
	}
	if p.clientCert, _, err = issue.Issue(issue.LeafOptions{CommonName: "PCP client " + who + "@" + host, Client: true, Days: days}, p.clientKey.Public(), p.caCert, p.caKey); err != nil {
		return c.fail(err)
	}

	// Build the three stores in a temporary folder inside DIR, then move each
	// into place: an interrupted quickstart leaves no half-made store.
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return c.failf("creating %s: %v", abs, err)
	}
	tmp, err := os.MkdirTemp(abs, ".quickstart-*")
	if err != nil {
		return c.failf("creating a temporary folder in %s: %v", abs, err)
	}
	defer os.RemoveAll(tmp)
	caTrust := store.MustParseTrust("CT,,")
	build := func(name string, fill func(s *store.Store) error) error {
		s, err := store.CreateWith(filepath.Join(tmp, name), []byte{}, c.create)
		if err != nil {
			return err
		}
		return fill(s)
	}
	err = build("ca", func(s *store.Store) error {
		_, err := s.AddIdentity(defaultCANick, p.caCert, p.caKey, caTrust)
		return err
	})
	if err == nil {
		err = build("server", func(s *store.Store) error {
			if _, err := s.AddIdentity(collectorNick, p.serverCert, p.serverKey, store.Trust{}); err != nil {
				return err
			}
			_, err := s.AddCert(defaultCANick, p.caCert, caTrust)
			return err
		})
	}
	if err == nil {
		err = build("client", func(s *store.Store) error {
			if _, err := s.AddIdentity(clientNick, p.clientCert, p.clientKey, store.Trust{}); err != nil {
				return err
			}
			_, err := s.AddCert(defaultCANick, p.caCert, caTrust)
			return err
		})
	}
	if err != nil {
		return c.fail(err)
	}
	var moved []string
	for _, part := range parts {
		dst := filepath.Join(abs, part)
		if _, err := os.Lstat(dst); err == nil {
			err = fmt.Errorf("%s appeared while quickstart ran", dst)
		}
		if err == nil {
			err = os.Rename(filepath.Join(tmp, part), dst)
		}
		if err != nil {
			for _, m := range moved {
				os.RemoveAll(m)
			}
			return c.failf("moving the new stores into %s: %v; nothing was left behind", abs, err)
		}
		moved = append(moved, dst)
	}
	if err := syncFolder(abs); err != nil {
		c.warn(fmt.Sprintf("syncing %s: %v", abs, err))
	}

	srv, cli := filepath.Join(abs, "server"), filepath.Join(abs, "client")
	w := c.stdout
	fmt.Fprintf(w, "created %s: CA %q (%s, valid until %s; its key is kept there only)\n",
		filepath.Join(abs, "ca"), defaultCANick, p.caCert.Subject, p.caCert.NotAfter.UTC().Format("2006-01-02"))
	fmt.Fprintf(w, "created %s: %q (serverAuth for %s) and the CA, trust CT,,\n", srv, collectorNick,
		issue.SANs{DNS: p.serverCert.DNSNames, IPs: p.serverCert.IPAddresses})
	fmt.Fprintf(w, "created %s: %q (clientAuth, %s) and the CA, trust CT,,\n", cli, clientNick, p.clientCert.Subject)
	fmt.Fprintf(w, "\nStart a collector that requires client certificates:\n")
	fmt.Fprintf(w, "  collectord -C %s -M %s -Q\n", quote(srv), quote(collectorNick))
	fmt.Fprintf(w, "Query it securely:\n")
	fmt.Fprintf(w, "  PCP_SECURE_DB_PATH=%s PCP_SECURE_SOCKETS=enforce pminfo -h %s -f kernel.uname.nodename\n", quote(cli), host)
	fmt.Fprintf(w, "More hosts or users: certdb issue -d %s --ca %s -n NICKNAME --server --san DNS:HOST (or --client), then certdb export.\n",
		quote(filepath.Join(abs, "ca")), quote(defaultCANick))
	return exitOK
}

func syncFolder(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

const caHelp = `
Usage: certdb ca -d DIR [-n NICKNAME] [--cn NAME] [--days N]
                 [--key-type ecdsa-p256|rsa2048|rsa3072|rsa4096] [-f PASSWORDFILE]

Create a certificate authority in the store DIR (created if it does not exist,
with the password from -f, else an empty one): a new key and a self-signed CA
certificate (basicConstraints CA:TRUE, pathlen 0, keyUsage keyCertSign and
cRLSign, a random 128-bit serial, a subject key identifier). It is stored with
its key and trust CT,, (a trusted CA for server and client certificates), which
certdb list shows as CTu,u,u. It replaces the walkthrough's
'openssl genrsa -out rootCA.key' and 'openssl req -new -x509 -extensions v3_ca'.

Examples:
  certdb ca -d /etc/pcp/ca
  certdb ca -d /etc/pcp/ca -n "Root CA" --cn myCA --days 3650 --key-type rsa2048
`

const issueHelp = `
Usage: certdb issue -d DIR --ca CANICKNAME -n NICKNAME (--server | --client | both)
                    [--cn NAME] [--san DNS:HOST,IP:ADDRESS,...] [--days N]
                    [--key-type ecdsa-p256|rsa2048|rsa3072|rsa4096]

Issue a certificate signed by the CA CANICKNAME of the store (its key must be in
the store) for a new key, and store both under NICKNAME (trust u,u,u: an own
certificate with its key). The certificate has extendedKeyUsage serverAuth
(--server) and/or clientAuth (--client), keyUsage digitalSignature (and
keyEncipherment for RSA), the subject alternative names given, a random 128-bit
serial, and subject and authority key identifiers. Its validity never outlasts
the CA's. It replaces the walkthrough's genrsa, req -new and x509 -req -CA.

--san takes openssl's list form, repeatable: "DNS:pmserver,IP:10.0.0.1", and the
spaced form vendor instructions use, "DNS: system1, IP: 10.1.1.1, DNS: system2".
A server certificate needs names (TLS clients ignore the common name): without
--san, the common name is used as one. The common name defaults to the first
name, or to NICKNAME for a client certificate.

Then export it for the program that needs it: certdb export (PKCS#12 with the
CA chain, PEM or DER), or certdb export-keystore for Java.

Examples:
  certdb issue -d /etc/pcp/ca --ca "PCP CA" -n pmserver --server \
      --san "DNS:pmserver.example.com,DNS:pmserver,IP:192.0.2.10"
  certdb issue -d /etc/pcp/ca --ca "PCP CA" -n pmclient --client --cn pmclient
  certdb issue -d /etc/pcp/ca --ca "PCP CA" -n agent --server --client \
      --san "DNS: system1, IP: 192.0.2.1, DNS: system2, IP: 192.0.2.2" --key-type rsa2048
  certdb export -d /etc/pcp/ca -n pmserver -o pmserver.p12 -w p12pass.txt
`

const quickstartHelp = `
Usage: certdb quickstart [--dir DIR] [--host NAME,...] [--ip ADDRESS,...]
                         [--days N] [--key-type ecdsa-p256|rsa2048|rsa3072|rsa4096]

Set up secure PCP in one command: everything the walkthrough's fifteen openssl,
certutil and pk12util commands made. In DIR (default ./pcp-certs) it creates
three stores, all with an empty password:

  DIR/ca      the CA "PCP CA" with its key (kept here only: issue more
              certificates from it with certdb issue -d DIR/ca --ca "PCP CA")
  DIR/server  "PCP Collector certificate" (serverAuth) with its key, and the CA
              with trust CT,, to verify client certificates:
                collectord -C DIR/server -M "PCP Collector certificate" -Q
  DIR/client  "PCP client certificate" (clientAuth) with its key, and the CA
              with trust CT,, to verify the collector:
                PCP_SECURE_DB_PATH=DIR/client PCP_SECURE_SOCKETS=enforce pminfo -h HOST

The collector's certificate names this host (its host name and localhost,
127.0.0.1 and ::1) and the hosts and addresses given. The exact next commands
are printed. An existing DIR/ca, DIR/server or DIR/client is never overwritten;
the stores appear whole or not at all.

Examples:
  certdb quickstart
  certdb quickstart --dir /etc/pcp/tls --host pcp.example.com,pcp --ip 192.0.2.10
`
