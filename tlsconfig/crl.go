package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
)

// Revocation (PCP itself has none).
//
// CRLs come from three places: the CRL files and folders of a tls.conf
// (tls-crl-file, tls-crl-dir), the daemons' TOML crl_files, and the crl/ folder of
// a certdb store (certdb crl add). Every CRL must be signed by a CA the
// configuration knows (a CA certificate in the store, or in the tls.conf CA file
// or folder): a CRL from anyone else, or one whose signature does not verify, is a
// configuration error naming the file, so a daemon never starts (or reloads)
// believing it checks revocation when it does not.
//
// A CRL past its nextUpdate is still used, with a warning in the log: the
// certificates it lists are still revoked, and refusing every client because a
// cron job was late would turn a stale list into an outage. Certificates revoked
// since are not known, which is what the warning says.
//
// The check runs after the usual verification has accepted the peer, so it can
// only refuse more. A certificate is refused when a CRL of its issuer (same
// subject and same public key as the CA certificate that verified the CRL) lists
// its serial number. Every chain from the peer's certificate to any CA the
// configuration knows is checked, leaf to last CA, so a revoked intermediate
// refuses every certificate below it, whether the peer sent it or the store
// holds it; a peer is refused when any of its chains holds a revoked certificate
// (fail closed: a cross-signed path does not launder a revocation). Each
// certificate the peer sent is also checked against the CRLs of the CAs whose key
// signed it, which covers certificates accepted without a chain (a pinned P,,
// peer, PCP_ALLOW_SERVER_SELF_CERT).

// CRLSet is the revocation lists in force for one TLS configuration.
type CRLSet struct {
	crls []*loadedCRL
	cas  []*x509.Certificate // the CAs known, to build the peer's chains from
	warn func(msg string, args ...any)

	poolOnce sync.Once
	roots    *x509.CertPool // cas, built once
}

type loadedCRL struct {
	source  string // the file it was read from, for log lines and errors
	list    *x509.RevocationList
	issuer  *x509.Certificate    // the CA whose key verified it
	revoked map[string]time.Time // serial (decimal) -> revocation date
	warned  atomic.Bool          // the stale warning was logged
}

// RevokedError is a certificate refused because a CRL of its issuer lists it.
type RevokedError struct {
	Role      string // "client certificate", "server certificate", "CA certificate"
	Cert      *x509.Certificate
	RevokedAt time.Time
	CRL       string // the CRL's file
	Issuer    string // the CRL's issuer, as a distinguished name
}

func (e *RevokedError) Error() string {
	// Subjects come from the peer and the CRL: escaped for the log and terminal.
	return fmt.Sprintf("%s \"%s\" (serial %s, sha256 %s) is revoked: revoked on %s by \"%s\" (CRL %s)",
		e.Role, safetext.Escape(e.Cert.Subject.String()), serialText(e.Cert), Fingerprint(e.Cert),
		e.RevokedAt.UTC().Format(time.RFC3339), safetext.Escape(e.Issuer), e.CRL)
}

// serialText is a serial number in hexadecimal, as openssl and certdb show it.
func serialText(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return "none"
	}
	return strings.ToUpper(c.SerialNumber.Text(16))
}

// crlInputs are where the CRLs of one configuration come from.
type crlInputs struct {
	files  []string          // CRL files (PEM, several blocks allowed, or DER)
	dirs   []string          // folders of CRL files
	stored []store.StoredCRL // already verified by the store
	cas    []*x509.Certificate
}

// loadCRLs reads and verifies every CRL; now decides which are stale.
func loadCRLs(in crlInputs, now time.Time, warn func(msg string, args ...any)) (*CRLSet, error) {
	set := &CRLSet{cas: in.cas, warn: warn}
	for _, s := range in.stored {
		set.add(s.Path, s.List, s.Issuer.Cert)
	}
	files := append([]string(nil), in.files...)
	for _, d := range in.dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, fmt.Errorf("CRL folder: %w", err)
		}
		for _, e := range ents {
			// Hidden files are temporary files of an atomic writer.
			if !strings.HasPrefix(e.Name(), ".") && !e.IsDir() {
				files = append(files, filepath.Join(d, e.Name()))
			}
		}
	}
	for _, f := range files {
		lists, err := readCRLFile(f)
		if err != nil {
			return nil, err
		}
		for _, l := range lists {
			ca, err := crlIssuer(l, in.cas)
			if err != nil {
				return nil, fmt.Errorf("CRL file %s: %w", f, err)
			}
			set.add(f, l, ca)
		}
	}
	for _, l := range set.crls {
		set.warnStale(l, now)
	}
	return set, nil
}

