package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/tlsconfig"
)

// signCRL makes a CRL of ca (number n) listing revoked.
func signCRL(t *testing.T, ca *testcerts.Cert, n int64, revoked ...*testcerts.Cert) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(n), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(24 * time.Hour)}
	for _, r := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: r.Cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// refused reports whether the collector refuses a TLS session presenting
// client: under TLS 1.3 the refusal arrives with the first read.
func (h *harness) refused(t *testing.T, client *testcerts.Cert) bool {
	t.Helper()
	s, err := connectTLS(t, h.port, h.ca, client)
	if err != nil {
		return true
	}
	_, err = s.ctx.LookupNames([]string{"hinv.ncpu"})
	return err != nil
}

// TestWatchAppliesStoreCRL: with -Q, a client accepted before is refused once
// `certdb crl add` (store.AddCRL) puts a CRL listing its certificate in the
// server's store: the watch reloads it without a restart, the log names the
// certificate, and a session opened before goes on.
func TestWatchAppliesStoreCRL(t *testing.T) {
	p := newPKI(t)
	h := startReloader(t, "", p.ca, "-C", p.serverDir, "-M", serverNick, "-Q")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.rl.Watch(ctx, 30*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	before, err := connectTLS(t, h.port, h.ca, p.client)
	if err != nil {
		t.Fatal(err)
	}
	before.fetch(t)
	st, err := store.Open(p.serverDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddCRL(signCRL(t, p.ca, 1, p.client)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "the watch to load the CRL", func() bool { return h.rl.Stats().Count() == 1 })
	if !h.refused(t, p.client) {
		t.Fatal("a revoked client certificate was served after the CRL was added")
	}
	other := testcerts.New(t, p.ca, testcerts.Options{CN: "other client", Client: true})
	if h.refused(t, other) {
		t.Fatalf("a client the CRL does not list was refused:\n%s", h.log)
	}
	before.fetch(t)
	waitFor(t, 3*time.Second, "the refusal in the log", func() bool { return strings.Contains(h.log.String(), "is revoked") })
	log := h.log.String()
	for _, w := range []string{"client refused: TLS handshake failed", "CN=client", tlsconfig.Fingerprint(p.client.Cert),
		strings.ToUpper(p.client.Cert.SerialNumber.Text(16))} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
}

// TestReloadBrokenCRLKeepsLastGood: crl_files in [tls]; a reload with a CRL
// signed by another CA, or a garbage one, fails naming the file and keeps the
// last good configuration; a good CRL then applies.
func TestReloadBrokenCRLKeepsLastGood(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Test CA", IsCA: true})
	dir := t.TempDir()
	f := writeTLSConf(t, dir, ca, serverCert(t, ca, "server"))
	client := testcerts.New(t, ca, testcerts.Options{CN: "client", Client: true})
	crl := filepath.Join(dir, "ca.crl")
	writeFile(t, crl, string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: signCRL(t, ca, 1)})))
	base := "[reload]\nwatch_interval = \"0s\"\n[tls]\ntls_conf = \"" + f.conf + "\"\nrequire_client_cert = true\ncrl_files = [\"" + crl + "\"]\n"
	h := startReloader(t, base, ca)
	if h.refused(t, client) {
		t.Fatalf("client refused before any revocation:\n%s", h.log)
	}
	other := testcerts.New(t, nil, testcerts.Options{CN: "Other CA", IsCA: true})
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"CRL of another CA", "not a configured CA", signCRL(t, other, 2, client)},
		{"garbage", "neither PEM nor a DER CRL", []byte("not a CRL")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(crl, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			before := len(h.log.String())
			if err := h.rl.Reload("SIGHUP"); err == nil {
				t.Fatal("reload accepted a broken CRL")
			}
			line := h.log.String()[before:]
			for _, w := range []string{"reload failed; keeping the last good configuration", crl, tc.want} {
				if !strings.Contains(line, w) {
					t.Errorf("log line lacks %q:\n%s", w, line)
				}
			}
			if h.refused(t, client) {
				t.Fatal("the last good configuration was not kept")
			}
		})
	}
	if err := os.WriteFile(crl, signCRL(t, ca, 3, client), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.rl.Reload("SIGHUP"); err != nil {
		t.Fatal(err)
	}
	if !h.refused(t, client) {
		t.Fatal("the new CRL was not applied")
	}
}

// TestCRLFilesNeedTLS: crl_files without an identity is a configuration error.
func TestCRLFilesNeedTLS(t *testing.T) {
	c := Config{TLS: TLSConfig{CRLFiles: []string{"/x.crl"}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "crl_files") {
		t.Fatalf("err = %v", err)
	}
}

// TestRealPminfoRevokedClient: the real PCP 6 pminfo presenting a client
// certificate through PCP_TLSCONF_PATH is served, then refused once the
// certificate is revoked (PCP has no CRLs of its own: the collector decides).
func TestRealPminfoRevokedClient(t *testing.T) {
	pcptest.Require(t, pcptest.PMInfo)
	p := newPKI(t)
	h := startReloader(t, "[reload]\nwatch_interval = \"0s\"\n", p.ca, "-C", p.serverDir, "-M", serverNick, "-Q")
	dir := t.TempDir()
	write := func(name, data string) string {
		f := filepath.Join(dir, name)
		writeFile(t, f, data)
		return f
	}
	conf := write("client.conf", "tls-client-cert-file = "+write("cli.pem", string(p.client.CertPEM()))+
		"\ntls-client-key-file = "+write("cli.key", string(p.client.KeyPEM(t)))+
		"\ntls-ca-cert-file = "+write("ca.pem", string(p.ca.CertPEM()))+"\n")
	pminfo := func() (string, int) {
		out, code := runReal(t, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + conf},
			pcptest.PMInfo, "-h", net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port)), "-f", "hinv.ncpu")
		return out, code
	}
	if out, code := pminfo(); code != 0 || !strings.Contains(out, "value") {
		t.Fatalf("before the CRL: exit %d\n%s", code, out)
	}
	st, err := store.Open(p.serverDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddCRL(signCRL(t, p.ca, 1, p.client)); err != nil {
		t.Fatal(err)
	}
	if err := h.rl.Reload("SIGHUP"); err != nil {
		t.Fatal(err)
	}
	if out, code := pminfo(); code == 0 || strings.Contains(out, "value") {
		t.Fatalf("revoked client served: exit %d\n%s", code, out)
	}
	waitFor(t, 3*time.Second, "the refusal in the log", func() bool {
		return strings.Contains(h.log.String(), "is revoked") && strings.Contains(h.log.String(), tlsconfig.Fingerprint(p.client.Cert))
	})
}

// runReal runs a PCP program with the test environment, returning its output
// (stdout and stderr) and exit status.
func runReal(t *testing.T, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = pcptest.Env(env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return string(out), 0
}
