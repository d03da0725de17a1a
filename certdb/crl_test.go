package main

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

func testCRL(t *testing.T, ca *testcerts.Cert, number int64, thisUpdate time.Time, revoked ...*testcerts.Cert) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: thisUpdate, NextUpdate: thisUpdate.Add(7 * 24 * time.Hour)}
	for _, r := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: r.Cert.SerialNumber, RevocationTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCRLCommands: crl add checks the CA and stores the CRL as a 0644 file in
// crl/, replaces it only with a newer one, crl list shows it, crl delete removes
// it; a CRL of a CA the store lacks, or forged under its name, is refused and
// nothing is written.
func TestCRLCommands(t *testing.T) {
	p := newPKIFiles(t)
	db := filepath.Join(t.TempDir(), "db")
	must(t, "create", "-d", db)
	must(t, "add", "-d", db, "-n", "Root CA", "-t", "CT,,", "-i", p.rootPEM)
	now := time.Now().Add(-time.Hour)

	// Refused: a CRL from a CA the store does not hold, one forged under the
	// CA's name with another key, garbage.
	stranger := testcerts.New(t, nil, testcerts.Options{CN: "stranger", IsCA: true})
	forger := testcerts.New(t, nil, testcerts.Options{CN: "myCA", IsCA: true})
	before := dirSnapshot(t, db)
	for name, data := range map[string][]byte{
		"stranger.crl": testCRL(t, stranger, 1, now, p.server),
		"forged.crl":   testCRL(t, forger, 1, now, p.server),
	} {
		errs := fails(t, 1, "crl", "add", "-d", db, "-i", writeFile(t, filepath.Join(p.dir, name), data))
		if !strings.Contains(errs, "not a CA in the store") || !strings.Contains(errs, "certdb add -d") {
			t.Errorf("%s: %s", name, errs)
		}
	}
	errs := fails(t, 1, "crl", "add", "-d", db, "-i", writeFile(t, filepath.Join(p.dir, "junk.crl"), []byte("junk")))
	if !strings.Contains(errs, "PEM or DER") {
		t.Errorf("junk: %s", errs)
	}
	assertUnchanged(t, db, before)

	// Added, as PEM.
	first := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: testCRL(t, p.root, 5, now, p.server)})
	out := must(t, "crl", "add", "-d", db, "-i", writeFile(t, filepath.Join(p.dir, "ca.crl"), first))
	if !strings.HasPrefix(out, `added the CRL of "Root CA" (number 5, next update `) || !strings.Contains(out, "1 revoked") {
		t.Errorf("add said %q", out)
	}
	files, _ := filepath.Glob(filepath.Join(db, store.CRLDirName, "*.crl"))
	if len(files) != 1 {
		t.Fatalf("crl folder holds %v", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("CRL file mode: %v %v", fi.Mode(), err)
	}

	// An older number, and the same one again, are refused (a replay cannot
	// un-revoke); a newer one replaces it.
	for _, n := range []int64{4, 5} {
		errs := fails(t, 1, "crl", "add", "-d", db, "-i", writeFile(t, filepath.Join(p.dir, "old.crl"), testCRL(t, p.root, n, now.Add(time.Minute))))
		if !strings.Contains(errs, "as new or newer") {
			t.Errorf("number %d: %s", n, errs)
		}
	}
	out = must(t, "crl", "add", "-d", db, "-i", writeFile(t, filepath.Join(p.dir, "new.crl"), testCRL(t, p.root, 6, now, p.server, p.other)))
	if !strings.HasPrefix(out, `replaced the CRL of "Root CA" (number 6`) {
		t.Errorf("replace said %q", out)
	}

	out = must(t, "crl", "list", "-d", db)
	for _, w := range []string{`CA "Root CA"`, "Issuer:       CN=myCA", "Number:       6", "Revoked:      2", files[0]} {
		if !strings.Contains(out, w) {
			t.Errorf("list lacks %q:\n%s", w, out)
		}
	}
	out = must(t, "crl", "list", "-d", db, "-n", "Root CA")
	if !strings.Contains(out, "serial "+strings.ToUpper(p.other.Cert.SerialNumber.Text(16))+"  revoked 2026-01-02 03:04:05 UTC") {
		t.Errorf("list -n lacks the serials:\n%s", out)
	}

	must(t, "crl", "delete", "-d", db, "-n", "Root CA")
	if files, _ := filepath.Glob(filepath.Join(db, store.CRLDirName, "*.crl")); len(files) != 0 {
		t.Fatalf("delete left %v", files)
	}
	if errs := fails(t, 1, "crl", "delete", "-d", db, "-n", "Root CA"); !strings.Contains(errs, "no CRL stored") {
		t.Errorf("second delete: %s", errs)
	}
	if _, errs, code := cli(t, nil, "crl", "add", "-d", db); code != 2 || !strings.Contains(errs, "-i FILE is required") {
		t.Errorf("missing -i: %d %s", code, errs)
	}
}
