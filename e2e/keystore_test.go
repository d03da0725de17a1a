package e2e

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// TestSeedJavaKeystores follows the second seed document with certdb's own
// files: certdb makes the CA and both certificates, export-keystore and
// export-truststore write the four files (the agent: a JKS keystore and a JKS
// truststore; the server side: a PKCS12 keystore and the JKS truststore), and
// the programs use them in place: collectord from its [tls] keys with -Q, our
// pminfo from the keys in PCP_TLSCONF_PATH's file, the real pminfo from the
// same identity as PEM.
func TestSeedJavaKeystores(t *testing.T) {
	dir := t.TempDir()
	f := func(n string) string { return filepath.Join(dir, n) }
	ca := f("ca")
	must(t, run(t, nil, "certdb", "ca", "-d", ca, "--cn", "Org CA"), "certdb ca")
	must(t, run(t, nil, "certdb", "issue", "-d", ca, "--ca", "PCP CA", "-n", "agent", "--server", "--san", "DNS:localhost, IP:127.0.0.1"), "issue agent")
	must(t, run(t, nil, "certdb", "issue", "-d", ca, "--ca", "PCP CA", "-n", "ui", "--client", "--key-type", "rsa2048"), "issue ui")
	ksPass := writeFile(t, f("ks.pass"), "keystore password\n")
	tsPass := writeFile(t, f("ts.pass"), "truststore password\n")
	must(t, run(t, nil, "certdb", "export-keystore", "-d", ca, "-n", "agent", "--type", "jks", "-o", f("keystore.jks"), "--storepass-file", ksPass, "--alias", "Agent"), "export agent keystore")
	must(t, run(t, nil, "certdb", "export-truststore", "-d", ca, "-n", "PCP CA", "--type", "jks", "-o", f("truststore.jks"), "--storepass-file", tsPass), "export truststore")
	must(t, run(t, nil, "certdb", "export-keystore", "-d", ca, "-n", "ui", "--type", "pkcs12", "-o", f("keystore.p12"), "--storepass-file", ksPass), "export ui keystore")

	cfg := writeFile(t, f("collectord.toml"), "[tls]\nrequire_client_cert = true\nkeystore = "+strconv.Quote(f("keystore.jks"))+
		"\nkeystore_type = \"jks\"\nkeystore_password_file = "+strconv.Quote(ksPass)+"\nkey_alias = \"agent\"\ntruststore = "+strconv.Quote(f("truststore.jks"))+
		"\ntruststore_type = \"jks\"\ntruststore_password_file = "+strconv.Quote(tsPass)+"\n")
	d := startCollectord(t, "--config", cfg)

	client := writeFile(t, f("client-tls.conf"), "tls-keystore = keystore.p12\ntls-keystore-type = pkcs12\ntls-keystore-password-file = ks.pass\n"+
		"tls-truststore = truststore.jks\ntls-truststore-password-file = ts.pass\n")
	env := []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + client, "PCP_SECURE_DB_PATH=" + f("none")}
	r := must(t, run(t, env, "pminfo", "-h", d.addr(), "-f", "hinv.ncpu"), "our pminfo with the keystore keys")
	if !strings.Contains(r.stdout, "hinv.ncpu\n    value ") {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	// The truststore alone (no client certificate): -Q refuses it.
	trustOnly := writeFile(t, f("trust-only.conf"), "tls-truststore = truststore.jks\ntls-truststore-password-file = ts.pass\n")
	r = run(t, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + trustOnly, "PCP_SECURE_DB_PATH=" + f("none")}, "pminfo", "-h", d.addr(), "-f", "hinv.ncpu")
	if r.code == 0 || strings.Contains(r.stdout, "value") || !strings.Contains(r.stderr, "requires a client certificate") {
		t.Fatalf("without a client certificate: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	// A wrong keystore password: pminfo names the file.
	writeFile(t, f("bad.pass"), "guess\n")
	bad := writeFile(t, f("bad.conf"), "tls-keystore = keystore.p12\ntls-keystore-password-file = bad.pass\ntls-truststore = truststore.jks\ntls-truststore-password-file = ts.pass\n")
	r = run(t, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + bad, "PCP_SECURE_DB_PATH=" + f("none")}, "pminfo", "-h", d.addr(), "-f", "hinv.ncpu")
	if r.code == 0 || !strings.Contains(r.stderr, f("keystore.p12")) || !strings.Contains(r.stderr, "password is wrong") {
		t.Fatalf("wrong password: exit %d %q", r.code, r.stderr)
	}

	t.Run("real pminfo", func(t *testing.T) {
		pcptest.Require(t, pcptest.PMInfo)
		if _, err := exec.LookPath("openssl"); err != nil {
			t.Skip("openssl not installed: apt-get install openssl")
		}
		cmd := exec.Command("openssl", "pkcs12", "-in", f("keystore.p12"), "-nodes", "-passin", "file:"+ksPass, "-out", f("ui.pem"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl pkcs12: %v\n%s", err, out)
		}
		must(t, run(t, nil, "certdb", "export", "-d", ca, "-n", "PCP CA", "--format", "pem", "-o", f("ca.pem")), "export the CA")
		conf := writeFile(t, f("real.conf"), "tls-client-cert-file = "+f("ui.pem")+"\ntls-client-key-file = "+f("ui.pem")+"\ntls-ca-cert-file = "+f("ca.pem")+"\n")
		r := must(t, run(t, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + conf}, pcptest.PMInfo, "-h", d.addr(), "-f", "hinv.ncpu"), "real pminfo")
		if !strings.Contains(r.stdout, "hinv.ncpu\n    value ") {
			t.Fatalf("output %q", r.stdout)
		}
	})
}
