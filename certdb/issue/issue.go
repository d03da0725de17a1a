// Package issue makes keys, CA certificates, server and client certificates and
// certificate signing requests: what a PCP site did with a dozen openssl commands
// (genrsa, req -x509, req -new, x509 -req -CA) before certdb.
//
// Certificates are X.509 v3 with a random 128-bit serial, a subject key identifier
// (SHA-1 of the public key, RFC 5280 section 4.2.1.2 method 1) and, below a CA, an
// authority key identifier. A CA has basicConstraints CA:TRUE, pathlen 0 and
// keyUsage keyCertSign, cRLSign, digitalSignature. A leaf has keyUsage
// digitalSignature (and keyEncipherment for RSA keys, which TLS 1.2 RSA key
// exchange needs), extendedKeyUsage serverAuth and/or clientAuth, and its subject
// alternative names.
package issue

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
)

// Errors; test with errors.Is.
var (
	// ErrNotCA: the certificate asked to sign is not a CA (basicConstraints
	// CA:FALSE or absent, or keyUsage without keyCertSign).
	ErrNotCA = errors.New("not a CA certificate")
	// ErrBadOption: an unusable option (key type, days, SAN...).
	ErrBadOption = errors.New("bad option")
	// ErrKeyMismatch: the CA's key is not the key of its certificate.
	ErrKeyMismatch = errors.New("key does not match the certificate")
)

// Defaults.
const (
	// DefaultCADays is the lifetime of a new CA: ten years, as the PCP
	// walkthrough's `openssl req -x509 -days 3650`.
	DefaultCADays = 3650
	// DefaultLeafDays is the lifetime of a server or client certificate.
	DefaultLeafDays = 825
	// MaxDays bounds any lifetime (about 100 years).
	MaxDays = 36500
	// backdate moves NotBefore back to tolerate clocks a little behind.
	backdate = 5 * time.Minute
)

// KeyType names a kind of key certdb makes.
type KeyType string

// Key types.
const (
	ECDSAP256 KeyType = "ecdsa-p256"
	RSA2048   KeyType = "rsa2048"
	RSA3072   KeyType = "rsa3072"
	RSA4096   KeyType = "rsa4096"
)

// KeyTypes lists the key types, the default first.
var KeyTypes = []KeyType{ECDSAP256, RSA2048, RSA3072, RSA4096}

// ParseKeyType reads a --key-type value; "" is the default, ECDSA P-256.
// "ec", "ecdsa", "p256", "rsa" (2048 bits) are accepted as well.
func ParseKeyType(s string) (KeyType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "ecdsa-p256", "ecdsa", "ec", "p256", "p-256", "prime256v1", "secp256r1":
		return ECDSAP256, nil
	case "rsa2048", "rsa", "rsa-2048":
		return RSA2048, nil
	case "rsa3072", "rsa-3072":
		return RSA3072, nil
	case "rsa4096", "rsa-4096":
		return RSA4096, nil
	}
	return "", fmt.Errorf("key type %q is not supported (want one of %s): %w", s, keyTypeList(), ErrBadOption)
}

