package main

import (
	"fmt"
	"strings"

	"github.com/gopcp/gopcp/internal/clidoc"
	urfave "github.com/urfave/cli/v2"
)

// Help is rendered from the command table (newApp): each command's usage line
// and description come from its help text below (cmd splits them), its flags
// from its Flags, and every help ends with the exit statuses.

const exitHelp = `Exit status:
  0  success
  1  the operation failed; the message says what, on which file, and what to do
  2  usage error: unknown command or flag, missing or malformed argument
`

const trustLetters = `Trust attributes (-t) are three comma-separated positions, SSL,S/MIME,JAR/XPI,
each a set of letters with NSS certutil's meaning:
  C  trusted CA for server certificates    T  trusted CA for client certificates
  c  valid CA (not a trust anchor)         P  trusted peer (accepted as it is)
  p  prohibited (distrusted)               u  has a private key (shown, not set)
  w  warn                                  ,  next position ("CT,," = SSL only)
`

// Command groups (urfave.Command.Category), in the order --help shows them.
const (
	groupSetup   = "Issue certificates"
	groupStore   = "Manage a store (what certutil and pk12util did)"
	groupCheck   = "Check"
	groupMigrate = "Java keystores and NSS databases"
)

func groups() []string { return []string{groupSetup, groupStore, groupCheck, groupMigrate} }

const mainIntro = `certdb manages gopcp certificate stores: certificates under nicknames with NSS
trust attributes, and private keys encrypted under the store's password. It does
what certutil and pk12util did for PCP's NSS databases, issues the certificates
openssl made for them, checks them, and moves them to and from Java keystores
and NSS databases.
`

const mainCertutil = `The certutil forms work too: certdb -N -d DIR, certdb -A -d DIR -n NICK -t TRUST
-i FILE, certdb -L, -K, -M, -D and -F take the same flags as the commands above.
`

const mainExamples = `Example: secure PCP in one command, then start the collector it prints:
  certdb quickstart --dir /etc/pcp/tls --host pcp.example.com

Example: a PCP collector's store (the NSS-era walkthrough, command for command):
  echo > /tmp/empty
  certdb create -d sql:/etc/pcp/nssdb -f /tmp/empty
  certdb add    -d sql:/etc/pcp/nssdb -t "CT,," -n "Root CA" -i rootCA.crt
  certdb add    -d sql:/etc/pcp/nssdb -t "P,," -n pmserver_cert -i pmserver.crt
  certdb import -d sql:/etc/pcp/nssdb -i pmserver_pkcs12.key -w p12pass.txt
  certdb list   -d sql:/etc/pcp/nssdb
`

// mainHelp is certdb --help: the commands by group (subcommands spelled out,
// "crl add"), the store's flags, trust letters, examples, exit statuses.
func mainHelp(app *urfave.App) string {
	var b strings.Builder
	b.WriteString(mainIntro)
	b.WriteString("\nUsage: certdb COMMAND -d DIR [flags]\n")
	for _, g := range groups() {
		head := false
		walk(app.Commands, "certdb", func(c *urfave.Command, full string) {
			if c.Category != g || c.Hidden || len(c.Subcommands) > 0 {
				return
			}
			if !head {
				fmt.Fprintf(&b, "\n%s:\n", g)
				head = true
			}
			b.WriteString(layout().Command(strings.TrimPrefix(full, "certdb "), c.Usage))
		})
		// Subcommands inherit their parent's group.
		for _, p := range app.Commands {
			if p.Category != g || p.Hidden {
				continue
			}
			for _, c := range p.Subcommands {
				b.WriteString(layout().Command(p.Name+" "+c.Name, c.Usage))
			}
		}
	}
	b.WriteString("\n" + mainCertutil + "\n")
	b.WriteString(layout().Flags(categoryStore, dirFlags(&opts{})))
	b.WriteString("\n" + trustLetters + "\n" + mainExamples + "\n" + exitHelp)
	b.WriteString("\nRun 'certdb COMMAND --help' for a command's flags and examples, 'certdb --version' for\nthe version.\n")
	return b.String()
}

