// Package check inspects a certificate the way a PCP collector or client will use
// it, and reports one result per check: validity and expiry, key usage for the
// role, the host names it must cover, the chain to a trusted CA, the private key
// and the strength of the algorithms. It returns structured results so that
// `certdb check` and `collectord verify --secure` print the same findings.
//
// A result that is not a pass says what to do; when one command does the next
// step, Result.Fix holds it, complete and quoted (internal/shellquote), so that
// it runs as printed. Host names are matched as NSS and OpenSSL clients match
// them (MatchHost): the subjectAltNames, or the common name of a certificate
// with no subjectAltName at all, which passes with a warning.
//
//	rep, err := check.InStore(st, "PCP Collector certificate", check.StoreOptions{
//		Role: check.RoleServer, Hosts: []string{"pcp.example.com"}})
//	for _, r := range rep.Results {
//		fmt.Println(r) // "PASS validity: valid until 2027-03-01 (463 days left)"
//	}
//	if rep.Failed() { ... }
package check

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
	"github.com/gopcp/gopcp/internal/shellquote"
)

// Status is the outcome of one check.
type Status int

// Statuses, from best to worst.
const (
	Pass Status = iota // fine
	Warn               // works, but needs attention (expiring soon, not checked...)
	Fail               // will not work as intended
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "PASS"
	case Warn:
		return "WARN"
	}
	return "FAIL"
}

// Check names, as they appear in results.
const (
	CheckValidity = "validity"
	CheckUsage    = "usage"
	CheckNames    = "names"
	CheckHost     = "host" // one result per host, Name "host NAME"
	CheckChain    = "chain"
	CheckKey      = "key"
	CheckStrength = "strength"
)

// Result is one check's outcome.
type Result struct {
	Name    string // CheckValidity, ..., or "host NAME"
	Status  Status
	Message string // one line, with what to do when not Pass
	// Fix, when set, is a complete shell command that runs as printed (every
	// word from a certificate or a path quoted with internal/shellquote) and
	// does the next step Message describes. Empty when no single command can:
	// Message then says what to do.
	Fix string
}

func (r Result) String() string {
	s := fmt.Sprintf("%s %s: %s", r.Status, r.Name, r.Message)
	if r.Fix != "" {
		s += "; fix: " + r.Fix
	}
	return s
}

// Report is the outcome of every check of one certificate.
type Report struct {
	Cert    *x509.Certificate
	Role    Role // as given, or inferred from the certificate
	Results []Result
}

// Worst returns the worst status of the results (Pass when there are none).
func (r Report) Worst() Status {
	w := Pass
	for _, x := range r.Results {
		if x.Status > w {
			w = x.Status
		}
	}
	return w
}

// Failed reports whether any check failed.
func (r Report) Failed() bool { return r.Worst() == Fail }

// Count returns how many results have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, x := range r.Results {
		if x.Status == s {
			n++
		}
	}
	return n
}

// Role is what the certificate is for.
type Role int

// Roles.
const (
	RoleAuto   Role = iota // inferred from extendedKeyUsage (server if it allows both or any)
	RoleServer             // a collector's certificate: serverAuth, names, chain to a C CA
	RoleClient             // a monitor's certificate: clientAuth, chain to a T CA
)

func (r Role) String() string {
	switch r {
	case RoleServer:
		return "server"
	case RoleClient:
		return "client"
	}
	return "auto"
}

// ParseRole reads "server", "client" or "" (RoleAuto).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(s) {
	case "":
		return RoleAuto, nil
	case "server", "collector":
		return RoleServer, nil
	case "client", "monitor":
		return RoleClient, nil
	}
	return RoleAuto, fmt.Errorf("role %q: want server or client", s)
}