func keyTypeList() string {
	var s []string
	for _, k := range KeyTypes {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// GenerateKey makes a new private key of type t.
func GenerateKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case ECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("key type %q is not supported (want one of %s): %w", t, keyTypeList(), ErrBadOption)
}

// SANs are subject alternative names.
type SANs struct {
	DNS    []string
	IPs    []net.IP
	Emails []string
	URIs   []*url.URL
}

// Empty reports whether there are no names.
func (s SANs) Empty() bool {
	return len(s.DNS)+len(s.IPs)+len(s.Emails)+len(s.URIs) == 0
}

// String prints the names as openssl does: "DNS:a, IP:1.2.3.4".
func (s SANs) String() string {
	var out []string
	for _, d := range s.DNS {
		out = append(out, "DNS:"+d)
	}
	for _, ip := range s.IPs {
		out = append(out, "IP:"+ip.String())
	}
	for _, e := range s.Emails {
		out = append(out, "email:"+e)
	}
	for _, u := range s.URIs {
		out = append(out, "URI:"+u.String())
	}
	return strings.Join(out, ", ")
}

// Add adds names not yet present.
func (s *SANs) Add(o SANs) {
	for _, d := range o.DNS {
		s.AddDNS(d)
	}
	for _, ip := range o.IPs {
		s.AddIP(ip)
	}
	for _, e := range o.Emails {
		if !containsFold(s.Emails, e) {
			s.Emails = append(s.Emails, e)
		}
	}
	for _, u := range o.URIs {
		dup := false
		for _, v := range s.URIs {
			dup = dup || v.String() == u.String()
		}
		if !dup {
			s.URIs = append(s.URIs, u)
		}
	}
}

// AddDNS adds a DNS name unless present (compared without case).
func (s *SANs) AddDNS(name string) {
	if !containsFold(s.DNS, name) {
		s.DNS = append(s.DNS, name)
	}
}

// AddIP adds an address unless present.
func (s *SANs) AddIP(ip net.IP) {
	for _, have := range s.IPs {
		if have.Equal(ip) {
			return
		}
	}
	s.IPs = append(s.IPs, ip)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// ParseSANs reads subjectAltName specifications: each a comma-separated list of
// TYPE:VALUE items, where TYPE is DNS, IP, email or URI (any case), with blanks
// allowed around the items and after the colon. This takes openssl's
// `subjectAltName = DNS: system1, IP: 10.0.0.1, DNS: system2` form as it is
// written in configuration files and vendor instructions. An item without a type
// is an IP address if it parses as one, else a DNS name.
func ParseSANs(specs ...string) (SANs, error) {
	var s SANs
	for _, spec := range specs {
		spec = strings.TrimSpace(spec)
		spec = strings.TrimPrefix(spec, "subjectAltName")
		spec = strings.TrimLeft(spec, " \t=")
		for _, item := range strings.Split(spec, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			kind, value, ok := strings.Cut(item, ":")
			kind = strings.ToLower(strings.TrimSpace(kind))
			value = strings.TrimSpace(value)
			if !ok || !(kind == "dns" || kind == "ip" || kind == "email" || kind == "uri") {
				// No type: an IP literal (IPv6 has colons) or a host name.
				kind, value = "", item
			}
			switch kind {
			case "dns":
				if err := CheckDNSName(value); err != nil {
					return SANs{}, err
				}
				s.AddDNS(value)
			case "ip":
				ip := net.ParseIP(strings.Trim(value, "[]"))
				if ip == nil {
					return SANs{}, fmt.Errorf("subjectAltName %q: %q is not an IP address: %w", item, value, ErrBadOption)
				}
				s.AddIP(ip)
			case "email":
				if !strings.Contains(value, "@") {
					return SANs{}, fmt.Errorf("subjectAltName %q: %q is not an e-mail address: %w", item, value, ErrBadOption)
				}
				s.Add(SANs{Emails: []string{value}})
			case "uri":
				u, err := url.Parse(value)
				if err != nil || u.Scheme == "" {
					return SANs{}, fmt.Errorf("subjectAltName %q: %q is not an absolute URI: %w", item, value, ErrBadOption)
				}
				s.Add(SANs{URIs: []*url.URL{u}})
			default:
				if ip := net.ParseIP(strings.Trim(value, "[]")); ip != nil {
					s.AddIP(ip)
					continue
				}
				if strings.Contains(value, ":") {
					return SANs{}, fmt.Errorf("subjectAltName %q: unknown type (want DNS:, IP:, email: or URI:): %w", item, ErrBadOption)
				}
				if err := CheckDNSName(value); err != nil {
					return SANs{}, err
				}
				s.AddDNS(value)
			}
		}
	}
	return s, nil
}

// CheckDNSName validates a DNS name for a certificate: labels of letters, digits,
// hyphens and underscores, a leading "*." wildcard allowed, at most 253 bytes.
func CheckDNSName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("DNS name %q: %s: %w", name, why, ErrBadOption)
	}
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return bad("empty")
	}
	if len(n) > 253 {
		return bad("longer than 253 bytes")
	}
	if net.ParseIP(n) != nil {
		return bad("an IP address; give it as IP:" + n)
	}
	for i, label := range strings.Split(n, ".") {
		if label == "*" && i == 0 {
			continue
		}
		if label == "" || len(label) > 63 {
			return bad("empty label or label longer than 63 bytes")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return bad(fmt.Sprintf("character %q is not allowed (letters, digits, '-' and '_' only)", r))
			}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("a label starts or ends with '-'")
		}
	}
	return nil
}

