package clidoc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	urfave "github.com/urfave/cli/v2"
)

type worded struct{ words []string }

func (w *worded) Set(string) error { return nil }
func (w *worded) String() string   { return "" }
func (w *worded) Words() []string  { return w.words }

// TestDescribe: the placeholder comes from the backquotes, the default only
// from DefaultText (a zero value is never shown as a default), files and
// words are known, and a switch has no placeholder.
func TestDescribe(t *testing.T) {
	cases := []struct {
		f          urfave.Flag
		spec, text string
		file       bool
		words      []string
	}{
		{&urfave.StringFlag{Name: "nickname", Aliases: []string{"n"}, Usage: "the `NICKNAME`", DefaultText: "PCP CA"},
			"-n, --nickname NICKNAME", "the NICKNAME (default PCP CA)", false, nil},
		{&urfave.IntFlag{Name: "days", Usage: "`N` days"}, "--days N", "N days", false, nil},
		{&urfave.IntFlag{Name: "p", Usage: "TCP `PORT`", DefaultText: "44321", EnvVars: []string{"PMCD_PORT"}},
			"-p PORT", "TCP PORT (default 44321) [$PMCD_PORT]", false, nil},
		{&urfave.StringFlag{Name: "C", Usage: "store `DIR`", TakesFile: true}, "-C DIR", "store DIR", true, nil},
		{&urfave.StringFlag{Name: "x", Usage: "no placeholder"}, "-x VALUE", "no placeholder", false, nil},
		{&urfave.BoolFlag{Name: "Q", Usage: "require `certificates`", DefaultText: "false"}, "-Q", "require certificates", false, nil},
		{&urfave.PathFlag{Name: "out", Usage: "`PATH`"}, "--out PATH", "PATH", true, nil},
		{&urfave.GenericFlag{Name: "log-format", Usage: "log `FORMAT`", Value: &worded{[]string{"text", "json"}}},
			"--log-format FORMAT", "log FORMAT", false, []string{"text", "json"}},
		// An unclosed backquote is text, not a placeholder.
		{&urfave.StringFlag{Name: "q", Usage: "a ` alone"}, "-q VALUE", "a ` alone", false, nil},
	}
	for _, c := range cases {
		fi := Describe(c.f)
		if fi.Spec() != c.spec || fi.Text() != c.text || fi.File != c.file || strings.Join(fi.Words, " ") != strings.Join(c.words, " ") {
			t.Errorf("%v: got %q %q file %v words %v, want %q %q %v %v", c.f.Names(), fi.Spec(), fi.Text(), fi.File, fi.Words, c.spec, c.text, c.file, c.words)
		}
	}
	vis := Visible([]urfave.Flag{
		&urfave.BoolFlag{Name: "help", Aliases: []string{"h"}},
		&urfave.BoolFlag{Name: "secret", Hidden: true},
		&urfave.BoolFlag{Name: "shown"},
	})
	if len(vis) != 1 || vis[0].Names()[0] != "shown" {
		t.Errorf("Visible: %v", vis)
	}
}

// TestLayout: columns, a long spec on a line of its own, long-only flags
// aligned when asked, wrapping at 80 counted in characters (not bytes), and
// uncategorised flags first.
func TestLayout(t *testing.T) {
	flags := []urfave.Flag{
		&urfave.StringFlag{Name: "dir", Aliases: []string{"d"}, Category: "Store", Usage: "the `DIR`"},
		&urfave.StringFlag{Name: "key", Usage: "the `KEYFILE`"},
		&urfave.StringFlag{Name: "password-file", Aliases: []string{"f"}, Usage: "`FILE` " + strings.Repeat("é ", 40)},
	}
	got := Layout{FlagColumn: 27, AlignLong: true}.Flags("Flags", flags[1:])
	want := "Flags:\n" +
		"      --key KEYFILE        the KEYFILE\n" +
		"  -f, --password-file FILE\n" +
		"                           FILE " + strings.TrimSpace(strings.Repeat("é ", 24)) + "\n" +
		"                           " + strings.TrimSpace(strings.Repeat("é ", 16)) + "\n"
	if got != want {
		t.Errorf("Flags:\n%s\nwant:\n%s", got, want)
	}
	if got := (Layout{FlagColumn: 10}).Flags("O", flags[1:2]); got != "O:\n  --key KEYFILE\n          the KEYFILE\n" {
		t.Errorf("unaligned: %q", got)
	}
	groups := GroupFlags(flags, "Flags")
	if len(groups) != 2 || groups[0].Title != "Flags" || len(groups[0].Flags) != 2 || groups[1].Title != "Store" {
		t.Errorf("GroupFlags: %+v", groups)
	}
	if g := GroupFlags(flags[:1], "Flags"); len(g) != 1 || g[0].Title != "Store" {
		t.Errorf("GroupFlags with no uncategorised flag: %+v", g)
	}
	if got := (Layout{CommandWidth: 6}).Command("add", "add it"); got != "  add    add it\n" {
		t.Errorf("Command: %q", got)
	}
	if got := Usage([]string{"a [x]", "a b"}); got != "Usage: a [x]\n       a b\n" {
		t.Errorf("Usage: %q", got)
	}
	if got := TemplateText("{{.Name}}"); got != `{{"{{"}}.Name}}` {
		t.Errorf("TemplateText: %q", got)
	}
}

