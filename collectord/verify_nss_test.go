package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/shellquote"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// These tests use NSS databases made by the real certutil and pk12util from
// certificates made by openssl, exactly as PCP's secure-connections
// walkthrough makes them (CN only, no subjectAltName, no extendedKeyUsage).

// nssPKI is the walkthrough's files (16.3): rootCA, and pmserver and pmclient
// keys, certificates and PKCS#12 files; pw is a password file ("pw") and
// empty the empty password.
type nssPKI struct {
	dir string
	ca  *testcerts.Cert // rootCA.crt, for the collector's harness
}

func newNSSPKI(t *testing.T) *nssPKI {
	t.Helper()
	d := t.TempDir()
	testcerts.WalkthroughPKI(t, d, func(string) string { return "secret" })
	writeFile(t, filepath.Join(d, "pw"), "db password\n")
	os.Chmod(filepath.Join(d, "empty"), 0o600)
	os.Chmod(filepath.Join(d, "pw"), 0o600)
	ca := testcerts.ReadPEMCert(t, filepath.Join(d, "rootCA.crt"))
	return &nssPKI{dir: d, ca: &testcerts.Cert{Cert: ca}}
}

// db fills the NSS database dir as the walkthrough's 16.4 and 16.5 do for who,
// with the password in pwFile ("empty" or "pw"); caTrust is the trust the
// Root CA is added with ("" adds it only through the PKCS#12 file, untrusted).
func (p *nssPKI) db(t *testing.T, dir, who, pwFile, caTrust string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	db := "sql:" + dir
	testcerts.Run(t, p.dir, "certutil", "-d", db, "-N", "-f", pwFile)
	if caTrust != "" {
		testcerts.Run(t, p.dir, "certutil", "-d", db, "-A", "-t", caTrust, "-n", "Root CA", "-i", "rootCA.crt", "-f", pwFile)
	}
	testcerts.Run(t, p.dir, "certutil", "-d", db, "-A", "-t", "P,,", "-n", who+"_cert", "-i", who+".crt", "-f", pwFile)
	testcerts.Run(t, p.dir, "pk12util", "-i", who+"_pkcs12.key", "-d", db, "-W", "secret", "-k", pwFile)
}

// noConfig is an empty configuration file: the flags say it all.
func noConfig(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "none.toml")
	writeFile(t, f, "")
	return f
}

// nssHome points HOME at a fresh folder and clears the client variables, so
// that only the databases a test names are read.
func nssHome(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	for _, v := range []string{"PCP_SECURE_DB_PATH", "PCP_SECURE_DB_PASSWORD_FILE", "PCP_SECURE_CLIENT_NICKNAME", "PCP_TLSCONF_PATH"} {
		t.Setenv(v, "")
	}
}

func wantAll(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("transcript lacks %q:\n%s", w, out)
		}
	}
}

// TestVerifyNSSWalkthrough: the walkthrough's set-up in NSS databases used in
// place (the collector's sql:/etc/pcp/nssdb, the user's ~/.pki/nssdb) passes
// with warnings only, each with what to do, and verify connects with the
// user's database as pminfo would.
func TestVerifyNSSWalkthrough(t *testing.T) {
	testcerts.NeedNSSTools(t)
	nssHome(t)
	t.Chdir(t.TempDir())
	p := newNSSPKI(t)
	srv := filepath.Join(t.TempDir(), "etc", "pcp", "nssdb")
	cli := filepath.Join(t.TempDir(), ".pki", "nssdb")
	p.db(t, srv, "pmserver", "empty", "CT,,")
	p.db(t, cli, "pmclient", "empty", "CT,,")
	h := startReloader(t, "", p.ca, "-C", "sql:"+srv, "-M", "pmserver_cert", "-Q")
	out, code := verifyRun(t, "--secure", "--config", h.cfg, "-C", "sql:"+srv, "-M", "pmserver_cert", "-Q",
		"-p", itoa(h.port), "--client-store", "sql:"+cli)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	wantAll(t, out,
		"PASS store: NSS database sql:"+srv+" opened (",
		`PASS nickname: "pmserver_cert" found`,
		`WARN names: no subjectAltName: clients match the common name "pmserver" instead (as NSS and OpenSSL do)`,
		"PASS usage: no extendedKeyUsage extension",
		"PASS chain: issued by CN=myCA, one of the CAs trusted with C in NSS database sql:"+srv,
		"PASS key: ",
		"PASS client certificates: required (-Q); 1 client CA(s) trusted",
		`PASS client store: NSS database sql:`+cli+`, client certificate "pmclient_cert"`,
		"PASS handshake: TLS 1.3 with 127.0.0.1:", `server verified as pmserver (by its common name: it has no subjectAltName), client certificate "pmclient" presented`,
		"PASS fetch: hinv.ncpu = ", " 0 failed")
	// No fix may name certdb on a database only certutil writes.
	for name, f := range fixes(out) {
		if strings.HasPrefix(f, "certdb ") {
			t.Errorf("%s: a certdb fix for an NSS database: %s", name, f)
		}
	}
}