// CAOptions shape a new CA.
type CAOptions struct {
	CommonName   string // required
	Organization string // optional
	Days         int    // 0: DefaultCADays
	Now          time.Time
}

// LeafOptions shape a server or client certificate.
type LeafOptions struct {
	CommonName string
	SANs       SANs
	Server     bool // extendedKeyUsage serverAuth
	Client     bool // extendedKeyUsage clientAuth
	Days       int  // 0: DefaultLeafDays
	Now        time.Time
}

// checkDays validates a lifetime.
func checkDays(days, def int) (int, error) {
	if days == 0 {
		return def, nil
	}
	if days < 1 || days > MaxDays {
		return 0, fmt.Errorf("%d days: want 1 to %d: %w", days, MaxDays, ErrBadOption)
	}
	return days, nil
}

// RandomSerial returns a random positive 128-bit serial number.
func RandomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, err
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// SubjectKeyID is the SHA-1 of the subjectPublicKey bit string (RFC 5280 4.2.1.2
// method 1), as openssl and NSS compute it.
func SubjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("public key: %v: %w", err, ErrBadOption)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

func now(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// NewCA makes a self-signed CA certificate for key.
func NewCA(o CAOptions, key crypto.Signer) (*x509.Certificate, error) {
	if strings.TrimSpace(o.CommonName) == "" {
		return nil, fmt.Errorf("a CA needs a common name: %w", ErrBadOption)
	}
	days, err := checkDays(o.Days, DefaultCADays)
	if err != nil {
		return nil, err
	}
	serial, err := RandomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := SubjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	t := now(o.Now)
	subject := pkix.Name{CommonName: o.CommonName}
	if o.Organization != "" {
		subject.Organization = []string{o.Organization}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             t.Add(-backdate),
		NotAfter:              t.AddDate(0, 0, days),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          ski,
	}
	return create(tmpl, tmpl, key.Public(), key)
}

// CheckCA reports why cert cannot sign certificates with key, or nil: it must be
// a CA (basicConstraints CA:TRUE; keyUsage, when present, with keyCertSign),
// currently valid, and key must be its key.
func CheckCA(cert *x509.Certificate, key crypto.Signer, t time.Time) error {
	t = now(t)
	switch {
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return fmt.Errorf("%s is not a CA certificate (basicConstraints CA:TRUE missing): %w", cert.Subject, ErrNotCA)
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("%s may not sign certificates (keyUsage without keyCertSign): %w", cert.Subject, ErrNotCA)
	}
	if t.After(cert.NotAfter) {
		return fmt.Errorf("CA %s expired on %s; make a new CA with certdb ca: %w", cert.Subject, cert.NotAfter.UTC().Format("2006-01-02"), ErrNotCA)
	}
	if key != nil {
		pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(cert.PublicKey) {
			return fmt.Errorf("the key of CA %s is not the key of its certificate: %w", cert.Subject, ErrKeyMismatch)
		}
	}
	return nil
}

// Issue makes a certificate for pub, signed by ca with caKey. At least one of
// Server and Client must be set. Without a common name the first DNS name (else
// IP address) is used; a server certificate without names gets its common name
// as a DNS name (or IP address), since TLS clients ignore the common name. The
// validity ends no later than the CA's; clipped reports that it was shortened.
func Issue(o LeafOptions, pub crypto.PublicKey, ca *x509.Certificate, caKey crypto.Signer) (cert *x509.Certificate, clipped bool, err error) {
	if !o.Server && !o.Client {
		return nil, false, fmt.Errorf("say what the certificate is for (server, client or both): %w", ErrBadOption)
	}
	if err := CheckCA(ca, caKey, o.Now); err != nil {
		return nil, false, err
	}
	days, err := checkDays(o.Days, DefaultLeafDays)
	if err != nil {
		return nil, false, err
	}
	sans := o.SANs
	cn := strings.TrimSpace(o.CommonName)
	if cn == "" {
		switch {
		case len(sans.DNS) > 0:
			cn = sans.DNS[0]
		case len(sans.IPs) > 0:
			cn = sans.IPs[0].String()
		case len(sans.Emails) > 0:
			cn = sans.Emails[0]
		default:
			return nil, false, fmt.Errorf("give a common name or a subject alternative name: %w", ErrBadOption)
		}
	}
	if o.Server && sans.Empty() {
		if ip := net.ParseIP(cn); ip != nil {
			sans.AddIP(ip)
		} else if CheckDNSName(cn) == nil {
			sans.AddDNS(cn)
		} else {
			return nil, false, fmt.Errorf("a server certificate needs a host name: common name %q is not one, so give --san DNS:HOST: %w", cn, ErrBadOption)
		}
	}
	serial, err := RandomSerial()
	if err != nil {
		return nil, false, err
	}
	ski, err := SubjectKeyID(pub)
	if err != nil {
		return nil, false, err
	}
	t := now(o.Now)
	notAfter := t.AddDate(0, 0, days)
	if notAfter.After(ca.NotAfter) {
		notAfter, clipped = ca.NotAfter, true
	}
	ku := x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		ku |= x509.KeyUsageKeyEncipherment
	}
	var eku []x509.ExtKeyUsage
	if o.Server {
		eku = append(eku, x509.ExtKeyUsageServerAuth)
	}
	if o.Client {
		eku = append(eku, x509.ExtKeyUsageClientAuth)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             t.Add(-backdate),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              ku,
		ExtKeyUsage:           eku,
		DNSNames:              sans.DNS,
		IPAddresses:           sans.IPs,
		EmailAddresses:        sans.Emails,
		URIs:                  sans.URIs,
		SubjectKeyId:          ski,
	}
	if len(ca.SubjectKeyId) > 0 {
		tmpl.AuthorityKeyId = ca.SubjectKeyId
	}
	cert, err = create(tmpl, ca, pub, caKey)
	return cert, clipped, err
}

