package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/testcerts"
)

func TestCheckCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	must(t, "quickstart", "--dir", dir, "--host", "pcp.example")
	srv, cliStore := filepath.Join(dir, "server"), filepath.Join(dir, "client")

	out := must(t, "check", "-d", srv, "-n", collectorNick, "--host", "pcp.example,localhost", "--host", "127.0.0.1")
	want := []string{
		`checking "PCP Collector certificate" in ` + srv + " (CN=",
		") as a server certificate (from its extendedKeyUsage; choose with --role)\n",
		"PASS validity: valid until ",
		"PASS usage: extendedKeyUsage serverAuth allows serverAuth\n",
		"PASS host pcp.example: covered\nPASS host localhost: covered\nPASS host 127.0.0.1: covered\n",
		"PASS chain: issued by CN=PCP CA on ", "one of the CAs trusted with C in " + srv + "\n",
		"PASS key: private key in " + srv + " matches\n",
		"PASS strength: ECDSA P-256 key, signed with ECDSA-SHA256\n",
		"result: PASS (all 8 checks)\n",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("check output lacks %q:\n%s", w, out)
		}
	}
	// The client's certificate against the collector's store: T is needed, and there.
	out = must(t, "check", "-d", cliStore, "-n", clientNick, "--role", "client", "--ca-store", srv)
	if !strings.Contains(out, "CAs trusted with T in "+srv) || !strings.HasSuffix(out, "result: PASS (all 5 checks)\n") {
		t.Errorf("client check:\n%s", out)
	}

	// Failures: exit 1, every line still printed.
	out, _, code := cli(t, nil, "check", "-d", srv, "-n", collectorNick, "--host", "elsewhere.example", "--role", "client")
	if code != 1 || !strings.Contains(out, "FAIL usage: extendedKeyUsage is serverAuth, without clientAuth") ||
		!strings.Contains(out, "FAIL host elsewhere.example: not covered") || !strings.Contains(out, "result: FAIL (2 failed, 0 warning(s), of 6 checks)") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	// A CA store that does not trust the issuer.
	other := filepath.Join(t.TempDir(), "other")
	must(t, "quickstart", "--dir", other)
	out, _, code = cli(t, nil, "check", "-d", srv, "-n", collectorNick, "--ca-store", filepath.Join(other, "client"))
	if code != 1 || !strings.Contains(out, "FAIL chain: issuer CN=PCP CA on ") || !strings.Contains(out, "certdb add -d "+filepath.Join(other, "client")) {
		t.Errorf("foreign CA store: exit %d\n%s", code, out)
	}

	// A file: WARN only (no CA store) exits 0; with its key it is compared.
	pem := filepath.Join(t.TempDir(), "srv.pem")
	must(t, "export", "-d", srv, "-n", collectorNick, "-o", pem, "--format", "pem", "--with-key")
	out = must(t, "check", "--file", pem)
	if !strings.Contains(out, "WARN chain: not checked") || !strings.Contains(out, "PASS key: private key in "+pem+" matches") ||
		!strings.Contains(out, "result: WARN (1 warning(s), nothing failed, of 6 checks)") {
		t.Errorf("file check:\n%s", out)
	}
	out = must(t, "check", "--file", pem, "--ca-store", cliStore, "--host", "localhost")
	if !strings.Contains(out, "PASS chain:") || !strings.Contains(out, "result: PASS") {
		t.Errorf("file with CA store:\n%s", out)
	}

	// An expired certificate in a file.
	root := testcerts.New(t, nil, testcerts.Options{CN: "r", IsCA: true, NotBefore: time.Now().Add(-100 * time.Hour)})
	old := testcerts.New(t, root, testcerts.Options{CN: "old", DNS: []string{"old"}, Server: true, NotBefore: time.Now().Add(-50 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	f := writeFile(t, filepath.Join(t.TempDir(), "old.crt"), old.CertPEM())
	out, _, code = cli(t, nil, "check", "--file", f)
	if code != 1 || !strings.Contains(out, "FAIL validity: expired on ") {
		t.Errorf("expired: exit %d\n%s", code, out)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"check", "-d", srv},
		{"check", "-d", srv, "-n", collectorNick, "--file", pem},
		{"check", "--file", pem, "--role", "ca"},
	} {
		fails(t, 2, args...)
	}
	errs := fails(t, 1, "check", "-d", srv, "-n", "nope")
	if !strings.Contains(errs, `"nope"`) {
		t.Errorf("unknown nickname: %s", errs)
	}
	errs = fails(t, 1, "check", "--file", filepath.Join(dir, "missing.pem"))
	if !strings.Contains(errs, "missing.pem") {
		t.Errorf("missing file: %s", errs)
	}
}
