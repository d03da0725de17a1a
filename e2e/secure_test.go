package e2e

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// seedPKI follows PCP's secure-connections walkthrough (as users follow it) literally: a local CA, a
// client and a server certificate made with openssl exactly as shown (the
// interactive prompts answered with -subj, the PKCS#12 passwords with -passout),
// then the server store and the user's store built with certdb, as the walkthrough
// builds them with certutil and pk12util.
type seedPKI struct {
	dir, serverDB, clientDB string
}

func newSeedPKI(t *testing.T) *seedPKI {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: apt-get install openssl")
	}
	p := &seedPKI{dir: t.TempDir()}
	testcerts.WalkthroughPKI(t, p.dir, func(who string) string {
		if who == "pmclient" {
			return "clientpass"
		}
		return "serverpass"
	})
	f := func(name string) string { return filepath.Join(p.dir, name) }
	empty := f("empty") // "\n", as the walkthrough's echo makes it
	// Collector set-up (16.4).
	p.serverDB = "sql:" + f("nssdb-server")
	must(t, run(t, nil, "certdb", "-d", p.serverDB, "-N", "-f", empty), "certdb -N")
	must(t, run(t, nil, "certdb", "-d", p.serverDB, "-A", "-t", "CT,,", "-n", "Root CA", "-i", f("rootCA.crt")), "certdb -A Root CA")
	must(t, run(t, nil, "certdb", "-d", p.serverDB, "-A", "-t", "P,,", "-n", "pmserver_cert", "-i", f("pmserver.crt")), "certdb -A pmserver_cert")
	must(t, run(t, nil, "certdb", "import", "-i", f("pmserver_pkcs12.key"), "-d", p.serverDB, "-w", writeFile(t, f("spw"), "serverpass\n")), "certdb import server")
	list := must(t, run(t, nil, "certdb", "-d", p.serverDB, "-L"), "certdb -L").stdout
	if !regexp.MustCompile(`(?m)^Root CA +CT,, *$`).MatchString(list) || !regexp.MustCompile(`(?m)^pmserver_cert +Pu,u,u *$`).MatchString(list) {
		t.Fatalf("server store listing:\n%s", list)
	}
	// Monitor set-up (16.5).
	p.clientDB = "sql:" + f("nssdb-client")
	must(t, run(t, nil, "certdb", "-d", p.clientDB, "-N", "-f", empty), "certdb -N")
	must(t, run(t, nil, "certdb", "-d", p.clientDB, "-A", "-t", "CT,,", "-n", "Root CA", "-i", f("rootCA.crt")), "certdb -A Root CA")
	must(t, run(t, nil, "certdb", "-d", p.clientDB, "-A", "-t", "P,,", "-n", "pmclient_cert", "-i", f("pmclient.crt")), "certdb -A pmclient_cert")
	must(t, run(t, nil, "certdb", "import", "-i", f("pmclient_pkcs12.key"), "-d", p.clientDB, "-w", writeFile(t, f("cpw"), "clientpass\n")), "certdb import client")
	return p
}

