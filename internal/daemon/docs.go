package daemon

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	urfave "github.com/urfave/cli/v2"
)

// defaultCategory heads the flags a table puts in no category.
const defaultCategory = "Options"

// Help is the program's --help: usage lines, what it does, its flags by
// category, its commands, the program's sections, examples, exit statuses.
func (p *Program) Help() string {
	var b strings.Builder
	b.WriteString(usageLines(p.Synopsis))
	if p.Intro != "" {
		b.WriteString("\n" + strings.Trim(p.Intro, "\n") + "\n")
	}
	for _, g := range groupFlags(p.Flags) {
		b.WriteString("\n" + flagSection(g.title, g.flags))
	}
	if cmds := p.visibleCommands(); len(cmds) > 0 {
		b.WriteString("\nCommands:\n")
		for _, c := range cmds {
			fmt.Fprintf(&b, "  %-16s %s\n", c.Name, c.Usage)
		}
	}
	for _, s := range p.Sections {
		fmt.Fprintf(&b, "\n%s:\n%s\n", s.Title, strings.Trim(s.Text, "\n"))
	}
	if p.Examples != "" {
		b.WriteString("\nExamples:\n" + strings.Trim(p.Examples, "\n") + "\n")
	}
	if p.Exit != "" {
		b.WriteString("\n" + strings.Trim(p.Exit, "\n") + "\n")
	}
	return b.String()
}

// commandHelp is a command's --help.
func (p *Program) commandHelp(c *Command) string {
	var b strings.Builder
	b.WriteString(usageLines(c.Synopsis))
	if c.Intro != "" {
		b.WriteString("\n" + strings.Trim(c.Intro, "\n") + "\n")
	}
	for _, g := range groupFlags(c.Flags) {
		b.WriteString("\n" + flagSection(g.title, g.flags))
	}
	if c.Tail != "" {
		b.WriteString("\n" + strings.Trim(c.Tail, "\n") + "\n")
	}
	return b.String()
}

func usageLines(lines []string) string {
	var b strings.Builder
	for i, l := range lines {
		if i == 0 {
			b.WriteString("Usage: " + l + "\n")
		} else {
			b.WriteString("       " + l + "\n")
		}
	}
	return b.String()
}

