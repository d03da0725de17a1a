package issue

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSANs(t *testing.T) {
	cases := []struct {
		in      []string
		dns     []string
		ips     []string
		emails  []string
		uris    []string
		wantErr string
	}{
		{in: []string{"DNS:a.example,IP:10.0.0.1"}, dns: []string{"a.example"}, ips: []string{"10.0.0.1"}},
		// The seed's openssl configuration line, as it is written there.
		{in: []string{"subjectAltName = DNS: system1, IP: 192.0.2.1, DNS: system2, IP: 192.0.2.2"},
			dns: []string{"system1", "system2"}, ips: []string{"192.0.2.1", "192.0.2.2"}},
		{in: []string{"DNS: system1, IP: 192.0.2.1", "dns:SYSTEM1", "ip:2001:db8::1"}, dns: []string{"system1"}, ips: []string{"192.0.2.1", "2001:db8::1"}},
		{in: []string{"host.example", "::1", "[2001:db8::2]", "*.wild.example"}, dns: []string{"host.example", "*.wild.example"}, ips: []string{"::1", "2001:db8::2"}},
		{in: []string{"email:ops@example.com,URI:spiffe://example/pcp"}, emails: []string{"ops@example.com"}, uris: []string{"spiffe://example/pcp"}},
		{in: []string{" , ,"}},
		{in: []string{"IP:300.1.1.1"}, wantErr: `"300.1.1.1" is not an IP address`},
		{in: []string{"DNS:bad_host!"}, wantErr: `character '!'`},
		{in: []string{"DNS:10.0.0.1"}, wantErr: "give it as IP:10.0.0.1"},
		{in: []string{"RID:1.2.3"}, wantErr: "unknown type"},
		{in: []string{"email:nobody"}, wantErr: "not an e-mail address"},
		{in: []string{"DNS:-a.example"}, wantErr: "starts or ends with '-'"},
		{in: []string{"DNS:" + strings.Repeat("a", 64) + ".example"}, wantErr: "longer than 63"},
	}
	for _, tc := range cases {
		s, err := ParseSANs(tc.in...)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrBadOption) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var ips, uris []string
		for _, ip := range s.IPs {
			ips = append(ips, ip.String())
		}
		for _, u := range s.URIs {
			uris = append(uris, u.String())
		}
		if !reflect.DeepEqual(s.DNS, tc.dns) || !reflect.DeepEqual(ips, tc.ips) || !reflect.DeepEqual(s.Emails, tc.emails) || !reflect.DeepEqual(uris, tc.uris) {
			t.Errorf("%q: got %s", tc.in, s)
		}
	}
}

