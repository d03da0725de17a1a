package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/pmapi/pmapitest"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/tlsconfig"
)

// storeLine is the one line pminfo adds after a secure connection fails with
// an error that names no store (the real pminfo has no such line): which
// stores were read, or where it looked.
var storeLine = regexp.MustCompile(`(?m)^pminfo: (certificates from |no certificate store: looked for ).*\n`)

// withoutStoreLine drops that line, for comparisons with the real pminfo's
// output, which is otherwise identical.
func withoutStoreLine(s string) string { return storeLine.ReplaceAllString(s, "") }

// TestStoreLineAfterNeedClientCert: the walkthrough's first failure ("PMCD
// requires a client certificate") is followed by the stores pminfo read, or
// where it looked when there were none; without TLS asked for, nothing is added.
func TestStoreLineAfterNeedClientCert(t *testing.T) {
	cleanEnv(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	// A pmcd -Q as a relaxed client meets it: the greeting asks for a
	// certificate, and libpcp gives up with PM_ERR_NEEDCLIENTCERT.
	srv := pmapitest.Serve(t, func(c *protocol.Conn) {
		c.Write(protocol.Greeting(0, protocol.FeatureCertReqd))
		c.ReadRaw()
	})
	addr := "127.0.0.1:" + strconv.Itoa(srv.Port)
	t.Setenv("PCP_SECURE_SOCKETS", "relaxed")
	_, errOut, status := runPminfo(t, "-h", addr, "kernel.uname.nodename")
	want := "pminfo: no certificate store: looked for " + filepath.Join(home, ".pki", "gopcp") + " and " + filepath.Join(home, ".pki", "nssdb")
	if status != 1 || !strings.Contains(errOut, "PMCD requires a client certificate") || !strings.Contains(errOut, want) {
		t.Errorf("status %d stderr %q", status, errOut)
	}
	// An empty NSS database file pair at ~/.pki/nssdb is found (and refused
	// as damaged, naming it) rather than silently skipped.
	os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o755)
	os.WriteFile(filepath.Join(home, ".pki", "nssdb", "cert9.db"), []byte("not sqlite"), 0o600)
	_, errOut, _ = runPminfo(t, "-h", addr, "kernel.uname.nodename")
	if !strings.Contains(errOut, "nssdb") {
		t.Errorf("a damaged ~/.pki/nssdb is not named: %q", errOut)
	}
	// Without PCP_SECURE_SOCKETS the walkthrough's transcript is kept: one line.
	os.Unsetenv("PCP_SECURE_SOCKETS")
	_, errOut, _ = runPminfo(t, "-h", addr, "kernel.uname.nodename")
	if want := "pminfo: Cannot connect to PMCD on host \"" + addr + "\": PMCD requires a client certificate\n"; errOut != want {
		t.Errorf("plain client: %q, want %q", errOut, want)
	}
	t.Setenv("PCP_SECURE_SOCKETS", "relaxed")
	// PCP_SECURE_DB_PATH names the one place looked at.
	t.Setenv(tlsconfig.EnvDBPath, "sql:"+filepath.Join(home, "x"))
	_, errOut, _ = runPminfo(t, "-h", addr, "kernel.uname.nodename")
	if !strings.Contains(errOut, "no certificate store: looked for "+filepath.Join(home, "x")+" ("+tlsconfig.EnvDBPath+")") {
		t.Errorf("PCP_SECURE_DB_PATH not named: %q", errOut)
	}
}
