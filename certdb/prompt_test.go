package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/gopcp/gopcp/certdb/store"
)

// runOnTerminal runs certdb with a pseudo-terminal as stdin, typing input.
func runOnTerminal(t *testing.T, input string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	go io.Copy(io.Discard, ptmx) // the terminal's echo, if any
	if _, err := ptmx.Write([]byte(input)); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- runWith(fastKDF, args, tty, &out, &errb) }()
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("certdb %s hung on the terminal", strings.Join(args, " "))
	}
	return out.String(), errb.String(), code
}

func TestPromptsOnTerminal(t *testing.T) {
	p := newPKIFiles(t)
	db := filepath.Join(t.TempDir(), "db")
	pwFile := writeFile(t, filepath.Join(p.dir, "pw"), []byte("s3cret\n"))
	must(t, "create", "-d", db, "-f", pwFile)
	p12 := writeFile(t, filepath.Join(p.dir, "srv.p12"), mustP12(t, p.server, p.root, "p12secret"))

	// import: the PKCS#12 password, then the store's.
	out, errs, code := runOnTerminal(t, "p12secret\ns3cret\n", "import", "-d", db, "-i", p12)
	if code != 0 {
		t.Fatalf("import on a terminal: exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "Password for PKCS#12 file "+p12) || !strings.Contains(errs, "Password for certificate store "+db) {
		t.Errorf("prompts: %q", errs)
	}
	if !strings.Contains(out, `imported the private key of "pmserver"`) {
		t.Errorf("import said %q", out)
	}

	// export: the store's password, then the new file's, twice.
	outFile := filepath.Join(p.dir, "out.p12")
	_, errs, code = runOnTerminal(t, "s3cret\nnewpw\nnewpw\n", "export", "-d", db, "-n", "pmserver", "-o", outFile)
	if code != 0 {
		t.Fatalf("export on a terminal: exit %d: %s", code, errs)
	}
	data, _ := os.ReadFile(outFile)
	if _, _, _, _, err := store.DecodePKCS12(data, []byte("newpw")); err != nil {
		t.Errorf("exported file does not open with the typed password: %v", err)
	}
	_, errs, code = runOnTerminal(t, "s3cret\none\ntwo\n", "export", "-d", db, "-n", "pmserver", "-o", filepath.Join(p.dir, "x.p12"))
	if code != 1 || !strings.Contains(errs, "differ") {
		t.Errorf("mismatched passwords: exit %d %q", code, errs)
	}

	// A wrong store password typed at the prompt.
	_, errs, code = runOnTerminal(t, "wrong\n", "export", "-d", db, "-n", "pmserver", "-o", "-", "--format", "pem", "--with-key")
	if code != 1 || !strings.Contains(errs, "store password incorrect") {
		t.Errorf("wrong typed password: exit %d %q", code, errs)
	}
}
