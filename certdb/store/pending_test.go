package store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/testcerts"
)

func storeVersion(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Version int }
	json.Unmarshal(data, &v)
	return v.Version
}

func TestPendingKeyLifecycle(t *testing.T) {
	p := newPKI(t)
	s, dir := newStore(t, "pw")
	s.AddCert("Root CA", p.root.Cert, MustParseTrust("CT,,"))
	if storeVersion(t, dir) != 1 {
		t.Fatal("a store without pending keys is not version 1")
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "agent"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddPendingKey("agent", key, csr); err != nil {
		t.Fatal(err)
	}
	if storeVersion(t, dir) != 2 {
		t.Error("a store with a pending key is not version 2")
	}
	// Visible after a reopen; not a certificate; listed by Keys.
	s2, err := Open(dir, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := s2.PendingKey("agent")
	if err != nil || pk.Request == nil || pk.Request.Subject.CommonName != "agent" {
		t.Fatalf("pending: %+v %v", pk, err)
	}
	if _, err := s2.Get("agent"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a pending key: %v", err)
	}
	if len(s2.List()) != 1 || len(s2.Identities()) != 0 {
		t.Error("pending key shows up as a certificate")
	}
	keys := s2.Keys()
	if len(keys) != 1 || !keys[0].Pending || keys[0].Algorithm != "ec" || keys[0].Nickname != "agent" {
		t.Errorf("keys: %+v", keys)
	}
	if k, err := s2.PendingPrivateKey("agent"); err != nil || !k.(*ecdsa.PrivateKey).Equal(key) {
		t.Errorf("pending private key: %v", err)
	}
	// The name is taken.
	other := testcerts.New(t, p.root, testcerts.Options{CN: "other", Client: true})
	if err := expect(s2.AddPendingKey("agent", key, nil), ErrDuplicate); err != nil {
		t.Error(err)
	}
	if _, err := s2.AddIdentity("agent", other.Cert, other.Key, Trust{}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("identity over a pending name: %v", err)
	}
	before := dirSnapshot(t, dir)
	// A certificate for another key is refused, under the name or by ReceiveCert.
	if _, err := s2.AddCert("agent", other.Cert, Trust{}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("AddCert of a foreign certificate: %v", err)
	}
	if _, _, err := s2.ReceiveCert("agent", other.Cert, nil, Trust{}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("ReceiveCert of a foreign certificate: %v", err)
	}
	if _, _, err := s2.ReceiveCert("nobody", other.Cert, nil, Trust{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReceiveCert without a pending key: %v", err)
	}
	// Locked: the key cannot move.
	locked, _ := Open(dir, nil)
	signed := signFor(t, p.inter, key, "agent")
	if _, _, err := locked.ReceiveCert("agent", signed, nil, Trust{}); !errors.Is(err, ErrLocked) {
		t.Errorf("locked ReceiveCert: %v", err)
	}
	sameDir(t, before, dirSnapshot(t, dir))

	// The signed certificate arrives with its chain.
	added, _, err := s2.ReceiveCert("agent", signed, []*x509.Certificate{signed, p.inter.Cert, p.root.Cert}, Trust{})
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 2 || added[0] != "agent" || added[1] != "myCA intermediate" {
		t.Errorf("added %v", added)
	}
	e, err := s2.Get("agent")
	if err != nil || !e.HasKey || e.Trust.String() != "u,u,u" {
		t.Fatalf("agent after receive: %+v %v", e, err)
	}
	id, err := s2.Identity("agent")
	if err != nil || len(id.Certificate) != 2 {
		t.Errorf("identity: %v %d", err, len(id.Certificate))
	}
	if len(s2.PendingKeys()) != 0 || storeVersion(t, dir) != 1 {
		t.Error("pending key left behind, or store still version 2")
	}
}

// signFor issues a certificate for key's public key from ca.
func signFor(t *testing.T, ca *testcerts.Cert, key *ecdsa.PrivateKey, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: ca.Cert.NotBefore, NotAfter: ca.Cert.NotAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestAddCertJoinsPendingKey(t *testing.T) {
	p := newPKI(t)
	s, _ := newStore(t, "")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := s.AddPendingKey("req", key, nil); err != nil {
		t.Fatal(err)
	}
	// Under another nickname: the key still joins (found by its public key).
	signed := signFor(t, p.root, key, "req")
	if _, err := s.AddCert("renamed", signed, MustParseTrust("P,,")); err != nil {
		t.Fatal(err)
	}
	e, _ := s.Get("renamed")
	if !e.HasKey || e.Trust.String() != "Pu,u,u" || len(s.PendingKeys()) != 0 {
		t.Errorf("renamed: %+v pending %d", e, len(s.PendingKeys()))
	}
	// Delete removes a pending key too.
	s.AddPendingKey("gone", key, nil)
	if err := s.Delete("gone"); err != nil || len(s.PendingKeys()) != 0 {
		t.Errorf("delete pending: %v", err)
	}
	// A CSR for another key is refused.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, other)
	if err := s.AddPendingKey("x", key, csr); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("mismatched CSR: %v", err)
	}
}

func TestPendingInVersion1Refused(t *testing.T) {
	data := []byte(`{"format":"gopcp-certdb","version":1,"kdf":{"name":"scrypt","salt":"AAAAAAAAAAA=","n":2,"r":1,"p":1},"check":"","entries":[],"pending":[{"nickname":"a","public":"","key":""}]}`)
	if _, err := decodeState(data); !errors.Is(err, ErrCorrupt) {
		t.Errorf("pending in v1: %v", err)
	}
}
