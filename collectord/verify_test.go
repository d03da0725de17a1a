package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
PASS chain
PASS key
PASS strength
PASS this host
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