func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("public key of type %T is not supported: %w", pub, ErrBadOption)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("signing the certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// CSROptions shape a certificate signing request.
type CSROptions struct {
	CommonName string // required
	SANs       SANs
	// Server and Client request extendedKeyUsage serverAuth and clientAuth (the
	// CA decides whether to copy requested extensions: openssl x509 -req needs
	// -copy_extensions copy, or an -extfile).
	Server, Client bool
}

var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// NewCSR makes a PKCS#10 certificate signing request (DER) for key, with the
// common name, subject alternative names and key usages an outside CA needs.
func NewCSR(key crypto.Signer, o CSROptions) ([]byte, error) {
	if strings.TrimSpace(o.CommonName) == "" {
		return nil, fmt.Errorf("a request needs a common name: %w", ErrBadOption)
	}
	tmpl := &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: o.CommonName},
		DNSNames:       o.SANs.DNS,
		IPAddresses:    o.SANs.IPs,
		EmailAddresses: o.SANs.Emails,
		URIs:           o.SANs.URIs,
	}
	var ekus []asn1.ObjectIdentifier
	if o.Server {
		ekus = append(ekus, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1})
	}
	if o.Client {
		ekus = append(ekus, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2})
	}
	if len(ekus) > 0 {
		v, err := asn1.Marshal(ekus)
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidExtKeyUsage, Value: v})
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("making the request: %w", err)
	}
	return der, nil
}

// KeyDescription names a key for people: "ECDSA P-256", "RSA 2048".
func KeyDescription(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}
