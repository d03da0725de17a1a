package main

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gopcp/gopcp/certdb/check"
	"github.com/gopcp/gopcp/certdb/nssdb"
	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
	"github.com/gopcp/gopcp/internal/shellquote"
	"github.com/gopcp/gopcp/tlsconfig"
)

// NSS databases used in place (-C sql:/etc/pcp/nssdb). The identity is read
// through tlsconfig as the daemon reads it; the findings are certdb/check's.
// We never write an NSS database, so every fix that changes one is certutil's.

// nssDir is the folder of an NSS database named with or without "sql:".
func nssDir(dir string) string { return filepath.Clean(strings.TrimPrefix(dir, "sql:")) }

// nssName is how certutil names the database: sql:DIR.
func nssName(dir string) string { return "sql:" + dir }

// checkNSS reads the collector's identity from an NSS database as the daemon
// would and checks it with certdb/check against the CAs the database trusts
// with C (what the site's clients trust, PCP's walkthrough gives both the
// same Root CA with CT,,).
func (v *verifier) checkNSS(c TLSConfig, this *check.Machine) *identity {
	dir := nssDir(c.CertDB)
	name := safetext.Escape(nssName(dir))
	v.checkNSSPerms(dir, c.PasswordFile)
	db, err := tlsconfig.OpenNSSDatabase(dir)
	if err != nil {
		msg := safetext.Escape(err.Error())
		if errors.Is(err, fs.ErrPermission) {
			msg += "; run as the collector's user (sudo -u pcp collectord verify --secure), or give that user the database"
		}
		v.failed("store", msg, "")
		return nil
	}
	entries := db.Entries()
	v.ok("store", "NSS database %s opened (%d certificates)", name, len(entries))
	list := shellquote.Join("certutil", "-L", "-d", nssName(dir))
	if c.Nickname == "" {
		v.failed("nickname", "no certificate nickname given: set tls.nickname (-M); "+list+" lists the database's nicknames", "")
		return nil
	}
	var named []*x509.Certificate
	for _, e := range entries {
		if e.Nickname == c.Nickname {
			named = append(named, e.Cert)
		}
	}
	if len(named) == 0 {
		msg := fmt.Sprintf("no certificate %s in NSS database %s; ", strconv.Quote(c.Nickname), name)
		var nicks []string
		for _, n := range tlsconfig.IdentityNames(dir, "") {
			nicks = append(nicks, strconv.Quote(n))
		}
		if len(nicks) > 0 {
			msg += "use one of its certificates with a key with -M (tls.nickname): " + strings.Join(nicks, ", ")
		} else {
			msg += "it holds no certificate with a key: import one with pk12util -i PKCS12-FILE -d " + shellquote.Quote(nssName(dir))
		}
		v.failed("nickname", msg, "")
		return nil
	}
	v.ok("nickname", "%q found", c.Nickname)

	// Under -Q the collector's CA usually issues the clients' certificates
	// too (the walkthrough's Root CA, CT,,): its trust fix then adds both
	// letters, so that it and the client CA fix agree, whichever runs last.
	letters := "C"
	if c.RequireClientCert {
		letters = "CT"
	}
	o := check.Options{Role: check.RoleServer, Now: v.now, ThisHost: this, Anchors: nssAnchors(dir, entries, letters)}
	var leaf *x509.Certificate
	if !db.HasKey(c.Nickname) {
		// Checked anyway, so that every other finding shows too; the daemon
		// refuses to start without the key.
		leaf = named[0]
		for _, n := range named[1:] {
			if n.NotAfter.After(leaf.NotAfter) {
				leaf = n
			}
		}
		o.Key = check.Key{State: check.KeyAbsent, Where: "in NSS database " + name,
			Fix: "a server presents its certificate with its key: import both from a PKCS#12 file (pk12util -i PKCS12-FILE -d " + shellquote.Quote(nssName(dir)) + ")"}
	} else {
		id, err := db.ServerIdentity(c.Nickname, c.PasswordFile, v.now)
		if err != nil {
			msg := safetext.Escape(err.Error())
			if errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) {
				msg += "; give the database's password file with -P (tls.password_file), readable by the collector's user, or drop -P for the empty password"
			}
			v.failed("password", msg, "")
			return nil
		}
		leaf = id.Leaf
		signer, _ := id.PrivateKey.(crypto.Signer)
		o.Key = check.Key{State: check.KeyHeld, Signer: signer, Where: "in NSS database " + name}
		for _, raw := range id.Certificate[1:] {
			if ic, err := x509.ParseCertificate(raw); err == nil {
				o.Chain = append(o.Chain, ic)
			}
		}
	}
	v.report(check.Certificate(leaf, o).Results...)
	return &identity{leaf: leaf}
}

