package main

import (
	"bytes"
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
)

// verifyRun runs collectord verify in-process.
func verifyRun(t *testing.T, args ...string) (out string, code int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code = run(append([]string{"verify"}, args...), &stdout, &stderr)
	return stdout.String() + stderr.String(), code
}

var checkLine = regexp.MustCompile(`(?m)^(PASS|WARN|FAIL) ([a-z. ]+): `)

// statuses reduces a transcript to "STATUS check" lines, the parts that do not
// depend on this host's name or the certificates' dates.
func statuses(out string) string {
	var s []string
	for _, m := range checkLine.FindAllStringSubmatch(out, -1) {
		s = append(s, m[1]+" "+m[2])
	}
	return strings.Join(s, "\n")
}

const allPass = `PASS config
PASS permissions
PASS store
PASS nickname
PASS validity
PASS usage
PASS names
PASS this host
PASS chain
PASS key
PASS strength
PASS client certificates
PASS client store
PASS handshake
PASS fetch`

func TestVerifySecureAllPass(t *testing.T) {
	p := newPKI(t)
	h := startReloader(t, "", p.ca, "-C", p.serverDir, "-M", serverNick, "-Q")
	out, code := verifyRun(t, "--secure", "--config", h.cfg, "-C", p.serverDir, "-M", serverNick, "-Q",
		"-p", itoa(h.port), "--client-store", p.clientDir)
	if code != 0 || statuses(out) != allPass {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"PASS fetch: hinv.ncpu = ", `client certificate "client" presented`,
		"15 passed, 0 warnings, 0 failed", "PASS chain: issued by CN=Test CA,O=gopcp test, one of the CAs trusted with C in " + p.serverDir} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
}

// TestVerifyWarningsExitZero: no -Q and a certificate expiring within 30 days are
// warnings, each with its fix; warnings alone exit 0.
func TestVerifyWarningsExitZero(t *testing.T) {
	p := newPKI(t)
	soon := testcerts.New(t, p.ca, testcerts.Options{CN: "soon", DNS: localNames(), Server: true,
		NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	p.replaceIdentity(t, soon)
	h := startReloader(t, "", p.ca, "-C", p.serverDir, "-M", serverNick)
	out, code := verifyRun(t, "--secure", "--config", h.cfg, "-C", p.serverDir, "-M", serverNick,
		"-p", itoa(h.port), "--client-store", p.clientDir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"WARN validity: expires on ", "in 9 days: renew it soon; request a new one", "; fix: certdb request -d " + p.serverDir + " -n 'PCP Collector certificate renewed' --cn soon --server --san ",
		"WARN client certificates: not required: remote clients can fetch without a certificate; start collectord with -Q (tls.require_client_cert = true)\n",
		"2 warnings, 0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
}

func TestVerifyFailures(t *testing.T) {
	p := newPKI(t)
	h := startReloader(t, "", p.ca, "-C", p.serverDir, "-M", serverNick, "-Q")
	base := []string{"--secure", "--config", h.cfg, "-C", p.serverDir, "-Q", "-p", itoa(h.port)}
	emptyStore := t.TempDir()
	noIdentity := filepath.Join(t.TempDir(), "client")
	p.store(t, noIdentity, "", nil)

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown nickname", []string{"-M", "nope", "--client-store", p.clientDir},
			[]string{`FAIL nickname: no certificate "nope" in`, `; use one of the store's identities with -M (tls.nickname): "PCP Collector certificate"`}},
		{"no client store", []string{"-M", serverNick, "--client-store", emptyStore},
			[]string{"FAIL client store: no store in " + emptyStore, "FAIL handshake: "}},
		{"client store without a certificate under -Q", []string{"-M", serverNick, "--client-store", noIdentity},
			[]string{"FAIL client store: " + noIdentity + " holds no client certificate and the collector requires one (-Q)",
				"FAIL handshake: ", "; present a client certificate"}},
		{"no collector", []string{"-M", serverNick, "--client-store", p.clientDir, "-p", itoa(freePort(t))},
			[]string{"FAIL handshake: TLS connection to 127.0.0.1:", "start the collector, or give its port with -p; fix: systemctl start collectord\n"}},
		{"no store", []string{"-C", emptyStore, "-M", serverNick, "--client-store", p.clientDir},
			[]string{"FAIL store: no certificate store in " + emptyStore + "; point tls.cert_db (-C) at the store"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := verifyRun(t, append(append([]string{}, base...), tc.args...)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("transcript lacks %q:\n%s", w, out)
				}
			}
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "FAIL ") && !strings.Contains(l, "; ") {
					t.Errorf("failure without what to do: %s", l)
				}
			}
		})
	}
}