func (p *Program) visibleCommands() []*Command {
	var out []*Command
	for _, c := range p.Commands {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

type flagGroup struct {
	title string
	flags []urfave.Flag
}

// groupFlags groups the visible flags by category, in the order each category
// first appears in the table.
func groupFlags(flags []urfave.Flag) []flagGroup {
	var groups []flagGroup
	index := map[string]int{}
	for _, f := range visibleFlags(flags) {
		title := describeFlag(f).category
		if title == "" {
			title = defaultCategory
		}
		i, ok := index[title]
		if !ok {
			i = len(groups)
			index[title] = i
			groups = append(groups, flagGroup{title: title})
		}
		groups[i].flags = append(groups[i].flags, f)
	}
	return groups
}

// flagSection lays flags out in two columns, the text wrapped at 80.
func flagSection(title string, flags []urfave.Flag) string {
	const col = 22
	var b strings.Builder
	b.WriteString(title + ":\n")
	for _, f := range flags {
		fi := describeFlag(f)
		line := "  " + fi.spec()
		if utf8.RuneCountInString(line) >= col-1 {
			b.WriteString(line + "\n")
			line = ""
		}
		line += strings.Repeat(" ", col-utf8.RuneCountInString(line))
		n := 0
		for _, w := range strings.Fields(fi.text()) {
			if n > 0 && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) > 80 {
				b.WriteString(line + "\n")
				line, n = strings.Repeat(" ", col), 0
			}
			if n > 0 {
				line += " "
			}
			line += w
			n++
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// ManPage renders the program's manual page in roff: Markdown built from the
// table, converted by md2man (what urfave/cli's ToMan uses; its template
// leaves out the sections and examples the page needs).
func (p *Program) ManPage(version, date string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%% %s %s %q %q %q\n\n", strings.ToUpper(p.Name), p.Section, date, "gopcp "+version, "gopcp Manual")
	fmt.Fprintf(&b, "# NAME\n\n%s - %s\n\n", p.Name, mdEscape(p.Summary))
	b.WriteString("# SYNOPSIS\n\n")
	for _, s := range p.Synopsis {
		b.WriteString(mdEscape(s) + "\n\n")
	}
	b.WriteString("# DESCRIPTION\n\n")
	mdText(&b, p.Intro)
	for _, g := range groupFlags(p.Flags) {
		fmt.Fprintf(&b, "# %s\n\n", mdEscape(strings.ToUpper(g.title)))
		mdFlags(&b, g.flags)
	}
	for _, c := range p.visibleCommands() {
		fmt.Fprintf(&b, "# %s\n\n%s\n\n", mdEscape(strings.ToUpper(p.Name+" "+c.Name)), mdEscape(c.Usage))
		b.WriteString("```\n" + strings.Join(c.Synopsis, "\n") + "\n```\n\n")
		mdText(&b, c.Intro)
		if fl := visibleFlags(c.Flags); len(fl) > 0 {
			b.WriteString("Flags:\n\n")
			mdFlags(&b, fl)
		}
		mdText(&b, c.Tail)
	}
	for _, s := range p.Sections {
		fmt.Fprintf(&b, "# %s\n\n", mdEscape(strings.ToUpper(s.Title)))
		mdText(&b, s.Text)
	}
	if p.Examples != "" {
		b.WriteString("# EXAMPLES\n\n")
		mdText(&b, p.Examples)
	}
	if p.Exit != "" {
		b.WriteString("# EXIT STATUS\n\n")
		mdText(&b, p.Exit)
	}
	return string(md2man.Render([]byte(b.String())))
}

func mdFlags(b *strings.Builder, flags []urfave.Flag) {
	for _, f := range flags {
		fi := describeFlag(f)
		fmt.Fprintf(b, "**%s**\n: %s\n\n", mdEscape(fi.spec()), mdEscape(fi.text()))
	}
}

// mdText writes help text as Markdown: indented lines (examples, tables) as
// preformatted blocks, the rest as paragraphs.
func mdText(b *strings.Builder, text string) {
	lines := strings.Split(strings.Trim(text, "\n"), "\n")
	for i := 0; i < len(lines); {
		if strings.TrimSpace(lines[i]) == "" {
			i++
			continue
		}
		if strings.HasPrefix(lines[i], " ") {
			b.WriteString("```\n")
			for ; i < len(lines) && (strings.HasPrefix(lines[i], " ") || strings.TrimSpace(lines[i]) == "" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], " ")); i++ {
				b.WriteString(strings.TrimPrefix(lines[i], "  ") + "\n")
			}
			b.WriteString("```\n\n")
			continue
		}
		var para []string
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != "" && !strings.HasPrefix(lines[i], " "); i++ {
			para = append(para, mdEscape(lines[i]))
		}
		b.WriteString(strings.Join(para, "\n") + "\n\n")
	}
}

// mdEscape keeps Markdown from reading help text's characters as markup.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]<>#+-!|~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// BashCompletion is a completion script made from the table: after a flag
// that takes a value, files (FILE, PATH), folders (DIR), its words (Choice) or
// nothing; otherwise the flags of the command being typed, or the commands.
func (p *Program) BashCompletion() string {
	fn := "_" + strings.NewReplacer("-", "_", ".", "_").Replace(p.Name)
	actions := map[string]string{}
	flagWords := func(flags []urfave.Flag) []string {
		var words []string
		for _, f := range visibleFlags(flags) {
			fi := describeFlag(f)
			var action string
			switch {
			case fi.arg == "":
			case len(fi.words) > 0:
				action = fmt.Sprintf(`COMPREPLY=($(compgen -W %q -- "$cur"))`, strings.Join(fi.words, " "))
			case fi.file && strings.Contains(fi.arg, "DIR"):
				action = `COMPREPLY=($(compgen -d -- "$cur"))`
			case fi.file:
				action = `COMPREPLY=($(compgen -f -- "$cur"))`
			default:
				action = `COMPREPLY=()`
			}
			for _, n := range fi.names() {
				words = append(words, n)
				if _, seen := actions[n]; action != "" && !seen {
					actions[n] = action
				}
			}
		}
		sort.Strings(words)
		return words
	}
	top := flagWords(p.Flags)
	var subs strings.Builder
	var names []string
	for _, c := range p.Commands {
		if c.Hidden {
			continue
		}
		names = append(names, c.Name)
		words := flagWords(c.Flags)
		if c.Name == "completion" {
			words = []string{"bash"}
		}
		fmt.Fprintf(&subs, "\t%s) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", c.Name, strings.Join(words, " "))
	}
	keys := make([]string, 0, len(actions))
	for k := range actions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cases strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&cases, "\t%s) %s; return ;;\n", k, actions[k])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for %s (generated by '%s completion bash' from its flag table)\n", p.Name, p.Name)
	fmt.Fprintf(&b, "%s() {\n\tlocal cur prev sub i\n\tCOMPREPLY=()\n\tcur=\"${COMP_WORDS[COMP_CWORD]}\"\n\tprev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n", fn)
	fmt.Fprintf(&b, "\tcase \"$prev\" in\n%s\tesac\n", cases.String())
	if len(names) > 0 {
		alt := strings.Join(names, "|")
		fmt.Fprintf(&b, "\tsub=\"\"\n\tfor ((i = 1; i < COMP_CWORD; i++)); do\n\t\tcase \"${COMP_WORDS[i]}\" in\n\t\t%s) sub=\"${COMP_WORDS[i]}\"; break ;;\n\t\tesac\n\tdone\n", alt)
		fmt.Fprintf(&b, "\tcase \"$sub\" in\n%s", subs.String())
		fmt.Fprintf(&b, "\t*)\n\t\tif [[ $COMP_CWORD -eq 1 && \"$cur\" != -* ]]; then\n\t\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\telse\n\t\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\tfi\n\t\t;;\n\tesac\n",
			strings.Join(names, " "), strings.Join(top, " "))
	} else {
		fmt.Fprintf(&b, "\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.Join(top, " "))
	}
	fmt.Fprintf(&b, "}\ncomplete -F %s %s\n", fn, p.Name)
	return b.String()
}
