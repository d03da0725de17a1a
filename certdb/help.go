package main

import (
	"fmt"
	"strings"
)

const exitHelp = `Exit status:
  0  success
  1  the operation failed; the message says what, on which file, and what to do
  2  usage error: unknown command or flag, missing or malformed argument
`

const storeHelp = `Store:
  -d, --dir DIR            the store's folder ("sql:" prefix accepted and ignored)
  -f, -k, --password-file FILE
                           file whose first line is the store's password; without
                           it the password is empty (PCP's stores always had one)
`

const trustLetters = `Trust attributes (-t) are three comma-separated positions, SSL,S/MIME,JAR/XPI,
each a set of letters with NSS certutil's meaning:
  C  trusted CA for server certificates    T  trusted CA for client certificates
  c  valid CA (not a trust anchor)         P  trusted peer (accepted as it is)
  p  prohibited (distrusted)               u  has a private key (shown, not set)
  w  warn                                  ,  next position ("CT,," = SSL only)
`

// Command groups, in the order --help shows them.
const (
	groupSetup   = "Issue certificates"
	groupStore   = "Manage a store (what certutil and pk12util did)"
	groupCheck   = "Check"
	groupMigrate = "Java keystores and NSS databases"
)

var groups = []string{groupSetup, groupStore, groupCheck, groupMigrate}

func mainHelp() string {
	var b strings.Builder
	b.WriteString(`certdb manages gopcp certificate stores: certificates under nicknames with NSS
trust attributes, and private keys encrypted under the store's password. It does
what certutil and pk12util did for PCP's NSS databases, issues the certificates
openssl made for them, checks them, and moves them to and from Java keystores
and NSS databases.

Usage: certdb COMMAND -d DIR [flags]
`)
	for _, g := range groups {
		head := false
		for _, c := range commands {
			if c.group == g || c.group == "" && g == groupStore {
				if !head {
					fmt.Fprintf(&b, "\n%s:\n", g)
					head = true
				}
				fmt.Fprintf(&b, "  %-18s %s", c.name, c.summary)
				if c.nss != "" {
					fmt.Fprintf(&b, " (%s)", c.nss)
				}
				b.WriteString("\n")
			}
		}
	}
	b.WriteString(`
The certutil forms work too: certdb -N -d DIR, certdb -A -d DIR -n NICK -t TRUST
-i FILE, certdb -L, -K, -M, -D and -F take the same flags as the commands above.

`)
	b.WriteString(storeHelp)
	b.WriteString("\n")
	b.WriteString(trustLetters)
	b.WriteString(`
Example: secure PCP in one command, then start the collector it prints:
  certdb quickstart --dir /etc/pcp/tls --host pcp.example.com

Example: a PCP collector's store (the NSS-era walkthrough, command for command):
  echo > /tmp/empty
  certdb create -d sql:/etc/pcp/nssdb -f /tmp/empty
  certdb add    -d sql:/etc/pcp/nssdb -t "CT,," -n "Root CA" -i rootCA.crt
  certdb add    -d sql:/etc/pcp/nssdb -t "P,," -n pmserver_cert -i pmserver.crt
  certdb import -d sql:/etc/pcp/nssdb -i pmserver_pkcs12.key -w p12pass.txt
  certdb list   -d sql:/etc/pcp/nssdb

`)
	b.WriteString(exitHelp)
	b.WriteString("\nRun 'certdb COMMAND --help' for a command's flags and examples, 'certdb --version' for\nthe version.\n")
	return b.String()
}

func commandHelp(c *command) string {
	return strings.TrimLeft(c.help, "\n") + "\n" + exitHelp
}

const createHelp = `
Usage: certdb create -d DIR [-f PASSWORDFILE]          (certutil -N -d DIR -f FILE)

Create an empty certificate store in DIR. The folder is created (mode 0700) if
it does not exist; a store already there is never overwritten. Private keys
added later are encrypted under the password read from -f (first line of the
file); without -f, or with an empty file, the password is empty.

` + storeHelp + `
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

  -n, --nickname NICKNAME  the name to store it under
  -t, --trust TRUST        trust attributes, e.g. "CT,," or "P,,"
  -i, --in FILE            the certificate
  -a, --ascii              accepted and ignored (input format is detected)
      --key KEYFILE        also store this unencrypted private key (PEM or DER,
                           PKCS#8, PKCS#1 or SEC 1); it must match the certificate
` + storeHelp + "\n" + trustLetters + `
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

  -n, --nickname NICKNAME  the certificate to show
  -a, --ascii              print it in PEM
` + storeHelp + `
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

` + storeHelp + `
Example:
  certdb keys -d sql:/etc/pcp/nssdb
`

const trustHelp = `
Usage: certdb trust -d DIR -n NICKNAME -t TRUST         (certutil -M)

Set the trust attributes of a stored certificate. A u in TRUST is ignored: it
only shows that a private key is held.

  -n, --nickname NICKNAME  the certificate
  -t, --trust TRUST        the new trust attributes
` + storeHelp + "\n" + trustLetters + `
Examples:
  certdb trust -d sql:/etc/pcp/nssdb -n "Root CA" -t "CT,,"
  certdb trust -d sql:/etc/pcp/nssdb -n "old CA" -t "p,p,p"
`

const deleteHelp = `
Usage: certdb delete -d DIR -n NICKNAME [-F]            (certutil -D, certutil -F)

Delete a certificate. If the store holds its private key, the deletion is
refused unless -F is given: a deleted key cannot be recovered, so export it
first if it may be needed again.

  -n, --nickname NICKNAME  the certificate
  -F, --delete-key         also delete its private key
` + storeHelp + `
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

  -i, --in FILE            the PKCS#12 file (.p12, .pfx, or pk12util's .key)
  -w, --p12-password-file FILE
                           file whose first line is the PKCS#12 password
  -n, --nickname NICKNAME  nickname for the certificate
` + storeHelp + `
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

  -n, --nickname NICKNAME  the certificate
  -o, --out FILE           the file to write
      --format p12|pem|der output format (default p12)
  -w, --p12-password-file FILE
                           file whose first line is the PKCS#12 password
      --with-key           PEM: include the private key
      --force              replace FILE if it exists
` + storeHelp + `
Examples:
  certdb export -d sql:/etc/pcp/nssdb -n pmserver_cert -o pmserver.p12 -w /tmp/p12pass
  certdb export -d sql:/etc/pcp/nssdb -n pmserver_cert -o /etc/pcp/tls/server.crt --format pem
  certdb export -d sql:/etc/pcp/nssdb -n pmserver_cert -o /etc/pcp/tls/server.key --format pem --with-key
  certdb export -d sql:/etc/pcp/nssdb -n "Root CA" -o rootCA.der --format der
`
