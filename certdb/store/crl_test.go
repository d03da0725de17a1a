package store

import (
	"crypto/x509"
	"math/big"
	"testing"
	"time"
)

// TestNewerCRL: CRL numbers decide when both have one (a later date with a
// lower number is a replay); without numbers, a later thisUpdate.
func TestNewerCRL(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	crl := func(n int64, at time.Time) *x509.RevocationList {
		l := &x509.RevocationList{ThisUpdate: at}
		if n >= 0 {
			l.Number = big.NewInt(n)
		}
		return l
	}
	for _, tc := range []struct {
		next, prev *x509.RevocationList
		want       bool
	}{
		{crl(2, t0), crl(1, t0), true},
		{crl(1, t0.Add(time.Hour)), crl(2, t0), false},
		{crl(2, t0), crl(2, t0), false},
		{crl(-1, t0.Add(time.Hour)), crl(-1, t0), true},
		{crl(-1, t0), crl(-1, t0), false},
		{crl(3, t0.Add(time.Hour)), crl(-1, t0), true},
		{crl(3, t0.Add(-time.Hour)), crl(-1, t0), false},
	} {
		if got := newerCRL(tc.next, tc.prev); got != tc.want {
			t.Errorf("newerCRL(%v@%v, %v@%v) = %v", tc.next.Number, tc.next.ThisUpdate, tc.prev.Number, tc.prev.ThisUpdate, got)
		}
	}
}

// TestParseCRLsHostile: inputs that are not CRLs are errors, never panics.
func TestParseCRLsHostile(t *testing.T) {
	for _, in := range [][]byte{nil, {}, []byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"),
		[]byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), {0x30, 0x80}, {0x30, 0x03, 0x02, 0x01}} {
		if _, err := ParseCRLs(in); err == nil {
			t.Errorf("ParseCRLs(%q) accepted", in)
		}
	}
}
