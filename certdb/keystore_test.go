package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func needKeytool(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("keytool"); err != nil {
		t.Skip("keytool not found: install a JDK (apt-get install openjdk-17-jdk-headless) to test Java keystores")
	}
}

// TestSeedJavaFourFiles makes the four files the seed 000 asks for (server side:
// a PKCS12 keystore with the client certificate and a JKS truststore with the
// CA; agent side: a JKS keystore with the server certificate and a JKS
// truststore), has keytool list them, and imports them back.
func TestSeedJavaFourFiles(t *testing.T) {
	needKeytool(t)
	d := t.TempDir()
	in := func(f string) string { return filepath.Join(d, f) }
	ca := in("ca")
	must(t, "ca", "-d", ca, "--cn", "Org CA")
	must(t, "issue", "-d", ca, "--ca", "PCP CA", "-n", "agent", "--server", "--san", "DNS: system1, IP: 192.0.2.1, DNS: system2, IP: 192.0.2.2")
	must(t, "issue", "-d", ca, "--ca", "PCP CA", "-n", "ui", "--client", "--san", "DNS:ui.example", "--key-type", "rsa2048")
	writeFile(t, in("ks.pass"), []byte("keystore password\n"))
	writeFile(t, in("ts.pass"), []byte("truststore password\n"))

	out := must(t, "export-keystore", "-d", ca, "-n", "ui", "--type", "pkcs12", "-o", in("keystore.p12"), "--storepass-file", in("ks.pass"))
	if !strings.HasPrefix(out, `wrote PKCS12 keystore `+in("keystore.p12")+`: alias "ui" with the key and 2 certificate(s) of "ui"`) {
		t.Errorf("export-keystore said %q", out)
	}
	must(t, "export-truststore", "-d", ca, "-n", "PCP CA", "--type", "jks", "-o", in("truststore.jks"), "--storepass-file", in("ts.pass"), "--alias", "org-ca")
	must(t, "export-keystore", "-d", ca, "-n", "agent", "--type", "jks", "-o", in("keystore.jks"), "--storepass-file", in("ks.pass"), "--alias", "Agent")
	must(t, "export-truststore", "-d", ca, "-n", "PCP CA", "--type", "jks", "-o", in("agent-truststore.jks"), "--storepass-file", in("ts.pass"))
	for _, f := range []string{"keystore.p12", "truststore.jks", "keystore.jks", "agent-truststore.jks"} {
		if m := fileMode(t, in(f)); m != 0o600 {
			t.Errorf("%s mode %v", f, m)
		}
	}

	list := func(file, typ, pass string) string {
		return sh(t, d, "keytool", "-list", "-v", "-keystore", in(file), "-storetype", typ, "-storepass", pass)
	}
	if got := list("keystore.p12", "PKCS12", "keystore password"); !strings.Contains(got, "Alias name: ui") || !strings.Contains(got, "PrivateKeyEntry") ||
		!strings.Contains(got, "Certificate chain length: 2") || !strings.Contains(got, "Owner: CN=ui.example") {
		t.Errorf("keytool on keystore.p12:\n%s", got)
	}
	if got := list("keystore.jks", "JKS", "keystore password"); !strings.Contains(got, "Alias name: agent") || !strings.Contains(got, "PrivateKeyEntry") ||
		!strings.Contains(got, "DNSName: system1") || !strings.Contains(got, "IPAddress: 192.0.2.2") {
		t.Errorf("keytool on keystore.jks:\n%s", got)
	}
	for _, f := range []string{"truststore.jks", "agent-truststore.jks"} {
		got := list(f, "JKS", "truststore password")
		if !strings.Contains(got, "trustedCertEntry") || !strings.Contains(got, "Owner: CN=Org CA") {
			t.Errorf("keytool on %s:\n%s", f, got)
		}
	}

	// Back in: each file into a fresh store.
	back := in("back")
	out = must(t, "import-keystore", "-d", back, "-i", in("keystore.jks"), "--storepass-file", in("ks.pass"))
	if !strings.Contains(out, `1 identity(ies) with their keys: "agent"`) || !strings.Contains(out, `1 chain certificate(s) with no trust: "Org CA"`) {
		t.Errorf("import-keystore said %q", out)
	}
	out = must(t, "import-keystore", "-d", back, "-i", in("truststore.jks"), "--type", "jks", "--storepass-file", in("ts.pass"))
	if !strings.Contains(out, `1 already stored: "Org CA"`) {
		t.Errorf("import of the truststore said %q", out)
	}
	must(t, "import-keystore", "-d", back, "-i", in("keystore.p12"), "--storepass-file", in("ks.pass"))
	want := listHeader +
		"agent                                                        u,u,u\n" +
		"Org CA                                                       CT,, \n" +
		"ui                                                           u,u,u\n"
	if got := must(t, "list", "-d", back); got != want {
		t.Errorf("store after imports:\n%s\nwant\n%s", got, want)
	}
	if out := must(t, "check", "-d", back, "-n", "agent", "--host", "system2,192.0.2.1"); !strings.Contains(out, "result: PASS") {
		t.Errorf("check after import:\n%s", out)
	}
}

