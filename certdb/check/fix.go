package check

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
	"github.com/gopcp/gopcp/internal/shellquote"
)

// oidSAN is the subjectAltName extension (RFC 5280, 4.2.1.6).
var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

// hasSANExtension reports whether c carries a subjectAltName extension of any
// kind (DNS, IP, email, URI...): then, and only then, clients ignore its common
// name.
func hasSANExtension(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidSAN) {
			return true
		}
	}
	return false
}

// MatchHost reports whether a client connecting to host accepts c's names,
// and whether it does so only through the common name. The rule is the one NSS
// and OpenSSL apply, and our clients with them: the DNS and IP subjectAltNames
// when the certificate has a subjectAltName extension; when it has none at all,
// the common name, compared whole and without case (no wildcard), the
// walkthrough's "openssl x509 -req" certificates being made that way. An IP
// address never matches a common name (OpenSSL's rule; NSS would compare the
// text): an address is vouched for by an IP subjectAltName or not at all.
func MatchHost(c *x509.Certificate, host string) (ok, byCommonName bool) {
	host = strings.Trim(host, "[]")
	if hasSANExtension(c) {
		return c.VerifyHostname(host) == nil, false
	}
	cn := c.Subject.CommonName
	if cn == "" || host == "" {
		return false, false
	}
	if net.ParseIP(host) != nil {
		return false, false
	}
	return strings.EqualFold(strings.TrimSuffix(host, "."), strings.TrimSuffix(cn, ".")), true
}

// CheckThisHost names the result of ForHost.
const CheckThisHost = "this host"

// ForHost checks c as the certificate of the machine called names (its host
// name, its fully qualified name, localhost) and reached at addrs (the
// addresses clients use): PASS when it names them all; WARN when clients can use
// it by some of its names or addresses only (a name missing, the common name of
// a certificate without subjectAltName, IP addresses only); FAIL when no name
// or address of the machine is in it.
func ForHost(c *x509.Certificate, names, addrs []string, origin *Origin) Result {
	return forHost(c, names, addrs, origin, renewNames(c, Options{ThisHost: &Machine{Names: names, Addrs: addrs}}))
}

// forHost is ForHost with the names a renewal adds (renewNames).
func forHost(c *x509.Certificate, names, addrs []string, origin *Origin, extra []string) Result {
	var in, cnOnly, out, addrIn []string
	for _, n := range names {
		switch ok, byCN := MatchHost(c, n); {
		case ok && byCN:
			cnOnly = append(cnOnly, n)
		case ok:
			in = append(in, n)
		default:
			out = append(out, n)
		}
	}
	for _, a := range addrs {
		if ok, _ := MatchHost(c, a); ok {
			addrIn = append(addrIn, a)
		}
	}
	held := safetext.Escape(orNone(sanList(c)))
	if !hasSANExtension(c) {
		held = fmt.Sprintf("no subjectAltName, common name %q", c.Subject.CommonName)
	}
	role := RoleServer
	res := func(s Status, msg string) Result {
		r := Result{Name: CheckThisHost, Status: s, Message: msg}
		if s != Pass {
			how, fix := renewal(c, role, origin, extra)
			r.Message += "; " + how
			r.Fix = fix
		}
		return r
	}
	esc := func(s []string) string { return safetext.Escape(strings.Join(s, ", ")) }
	switch {
	case len(out) == 0 && len(cnOnly) == 0:
		return res(Pass, "the certificate names "+esc(in))
	case len(in) > 0:
		return res(Warn, fmt.Sprintf("the certificate does not name %s (it names %s): clients using those names will refuse it", esc(out), held))
	case len(cnOnly) > 0:
		return res(Warn, fmt.Sprintf("%s matched by the common name only (the certificate has no subjectAltName): clients accept it, NSS and OpenSSL with a warning", esc(cnOnly)))
	case !hasSANExtension(c) && c.Subject.CommonName != "":
		return res(Warn, fmt.Sprintf("the certificate names none of this host's names %s (%s): clients must connect by the name %q (an /etc/hosts or DNS entry for this host)",
			esc(out), held, c.Subject.CommonName))
	case len(addrIn) > 0:
		return res(Warn, fmt.Sprintf("the certificate names none of this host's names %s, only addresses (%s): clients must connect by address %s",
			esc(out), held, esc(addrIn)))
	}
	return res(Fail, fmt.Sprintf("the certificate names none of this host's names %s, nor its addresses %s (it names %s)", esc(out), esc(addrs), held))
}

