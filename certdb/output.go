package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/safetext"
)

// writeList prints the store as `certutil -L` does (NSS's format strings, trailing
// padding, byte-counted, included): a blank line, two header lines, a blank line, then one line
// per certificate with the nickname padded to 60 columns, a space, and the trust.
// Nicknames come from store files (and NSS databases, PKCS#12 friendly names),
// so they are escaped: a nickname must not be able to clear the screen or forge
// the line of another certificate.
func writeList(w io.Writer, entries []store.Entry) {
	fmt.Fprintf(w, "\n%-60s %-5s\n%-60s %-5s\n\n", "Certificate Nickname", "Trust Attributes", "", "SSL,S/MIME,JAR/XPI")
	for _, e := range entries {
		fmt.Fprintf(w, "%s %-5s\n", padBytes(safetext.Escape(e.Nickname), 60), e.Trust)
	}
}

// padBytes pads s with spaces to n bytes, as C's printf("%-60s") does: a
// nickname with non-ASCII letters lines up exactly as in certutil's output.
func padBytes(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

// writeKeys prints the keys as `certutil -K` does.
func writeKeys(w io.Writer, keys []store.KeyInfo) {
	for i, k := range keys {
		name := safetext.Escape(k.Nickname)
		if k.Pending {
			name += " (request pending)"
		}
		fmt.Fprintf(w, "<%2d> %-8.8s %-42.42s %s\n", i, k.Algorithm, k.ID, name)
	}
}

// writePending shows a key waiting for its certificate (certdb list -n NICK).
func writePending(w io.Writer, p store.Pending) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-22s%s\n", label+":", safetext.Escapef(format, args...))
	}
	line("Nickname", "%s", p.Nickname)
	line("Status", "key waiting for its certificate (certdb receive stores it)")
	line("Public Key", "%s", publicKeyDesc(&x509.Certificate{PublicKey: p.PublicKey}))
	if r := p.Request; r != nil {
		line("Requested Subject", "%s", r.Subject)
		var sans []string
		for _, d := range r.DNSNames {
			sans = append(sans, "DNS:"+d)
		}
		for _, ip := range r.IPAddresses {
			sans = append(sans, "IP:"+ip.String())
		}
		line("Requested Alt Names", "%s", orNone(sans))
	}
	line("Private Key", "yes")
}

func colonHex(b []byte, upper bool) string {
	f := "%02x"
	if upper {
		f = "%02X"
	}
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf(f, c)
	}
	return strings.Join(parts, ":")
}

var keyUsageNames = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "Digital Signature"},
	{x509.KeyUsageContentCommitment, "Non Repudiation"},
	{x509.KeyUsageKeyEncipherment, "Key Encipherment"},
	{x509.KeyUsageDataEncipherment, "Data Encipherment"},
	{x509.KeyUsageKeyAgreement, "Key Agreement"},
	{x509.KeyUsageCertSign, "Certificate Signing"},
	{x509.KeyUsageCRLSign, "CRL Signing"},
	{x509.KeyUsageEncipherOnly, "Encipher Only"},
	{x509.KeyUsageDecipherOnly, "Decipher Only"},
}

var extKeyUsageNames = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:             "Any",
	x509.ExtKeyUsageServerAuth:      "TLS Web Server Authentication",
	x509.ExtKeyUsageClientAuth:      "TLS Web Client Authentication",
	x509.ExtKeyUsageCodeSigning:     "Code Signing",
	x509.ExtKeyUsageEmailProtection: "E-mail Protection",
	x509.ExtKeyUsageTimeStamping:    "Time Stamping",
	x509.ExtKeyUsageOCSPSigning:     "OCSP Signing",
}

func publicKeyDesc(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", k.N.BitLen())
	case *ecdsa.PublicKey:
		return fmt.Sprintf("EC %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}

// writeDetails shows one certificate (certdb list -n NICK), one "Label: value" per
// line so that people and grep both read it. Every value is escaped (names,
// subjects and SANs are the certificate maker's text): one label, one line.
func writeDetails(w io.Writer, e store.Entry, now time.Time) {
	c := e.Cert
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-22s%s\n", label+":", safetext.Escapef(format, args...))
	}
	line("Nickname", "%s", e.Nickname)
	line("Trust", "%s (%s)", e.Trust, e.Trust.Describe())
	line("Subject", "%s", c.Subject)
	line("Issuer", "%s", c.Issuer)
	line("Serial Number", "%s", colonHex(c.SerialNumber.Bytes(), false))
	line("Version", "%d", c.Version)
	line("Not Before", "%s", c.NotBefore.UTC().Format("2006-01-02 15:04:05 MST"))
	status := ""
	switch {
	case now.After(c.NotAfter):
		status = fmt.Sprintf(" (EXPIRED %d days ago)", int(now.Sub(c.NotAfter).Hours()/24))
	case now.Before(c.NotBefore):
		status = " (NOT YET VALID)"
	default:
		status = fmt.Sprintf(" (%d days left)", int(math.Floor(c.NotAfter.Sub(now).Hours()/24)))
	}
	line("Not After", "%s%s", c.NotAfter.UTC().Format("2006-01-02 15:04:05 MST"), status)
	line("Public Key", "%s", publicKeyDesc(c))
	line("Signature Algorithm", "%s", c.SignatureAlgorithm)
	ca := "no"
	if c.BasicConstraintsValid && c.IsCA {
		ca = "yes"
		if c.MaxPathLen > 0 || c.MaxPathLenZero {
			ca += fmt.Sprintf(" (path length %d)", c.MaxPathLen)
		}
	}
	if self := string(c.RawSubject) == string(c.RawIssuer); self {
		ca += ", self-signed"
	}
	line("CA", "%s", ca)

	var sans []string
	for _, d := range c.DNSNames {
		sans = append(sans, "DNS:"+d)
	}
	for _, ip := range c.IPAddresses {
		sans = append(sans, "IP:"+ip.String())
	}
	for _, m := range c.EmailAddresses {
		sans = append(sans, "email:"+m)
	}
	for _, u := range c.URIs {
		sans = append(sans, "URI:"+u.String())
	}
	line("Subject Alt Names", "%s", orNone(sans))

	var ku []string
	for _, k := range keyUsageNames {
		if c.KeyUsage&k.bit != 0 {
			ku = append(ku, k.name)
		}
	}
	line("Key Usage", "%s", orNone(ku))
	var eku []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := extKeyUsageNames[u]; ok {
			eku = append(eku, n)
		} else {
			eku = append(eku, fmt.Sprintf("EKU %d", u))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		eku = append(eku, oid.String())
	}
	line("Extended Key Usage", "%s", orNone(eku))
	s256 := sha256.Sum256(c.Raw)
	s1 := sha1.Sum(c.Raw)
	line("SHA-256 Fingerprint", "%s", colonHex(s256[:], true))
	line("SHA-1 Fingerprint", "%s", colonHex(s1[:], true))
	key := "no"
	if e.HasKey {
		key = "yes"
	}
	line("Private Key", "%s", key)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}