// checkNSSPerms checks the database folder, its files and the password file.
// Whoever can write cert9.db can add a CA the collector trusts, so a database
// file others can write fails (the daemon refuses it); key4.db holds the keys,
// under the empty password on a walkthrough set-up, so others reading it fails
// too. cert9.db holds only certificates: others may read it.
func (v *verifier) checkNSSPerms(dir, passwordFile string) {
	fi, err := os.Stat(dir)
	if err != nil {
		return // opening it reports why
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		v.failed("permissions", fmt.Sprintf("%s is mode %04o: others can replace the database", safetext.Escape(dir), perm),
			shellquote.Join("chmod", "go-w", dir))
	} else {
		v.ok("permissions", "%s is mode %04o", safetext.Escape(dir), perm)
	}
	for _, f := range nssdb.Files(dir) {
		if filepath.Base(f) == "key4.db" {
			v.checkPerms("permissions", f, false, shellquote.Join("chmod", "600", f))
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o022 != 0 {
			v.failed("permissions", fmt.Sprintf("%s is mode %04o: others can add a trusted certificate", safetext.Escape(f), perm),
				shellquote.Join("chmod", "go-w", f))
		} else {
			v.ok("permissions", "%s is mode %04o", safetext.Escape(f), perm)
		}
	}
	if passwordFile != "" {
		v.checkPerms("permissions", passwordFile, false, shellquote.Join("chmod", "600", passwordFile))
	}
}

// nssAnchors are what clients of the site verify the collector with, taken
// from the database as PCP's walkthrough sets it up: CAs trusted with C, the
// other CAs (not distrusted) as intermediates, and trusted peers (P).
// letters is the trust the fix for a held but untrusted CA gives it.
func nssAnchors(dir string, entries []store.Entry, letters string) *check.Anchors {
	name := safetext.Escape(nssName(dir))
	a := &check.Anchors{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(),
		Source: "CAs trusted with C in NSS database " + name,
		Where:  "in NSS database " + name,
		Fix:    "add the CA that issued it: certutil -A -d " + shellquote.Quote(nssName(dir)) + " -n 'CA NAME' -t CT,, -i CA-CERTIFICATE-FILE",
		Trust: func(c *x509.Certificate) string {
			if e := heldUntrustedCA(c, entries, false); e != nil {
				return nssTrustFix(dir, *e, letters)
			}
			return ""
		},
	}
	n := 0
	for _, e := range entries {
		if e.Trust.TrustedServerCA() {
			a.Roots.AddCert(e.Cert)
			n++
		}
		if e.Cert.IsCA && !e.Trust.Distrusted() {
			a.Intermediates.AddCert(e.Cert)
		}
		if e.Trust.TrustedPeer() {
			a.Peers = append(a.Peers, e.Cert)
		}
	}
	if n == 0 {
		a.Empty = "NSS database " + name + " holds no CA trusted with C (trusted to issue server certificates); trust the CA that issued it with C (the fix, when the database holds it), or " + a.Fix
	}
	return a
}

// heldUntrustedCA finds, climbing from c through the issuers the database
// holds, the CA nearest the root that is not trusted for the role (C for
// servers, T for clients) and not distrusted: trusting it is the fix.
func heldUntrustedCA(c *x509.Certificate, entries []store.Entry, forClients bool) *store.Entry {
	var found *store.Entry
	cur := c
	for range 10 {
		var next *store.Entry
		for i := range entries {
			e := &entries[i]
			if !e.Cert.IsCA || e.Cert.Equal(cur) || !bytes.Equal(e.Cert.RawSubject, cur.RawIssuer) || cur.CheckSignatureFrom(e.Cert) != nil {
				continue
			}
			next = e
			break
		}
		if next == nil || next.Trust.Distrusted() {
			break
		}
		trusted := next.Trust.TrustedServerCA()
		if forClients {
			trusted = next.Trust.TrustedClientCA()
		}
		if !trusted {
			found = next
		}
		if bytes.Equal(next.Cert.RawSubject, next.Cert.RawIssuer) {
			break
		}
		cur = next.Cert
	}
	return found
}

// nssTrustFix is the certutil command that adds letters ("C" or "T") to e's
// SSL trust, keeping what else it is trusted for: a CA imported with a PKCS#12
// file has no trust at all, and the walkthrough's is CT,,.
func nssTrustFix(dir string, e store.Entry, letters string) string {
	keep := strings.Map(func(r rune) rune {
		// u is NSS's own mark for a certificate with a key, p a peer mark
		// that C and T replace; neither is given to certutil -t.
		if strings.ContainsRune("upCT", r) {
			return -1
		}
		return r
	}, e.Trust.SSL)
	ssl := ""
	for _, r := range "CT" { // in the order certutil prints them
		if strings.ContainsRune(letters, r) || strings.ContainsRune(e.Trust.SSL, r) {
			ssl += string(r)
		}
	}
	ssl += keep
	drop := func(s string) string { return strings.ReplaceAll(s, "u", "") }
	t := ssl + "," + drop(e.Trust.Email) + "," + drop(e.Trust.ObjSign)
	if _, err := store.ParseTrust(t); err != nil {
		t = letters + ",,"
	}
	return shellquote.Join("certutil", "-M", "-d", nssName(dir), "-n", e.Nickname, "-t", t)
}

// nssClientCAs reports -Q's client CAs from an NSS database (T trust), as the
// daemon counts them, and returns how many there are (0: the failure is
// reported with the certutil command that trusts the CA the database holds).
func (v *verifier) nssClientCAs(c TLSConfig) int {
	dir := nssDir(c.CertDB)
	db, err := tlsconfig.OpenNSSDatabase(dir)
	if err != nil {
		v.failed("client certificates", safetext.Escape(err.Error()), "")
		return 0
	}
	entries := db.Entries()
	n := 0
	for _, e := range entries {
		if e.Trust.TrustedClientCA() {
			n++
		}
	}
	if n > 0 {
		return n
	}
	// The CA that issued the collector's own certificate is the likely issuer of
	// the clients' too (the walkthrough has one Root CA): it gets C as well, as
	// the chain check's fix gives it T. Else any CA held.
	fix := ""
	for _, e := range entries {
		if e.Nickname == c.Nickname {
			if ca := heldUntrustedCA(e.Cert, entries, true); ca != nil {
				fix = nssTrustFix(dir, *ca, "CT")
				break
			}
		}
	}
	for _, e := range entries {
		if fix == "" && e.Cert.IsCA && !e.Trust.Distrusted() {
			fix = nssTrustFix(dir, e, "T")
		}
	}
	msg := "-Q is in effect but no CA in NSS database " + safetext.Escape(nssName(dir)) +
		" is trusted for client certificates (T): the collector refuses to start"
	if fix == "" {
		msg += "; add the CA that issues client certificates: certutil -A -d " + shellquote.Quote(nssName(dir)) + " -n 'CA NAME' -t CT,, -i CA-CERTIFICATE-FILE"
	} else {
		msg += "; trust the CA it holds with T"
	}
	v.failed("client certificates", msg, fix)
	return 0
}

// checkClientNSS reports a client NSS database (a user's ~/.pki/nssdb, or
// --client-store sql:DIR), which tlsconfig.Client reads in place: the
// certificates with a key it would present, found without the password (a
// wrong one shows at the handshake).
func (v *verifier) checkClientNSS(co tlsconfig.ClientOptions, required bool, advice string) {
	dir := nssDir(co.StoreDir)
	name := safetext.Escape(nssName(dir))
	if _, err := tlsconfig.OpenNSSDatabase(dir); err != nil {
		v.failed("client store", safetext.Escape(err.Error())+"; or "+advice, "")
		return
	}
	var ids []string
	for _, n := range tlsconfig.IdentityNames(dir, co.Nickname) {
		ids = append(ids, strconv.Quote(n))
	}
	switch {
	case len(ids) > 0:
		v.ok("client store", "NSS database %s, client certificate %s", name, safetext.Escape(strings.Join(ids, ", ")))
	case required:
		v.failed("client store", "NSS database "+name+" holds no client certificate and the collector requires one (-Q); import one with pk12util -i PKCS12-FILE -d "+
			shellquote.Quote(nssName(dir))+", or "+advice, "")
	default:
		v.ok("client store", "NSS database %s (no client certificate; the collector does not require one)", name)
	}
}
