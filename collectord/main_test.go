package main

import (
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestHelpDocumentsEveryFlag: --help (and -h, -help) print to stdout, exit 0, and
// show every flag of the table with its placeholder, the commands, the exit
// statuses and examples; verify's help shows its own flags. A bad flag is a
// usage error (2) on stderr.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	var help string
	for _, a := range []string{"-h", "--help", "-help"} {
		o, e, code := runMain(a)
		if code != 0 || e != "" || !strings.HasPrefix(o, "Usage: collectord [options]\n") {
			t.Fatalf("%s: exit %d, stderr %q, stdout %q", a, code, e, o)
		}
		help = o
	}
	p := newProgram(io.Discard, io.Discard, nil)
	for _, f := range p.Flags {
		for _, n := range f.Names() {
			w := "-" + n
			if len(n) > 1 {
				w = "--" + n
			}
			if !strings.Contains(help, "  "+w) {
				t.Errorf("help does not document %s", w)
			}
		}
	}
	for _, w := range []string{"  -C DIR ", "  -p PORT ", "  --tls-conf FILE", "[$PCP_TLSCONF_PATH]", "(default 44321)",
		"  verify ", "  completion ", "Signals:", "SIGHUP", "Examples:", "Exit status: 0 clean shutdown, 1 runtime failure, 2 usage or configuration error."} {
		if !strings.Contains(help, w) {
			t.Errorf("help lacks %q:\n%s", w, help)
		}
	}
	vhelp, _, code := runMain("verify", "--help")
	if code != 0 {
		t.Fatalf("verify --help: exit %d", code)
	}
	for _, c := range p.Commands {
		if c.Name != "verify" {
			continue
		}
		for _, f := range c.Flags {
			w := "--" + f.Names()[0]
			if len(f.Names()[0]) == 1 {
				w = "-" + f.Names()[0]
			}
			if !strings.Contains(vhelp, "  "+w) {
				t.Errorf("verify help does not document %s", w)
			}
		}
	}
	if !strings.Contains(vhelp, "Exit status:") || !strings.Contains(vhelp, "Examples:") {
		t.Error("verify help without exit status or examples")
	}
	if _, e, code := runMain("-p", "x"); code != 2 || !strings.Contains(e, "Run 'collectord -h' for usage.") {
		t.Fatalf("bad flag: exit %d %q", code, e)
	}
	if _, e, code := runMain("--config", "/dev/null", "stray"); code != 2 || !strings.Contains(e, `unexpected argument "stray"`) {
		t.Fatalf("stray argument: exit %d %q", code, e)
	}
	// The daemon's flags before "verify" would be dropped: refused.
	if _, e, code := runMain("-p", "1234", "verify", "--secure"); code != 2 || !strings.Contains(e, `give its flags after "verify"`) {
		t.Fatalf("flags before verify: exit %d %q", code, e)
	}
}

// TestFlagSpellings: pmcd's single-letter flags and the long ones are parsed as
// they always were (one dash or two, repeatable and comma-separated lists), and
// only the flags given override the file.
func TestFlagSpellings(t *testing.T) {
	t.Setenv("PCP_TLSCONF_PATH", "")
	path := filepath.Join(t.TempDir(), "c.toml")
	writeFile(t, path, "[server]\nport = 5000\nmax_pdu_size = 4096\n[log]\nformat = \"json\"\n")
	o, err := parseFlags([]string{"--config", path, "-i", "127.0.0.1,::1", "-i", "10.0.0.1", "-C", "sql:/s", "-M", "nick",
		"-P", "/pw", "-Q", "-s", "/run/c.sock", "-t", "0.5", "-D", "tls", "-D", "pdu", "--log-level", "debug"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if c, err = readConfig(o.configPath()); err != nil {
		t.Fatal(err)
	}
	o.merge(&c)
	if c.Server.Port != 5000 || c.Server.MaxPDUSize != 4096 || c.Log.Format != "json" || c.Log.Level != "debug" ||
		strings.Join(c.Server.Address, " ") != "127.0.0.1 ::1 10.0.0.1" || c.TLS.CertDB != "/s" || c.TLS.Nickname != "nick" ||
		c.TLS.PasswordFile != "/pw" || !c.TLS.RequireClientCert || c.Server.UnixSocket != "/run/c.sock" ||
		c.Server.RequestTimeout.Duration != 500*time.Millisecond || strings.Join(c.Log.Debug, ",") != "tls,pdu" {
		t.Fatalf("merged %+v", c)
	}
	o, err = parseFlags([]string{"-config", path, "--p", "6000", "-L", "100", "--log-format=text"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c = Config{}
	o.merge(&c)
	if c.Server.Port != 6000 || c.Server.MaxPDUSize != 100 || c.Log.Format != "text" || o.Given("Q") || o.Given("i") {
		t.Fatalf("merged %+v", c)
	}
}

// TestTLSConfEnvironment: PCP_TLSCONF_PATH (--tls-conf's variable) is the
// identity only when neither the flags nor the file name one; a store named
// in the file is not overridden by it (pcp.conf sets it for every service).
func TestTLSConfEnvironment(t *testing.T) {
	t.Setenv("PCP_TLSCONF_PATH", "/env/tls.conf")
	dir := t.TempDir()
	withStore := filepath.Join(dir, "store.toml")
	writeFile(t, withStore, "[tls]\ncert_db = \"/etc/store\"\nnickname = \"n\"\n")
	bare := filepath.Join(dir, "bare.toml")
	writeFile(t, bare, "")
	for _, tc := range []struct {
		args            []string
		tlsConf, certDB string
	}{
		{[]string{"--config", bare}, "/env/tls.conf", ""},
		{[]string{"--config", withStore}, "", "/etc/store"},
		{[]string{"--config", bare, "--tls-conf", "/flag/tls.conf"}, "/flag/tls.conf", ""},
		{[]string{"--config", bare, "-C", "/flag/store"}, "", "/flag/store"},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c, err := readConfig(o.configPath())
		if err != nil {
			t.Fatal(err)
		}
		o.merge(&c)
		if c.TLS.TLSConf != tc.tlsConf || c.TLS.CertDB != tc.certDB {
			t.Errorf("%q: tls_conf %q cert_db %q, want %q %q", tc.args, c.TLS.TLSConf, c.TLS.CertDB, tc.tlsConf, tc.certDB)
		}
	}
}

// TestGenerateMan: the manual page comes from the same table as --help.
func TestGenerateMan(t *testing.T) {
	o, e, code := runMain("--generate-man", "--version", "1.2.3", "--date", "2030-01-02")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	for _, w := range []string{`.TH COLLECTORD 8 "2030-01-02" "gopcp 1.2.3" "gopcp Manual"`, "collectord \\- the gopcp metrics collector",
		".SH COLLECTORD VERIFY", `\fB--client-store DIR\fP`, ".SH SIGNALS", ".SH EXIT STATUS", "PCP_TLSCONF_PATH"} {
		if !strings.Contains(o, w) {
			t.Errorf("page lacks %q", w)
		}
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
