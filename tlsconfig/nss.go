package tlsconfig

// NSS databases used in place. PCP 5 sites keep their collector's identity in
// sql:/etc/pcp/nssdb and each user's in $HOME/.pki/nssdb, made by certutil and
// pk12util as the PCP secure-connections walkthrough shows. Both daemons and
// pminfo read such a database directly (read-only, through certdb/nssdb), so
// switching needs no certificate step. We never write one: what pminfo learns
// at its trust prompt goes to the user's certdb store (~/.pki/gopcp), which is
// then read beside it.

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/nssdb"
	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
	"github.com/gopcp/gopcp/internal/shellquote"
)

// IsNSSDatabase reports whether dir ("sql:" prefix allowed) is an NSS database
// to be used in place: it holds cert9.db or key4.db (or the old cert8.db or
// key3.db, which are then refused with how to upgrade) and no certdb store.
// When a folder holds both, the certdb store wins: `certdb -d sql:DIR -N` puts
// one beside whatever NSS left there, and it is the one the person just made.
func IsNSSDatabase(dir string) bool {
	dir = cleanStoreDir(dir)
	return dir != "" && !store.Exists(dir) && nssdb.Exists(dir)
}

// storeExists reports whether dir holds something to read: a certdb store or an
// NSS database.
func storeExists(dir string) bool {
	dir = cleanStoreDir(dir)
	return dir != "" && (store.Exists(dir) || nssdb.Exists(dir))
}

func cleanStoreDir(dir string) string {
	if dir == "" {
		return ""
	}
	return filepath.Clean(strings.TrimPrefix(dir, "sql:"))
}

// describeStore names a store for error messages: "store DIR" or "NSS database
// sql:DIR".
func describeStore(dir string) string {
	if IsNSSDatabase(dir) {
		return "NSS database sql:" + cleanStoreDir(dir)
	}
	return "store " + cleanStoreDir(dir)
}

// LegacyNSSError: an NSS database from before NSS 3.49, in the DBM format
// (cert8.db, key3.db) or with its keys under PBE-SHA1-3DES (a database made by
// an old NSS, or converted from DBM). Changing its password with a current
// certutil converts both (checked with certutil 3.x on Debian: a DBM database
// becomes sql, and every key is re-encrypted with AES).
type LegacyNSSError struct {
	Dir  string
	What string // what is old about it
}

func (e *LegacyNSSError) Error() string {
	d := shellquote.Quote("sql:" + e.Dir)
	return fmt.Sprintf("NSS database %s is from before NSS 3.49 (%s), which is not read; back it up, then upgrade it in place with the current certutil: "+
		"certutil -W -d %s -f PWFILE -@ PWFILE (PWFILE holds its password, an empty file for the empty password PCP uses), "+
		"then use it as it is, or move it into a certdb store: certdb import-nss -d DIR --from %s -f PWFILE",
		safetext.Escape(e.Dir), e.What, d, d)
}

// nssSource is an NSS database opened for reading.
type nssSource struct {
	dir   string
	db    *nssdb.DB
	certs []nssdb.Cert
}

// openNSS opens the NSS database in dir, refusing the old formats with how to
// upgrade them.
func openNSS(dir string) (*nssSource, error) {
	dir = cleanStoreDir(dir)
	if _, err := os.Lstat(filepath.Join(dir, "cert9.db")); err != nil {
		for _, old := range []string{"cert8.db", "key3.db"} {
			if _, e := os.Lstat(filepath.Join(dir, old)); e == nil {
				return nil, &LegacyNSSError{Dir: dir, What: "the DBM format, " + old}
			}
		}
	}
	if err := checkNSSWritable(dir); err != nil {
		return nil, err
	}
	db, err := nssdb.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("NSS database sql:%s: %w", safetext.Escape(dir), err)
	}
	if db.LegacyEncryption() {
		return nil, &LegacyNSSError{Dir: dir, What: "keys encrypted with PBE-SHA1-3DES in key4.db"}
	}
	certs, err := db.Certificates()
	if err != nil {
		return nil, fmt.Errorf("NSS database sql:%s: %w", safetext.Escape(dir), err)
	}
	return &nssSource{dir: dir, db: db, certs: certs}, nil
}

// entries are the database's certificates as store entries (without key
// information: trust decisions do not depend on it).
func (n *nssSource) entries() []store.Entry {
	out := make([]store.Entry, 0, len(n.certs))
	for _, c := range n.certs {
		out = append(out, store.Entry{Nickname: c.Nickname, Cert: c.Cert, Trust: c.Trust})
	}
	return out
}

