package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/systemd/systemdtest"
	urfave "github.com/urfave/cli/v2"
)

// testProgram is a daemon-shaped table: the common flags, an environment
// variable, a choice, and one command.
func testProgram(o *Common, ran *bool, stdout, stderr io.Writer) *Program {
	var extra string
	p := &Program{
		Name: "testd", Section: "8", Summary: "a test daemon",
		Synopsis: []string{"testd [options]", "testd check [options]"},
		Intro:    "Serve nothing.",
		Flags: []urfave.Flag{
			Int(&o.Port, "TCP `PORT`", "4", "p"),
			List(&o.Addrs, "bind `ADDRESS`", "i"),
			File(&o.CertDB, "store `DIR`", "C"),
			Bool(&o.RequireCert, "require certificates", "Q"),
			Env(File(&o.TLSConf, "tls.conf `FILE`", "tls-conf"), "TESTD_TLSCONF"),
			Choice(&o.LogFormat, []string{"text", "json"}, "log `FORMAT`", "log-format"),
			Choices(&o.Debug, []string{"tls", "all"}, "debug `CLASSES`", "D"),
		},
		Sections: []Section{{Title: "Signals", Text: "  SIGHUP  reload"}},
		Examples: "  testd -p 1",
		Exit:     "Exit status: 0 ok, 1 failure, 2 usage.",
		Common:   o,
		Action:   func(*urfave.Context) error { *ran = true; return nil },
	}
	p.Commands = []*Command{{Name: "check", Usage: "check things", Synopsis: []string{"testd check"},
		Flags:  []urfave.Flag{File(&extra, "client store `DIR`", "client-store")},
		Action: func(*urfave.Context) error { return Status(ExitFailure) }}}
	return p
}

func runTest(t *testing.T, args ...string) (o *Common, ran bool, stdout, stderr string, code int) {
	t.Helper()
	o = &Common{}
	var out, errOut bytes.Buffer
	p := testProgram(o, &ran, &out, &errOut)
	code = Run(p.NewApp(&out, &errOut), args, &errOut)
	return o, ran, out.String(), errOut.String(), code
}

// TestGivenIsTheCommandLine: a flag's environment variable fills its value but
// does not count as given (the file outranks it); the command line does, even
// with the variable set; single-letter flags take one dash or two.
func TestGivenIsTheCommandLine(t *testing.T) {
	t.Setenv("TESTD_TLSCONF", "/env/tls.conf")
	o, ran, _, e, code := runTest(t)
	if code != 0 || !ran || o.TLSConf != "/env/tls.conf" || o.Given("tls-conf") {
		t.Fatalf("env only: exit %d %q, value %q given %v", code, e, o.TLSConf, o.Given("tls-conf"))
	}
	o, _, _, _, code = runTest(t, "--tls-conf", "/flag/tls.conf", "--p", "9", "-i", "a,b", "-i", "c", "-Q")
	if code != 0 || o.TLSConf != "/flag/tls.conf" || !o.Given("tls-conf") || !o.Given("p") || !o.Given("Q") ||
		strings.Join(o.Addrs, " ") != "a b c" || o.Given("C") {
		t.Fatalf("command line: %+v", o)
	}
}

// TestMerge: only flags given replace the file's values; "sql:" is dropped.
func TestMerge(t *testing.T) {
	o, _, _, _, _ := runTest(t, "-C", "sql:/s", "-p", "0", "-D", "tls")
	port, addrs, certDB, nick, q := 44321, []string{"::1"}, "", "file-nick", true
	var debug []string
	level := "warn"
	o.Merge(Targets{Port: &port, Address: &addrs, CertDB: &certDB, Nickname: &nick, RequireClientCert: &q, Debug: &debug, LogLevel: &level})
	if port != 0 || strings.Join(addrs, ",") != "::1" || certDB != "/s" || nick != "file-nick" || !q ||
		strings.Join(debug, ",") != "tls" || level != "warn" {
		t.Fatalf("merged port %d addrs %v store %q nick %q Q %v debug %v level %q", port, addrs, certDB, nick, q, debug, level)
	}
	certDB = "sql:/file"
	(&Common{}).Merge(Targets{CertDB: &certDB})
	if certDB != "/file" {
		t.Fatalf("file's sql: prefix kept: %q", certDB)
	}
}

