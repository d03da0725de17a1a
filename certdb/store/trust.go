package store

import (
	"fmt"
	"strings"
)

// Trust holds the NSS trust attributes of a certificate: one set of letters for each
// of the three uses certutil shows, in its order "SSL,S/MIME,JAR/XPI".
//
// The letters mean what they mean to NSS certutil -t:
//
//	p  prohibited (explicitly distrusted)
//	P  trusted peer: the certificate is accepted as it is (implies p)
//	c  valid CA: may appear in a chain, but is not a trust anchor
//	C  trusted CA to issue server certificates (SSL position; implies c)
//	T  trusted CA to issue client certificates (SSL position; implies c)
//	u  user: a private key is held for this certificate. Derived from the store,
//	   shown but never stored: the store adds it to entries that have a key.
//	w  send a warning; i invisible CA; g step-up approved CA
//
// ParseTrust and String normalise the letters to the order certutil prints them,
// dropping letters implied by others ("cC" prints as "C", "pP" as "P"). The store
// then keeps what an NSS sql database keeps (see normalize): w, i and g are
// accepted but, as there, not kept, and combinations collapse as they do in NSS.
type Trust struct {
	SSL, Email, ObjSign string
}

// The NSS CERTDB_* flag bits (certdb/certt.h), which give the letters their meaning.
const (
	flagTerminalRecord = 1 << 0 // p
	flagTrusted        = 1 << 1 // P (with p)
	flagSendWarn       = 1 << 2 // w
	flagValidCA        = 1 << 3 // c
	flagTrustedCA      = 1 << 4 // C (with c)
	flagUser           = 1 << 6 // u
	flagTrustedClient  = 1 << 7 // T (with c)
	flagInvisibleCA    = 1 << 8 // I
	flagGovtApproved   = 1 << 9 // G
)

// decodeFlags turns one position's letters into flag bits, as CERT_DecodeTrustString.
func decodeFlags(s string) (uint, error) {
	var f uint
	for _, r := range s {
		switch r {
		case 'p':
			f |= flagTerminalRecord
		case 'P':
			f |= flagTrusted | flagTerminalRecord
		case 'w':
			f |= flagSendWarn
		case 'c':
			f |= flagValidCA
		case 'C':
			f |= flagTrustedCA | flagValidCA
		case 'T':
			f |= flagTrustedClient | flagValidCA
		case 'u':
			f |= flagUser
		case 'i', 'I':
			f |= flagInvisibleCA
		case 'g', 'G':
			f |= flagGovtApproved
		case ' ':
			// certutil tolerates "CT, ,"; so do we.
		default:
			return 0, fmt.Errorf("unknown trust letter %q (known: p P c C T u w i g)", r)
		}
	}
	return f, nil
}

// encodeFlags prints flag bits as certutil's printflags does.
func encodeFlags(f uint) string {
	var b strings.Builder
	if f&flagValidCA != 0 && f&(flagTrustedCA|flagTrustedClient) == 0 {
		b.WriteByte('c')
	}
	if f&flagTerminalRecord != 0 && f&flagTrusted == 0 {
		b.WriteByte('p')
	}
	if f&flagTrustedCA != 0 {
		b.WriteByte('C')
	}
	if f&flagTrustedClient != 0 {
		b.WriteByte('T')
	}
	if f&flagTrusted != 0 {
		b.WriteByte('P')
	}
	if f&flagUser != 0 {
		b.WriteByte('u')
	}
	if f&flagSendWarn != 0 {
		b.WriteByte('w')
	}
	if f&flagInvisibleCA != 0 {
		b.WriteByte('I')
	}
	if f&flagGovtApproved != 0 {
		b.WriteByte('G')
	}
	return b.String()
}

// ParseTrust parses certutil's -t argument: up to three comma-separated sets of
// letters for SSL, S/MIME and JAR/XPI ("CT,,", "P,,", "u,u,u", "CT" alone means
// "CT,,"). The result is normalised to certutil's printing order.
func ParseTrust(s string) (Trust, error) {
	parts := strings.Split(s, ",")
	if len(parts) > 3 {
		return Trust{}, fmt.Errorf("trust %q: more than three positions (want SSL,S/MIME,JAR/XPI, e.g. \"CT,,\")", s)
	}
	var flags [3]uint
	for i, p := range parts {
		f, err := decodeFlags(p)
		if err != nil {
			return Trust{}, fmt.Errorf("trust %q: %v", s, err)
		}
		flags[i] = f
	}
	return Trust{encodeFlags(flags[0]), encodeFlags(flags[1]), encodeFlags(flags[2])}, nil
}

// MustParseTrust is ParseTrust for constants; it panics on an error.
func MustParseTrust(s string) Trust {
	t, err := ParseTrust(s)
	if err != nil {
		panic(err)
	}
	return t
}

// String prints the trust as certutil does: "CT,,", "P,,", "Pu,u,u".
// Unknown letters (only possible in a Trust built by hand) are kept at the end of
// their position so that nothing is hidden.
func (t Trust) String() string {
	return canon(t.SSL) + "," + canon(t.Email) + "," + canon(t.ObjSign)
}

func canon(s string) string {
	var f uint
	var unknown strings.Builder
	for _, r := range s {
		g, err := decodeFlags(string(r))
		if err != nil {
			unknown.WriteRune(r)
			continue
		}
		f |= g
	}
	return encodeFlags(f) + unknown.String()
}

// flags returns the flag bits of the three positions.
func (t Trust) flags() (ssl, email, obj uint, err error) {
	if ssl, err = decodeFlags(t.SSL); err != nil {
		return
	}
	if email, err = decodeFlags(t.Email); err != nil {
		return
	}
	obj, err = decodeFlags(t.ObjSign)
	return
}