func TestParseKeyType(t *testing.T) {
	for in, want := range map[string]KeyType{"": ECDSAP256, "ecdsa-p256": ECDSAP256, "RSA": RSA2048, "rsa3072": RSA3072, "rsa4096": RSA4096} {
		if got, err := ParseKeyType(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseKeyType("dsa1024"); err == nil || !strings.Contains(err.Error(), "ecdsa-p256, rsa2048, rsa3072, rsa4096") {
		t.Errorf("dsa1024: %v", err)
	}
	if _, err := GenerateKey("ed448"); !errors.Is(err, ErrBadOption) {
		t.Errorf("ed448: %v", err)
	}
}

func TestCAAndLeaf(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	caKey, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := NewCA(CAOptions{CommonName: "Test CA", Organization: "gopcp", Days: 100, Now: now}, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || !ca.BasicConstraintsValid || !ca.MaxPathLenZero || ca.KeyUsage&x509.KeyUsageCertSign == 0 ||
		len(ca.SubjectKeyId) != 20 || ca.Subject.CommonName != "Test CA" || ca.Subject.Organization[0] != "gopcp" {
		t.Errorf("CA: %+v", ca)
	}
	if !ca.NotAfter.Equal(now.AddDate(0, 0, 100)) || !ca.NotBefore.Before(now) {
		t.Errorf("CA validity %s .. %s", ca.NotBefore, ca.NotAfter)
	}
	if ca.SerialNumber.BitLen() < 64 || ca.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %d bits", ca.SerialNumber.BitLen())
	}
	if err := CheckCA(ca, caKey, now); err != nil {
		t.Fatal(err)
	}

	rsaKey, err := GenerateKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	sans, _ := ParseSANs("DNS: system1, IP: 192.0.2.1")
	leaf, clipped, err := Issue(LeafOptions{SANs: sans, Server: true, Client: true, Days: 365, Now: now}, rsaKey.Public(), ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if !clipped || !leaf.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("leaf outlives its CA: %s, CA %s, clipped %v", leaf.NotAfter, ca.NotAfter, clipped)
	}
	if leaf.Subject.CommonName != "system1" || leaf.IsCA || !reflect.DeepEqual(leaf.DNSNames, []string{"system1"}) ||
		len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("192.0.2.1")) {
		t.Errorf("leaf names: %s %v %v", leaf.Subject, leaf.DNSNames, leaf.IPAddresses)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Errorf("RSA leaf key usage %v", leaf.KeyUsage)
	}
	if !reflect.DeepEqual(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("EKU %v", leaf.ExtKeyUsage)
	}
	ski, _ := SubjectKeyID(rsaKey.Public())
	if string(leaf.SubjectKeyId) != string(ski) || string(leaf.AuthorityKeyId) != string(ca.SubjectKeyId) {
		t.Errorf("SKI/AKI: %x %x", leaf.SubjectKeyId, leaf.AuthorityKeyId)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, DNSName: "system1", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("verify: %v", err)
	}

	// ECDSA client certificate: digitalSignature only, common name kept.
	ecKey, _ := GenerateKey(ECDSAP256)
	cl, clipped, err := Issue(LeafOptions{CommonName: "pmclient", Client: true, Days: 10, Now: now}, ecKey.Public(), ca, caKey)
	if err != nil || clipped {
		t.Fatal(err, clipped)
	}
	if cl.KeyUsage != x509.KeyUsageDigitalSignature || len(cl.DNSNames) != 0 || cl.Subject.CommonName != "pmclient" {
		t.Errorf("client: %v %v %s", cl.KeyUsage, cl.DNSNames, cl.Subject)
	}
	if _, ok := cl.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("client key %T", cl.PublicKey)
	}
	// A server certificate without names takes its common name as one.
	srv, _, err := Issue(LeafOptions{CommonName: "pmserver", Server: true, Now: now}, ecKey.Public(), ca, caKey)
	if err != nil || !reflect.DeepEqual(srv.DNSNames, []string{"pmserver"}) {
		t.Errorf("server without SANs: %v %v", srv, err)
	}
	if _, _, err := Issue(LeafOptions{CommonName: "not a host", Server: true, Now: now}, ecKey.Public(), ca, caKey); !errors.Is(err, ErrBadOption) {
		t.Errorf("server named %q: %v", "not a host", err)
	}
	if _, _, err := Issue(LeafOptions{CommonName: "x", Now: now}, ecKey.Public(), ca, caKey); !errors.Is(err, ErrBadOption) {
		t.Errorf("neither server nor client: %v", err)
	}
	if _, _, err := Issue(LeafOptions{CommonName: "x", Client: true, Days: -1, Now: now}, ecKey.Public(), ca, caKey); !errors.Is(err, ErrBadOption) {
		t.Errorf("negative days: %v", err)
	}

	// A leaf is not a CA; a CA's certificate with someone else's key does not sign.
	if _, _, err := Issue(LeafOptions{CommonName: "x", Client: true, Now: now}, ecKey.Public(), cl, ecKey); !errors.Is(err, ErrNotCA) ||
		!strings.Contains(err.Error(), "CN=pmclient is not a CA certificate") {
		t.Errorf("leaf as CA: %v", err)
	}
	if err := CheckCA(ca, ecKey, now); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("CA with another key: %v", err)
	}
	if err := CheckCA(ca, caKey, now.AddDate(1, 0, 0)); !errors.Is(err, ErrNotCA) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired CA: %v", err)
	}
	// A CA certificate whose keyUsage lacks keyCertSign.
	noSign := *ca
	noSign.KeyUsage = x509.KeyUsageDigitalSignature
	if err := CheckCA(&noSign, nil, now); !errors.Is(err, ErrNotCA) || !strings.Contains(err.Error(), "keyCertSign") {
		t.Errorf("CA without keyCertSign: %v", err)
	}
}

func TestRSASizes(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA 4096 key generation is slow")
	}
	for kt, bits := range map[KeyType]int{RSA2048: 2048, RSA3072: 3072} {
		k, err := GenerateKey(kt)
		if err != nil {
			t.Fatal(err)
		}
		if n := k.(*rsa.PrivateKey).N.BitLen(); n != bits {
			t.Errorf("%s: %d bits", kt, n)
		}
		if d := KeyDescription(k.Public()); d != "RSA "+map[int]string{2048: "2048", 3072: "3072"}[bits] {
			t.Errorf("description %q", d)
		}
	}
}

func TestCSR(t *testing.T) {
	key, _ := GenerateKey(ECDSAP256)
	sans, _ := ParseSANs("DNS:agent.example,IP:192.0.2.7")
	der, err := NewCSR(key, CSROptions{CommonName: "agent", SANs: sans, Server: true, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	if csr.Subject.CommonName != "agent" || csr.DNSNames[0] != "agent.example" || !csr.IPAddresses[0].Equal(net.ParseIP("192.0.2.7")) {
		t.Errorf("CSR: %s %v %v", csr.Subject, csr.DNSNames, csr.IPAddresses)
	}
	found := false
	for _, e := range csr.Extensions {
		found = found || e.Id.Equal(oidExtKeyUsage)
	}
	if !found {
		t.Error("no extendedKeyUsage requested")
	}
	if _, err := NewCSR(key, CSROptions{}); !errors.Is(err, ErrBadOption) {
		t.Errorf("CSR without a name: %v", err)
	}
}