// TestStatuses: help on stdout with 0; usage errors on stderr with 2; a
// command's status comes back; flags before a command are refused.
func TestStatuses(t *testing.T) {
	for _, a := range []string{"-h", "--help", "-help"} {
		_, ran, out, e, code := runTest(t, a)
		if code != 0 || ran || e != "" || !strings.HasPrefix(out, "Usage: testd [options]\n") {
			t.Fatalf("%s: exit %d ran %v stderr %q", a, code, ran, e)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus\nRun 'testd -h' for usage."},
		{[]string{"-p", "x"}, 2, `invalid value "x" for flag -p`},
		{[]string{"stray"}, 2, `testd: unexpected argument "stray"`},
		{[]string{"check"}, 1, ""},
		{[]string{"check", "--bogus"}, 2, "testd check: flag provided but not defined: -bogus"},
		{[]string{"-Q", "check"}, 2, `give its flags after "check"`},
		{[]string{"completion", "zsh"}, 2, "completion bash"},
	} {
		_, ran, _, e, code := runTest(t, tc.args...)
		if code != tc.code || ran || !strings.Contains(e, tc.want) {
			t.Errorf("%q: exit %d ran %v stderr %q; want %d with %q", tc.args, code, ran, e, tc.code, tc.want)
		}
	}
	_, _, out, _, code := runTest(t, "check", "--help")
	if code != 0 || !strings.Contains(out, "Usage: testd check") || !strings.Contains(out, "--client-store DIR") {
		t.Errorf("check --help: %d\n%s", code, out)
	}
}

// TestDocsFromTable: help, man page and completion show the same flags, with
// placeholders, defaults, variables and categories, and the script works in
// bash.
func TestDocsFromTable(t *testing.T) {
	_, _, help, _, _ := runTest(t, "--help")
	for _, w := range []string{"Options:\n", "  -p PORT", "(default 4)", "  --tls-conf FILE", "[$TESTD_TLSCONF]", "Commands:\n  check ",
		"Signals:\n  SIGHUP", "Examples:\n  testd -p 1", "Exit status: 0 ok"} {
		if !strings.Contains(help, w) {
			t.Errorf("help lacks %q:\n%s", w, help)
		}
	}
	_, _, page, e, code := runTest(t, "--generate-man", "--version", "9", "--date", "2030-02-03")
	for _, w := range []string{`.TH TESTD 8 "2030-02-03" "gopcp 9" "gopcp Manual"`, "testd \\- a test daemon", ".SH OPTIONS", `\fB-p PORT\fP`,
		".SH TESTD CHECK", ".SH SIGNALS", ".SH EXIT STATUS"} {
		if code != 0 || !strings.Contains(page, w) {
			t.Errorf("page (exit %d %s) lacks %q", code, e, w)
		}
	}
	_, _, comp, _, code := runTest(t, "completion", "bash")
	if code != 0 {
		t.Fatal(code)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "c.bash")
	if err := os.WriteFile(script, []byte(comp), 0o644); err != nil {
		t.Fatal(err)
	}
	probe := "source " + script + `
COMP_WORDS=(testd --log-format j); COMP_CWORD=2; _testd; echo "${COMPREPLY[*]}"
COMP_WORDS=(testd -D); COMP_CWORD=2; _testd; echo "${COMPREPLY[*]}"
COMP_WORDS=(testd ch); COMP_CWORD=1; _testd; echo "${COMPREPLY[*]}"
COMP_WORDS=(testd check --cl); COMP_CWORD=2; _testd; echo "${COMPREPLY[*]}"
COMP_WORDS=(testd --tls); COMP_CWORD=1; _testd; echo "${COMPREPLY[*]}"
`
	got, err := exec.Command(bash, "-c", probe).CombinedOutput()
	if err != nil || string(got) != "json\ntls all\ncheck\n--client-store\n--tls-conf\n" {
		t.Fatalf("completion: %v\n%s", err, got)
	}
}

// TestRunsShareNothing: runs in one process at once do not see each other's
// flags (the race detector checks the rest).
func TestRunsShareNothing(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			args := []string{"-C", "/s" + string(rune('0'+i))}
			if i%2 == 0 {
				args = append(args, "--help")
			}
			o, _, _, _, code := runTest(t, args...)
			if code != 0 || (i%2 == 1 && o.CertDB != args[1]) {
				t.Errorf("run %d: exit %d store %q", i, code, o.CertDB)
			}
		}(i)
	}
	wg.Wait()
}

// TestLoop: READY=1 at start, RELOADING=1 then READY=1 around each SIGHUP (a
// failed reload says so in the status), STOPPING=1 when ctx ends or a
// listener fails, whose error is returned.
func TestLoop(t *testing.T) {
	ns := systemdtest.NewNotifySocket(t)
	t.Setenv("NOTIFY_SOCKET", ns.Path)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hup := make(chan os.Signal, 1)
	errc := make(chan error, 1)
	fail := errors.New("bad file")
	var reloads []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	l := Loop{Log: log, Status: "serving on X", Hup: hup, Errc: errc, Ready: func() { close(ready) },
		Reload: func(reason string) error {
			reloads = append(reloads, reason)
			if len(reloads) == 2 {
				return fail
			}
			return nil
		}}
	go func() { done <- l.Run(ctx) }()
	if m := ns.Next(t, 5*time.Second); m != "READY=1\nSTATUS=serving on X" {
		t.Fatalf("first: %q", m)
	}
	<-ready
	for i, want := range []string{"READY=1\nSTATUS=reloaded; serving on X", "READY=1\nSTATUS=reload failed, last good configuration kept: bad file"} {
		hup <- os.Interrupt
		if m := ns.Next(t, 5*time.Second); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
			t.Fatalf("reload %d: %q", i, m)
		}
		if m := ns.Next(t, 5*time.Second); m != want {
			t.Fatalf("reload %d: %q", i, m)
		}
	}
	cancel()
	if err := <-done; err != nil || ns.Next(t, 5*time.Second) != "STOPPING=1" || strings.Join(reloads, ",") != "SIGHUP,SIGHUP" {
		t.Fatalf("stop: %v %v", err, reloads)
	}

	l.Ready = nil
	go func() { done <- l.Run(context.Background()) }()
	ns.Next(t, 5*time.Second) // READY=1
	errc <- fail
	if err := <-done; !errors.Is(err, fail) || ns.Next(t, 5*time.Second) != "STOPPING=1" {
		t.Fatalf("listener failure: %v", err)
	}
}