func (s *CRLSet) add(source string, l *x509.RevocationList, ca *x509.Certificate) {
	lc := &loadedCRL{source: source, list: l, issuer: ca, revoked: make(map[string]time.Time, len(l.RevokedCertificateEntries))}
	for _, e := range l.RevokedCertificateEntries {
		if e.SerialNumber != nil {
			lc.revoked[e.SerialNumber.String()] = e.RevocationTime
		}
	}
	s.crls = append(s.crls, lc)
}

// readCRLFile reads the CRLs of one file, naming the file in every error.
func readCRLFile(path string) ([]*x509.RevocationList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("CRL file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("CRL file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > store.MaxCRLSize {
		return nil, fmt.Errorf("CRL file %s: not a regular file of at most %d bytes", path, store.MaxCRLSize)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return nil, fmt.Errorf("CRL file %s: %w", path, err)
	}
	lists, err := store.ParseCRLs(data)
	if err != nil {
		return nil, fmt.Errorf("CRL file %s: %w", path, err)
	}
	return lists, nil
}

// crlIssuer finds the CA among cas that signed l.
func crlIssuer(l *x509.RevocationList, cas []*x509.Certificate) (*x509.Certificate, error) {
	var sigErr error
	for _, ca := range cas {
		if !bytes.Equal(ca.RawSubject, l.RawIssuer) {
			continue
		}
		err := l.CheckSignatureFrom(ca)
		if err == nil {
			return ca, nil
		}
		sigErr = err
	}
	if sigErr != nil {
		return nil, fmt.Errorf("its signature does not verify with the key of the CA \"%s\": %v", safetext.Escape(l.Issuer.String()), sigErr)
	}
	return nil, fmt.Errorf("it is issued by \"%s\", which is not a configured CA; add that CA certificate (store, or tls-ca-cert-file) or remove the CRL", safetext.Escape(l.Issuer.String()))
}

// warnStale logs, once per CRL, that it is past its nextUpdate.
func (s *CRLSet) warnStale(l *loadedCRL, now time.Time) {
	if s.warn == nil || l.list.NextUpdate.IsZero() || !now.After(l.list.NextUpdate) || l.warned.Swap(true) {
		return
	}
	s.warn("CRL is past its next update; still using it, but certificates revoked since are not known: install the CA's new CRL",
		"crl", l.source, "issuer", safetext.Escape(l.list.Issuer.String()), "next_update", l.list.NextUpdate.UTC().Format(time.RFC3339))
}

// Len is the number of CRLs in the set.
func (s *CRLSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.crls)
}

// lookup returns the revocation of c by the CA certificate issuer, or nil.
func (s *CRLSet) lookup(c, issuer *x509.Certificate, role string, now time.Time) *RevokedError {
	for _, l := range s.crls {
		if !bytes.Equal(l.issuer.RawSubject, issuer.RawSubject) ||
			!bytes.Equal(l.issuer.RawSubjectPublicKeyInfo, issuer.RawSubjectPublicKeyInfo) {
			continue
		}
		s.warnStale(l, now)
		if t, ok := l.revoked[c.SerialNumber.String()]; ok {
			return &RevokedError{Role: role, Cert: c, RevokedAt: t, CRL: l.source, Issuer: l.list.Issuer.String()}
		}
	}
	return nil
}