// TestVerifyNSSClientCAUntrusted: under -Q, a database whose Root CA is trusted
// with C only has no client CA, so the collector would refuse to start; verify
// fails with certutil's fix, and once the fix has run as printed, the
// collector starts and verify passes. A database file others can write fails
// with a chmod that runs as printed too.
func TestVerifyNSSClientCAUntrusted(t *testing.T) {
	testcerts.NeedNSSTools(t)
	nssHome(t)
	t.Chdir(t.TempDir())
	p := newNSSPKI(t)
	srv := filepath.Join(t.TempDir(), "it's an \"nss\" db")
	cli := filepath.Join(t.TempDir(), "client")
	p.db(t, srv, "pmserver", "empty", "C,,")
	p.db(t, cli, "pmclient", "empty", "CT,,")
	os.Chmod(filepath.Join(srv, "cert9.db"), 0o666)
	args := func(port int) []string {
		return []string{"--secure", "--config", noConfig(t), "-C", "sql:" + srv, "-M", "pmserver_cert", "-Q",
			"-p", itoa(port), "--timeout", "1", "--client-store", "sql:" + cli}
	}
	run := func(line string) {
		t.Helper()
		if out, err := exec.Command("sh", "-c", line).CombinedOutput(); err != nil {
			t.Fatalf("fix %s: %v\n%s", line, err, out)
		}
	}

	out, code := verifyRun(t, args(freePort(t))...)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	fx := fixes(out)
	if want := "chmod go-w " + shellquote.Quote(filepath.Join(srv, "cert9.db")); fx["permissions"] != want {
		t.Fatalf("permissions fix %q, want %q:\n%s", fx["permissions"], want, out)
	}
	run(fx["permissions"])

	out, code = verifyRun(t, args(freePort(t))...)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	wantAll(t, out, "FAIL client certificates: -Q is in effect but no CA in NSS database sql:"+srv+" is trusted for client certificates (T)")
	fix := fixes(out)["client certificates"]
	if want := "certutil -M -d " + shellquote.Quote("sql:"+srv) + " -n 'Root CA' -t CT,,"; fix != want {
		t.Fatalf("client certificates fix %q, want %q:\n%s", fix, want, out)
	}
	run(fix)

	h := startReloader(t, "", p.ca, "-C", "sql:"+srv, "-M", "pmserver_cert", "-Q")
	out, code = verifyRun(t, args(h.port)...)
	if code != 0 {
		t.Fatalf("after %s: exit %d:\n%s", fix, code, out)
	}
	wantAll(t, out, "PASS client certificates: required (-Q); 1 client CA(s) trusted", "PASS fetch: ")
}

// TestVerifyNSSCAOnlyFromPKCS12: the CA arrived with the PKCS#12 file only
// (under the nickname pk12util gives it), without trust. The collector's own
// certificate, added with P,, as the walkthrough does, passes the chain as a
// peer; -Q fails with certutil's fix naming the CA as the database holds it,
// which trusts it with C too, so that afterwards the chain verifies to it.
func TestVerifyNSSCAOnlyFromPKCS12(t *testing.T) {
	testcerts.NeedNSSTools(t)
	nssHome(t)
	t.Chdir(t.TempDir())
	p := newNSSPKI(t)
	srv := filepath.Join(t.TempDir(), "nssdb")
	p.db(t, srv, "pmserver", "empty", "")
	args := []string{"--secure", "--config", noConfig(t), "-C", "sql:" + srv, "-M", "pmserver_cert", "-Q",
		"-p", itoa(freePort(t)), "--timeout", "1"}
	out, _ := verifyRun(t, args...)
	wantAll(t, out, "PASS chain: trusted as a peer (P) in NSS database sql:"+srv)
	fix := fixes(out)["client certificates"]
	if want := "certutil -M -d sql:" + srv + " -n myCA -t CT,,"; fix != want {
		t.Fatalf("client certificates fix %q, want %q:\n%s", fix, want, out)
	}
	if out, err := exec.Command("sh", "-c", fix).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", fix, err, out)
	}
	out, _ = verifyRun(t, args...)
	wantAll(t, out, "PASS chain: issued by CN=myCA, one of the CAs trusted with C in NSS database sql:"+srv,
		"PASS client certificates: required (-Q); 1 client CA(s) trusted")
}