// renewal says how to get a certificate like c with the names it has plus
// extra, and returns the command that does the first step, or "" when no
// command can (the certificate is a file of unknown origin).
func renewal(c *x509.Certificate, role Role, o *Origin, extra []string) (how, fix string) {
	sans := sanWords(c, extra)
	flag := "--server"
	if role == RoleClient {
		flag = "--client"
	}
	if o == nil || o.Store == "" {
		how = "issue a new certificate from the same CA"
		if sans != "" {
			how += " with subjectAltName " + safetext.Escape(sans)
		}
		return how + fmt.Sprintf(" (certdb issue %s --san, or openssl with -addext subjectAltName=...)", flag), ""
	}
	nick := o.NewNickname
	switch {
	case nick != "":
	case o.Nickname != "":
		nick = o.Nickname + " renewed"
	default:
		nick = role.String() + " renewed"
	}
	args := []string{"certdb"}
	if o.CANickname != "" && o.CAStore != "" {
		args = append(args, "issue", "-d", o.CAStore, "--ca", o.CANickname, "-n", nick, flag)
		if sans != "" {
			args = append(args, "--san", sans)
		}
		how = fmt.Sprintf("issue a new one from %q, whose key is in %s (the fix command), then use it as %q", o.CANickname, safetext.Escape(o.CAStore), nick)
		if o.CAStore != o.Store {
			how += " after moving it to " + safetext.Escape(o.Store) + " (certdb export, certdb import)"
		}
		return how, shellquote.Join(args...)
	}
	cn := c.Subject.CommonName
	if cn == "" || strings.IndexFunc(cn, notHostChar) >= 0 && net.ParseIP(cn) == nil {
		// A common name that is no host name (empty, or any text an issuer
		// put there) is not carried over: the request is for the host.
		cn = firstName(sans, nick)
	}
	dir := o.Dir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	base := filepath.Join(dir, fileWord(nick))
	args = append(args, "request", "-d", o.Store, "-n", nick, "--cn", cn, flag)
	if sans != "" {
		args = append(args, "--san", sans)
	}
	args = append(args, "-o", base+".csr")
	how = fmt.Sprintf("request a new one (the fix command), have the CA that issued this one (%s) sign %s keeping its extensions, then store it with: %s and use it as %q",
		safetext.Escape(c.Issuer.String()), shellquote.Quote(base+".csr"),
		shellquote.Join("certdb", "receive", "-d", o.Store, "-n", nick, "-i", base+".crt"), nick)
	return how, shellquote.Join(args...)
}

// sanWords is c's DNS and IP names plus extra, in certdb's --san list form.
func sanWords(c *x509.Certificate, extra []string) string {
	var words []string
	seen := map[string]bool{}
	addName := func(n string) {
		n = strings.Trim(n, "[]")
		if n == "" || net.ParseIP(n) == nil && strings.IndexFunc(n, notHostChar) >= 0 {
			return // not a host name (a common name may be any text)
		}
		w := "DNS:" + n
		if net.ParseIP(n) != nil {
			w = "IP:" + n
		}
		if k := strings.ToLower(w); !seen[k] {
			seen[k] = true
			words = append(words, w)
		}
	}
	for _, d := range c.DNSNames {
		addName(d)
	}
	for _, ip := range c.IPAddresses {
		addName(ip.String())
	}
	for _, e := range extra {
		addName(e)
	}
	return strings.Join(words, ",")
}

// notHostChar reports whether r cannot appear in a DNS name a certificate
// holds (letters, digits, hyphen, dot; _ and a leading * are seen in practice).
func notHostChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '*')
}

func firstName(sans, dflt string) string {
	if sans == "" {
		return dflt
	}
	first, _, _ := strings.Cut(sans, ",")
	_, n, _ := strings.Cut(first, ":")
	return n
}

// fileWord turns a nickname into a file name: letters, digits, - and _ only.
func fileWord(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return string(b)
}

// StoreOrigin returns the origin of cert, held in st under nickname: with the
// CA that issued it when st holds that CA's key. requestDir is where a fix
// writes a certificate request ("": the working folder).
func StoreOrigin(st *store.Store, nickname string, cert *x509.Certificate, requestDir string) *Origin {
	o := &Origin{Store: st.Dir(), Nickname: nickname, Dir: requestDir}
	// The renewed certificate needs a nickname the store does not hold yet,
	// as a certificate or as a request waiting for one.
	for i := 1; i < 100; i++ {
		n := nickname + " renewed"
		if i > 1 {
			n = fmt.Sprintf("%s renewed %d", nickname, i)
		}
		_, errCert := st.Get(n)
		_, errPending := st.PendingKey(n)
		if errCert != nil && errPending != nil {
			o.NewNickname = n
			break
		}
	}
	if ca := issuerWithKey(st, cert); ca != "" {
		o.CAStore, o.CANickname = st.Dir(), ca
	}
	return o
}

