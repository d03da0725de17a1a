package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
	urfave "github.com/urfave/cli/v2"
)

var update = flag.Bool("update", false, "rewrite golden files")

// cli runs certdb in-process.
func cli(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code = runWith(fastKDF, args, stdin, &out, &errb)
	return out.String(), errb.String(), code
}

// must runs certdb and fails the test unless it exits 0.
func must(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := cli(t, nil, args...)
	if code != 0 {
		t.Fatalf("certdb %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fails runs certdb, expects exit code want, and returns stderr.
func fails(t *testing.T, want int, args ...string) string {
	t.Helper()
	out, errs, code := cli(t, nil, args...)
	if code != want {
		t.Fatalf("certdb %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errs)
	}
	if errs == "" {
		t.Errorf("certdb %s: exit %d with nothing on stderr", strings.Join(args, " "), code)
	}
	return errs
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dirSnapshot reads every file of dir with its mode.
func dirSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		out[e.Name()] = info.Mode().String() + "\n" + string(data)
	}
	return out
}

func assertUnchanged(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := dirSnapshot(t, dir)
	if len(after) != len(before) {
		t.Errorf("store folder changed: %d files, was %d", len(after), len(before))
	}
	for name, b := range before {
		if after[name] != b {
			t.Errorf("%s changed", name)
		}
	}
}

// listHeader is what `certutil -L` prints before the first certificate.
const listHeader = "\n" +
	"Certificate Nickname                                         Trust Attributes\n" +
	"                                                             SSL,S/MIME,JAR/XPI\n" +
	"\n"

func TestListLayout(t *testing.T) {
	var b bytes.Buffer
	root := testcerts.New(t, nil, testcerts.Options{CN: "myCA", IsCA: true})
	writeList(&b, []store.Entry{
		{Nickname: "Root CA", Cert: root.Cert, Trust: store.MustParseTrust("CT,,")},
		{Nickname: "pmserver_cert", Trust: store.MustParseTrust("Pu,u,u"), HasKey: true},
		{Nickname: "a", Trust: store.MustParseTrust(",,")},
		{Nickname: strings.Repeat("x", 70), Trust: store.MustParseTrust("CTu,Cu,Cu")},
	})
	want := listHeader +
		"Root CA                                                      CT,, \n" +
		"pmserver_cert                                                Pu,u,u\n" +
		"a                                                            ,,   \n" +
		strings.Repeat("x", 70) + " CTu,Cu,Cu\n"
	if got := b.String(); got != want {
		t.Errorf("list layout:\n%q\nwant\n%q", got, want)
	}
	// Columns as the brief and certutil have them: trust starts at offset 61.
	lines := strings.Split(b.String(), "\n")
	if i := strings.Index(lines[1], "Trust Attributes"); i != 61 {
		t.Errorf("Trust Attributes at %d", i)
	}
	if i := strings.Index(lines[2], "SSL,S/MIME,JAR/XPI"); i != 61 {
		t.Errorf("SSL,S/MIME,JAR/XPI at %d", i)
	}
}

// pkiFiles writes a root CA, a server certificate (with SANs and EKU) and its key.
type pkiFiles struct {
	dir                                     string
	root, server, other                     *testcerts.Cert
	rootPEM, serverPEM, serverKey, otherPEM string
}

func newPKIFiles(t *testing.T) *pkiFiles {
	t.Helper()
	d := t.TempDir()
	p := &pkiFiles{dir: d}
	p.root = testcerts.New(t, nil, testcerts.Options{CN: "myCA", IsCA: true})
	p.server = testcerts.New(t, p.root, testcerts.Options{CN: "pmserver", DNS: []string{"pmserver.example"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	p.other = testcerts.New(t, p.root, testcerts.Options{CN: "other", Client: true})
	p.rootPEM = writeFile(t, filepath.Join(d, "rootCA.crt"), p.root.CertPEM())
	p.serverPEM = writeFile(t, filepath.Join(d, "pmserver.crt"), p.server.CertPEM())
	p.serverKey = writeFile(t, filepath.Join(d, "pmserver.key"), p.server.KeyPEM(t))
	p.otherPEM = writeFile(t, filepath.Join(d, "other.crt"), p.other.CertPEM())
	return p
}

func TestCreateAddListTrustDelete(t *testing.T) {
	p := newPKIFiles(t)
	db := filepath.Join(t.TempDir(), "nssdb")
	out := must(t, "create", "-d", "sql:"+db)
	if !strings.Contains(out, "created certificate store "+db+" (empty password)") {
		t.Errorf("create said %q", out)
	}
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("store folder: %v %v", fi.Mode(), err)
	}
	errs := fails(t, 1, "create", "-d", db)
	if !strings.Contains(errs, "already exists") || !strings.Contains(errs, "choose another folder") {
		t.Errorf("second create: %q", errs)
	}

	// DER input is detected as well as PEM.
	der := writeFile(t, filepath.Join(p.dir, "root.der"), p.root.Cert.Raw)
	out = must(t, "add", "-d", db, "-n", "Root CA", "-t", "CT,,", "-i", der)
	if !strings.Contains(out, `added "Root CA" (CN=myCA,O=gopcp test, valid until `) || !strings.HasSuffix(out, "with trust CT,,\n") {
		t.Errorf("add said %q", out)
	}
	out = must(t, "add", "-d", db, "-n", "Root CA", "-t", "C,C,C", "-i", p.rootPEM, "-a")
	if out != "\"Root CA\" was already stored; its trust is now C,C,C\n" {
		t.Errorf("re-add said %q", out)
	}
	must(t, "add", "-d", db, "-n", "pmserver_cert", "-t", "P,,", "-i", p.serverPEM, "--key", p.serverKey)

	out = must(t, "list", "-d", db)
	want := listHeader +
		"Root CA                                                      C,C,C\n" +
		"pmserver_cert                                                Pu,u,u\n"
	if out != want {
		t.Errorf("list:\n%s\nwant\n%s", out, want)
	}

	out = must(t, "list", "-d", db, "-n", "pmserver_cert")
	for _, w := range []string{
		"Nickname:             pmserver_cert\n",
		"Trust:                Pu,u,u (trusted peer; has a private key)\n",
		"Subject:              CN=pmserver,O=gopcp test\n",
		"Issuer:               CN=myCA,O=gopcp test\n",
		"Subject Alt Names:    DNS:pmserver.example, IP:127.0.0.1\n",
		"Key Usage:            Digital Signature\n",
		"Extended Key Usage:   TLS Web Server Authentication\n",
		"SHA-256 Fingerprint:  ", "SHA-1 Fingerprint:    ", "Serial Number:        ", "days left)\n",
		"Private Key:          yes\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("list -n lacks %q:\n%s", w, out)
		}
	}
	out = must(t, "list", "-d", db, "-n", "Root CA", "-a")
	if b, _ := pem.Decode([]byte(out)); b == nil || !bytes.Equal(b.Bytes, p.root.Cert.Raw) {
		t.Errorf("list -a: %q", out)
	}

	out = must(t, "keys", "-d", db)
	if !regexp.MustCompile(`^< 0> ec       [0-9a-f]{40}   pmserver_cert\n$`).MatchString(out) {
		t.Errorf("keys: %q", out)
	}

	out = must(t, "trust", "-d", db, "-n", "Root CA", "-t", "TC,,")
	if out != "trust of \"Root CA\" is now CT,, (trusted CA for server and client certificates)\n" {
		t.Errorf("trust said %q", out)
	}

	errs = fails(t, 1, "delete", "-d", db, "-n", "pmserver_cert")
	if !strings.Contains(errs, "has a private key") || !strings.Contains(errs, "-F") {
		t.Errorf("delete without -F: %q", errs)
	}
	if out := must(t, "delete", "-d", db, "-n", "pmserver_cert", "-F"); out != "deleted \"pmserver_cert\" and its private key\n" {
		t.Errorf("delete -F said %q", out)
	}
	if out := must(t, "delete", "-d", db, "-n", "Root CA"); out != "deleted \"Root CA\"\n" {
		t.Errorf("delete said %q", out)
	}
	if out := must(t, "list", "-d", db); out != listHeader {
		t.Errorf("empty list: %q", out)
	}
	_, errs, code := cli(t, nil, "keys", "-d", db)
	if code != 0 || !strings.Contains(errs, "no private keys") {
		t.Errorf("keys on empty store: %d %q", code, errs)
	}
}

func TestCertutilAliases(t *testing.T) {
	p := newPKIFiles(t)
	db := "sql:" + filepath.Join(t.TempDir(), "db")
	empty := writeFile(t, filepath.Join(p.dir, "empty"), []byte("\n"))
	must(t, "-d", db, "-N", "-f", empty)
	must(t, "-d", db, "-A", "-t", "CT,,", "-n", "Root CA", "-i", p.rootPEM)
	must(t, "-A", "-d", db, "-t", "P,,", "-n", "srv", "-i", p.serverPEM, "--key", p.serverKey)
	must(t, "-M", "-d", db, "-n", "Root CA", "-t", "C,,")
	out := must(t, "-d", db, "-L")
	if !strings.Contains(out, "Root CA                                                      C,,  \n") {
		t.Errorf("-L:\n%s", out)
	}
	if out := must(t, "-K", "-d", db); !strings.Contains(out, "srv") {
		t.Errorf("-K: %q", out)
	}
	must(t, "-F", "-d", db, "-n", "srv")
	must(t, "-D", "-d", db, "-n", "Root CA")
	if out := must(t, "-L", "-d", db); out != listHeader {
		t.Errorf("after -D: %q", out)
	}
	fails(t, 2, "-A", "-L", "-d", db)
	fails(t, 2, "-d", db)
}

func TestUsageErrors(t *testing.T) {
	db := t.TempDir()
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"list"},
		{"list", "-d", db, "--bogus"},
		{"list", "-d", db, "stray"},
		{"list", "-d", db, "-a"},
		{"add", "-d", db, "-n", "x", "-i", "f"},
		{"add", "-d", db, "-n", "x", "-t", "Q,,", "-i", "f"},
		{"add", "-d", db, "-n", " x", "-t", "C,,", "-i", "f"},
		{"trust", "-d", db, "-n", "x", "-t", "C,,,,"},
		{"delete", "-d", db},
		{"import", "-d", db},
		{"export", "-d", db, "-n", "x", "-o", "f", "--format", "xml"},
		{"export", "-d", db, "-n", "x", "-o", "f", "--format", "der", "--with-key"},
		{"export", "-d", db, "-n", "x", "-o", "f", "--format", "pem", "-w", "pw"},
		{"export", "-d", db, "-n", "x", "-o", filepath.Join(db, "new.p12")}, // no -w and no terminal
		{"create", "-d", db, "-f", "a", "-k", "b"},
		{"help", "frobnicate"},
	} {
		errs := fails(t, 2, args...)
		if len(args) > 1 && args[0] != "help" && args[0] != "frobnicate" && !strings.Contains(errs, "--help") {
			t.Errorf("certdb %s: usage error without a pointer to --help: %q", strings.Join(args, " "), errs)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, _, code := cli(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Exit status:") || !strings.Contains(out, "certutil -N") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	// Every command of the table, subcommands by their two words ("crl add").
	var names []string
	walk(newApp(store.CreateOptions{}, nil, io.Discard, io.Discard).Commands, "certdb", func(c *urfave.Command, full string) {
		if !c.Hidden {
			names = append(names, strings.TrimPrefix(full, "certdb "))
		}
	})
	for _, name := range names {
		w := strings.Fields(name)
		for _, args := range [][]string{append(w, "--help"), append(w, "-h"), append([]string{"help"}, w...)} {
			out, _, code := cli(t, nil, args...)
			if code != 0 || !strings.Contains(out, "Usage: certdb "+name) || !strings.Contains(out, "Example") ||
				!strings.Contains(out, "2  usage error") {
				t.Errorf("%v: exit %d\n%s", args, code, out)
			}
		}
	}
}

func TestBadInputLeavesStoreUnchanged(t *testing.T) {
	p := newPKIFiles(t)
	db := filepath.Join(t.TempDir(), "db")
	pwFile := writeFile(t, filepath.Join(p.dir, "pw"), []byte("s3cret\n"))
	wrongPw := writeFile(t, filepath.Join(p.dir, "wrong"), []byte("nope\n"))
	must(t, "create", "-d", db, "-f", pwFile)
	must(t, "add", "-d", db, "-n", "Root CA", "-t", "CT,,", "-i", p.rootPEM)
	must(t, "add", "-d", db, "-n", "srv", "-t", "P,,", "-i", p.serverPEM)
	garbage := writeFile(t, filepath.Join(p.dir, "garbage.crt"), []byte("this is not a certificate\n"))
	otherKey := writeFile(t, filepath.Join(p.dir, "other.key"), p.other.KeyPEM(t))
	p12 := filepath.Join(p.dir, "srv.p12")
	p12pw := writeFile(t, filepath.Join(p.dir, "p12pw"), []byte("p12secret\n"))
	must(t, "import", "-d", db, "-f", pwFile, "-i", writeFile(t, filepath.Join(p.dir, "tmp.p12"), mustP12(t, p.server, p.root, "p12secret")), "-w", p12pw)
	must(t, "export", "-d", db, "-f", pwFile, "-n", "srv", "-o", p12, "-w", p12pw)
	before := dirSnapshot(t, db)

	cases := []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"garbage certificate", []string{"add", "-d", db, "-n", "g", "-t", ",,", "-i", garbage}, []string{garbage, "PEM or DER"}},
		{"missing file", []string{"add", "-d", db, "-n", "g", "-t", ",,", "-i", filepath.Join(p.dir, "nope.crt")}, []string{"nope.crt", "no such file"}},
		{"duplicate nickname", []string{"add", "-d", db, "-n", "srv", "-t", ",,", "-i", p.otherPEM}, []string{`"srv" already holds another certificate`, "delete"}},
		{"same cert, other nickname", []string{"add", "-d", db, "-n", "again", "-t", ",,", "-i", p.rootPEM}, []string{`already stored as "Root CA"`}},
		{"key matching no certificate", []string{"add", "-d", db, "-f", pwFile, "-n", "other", "-t", ",,", "-i", p.otherPEM, "--key", p.serverKey}, []string{"does not match", "openssl"}},
		{"wrong store password", []string{"add", "-d", db, "-f", wrongPw, "-n", "other", "-t", ",,", "-i", p.otherPEM, "--key", otherKey}, []string{"password", wrongPw, "-f FILE"}},
		{"store password needed", []string{"add", "-d", db, "-n", "other", "-t", ",,", "-i", p.otherPEM, "--key", otherKey}, []string{"has a password", "-f FILE"}},
		{"wrong p12 password", []string{"import", "-d", db, "-f", pwFile, "-i", p12, "-w", wrongPw}, []string{p12, "PKCS#12 password incorrect", "-w FILE"}},
		{"p12 needs a password", []string{"import", "-d", db, "-f", pwFile, "-i", p12}, []string{"not a terminal", "-w FILE"}},
		{"garbage p12", []string{"import", "-d", db, "-f", pwFile, "-i", garbage, "-w", p12pw}, []string{garbage, "PKCS#12"}},
		{"unknown nickname", []string{"trust", "-d", db, "-n", "nope", "-t", "C,,"}, []string{`"nope"`, "certdb list -d " + db}},
		{"export to existing file", []string{"export", "-d", db, "-f", pwFile, "-n", "srv", "-o", p12, "-w", p12pw}, []string{"already exists", "--force"}},
		{"export p12 without key", []string{"export", "-d", db, "-n", "Root CA", "-o", filepath.Join(p.dir, "x.p12"), "-w", p12pw}, []string{"no private key", "--format pem"}},
		{"no store", []string{"list", "-d", p.dir}, []string{"no certificate store", "certdb create -d " + p.dir}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := fails(t, 1, tc.args...)
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q: %s", w, errs)
				}
			}
			if strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("more than one line: %q", errs)
			}
			assertUnchanged(t, db, before)
		})
	}
}