// TestVerifyNSSPassword: a database with a password read with the wrong
// password file fails naming that file, as the daemon would refuse to start;
// the right one passes the identity checks; a key4.db others can read fails.
func TestVerifyNSSPassword(t *testing.T) {
	testcerts.NeedNSSTools(t)
	nssHome(t)
	p := newNSSPKI(t)
	srv := filepath.Join(t.TempDir(), "nssdb")
	p.db(t, srv, "pmserver", "pw", "CT,,")
	wrong := filepath.Join(t.TempDir(), "wrong password")
	writeFile(t, wrong, "not it\n")
	os.Chmod(wrong, 0o600)
	base := []string{"--secure", "--config", noConfig(t), "-C", "sql:" + srv, "-M", "pmserver_cert",
		"-p", itoa(freePort(t)), "--timeout", "1"}

	out, code := verifyRun(t, append(base, "-P", wrong)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	wantAll(t, out, "FAIL password: ", "the password in "+wrong+" (-P) does not open its keys (key4.db)")
	if strings.Contains(out, "PASS key") || strings.Contains(out, "PASS handshake") {
		t.Errorf("checks went on past the password:\n%s", out)
	}
	out, _ = verifyRun(t, base...) // no -P: the empty password
	wantAll(t, out, "FAIL password: ", "the empty password (no -P) does not open its keys")

	out, _ = verifyRun(t, append(base, "-P", filepath.Join(p.dir, "pw"))...)
	wantAll(t, out, "PASS key: ", "PASS chain: ")

	key4 := filepath.Join(srv, "key4.db")
	os.Chmod(key4, 0o644)
	out, _ = verifyRun(t, append(base, "-P", filepath.Join(p.dir, "pw"))...)
	if f := fixes(out)["permissions"]; f != "chmod 600 "+key4 {
		t.Errorf("key4.db readable by all: fix %q:\n%s", f, out)
	}
}

// TestVerifyNSSChainUntrusted: a database whose collector certificate is not a
// trusted peer and whose CA came untrusted with the PKCS#12 file: the chain
// fails (clients of this set-up would refuse the collector) with certutil's
// fix adding C, which makes it pass once run as printed. A hostile nickname
// (control characters, as certutil -n accepts them) is shown escaped.
func TestVerifyNSSChainUntrusted(t *testing.T) {
	testcerts.NeedNSSTools(t)
	nssHome(t)
	t.Chdir(t.TempDir())
	p := newNSSPKI(t)
	srv := filepath.Join(t.TempDir(), "nssdb")
	os.MkdirAll(srv, 0o700)
	db := "sql:" + srv
	testcerts.Run(t, p.dir, "certutil", "-d", db, "-N", "-f", "empty")
	testcerts.Run(t, p.dir, "certutil", "-d", db, "-A", "-t", ",,", "-n", "evil\x1b[2J\nCA", "-i", "rootCA.crt", "-f", "empty")
	testcerts.Run(t, p.dir, "pk12util", "-i", "pmserver_pkcs12.key", "-d", db, "-W", "secret", "-k", "empty")
	names := testcerts.Run(t, p.dir, "certutil", "-d", db, "-L")
	nick := "pmserver"
	for _, l := range strings.Split(names, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == "u,u,u" {
			nick = f[0] // the nickname pk12util gave the key's certificate
		}
	}
	args := []string{"--secure", "--config", noConfig(t), "-C", db, "-M", nick,
		"-p", itoa(freePort(t)), "--timeout", "1"}
	out, _ := verifyRun(t, args...)
	if strings.ContainsAny(out, "\x1b") {
		t.Errorf("raw control character in the transcript:\n%q", out)
	}
	wantAll(t, out, "FAIL chain: NSS database "+db+" holds no CA trusted with C", "; fix: certutil -M -d "+db+` -n $'evil\x1b[2J\x0aCA' -t C,,`)
	fix := fixes(out)["chain"]
	if !strings.HasPrefix(fix, "certutil -M -d "+db+" -n ") || !strings.HasSuffix(fix, " -t C,,") {
		t.Fatalf("chain fix %q:\n%s", fix, out)
	}
	if out, err := exec.Command("bash", "-c", fix).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", fix, err, out)
	}
	out, _ = verifyRun(t, args...)
	wantAll(t, out, "PASS chain: issued by CN=myCA, one of the CAs trusted with C in NSS database "+db)
}
