package testcerts

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// NeedNSSTools skips the test when certutil, pk12util or openssl is missing:
// the tests that use it build NSS databases with the real tools.
func NeedNSSTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"certutil", "pk12util", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: install libnss3-tools and openssl (apt-get install -y libnss3-tools openssl) to test NSS databases in place", tool)
		}
	}
}

// Run runs args[0] with args[1:] in dir and returns its combined output; a
// failure fails the test with the command line and the output.
func Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// WalkthroughPKI makes, in dir, the files of PCP's secure-connections
// walkthrough (16.3) with openssl exactly as the walkthrough does (CN only, no
// subjectAltName, no extendedKeyUsage; -subj for the prompts): rootCA.key and
// rootCA.crt, then for pmclient and pmserver in that order a key, request,
// certificate and PKCS#12 file (who_pkcs12.key) exported with the password
// p12Pass(who), and "empty", the empty password file (mode 0600).
func WalkthroughPKI(t testing.TB, dir string, p12Pass func(who string) string) {
	t.Helper()
	Run(t, dir, "openssl", "genrsa", "-out", "rootCA.key", "2048")
	Run(t, dir, "openssl", "req", "-new", "-x509", "-extensions", "v3_ca", "-key", "rootCA.key", "-out", "rootCA.crt", "-days", "3650", "-subj", "/CN=myCA")
	for _, who := range []string{"pmclient", "pmserver"} {
		Run(t, dir, "openssl", "genrsa", "-out", who+".key", "2048")
		Run(t, dir, "openssl", "req", "-new", "-key", who+".key", "-out", who+".csr", "-subj", "/CN="+who)
		Run(t, dir, "openssl", "x509", "-req", "-in", who+".csr", "-CA", "rootCA.crt", "-CAkey", "rootCA.key", "-CAcreateserial", "-out", who+".crt", "-days", "500", "-sha256")
		Run(t, dir, "openssl", "pkcs12", "-export", "-out", who+"_pkcs12.key", "-inkey", who+".key", "-in", who+".crt", "-certfile", "rootCA.crt", "-passout", "pass:"+p12Pass(who))
	}
	// echo > empty
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ReadPEMCert reads the first PEM block of path as a certificate; a missing
// file, no PEM block or a bad certificate fails the test.
func ReadPEMCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