// issuerWithKey returns the nickname of the CA in st, held with its key, that
// signed c; "" when there is none.
func issuerWithKey(st *store.Store, c *x509.Certificate) string {
	for _, e := range st.Identities() {
		if e.Cert.IsCA && !e.Cert.Equal(c) && c.CheckSignatureFrom(e.Cert) == nil {
			return e.Nickname
		}
	}
	return ""
}

// trustCommand returns the certdb trust command that would complete c's chain
// in st: for the CA of st that signed c (or signed a CA of st that signed c)
// when it is not yet trusted for the role; "" when st holds no such CA.
func trustCommand(st *store.Store, c *x509.Certificate, forClients bool) string {
	entries := st.List()
	cur := c
	for range 8 { // chains are short; a loop of CAs must not hang us
		var up *store.Entry
		for i, e := range entries {
			if e.Cert.IsCA && !e.Cert.Equal(cur) && cur.CheckSignatureFrom(e.Cert) == nil {
				up = &entries[i]
				break
			}
		}
		if up == nil {
			return ""
		}
		trusted := forClients && up.Trust.TrustedClientCA() || !forClients && up.Trust.TrustedServerCA()
		if !trusted && (up.Cert.CheckSignatureFrom(up.Cert) == nil || len(entries) == 1) {
			return shellquote.Join("certdb", "trust", "-d", st.Dir(), "-n", up.Nickname, "-t", "CT,,")
		}
		if trusted {
			return "" // the chain failed for another reason
		}
		cur = up.Cert
	}
	return ""
}

// AnchorsFromCerts returns anchors made of the CA certificates cas, as a PCP
// tls.conf's tls-ca-cert-file gives them; source and where describe them for
// messages ("CAs of tls-ca-cert-file /etc/pcp/tls/ca.crt"), addCA says how to
// add one. No certificates: the chain check fails with that advice.
func AnchorsFromCerts(cas []*x509.Certificate, source, where, addCA string) *Anchors {
	a := &Anchors{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), Source: source, Where: where, Fix: addCA}
	for _, c := range cas {
		a.Roots.AddCert(c)
	}
	if len(cas) == 0 {
		a.Empty = "no CA certificate " + where + "; " + addCA
	}
	return a
}

// FileOptions control InFiles.
type FileOptions struct {
	Role          Role
	Hosts         []string
	Now           time.Time
	ExpiryWarning time.Duration
	Anchors       *Anchors
	ThisHost      *Machine // see Options.ThisHost
}

// ErrNoCertificate: the certificate file holds no certificate.
var ErrNoCertificate = errors.New("no certificate")

// InFiles checks the PEM certificate of certFile (followed by its chain, if
// any) with the private key of keyFile, as a PCP tls.conf names them
// (tls-cert-file, tls-key-file). It returns an error only when the certificate
// cannot be read; a key that cannot be read or does not match is a finding.
func InFiles(certFile, keyFile string, o FileOptions) (Report, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return Report{}, err
	}
	certs, err := store.ParseCertificates(data)
	if err != nil {
		return Report{}, fmt.Errorf("%s: %w", certFile, err)
	}
	if len(certs) == 0 {
		return Report{}, fmt.Errorf("%s: %w", certFile, ErrNoCertificate)
	}
	key := Key{State: KeyNotChecked, Where: "in " + safetext.Escape(keyFile)}
	if keyFile != "" {
		kd, err := os.ReadFile(keyFile)
		var k crypto.Signer
		if err == nil {
			k, err = store.ParsePrivateKey(kd)
		}
		if err != nil {
			key.State, key.Fix = KeyAbsent, fmt.Sprintf("%s: %s; install the key that goes with %s",
				safetext.Escape(keyFile), safetext.Escape(err.Error()), safetext.Escape(certFile))
		} else {
			key.State, key.Signer = KeyHeld, k
		}
	}
	return Certificate(certs[0], Options{Role: o.Role, Hosts: o.Hosts, Now: o.Now, ExpiryWarning: o.ExpiryWarning,
		Anchors: o.Anchors, Chain: certs[1:], Key: key, ThisHost: o.ThisHost}), nil
}
