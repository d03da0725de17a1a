package tlsconfig

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// TestCommonNameOnlyWithoutSAN: a certificate with no subjectAltName extension at
// all (PCP's walkthrough makes them with openssl x509 -req) names its common name,
// with a warning that says to re-issue it; one that has the extension never does,
// so a man in the middle cannot present a certificate whose SANs name his own
// host and whose CN names the victim.
func TestCommonNameOnlyWithoutSAN(t *testing.T) {
	p := newPKI(t)
	st, err := store.Open(p.clientDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := storeAnchors(st, false)
	now := time.Now()
	cnOnly := testcerts.New(t, p.ca, testcerts.Options{CN: "pmserver.example", Server: true})
	if len(cnOnly.Cert.DNSNames) != 0 || len(cnOnly.Cert.IPAddresses) != 0 {
		t.Fatal("fixture has names")
	}
	mitm := testcerts.New(t, p.ca, testcerts.Options{CN: "pmserver.example", Server: true, DNS: []string{"attacker.example"}})
	ipOnly := testcerts.New(t, p.ca, testcerts.Options{CN: "127.0.0.1", Server: true})

	var warn bytes.Buffer
	o := ClientOptions{Warn: &warn}
	if err := o.verifyServer([]*x509.Certificate{cnOnly.Cert}, "pmserver.example", a, nil, now); err != nil {
		t.Fatalf("CN-only certificate for its CN: %v", err)
	}
	if w := warn.String(); !strings.Contains(w, "no subjectAltName") || !strings.Contains(w, "--san DNS:pmserver.example") {
		t.Fatalf("no re-issue warning: %q", w)
	}
	var be *BadDomainError
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		host string
	}{
		{"CN-only, other host", cnOnly.Cert, "other.example"},
		{"SANs present, CN names the victim", mitm.Cert, "pmserver.example"},
		{"an address never matches a CN", ipOnly.Cert, "127.0.0.1"},
	} {
		warn.Reset()
		err := o.verifyServer([]*x509.Certificate{tc.cert}, tc.host, a, nil, now)
		if !errors.As(err, &be) {
			t.Errorf("%s: %v, want a name mismatch", tc.name, err)
		}
		if strings.Contains(warn.String(), "common name") {
			t.Errorf("%s: matched by common name: %q", tc.name, warn.String())
		}
	}
	// The attacker's own name still works for his certificate: the SAN rule is
	// unchanged.
	if err := o.verifyServer([]*x509.Certificate{mitm.Cert}, "attacker.example", a, nil, now); err != nil {
		t.Fatalf("SAN match: %v", err)
	}
	// A pinned CN-only certificate is accepted for its CN as well.
	self := testcerts.New(t, nil, testcerts.Options{CN: "pinned.example", Server: true})
	if err := o.verifyServer([]*x509.Certificate{self.Cert}, "pinned.example", a, []pin{{cert: self.Cert}}, now); err != nil {
		t.Fatalf("pinned CN-only: %v", err)
	}
}