// TestSeedWalkthrough: collectord -C -M -Q refuses a client without a certificate
// with the exact message, and serves one with its certificate under enforce.
func TestSeedWalkthrough(t *testing.T) {
	p := newSeedPKI(t)
	d := startCollectord(t, "-C", p.serverDB, "-M", "pmserver_cert", "-Q")

	r := run(t, nil, "pminfo", "-h", d.addr(), "-f", "kernel.uname.nodename")
	want := `pminfo: Cannot connect to PMCD on host "` + d.addr() + `": PMCD requires a client certificate` + "\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Fatalf("without a certificate: exit %d\nstderr %q\nwant   %q", r.code, r.stderr, want)
	}

	// The walkthrough's environment. Its certificates carry no subjectAltName, so
	// the host name check needs PCP_ALLOW_BAD_CERT_DOMAIN, as the seed sets it.
	env := []string{"PCP_SECURE_SOCKETS=enforce", "PCP_ALLOW_BAD_CERT_DOMAIN=1", "PCP_ALLOW_SERVER_SELF_CERT=1",
		"PCP_SECURE_DB_PATH=" + p.clientDB}
	r = must(t, run(t, env, "pminfo", "-h", d.addr(), "-f", "kernel.uname.nodename"), "pminfo with a certificate")
	host, _ := os.Hostname()
	if want := "\nkernel.uname.nodename\n    value \"" + host + "\"\n"; r.stdout != want {
		t.Fatalf("stdout %q, want %q", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "PCP_ALLOW_BAD_CERT_DOMAIN") {
		t.Errorf("no warning for the accepted name mismatch: %q", r.stderr)
	}

	// Without the ALLOW variable the name mismatch is refused, naming the fix.
	env2 := []string{"PCP_SECURE_SOCKETS=enforce", "PCP_SECURE_DB_PATH=" + p.clientDB}
	r = run(t, env2, "pminfo", "-h", d.addr(), "-f", "kernel.uname.nodename")
	if r.code != 1 || !strings.Contains(r.stderr, "TLS protocol failure") || !strings.Contains(r.stderr, "PCP_ALLOW_BAD_CERT_DOMAIN") {
		t.Fatalf("name mismatch: exit %d %q", r.code, r.stderr)
	}

	// A TLS client without a certificate gets no metric data, and the log says why.
	noCert := filepath.Join(p.dir, "nocert")
	must(t, run(t, nil, "certdb", "create", "-d", noCert), "certdb create")
	must(t, run(t, nil, "certdb", "add", "-d", noCert, "-n", "Root CA", "-t", "CT,,", "-i", filepath.Join(p.dir, "rootCA.crt")), "certdb add")
	r = run(t, append(env[:3:3], "PCP_SECURE_DB_PATH="+noCert), "pminfo", "-h", d.addr(), "-f", "kernel.uname.nodename")
	if r.code != 1 || strings.Contains(r.stdout, "value") {
		t.Fatalf("TLS without a client certificate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	waitLog(t, d, "client refused")
}

func waitLog(t *testing.T, d *daemon, s string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(d.Log(), s) {
			return
		}
	}
	t.Fatalf("log lacks %q:\n%s", s, d.Log())
}

// TestRefusesCertWithoutServerAuth: a certificate that may not serve is refused at
// start-up with an error that says so.
func TestRefusesCertWithoutServerAuth(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true})
	cl := testcerts.New(t, ca, testcerts.Options{CN: "client only", Client: true})
	crt := writeFile(t, filepath.Join(dir, "c.pem"), string(cl.CertPEM()))
	key := writeFile(t, filepath.Join(dir, "k.pem"), string(cl.KeyPEM(t)))
	db := filepath.Join(dir, "db")
	must(t, run(t, nil, "certdb", "create", "-d", db), "create")
	must(t, run(t, nil, "certdb", "add", "-d", db, "-n", "cl", "-t", "u,u,u", "-i", crt, "--key", key), "add")
	r := run(t, nil, "collectord", "--config", "/dev/null", "-p", "0", "-C", db, "-M", "cl")
	if r.code == 0 || !strings.Contains(r.stderr, "does not allow serverAuth") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// untrustedServer runs collectord with a certificate from a CA the user does not
