package tlsconfig

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
)

// Anchors is what a store or a tls.conf contributes to verifying one kind of
// peer (clients for a server, servers for a client).
type Anchors struct {
	// Roots are the trust anchors: C (servers) or T (clients) in a store, or the
	// tls.conf CA file and folder. Never the system bundle.
	Roots *x509.CertPool
	// Intermediates are CAs a chain may pass through (store CAs not distrusted).
	Intermediates *x509.CertPool
	// Distrusted are the store's certificates with p for this use; see
	// (*DistrustedError) for what matches one.
	Distrusted []*x509.Certificate
	// NumRoots counts the certificates in Roots: crypto/x509 cannot tell an
	// empty pool from a full one, and -Q without anchors is a configuration error.
	NumRoots int
}

// storeAnchors collects the anchors of st for verifying clients (forClients) or
// servers.
func storeAnchors(st *store.Store, forClients bool) Anchors {
	a := Anchors{Roots: st.TrustedCAs(forClients), Intermediates: st.Intermediates()}
	for _, e := range st.List() {
		if e.Trust.DistrustedFor(forClients) {
			a.Distrusted = append(a.Distrusted, e.Cert)
		}
		if forClients && e.Trust.TrustedClientCA() || !forClients && e.Trust.TrustedServerCA() {
			a.NumRoots++
		}
	}
	return a
}

// DistrustedError: a certificate of the peer's chain is marked p (prohibited) in
// the store. It is refused wherever it appears: as the peer's own certificate, as
// an intermediate the peer sent, or in the only chains that reach an anchor.
type DistrustedError struct {
	Role string // "client" or "server": whose chain held it
	Cert *x509.Certificate
	// Leaf is true when the distrusted certificate is the peer's own.
	Leaf bool
}

func (e *DistrustedError) Error() string {
	what := "an intermediate CA in the " + e.Role + "'s chain"
	if e.Leaf {
		what = e.Role + " certificate"
	}
	return fmt.Sprintf("%s %s (sha256 %s) is distrusted in the store (trust p); it is refused whoever issued it",
		what, safetext.Escape(e.Cert.Subject.String()), Fingerprint(e.Cert))
}

// distrusted returns the entry of d that c matches, or nil. A certificate matches
// when it is the same certificate, or when it carries the same public key under
// the same subject: distrust is about the key, and a CA that reissues its
// distrusted certificate (new serial, new dates) must not escape it that way.
func distrusted(c *x509.Certificate, d []*x509.Certificate) *x509.Certificate {
	for _, x := range d {
		if bytes.Equal(c.Raw, x.Raw) ||
			bytes.Equal(c.RawSubjectPublicKeyInfo, x.RawSubjectPublicKeyInfo) && bytes.Equal(c.RawSubject, x.RawSubject) {
			return x
		}
	}
	return nil
}

// CAAsLeafError: the peer (or our own identity) presented a CA certificate as
// its end-entity certificate. A CA key signs certificates; letting it also be a
// TLS peer means anybody holding it can impersonate every name.
type CAAsLeafError struct {
	Role string
	Cert *x509.Certificate
}

func (e *CAAsLeafError) Error() string {
	return fmt.Sprintf("%s certificate %s (sha256 %s) is a CA certificate (basicConstraints CA:TRUE) and cannot identify a %s; issue a %s certificate from the CA (certdb issue --%s)",
		e.Role, safetext.Escape(e.Cert.Subject.String()), Fingerprint(e.Cert), e.Role, e.Role, e.Role)
}

func isCA(c *x509.Certificate) bool { return c.BasicConstraintsValid && c.IsCA }

// verifyChain checks a peer's chain against a: the leaf is not a CA and not
// distrusted, no certificate the peer sent is distrusted, and some chain from the
// leaf to an anchor avoids every distrusted certificate. It returns the chains
// that pass, or the error of the first check that failed (x509 errors unchanged,
// for callers that look at them with errors.As).
func verifyChain(certs []*x509.Certificate, a Anchors, role string, usage x509.ExtKeyUsage, now time.Time) ([][]*x509.Certificate, error) {
	leaf := certs[0]
	if isCA(leaf) {
		return nil, &CAAsLeafError{Role: role, Cert: leaf}
	}
	for i, c := range certs {
		if distrusted(c, a.Distrusted) != nil {
			return nil, &DistrustedError{Role: role, Cert: c, Leaf: i == 0}
		}
	}
	inter := x509.NewCertPool()
	if a.Intermediates != nil {
		inter = a.Intermediates.Clone()
	}
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	roots := a.Roots
	if roots == nil {
		// A nil Roots would make crypto/x509 use the system bundle.
		roots = x509.NewCertPool()
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return nil, err
	}
	var ok [][]*x509.Certificate
	var bad *x509.Certificate
	for _, ch := range chains {
		clean := true
		for _, c := range ch {
			if distrusted(c, a.Distrusted) != nil {
				clean, bad = false, c
				break
			}
		}
		if clean {
			ok = append(ok, ch)
		}
	}
	if len(ok) == 0 {
		return nil, &DistrustedError{Role: role, Cert: bad}
	}
	return ok, nil
}

// describeChainError turns an x509 error into words for the error line; the
// names it quotes come from certificates, so they are escaped.
func describeChainError(err error) string {
	if err == nil {
		return "no reason given"
	}
	return safetext.Escape(strings.TrimPrefix(err.Error(), "x509: "))
}
