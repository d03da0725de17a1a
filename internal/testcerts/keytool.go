package testcerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// NeedKeytool skips the test when the JDK's keytool is not installed.
func NeedKeytool(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("keytool"); err != nil {
		t.Skip("keytool not found: install a JDK (apt-get install openjdk-17-jdk-headless) to test Java keystores")
	}
}

// Keytool runs keytool in dir and returns its output; a failure fails the test.
func Keytool(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("keytool", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keytool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// KeytoolPKI is a CA and identities made entirely by keytool, as a Java site
// makes them: the CA is a key pair in ca.p12, each identity a key pair whose
// request the CA signed (keytool -certreq, -gencert) and whose reply was
// imported back, so its key entry holds the chain leaf, CA.
type KeytoolPKI struct {
	Dir    string
	CAPEM  string // the CA certificate, PEM (keytool -exportcert -rfc)
	caPass string
}

// NewKeytoolPKI makes the CA (EC P-256, basicConstraints CA:TRUE) in dir.
func NewKeytoolPKI(t testing.TB, dir, cn string) *KeytoolPKI {
	t.Helper()
	NeedKeytool(t)
	p := &KeytoolPKI{Dir: dir, CAPEM: filepath.Join(dir, "ca.crt"), caPass: "ca-store-pass"}
	Keytool(t, dir, "-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN="+cn,
		"-ext", "bc:c", "-validity", "800", "-keystore", "ca.p12", "-storetype", "PKCS12", "-storepass", p.caPass)
	Keytool(t, dir, "-exportcert", "-rfc", "-alias", "ca", "-keystore", "ca.p12", "-storepass", p.caPass, "-file", "ca.crt")
	return p
}

// KeytoolIdentity shapes one identity.
type KeytoolIdentity struct {
	File     string // keystore file name in the PKI's folder
	Type     string // JKS or PKCS12
	Alias    string
	Password string // store and key password
	CN       string
	RSA      bool   // RSA 2048, else EC P-256
	SAN      string // keytool -ext san=... value, e.g. dns:localhost,ip:127.0.0.1
	EKU      string // serverAuth, clientAuth, or both comma-separated
}

// Identity makes (or adds to) a keystore holding a key entry signed by the CA.
// It returns the keystore's path.
func (p *KeytoolPKI) Identity(t testing.TB, o KeytoolIdentity) string {
	t.Helper()
	alg := []string{"-keyalg", "EC", "-groupname", "secp256r1"}
	if o.RSA {
		alg = []string{"-keyalg", "RSA", "-keysize", "2048"}
	}
	ks := []string{"-keystore", o.File, "-storetype", o.Type, "-storepass", o.Password}
	args := append([]string{"-genkeypair", "-alias", o.Alias, "-dname", "CN=" + o.CN, "-validity", "30", "-keypass", o.Password}, alg...)
	Keytool(t, p.Dir, append(args, ks...)...)
	csr := o.Alias + ".csr"
	Keytool(t, p.Dir, append([]string{"-certreq", "-alias", o.Alias, "-file", csr}, ks...)...)
	gen := []string{"-gencert", "-alias", "ca", "-keystore", "ca.p12", "-storepass", p.caPass, "-infile", csr,
		"-outfile", o.Alias + ".crt", "-rfc", "-validity", "400"}
	if o.SAN != "" {
		gen = append(gen, "-ext", "san="+o.SAN)
	}
	if o.EKU != "" {
		gen = append(gen, "-ext", "eku="+o.EKU)
	}
	Keytool(t, p.Dir, gen...)
	// The reply is a chain (leaf, CA) so keytool can install it without the
	// CA as a trusted entry of the keystore.
	leaf, err := os.ReadFile(filepath.Join(p.Dir, o.Alias+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(p.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(p.Dir, o.Alias+".chain")
	if err := os.WriteFile(chain, append(leaf, ca...), 0o600); err != nil {
		t.Fatal(err)
	}
	Keytool(t, p.Dir, append([]string{"-importcert", "-noprompt", "-alias", o.Alias, "-file", chain, "-keypass", o.Password}, ks...)...)
	return filepath.Join(p.Dir, o.File)
}

// Truststore makes a truststore holding the CA as a trusted-certificate entry.
func (p *KeytoolPKI) Truststore(t testing.TB, file, typ, password string) string {
	t.Helper()
	Keytool(t, p.Dir, "-importcert", "-noprompt", "-alias", "org ca", "-file", p.CAPEM, "-keystore", file, "-storetype", typ, "-storepass", password)
	return filepath.Join(p.Dir, file)
}
