package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func needNSSTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"certutil", "pk12util"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: install libnss3-tools (apt-get install -y libnss3-tools) to test the NSS import", tool)
		}
	}
}

// nssKeys is `certutil -K` without its first line ("certutil: Checking token ...").
func nssKeys(t *testing.T, dir, db, pwFile string) string {
	out := sh(t, dir, "certutil", "-d", db, "-K", "-f", pwFile)
	return out[strings.Index(out, "\n")+1:]
}

// TestImportNSSSeedWalkthrough builds the collector's NSS database exactly as
// the seed 003 walkthrough does, with the real certutil and pk12util, adds the
// client's identity, a few unusual trusts, an EC key made by certutil -S and a
// pending request (certutil -R), then imports it: list and keys must show what
// certutil shows, and the keys must work.
func TestImportNSSSeedWalkthrough(t *testing.T) {
	needNSSTools(t)
	d := seedPKI(t)
	in := func(f string) string { return filepath.Join(d, f) }
	nssDir := filepath.Join(t.TempDir(), "nssdb")
	os.MkdirAll(nssDir, 0o700)
	nss := "sql:" + nssDir
	writeFile(t, in("noise"), []byte(strings.Repeat("random noise for certutil ", 40)))

	// The walkthrough, as written (empty password).
	sh(t, d, "certutil", "-d", nss, "-N", "-f", in("empty"))
	sh(t, d, "certutil", "-d", nss, "-A", "-t", "CT,,", "-n", "Root CA", "-i", in("rootCA.crt"))
	sh(t, d, "certutil", "-d", nss, "-A", "-t", "P,,", "-n", "pmserver_cert", "-i", in("pmserver.crt"))
	sh(t, d, "pk12util", "-i", in("pmserver_pkcs12.key"), "-d", nss, "-w", in("pmserver.p12pass"), "-k", in("empty"))
	// More than the walkthrough: the client identity, odd trust, EC, a request.
	sh(t, d, "pk12util", "-i", in("pmclient_pkcs12.key"), "-d", nss, "-w", in("pmclient.p12pass"), "-k", in("empty"))
	sh(t, d, "certutil", "-d", nss, "-M", "-t", "c,C,T", "-n", "pmclient")
	sh(t, d, "openssl", "req", "-new", "-x509", "-key", "rootCA.key", "-out", "other.crt", "-days", "1", "-subj", "/CN=other")
	sh(t, d, "certutil", "-d", nss, "-A", "-t", "p,p,p", "-n", "Wurzel-CA Äöü", "-i", in("other.crt"))
	sh(t, d, "certutil", "-d", nss, "-S", "-x", "-n", "ec self", "-s", "CN=ec.example", "-k", "ec", "-q", "nistp256", "-t", "P,,",
		"-v", "12", "-z", in("noise"), "-f", in("empty"), "--keyUsage", "digitalSignature", "--extKeyUsage", "serverAuth", "--extSAN", "dns:ec.example")
	sh(t, d, "certutil", "-d", nss, "-R", "-s", "CN=pending.example", "-k", "rsa", "-g", "2048", "-o", in("req.csr"), "-a", "-z", in("noise"), "-f", in("empty"))

	db := filepath.Join(t.TempDir(), "imported")
	out := must(t, "import-nss", "-d", db, "--from", nss, "-f", in("empty"))
	if !strings.HasPrefix(out, "imported 5 certificate(s) with their trust, 3 of them with their private key, from "+nssDir+" into new store "+db+" (empty password); 1 key(s) without a certificate wait for one") {
		t.Errorf("import-nss said %q", out)
	}
	nssList := sh(t, d, "certutil", "-d", nss, "-L")
	if got := must(t, "list", "-d", db); got != nssList {
		t.Errorf("certdb list:\n%s\ncertutil -L:\n%s", got, nssList)
	}
	// certutil -K lists the request's key as "(orphan)"; certdb calls it pending.
	want := strings.ReplaceAll(nssKeys(t, d, nss, in("empty")), "(orphan)", "")
	got := must(t, "keys", "-d", db)
	lines := func(s string) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			f := strings.Fields(l)
			out = append(out, strings.Join(f[2:4], " ")) // type and key ID
		}
		return out
	}
	if g, w := strings.Join(lines(got), "\n"), strings.Join(lines(want), "\n"); len(lines(got)) != 4 || !sameSet(lines(got), lines(want)) {
		t.Errorf("certdb keys:\n%s\ncertutil -K:\n%s\n(%s vs %s)", got, want, g, w)
	}
	// The keys work: each identity checks PASS on its key, and the server one
	// goes through a PKCS#12 export that openssl reads.
	for _, nick := range []string{"pmserver_cert", "pmclient", "ec self"} {
		out, _, _ := cli(t, nil, "check", "-d", db, "-n", nick)
		if !strings.Contains(out, "PASS key:") {
			t.Errorf("check %s:\n%s", nick, out)
		}
	}
	must(t, "export", "-d", db, "-n", "pmserver_cert", "-o", in("back.p12"), "-w", in("pmserver.p12pass"))
	sh(t, d, "openssl", "pkcs12", "-in", in("back.p12"), "-passin", "pass:pmserver-p12", "-nodes", "-out", in("back.pem"))
	if a, b := sh(t, d, "openssl", "pkey", "-in", in("back.pem"), "-pubout"), sh(t, d, "openssl", "x509", "-in", in("pmserver.crt"), "-noout", "-pubkey"); a != b {
		t.Error("the imported key is not pmserver's")
	}
	// The request's key takes its certificate when the CA signs it.
	sh(t, d, "openssl", "x509", "-req", "-in", in("req.csr"), "-CA", "rootCA.crt", "-CAkey", "rootCA.key", "-CAcreateserial", "-out", "pending.crt", "-days", "5")
	out = must(t, "add", "-d", db, "-n", "pending", "-i", in("pending.crt"), "-t", ",,")
	if !strings.Contains(out, "to the key its request was made with") {
		t.Errorf("add of the signed request: %q", out)
	}
	// Importing again changes nothing.
	out = must(t, "import-nss", "-d", db, "--from", nss, "-f", in("empty"))
	if !strings.Contains(out, "imported 0 certificate(s)") || !strings.Contains(out, "5 were already stored") {
		t.Errorf("second import said %q", out)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

// TestImportNSSPasswordAndErrors: a database with a password, wrong and
// missing passwords, damaged and foreign databases.
func TestImportNSSPasswordAndErrors(t *testing.T) {
	needNSSTools(t)
	d := seedPKI(t)
	in := func(f string) string { return filepath.Join(d, f) }
	nssDir := filepath.Join(t.TempDir(), "nssdb")
	os.MkdirAll(nssDir, 0o700)
	nss := "sql:" + nssDir
	writeFile(t, in("nsspw"), []byte("Geheim 123\n"))
	sh(t, d, "certutil", "-d", nss, "-N", "-f", in("nsspw"))
	sh(t, d, "certutil", "-d", nss, "-A", "-t", "CT,,", "-n", "Root CA", "-i", in("rootCA.crt"), "-f", in("nsspw"))
	sh(t, d, "pk12util", "-i", in("pmserver_pkcs12.key"), "-d", nss, "-w", in("pmserver.p12pass"), "-k", in("nsspw"))

	db := filepath.Join(t.TempDir(), "db")
	must(t, "create", "-d", db)
	before := dirSnapshot(t, db)
	for _, tc := range []struct {
		code int
		args []string
		want []string
	}{
		{1, []string{"import-nss", "-d", db, "--from", nss}, []string{nssDir, "password", "-f FILE"}},
		{1, []string{"import-nss", "-d", db, "--from", nss, "-f", in("empty")}, []string{"key4.db", "NSS database password incorrect", in("empty")}},
		{1, []string{"import-nss", "-d", db, "--from", d}, []string{"no cert9.db"}},
		{2, []string{"import-nss", "-d", db}, []string{"--from sql:NSSDIR is required"}},
		{2, []string{"import-nss", "-d", nssDir, "--from", nss}, []string{"same folder"}},
	} {
		errs := fails(t, tc.code, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%v: stderr lacks %q: %s", tc.args, w, errs)
			}
		}
	}
	assertUnchanged(t, db, before)

	// A damaged copy: cert9.db cut short.
	bad := filepath.Join(t.TempDir(), "bad")
	os.MkdirAll(bad, 0o700)
	data, _ := os.ReadFile(filepath.Join(nssDir, "cert9.db"))
	writeFile(t, filepath.Join(bad, "cert9.db"), data[:len(data)/2+100])
	errs := fails(t, 1, "import-nss", "-d", db, "--from", bad)
	if !strings.Contains(errs, filepath.Join(bad, "cert9.db")) {
		t.Errorf("damaged: %s", errs)
	}
	// An old DBM database.
	old := filepath.Join(t.TempDir(), "old")
	os.MkdirAll(old, 0o700)
	writeFile(t, filepath.Join(old, "cert8.db"), []byte("x"))
	if errs := fails(t, 1, "import-nss", "-d", db, "--from", old); !strings.Contains(errs, "cert8.db") || !strings.Contains(errs, "certutil -d sql:") {
		t.Errorf("DBM: %s", errs)
	}
	assertUnchanged(t, db, before)

	// The right password: a new store gets the NSS database's password.
	newdb := filepath.Join(t.TempDir(), "new")
	out := must(t, "import-nss", "-d", newdb, "--from", nss, "-f", in("nsspw"))
	if !strings.Contains(out, "(the NSS database's password)") || !strings.Contains(out, "2 certificate(s) with their trust, 1 of them with their private key") {
		t.Errorf("import said %q", out)
	}
	if errs := fails(t, 1, "export", "-d", newdb, "-n", "pmserver", "-o", in("x.p12"), "-w", in("empty")); !strings.Contains(errs, "-f FILE") {
		t.Errorf("store without its password: %s", errs)
	}
	must(t, "export", "-d", newdb, "-f", in("nsspw"), "-n", "pmserver", "-o", in("x.p12"), "-w", in("empty"))
	// An existing store with an empty password takes it (-k for its own password).
	out = must(t, "import-nss", "-d", db, "--from", nss, "-f", in("nsspw"), "-k", in("empty"))
	if got, want := must(t, "list", "-d", db), sh(t, d, "certutil", "-d", nss, "-L"); got != want {
		t.Errorf("list:\n%s\ncertutil:\n%s", got, want)
	}
}

// TestCertdbHintsAtImportNSS: pointing certdb at an NSS database suggests the import.
func TestCertdbHintsAtImportNSS(t *testing.T) {
	d := t.TempDir()
	writeFile(t, filepath.Join(d, "cert9.db"), []byte("x"))
	errs := fails(t, 1, "list", "-d", "sql:"+d)
	if !strings.Contains(errs, "certdb import-nss -d NEWDIR --from sql:"+d) {
		t.Errorf("hint: %s", errs)
	}
}
