package store

import (
	"errors"
	"testing"
)

func TestAddIdentity(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "pw")
	if _, err := s.AddIdentity("srv", p.server.Cert, p.server.Key, MustParseTrust("P,,")); err != nil {
		t.Fatal(err)
	}
	e, err := s.Get("srv")
	if err != nil || !e.HasKey || e.Trust.String() != "Pu,u,u" {
		t.Fatalf("srv: %+v %v", e, err)
	}
	before := dirSnapshot(t, dir)
	for name, fn := range map[string]func() error{
		"mismatch": func() error {
			_, err := s.AddIdentity("x", p.client.Cert, p.server.Key, Trust{})
			return expect(err, ErrKeyMismatch)
		},
		"same nickname": func() error {
			_, err := s.AddIdentity("srv", p.client.Cert, p.client.Key, Trust{})
			return expect(err, ErrDuplicate)
		},
		"same certificate": func() error {
			_, err := s.AddIdentity("again", p.server.Cert, p.server.Key, Trust{})
			return expect(err, ErrDuplicate)
		},
		"bad nickname": func() error {
			_, err := s.AddIdentity(" x", p.client.Cert, p.client.Key, Trust{})
			return expect(err, ErrBadInput)
		},
	} {
		if err := fn(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	sameDir(t, before, dirSnapshot(t, dir))
	locked, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locked.AddIdentity("c", p.client.Cert, p.client.Key, Trust{}); !errors.Is(err, ErrLocked) {
		t.Errorf("locked store: %v", err)
	}
	sameDir(t, before, dirSnapshot(t, dir))
}

// expect returns nil if err wraps want, else an error saying what came.
func expect(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return errors.Join(errors.New("want "+want.Error()), err)
}

func TestAddAll(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "pw")
	s.AddCert("myCA", p.root.Cert, Trust{})
	s.AddCert("pmclient", p.inter.Cert, Trust{}) // a name the batch wants, holding another certificate
	before := dirSnapshot(t, dir)
	// One bad item: nothing is written.
	if _, _, err := s.AddAll([]Item{{Nickname: "ok", Cert: p.server.Cert}, {Nickname: "bad", Cert: p.client.Cert, Key: p.server.Key}}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("mismatch: %v", err)
	}
	sameDir(t, before, dirSnapshot(t, dir))

	out, _, err := s.AddAll([]Item{
		{Nickname: "pmserver", Cert: p.server.Cert, Key: p.server.Key},
		{Nickname: "Root", Cert: p.root.Cert, Trust: MustParseTrust("CT,,")},
		{Nickname: "pmclient", Cert: p.client.Cert, Key: p.client.Key},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Outcome{{Nickname: "pmserver", Added: true}, {Nickname: "myCA", Existed: true}, {Nickname: "pmclient #2", Added: true, Renamed: true}}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("outcome %d: %+v, want %+v", i, out[i], want[i])
		}
	}
	if e, _ := s.Get("myCA"); e.Trust.String() != "CT,," {
		t.Errorf("existing CA without trust got %s", e.Trust)
	}
	// Again: the identity is there already.
	out, _, err = s.AddAll([]Item{{Nickname: "x", Cert: p.server.Cert, Key: p.server.Key}})
	if err != nil || !out[0].Existed || out[0].KeyAdded {
		t.Errorf("stored identity again: %+v %v", out, err)
	}
	// The key of a certificate stored without one joins it.
	other := newPKI(t)
	s.AddCert("bare", other.client.Cert, Trust{})
	out, _, err = s.AddAll([]Item{{Nickname: "x", Cert: other.client.Cert, Key: other.client.Key}})
	if err != nil || !out[0].KeyAdded || out[0].Nickname != "bare" {
		t.Errorf("key for a bare certificate: %+v %v", out, err)
	}
	locked, _ := Open(dir, nil)
	if _, _, err := locked.AddAll([]Item{{Nickname: "k", Cert: other.server.Cert, Key: other.server.Key}}); !errors.Is(err, ErrLocked) {
		t.Errorf("locked: %v", err)
	}
}