// CheckPeer refuses a peer (its certificate first, then what it sent with it)
// when a certificate of any of its chains, or one it sent, is revoked; role
// names the peer's certificate ("client certificate"). The error is a
// *RevokedError.
func (s *CRLSet) CheckPeer(certs []*x509.Certificate, role string, now time.Time) error {
	if s.Len() == 0 || len(certs) == 0 {
		return nil
	}
	roots, inter := s.pools()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	// Any CA the configuration knows is a root here: this builds the paths the
	// verification may have used, it decides no trust.
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err == nil {
		for _, ch := range chains {
			if err := s.checkChain(ch, role, now); err != nil {
				return err
			}
		}
	}
	for i, c := range certs {
		r := role
		if i > 0 {
			r = "CA certificate in the chain of the " + role
		}
		if err := s.CheckUnchained(c, r, now); err != nil {
			return err
		}
	}
	return nil
}

// pools are the CAs as roots and as intermediates: in both, because a CA that is
// only a root ends the chain there and the CRL of the CA above it would never be
// consulted. inter is a copy the caller may add to.
func (s *CRLSet) pools() (roots, inter *x509.CertPool) {
	s.poolOnce.Do(func() {
		s.roots = x509.NewCertPool()
		for _, c := range s.cas {
			s.roots.AddCert(c)
		}
	})
	return s.roots, s.roots.Clone()
}

func (s *CRLSet) checkChain(ch []*x509.Certificate, role string, now time.Time) error {
	for i := 0; i+1 < len(ch); i++ {
		r := role
		if i > 0 {
			r = "CA certificate in the chain of the " + role
		}
		if e := s.lookup(ch[i], ch[i+1], r, now); e != nil {
			return e
		}
	}
	return nil
}

// CheckUnchained checks a certificate accepted without a verified chain: it is
// refused when a CRL's CA signed it and the CRL lists it.
func (s *CRLSet) CheckUnchained(c *x509.Certificate, role string, now time.Time) error {
	for _, l := range s.crlsFor(c) {
		s.warnStale(l, now)
		if t, ok := l.revoked[c.SerialNumber.String()]; ok {
			return &RevokedError{Role: role, Cert: c, RevokedAt: t, CRL: l.source, Issuer: l.list.Issuer.String()}
		}
	}
	return nil
}

func (s *CRLSet) crlsFor(c *x509.Certificate) []*loadedCRL {
	if s.Len() == 0 {
		return nil
	}
	var out []*loadedCRL
	for _, l := range s.crls {
		if bytes.Equal(c.RawIssuer, l.list.RawIssuer) && c.CheckSignatureFrom(l.issuer) == nil {
			out = append(out, l)
		}
	}
	return out
}

// storeCAs are the CA certificates of a store, whatever their trust: a CRL may
// come from an intermediate CA the store holds without trusting it directly.
func storeCAs(st *store.Store) []*x509.Certificate {
	var out []*x509.Certificate
	for _, e := range st.List() {
		if e.Cert.IsCA {
			out = append(out, e.Cert)
		}
	}
	return out
}

// caCerts reads the certificates of tls-ca-cert-file and tls-ca-cert-dir.
func (c *TLSConf) caCerts() ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, f := range c.caFiles() {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: CA file: %w", c.Path, err)
		}
		// Files in a CA folder that hold no certificate are skipped, as AddCAs does.
		if certs, err := store.ParseCertificates(b); err == nil {
			out = append(out, certs...)
		}
	}
	return out, nil
}

// crlInputsFor gathers the CRL sources and candidate CAs of a configuration: a
// store (may be nil), a tls.conf (may be nil) and extra files.
func crlInputsFor(st *store.Store, conf *TLSConf, extra []string) (crlInputs, error) {
	in := crlInputs{files: append([]string(nil), extra...)}
	if st != nil {
		stored, err := st.CRLs()
		if err != nil {
			return in, fmt.Errorf("certificate store %s: %w", st.Dir(), err)
		}
		in.stored = stored
		in.cas = append(in.cas, storeCAs(st)...)
	}
	if conf != nil {
		in.files = append(in.files, conf.CRLFiles...)
		if conf.CRLDir != "" {
			in.dirs = append(in.dirs, conf.CRLDir)
		}
		if len(conf.CRLFiles) > 0 || conf.CRLDir != "" || len(extra) > 0 {
			cas, err := conf.caCerts()
			if err != nil {
				return in, err
			}
			in.cas = append(in.cas, cas...)
		}
	}
	return in, nil
}

