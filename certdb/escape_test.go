package main

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// hostileEntry makes a store holding a certificate whose subject and names try
// to drive the terminal, under a nickname the store file was edited to give the
// same treatment (certdb itself refuses such nicknames; a hostile file does not
// ask it).
func hostileEntry(t *testing.T) (dir, nick string) {
	t.Helper()
	ca := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9),
		Subject:   pkix.Name{CommonName: "evil\x1b[2J\a\rFAKE\nline"},
		DNSNames:  []string{"x\x1b]0;pwned\a.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, ca.Key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "db")
	st, err := store.CreateWith(dir, nil, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddCert("placeholder", cert, store.MustParseTrust("P,,")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, store.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	nick = "nick\x1b[2J\a\r\u009bFAKE\nline"
	doc["entries"].([]any)[0].(map[string]any)["nickname"] = nick
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, nick
}

func assertInert(t *testing.T, what, s string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\a", "\r", "\u009b", "FAKE\n"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s holds %q raw:\n%q", what, bad, s)
		}
	}
}

// TestListEscapesHostileText: certdb list, list -n and keys show nicknames,
// subjects and names from the store file escaped.
func TestListEscapesHostileText(t *testing.T) {
	dir, nick := hostileEntry(t)
	out := must(t, "list", "-d", dir)
	assertInert(t, "list", out)
	if !strings.Contains(out, `nick\x1b[2J\a\r\u009bFAKE\nline`) {
		t.Errorf("list does not show the escaped nickname:\n%s", out)
	}
	out = must(t, "list", "-d", dir, "-n", nick)
	assertInert(t, "list -n", out)
	if !strings.Contains(out, `evil\x1b[2J\a\rFAKE\nline`) || !strings.Contains(out, `x\x1b]0;pwned\a.example`) {
		t.Errorf("details do not show the escaped subject and SAN:\n%s", out)
	}
}

// TestCheckEscapesHostileText: certdb check shows the subject, nickname, host
// and findings escaped.
func TestCheckEscapesHostileText(t *testing.T) {
	dir, nick := hostileEntry(t)
	out, _, _ := cli(t, nil, "check", "-d", dir, "-n", nick, "--host", "h\x1b[2J.example")
	assertInert(t, "check", out)
	if !strings.Contains(out, `evil\x1b[2J\a\rFAKE\nline`) {
		t.Errorf("check does not show the escaped subject:\n%s", out)
	}
}
