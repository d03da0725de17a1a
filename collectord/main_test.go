package main

import (
	"bytes"
	"flag"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/testcerts"
)

func runMain(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// TestVersion: the built binary reports the version and commit set by -ldflags.
func TestVersion(t *testing.T) {
	out, err := exec.Command(collectordBin(t), "--version").Output()
	if err != nil || string(out) != "collectord 9.8.7 (commit abc1234)\n" {
		t.Fatalf("--version: %q %v", out, err)
	}
	if o, _, code := runMain("--version"); code != 0 || o != "collectord "+Version+"\n" {
		t.Fatalf("in-process --version without a commit: %q", o)
	}
}

// TestHelpDocumentsEveryFlag: every flag defined appears in the help text, and the
// exit codes are documented.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	_, e, code := runMain("-h")
	if code != 0 || e != usage {
		t.Fatalf("-h: exit %d", code)
	}
	newFlagSet(&options{}).VisitAll(func(f *flag.Flag) {
		w := "-" + f.Name
		if len(f.Name) > 1 {
			w = "--" + f.Name
		}
		if !strings.Contains(usage, "  "+w+" ") {
			t.Errorf("help does not document %s", w)
		}
		if _, ok := flagArgs[f.Name]; !ok {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				t.Errorf("flag %s has no completion entry in flagArgs", w)
			}
		}
	})
	newVerifyFlagSet(&verifyOptions{opts: &options{}}).VisitAll(func(f *flag.Flag) {
		w := "-" + f.Name
		if len(f.Name) > 1 {
			w = "--" + f.Name
		}
		if !strings.Contains(verifyUsage, w) {
			t.Errorf("verify help does not document %s", w)
		}
	})
	for _, u := range []string{usage, verifyUsage} {
		if !strings.Contains(u, "Exit status:") || !strings.Contains(u, "Examples:") {
			t.Error("help without exit status or examples")
		}
	}
	if _, e, code := runMain("-p", "x"); code != 2 || !strings.Contains(e, "Run 'collectord -h' for usage.") {
		t.Fatalf("bad flag: exit %d %q", code, e)
	}
}

// TestCompletion: the bash script comes from the flag definitions and is valid bash.
func TestCompletion(t *testing.T) {
	out, _, code := runMain("completion", "bash")
	if code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"--config) COMPREPLY=($(compgen -f", "-C) COMPREPLY=($(compgen -d",
		`-D) COMPREPLY=($(compgen -W "tls pdu all"`, "--client-store", "--secure", "--check-config", "complete -F _collectord collectord"} {
		if !strings.Contains(out, want) {
			t.Errorf("completion lacks %q", want)
		}
	}
	if _, _, code := runMain("completion", "zsh"); code != 2 {
		t.Errorf("completion zsh: exit %d", code)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to check the script with")
	}
	script := filepath.Join(t.TempDir(), "c.bash")
	writeFile(t, script, out)
	// Complete "collectord --log-format j" and "collectord ver".
	probe := `source ` + script + `
COMP_WORDS=(collectord --log-format j); COMP_CWORD=2; _collectord; echo "${COMPREPLY[*]}"
COMP_WORDS=(collectord ver); COMP_CWORD=1; _collectord; echo "${COMPREPLY[*]}"
COMP_WORDS=(collectord verify --cli); COMP_CWORD=2; _collectord; echo "${COMPREPLY[*]}"
`
	got, err := exec.Command(bash, "-c", probe).CombinedOutput()
	if err != nil || string(got) != "json\nverify\n--client-nickname --client-password-file --client-store\n" {
		t.Fatalf("bash completion: %v\n%s", err, got)
	}
}

// TestCheckConfig: --check-config builds the TLS configuration and reports it, or
// fails with exit 2 saying why.
func TestCheckConfig(t *testing.T) {
	p := newPKI(t)
	cfg := filepath.Join(t.TempDir(), "c.toml")
	writeFile(t, cfg, "[tls]\ncert_db = \""+p.serverDir+"\"\nnickname = \""+serverNick+"\"\nrequire_client_cert = true\n")
	o, e, code := runMain("--config", cfg, "--check-config")
	if code != 0 || !strings.HasPrefix(o, "collectord: configuration OK\n") || !strings.Contains(o, "subject CN=collector") ||
		!strings.Contains(o, "client certificates required (-Q): true") {
		t.Fatalf("exit %d:\n%s%s", code, o, e)
	}
	_, e, code = runMain("--config", cfg, "--check-config", "-M", "missing")
	if code != 2 || !strings.Contains(e, `"missing"`) {
		t.Fatalf("exit %d: %s", code, e)
	}
	writeFile(t, cfg, "[tls]\nnick = \"x\"\n")
	_, e, code = runMain("--config", cfg, "--check-config")
	if code != 2 || !strings.Contains(e, `line 2: unknown key "tls.nick" (did you mean "tls.nickname"?)`) {
		t.Fatalf("exit %d: %s", code, e)
	}
}

// TestDebugClasses: -D tls logs handshakes and -D pdu the PDUs, at debug level,
// with the log level left at info; without -D neither appears.
func TestDebugClasses(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Test CA", IsCA: true})
	f := writeTLSConf(t, t.TempDir(), ca, serverCert(t, ca, "s"))
	for _, tc := range []struct {
		debug     string
		want, not []string
	}{
		{"tls", []string{"tls: ClientHello", "tls: handshake complete", "class=tls"}, []string{"class=pdu"}},
		{"pdu", []string{"msg=pdu class=pdu", "dir=in type=CREDS len=20", "dir=out type=ERROR", "dir=in type=HIGHRES_FETCH", "dir=out type=HIGHRES_RESULT"}, []string{"class=tls"}},
		{"", nil, []string{"level=DEBUG"}},
	} {
		t.Run("D="+tc.debug, func(t *testing.T) {
			flags := []string{"--tls-conf", f.conf}
			if tc.debug != "" {
				flags = append(flags, "-D", tc.debug)
			}
			h := startReloader(t, "", ca, flags...)
			s := h.connect(t)
			s.fetch(t)
			log := h.log.String()
			for _, w := range tc.want {
				if !strings.Contains(log, w) {
					t.Errorf("log lacks %q:\n%s", w, log)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(log, w) {
					t.Errorf("log has %q:\n%s", w, log)
				}
			}
		})
	}
}
