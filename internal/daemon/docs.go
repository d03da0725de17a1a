package daemon

import (
	"strings"

	"github.com/gopcp/gopcp/internal/clidoc"
)

// defaultCategory heads the flags a table puts in no category.
const defaultCategory = "Options"

// layout is the daemons' --help: flag text from column 22, commands in 16.
func layout() clidoc.Layout { return clidoc.Layout{FlagColumn: 22, CommandWidth: 16} }

// Help is the program's --help: usage lines, what it does, its flags by
// category, its commands, the program's sections, examples, exit statuses.
func (p *Program) Help() string {
	var b strings.Builder
	b.WriteString(clidoc.Usage(p.Synopsis))
	if p.Intro != "" {
		b.WriteString("\n" + strings.Trim(p.Intro, "\n") + "\n")
	}
	for _, g := range clidoc.GroupFlags(p.Flags, defaultCategory) {
		b.WriteString("\n" + layout().Flags(g.Title, g.Flags))
	}
	if cmds := p.visibleCommands(); len(cmds) > 0 {
		b.WriteString("\nCommands:\n")
		for _, c := range cmds {
			b.WriteString(layout().Command(c.Name, c.Usage))
		}
	}
	for _, s := range p.Sections {
		b.WriteString("\n" + s.Title + ":\n" + strings.Trim(s.Text, "\n") + "\n")
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
	b.WriteString(clidoc.Usage(c.Synopsis))
	if c.Intro != "" {
		b.WriteString("\n" + strings.Trim(c.Intro, "\n") + "\n")
	}
	for _, g := range clidoc.GroupFlags(c.Flags, defaultCategory) {
		b.WriteString("\n" + layout().Flags(g.Title, g.Flags))
	}
	if c.Tail != "" {
		b.WriteString("\n" + strings.Trim(c.Tail, "\n") + "\n")
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

// ManPage renders the program's manual page in roff: the flags by category,
// each command in a section of its own, then the program's sections.
func (p *Program) ManPage(version, date string) string {
	page := clidoc.NewPage(p.Name, p.Section, p.Summary, version, date)
	page.Section("Synopsis")
	for _, s := range p.Synopsis {
		page.Line(s)
	}
	page.Section("Description")
	page.Text(p.Intro)
	for _, g := range clidoc.GroupFlags(p.Flags, defaultCategory) {
		page.Section(g.Title)
		page.Flags(g.Flags)
	}
	for _, c := range p.visibleCommands() {
		page.Command(1, clidoc.CommandDoc{Title: strings.ToUpper(p.Name + " " + c.Name), Usage: c.Usage,
			Synopsis: c.Synopsis, Intro: c.Intro, Flags: c.Flags, Tail: c.Tail})
	}
	for _, s := range p.Sections {
		page.Section(s.Title)
		page.Text(s.Text)
	}
	if p.Examples != "" {
		page.Section("Examples")
		page.Text(p.Examples)
	}
	if p.Exit != "" {
		page.Section("Exit status")
		page.Text(p.Exit)
	}
	return page.Roff()
}

// BashCompletion is a completion script made from the table (see
// clidoc.BashCompletion): the program's flags, its visible commands with
// theirs, and the words a command takes (completion: bash).
func (p *Program) BashCompletion() string {
	root := &clidoc.Node{Name: p.Name, Flags: p.Flags}
	for _, c := range p.visibleCommands() {
		root.Commands = append(root.Commands, &clidoc.Node{Name: c.Name, Flags: c.Flags, Args: c.Args})
	}
	return clidoc.BashCompletion(root)
}