// DefaultExpiryWarning is how close to its end a certificate gets a warning.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// Anchors are what the chain is checked against.
type Anchors struct {
	Roots         *x509.CertPool      // trust anchors for the role
	Intermediates *x509.CertPool      // other CAs that may complete the chain
	Peers         []*x509.Certificate // certificates accepted as they are (P)
	// Source says what the roots are, for messages: "CAs trusted with C in
	// /etc/pcp/tls/server".
	Source string
	// Where says where they come from: "in /etc/pcp/tls/server".
	Where string
	// Empty, when set, says why there are no anchors: the message of the
	// chain check, which fails.
	Empty string
	// Fix says how to add a CA, for messages (a template: the CA's file is
	// the person's to name).
	Fix string
	// Trust, when set, returns a complete command that trusts issuer (a CA
	// already held where the anchors come from, but not trusted for the
	// role), or "" when it is not held there.
	Trust func(issuer *x509.Certificate) string
	// NotChecked, when set, says why there is nothing to check the chain
	// against; the chain check is then a warning with this reason.
	NotChecked string
}

// KeyState says what is known of the certificate's private key.
type KeyState int

// Key states.
const (
	KeyNotChecked KeyState = iota // no key check (a lone certificate file)
	KeyAbsent                     // the store has no key for it
	KeyLocked                     // a key is held but the password was not given
	KeyHeld                       // Key.Signer is the key
)

// Key is the private key found for the certificate.
type Key struct {
	State  KeyState
	Signer crypto.Signer // when KeyHeld
	Where  string        // "in /etc/pcp/tls/server", for messages
	Fix    string        // what to do when absent
}

// Origin says where the certificate lives, so that a finding can come with a
// command that fixes it.
type Origin struct {
	Store    string // the store holding it ("" for a file)
	Nickname string // its nickname there
	// CAStore and CANickname name the CA that issued it when that CA's key is
	// in a store: the fix is then to issue a new certificate with certdb issue.
	// Without them the fix is a certdb request for the CA to sign.
	CAStore, CANickname string
	// Dir is where a request file is written (default: the working folder).
	Dir string
	// NewNickname is the nickname for the renewed certificate (default:
	// Nickname + " renewed").
	NewNickname string
}

// Options control Certificate.
type Options struct {
	Role          Role
	Hosts         []string // host names or IP addresses the certificate must cover
	Now           time.Time
	ExpiryWarning time.Duration // 0: DefaultExpiryWarning
	// Anchors for the chain check; nil: the chain is not checked (a warning).
	Anchors *Anchors
	// Chain holds certificates that came with the leaf (a PEM bundle), tried
	// as intermediates.
	Chain []*x509.Certificate
	Key   Key
	// Origin, when known, lets findings carry a fix command.
	Origin *Origin
	// ThisHost, when set, adds the CheckThisHost result (see ForHost) for the
	// machine the certificate serves.
	ThisHost *Machine
}

// Machine is a host a server certificate is for: the names and the addresses
// clients reach it by.
type Machine struct {
	Names, Addrs []string
}

// InferRole returns the role the certificate's extendedKeyUsage allows:
// RoleClient for clientAuth without serverAuth, else RoleServer.
func InferRole(c *x509.Certificate) Role {
	if allows(c, x509.ExtKeyUsageClientAuth) && !allows(c, x509.ExtKeyUsageServerAuth) {
		return RoleClient
	}
	return RoleServer
}

