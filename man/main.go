// Command man generates the manual pages and bash completions of gopcp's programs
// from the programs themselves, so the installed documentation says what the
// binaries do:
//
//	go run ./man -out DIR -version V bin/collectord bin/pminfo bin/certdb [bin/proxyd]
//
// A program whose flags and commands are one declarative table on urfave/cli
// (certdb, collectord, proxyd) prints its own page from that table: `BIN
// --generate-man --version V --date D`; the generator only adds SEE ALSO, and
// the bash completion is the program's own `BIN completion bash`. pminfo keeps
// PCP's getopt conventions and has no table: for it (and any program not
// listed) the generator runs `BIN --help` and converts the help text's
// sections to roff, and builds a completion from the options the help lists,
// with files or folders completed for FILE and DIR arguments. Pages are
// written to DIR/man/manN/NAME.N, completions to DIR/bash-completion/NAME.
// `make install` runs it.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// program is what the generator knows about a program beyond its help text.
type program struct {
	section string
	summary string
	sub     [][]string // extra help invocations: subcommands
	subList bool       // its help lists commands: document each one's --help
	// fromTable: the program prints its page (--generate-man) and completion
	// (completion bash) from its command table; its help is not scraped.
	fromTable bool
}

var programs = map[string]program{
	"collectord": {section: "8", fromTable: true},
	"proxyd":     {section: "8", fromTable: true},
	"pminfo":     {section: "1", summary: "display information about performance metrics (gopcp)"},
	"certdb":     {section: "1", fromTable: true},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("man", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output folder (man/ and bash-completion/ are made in it)")
	version := fs.String("version", "dev", "version printed in the pages' footer")
	date := fs.String("date", time.Now().UTC().Format("2006-01-02"), "date printed in the pages")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: go run ./man -out DIR [-version V] BINARY...")
		return 2
	}
	var names []string
	for _, bin := range fs.Args() {
		names = append(names, filepath.Base(bin))
	}
	for _, bin := range fs.Args() {
		if err := generate(bin, *out, *version, *date, names); err != nil {
			fmt.Fprintf(stderr, "man: %s: %v\n", bin, err)
			return 1
		}
	}
	return 0
}

// help runs bin with args and returns what it printed; a usage text printed with
// a non-zero exit still counts.
func help(bin string, args ...string) (string, error) {
	var b bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &b, &b
	cmd.Env = append(os.Environ(), "COLUMNS=80")
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return "", err
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("%s %s printed nothing", bin, strings.Join(args, " "))
	}
	return b.String(), nil
}

func generate(bin, out, version, date string, all []string) error {
	name := filepath.Base(bin)
	p, ok := programs[name]
	if !ok {
		p = program{section: "1"}
	}
	if p.fromTable {
		return generateFromTable(bin, name, p, out, version, date, all)
	}
	text, err := help(bin, "--help")
	if err != nil {
		return err
	}
	var subs []subHelp
	for _, s := range p.sub {
		if t, err := help(bin, s...); err == nil {
			subs = append(subs, subHelp{name: s[0], text: t})
		}
	}
	if p.subList {
		for _, c := range commands(text) {
			if t, err := help(bin, c, "--help"); err == nil {
				subs = append(subs, subHelp{name: c, text: t})
			}
		}
	}
	page := manPage(name, p, text, subs, version, date, all)
	comp, err := help(bin, "completion", "bash")
	if err != nil || !strings.Contains(comp, "complete -F") {
		opts := options(text)
		for _, s := range subs {
			opts = append(opts, options(s.text)...)
		}
		comp = bashCompletion(name, commandsOrSubs(text, p), opts)
	}
	return write(out, name, p.section, page, comp)
}

// generateFromTable writes the page and completion a program makes from its
// own command table. Nothing is scraped: a program that fails to print either
// fails the generation, rather than installing a page made some other way.
func generateFromTable(bin, name string, p program, out, version, date string, all []string) error {
	page, err := output(bin, "--generate-man", "--version", version, "--date", date)
	if err != nil {
		return err
	}
	if !strings.Contains(page, "\n.TH ") && !strings.HasPrefix(page, ".TH ") {
		return fmt.Errorf("%s --generate-man printed no man page (no .TH line)", bin)
	}
	page = strings.TrimRight(page, "\n") + "\n" + seeAlso(name, all)
	comp, err := output(bin, "completion", "bash")
	if err != nil {
		return err
	}
	if !strings.Contains(comp, "complete -F") {
		return fmt.Errorf("%s completion bash printed no bash completion (no complete -F)", bin)
	}
	return write(out, name, p.section, page, comp)
}