// keys decrypts the database's private keys; pwFrom says where the password
// came from, for the error a wrong one gets.
func (n *nssSource) keys(password []byte, pwFrom string) ([]nssdb.Key, error) {
	if !n.db.HasKeys() {
		return nil, nil
	}
	keys, err := n.db.Keys(password)
	if errors.Is(err, nssdb.ErrBadPassword) {
		return nil, fmt.Errorf("NSS database sql:%s: %s does not open its keys (key4.db); give the password certutil uses for it (%s)",
			safetext.Escape(n.dir), pwFrom, "a file whose first line is the password")
	}
	if err != nil {
		return nil, fmt.Errorf("NSS database sql:%s: %w", safetext.Escape(n.dir), err)
	}
	return keys, nil
}

// identity pairs the certificate c with its key among keys (by public key, as
// NSS pairs them by CKA_ID) and adds the issuers the database holds, stopping
// before a self-signed root as certdb does.
func (n *nssSource) identity(c *x509.Certificate, keys []nssdb.Key) (tls.Certificate, bool) {
	for _, k := range keys {
		pub, ok := k.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(c.PublicKey) {
			continue
		}
		tc := tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k.Signer, Leaf: c}
		for _, ic := range issuersIn(c, n.entries()) {
			if bytes.Equal(ic.RawSubject, ic.RawIssuer) {
				break
			}
			tc.Certificate = append(tc.Certificate, ic.Raw)
		}
		return tc, true
	}
	return tls.Certificate{}, false
}

// serverIdentity is the collector's certificate and key under nickname. NSS
// allows several certificates under one nickname (a renewed one beside the
// old); the one with a key that is valid now and lasts longest is used.
func (n *nssSource) serverIdentity(nickname string, password []byte, pwFrom string, now time.Time) (tls.Certificate, error) {
	d := shellquote.Quote("sql:" + n.dir)
	var named []*x509.Certificate
	for _, c := range n.certs {
		if c.Nickname == nickname {
			named = append(named, c.Cert)
		}
	}
	if len(named) == 0 {
		return tls.Certificate{}, fmt.Errorf("no certificate %s in NSS database sql:%s; certutil -L -d %s lists its nicknames",
			strconv.Quote(nickname), safetext.Escape(n.dir), d)
	}
	keys, err := n.keys(password, pwFrom)
	if err != nil {
		return tls.Certificate{}, err
	}
	var best tls.Certificate
	found := false
	for _, c := range named {
		id, ok := n.identity(c, keys)
		if !ok {
			continue
		}
		valid := !now.Before(c.NotBefore) && !now.After(c.NotAfter)
		if !found || valid && (now.After(best.Leaf.NotAfter) || c.NotAfter.After(best.Leaf.NotAfter)) {
			best, found = id, true
		}
	}
	if !found {
		return tls.Certificate{}, fmt.Errorf("certificate %s in NSS database sql:%s has no private key there; import the certificate with its key: pk12util -i FILE.p12 -d %s",
			strconv.Quote(nickname), safetext.Escape(n.dir), d)
	}
	return best, nil
}