// allows reports whether c may be used for u: no extendedKeyUsage at all means
// any use, as in crypto/x509 and NSS.
func allows(c *x509.Certificate, u x509.ExtKeyUsage) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, e := range c.ExtKeyUsage {
		if e == u || e == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// Certificate runs every check on cert.
func Certificate(cert *x509.Certificate, o Options) Report {
	rep := certificate(cert, o)
	// Every result that needs a new certificate proposes the same one (see
	// renewNames); print its command once, so that each fix line runs on its
	// own and none fails because another made the certificate first.
	first := map[string]string{}
	for i, r := range rep.Results {
		if r.Fix == "" {
			continue
		}
		if name, ok := first[r.Fix]; ok {
			rep.Results[i].Fix = ""
			rep.Results[i].Message += fmt.Sprintf(" (the fix of the %q line does it)", name)
			continue
		}
		first[r.Fix] = r.Name
	}
	return rep
}

// renewNames are the names a renewed certificate needs besides those it has:
// the common name of a certificate without subjectAltName (clients match it
// today), and every host of o.Hosts and o.ThisHost.Names it does not name.
func renewNames(cert *x509.Certificate, o Options) []string {
	var extra []string
	if !hasSANExtension(cert) && cert.Subject.CommonName != "" {
		extra = append(extra, cert.Subject.CommonName)
	}
	hosts := append([]string{}, o.Hosts...)
	if o.ThisHost != nil {
		hosts = append(hosts, o.ThisHost.Names...)
	}
	for _, h := range hosts {
		if ok, byCN := MatchHost(cert, h); !ok || byCN {
			extra = append(extra, h)
		}
	}
	return extra
}

func certificate(cert *x509.Certificate, o Options) Report {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	warnBefore := o.ExpiryWarning
	if warnBefore == 0 {
		warnBefore = DefaultExpiryWarning
	}
	role := o.Role
	if role == RoleAuto {
		role = InferRole(cert)
	}
	rep := Report{Cert: cert, Role: role}
	add := func(name string, s Status, format string, args ...any) {
		rep.Results = append(rep.Results, Result{Name: name, Status: s, Message: fmt.Sprintf(format, args...)})
	}
	// addFix adds a result whose next step is a new certificate: the message
	// ends with how to get one, and Fix is the command that starts it.
	extra := renewNames(cert, o)
	addFix := func(name string, s Status, msg string) {
		how, fix := renewal(cert, role, o.Origin, extra)
		rep.Results = append(rep.Results, Result{Name: name, Status: s, Message: msg + "; " + how, Fix: fix})
	}

	// Validity and expiry.
	left := cert.NotAfter.Sub(now)
	days := int(math.Floor(left.Hours() / 24))
	switch {
	case now.Before(cert.NotBefore):
		add(CheckValidity, Fail, "not valid before %s (%s); check this host's clock, or wait", cert.NotBefore.UTC().Format(time.RFC3339), cert.NotBefore.Sub(now).Round(time.Minute))
	case now.After(cert.NotAfter):
		addFix(CheckValidity, Fail, fmt.Sprintf("expired on %s (%d days ago)", day(cert.NotAfter), int(now.Sub(cert.NotAfter).Hours()/24)))
	case left < warnBefore:
		addFix(CheckValidity, Warn, fmt.Sprintf("expires on %s, in %d days: renew it soon", day(cert.NotAfter), days))
	default:
		add(CheckValidity, Pass, "valid until %s (%d days left)", day(cert.NotAfter), days)
	}

	// Key usage for the role.
	var usage x509.ExtKeyUsage
	var want string
	if role == RoleClient {
		usage, want = x509.ExtKeyUsageClientAuth, "clientAuth"
	} else {
		usage, want = x509.ExtKeyUsageServerAuth, "serverAuth"
	}
	have := ekuNames(cert)
	switch {
	case !allows(cert, usage):
		addFix(CheckUsage, Fail, fmt.Sprintf("extendedKeyUsage is %s, without %s: a %s needs it", have, want, role))
	case cert.IsCA:
		add(CheckUsage, Warn, "this is a CA certificate; a %s should use a certificate issued by it (certdb issue)", role)
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 && !isRSA(cert):
		addFix(CheckUsage, Fail, fmt.Sprintf("keyUsage lacks digitalSignature, which a TLS %s with an %s key needs", role, keyDesc(cert.PublicKey)))
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		// An RSA key limited to keyEncipherment serves only TLS 1.2's RSA key
		// exchange, which Go does not offer by default and TLS 1.3 dropped;
		// clients that enforce keyUsage (OpenSSL, NSS) refuse it for ECDHE.
		addFix(CheckUsage, Warn, fmt.Sprintf("keyUsage lacks digitalSignature: a TLS %s with an RSA key needs it for TLS 1.3 and ECDHE, which clients that enforce keyUsage (OpenSSL, NSS) refuse without it", role))
	case len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0:
		add(CheckUsage, Pass, "no extendedKeyUsage extension, so any use is allowed (%s included)", want)
	default:
		add(CheckUsage, Pass, "extendedKeyUsage %s allows %s", have, want)
	}

	// Names. Clients match the host they connect to against the DNS and IP
	// subjectAltNames; a certificate with no subjectAltName extension at all is
	// matched against its common name instead, as NSS and OpenSSL do (and our
	// clients, see MatchHost), which works but deserves a warning.
	names := sanList(cert)
	if len(o.Hosts) == 0 && role == RoleServer {
		switch {
		case len(cert.DNSNames) > 0:
			add(CheckNames, Pass, "%s", safetext.Escape(strings.Join(names, ", ")))
		case len(cert.IPAddresses) > 0:
			addFix(CheckNames, Warn, fmt.Sprintf("only IP addresses (%s): clients must connect by address, never by name", strings.Join(names, ", ")))
		case !hasSANExtension(cert) && cert.Subject.CommonName != "":
			addFix(CheckNames, Warn, fmt.Sprintf("no subjectAltName: clients match the common name %q instead (as NSS and OpenSSL do), so they must connect by exactly that name", cert.Subject.CommonName))
		case hasSANExtension(cert):
			addFix(CheckNames, Fail, "no DNS or IP subjectAltName: clients ignore the common name when a subjectAltName extension is present, so no host name matches")
		default:
			addFix(CheckNames, Fail, "no subjectAltName and no common name: no host name matches")
		}
	}
	for _, h := range o.Hosts {
		host := strings.Trim(h, "[]")
		name := CheckHost + " " + safetext.Escape(h)
		switch ok, byCN := MatchHost(cert, host); {
		case ok && byCN:
			addFix(name, Warn, "matched by the common name only (the certificate has no subjectAltName, as the walkthrough's openssl x509 -req makes them); clients accept it with a warning")
		case ok:
			add(name, Pass, "covered")
		default:
			addFix(name, Fail, fmt.Sprintf("not covered (names: %s)", safetext.Escape(orNone(names))))
		}
	}
	if m := o.ThisHost; m != nil {
		rep.Results = append(rep.Results, forHost(cert, m.Names, m.Addrs, o.Origin, extra))
	}

	// Chain.
	checkChain(&rep, cert, o, now, role)

	// Key.
	switch o.Key.State {
	case KeyAbsent:
		fix := o.Key.Fix
		if fix == "" {
			fix = "import the certificate with its key (certdb import FILE.p12)"
		}
		add(CheckKey, Fail, "no private key %s; %s", o.Key.Where, fix)
	case KeyLocked:
		add(CheckKey, Warn, "a private key is held %s, but was not compared: give the store's password file with -f FILE", o.Key.Where)
	case KeyHeld:
		pub, ok := o.Key.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(cert.PublicKey) {
			add(CheckKey, Fail, "the private key %s does not match the certificate; import the right key", o.Key.Where)
		} else {
			add(CheckKey, Pass, "private key %s matches", o.Key.Where)
		}
	}

	// Algorithms.
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			add(CheckStrength, Fail, "RSA %d-bit key: too weak (OpenSSL and NSS refuse below 2048 bits); issue a new certificate", k.N.BitLen())
			return rep
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		add(CheckStrength, Fail, "public key type %s is not supported for TLS", cert.PublicKeyAlgorithm)
		return rep
	}
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.DSAWithSHA256, x509.MD2WithRSA:
		add(CheckStrength, Fail, "signed with %s, which TLS libraries refuse; have it signed again with SHA-256", cert.SignatureAlgorithm)
	default:
		add(CheckStrength, Pass, "%s key, signed with %s", keyDesc(cert.PublicKey), cert.SignatureAlgorithm)
	}
	return rep
}

