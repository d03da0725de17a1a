package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// The PCP secure-connections walkthrough (sections 16.3 to 16.5), followed as
// a user follows it: openssl as written, its questions answered at a terminal;
// the certificate databases made with the real certutil and pk12util (and once
// more with certdb in their place) in sql:/etc/pcp/nssdb and $HOME/.pki/nssdb;
// collectord started with pmcd.options' flags; then the final block with only
// its three variables set. "remote.host" is 127.0.0.1 here: the host argument
// is the only thing changed, and since the certificates name "pmserver",
// PCP_ALLOW_BAD_CERT_DOMAIN is what lets the name pass, as in the document.

// atTerminal runs a command on a pseudo-terminal in dir, answering each
// question (output ending in ':') with answer(question). It returns what the
// terminal showed.
func atTerminal(t *testing.T, dir string, env []string, answer func(q string) string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(env)
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer f.Close()
	var all bytes.Buffer
	pending, lastQ := "", ""
	var answered time.Time
	buf := make([]byte, 4096)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, rerr := f.Read(buf)
		all.Write(buf[:n])
		pending += string(buf[:n])
		switch q := strings.TrimRight(pending, " "); {
		case strings.HasSuffix(q, ":") || strings.HasSuffix(q, "(y/n)?"):
			// A program that reads a password turns echo off with TCSAFLUSH,
			// which throws away input typed before: give it a moment, as a
			// person would, and type again below if the answer was lost.
			time.Sleep(200 * time.Millisecond)
			f.Write([]byte(answer(q) + "\n"))
			pending, lastQ, answered = "", q, time.Now()
		case n > 0:
			answered = time.Time{}
		case !answered.IsZero() && time.Since(answered) > 2*time.Second:
			f.Write([]byte(answer(lastQ) + "\n"))
			answered = time.Now()
		}
		if rerr != nil && !os.IsTimeout(rerr) {
			break // the command closed the terminal
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, all.String())
			}
			return all.String()
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("%s %s: no end after 60 s\n%s", name, strings.Join(args, " "), all.String())
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, all.String())
	}
	return all.String()
}

// sh runs one command of the walkthrough that asks nothing.
func sh(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// walkthroughCerts is 16.3: the CA, the client and the server certificate.
// openssl req asks for the distinguished name; only the Common Name is
// answered, as in the document (Enter keeps openssl's defaults elsewhere).
// openssl pkcs12 -export asks for an export password twice.
func walkthroughCerts(t *testing.T, dir, p12pass string) {
	dn := func(cn string) func(string) string {
		return func(q string) string {
			switch {
			case strings.Contains(q, "Common Name"):
				return cn
			case strings.Contains(q, "Password"):
				return p12pass
			}
			return "" // challenge password, optional company name, the rest
		}
	}
	sh(t, dir, nil, "openssl", "genrsa", "-out", "rootCA.key", "2048")
	atTerminal(t, dir, nil, dn("myCA"), "openssl", "req", "-new", "-x509", "-extensions", "v3_ca", "-key", "rootCA.key", "-out", "rootCA.crt", "-days", "3650")
	for _, who := range []string{"pmclient", "pmserver"} {
		sh(t, dir, nil, "openssl", "genrsa", "-out", who+".key", "2048")
		atTerminal(t, dir, nil, dn(who), "openssl", "req", "-new", "-key", who+".key", "-out", who+".csr")
		sh(t, dir, nil, "openssl", "x509", "-req", "-in", who+".csr", "-CA", "rootCA.crt", "-CAkey", "rootCA.key", "-CAcreateserial", "-out", who+".crt", "-days", "500", "-sha256")
		atTerminal(t, dir, nil, dn(who), "openssl", "pkcs12", "-export", "-out", who+"_pkcs12.key", "-inkey", who+".key", "-in", who+".crt", "-certfile", "rootCA.crt")
	}
	for _, c := range []struct{ file, cn string }{{"rootCA.crt", "myCA"}, {"pmclient.crt", "pmclient"}, {"pmserver.crt", "pmserver"}} {
		if out := sh(t, dir, nil, "openssl", "x509", "-in", c.file, "-noout", "-subject"); !strings.Contains(out, "CN = "+c.cn) && !strings.Contains(out, "CN="+c.cn) {
			t.Fatalf("%s: %s", c.file, out)
		}
	}
}

// nssTools are the certutil and pk12util of the walkthrough: the real ones,
// or certdb's forms of them.
type nssTools struct {
	name     string
	certutil []string // the command that stands for certutil
	pk12util func(t *testing.T, dir, p12, db, p12pass string)
}

func realTools() nssTools {
	return nssTools{name: "certutil and pk12util", certutil: []string{"certutil"},
		pk12util: func(t *testing.T, dir, p12, db, p12pass string) {
			// pk12util asks for the PKCS#12 file's password at the terminal.
			atTerminal(t, dir, nil, func(string) string { return p12pass }, "pk12util", "-i", p12, "-d", db)
		}}
}

func certdbTools() nssTools {
	return nssTools{name: "certdb", certutil: []string{filepath.Join(bin, "certdb")},
		pk12util: func(t *testing.T, dir, p12, db, p12pass string) {
			atTerminal(t, dir, nil, func(string) string { return p12pass }, filepath.Join(bin, "certdb"), "import", "-i", p12, "-d", db)
		}}
}

func (n nssTools) run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return sh(t, dir, nil, n.certutil[0], append(n.certutil[1:], args...)...)
}