func mustP12(t *testing.T, leaf, ca *testcerts.Cert, password string) []byte {
	t.Helper()
	s, err := store.CreateWith(filepath.Join(t.TempDir(), "p12src"), nil, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	s.AddCert("ca", ca.Cert, store.Trust{})
	s.AddCert("leaf", leaf.Cert, store.Trust{})
	if err := s.ImportKey("leaf", leaf.Key); err != nil {
		t.Fatal(err)
	}
	data, err := s.ExportPKCS12("leaf", []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoosePermissions(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	must(t, "create", "-d", db)
	path := filepath.Join(db, store.FileName)
	os.Chmod(path, 0o644)
	errs := fails(t, 1, "list", "-d", db)
	if !strings.Contains(errs, "chmod 600 "+path) {
		t.Errorf("stderr: %q", errs)
	}
	os.Chmod(path, 0o600)
	must(t, "list", "-d", db)
}

func TestExportFormats(t *testing.T) {
	p := newPKIFiles(t)
	db := filepath.Join(t.TempDir(), "db")
	must(t, "create", "-d", db)
	must(t, "add", "-d", db, "-n", "Root CA", "-t", "CT,,", "-i", p.rootPEM)
	must(t, "add", "-d", db, "-n", "srv", "-t", "P,,", "-i", p.serverPEM, "--key", p.serverKey)
	out := t.TempDir()
	pw := writeFile(t, filepath.Join(out, "pw"), []byte("x\n"))

	p12 := filepath.Join(out, "srv.p12")
	msg := must(t, "export", "-d", db, "-n", "srv", "-o", p12, "-w", pw)
	if msg != "exported \"srv\" to "+p12+" (certificate, private key and 1 CA certificate(s), PKCS#12)\n" {
		t.Errorf("export said %q", msg)
	}
	if fi, _ := os.Stat(p12); fi.Mode().Perm() != 0o600 {
		t.Errorf("p12 mode %v", fi.Mode())
	}
	must(t, "export", "-d", db, "-n", "srv", "-o", p12, "-w", pw, "--force")

	crt := filepath.Join(out, "srv.crt")
	must(t, "export", "-d", db, "-n", "srv", "-o", crt, "--format", "pem")
	if fi, _ := os.Stat(crt); fi.Mode().Perm() != 0o644 {
		t.Errorf("pem mode %v", fi.Mode())
	}
	data, _ := os.ReadFile(crt)
	if bytes.Contains(data, []byte("PRIVATE KEY")) || !bytes.Contains(data, []byte("CERTIFICATE")) {
		t.Errorf("PEM without --with-key: %s", data)
	}
	stdout := must(t, "export", "-d", db, "-n", "srv", "-o", "-", "--format", "pem", "--with-key")
	if _, err := tls.X509KeyPair([]byte(stdout), []byte(stdout)); err != nil {
		t.Errorf("PEM with key to stdout: %v", err)
	}

	// The PKCS#12 goes back into a new store with the same result.
	db2 := filepath.Join(t.TempDir(), "db2")
	must(t, "create", "-d", db2)
	msg = must(t, "import", "-d", db2, "-i", p12, "-w", pw, "-n", "srv again")
	if !strings.HasPrefix(msg, `imported the private key of "srv again" and 1 CA certificate(s) with no trust: "myCA"`) {
		t.Errorf("import said %q", msg)
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		cmd := exec.Command("openssl", "pkcs12", "-in", p12, "-passin", "pass:x", "-nodes")
		if outb, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(outb, []byte("PRIVATE KEY")) {
			t.Errorf("openssl cannot read our PKCS#12: %v\n%s", err, outb)
		}
	}
}

func TestExpiredWarning(t *testing.T) {
	old := testcerts.New(t, nil, testcerts.Options{CN: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	dir := t.TempDir()
	f := writeFile(t, filepath.Join(dir, "old.crt"), old.CertPEM())
	db := filepath.Join(dir, "db")
	must(t, "create", "-d", db)
	out, errs, code := cli(t, nil, "add", "-d", db, "-n", "old", "-t", "CT,,", "-i", f)
	if code != 0 || !strings.Contains(out, `added "old"`) || !strings.Contains(errs, "warning:") || !strings.Contains(errs, "expired") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
	if out := must(t, "list", "-d", db, "-n", "old"); !strings.Contains(out, "EXPIRED") {
		t.Errorf("list -n of an expired certificate: %s", out)
	}
}

func TestStdinInput(t *testing.T) {
	p := newPKIFiles(t)
	db := filepath.Join(t.TempDir(), "db")
	must(t, "create", "-d", db)
	_, errs, code := cli(t, bytes.NewReader(p.root.Cert.Raw), "add", "-d", db, "-n", "Root CA", "-t", "CT,,", "-i", "-")
	if code != 0 {
		t.Fatalf("add -i -: %s", errs)
	}
}

// TestWalkthroughTranscript replays a session and compares it with a golden
// transcript (go test -run Transcript -update rewrites it).
func TestWalkthroughTranscript(t *testing.T) {
	p := newPKIFiles(t)
	db := filepath.Join(t.TempDir(), "nssdb")
	empty := writeFile(t, filepath.Join(p.dir, "empty"), []byte("\n"))
	steps := [][]string{
		{"create", "-d", "sql:" + db, "-f", empty},
		{"add", "-d", "sql:" + db, "-t", "CT,,", "-n", "Root CA", "-i", p.rootPEM},
		{"add", "-d", "sql:" + db, "-t", "P,,", "-n", "pmserver_cert", "-i", p.serverPEM},
		{"add", "-d", "sql:" + db, "-t", "P,,", "-n", "pmserver_cert", "-i", p.otherPEM},
		{"add", "-d", "sql:" + db, "-t", "P,,", "-n", "pmserver_cert", "-i", p.serverPEM, "--key", p.serverKey},
		{"list", "-d", "sql:" + db},
		{"delete", "-d", "sql:" + db, "-n", "pmserver_cert"},
		{"trust", "-d", "sql:" + db, "-n", "Root CA", "-t", "C,,"},
		{"list", "-d", "sql:" + db},
	}
	var tr strings.Builder
	for _, s := range steps {
		out, errs, code := cli(t, nil, s...)
		tr.WriteString("$ certdb " + strings.Join(quoteAll(s), " ") + "\n")
		tr.WriteString(out)
		if errs != "" {
			tr.WriteString("[stderr] " + errs)
		}
		tr.WriteString("[exit " + string(rune('0'+code)) + "]\n")
	}
	got := tr.String()
	got = strings.ReplaceAll(got, db, "$DB")
	got = strings.ReplaceAll(got, p.dir, "$PKI")
	got = regexp.MustCompile(`\d{4}-\d{2}-\d{2}`).ReplaceAllString(got, "YYYY-MM-DD")
	golden := filepath.Join("testdata", "walkthrough.txt")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("transcript differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = quote(a)
	}
	return out
}

func TestPasswordFileFirstLine(t *testing.T) {
	dir := t.TempDir()
	c := &ctx{stdin: strings.NewReader("")}
	for content, want := range map[string]string{"": "", "\n": "", "pw\n": "pw", "pw\r\nsecond\n": "pw", "pw": "pw", " pw \n": " pw "} {
		f := writeFile(t, filepath.Join(dir, "pw"), []byte(content))
		got, err := c.readPasswordFile(f)
		if err != nil || string(got) != want || got == nil {
			t.Errorf("%q: got %q (nil %v), %v", content, got, got == nil, err)
		}
	}
	if _, err := c.readPasswordFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

func TestErrorsNameSentinels(t *testing.T) {
	// fail() adds hints from the store's sentinels; make sure wrapping keeps them.
	c := &ctx{cmd: &command{name: "x"}, stderr: io.Discard, o: opts{dir: "/d"}}
	for _, err := range []error{store.ErrNoStore, store.ErrBadPassword, store.ErrLocked, store.ErrBadPKCS12Password,
		store.ErrNotFound, store.ErrDuplicate, store.ErrExists, store.ErrKeyMismatch, store.ErrNoKey, store.ErrCorrupt} {
		if c.hint(errors.Join(errors.New("ctx"), err)) == "" {
			t.Errorf("no hint for %v", err)
		}
	}
}

var _ = x509.ParseCertificate

func TestVersion(t *testing.T) {
	for _, a := range []string{"--version", "version"} {
		var out, errb bytes.Buffer
		if code := run([]string{a}, strings.NewReader(""), &out, &errb); code != exitOK || !strings.HasPrefix(out.String(), "certdb "+Version) {
			t.Fatalf("%s: %d %q %q", a, code, out.String(), errb.String())
		}
	}
}
