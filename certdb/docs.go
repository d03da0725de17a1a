package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	urfave "github.com/urfave/cli/v2"
)

// The manual page and the bash completion are made from the same command
// table as --help (newApp), so the three cannot disagree. man/main.go calls
// `certdb --generate-man` and `certdb completion bash` to install them.

// manPage renders certdb(1) in roff: Markdown built from the table, converted
// by md2man (what urfave/cli's ToMan uses; its own template leaves out the
// commands' descriptions and examples, which the page needs).
func manPage(app *urfave.App, version, date string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%% CERTDB 1 %q %q %q\n\n", date, "gopcp "+version, "gopcp Manual")
	fmt.Fprintf(&b, "# NAME\n\ncertdb - %s\n\n", mdEscape(app.Usage))
	b.WriteString("# SYNOPSIS\n\n")
	b.WriteString("**certdb** *COMMAND* \\[*flags*\\]\n\n")
	b.WriteString("**certdb** -N|-A|-L|-K|-M|-D|-F \\[*flags*\\] (the certutil forms)\n\n")
	b.WriteString("# DESCRIPTION\n\n")
	mdText(&b, mainIntro)
	mdText(&b, mainCertutil)
	for _, g := range append(groups(), "") {
		title := g
		if g == "" {
			title = "Other commands" // help, version
		}
		fmt.Fprintf(&b, "# %s\n\n", mdEscape(strings.ToUpper(title)))
		walk(app.Commands, "certdb", func(c *urfave.Command, full string) {
			if c.Hidden || (c.Category != g && !strings.HasPrefix(full, "certdb crl ")) {
				return
			}
			if strings.HasPrefix(full, "certdb crl ") && g != groupStore {
				return
			}
			fmt.Fprintf(&b, "### %s\n\n%s\n\n", mdEscape(strings.TrimPrefix(full, "certdb ")), mdEscape(c.Usage))
			b.WriteString("```\n" + c.UsageText + "\n```\n\n")
			prose, tail := splitDescription(c.Description)
			mdText(&b, prose)
			if flags := visibleFlags(c); len(flags) > 0 {
				b.WriteString("Flags:\n\n")
				for _, f := range flags {
					fi := describeFlag(f)
					fmt.Fprintf(&b, "**%s**\n: %s\n\n", mdEscape(fi.spec()), mdEscape(fi.text()))
				}
			}
			mdText(&b, tail)
		})
	}
	b.WriteString("# TRUST ATTRIBUTES\n\n")
	mdText(&b, trustLetters)
	b.WriteString("# EXAMPLES\n\n")
	mdText(&b, mainExamples)
	b.WriteString("# EXIT STATUS\n\n")
	mdText(&b, exitHelp)
	return string(md2man.Render([]byte(b.String()))), nil
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

// bashCompletion is a completion script for certdb: the commands (and crl's
// subcommands), each command's flags, files after flags that take a file and
// folders after those whose value is a DIR.
func bashCompletion(app *urfave.App) string {
	var b strings.Builder
	b.WriteString("# bash completion for certdb (generated from its command table: certdb completion bash)\n")
	b.WriteString("_certdb() {\n\tlocal cur prev cmd i\n\tCOMPREPLY=()\n\tcur=\"${COMP_WORDS[COMP_CWORD]}\"\n\tprev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
	var top []string
	for _, c := range app.Commands {
		if !c.Hidden {
			top = append(top, c.Name)
		}
	}
	// cmd is the command word(s) typed so far: "add", "crl add".
	b.WriteString("\tcmd=\"\"\n\tfor ((i = 1; i < COMP_CWORD; i++)); do\n\t\tcase \"${COMP_WORDS[i]}\" in\n\t\t-*) ;;\n")
	fmt.Fprintf(&b, "\t\t*) if [[ -z $cmd ]]; then case \"${COMP_WORDS[i]}\" in %s) cmd=\"${COMP_WORDS[i]}\" ;; esac\n", strings.Join(top, "|"))
	b.WriteString("\t\t   elif [[ $cmd == crl ]]; then cmd=\"crl ${COMP_WORDS[i]}\"; fi ;;\n\t\tesac\n\tdone\n")
	b.WriteString("\tcase \"$cmd\" in\n")
	walk(app.Commands, "certdb", func(c *urfave.Command, full string) {
		if c.Hidden {
			return
		}
		name := strings.TrimPrefix(full, "certdb ")
		var words, files, dirs, valued []string
		for _, f := range visibleFlags(c) {
			fi := describeFlag(f)
			var names []string
			for _, s := range fi.short {
				names = append(names, "-"+s)
			}
			for _, l := range fi.long {
				names = append(names, "--"+l)
			}
			words = append(words, names...)
			switch {
			case fi.arg == "":
			case fi.file && strings.Contains(fi.arg, "DIR"):
				dirs = append(dirs, names...)
			case fi.file:
				files = append(files, names...)
			default:
				valued = append(valued, names...)
			}
		}
		fmt.Fprintf(&b, "\t%q)\n\t\tcase \"$prev\" in\n", name)
		for _, set := range []struct {
			names []string
			do    string
		}{{files, "COMPREPLY=($(compgen -f -- \"$cur\")); return ;;"}, {dirs, "COMPREPLY=($(compgen -d -- \"$cur\")); return ;;"}, {valued, "return ;;"}} {
			if len(set.names) > 0 {
				sort.Strings(set.names)
				fmt.Fprintf(&b, "\t\t%s) %s\n", strings.Join(set.names, "|"), set.do)
			}
		}
		b.WriteString("\t\tesac\n")
		var subs []string
		for _, s := range c.Subcommands {
			subs = append(subs, s.Name)
		}
		sort.Strings(words)
		fmt.Fprintf(&b, "\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", strings.Join(append(subs, words...), " "))
	})
	fmt.Fprintf(&b, "\t*) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n\tesac\n}\ncomplete -F _certdb certdb\n", strings.Join(top, " "))
	return b.String()
}