// clientIdentities are the certificates with a key, not CAs (a CA key is never
// a TLS peer), under nickname when one is given.
func (n *nssSource) clientIdentities(nickname string, password []byte, pwFrom string) ([]tls.Certificate, error) {
	if !n.db.HasKeys() {
		return nil, nil
	}
	keys, err := n.keys(password, pwFrom)
	if err != nil {
		return nil, err
	}
	var out []tls.Certificate
	for _, c := range n.certs {
		if isCA(c.Cert) || nickname != "" && c.Nickname != nickname {
			continue
		}
		if id, ok := n.identity(c.Cert, keys); ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// issuersIn walks from c up through the issuers among entries that are not
// distrusted, nearest first (a self-signed root included last).
func issuersIn(c *x509.Certificate, entries []store.Entry) []*x509.Certificate {
	var chain []*x509.Certificate
	cur := c
	for len(chain) < 10 && !bytes.Equal(cur.RawSubject, cur.RawIssuer) {
		var next *x509.Certificate
		for _, e := range entries {
			if e.Trust.Distrusted() || e.Cert.Equal(cur) || !bytes.Equal(e.Cert.RawSubject, cur.RawIssuer) {
				continue
			}
			if cur.CheckSignatureFrom(e.Cert) == nil {
				next = e.Cert
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}

// entriesAnchors is storeAnchors for entries gathered from several sources (a
// certdb store and an NSS database): C or T anchors, CAs not distrusted as
// intermediates, and every p for this use, whichever source holds it (a
// distrust in either is honoured).
func entriesAnchors(entries []store.Entry, forClients bool) Anchors {
	a := Anchors{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for _, e := range entries {
		if forClients && e.Trust.TrustedClientCA() || !forClients && e.Trust.TrustedServerCA() {
			a.Roots.AddCert(e.Cert)
			a.NumRoots++
		}
		if e.Cert.IsCA && !e.Trust.Distrusted() {
			a.Intermediates.AddCert(e.Cert)
		}
		if e.Trust.DistrustedFor(forClients) {
			a.Distrusted = append(a.Distrusted, e.Cert)
		}
	}
	return a
}

// entriesPins are the trusted peers (P) among entries.
func entriesPins(entries []store.Entry) []pin {
	var out []pin
	for _, e := range entries {
		if e.Trust.TrustedPeer() {
			out = append(out, pin{cert: e.Cert, nickname: e.Nickname, host: pinnedHost(e.Nickname, e.Cert)})
		}
	}
	return out
}

// sourcedEntry is an entry with the store it came from, for hints.
type sourcedEntry struct {
	store.Entry
	dir string
	nss bool
}

// untrustedCA finds, among the stores' entries, the CA that issued a
// certificate of the server's chain but is not trusted for servers (the usual
// state after importing the walkthrough's PKCS#12, which brings the CA without
// C): the hint then names it instead of asking for a CA that is already there.
// The one nearest the root wins, since trusting it covers the rest.
func untrustedCA(chain []*x509.Certificate, entries []sourcedEntry) *sourcedEntry {
	var found *sourcedEntry
	for _, c := range chain {
		for i := range entries {
			e := &entries[i]
			if !e.Cert.IsCA || e.Trust.TrustedServerCA() || e.Trust.Distrusted() || !bytes.Equal(e.Cert.RawSubject, c.RawIssuer) {
				continue
			}
			if c.CheckSignatureFrom(e.Cert) == nil {
				found = e
				// Keep climbing from this CA: its own issuer may be there too.
				chain = append(chain, e.Cert)
				break
			}
		}
		if len(chain) > 12 {
			break
		}
	}
	return found
}

// trustWithC is e's trust with C added to the SSL position, so that the hint
// keeps whatever else the CA is trusted for (T for clients, say).
func trustWithC(t store.Trust) string {
	ssl := strings.NewReplacer("u", "", "p", "", "C", "").Replace(t.SSL)
	nt, err := store.ParseTrust("C" + ssl + "," + strings.ReplaceAll(t.Email, "u", "") + "," + strings.ReplaceAll(t.ObjSign, "u", ""))
	if err != nil {
		return "C,,"
	}
	return nt.String()
}

// caTrustHint is the command that trusts e for servers: certdb's for a certdb
// store, certutil's for an NSS database (which we only read).
func caTrustHint(e *sourcedEntry) string {
	if e.nss {
		return fmt.Sprintf("certutil -M -d %s -n %s -t %s", shellquote.Quote("sql:"+e.dir), shellquote.Quote(e.Nickname), shellquote.Quote(trustWithC(e.Trust)))
	}
	return fmt.Sprintf("certdb trust -d %s -n %s -t %s", shellquote.Quote(e.dir), shellquote.Quote(e.Nickname), shellquote.Quote(trustWithC(e.Trust)))
}

// addCRLInputs adds the database's CAs (issuers for crl_files) and its own CRLs
// (crlutil -I), each verified against a CA of the database like a CRL a certdb
// store holds; one that does not verify is a configuration error, as for a file.
func (n *nssSource) addCRLInputs(in *crlInputs) error {
	var cas []*x509.Certificate
	for _, c := range n.certs {
		if c.Cert.IsCA {
			cas = append(cas, c.Cert)
		}
	}
	in.cas = append(in.cas, cas...)
	where := "NSS database sql:" + safetext.Escape(n.dir) + " (cert9.db)"
	for _, der := range n.db.CRLs() {
		l, err := x509.ParseRevocationList(der)
		if err != nil {
			return fmt.Errorf("CRL in %s: %v", where, err)
		}
		ca, err := crlIssuer(l, cas)
		if err != nil {
			return fmt.Errorf("CRL in %s: %w", where, err)
		}
		in.stored = append(in.stored, store.StoredCRL{Path: where, List: l, Issuer: store.Entry{Cert: ca}})
	}
	return nil
}

// untrustedFix is the command for an UntrustedError: trust the CA the stores
// already hold (the nickname it has there), else add it where it will be read.
func (o ClientOptions) untrustedFix(chain []*x509.Certificate, entries []sourcedEntry) string {
	if e := untrustedCA(chain, entries); e != nil {
		return fmt.Sprintf("its CA is there as %s but not trusted for servers: %s", strconv.Quote(e.Nickname), caTrustHint(e))
	}
	if d := cleanStoreDir(o.StoreDir); d != "" && IsNSSDatabase(d) {
		return fmt.Sprintf("trust its CA with 'certutil -A -d %s -n NAME -t C,, -i ca.pem'", shellquote.Quote("sql:"+d))
	}
	return fmt.Sprintf("trust its CA with 'certdb add -d %s -n NAME -t C,, -i ca.pem'", shellquote.Quote(o.PinStoreDir()))
}

// identityNames are the nicknames of the certificates with a private key in
// the store or NSS database dir, found without any password (nickname filters
// them when set).
func identityNames(dir, nickname string) []string {
	var out []string
	add := func(n string) {
		if nickname == "" || n == nickname {
			out = append(out, n)
		}
	}
	switch {
	case store.Exists(dir):
		st, err := store.OpenCertificates(dir)
		if err != nil {
			return nil
		}
		for _, e := range st.Identities() {
			add(e.Nickname)
		}
	case nssdb.Exists(dir):
		n, err := openNSS(dir)
		if err != nil {
			return nil
		}
		for _, c := range n.certs {
			if !isCA(c.Cert) && n.db.HasKeyFor(c.ID) {
				add(c.Nickname)
			}
		}
	}
	return out
}

// checkNSSWritable refuses a database that users other than its owner could
// change: whoever can write cert9.db can add a trusted CA, and whoever can
// write the folder can put a database of their own in its place. NSS does not
// check this; we fail closed, as for a certdb store. (Owners are not checked: a
// collector's database is often owned by the pcp user and read by root.)
func checkNSSWritable(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("NSS database sql:%s: %w", safetext.Escape(dir), err)
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("NSS database sql:%s: the folder is writable by group or others (mode %04o), so anyone could replace the database; fix it with: chmod go-w %s",
			safetext.Escape(dir), fi.Mode().Perm(), shellquote.Quote(dir))
	}
	for _, f := range nssdb.Files(dir) {
		fi, err := os.Stat(f)
		if err != nil {
			continue // a missing file is nssdb.Open's to report
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("NSS database sql:%s: %s is writable by group or others (mode %04o), so anyone could add a trusted certificate; fix it with: chmod go-w %s",
				safetext.Escape(dir), filepath.Base(f), fi.Mode().Perm(), shellquote.Quote(f))
		}
	}
	return nil
}

// NSSDatabase is an NSS database opened for reading by a checker (collectord
// verify) through the same code the daemon uses, so that what it reports is
// what the collector would do.
type NSSDatabase struct {
	n *nssSource
}

// OpenNSSDatabase opens the NSS database in dir ("sql:" prefix allowed) as
// Server does: old formats and databases others can write are refused.
func OpenNSSDatabase(dir string) (*NSSDatabase, error) {
	n, err := openNSS(dir)
	if err != nil {
		return nil, err
	}
	return &NSSDatabase{n: n}, nil
}

// Dir is the database's folder, without "sql:".
func (d *NSSDatabase) Dir() string { return d.n.dir }

// Entries are the database's certificates with their trust (no key
// information).
func (d *NSSDatabase) Entries() []store.Entry { return d.n.entries() }

// HasKey reports whether a certificate under nickname has its private key in
// key4.db; no password is needed to know.
func (d *NSSDatabase) HasKey(nickname string) bool {
	for _, c := range d.n.certs {
		if c.Nickname == nickname && d.n.db.HasKeyFor(c.ID) {
			return true
		}
	}
	return false
}

// ServerIdentity is the collector's certificate and key under nickname, read
// with the password in passwordFile ("" for the empty one) as Server reads
// them: the same choice among several certificates under one nickname, the
// same chain, the same errors.
func (d *NSSDatabase) ServerIdentity(nickname, passwordFile string, now time.Time) (tls.Certificate, error) {
	pw, err := ReadPassword(passwordFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	pwFrom := "the empty password (no -P)"
	if passwordFile != "" {
		pwFrom = "the password in " + passwordFile + " (-P)"
	}
	return d.n.serverIdentity(nickname, pw, pwFrom, now)
}

// IdentityNames are the nicknames of the certificates with a private key in
// the certdb store or NSS database dir, found without a password (only
// nickname's when it is set).
func IdentityNames(dir, nickname string) []string {
	return identityNames(cleanStoreDir(dir), nickname)
}