// normalize validates t, and returns what an NSS sql database keeps of it: the
// store keeps exactly what certutil would show after `certutil -M -t`. NSS stores
// trust as one PKCS#11 trust level per usage (server auth, client auth, e-mail,
// code signing), so combinations collapse ("CTP" keeps "CT", "cP" keeps "P"), T
// outside the SSL position becomes c, and u, w, i and g are not kept (u is derived
// from the presence of a key).
func (t Trust) normalize() (Trust, error) {
	ssl, email, obj, err := t.flags()
	if err != nil {
		return Trust{}, fmt.Errorf("trust %q: %v", t.SSL+","+t.Email+","+t.ObjSign, err)
	}
	// cert_trust_from_stan_trust(get_stan_trust(...)) from NSS lib/pki/pki3hack.c.
	sslOut := fromStan(toStan(ssl, false))
	client := fromStan(toStan(ssl, true))
	if client&flagTrustedCA != 0 {
		client &^= flagTrustedCA
		sslOut |= flagTrustedClient
	}
	sslOut |= client
	return Trust{encodeFlags(sslOut), encodeFlags(fromStan(toStan(email, false))), encodeFlags(fromStan(toStan(obj, false)))}, nil
}

// NSS trust levels (nssTrustLevel).
const (
	stanMustVerify = iota
	stanTrustedDelegator
	stanTrusted
	stanNotTrusted
	stanValidDelegator
)

func toStan(f uint, clientAuth bool) int {
	switch {
	case clientAuth && f&flagTrustedClient != 0, !clientAuth && f&flagTrustedCA != 0:
		return stanTrustedDelegator
	case f&flagTrusted != 0:
		return stanTrusted
	case f&flagTerminalRecord != 0:
		return stanNotTrusted
	case f&flagValidCA != 0:
		return stanValidDelegator
	}
	return stanMustVerify
}

func fromStan(level int) uint {
	switch level {
	case stanTrusted:
		return flagTerminalRecord | flagTrusted
	case stanTrustedDelegator:
		return flagValidCA | flagTrustedCA
	case stanNotTrusted:
		return flagTerminalRecord
	case stanValidDelegator:
		return flagValidCA
	}
	return 0
}

// withUser adds the u flag to every position, as certutil shows a certificate that
// has a private key.
func (t Trust) withUser() Trust {
	ssl, email, obj, _ := t.flags()
	return Trust{encodeFlags(ssl | flagUser), encodeFlags(email | flagUser), encodeFlags(obj | flagUser)}
}

// IsZero reports whether no trust letters are set (",,").
func (t Trust) IsZero() bool {
	ssl, email, obj, _ := t.flags()
	return ssl|email|obj == 0
}

// sslFlags returns the SSL position's bits; invalid letters count as none.
func (t Trust) sslFlags() uint {
	f, _ := decodeFlags(t.SSL)
	return f
}

// TrustedServerCA reports whether the SSL position has C: a trust anchor for
// verifying server certificates.
func (t Trust) TrustedServerCA() bool { return t.sslFlags()&flagTrustedCA != 0 }

// TrustedClientCA reports whether the SSL position has T: a trust anchor for
// verifying client certificates.
func (t Trust) TrustedClientCA() bool { return t.sslFlags()&flagTrustedClient != 0 }

// TrustedPeer reports whether the SSL position has P: the certificate itself is
// accepted, whoever issued it.
func (t Trust) TrustedPeer() bool { return t.sslFlags()&flagTrusted != 0 }

// Distrusted reports whether the SSL position has p without P: the certificate is
// explicitly not trusted, neither as a peer nor as an issuer.
func (t Trust) Distrusted() bool {
	f := t.sslFlags()
	return f&flagTerminalRecord != 0 && f&flagTrusted == 0
}

// DistrustedFor reports whether the certificate is explicitly distrusted for
// verifying one kind of peer: clients (forClients) or servers. It is the NSS
// reading of p in the SSL position: p says "not trusted" unless the same position
// also makes the certificate a trust anchor for that use (T for clients, C for
// servers) or a trusted peer (P), which NSS lets take precedence. So "pT,," is
// distrusted when verifying servers but a client CA, and "p,," is distrusted for
// both.
func (t Trust) DistrustedFor(forClients bool) bool {
	f := t.sslFlags()
	if f&flagTerminalRecord == 0 || f&flagTrusted != 0 {
		return false
	}
	if forClients {
		return f&flagTrustedClient == 0
	}
	return f&flagTrustedCA == 0
}

// Describe spells out the SSL position for people ("trusted CA for servers and
// clients; has a private key").
func (t Trust) Describe() string {
	var words []string
	f := t.sslFlags()
	switch {
	case f&flagTrustedCA != 0 && f&flagTrustedClient != 0:
		words = append(words, "trusted CA for server and client certificates")
	case f&flagTrustedCA != 0:
		words = append(words, "trusted CA for server certificates")
	case f&flagTrustedClient != 0:
		words = append(words, "trusted CA for client certificates")
	case f&flagValidCA != 0:
		words = append(words, "valid CA (not a trust anchor)")
	}
	if f&flagTrusted != 0 {
		words = append(words, "trusted peer")
	} else if f&flagTerminalRecord != 0 {
		words = append(words, "prohibited (distrusted)")
	}
	if f&flagUser != 0 {
		words = append(words, "has a private key")
	}
	if f&flagSendWarn != 0 {
		words = append(words, "warn")
	}
	if len(words) == 0 {
		return "no SSL trust"
	}
	return strings.Join(words, "; ")
}