// cmd fills a command's UsageText and Description from its help text: the
// "Usage:" line (and its continuation lines) first, then the description.
func cmd(c *urfave.Command, help string) *urfave.Command {
	lines := strings.Split(strings.Trim(help, "\n"), "\n")
	var usage []string
	i := 0
	for ; i < len(lines); i++ {
		l := lines[i]
		if i == 0 {
			usage = append(usage, strings.TrimPrefix(l, "Usage: "))
			continue
		}
		if !strings.HasPrefix(l, "       ") {
			break
		}
		usage = append(usage, strings.TrimPrefix(l, "       "))
	}
	c.UsageText = strings.Join(usage, "\n")
	c.Description = strings.Trim(strings.Join(lines[i:], "\n"), "\n")
	return c
}

// splitDescription cuts a description where its trailing sections start
// (trust letters, a command's own exit statuses, examples): the flags are
// shown between the two parts.
func splitDescription(d string) (prose, tail string) {
	lines := strings.Split(d, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Example") || strings.HasPrefix(l, "Trust attributes (-t)") || strings.HasPrefix(l, "Exit status:") {
			return strings.Trim(strings.Join(lines[:i], "\n"), "\n"), strings.Join(lines[i:], "\n")
		}
	}
	return d, ""
}

// commandHelp is a command's --help.
func commandHelp(c *urfave.Command, full string) string {
	var b strings.Builder
	b.WriteString(clidoc.Usage(strings.Split(c.UsageText, "\n")))
	prose, tail := splitDescription(c.Description)
	if prose != "" {
		b.WriteString("\n" + prose + "\n")
	}
	if len(c.Subcommands) > 0 {
		b.WriteString("\nCommands:\n")
		for _, s := range c.Subcommands {
			b.WriteString(layout().Command(s.Name, s.Usage))
		}
	}
	for _, g := range clidoc.GroupFlags(c.Flags, "Flags") {
		b.WriteString("\n" + layout().Flags(g.Title, g.Flags))
	}
	if tail != "" {
		b.WriteString("\n" + strings.TrimRight(tail, "\n") + "\n")
	}
	b.WriteString("\n" + exitHelp)
	return b.String()
}

// layout is certdb's --help: flag text from column 27, long-only flags
// lined up under the short ones' long names, command names in 18.
func layout() clidoc.Layout {
	return clidoc.Layout{FlagColumn: 27, AlignLong: true, CommandWidth: 18}
}

const createHelp = `
Usage: certdb create -d DIR [-f PASSWORDFILE]          (certutil -N -d DIR -f FILE)

Create an empty certificate store in DIR. The folder is created (mode 0700) if
it does not exist; a store already there is never overwritten. Private keys
added later are encrypted under the password read from -f (first line of the
file); without -f, or with an empty file, the password is empty.

Examples:
  echo > /tmp/empty
  certdb create -d sql:/etc/pcp/nssdb -f /tmp/empty
  certdb create -d $HOME/.pki/nssdb
`

const addHelp = `
Usage: certdb add -d DIR -n NICKNAME -t TRUST -i FILE [-a] [--key KEYFILE]
                                                        (certutil -A)

Add the certificate in FILE (PEM or DER, told apart by content; -a is accepted
for certutil compatibility; "-" reads stdin) under NICKNAME with TRUST. Adding
the same certificate again under the same nickname just sets its trust, as
certutil does. A nickname holding another certificate, or a certificate already
stored under another nickname, is refused. An expired certificate is stored
with a warning. A certificate for a key made by 'certdb request' joins that key
(as certutil -A does after certutil -R); -t may then be left out.

` + trustLetters + `
Examples:
  certdb add -d sql:/etc/pcp/nssdb -t "CT,," -n "Root CA" -i rootCA.crt
  certdb add -d sql:/etc/pcp/nssdb -t "P,," -n pmserver_cert -i pmserver.crt
  certdb add -d /etc/pcp/certdb -t ",," -n pmserver -i pmserver.crt --key pmserver.key
`

const listHelp = `
Usage: certdb list -d DIR [-n NICKNAME [-a]]            (certutil -L)

Without -n, list every certificate with its trust attributes, in the layout of
certutil -L (scripts that read certutil's output read this one). With -n, show
one certificate: subject, issuer, serial, validity, subject alternative names,
key usage, extended key usage, SHA-256 and SHA-1 fingerprints, trust. With -n
and -a, print it in PEM.

Examples:
  certdb list -d sql:/etc/pcp/nssdb
  certdb list -d sql:/etc/pcp/nssdb -n pmserver_cert
  certdb list -d sql:/etc/pcp/nssdb -n "Root CA" -a > rootCA.pem
`