// TestPage: text that looks like Markdown or roff stays text on the page.
func TestPage(t *testing.T) {
	p := NewPage("prog", "8", "a *bold* claim", "1.2", "2030-01-02")
	p.Section("Description")
	p.Text("Use <b>[x]</b> and `code` _here_.\n.TH FAKE 1\n\n  prog -x *literal*\n\n  prog -y\nafter")
	p.Command(1, CommandDoc{Title: "PROG CHECK", Usage: "check it", Synopsis: []string{"prog check"},
		Flags: []urfave.Flag{&urfave.StringFlag{Name: "dir", Aliases: []string{"d"}, Usage: "store `DIR`"}}, Tail: "Example:\n  prog check -d x"})
	out := p.Roff()
	for _, w := range []string{".nh\n" + `.TH PROG 8 "2030-01-02" "gopcp 1.2" "gopcp Manual"`, `prog \- a *bold* claim`,
		"Use <b>[x]</b> and `code` _here_\\&.", "\n\\&.TH FAKE 1\n", ".EX\nprog -x *literal*\n\nprog -y\n.EE", ".SH PROG CHECK", `\fB-d, --dir DIR\fP`, "store DIR", "prog check -d x"} {
		if !strings.Contains(out, w) {
			t.Errorf("page lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "\n.TH FAKE") {
		t.Errorf("a line of help text became a roff request:\n%s", out)
	}
}

// TestBashCompletion runs the script in bash: commands and nested
// subcommands, a command's own flags and value kinds, the words a command
// takes, and a hostile word in the table that must not run.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cert.pem"), nil, 0o644)
	os.Mkdir(filepath.Join(dir, "store"), 0o755)
	marker := filepath.Join(dir, "ran")
	root := &Node{Name: "my-prog",
		Flags: []urfave.Flag{
			&urfave.StringFlag{Name: "C", Usage: "store `DIR`", TakesFile: true},
			&urfave.GenericFlag{Name: "fmt", Usage: "`F`", Value: &worded{[]string{"text", "$(touch " + marker + ")", "json"}}},
			&urfave.IntFlag{Name: "p", Usage: "`PORT`"},
		},
		Commands: []*Node{
			{Name: "crl", Commands: []*Node{{Name: "add", Flags: []urfave.Flag{&urfave.StringFlag{Name: "in", Aliases: []string{"i"}, Usage: "`FILE`", TakesFile: true}}}, {Name: "list"}}},
			{Name: "completion", Args: []string{"bash"}},
		}}
	script := BashCompletion(root) + "cd " + dir + `
t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _my_prog; echo "$*=>${COMPREPLY[*]}"; }
t my-prog ""
t my-prog -
t my-prog -C ""
t my-prog --fmt ""
t my-prog -p ""
t my-prog -p 1 ""
t my-prog crl ""
t my-prog crl add -i c
t my-prog crl add -
t my-prog crl add -C ""
t my-prog completion ""
`
	out, err := exec.Command(bash, "--norc", "-c", script).CombinedOutput()
	want := `my-prog =>crl completion
my-prog -=>--fmt -C -p
my-prog -C =>store
my-prog --fmt =>text json
my-prog -p =>
my-prog -p 1 =>--fmt -C -p
my-prog crl =>add list
my-prog crl add -i c=>cert.pem
my-prog crl add -=>--in -i
my-prog crl add -C =>--in -i
my-prog completion =>bash
`
	if err != nil || string(out) != want {
		t.Errorf("completion: %v\n%s\nwant:\n%s\nscript:\n%s", err, out, want, script)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a word from the table ran as a command")
	}
}