// TestImportKeytoolKeystore: keystores made by keytool -genkeypair and -importcert.
func TestImportKeytoolKeystore(t *testing.T) {
	needKeytool(t)
	d := t.TempDir()
	in := func(f string) string { return filepath.Join(d, f) }
	ca := in("ca")
	must(t, "ca", "-d", ca)
	must(t, "export", "-d", ca, "-n", "PCP CA", "--format", "pem", "-o", in("ca.crt"))
	sh(t, d, "keytool", "-genkeypair", "-alias", "javaclient", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=javaclient", "-validity", "20",
		"-ext", "EKU=clientAuth", "-keystore", in("java.jks"), "-storetype", "JKS", "-storepass", "storepw1", "-keypass", "keypw123")
	sh(t, d, "keytool", "-importcert", "-noprompt", "-alias", "pcp ca", "-file", in("ca.crt"), "-keystore", in("java.jks"), "-storetype", "JKS", "-storepass", "storepw1")
	writeFile(t, in("sp"), []byte("storepw1\n"))
	writeFile(t, in("kp"), []byte("keypw123\n"))
	writeFile(t, in("wrong"), []byte("wrongpw\n"))
	db := in("db")
	must(t, "create", "-d", db)
	before := dirSnapshot(t, db)

	// Bad input: a clear error naming the file, the store unchanged.
	for _, tc := range []struct {
		code int
		args []string
		want []string
	}{
		{1, []string{"import-keystore", "-d", db, "-i", in("java.jks"), "--storepass-file", in("wrong")}, []string{in("java.jks"), "keystore password incorrect", "--storepass-file"}},
		{1, []string{"import-keystore", "-d", db, "-i", in("java.jks"), "--storepass-file", in("sp")}, []string{in("java.jks"), "key password incorrect", "--keypass-file"}},
		{1, []string{"import-keystore", "-d", db, "-i", in("java.jks"), "--type", "pkcs12", "--storepass-file", in("sp")}, []string{"not PKCS12", "--type jks"}},
		{1, []string{"import-keystore", "-d", db, "-i", in("ca.crt"), "--storepass-file", in("sp")}, []string{in("ca.crt"), "PEM file, not a keystore"}},
		{1, []string{"import-keystore", "-d", db, "-i", in("missing.jks"), "--storepass-file", in("sp")}, []string{"missing.jks"}},
		{2, []string{"import-keystore", "-d", db, "-i", in("java.jks")}, []string{"--storepass-file FILE is required"}},
		{2, []string{"import-keystore", "-d", db, "-i", in("java.jks"), "--type", "jceks", "--storepass-file", in("sp")}, []string{"want jks or pkcs12"}},
	} {
		errs := fails(t, tc.code, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%v: stderr lacks %q: %s", tc.args[len(tc.args)-1], w, errs)
			}
		}
	}
	// An algorithm certdb does not hold (DSA): refused, naming the alias.
	sh(t, d, "keytool", "-genkeypair", "-alias", "olddsa", "-keyalg", "DSA", "-keysize", "2048", "-dname", "CN=dsa", "-validity", "2",
		"-keystore", in("dsa.p12"), "-storetype", "PKCS12", "-storepass", "storepw1")
	errs := fails(t, 1, "import-keystore", "-d", db, "-i", in("dsa.p12"), "--storepass-file", in("sp"))
	if !strings.Contains(errs, in("dsa.p12")) || !strings.Contains(errs, `"olddsa"`) || !strings.Contains(errs, "unsupported") {
		t.Errorf("DSA: %s", errs)
	}
	// A damaged copy.
	data, _ := os.ReadFile(in("java.jks"))
	data[len(data)/2] ^= 0xFF
	writeFile(t, in("damaged.jks"), data)
	errs = fails(t, 1, "import-keystore", "-d", db, "-i", in("damaged.jks"), "--storepass-file", in("sp"), "--keypass-file", in("kp"))
	if !strings.Contains(errs, in("damaged.jks")) {
		t.Errorf("damaged: %s", errs)
	}
	assertUnchanged(t, db, before)

	out := must(t, "import-keystore", "-d", db, "-i", in("java.jks"), "--storepass-file", in("sp"), "--keypass-file", in("kp"))
	if !strings.Contains(out, `1 identity(ies) with their keys: "javaclient"`) || !strings.Contains(out, `1 trusted certificate(s) as CAs with trust CT,,: "pcp ca"`) {
		t.Errorf("import said %q", out)
	}
	if got := must(t, "list", "-d", db); !strings.Contains(got, "javaclient                                                   u,u,u\n") ||
		!strings.Contains(got, "pcp ca                                                       CT,, \n") {
		t.Errorf("list:\n%s", got)
	}
	out, _, _ = cli(t, nil, "check", "-d", db, "-n", "javaclient", "--role", "client")
	if !strings.Contains(out, "PASS key:") || !strings.Contains(out, "PASS usage:") {
		t.Errorf("check of the Java key:\n%s", out)
	}
}

