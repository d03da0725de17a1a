package store

import "testing"

func TestParseTrust(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"CT,,", "CT,,"},
		{"TC,,", "CT,,"},
		{"P,,", "P,,"},
		{"pP,,", "P,,"},
		{"p,p,p", "p,p,p"},
		{"u,u,u", "u,u,u"},
		{"C,C,C", "C,C,C"},
		{"cC,c,", "C,c,"},
		{"c,,", "c,,"},
		{"CT", "CT,,"},
		{"", ",,"},
		{",,", ",,"},
		{"CTu,Cu,Cu", "CTu,Cu,Cu"},
		{"wPu,,", "Puw,,"},
		{"i,g,", "I,G,"},
		{"C, ,", "C,,"},
	}
	for _, tt := range tests {
		tr, err := ParseTrust(tt.in)
		if err != nil {
			t.Errorf("ParseTrust(%q): %v", tt.in, err)
			continue
		}
		if got := tr.String(); got != tt.want {
			t.Errorf("ParseTrust(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseTrustErrors(t *testing.T) {
	for _, in := range []string{"X,,", "CT,,,", "a,b,c,d", "C;T", "CT,,x"} {
		if tr, err := ParseTrust(in); err == nil {
			t.Errorf("ParseTrust(%q) = %v, want an error", in, tr)
		}
	}
}

func TestTrustUserDerived(t *testing.T) {
	tests := []struct{ stored, shown string }{
		{",,", "u,u,u"},
		{"P,,", "Pu,u,u"},
		{"CT,,", "CTu,u,u"},
		{"CT,C,C", "CTu,Cu,Cu"},
	}
	for _, tt := range tests {
		if got := MustParseTrust(tt.stored).withUser().String(); got != tt.shown {
			t.Errorf("%q with a key shows %q, want %q", tt.stored, got, tt.shown)
		}
		n, err := MustParseTrust(tt.shown).normalize()
		if err != nil || n.String() != tt.stored {
			t.Errorf("normalize(%q) = %q, %v; want %q", tt.shown, n, err, tt.stored)
		}
	}
}

func TestTrustPredicates(t *testing.T) {
	tests := []struct {
		trust                                string
		server, client, peer, distrust, zero bool
	}{
		{"CT,,", true, true, false, false, false},
		{"C,,", true, false, false, false, false},
		{"T,,", false, true, false, false, false},
		{"c,,", false, false, false, false, false},
		{"P,,", false, false, true, false, false},
		{"p,,", false, false, false, true, false},
		{",C,C", false, false, false, false, false},
		{",,", false, false, false, false, true},
	}
	for _, tt := range tests {
		tr := MustParseTrust(tt.trust)
		if tr.TrustedServerCA() != tt.server || tr.TrustedClientCA() != tt.client ||
			tr.TrustedPeer() != tt.peer || tr.Distrusted() != tt.distrust || tr.IsZero() != tt.zero {
			t.Errorf("%q: server=%v client=%v peer=%v distrusted=%v zero=%v", tt.trust,
				tr.TrustedServerCA(), tr.TrustedClientCA(), tr.TrustedPeer(), tr.Distrusted(), tr.IsZero())
		}
	}
	if d := MustParseTrust("CTu,,").Describe(); d != "trusted CA for server and client certificates; has a private key" {
		t.Errorf("Describe = %q", d)
	}
}

// What certutil -L shows after certutil -M -t IN on an NSS sql database (NSS
// 3.87, recorded with the real tools).
func TestTrustStoredAsNSS(t *testing.T) {
	tests := []struct{ in, stored string }{
		{"T,T,T", "T,c,c"},
		{"C,C,C", "C,C,C"},
		{"c,c,c", "c,c,c"},
		{"P,P,P", "P,P,P"},
		{"p,p,p", "p,p,p"},
		{"w,w,w", ",,"},
		{"CT,CT,CT", "CT,C,C"},
		{"Pw,,", "P,,"},
		{"cP,,", "P,,"},
		{"pC,,", "pC,,"},
		{"u,u,u", ",,"},
		{"CTP,,", "CT,,"},
		{"Tp,,", "pT,,"},
		{"i,,", ",,"},
		{"g,,", ",,"},
		{"gC,,", "C,,"},
		{"c,T,C", "c,c,C"},
		{"P,CT,p", "P,C,p"},
		{"CTu,Cu,Cu", "CT,C,C"},
	}
	for _, tt := range tests {
		n, err := MustParseTrust(tt.in).normalize()
		if err != nil || n.String() != tt.stored {
			t.Errorf("%q stored as %q, %v; certutil keeps %q", tt.in, n, err, tt.stored)
		}
	}
}

func TestTrustStringKeepsUnknownLetters(t *testing.T) {
	if got := (Trust{SSL: "TCz"}).String(); got != "CTz,," {
		t.Errorf("got %q", got)
	}
}

// TestDistrustedFor: p in the SSL position distrusts for the uses the same
// position does not make the certificate an anchor or a peer for.
func TestDistrustedFor(t *testing.T) {
	for _, c := range []struct {
		trust            string
		clients, servers bool
	}{
		{"p,,", true, true},
		{"pT,,", false, true},
		{"P,,", false, false},
		{"CT,,", false, false},
		{"c,,", false, false},
		{",p,p", false, false}, // only the SSL position counts
	} {
		tr, err := ParseTrust(c.trust)
		if err != nil {
			t.Fatal(err)
		}
		if tr, err = tr.normalize(); err != nil {
			t.Fatal(err)
		}
		if tr.DistrustedFor(true) != c.clients || tr.DistrustedFor(false) != c.servers {
			t.Errorf("%s (kept as %s): for clients %v, servers %v; want %v, %v", c.trust, tr, tr.DistrustedFor(true), tr.DistrustedFor(false), c.clients, c.servers)
		}
	}
}