// TestWalkthroughAsWritten runs the whole walkthrough with the real NSS tools
// when installed, then with certdb in their place.
func TestWalkthroughAsWritten(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: apt-get install openssl")
	}
	tools := []nssTools{certdbTools()}
	if _, err := exec.LookPath("certutil"); err == nil {
		if _, err := exec.LookPath("pk12util"); err == nil {
			tools = append([]nssTools{realTools()}, tools...)
		}
	} else {
		t.Log("certutil/pk12util not installed (apt-get install libnss3-tools): only certdb's forms are run")
	}
	// The two runs share nothing (each its own folders, $HOME, ports and
	// collectord) and spend much of their time waiting on programs and on the
	// collector's reload, so they go on at once.
	for _, tl := range tools {
		t.Run(tl.name, func(t *testing.T) {
			t.Parallel()
			walkthrough(t, tl)
		})
	}
}

func walkthrough(t *testing.T, tl nssTools) {
	root := t.TempDir()
	work := filepath.Join(root, "work")    // where the user types the commands
	etc := filepath.Join(root, "etc/pcp")  // stands for /etc/pcp
	home := filepath.Join(root, "home/me") // $HOME
	for _, d := range []string{work, etc, home} {
		os.MkdirAll(d, 0o755)
	}
	walkthroughCerts(t, work, "p12-secret")

	// 16.4 Collector set-up.
	empty := filepath.Join(work, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600) // echo > /tmp/empty
	srvDB := "sql:" + filepath.Join(etc, "nssdb")
	os.MkdirAll(filepath.Join(etc, "nssdb"), 0o755) // "This directory should exist"
	tl.run(t, work, "-d", srvDB, "-N", "-f", empty)
	tl.run(t, work, "-d", srvDB, "-A", "-t", "CT,,", "-n", "Root CA", "-i", "rootCA.crt")
	tl.run(t, work, "-d", srvDB, "-A", "-t", "P,,", "-n", "pmserver_cert", "-i", "pmserver.crt")
	tl.pk12util(t, work, "pmserver_pkcs12.key", srvDB, "p12-secret")
	list := tl.run(t, work, "-d", srvDB, "-L")
	if !regexp.MustCompile(`(?m)^Root CA +CT,, *$`).MatchString(list) || !regexp.MustCompile(`(?m)^pmserver_cert +(P|Pu),(u?),(u?) *$`).MatchString(list) {
		t.Fatalf("certificate listing of the collector:\n%s", list)
	}
	// pmcd.options: -C sql:/etc/pcp/nssdb -M pmserver_cert -Q
	d := startCollectord(t, "-C", srvDB, "-M", "pmserver_cert", "-Q")

	// 16.5 Monitor set-up. First, without a certificate:
	r := run(t, []string{"HOME=" + home}, "pminfo", "-h", d.addr())
	if want := `pminfo: Cannot connect to PMCD on host "` + d.addr() + `": PMCD requires a client certificate` + "\n"; r.code != 1 || r.stderr != want {
		t.Fatalf("pminfo -h remote.host: exit %d %q, want %q", r.code, r.stderr, want)
	}
	userDB := "sql:" + filepath.Join(home, ".pki/nssdb")
	sh(t, work, nil, "mkdir", "-p", "-m", "0755", filepath.Join(home, ".pki/nssdb"))
	tl.run(t, work, "-d", userDB, "-N", "-f", empty)
	tl.run(t, work, "-d", userDB, "-A", "-t", "CT,,", "-n", "Root CA", "-i", "./rootCA.crt")
	tl.run(t, work, "-d", userDB, "-A", "-t", "P,,", "-n", "pmclient_cert", "-i", "pmclient.crt")
	tl.pk12util(t, work, "pmclient_pkcs12.key", userDB, "p12-secret")

	// The final block: export the three variables, then pminfo.
	final := []string{"HOME=" + home, "PCP_SECURE_SOCKETS=enforce", "PCP_ALLOW_BAD_CERT_DOMAIN=1", "PCP_ALLOW_SERVER_SELF_CERT=1"}
	r = run(t, final, "pminfo", "-h", d.addr(), "-f", "kernel.uname.nodename")
	host, _ := os.Hostname()
	if want := "\nkernel.uname.nodename\n    value \"" + host + "\"\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("the final block: exit %d\nstdout %q, want %q\nstderr %s\ncollectord: %s", r.code, r.stdout, want, r.stderr, d.Log())
	}
	t.Logf("final block, our pminfo: stderr %q", r.stderr)
	// The CA is trusted (C) in the database: only the name needed the variable.
	if !strings.Contains(r.stderr, "PCP_ALLOW_BAD_CERT_DOMAIN") || strings.Contains(r.stderr, "untrusted") {
		t.Errorf("warnings: %q", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, ".pki/gopcp")); err == nil {
		t.Error("pminfo made ~/.pki/gopcp without being asked to save anything")
	}

	// Reload: a change certutil (or certdb) makes to the collector's database
	// is taken up without a restart. Distrusting the client's certificate
	// there refuses it from a following connection on.
	tl.run(t, work, "-d", srvDB, "-A", "-t", "p,,", "-n", "revoked client", "-i", "pmclient.crt")
	refused := false
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !refused; time.Sleep(300 * time.Millisecond) {
		refused = run(t, final, "pminfo", "-h", d.addr(), "-f", "kernel.uname.nodename").code != 0
	}
	if !refused {
		t.Fatalf("the collector still accepts a client distrusted in its database 15 s later:\n%s", d.Log())
	}
	tl.run(t, work, "-d", srvDB, "-D", "-n", "revoked client")
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && refused; time.Sleep(300 * time.Millisecond) {
		refused = run(t, final, "pminfo", "-h", d.addr(), "-f", "kernel.uname.nodename").code != 0
	}
	if refused {
		t.Fatalf("the client is still refused after the distrust was deleted:\n%s", d.Log())
	}

	// The same final block with the real pminfo (PCP 6). It takes its client
	// certificate from tls.conf, never from ~/.pki/nssdb, so against -Q it is
	// refused as any client without a certificate; against the same collector
	// without -Q it gets the value over TLS.
	if _, err := os.Stat(pcptest.PMInfo); err != nil {
		t.Logf("real pminfo not installed (%s): skipping its part", pcptest.PMInfo)
		return
	}
	r = run(t, final, pcptest.PMInfo, "-h", d.addr(), "-f", "kernel.uname.nodename")
	t.Logf("final block, real pminfo against -Q: exit %d stderr %q", r.code, r.stderr)
	if r.code != 1 || !strings.Contains(r.stderr, "client certificate") || strings.Contains(r.stdout, "value") {
		t.Errorf("real pminfo against -Q: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	open := startCollectord(t, "-C", srvDB, "-M", "pmserver_cert")
	r = run(t, final, pcptest.PMInfo, "-h", open.addr(), "-f", "kernel.uname.nodename")
	if want := "\nkernel.uname.nodename\n    value \"" + host + "\"\n"; r.code != 0 || r.stdout != want {
		t.Errorf("real pminfo, final block, collector without -Q: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestWalkthroughTrustPrompt: the user's ~/.pki/nssdb got the client's PKCS#12
// only (its CA without C), as pk12util leaves it. pminfo on a terminal shows
// the collector's certificate and asks; "y" saves it in ~/.pki/gopcp, not in
// the NSS database, and the next run, without a terminal, presents the client
// certificate from ~/.pki/nssdb and accepts the pin from ~/.pki/gopcp.
func TestWalkthroughTrustPrompt(t *testing.T) {
	for _, tool := range []string{"openssl", "certutil", "pk12util"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install openssl libnss3-tools)", tool)
		}
	}
	root := t.TempDir()
	work, home := filepath.Join(root, "work"), filepath.Join(root, "home")
	os.MkdirAll(work, 0o755)
	walkthroughCerts(t, work, "p12-secret")
	os.WriteFile(filepath.Join(work, "empty"), []byte("\n"), 0o600)
	srvDB := "sql:" + filepath.Join(root, "nssdb")
	os.MkdirAll(filepath.Join(root, "nssdb"), 0o755)
	tl := realTools()
	tl.run(t, work, "-d", srvDB, "-N", "-f", "empty")
	tl.run(t, work, "-d", srvDB, "-A", "-t", "CT,,", "-n", "Root CA", "-i", "rootCA.crt")
	tl.pk12util(t, work, "pmserver_pkcs12.key", srvDB, "p12-secret")
	nick := ""
	for _, l := range strings.Split(tl.run(t, work, "-d", srvDB, "-L"), "\n") {
		if strings.Contains(l, "u,u,u") {
			nick = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l), "u,u,u"))
		}
	}
	d := startCollectord(t, "-C", srvDB, "-M", nick, "-Q")

	userDir := filepath.Join(home, ".pki/nssdb")
	os.MkdirAll(userDir, 0o755)
	tl.run(t, work, "-d", "sql:"+userDir, "-N", "-f", "empty")
	tl.pk12util(t, work, "pmclient_pkcs12.key", "sql:"+userDir, "p12-secret")
	sum := func() string {
		return sh(t, work, nil, "sha256sum", filepath.Join(userDir, "cert9.db"), filepath.Join(userDir, "key4.db"))
	}
	before := sum()

	env := []string{"HOME=" + home, "PCP_SECURE_SOCKETS=enforce"}
	// Without a terminal: refused at once, naming the CA pk12util brought
	// and certutil's command for it.
	r := run(t, env, "pminfo", "-h", d.addr(), "-f", "hinv.ncpu")
	if r.code != 1 || !strings.Contains(r.stderr, "certutil -M -d sql:"+userDir) || !strings.Contains(r.stderr, "-t C,,") {
		t.Fatalf("no terminal: exit %d %q", r.code, r.stderr)
	}
	out := atTerminal(t, work, env, func(q string) string {
		if strings.HasSuffix(q, "(y/n)?") {
			return "y"
		}
		return ""
	}, filepath.Join(bin, "pminfo"), "-h", d.addr(), "-f", "hinv.ncpu")
	if !strings.Contains(out, "saved the certificate") || !strings.Contains(out, filepath.Join(home, ".pki/gopcp")) || !strings.Contains(out, "hinv.ncpu\r\n    value ") {
		t.Fatalf("at the prompt:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(home, ".pki/gopcp")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("~/.pki/gopcp: %v %v", fi, err)
	}
	if after := sum(); after != before {
		t.Errorf("the NSS database changed:\n%s\n%s", before, after)
	}
	r = must(t, run(t, env, "pminfo", "-h", d.addr(), "-f", "hinv.ncpu"), "after the prompt, no terminal")
	if !strings.Contains(r.stdout, "hinv.ncpu\n    value ") || r.stderr != "" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
}