// TestVerifyCertificateProblems: certificate checks on a tls.conf identity.
func TestVerifyCertificateProblems(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Test CA", IsCA: true})
	other := testcerts.New(t, nil, testcerts.Options{CN: "Other CA", IsCA: true})
	for _, tc := range []struct {
		name  string
		setup func(dir string) tlsConfFiles
		want  []string
	}{
		{"key does not match", func(dir string) tlsConfFiles {
			f := writeTLSConf(t, dir, ca, serverCert(t, ca, "a"))
			writeFile(t, f.key, string(serverCert(t, ca, "b").KeyPEM(t)))
			return f
		}, []string{"FAIL key: the private key in ", "server.key does not match the certificate"}},
		{"client-only certificate", func(dir string) tlsConfFiles {
			return writeTLSConf(t, dir, ca, testcerts.New(t, ca, testcerts.Options{CN: "c", DNS: localNames(), Client: true}))
		}, []string{"FAIL usage: extendedKeyUsage is clientAuth, without serverAuth: a server needs it", "(certdb issue --server --san"}},
		{"expired", func(dir string) tlsConfFiles {
			return writeTLSConf(t, dir, ca, testcerts.New(t, ca, testcerts.Options{CN: "old", DNS: localNames(), Server: true,
				NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}))
		}, []string{"FAIL validity: expired on "}},
		{"names missing", func(dir string) tlsConfFiles {
			return writeTLSConf(t, dir, ca, testcerts.New(t, ca, testcerts.Options{CN: "x", DNS: []string{"elsewhere.example"}, Server: true}))
		}, []string{"PASS names: DNS:elsewhere.example", "FAIL this host: the certificate names none of this host's names", "(it names DNS:elsewhere.example)"}},
		{"untrusted issuer", func(dir string) tlsConfFiles {
			f := writeTLSConf(t, dir, ca, serverCert(t, ca, "a"))
			writeFile(t, f.caFile, string(other.CertPEM()))
			return f
		}, []string{`FAIL chain: issuer CN=Test CA,O=gopcp test is not among the CAs in the tls-ca-cert-file of `, "; set tls-ca-cert-file in "}},
		{"key readable by everybody", func(dir string) tlsConfFiles {
			f := writeTLSConf(t, dir, ca, serverCert(t, ca, "a"))
			os.Chmod(f.key, 0o644)
			return f
		}, []string{"FAIL permissions: ", "mode 0644: everybody can read it; fix: chmod 600"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.setup(t.TempDir())
			cfg := filepath.Join(t.TempDir(), "empty.toml")
			writeFile(t, cfg, "")
			out, code := verifyRun(t, "--secure", "--config", cfg, "--tls-conf", f.conf,
				"-p", itoa(freePort(t)), "--timeout", "1")
			if code != 1 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("transcript lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestVerifyServedCertificateDiffers: a collector still serving an older
// certificate than the store holds is told to reload.
func TestVerifyServedCertificateDiffers(t *testing.T) {
	p := newPKI(t)
	h := startReloader(t, "[reload]\nwatch_interval = \"0s\"\n", p.ca, "-C", p.serverDir, "-M", serverNick, "-Q")
	p.replaceIdentity(t, testcerts.New(t, p.ca, testcerts.Options{CN: "renewed", DNS: localNames(), Server: true}))
	out, code := verifyRun(t, "--secure", "--config", h.cfg, "-C", p.serverDir, "-M", serverNick, "-Q",
		"-p", itoa(h.port), "--client-store", p.clientDir)
	if code != 0 || !strings.Contains(out, "WARN served certificate: the collector serves CN=collector") ||
		!strings.Contains(out, "; reload it, or check that the running one uses this configuration; fix: systemctl reload collectord\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestVerifyUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "say what to verify: --secure"},
		{[]string{"--secure", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"--secure", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--help"}, 0, "Exit status: 0 every check passed (warnings allowed), 1 a check failed, 2 usage error."},
		{[]string{"--secure", "--config", "/nonexistent/c.toml"}, 1, "FAIL config: config: open /nonexistent/c.toml"},
	} {
		out, code := verifyRun(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("verify %q: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, out)
		}
	}
}

// walkthroughPKI is the PCP walkthrough's set-up with certificates as
// "openssl x509 -req" makes them: no subjectAltName, no extendedKeyUsage, the
// server's own certificate added with P,, as the walkthrough does.
func walkthroughPKI(t *testing.T) *pki {
	p := &pki{dir: t.TempDir()}
	p.ca = testcerts.New(t, nil, testcerts.Options{CN: "myCA", IsCA: true, RSA: true})
	p.server = testcerts.New(t, p.ca, testcerts.Options{CN: "pmserver", RSA: true})
	p.client = testcerts.New(t, p.ca, testcerts.Options{CN: "pmclient", RSA: true})
	p.serverDir, p.clientDir = filepath.Join(p.dir, "nssdb-server"), filepath.Join(p.dir, "nssdb-client")
	for _, s := range []struct {
		dir, nick string
		id        *testcerts.Cert
	}{{p.serverDir, "pmserver_cert", p.server}, {p.clientDir, "pmclient_cert", p.client}} {
		st, err := store.CreateWith(s.dir, nil, store.CreateOptions{TestOnlyFastKDF: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddCert("Root CA", p.ca.Cert, store.MustParseTrust("CT,,")); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddIdentity(s.nick, s.id.Cert, s.id.Key, store.MustParseTrust("P,,")); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestVerifyWalkthrough: the walkthrough's set-up passes with warnings, each
// with what to do, and the connection verifies the collector by its common
// name as clients do.
func TestVerifyWalkthrough(t *testing.T) {
	t.Chdir(t.TempDir()) // a fix line writes its request here
	p := walkthroughPKI(t)
	h := startReloader(t, "", p.ca, "-C", p.serverDir, "-M", "pmserver_cert", "-Q")
	out, code := verifyRun(t, "--secure", "--config", h.cfg, "-C", p.serverDir, "-M", "pmserver_cert", "-Q",
		"-p", itoa(h.port), "--client-store", p.clientDir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		`WARN names: no subjectAltName: clients match the common name "pmserver" instead (as NSS and OpenSSL do)`,
		"; fix: certdb request -d " + p.serverDir + " -n 'pmserver_cert renewed' --cn pmserver --server --san DNS:pmserver,DNS:",
		`WARN this host: the certificate names none of this host's names`,
		`clients must connect by the name "pmserver"`,
		"PASS usage: no extendedKeyUsage extension, so any use is allowed (serverAuth included)",
		"PASS chain: issued by CN=myCA,O=gopcp test, one of the CAs trusted with C in " + p.serverDir,
		"PASS handshake: TLS 1.3 with 127.0.0.1:", `server verified as pmserver (by its common name: it has no subjectAltName), client certificate "pmclient" presented`,
		"PASS fetch: hinv.ncpu = ", "0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
}

// TestVerifyTLSConfClient: with a PCP 6 tls.conf and no client store, verify
// connects with the tls.conf's CA and client certificate.
func TestVerifyTLSConfClient(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no ~/.pki/gopcp
	t.Setenv("PCP_SECURE_DB_PATH", "")
	t.Setenv("PCP_TLSCONF_PATH", "")
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Test CA", IsCA: true})
	dir := t.TempDir()
	f := writeTLSConf(t, dir, ca, testcerts.New(t, ca, testcerts.Options{CN: "srv", DNS: localNames(), Server: true}))
	cl := testcerts.New(t, ca, testcerts.Options{CN: "tlsconf client", Client: true})
	writeFile(t, filepath.Join(dir, "client.crt"), string(cl.CertPEM()))
	writeFile(t, filepath.Join(dir, "client.key"), string(cl.KeyPEM(t)))
	conf, _ := os.ReadFile(f.conf)
	withClient := filepath.Join(dir, "with-client.conf")
	writeFile(t, withClient, string(conf)+"tls-client-cert-file = client.crt\ntls-client-key-file = client.key\n")

	h := startReloader(t, "", ca, "--tls-conf", withClient, "-Q")
	out, code := verifyRun(t, "--secure", "--config", h.cfg, "--tls-conf", withClient, "-Q", "-p", itoa(h.port))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"PASS client tls.conf: no client store; connecting as PCP 6 clients do with the CAs of " + withClient,
		`client certificate "tlsconf client" presented`, "PASS fetch: ", "PASS chain: issued by CN=Test CA,O=gopcp test, one of the CAs in the tls-ca-cert-file of "} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
	// Without a client certificate the tls.conf's own (server-only) certificate
	// is presented, as libpcp falls back to it, and the collector refuses it.
	out, code = verifyRun(t, "--secure", "--config", h.cfg, "--tls-conf", f.conf, "-Q", "-p", itoa(h.port))
	if code != 1 || !strings.Contains(out, "FAIL handshake: ") || !strings.Contains(out, `client certificate "srv"`) && !strings.Contains(out, "closed the session") {
		t.Fatalf("server certificate as client: exit %d:\n%s", code, out)
	}
}

var fixLine = regexp.MustCompile(`(?m)^(PASS|WARN|FAIL) ([a-z. ]+): .*; fix: (.*)$`)

// fixes returns the fix lines of a transcript by check name.
func fixes(out string) map[string]string {
	m := map[string]string{}
	for _, f := range fixLine.FindAllStringSubmatch(out, -1) {
		m[f[2]] = f[3]
	}
	return m
}

// systemFixes are the fix lines that act on the host's service manager: they
// run as printed on an installed system, not in a test.
var systemFixes = map[string]bool{"systemctl reload collectord": true, "systemctl start collectord": true,
	"systemctl restart collectord": true, "journalctl -u collectord": true}

// TestVerifyFixLinesRun runs the fix lines verify prints, exactly as printed,
// through sh with the real certdb, and checks each finding is gone afterwards.
func TestVerifyFixLinesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds certdb")
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "certdb"), "github.com/gopcp/gopcp/certdb").CombinedOutput(); err != nil {
		t.Fatalf("go build certdb: %v\n%s", err, out)
	}
	t.Chdir(t.TempDir()) // a fix line may write a request here
	run := func(line string) {
		t.Helper()
		if systemFixes[line] {
			return
		}
		cmd := exec.Command("sh", "-c", line)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fix %s: %v\n%s", line, err, out)
		}
	}
	// A folder name a shell would split, with a quote it would end at.
	p := &pki{dir: filepath.Join(t.TempDir(), "it's a \"dir\" $(x)")}
	p.ca = testcerts.New(t, nil, testcerts.Options{CN: "Test CA", IsCA: true})
	p.server = testcerts.New(t, p.ca, testcerts.Options{CN: "pmserver", Server: true})
	p.client = testcerts.New(t, p.ca, testcerts.Options{CN: "client", Client: true})
	p.serverDir, p.clientDir = filepath.Join(p.dir, "server"), filepath.Join(p.dir, "client")
	os.MkdirAll(p.dir, 0o700)
	p.store(t, p.clientDir, "client", p.client)
	// The collector's store holds the CA with its key, trusted C only (not T),
	// and is readable by others.
	st, err := store.CreateWith(p.serverDir, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	st.AddIdentity("Test CA", p.ca.Cert, p.ca.Key, store.MustParseTrust("C,,"))
	st.AddIdentity(serverNick, p.server.Cert, p.server.Key, store.Trust{})
	os.Chmod(p.serverDir, 0o755)
	writeFile(t, filepath.Join(p.dir, "none.toml"), "")

	args := func(nick string) []string {
		return []string{"--secure", "--config", filepath.Join(p.dir, "none.toml"), "-C", p.serverDir, "-M", nick, "-Q",
			"-p", itoa(freePort(t)), "--timeout", "1", "--client-store", p.clientDir}
	}
	out, _ := verifyRun(t, args(serverNick)...)
	fx := fixes(out)
	if !strings.Contains(out, `(the fix of the "names" line does it)`) {
		t.Errorf("names and this host both print a fix:\n%s", out)
	}
	for _, name := range []string{"permissions", "client certificates", "names", "handshake"} {
		if fx[name] == "" {
			t.Fatalf("no fix for %s:\n%s", name, out)
		}
	}
	for _, line := range fx {
		run(line)
	}
	// The renewed certificate is under a new nickname, as the message says.
	out, _ = verifyRun(t, args(serverNick+" renewed")...)
	for _, want := range []string{"PASS permissions: ", "PASS client certificates: required (-Q); 1 client CA(s) trusted",
		"PASS names: DNS:pmserver, DNS:", "PASS this host: the certificate names "} {
		if !strings.Contains(out, want) {
			t.Errorf("after the fixes, transcript lacks %q:\n%s", want, out)
		}
	}
	for name, line := range fixes(out) {
		if !systemFixes[line] {
			t.Errorf("after the fixes, %s still has a fix: %s", name, line)
		}
	}

	// A store file others can read: the store is refused, and the fix is the
	// chmod that lets it open.
	os.Chmod(filepath.Join(p.serverDir, store.FileName), 0o644)
	out, _ = verifyRun(t, args(serverNick+" renewed")...)
	fix := fixes(out)["store"]
	if !strings.HasPrefix(fix, "chmod 600 ") {
		t.Fatalf("store readable by others:\n%s", out)
	}
	run(fix)
	if out, _ = verifyRun(t, args(serverNick+" renewed")...); !strings.Contains(out, "PASS store: ") {
		t.Errorf("after %s:\n%s", fix, out)
	}
}

// TestVerifyNoCommonNameWithSANs: a man in the middle serving a certificate
// from the trusted CA whose common name is the collector's name but whose
// subjectAltName names another host is refused: the common name counts only
// when a certificate has no subjectAltName at all.
func TestVerifyNoCommonNameWithSANs(t *testing.T) {
	t.Chdir(t.TempDir())
	p := walkthroughPKI(t)
	evil := testcerts.New(t, p.ca, testcerts.Options{CN: "pmserver", DNS: []string{"attacker.example"}, Server: true})
	evilDir := filepath.Join(t.TempDir(), "evil")
	st, err := store.CreateWith(evilDir, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	st.AddCert("Root CA", p.ca.Cert, store.MustParseTrust("CT,,"))
	st.AddIdentity("pmserver_cert", evil.Cert, evil.Key, store.Trust{})
	h := startReloader(t, "", p.ca, "-C", evilDir, "-M", "pmserver_cert")
	// verify reads the genuine store (CN-only pmserver) and connects to the
	// impostor.
	out, code := verifyRun(t, "--secure", "--config", h.cfg, "-C", p.serverDir, "-M", "pmserver_cert",
		"-p", itoa(h.port), "--client-store", p.clientDir)
	if code != 1 || !strings.Contains(out, "FAIL handshake: ") || !strings.Contains(out, "is not valid for \"pmserver\"") {
		t.Fatalf("impostor accepted? exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "PASS fetch") {
		t.Fatalf("fetched from the impostor:\n%s", out)
	}
}

// TestVerifyIPOnly: a certificate naming only an address clients can use
// passes with warnings, and the connection verifies it by that address.
func TestVerifyIPOnly(t *testing.T) {
	t.Chdir(t.TempDir())
	p := newPKI(t)
	ipOnly := testcerts.New(t, p.ca, testcerts.Options{CN: "collector", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	p.replaceIdentity(t, ipOnly)
	h := startReloader(t, "", p.ca, "-C", p.serverDir, "-M", serverNick, "-Q")
	out, code := verifyRun(t, "--secure", "--config", h.cfg, "-C", p.serverDir, "-M", serverNick, "-Q",
		"-p", itoa(h.port), "--client-store", p.clientDir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"WARN names: only IP addresses (IP:127.0.0.1): clients must connect by address, never by name",
		"WARN this host: the certificate names none of this host's names", "only addresses (IP:127.0.0.1): clients must connect by address 127.0.0.1",
		"; fix: certdb request -d " + p.serverDir + " -n 'PCP Collector certificate renewed' --cn collector --server --san IP:127.0.0.1,DNS:",
		"PASS handshake: TLS 1.3 with 127.0.0.1:", "server verified as 127.0.0.1,", "PASS fetch: "} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
}

// TestVerifyHostileCertificateText: a certificate whose common name carries
// terminal escapes and a newline shows them escaped, and cannot forge a line.
func TestVerifyHostileCertificateText(t *testing.T) {
	t.Chdir(t.TempDir())
	p := newPKI(t)
	p.replaceIdentity(t, testcerts.New(t, p.ca, testcerts.Options{CN: "pm\x1b[2J\rPASS fetch: forged\n\u202eFAKE"}))
	cfg := filepath.Join(t.TempDir(), "c.toml")
	writeFile(t, cfg, "")
	out, _ := verifyRun(t, "--secure", "--config", cfg, "-C", p.serverDir, "-M", serverNick, "-p", itoa(freePort(t)),
		"--timeout", "1", "--client-store", p.clientDir)
	if strings.ContainsAny(out, "\x1b\r\u202e") || strings.Contains(out, "\nPASS fetch: forged") || strings.Contains(out, "\nFAKE") {
		t.Fatalf("raw control characters in the transcript:\n%q", out)
	}
	if !strings.Contains(out, `WARN names: no subjectAltName: clients match the common name "pm\x1b[2J\rPASS fetch: forged\n\u202eFAKE" instead`) {
		t.Errorf("names line:\n%s", out)
	}
	// The renewal asks for this host's names, not for the hostile text.
	if fix := fixes(out)["names"]; !strings.Contains(fix, " --cn "+localNames()[0]+" --server --san DNS:") {
		t.Errorf("fix: %s", fix)
	}
}