const keysHelp = `
Usage: certdb keys -d DIR                               (certutil -K)

List the private keys held, as certutil -K does: index, key type, key ID (the
SHA-1 of the RSA modulus or of the EC public point, as NSS computes it) and the
nickname of the certificate the key belongs to. No password is needed.

Example:
  certdb keys -d sql:/etc/pcp/nssdb
`

const trustHelp = `
Usage: certdb trust -d DIR -n NICKNAME -t TRUST         (certutil -M)

Set the trust attributes of a stored certificate. A u in TRUST is ignored: it
only shows that a private key is held.

` + trustLetters + `
Examples:
  certdb trust -d sql:/etc/pcp/nssdb -n "Root CA" -t "CT,,"
  certdb trust -d sql:/etc/pcp/nssdb -n "old CA" -t "p,p,p"
`

const deleteHelp = `
Usage: certdb delete -d DIR -n NICKNAME [-F]            (certutil -D, certutil -F)

Delete a certificate. If the store holds its private key, the deletion is
refused unless -F is given: a deleted key cannot be recovered, so export it
first if it may be needed again.

Examples:
  certdb delete -d sql:/etc/pcp/nssdb -n "Root CA"
  certdb export -d sql:/etc/pcp/nssdb -n pmserver_cert -o backup.p12 -w p12pass.txt
  certdb delete -d sql:/etc/pcp/nssdb -n pmserver_cert -F
`

const importHelp = `
Usage: certdb import -d DIR -i FILE.p12 [-w P12PASSWORDFILE] [-k PASSWORDFILE]
                     [-n NICKNAME]                      (pk12util -i)

Import a PKCS#12 file: the certificate that matches its private key, the key,
and the other certificates of the file (its CA chain). The certificate goes
under NICKNAME; without -n, under the file's friendly name, else its subject's
common name, as pk12util does. If the certificate is already stored (added
first with certdb add -t "P,,", as the PCP walkthrough does) the key joins it
and its nickname and trust are kept. CA certificates not yet stored are added
with no trust, under their common name.

The PKCS#12 password is read from -w (first line of the file). Without -w, a
file with an empty password is imported as it is; otherwise certdb prompts
when stdin is a terminal, and fails asking for -w when it is not.

Examples:
  echo secret > /tmp/p12pass
  certdb import -d sql:/etc/pcp/nssdb -i pmserver_pkcs12.key -w /tmp/p12pass
  certdb import -d $HOME/.pki/nssdb -i pmclient_pkcs12.key -n pmclient_cert
`

const exportHelp = `
Usage: certdb export -d DIR -n NICKNAME -o FILE [--format p12|pem|der]
                     [-w P12PASSWORDFILE] [--with-key] [--force]   (pk12util -o)

Export a certificate. As PKCS#12 (the default) the file holds the certificate,
its private key and its issuers found in the store, root included (what
'openssl pkcs12 -export -certfile rootCA.crt' makes), encrypted under the
password read from -w (PBES2 AES-256, readable by OpenSSL, NSS and Java); on a
terminal certdb prompts for it instead. As PEM the file holds the certificate
and its intermediate issuers (the chain a server presents, as tls.conf's
tls-cert-file wants it), and with --with-key the unencrypted private key. As
DER it holds the certificate alone (what 'certutil -L -r' writes). Files
holding a key are written with mode 0600, others 0644. "-o -" writes to
stdout. An existing file is not replaced without --force; a file is written
whole (temporary file and rename) or not at all.

Examples:
  certdb export -d sql:/etc/pcp/nssdb -n pmserver_cert -o pmserver.p12 -w /tmp/p12pass
  certdb export -d sql:/etc/pcp/nssdb -n pmserver_cert -o /etc/pcp/tls/server.crt --format pem
  certdb export -d sql:/etc/pcp/nssdb -n pmserver_cert -o /etc/pcp/tls/server.key --format pem --with-key
  certdb export -d sql:/etc/pcp/nssdb -n "Root CA" -o rootCA.der --format der
`
