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