// output runs bin with args and returns its standard output; it must exit 0.
func output(bin string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// write puts a page and a completion where make install takes them from.
func write(out, name, section, page, comp string) error {
	dir := filepath.Join(out, "man", "man"+section)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+"."+section), []byte(page), 0o644); err != nil {
		return err
	}
	cdir := filepath.Join(out, "bash-completion")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cdir, name), []byte(comp), 0o644)
}

func commandsOrSubs(text string, p program) []string {
	var cs []string
	if p.subList {
		cs = commands(text)
	}
	for _, s := range p.sub {
		cs = append(cs, s[0])
	}
	return cs
}

type subHelp struct{ name, text string }

// commandRE matches a command line in a help listing: two spaces, a lower-case
// word, two or more spaces, its description.
var commandRE = regexp.MustCompile(`^  ([a-z][a-z0-9-]+)  +\S`)

// commands lists the commands of a help text that says "COMMAND" in its usage.
func commands(text string) []string {
	if !strings.Contains(text, "COMMAND") {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if m := commandRE.FindStringSubmatch(l); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// option is one option a help text lists.
type option struct {
	names []string // -a, --archive
	arg   string   // metavar (FILE, DIR, ...) or ""
}

var (
	optionLineRE = regexp.MustCompile(`^\s{1,8}(-[^\s].*)$`)
	optionNameRE = regexp.MustCompile(`^(--?[A-Za-z0-9?][-A-Za-z0-9]*)(?:[ =]([A-Z][A-Z0-9_]*))?`)
)

// options parses the option lines of a help text: "  -a FILE, --archive=FILE  text".
func options(text string) []option {
	var out []option
	for _, l := range strings.Split(text, "\n") {
		m := optionLineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		spec := m[1]
		if i := strings.Index(spec, "  "); i >= 0 {
			spec = spec[:i]
		}
		if !optionSpec(spec) {
			continue // an example command line, not an option list
		}
		var o option
		for _, part := range strings.Split(spec, ",") {
			part = strings.TrimSpace(part)
			// -C DIR, -M NICKNAME: a second option after the first's argument.
			for _, word := range splitOptions(part) {
				if n := optionNameRE.FindStringSubmatch(word); n != nil {
					o.names = append(o.names, n[1])
					if n[2] != "" {
						o.arg = n[2]
					}
				}
			}
		}
		if len(o.names) > 0 {
			out = append(out, o)
		}
	}
	return out
}

var metavarRE = regexp.MustCompile(`^\[?=?[A-Z][A-Z0-9_.|,-]*\]?,?$`)

// optionSpec reports whether every word of spec is an option or a metavar.
func optionSpec(spec string) bool {
	for _, f := range strings.Fields(spec) {
		if !strings.HasPrefix(f, "-") && !metavarRE.MatchString(f) && !strings.Contains(f, "|") {
			return false
		}
	}
	return true
}

// splitOptions splits "-C DIR -M NICK" into "-C DIR" and "-M NICK".
func splitOptions(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "-") || len(out) == 0 {
			out = append(out, f)
		} else {
			out[len(out)-1] += " " + f
		}
	}
	return out
}