// trust (names right: localhost, 127.0.0.1).
func untrustedServer(t *testing.T) *daemon {
	t.Helper()
	dir := t.TempDir()
	ca := testcerts.New(t, nil, testcerts.Options{CN: "unknown CA", IsCA: true})
	srv := testcerts.New(t, ca, testcerts.Options{CN: "server", Server: true, DNS: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	db := filepath.Join(dir, "db")
	must(t, run(t, nil, "certdb", "create", "-d", db), "create")
	must(t, run(t, nil, "certdb", "add", "-d", db, "-n", "srv", "-t", "u,u,u", "-i",
		writeFile(t, filepath.Join(dir, "c.pem"), string(srv.CertPEM())), "--key", writeFile(t, filepath.Join(dir, "k.pem"), string(srv.KeyPEM(t)))), "add")
	return startCollectord(t, "-C", db, "-M", "srv")
}

// TestAllowSelfCert: an untrusted server is refused (naming the variable), and
// accepted with PCP_ALLOW_SERVER_SELF_CERT and a warning.
func TestAllowSelfCert(t *testing.T) {
	d := untrustedServer(t)
	db := "PCP_SECURE_DB_PATH=" + filepath.Join(t.TempDir(), "user")
	r := run(t, []string{"PCP_SECURE_SOCKETS=enforce", db}, "pminfo", "-h", d.addr(), "-f", "hinv.ncpu")
	if r.code != 1 || !strings.Contains(r.stderr, "PCP_ALLOW_SERVER_SELF_CERT=1") {
		t.Fatalf("untrusted accepted or unexplained: exit %d %q", r.code, r.stderr)
	}
	r = must(t, run(t, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_ALLOW_SERVER_SELF_CERT=1", db}, "pminfo", "-h", d.addr(), "-f", "hinv.ncpu"), "allowed")
	if !strings.Contains(r.stdout, "hinv.ncpu\n    value ") || !strings.HasPrefix(r.stderr, "Warning: accepting the untrusted certificate") {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
}

// TestTrustPrompt: on a terminal pminfo shows the certificate and asks; "y" saves it
// with peer trust and the next run, without a terminal, is accepted silently. "n"
// refuses. Without a terminal nothing waits for input.
func TestTrustPrompt(t *testing.T) {
	d := untrustedServer(t)
	user := filepath.Join(t.TempDir(), "user")
	env := cleanEnv([]string{"PCP_SECURE_SOCKETS=enforce", "PCP_SECURE_DB_PATH=" + user})

	answer := func(reply string) (string, int) {
		cmd := exec.Command(filepath.Join(bin, "pminfo"), "-h", d.addr(), "-f", "hinv.ncpu")
		cmd.Env = env
		f, err := pty.Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out bytes.Buffer
		buf := make([]byte, 4096)
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "(y/n)?") {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no prompt:\n%s", out.String())
			}
			n, err := f.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				t.Fatalf("before the prompt: %v\n%s", err, out.String())
			}
		}
		f.Write([]byte(reply + "\n"))
		done := make(chan struct{})
		go func() { io.Copy(&out, f); close(done) }()
		cmd.Wait()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		return out.String(), cmd.ProcessState.ExitCode()
	}
	out, code := answer("n")
	if code != 1 || !strings.Contains(out, "SHA-256:") || !strings.Contains(out, "Subject:") {
		t.Fatalf("declined: exit %d\n%s", code, out)
	}
	out, code = answer("y")
	if code != 0 || !strings.Contains(out, "saved the certificate") || !strings.Contains(out, "hinv.ncpu\r\n    value ") {
		t.Fatalf("accepted: exit %d\n%s", code, out)
	}
	// Saved with peer trust: accepted from now on, no terminal needed.
	r := must(t, run(t, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_SECURE_DB_PATH=" + user}, "pminfo", "-h", d.addr(), "-f", "hinv.ncpu"), "after saving")
	if r.stderr != "" {
		t.Fatalf("stderr after saving: %q", r.stderr)
	}
	list := must(t, run(t, nil, "certdb", "list", "-d", user), "list").stdout
	if !regexp.MustCompile(`(?m)^server 127\.0\.0\.1 [0-9a-f]{16} +P,, *$`).MatchString(list) {
		t.Fatalf("saved entry:\n%s", list)
	}
}

// TestRealPminfoAgainstOurs: the real PCP 6 pminfo with a client tls.conf reaches
// our collectord -Q, and without a client certificate gets no data.
func TestRealPminfoAgainstOurs(t *testing.T) {
	pcptest.Require(t, pcptest.PMInfo)
	p := newSeedPKI(t)
	d := startCollectord(t, "-C", p.serverDB, "-M", "pmserver_cert", "-Q")
	f := func(n string) string { return filepath.Join(p.dir, n) }
	conf := writeFile(t, f("client-tls.conf"), "tls-client-cert-file = "+f("pmclient.crt")+"\ntls-client-key-file = "+f("pmclient.key")+"\ntls-ca-cert-file = "+f("rootCA.crt")+"\n")
	env := []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + conf}
	r := must(t, run(t, env, pcptest.PMInfo, "-h", d.addr(), "-f", "kernel.uname.nodename", "hinv.ncpu"), "real pminfo with a client certificate")
	if !strings.Contains(r.stdout, "kernel.uname.nodename\n    value \"") || !strings.Contains(r.stdout, "hinv.ncpu\n    value ") {
		t.Fatalf("output %q", r.stdout)
	}
	r = run(t, nil, pcptest.PMInfo, "-h", d.addr(), "-f", "hinv.ncpu")
	if want := `pminfo: Cannot connect to PMCD on host "` + d.addr() + `": PMCD requires a client certificate` + "\n"; r.code != 1 || r.stderr != want {
		t.Fatalf("real plain client: exit %d %q", r.code, r.stderr)
	}
	noCert := writeFile(t, f("nocert.conf"), "tls-ca-cert-file = "+f("rootCA.crt")+"\n")
	r = run(t, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + noCert}, pcptest.PMInfo, "-h", d.addr(), "-f", "hinv.ncpu")
	if r.code != 1 || strings.Contains(r.stdout, "value") {
		t.Fatalf("real TLS client without a certificate got data: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestOursAgainstRealPmcd: our pminfo, with the seed's client store, reaches a real
// pmcd running with tls.conf and -Q.
func TestOursAgainstRealPmcd(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD)
	p := newSeedPKI(t)
	f := func(n string) string { return filepath.Join(p.dir, n) }
	conf := writeFile(t, f("pmcd-tls.conf"), "tls-cert-file = "+f("pmserver.crt")+"\ntls-key-file = "+f("pmserver.key")+"\ntls-ca-cert-file = "+f("rootCA.crt")+"\n")
	port := pcptest.StartPMCD(t, conf, "-Q")
	addr := "127.0.0.1:" + itoa(port)
	env := []string{"PCP_SECURE_SOCKETS=enforce", "PCP_ALLOW_BAD_CERT_DOMAIN=1", "PCP_SECURE_DB_PATH=" + p.clientDB}
	r := must(t, run(t, env, "pminfo", "-h", addr, "-f", "kernel.uname.nodename"), "our pminfo against the real pmcd -Q")
	if !strings.Contains(r.stdout, "kernel.uname.nodename\n    value \"") {
		t.Fatalf("output %q", r.stdout)
	}
	r = run(t, nil, "pminfo", "-h", addr, "-f", "kernel.uname.nodename")
	if r.code != 1 || !strings.Contains(r.stderr, "PMCD requires a client certificate") {
		t.Fatalf("plain against -Q: exit %d %q", r.code, r.stderr)
	}
}

// TestTLSConfAlternative: sites already on PCP 6 keep their tls.conf: collectord
// --tls-conf serves with it, and our pminfo presents the client certificate named by
// a client tls.conf (PCP_TLSCONF_PATH), verifying the server against its CA file.
func TestTLSConfAlternative(t *testing.T) {
	dir := t.TempDir()
	f := func(n string) string { return filepath.Join(dir, n) }
	ca := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true})
	srv := testcerts.New(t, ca, testcerts.Options{CN: "srv", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	cli := testcerts.New(t, ca, testcerts.Options{CN: "cli", Client: true})
	writeFile(t, f("ca.pem"), string(ca.CertPEM()))
	writeFile(t, f("srv.pem"), string(srv.CertPEM()))
	writeFile(t, f("srv.key"), string(srv.KeyPEM(t)))
	writeFile(t, f("cli.pem"), string(cli.CertPEM()))
	writeFile(t, f("cli.key"), string(cli.KeyPEM(t)))
	server := writeFile(t, f("pmcd-tls.conf"), "tls-cert-file = srv.pem\ntls-key-file = srv.key\ntls-ca-cert-file = ca.pem\n")
	client := writeFile(t, f("client-tls.conf"), "tls-client-cert-file = cli.pem\ntls-client-key-file = cli.key\ntls-ca-cert-file = ca.pem\n")
	d := startCollectord(t, "--tls-conf", server, "-Q")
	env := []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + client, "PCP_SECURE_DB_PATH=" + f("none")}
	r := must(t, run(t, env, "pminfo", "-h", d.addr(), "-f", "hinv.ncpu"), "pminfo with a client tls.conf")
	if !strings.Contains(r.stdout, "hinv.ncpu\n    value ") || r.stderr != "" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	// A typo in tls.conf is an error at start-up, naming the line.
	bad := writeFile(t, f("bad.conf"), "tls-cert-file = srv.pem\ntls-key-flie = srv.key\n")
	if r := run(t, nil, "collectord", "--config", "/dev/null", "-p", "0", "--tls-conf", bad); r.code != 2 || !strings.Contains(r.stderr, ":2: unknown key") {
		t.Fatalf("bad tls.conf: exit %d %q", r.code, r.stderr)
	}
}