func checkChain(rep *Report, cert *x509.Certificate, o Options, now time.Time, role Role) {
	fix := ""
	add := func(s Status, format string, args ...any) {
		rep.Results = append(rep.Results, Result{Name: CheckChain, Status: s, Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	// trustFix finds, among the certificate's own chain and the CAs the anchors'
	// source holds, one that would complete the chain if it were trusted.
	trustFix := func() string {
		if o.Anchors == nil || o.Anchors.Trust == nil {
			return ""
		}
		return o.Anchors.Trust(cert)
	}
	a := o.Anchors
	if a == nil {
		add(Warn, "not checked: no trusted CAs given (--ca-store DIR)")
		return
	}
	if a.NotChecked != "" {
		add(Warn, "not checked: %s", a.NotChecked)
		return
	}
	// A certificate trusted as a peer (P) is accepted as it is, but a chain to
	// a CA is what other clients can check: report the chain when there is one.
	peer := func() bool {
		for _, p := range a.Peers {
			if p.Equal(cert) {
				if selfSigned(cert) {
					add(Warn, "self-signed, trusted only as a peer (P) %s: every client must trust this very certificate; issue one from a CA instead (certdb quickstart, or certdb ca and certdb issue)", a.Where)
				} else {
					add(Pass, "trusted as a peer (P) %s", a.Where)
				}
				return true
			}
		}
		return false
	}
	if a.Empty != "" {
		if peer() {
			return
		}
		fix = trustFix()
		add(Fail, "%s", a.Empty)
		return
	}
	roots := a.Roots
	if roots == nil {
		// A nil pool would make crypto/x509 use the system's CAs, which are
		// not a PCP site's.
		roots = x509.NewCertPool()
	}
	inter := x509.NewCertPool()
	if a.Intermediates != nil {
		inter = a.Intermediates.Clone()
	}
	for _, c := range o.Chain {
		inter.AddCert(c)
	}
	verify := func(at time.Time) ([][]*x509.Certificate, error) {
		return cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	}
	chains, err := verify(now)
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired && (now.After(cert.NotAfter) || now.Before(cert.NotBefore)) {
		// Validity is its own check: try the chain at a moment the leaf is valid,
		// so that an expired leaf does not also fail here.
		at := cert.NotAfter
		if now.Before(cert.NotBefore) {
			at = cert.NotBefore
		}
		chains, err = verify(at)
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			if !peer() {
				add(Warn, "not checked: the certificate and its CAs were never valid at the same time")
			}
			return
		}
	}
	if err != nil && peer() {
		return
	}
	if err != nil {
		msg := err.Error()
		var ua x509.UnknownAuthorityError
		if errors.As(err, &ua) {
			msg = fmt.Sprintf("issuer %s is not among the %s", safetext.Escape(cert.Issuer.String()), a.Source)
		} else {
			msg = safetext.Escape(strings.TrimPrefix(msg, "x509: "))
		}
		how := a.Fix
		if how == "" {
			how = "add the issuing CA with trust " + trustLetter(role)
		}
		if fix = trustFix(); fix != "" {
			how = "it is held there but not trusted for this: trust it"
		}
		add(Fail, "%s; %s", msg, how)
		return
	}
	ch := chains[0]
	root := ch[len(ch)-1]
	if root.NotAfter.Before(now) {
		add(Fail, "reaches %s, which expired on %s; renew the CA", safetext.Escape(root.Subject.String()), day(root.NotAfter))
		return
	}
	var path []string
	for _, c := range ch[1:] {
		path = append(path, safetext.Escape(c.Subject.String()))
	}
	if len(path) == 0 {
		add(Pass, "the certificate itself is one of the %s", a.Source)
		return
	}
	add(Pass, "issued by %s, one of the %s", strings.Join(path, ", issued by "), a.Source)
}

// selfSigned reports whether c is signed by its own key (CheckSignatureFrom
// would refuse a parent that is not a CA).
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func trustLetter(r Role) string {
	if r == RoleClient {
		return "T (CT,,)"
	}
	return "C (CT,,)"
}

func isRSA(c *x509.Certificate) bool {
	_, ok := c.PublicKey.(*rsa.PublicKey)
	return ok
}

func keyDesc(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

var ekuName = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny: "any", x509.ExtKeyUsageServerAuth: "serverAuth", x509.ExtKeyUsageClientAuth: "clientAuth",
	x509.ExtKeyUsageCodeSigning: "codeSigning", x509.ExtKeyUsageEmailProtection: "emailProtection",
	x509.ExtKeyUsageTimeStamping: "timeStamping", x509.ExtKeyUsageOCSPSigning: "OCSPSigning",
}

func ekuNames(c *x509.Certificate) string {
	var n []string
	for _, u := range c.ExtKeyUsage {
		if s, ok := ekuName[u]; ok {
			n = append(n, s)
		} else {
			n = append(n, fmt.Sprintf("usage %d", u))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		n = append(n, oid.String())
	}
	if len(n) == 0 {
		return "absent"
	}
	return strings.Join(n, ", ")
}

func sanList(c *x509.Certificate) []string {
	var n []string
	for _, d := range c.DNSNames {
		n = append(n, "DNS:"+d)
	}
	for _, ip := range c.IPAddresses {
		n = append(n, "IP:"+ip.String())
	}
	return n
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// AnchorsFromStore returns the anchors of st for role: CAs trusted with C to
// verify a server's certificate, with T to verify a client's, the store's other
// CAs as intermediates and its trusted peers (P).
func AnchorsFromStore(st *store.Store, role Role) *Anchors {
	forClients := role == RoleClient
	letter := "C"
	if forClients {
		letter = "T"
	}
	a := &Anchors{
		Roots:         st.TrustedCAs(forClients),
		Intermediates: st.Intermediates(),
		Peers:         st.TrustedPeers(),
		Source:        fmt.Sprintf("CAs trusted with %s in %s", letter, st.Dir()),
		Where:         "in " + st.Dir(),
		Fix:           fmt.Sprintf("add the CA that issued it with its certificate file: certdb add -d %s -n 'CA NAME' -t CT,, -i CA-CERTIFICATE-FILE", shellquote.Quote(st.Dir())),
		Trust:         func(c *x509.Certificate) string { return trustCommand(st, c, forClients) },
	}
	n := 0
	for _, e := range st.List() {
		if forClients && e.Trust.TrustedClientCA() || !forClients && e.Trust.TrustedServerCA() {
			n++
		}
	}
	if n == 0 {
		a.Empty = fmt.Sprintf("%s holds no CA trusted with %s (trusted to issue %s certificates); %s", st.Dir(), letter, role, a.Fix)
	}
	return a
}

// StoreOptions control InStore.
type StoreOptions struct {
	Role          Role
	Hosts         []string
	Now           time.Time
	ExpiryWarning time.Duration
	// CAStore holds the trusted CAs; nil: the certificate's own store.
	CAStore *store.Store
	// RequestDir is where a fix that makes a certificate request writes it
	// ("": the working folder).
	RequestDir string
	ThisHost   *Machine // see Options.ThisHost
}

// InStore checks nickname's certificate in st, with its key (compared when st
// is unlocked) and its chain against the CAs of o.CAStore (or st).
func InStore(st *store.Store, nickname string, o StoreOptions) (Report, error) {
	e, err := st.Get(nickname)
	if err != nil {
		return Report{}, err
	}
	role := o.Role
	if role == RoleAuto {
		role = InferRole(e.Cert)
	}
	cas := o.CAStore
	if cas == nil {
		cas = st
	}
	key := Key{Where: "in " + st.Dir()}
	switch {
	case !e.HasKey:
		key.State = KeyAbsent
		key.Fix = fmt.Sprintf("a %s presents its certificate with its key: import both from a PKCS#12 file (certdb import -d %s -i PKCS12-FILE)", role, shellquote.Quote(st.Dir()))
	case st.Locked():
		key.State = KeyLocked
	default:
		k, err := st.PrivateKey(nickname)
		if err != nil {
			return Report{}, err
		}
		key.State, key.Signer = KeyHeld, k
	}
	chain, _ := st.Chain(nickname)
	origin := StoreOrigin(st, nickname, e.Cert, o.RequestDir)
	return Certificate(e.Cert, Options{Role: role, Hosts: o.Hosts, Now: o.Now, ExpiryWarning: o.ExpiryWarning,
		Anchors: AnchorsFromStore(cas, role), Chain: chain, Key: key, Origin: origin, ThisHost: o.ThisHost}), nil
}