// crlFiles lists the CRL files and folders a configuration reads, for the
// daemons' file watch: a new CRL is applied like a new certificate.
func crlFiles(storeDir string, conf *TLSConf, extra []string) []string {
	files := append([]string(nil), extra...)
	dirs := []string{}
	if storeDir != "" {
		dirs = append(dirs, filepath.Join(strings.TrimPrefix(storeDir, "sql:"), store.CRLDirName))
	}
	if conf != nil {
		files = append(files, conf.CRLFiles...)
		if conf.CRLDir != "" {
			dirs = append(dirs, conf.CRLDir)
		}
	}
	for _, d := range dirs {
		// The folder itself too: a CRL added to it changes its mtime, and a
		// store's crl/ folder may not exist yet when the daemon starts.
		files = append(files, d)
		if ents, err := os.ReadDir(d); err == nil {
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), ".") {
					files = append(files, filepath.Join(d, e.Name()))
				}
			}
		}
	}
	sort.Strings(files)
	return files
}

// loadRevocation reads the server's CRLs from what the options name (see
// crlInputsFor); nil when there are none. After the client-certificate
// verification accepts a client, CheckPeer may still refuse it (clientVerifier).
func (o ServerOptions) loadRevocation(now func() time.Time) (*CRLSet, error) {
	var (
		st   *store.Store
		conf *TLSConf
		nss  *nssSource
		err  error
	)
	switch {
	case o.Store != "" && IsNSSDatabase(o.Store):
		if nss, err = openNSS(o.Store); err != nil {
			return nil, err
		}
	case o.Store != "":
		if st, err = store.OpenCertificates(o.Store); err != nil {
			return nil, fmt.Errorf("certificate store: %w", err)
		}
	case o.TLSConf != "":
		if conf, err = ParseTLSConf(o.TLSConf); err != nil {
			return nil, err
		}
	}
	in, err := crlInputsFor(st, conf, o.CRLFiles)
	if err != nil {
		return nil, err
	}
	if nss != nil {
		if err := nss.addCRLInputs(&in); err != nil {
			return nil, err
		}
	}
	if err := o.Java.addCRLInputs(&in); err != nil {
		return nil, err
	}
	var warn func(string, ...any)
	if o.Logger != nil {
		warn = o.Logger.Warn
	}
	crls, err := loadCRLs(in, now(), warn)
	if err != nil || crls.Len() == 0 {
		return nil, err
	}
	return crls, nil
}

// addRevocation puts the client's CRLs in force: after the server verification
// accepts the server (a CA chain, a pinned certificate, or an ALLOW variable),
// CheckPeer may still refuse it. The store is read without its password.
func (o ClientOptions) addRevocation(cfg *tls.Config, now func() time.Time) error {
	var (
		st   *store.Store
		conf *TLSConf
		err  error
	)
	if o.StoreDir != "" && store.Exists(o.StoreDir) {
		if st, err = store.OpenCertificates(o.StoreDir); err != nil {
			return fmt.Errorf("certificate store %s: %w", o.StoreDir, err)
		}
	}
	if _, serr := os.Stat(o.TLSConf); o.TLSConf != "" && serr == nil {
		if conf, err = ParseTLSConf(o.TLSConf); err != nil {
			return err
		}
	}
	in, err := crlInputsFor(st, conf, o.CRLFiles)
	if err != nil {
		return err
	}
	if j, err := o.clientJava(conf); err != nil {
		return err
	} else if err := j.addCRLInputs(&in); err != nil {
		return err
	}
	warn := func(msg string, args ...any) {
		var b strings.Builder
		b.WriteString(msg)
		for i := 0; i+1 < len(args); i += 2 {
			fmt.Fprintf(&b, " %v=%v", args[i], args[i+1])
		}
		o.warn("%s", b.String())
	}
	crls, err := loadCRLs(in, now(), warn)
	if err != nil || crls.Len() == 0 {
		return err
	}
	next := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if next != nil {
			if err := next(cs); err != nil {
				return err
			}
		}
		return crls.CheckPeer(cs.PeerCertificates, "server certificate", now())
	}
	return nil
}