// bashCompletion builds a completion function from the options and commands.
func bashCompletion(name string, cmds []string, opts []option) string {
	fn := "_" + strings.NewReplacer("-", "_", ".", "_").Replace(name)
	files, dirs, valued := map[string]bool{}, map[string]bool{}, map[string]bool{}
	words := map[string]bool{}
	for _, o := range opts {
		for _, n := range o.names {
			if n == "-?" {
				continue
			}
			words[n] = true
			switch {
			case o.arg == "":
			case strings.Contains(o.arg, "DIR"):
				dirs[n] = true
			case strings.Contains(o.arg, "FILE") || strings.Contains(o.arg, "PATH"):
				files[n] = true
			default:
				valued[n] = true
			}
		}
	}
	list := func(m map[string]bool) string {
		var s []string
		for k := range m {
			s = append(s, k)
		}
		sort.Strings(s)
		return strings.Join(s, "|")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for %s (generated from '%s --help' by gopcp's man generator)\n", name, name)
	fmt.Fprintf(&b, "%s() {\n\tlocal cur prev\n\tCOMPREPLY=()\n\tcur=\"${COMP_WORDS[COMP_CWORD]}\"\n\tprev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n\tcase \"$prev\" in\n", fn)
	if len(files) > 0 {
		fmt.Fprintf(&b, "\t%s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", list(files))
	}
	if len(dirs) > 0 {
		fmt.Fprintf(&b, "\t%s) COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n", list(dirs))
	}
	if len(valued) > 0 {
		fmt.Fprintf(&b, "\t%s) return ;;\n", list(valued))
	}
	b.WriteString("\tesac\n")
	if len(cmds) > 0 {
		fmt.Fprintf(&b, "\tif [[ $COMP_CWORD -eq 1 && \"$cur\" != -* ]]; then\n\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\treturn\n\tfi\n", strings.Join(cmds, " "))
	}
	var all []string
	for k := range words {
		all = append(all, k)
	}
	sort.Strings(all)
	fmt.Fprintf(&b, "\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n}\ncomplete -F %s %s\n", strings.Join(all, " "), fn, name)
	return b.String()
}

// roff escapes text for a man page line.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

var headingRE = regexp.MustCompile(`^([A-Z][A-Za-z/]*(?: [A-Za-z/]+){0,3}):(?: (.*))?$`)

// manPage converts a help text to a man page: the usage becomes the SYNOPSIS,
// the first paragraph the DESCRIPTION, each "Heading:" line a section, indented
// blocks preformatted.
func manPage(name string, p program, text string, subs []subHelp, version, date string, all []string) string {
	var b strings.Builder
	summary := p.summary
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	var synopsis []string
	i := 0
	for ; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "Usage: ") {
			synopsis = append(synopsis, strings.TrimPrefix(l, "Usage: "))
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "       ") {
				i++
				synopsis = append(synopsis, strings.TrimSpace(lines[i]))
			}
			continue
		}
		if strings.TrimSpace(l) == "" && len(synopsis) > 0 {
			continue
		}
		if len(synopsis) > 0 {
			break
		}
	}
	body := lines
	if len(synopsis) > 0 {
		body = append(append([]string{}, lines[:max(0, indexOf(lines, "Usage: "))]...), lines[i:]...)
	}
	if summary == "" {
		summary = firstSentence(body)
	}
	fmt.Fprintf(&b, ".\\\" Generated from '%s --help' by gopcp's man generator; do not edit.\n", name)
	fmt.Fprintf(&b, ".TH %s %s %q %q %q\n", strings.ToUpper(name), p.section, date, "gopcp "+version, "gopcp Manual")
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", name, roff(summary))
	if len(synopsis) > 0 {
		b.WriteString(".SH SYNOPSIS\n.nf\n")
		for _, s := range synopsis {
			b.WriteString(roff(s) + "\n")
		}
		b.WriteString(".fi\n")
	}
	b.WriteString(".SH DESCRIPTION\n")
	writeBody(&b, body)
	for _, s := range subs {
		fmt.Fprintf(&b, ".SH %s\n", strings.ToUpper(name+" "+s.name))
		writeBody(&b, strings.Split(strings.TrimRight(s.text, "\n"), "\n"))
	}
	b.WriteString(seeAlso(name, all))
	return b.String()
}

// seeAlso is the SEE ALSO section naming the other programs generated.
func seeAlso(name string, all []string) string {
	var b strings.Builder
	var see []string
	for _, o := range all {
		if o != name {
			sec := "1"
			if q, ok := programs[o]; ok {
				sec = q.section
			}
			see = append(see, fmt.Sprintf(".BR %s (%s)", o, sec))
		}
	}
	if len(see) > 0 {
		b.WriteString(".SH SEE ALSO\n")
		for j, s := range see {
			if j < len(see)-1 {
				s += " ,"
			}
			b.WriteString(s + "\n")
		}
	}
	return b.String()
}

func indexOf(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return -1
}

func firstSentence(lines []string) string {
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" && !strings.HasSuffix(l, ":") {
			if i := strings.Index(l, ". "); i > 0 {
				return l[:i]
			}
			return strings.TrimSuffix(l, ".")
		}
	}
	return ""
}

// writeBody writes help text: "Heading:" lines as subsections, text as
// paragraphs, indented lines preformatted and indented.
func writeBody(b *strings.Builder, lines []string) {
	pre := false
	closePre := func() {
		if pre {
			b.WriteString(".fi\n.RE\n")
			pre = false
		}
	}
	for _, l := range lines {
		switch {
		case strings.TrimSpace(l) == "":
			closePre()
			b.WriteString(".PP\n")
		case strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t"):
			if !pre {
				b.WriteString(".RS 2\n.nf\n")
				pre = true
			}
			b.WriteString(roff(strings.TrimPrefix(strings.ReplaceAll(l, "\t", "        "), "  ")) + "\n")
		default:
			closePre()
			if m := headingRE.FindStringSubmatch(l); m != nil && len(l) < 80 {
				fmt.Fprintf(b, ".SS %s\n", roff(m[1]))
				if m[2] != "" {
					b.WriteString(roff(m[2]) + "\n")
				}
				continue
			}
			b.WriteString(roff(l) + "\n")
		}
	}
	closePre()
}