func TestKeystoreExportErrors(t *testing.T) {
	d := t.TempDir()
	in := func(f string) string { return filepath.Join(d, f) }
	ca := in("ca")
	must(t, "ca", "-d", ca)
	must(t, "add", "-d", ca, "-n", "bare", "-t", ",,", "-i", newPKIFiles(t).otherPEM)
	writeFile(t, in("pw"), []byte("secret1\n"))
	writeFile(t, in("kp"), []byte("other12\n"))
	writeFile(t, in("exists.jks"), []byte("x"))
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{2, []string{"export-keystore", "-d", ca, "-n", "PCP CA", "-o", in("k.jks"), "--storepass-file", in("pw")}, "--type jks|pkcs12 is required"},
		{2, []string{"export-keystore", "-d", ca, "-n", "PCP CA", "-o", in("k.jks"), "--type", "jks"}, "--storepass-file FILE is required"},
		{2, []string{"export-keystore", "-d", ca, "-n", "PCP CA", "-o", in("k.p12"), "--type", "pkcs12", "--storepass-file", in("pw"), "--keypass-file", in("kp")}, "one password"},
		{2, []string{"export-keystore", "-d", ca, "-n", "PCP CA", "-o", "-", "--type", "jks", "--storepass-file", in("pw")}, "binary"},
		{1, []string{"export-keystore", "-d", ca, "-n", "PCP CA", "-o", in("exists.jks"), "--type", "jks", "--storepass-file", in("pw")}, "--force"},
		{1, []string{"export-keystore", "-d", ca, "-n", "nope", "-o", in("k.jks"), "--type", "jks", "--storepass-file", in("pw")}, `"nope"`},
		{2, []string{"export-truststore", "-d", ca, "-o", in("t.jks"), "--type", "jks", "--storepass-file", in("pw")}, "-n NICKNAME is required"},
		{2, []string{"export-truststore", "-d", ca, "-n", "a", "-n", "b", "--alias", "x", "-o", in("t.jks"), "--type", "jks", "--storepass-file", in("pw")}, "--alias names one"},
		{1, []string{"export-truststore", "-d", ca, "-n", "PCP CA", "-n", "nope", "-o", in("t.jks"), "--type", "jks", "--storepass-file", in("pw")}, `"nope"`},
	} {
		errs := fails(t, tc.code, tc.args...)
		if !strings.Contains(errs, tc.want) {
			t.Errorf("%v: %s", tc.args, errs)
		}
	}
	if _, err := os.Stat(in("k.jks")); err == nil {
		t.Error("a failed export left a file")
	}
	if b, _ := os.ReadFile(in("exists.jks")); string(b) != "x" {
		t.Error("an existing file was replaced")
	}
	// A certificate without a key makes no keystore; JKS may have its own key password.
	errs := fails(t, 1, "export-keystore", "-d", ca, "-n", "bare", "-o", in("k.jks"), "--type", "jks", "--storepass-file", in("pw"))
	if !strings.Contains(errs, "no private key") {
		t.Errorf("bare: %s", errs)
	}
	must(t, "export-keystore", "-d", ca, "-n", "PCP CA", "-o", in("k.jks"), "--type", "jks", "--storepass-file", in("pw"), "--keypass-file", in("kp"))
	_, errs, _ = cli(t, nil, "export-truststore", "-d", ca, "-n", "PCP CA", "-o", in("t.p12"), "--type", "pkcs12", "--storepass-file", writeFile(t, in("short"), []byte("abc\n")))
	if !strings.Contains(errs, "shorter than 6") {
		t.Errorf("short password: %q", errs)
	}
}
