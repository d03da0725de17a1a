package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/clidoc"
	urfave "github.com/urfave/cli/v2"
)

// Two certdb runs in one process at once share nothing: each builds its own
// command table, flag values and help flags (urfave/cli's package-level help
// flag and help command are never used). Under -race this fails if a run
// writes anything another reads.
func TestConcurrentRuns(t *testing.T) {
	p := newPKIFiles(t)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 4; g++ {
		db := filepath.Join(t.TempDir(), "db")
		nick := []string{"Root CA", "other CA", "third", "fourth"}[g]
		wg.Add(1)
		go func() {
			defer wg.Done()
			steps := []struct {
				args []string
				code int
				want string // in stdout
			}{
				{[]string{"-N", "-d", db, "-f", "/dev/null"}, 0, "created certificate store"},
				{[]string{"-d", db, "-A", "-t", "CT,,", "-n", nick, "-i", p.rootPEM}, 0, "added \"" + nick + "\""},
				{[]string{"list", "-d", db}, 0, nick},
				{[]string{"add", "--help"}, 0, "Usage: certdb add"},
				{[]string{"help", "crl", "add"}, 0, "Usage: certdb crl add"},
				{[]string{"list", "-d", db, "--bogus"}, 2, ""},
				{[]string{"trust", "-d", db, "-n", nick, "-t", "P,,"}, 0, "trust of \"" + nick + "\" is now P,,"},
				{[]string{"--help"}, 0, "Exit status:"},
			}
			for i := 0; i < 3; i++ {
				for _, s := range steps {
					var out, errb bytes.Buffer
					code := runWith(fastKDF, s.args, strings.NewReader(""), &out, &errb)
					if s.args[0] == "-A" || s.args[0] == "-d" {
						// the second and later adds of the same certificate update its trust
						s.want = nick
					}
					if code != s.code || !strings.Contains(out.String(), s.want) {
						if i > 0 && s.args[0] == "-N" && code == 1 { // the store exists by then
							continue
						}
						errs <- strings.Join(s.args, " ") + ": exit " + string(rune('0'+code)) + "\n" + out.String() + errb.String()
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Statuses and streams: help on stdout with 0, usage errors on stderr with 2
// naming the command and the way to help, failures 1. run returns them; it
// never exits the process (this test would not finish if urfave/cli did).
func TestStatusesAndStreams(t *testing.T) {
	db := t.TempDir()
	for _, tc := range []struct {
		args       []string
		code       int
		out, errIn string
	}{
		{[]string{"--help"}, 0, "Usage: certdb COMMAND", ""},
		{[]string{"-help"}, 0, "Usage: certdb COMMAND", ""},
		{[]string{"help", "export"}, 0, "Usage: certdb export", ""},
		{[]string{"crl", "list", "--help"}, 0, "Usage: certdb crl list", ""},
		{[]string{"export", "-h"}, 0, "(default p12)", ""},
		{[]string{"crl"}, 2, "", "certdb crl: give a subcommand"},
		{[]string{"crl", "frob"}, 2, "", "Run 'certdb crl --help' for usage."},
		{[]string{"crl", "add", "-x"}, 2, "", "certdb crl add: flag provided but not defined: -x\nRun 'certdb crl add --help' for usage.\n"},
		{[]string{"list", "-d", db, "stray"}, 2, "", "certdb list: unexpected argument \"stray\""},
		{[]string{"issue", "-d", db, "--days", "many"}, 2, "", "certdb issue: invalid value \"many\" for flag -days"},
		{[]string{"-d", db, "-L", "-K"}, 2, "", "two commands given (list and keys)"},
		{[]string{"-d", db}, 2, "", "no command given"},
		{[]string{"--bogus"}, 2, "", "no command given"},
		{[]string{"frobnicate"}, 2, "", "unknown command \"frobnicate\""},
		{[]string{"help", "crl", "frob"}, 2, "", "unknown command \"crl frob\""},
		{[]string{"completion", "zsh"}, 2, "", "certdb completion: the one shell supported is bash"},
		{[]string{"list", "-d", filepath.Join(db, "none")}, 1, "", "create one with: certdb create -d"},
		// Single-dash long names, and = forms, as the Go flag package took them.
		{[]string{"-nickname", "x", "-dir", db, "-L"}, 1, "", "certdb list:"},
		{[]string{"list", "--dir=" + db, "-n=x"}, 1, "", "certdb list:"},
	} {
		var out, errb bytes.Buffer
		code := runWith(fastKDF, tc.args, strings.NewReader(""), &out, &errb)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errb.String(), tc.errIn) {
			t.Errorf("certdb %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, out.String(), errb.String())
		}
		if tc.code == 0 && errb.Len() != 0 || tc.code != 0 && out.Len() != 0 {
			t.Errorf("certdb %s: wrong stream: stdout %q stderr %q", strings.Join(tc.args, " "), out.String(), errb.String())
		}
	}
}

// Every flag in the table is in its command's help, man page and completion,
// and the table's placeholders say what the value is.
func TestHelpManCompletionFromOneTable(t *testing.T) {
	var man, comp bytes.Buffer
	if code := run([]string{"--generate-man", "--version", "9.9", "--date", "2030-01-02"}, nil, &man, os.Stderr); code != 0 {
		t.Fatalf("--generate-man: exit %d", code)
	}
	if code := run([]string{"completion", "bash"}, nil, &comp, os.Stderr); code != 0 {
		t.Fatalf("completion bash: exit %d", code)
	}
	page := man.String()
	if !strings.HasPrefix(page, ".nh\n.TH CERTDB 1 \"2030-01-02\" \"gopcp 9.9\" \"gopcp Manual\"") {
		t.Errorf("man page header: %.200q", page)
	}
	roffDash := func(s string) string { return strings.ReplaceAll(s, "-", `\-`) }
	walk(newApp(store.CreateOptions{}, nil, nil, nil).Commands, "certdb", func(c *urfave.Command, full string) {
		if c.Hidden {
			return
		}
		name := strings.TrimPrefix(full, "certdb ")
		var help bytes.Buffer
		run(append(strings.Fields(name), "--help"), nil, &help, os.Stderr)
		if !strings.Contains(page, ".SS "+roffDash(name)+"\n") && !strings.Contains(page, ".SS "+name+"\n") {
			t.Errorf("man page has no section for %s", name)
		}
		if !strings.Contains(comp.String(), "\""+name+"\")") {
			t.Errorf("completion has no case for %s", name)
		}
		for _, f := range clidoc.Visible(c.Flags) {
			fi := clidoc.Describe(f)
			if !strings.Contains(help.String(), fi.Spec()) {
				t.Errorf("%s --help lacks %q", name, fi.Spec())
			}
			for _, l := range fi.Long {
				if !strings.Contains(comp.String(), "--"+l) || !strings.Contains(page, "--"+l) && !strings.Contains(page, `\-\-`+roffDash(l)) {
					t.Errorf("%s: --%s missing from completion or man page", name, l)
				}
			}
		}
	})
	// The page is well-formed roff for man(1), when man is installed.
	if _, err := exec.LookPath("man"); err == nil {
		f := filepath.Join(t.TempDir(), "certdb.1")
		if err := os.WriteFile(f, man.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("man", "--warnings", "-l", "-Tutf8", f)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if out, err := cmd.Output(); err != nil || !bytes.Contains(out, []byte("certdb")) {
			t.Errorf("man -l: %v %s", err, stderr.String())
		}
	}
	// The completion script is valid bash and completes files after -i.
	if bash, err := exec.LookPath("bash"); err == nil {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "rootCA.crt"), nil, 0o644)
		script := comp.String() + `
cd ` + dir + `
COMP_WORDS=(certdb add -i ro); COMP_CWORD=3; _certdb; echo "files:${COMPREPLY[*]}"
COMP_WORDS=(certdb crl a); COMP_CWORD=2; _certdb; echo "crl:${COMPREPLY[*]}"
COMP_WORDS=(certdb exp); COMP_CWORD=1; _certdb; echo "cmds:${COMPREPLY[*]}"
COMP_WORDS=(certdb export --f); COMP_CWORD=2; _certdb; echo "flags:${COMPREPLY[*]}"
`
		out, err := exec.Command(bash, "--norc", "-c", script).CombinedOutput()
		for _, want := range []string{"files:rootCA.crt\n", "crl:add\n", "cmds:export export-keystore export-truststore\n", "flags:--force --format\n"} {
			if err != nil || !strings.Contains(string(out), want) {
				t.Errorf("completion: want %q in\n%s (%v)", want, out, err)
			}
		}
	}
}

// fastKDF is what the tests pass to runWith: stores they make derive their key
// at the test-only scrypt cost, so the hundreds of runs here do not spend
// minutes in scrypt (TestProgramCreatesDefaultKDF covers the real cost).
var fastKDF = store.CreateOptions{TestOnlyFastKDF: true}

// TestProgramCreatesDefaultKDF: run, what main calls, gives every store it
// creates certdb's default scrypt cost (N=2^15 r=8 p=1), whatever the
// command; only runWith, which tests call, takes the fast one. Each store is
// then opened by the program with its password.
func TestProgramCreatesDefaultKDF(t *testing.T) {
	root := t.TempDir()
	pw := writeFile(t, filepath.Join(root, "pw"), []byte("s3cret\n"))
	steps := [][]string{{"create", "-d", filepath.Join(root, "created"), "-f", pw}}
	stores := []string{"created"}
	if !testing.Short() { // each store costs a default derivation, 4 s under -race
		steps = append(steps,
			[]string{"ca", "-d", filepath.Join(root, "ca")},
			[]string{"quickstart", "--dir", filepath.Join(root, "qs")})
		stores = append(stores, "ca", "qs/ca", "qs/server", "qs/client")
	}
	for _, args := range steps {
		var out, errb bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("certdb %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
	}
	for _, name := range stores {
		data, err := os.ReadFile(filepath.Join(root, name, store.FileName))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			KDF struct {
				Name    string
				N, R, P int
			}
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if k := doc.KDF; k.Name != "scrypt" || k.N != 1<<15 || k.R != 8 || k.P != 1 {
			t.Errorf("certdb made %s with %s N=%d r=%d p=%d, want scrypt N=32768 r=8 p=1", name, k.Name, k.N, k.R, k.P)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"keys", "-d", filepath.Join(root, "created"), "-f", pw}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("certdb keys with the password: exit %d\n%s", code, errb.String())
	}
}
