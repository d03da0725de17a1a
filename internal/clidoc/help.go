package clidoc

import (
	"fmt"
	"strings"
	"unicode/utf8"

	urfave "github.com/urfave/cli/v2"
)

// Layout is how a program's --help sets out flags and commands in two
// columns. Each program keeps the layout its users know; the text is wrapped
// at Width.
type Layout struct {
	// FlagColumn is where a flag's text starts; a longer spec gets a line of
	// its own.
	FlagColumn int
	// AlignLong indents a flag that has only long names by four more, so its
	// "--" lines up under the short flags' "-n, --".
	AlignLong bool
	// CommandWidth is the width of the command-name column.
	CommandWidth int
	// Width is where text wraps; 0 means 80.
	Width int
}

func (l Layout) width() int {
	if l.Width > 0 {
		return l.Width
	}
	return 80
}

// Flags is a titled flag section: "Title:" then a line (or more) a flag.
func (l Layout) Flags(title string, flags []urfave.Flag) string {
	col := l.FlagColumn
	var b strings.Builder
	b.WriteString(title + ":\n")
	for _, f := range flags {
		fi := Describe(f)
		line := "  " + fi.Spec()
		if l.AlignLong && len(fi.Short) == 0 {
			line = "      " + fi.Spec()
		}
		if utf8.RuneCountInString(line) >= col-1 {
			b.WriteString(line + "\n")
			line = ""
		}
		line += strings.Repeat(" ", col-utf8.RuneCountInString(line))
		b.WriteString(wrap(line, fi.Text(), col, l.width()) + "\n")
	}
	return b.String()
}

// wrap appends text's words to line, starting a new line indented by col
// before a word that would pass width.
func wrap(line, text string, col, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		if n > 0 && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) > width {
			b.WriteString(line + "\n")
			line, n = strings.Repeat(" ", col), 0
		}
		if n > 0 {
			line += " "
		}
		line += w
		n++
	}
	b.WriteString(line)
	return b.String()
}

// Command is one line of a command list: "  name   usage".
func (l Layout) Command(name, usage string) string {
	return fmt.Sprintf("  %-*s %s\n", l.CommandWidth, name, usage)
}

// FlagGroup is flags under one heading.
type FlagGroup struct {
	Title string
	Flags []urfave.Flag
}

// GroupFlags groups the visible flags by category: those with none first,
// under untitled, then each category in the order it first appears.
func GroupFlags(flags []urfave.Flag, untitled string) []FlagGroup {
	groups := []FlagGroup{{Title: untitled}}
	index := map[string]int{untitled: 0}
	for _, f := range Visible(flags) {
		title := Describe(f).Category
		if title == "" {
			title = untitled
		}
		i, ok := index[title]
		if !ok {
			i = len(groups)
			index[title] = i
			groups = append(groups, FlagGroup{Title: title})
		}
		groups[i].Flags = append(groups[i].Flags, f)
	}
	if len(groups[0].Flags) == 0 {
		groups = groups[1:]
	}
	return groups
}

// Usage is the usage lines: "Usage: " before the first, the others lined up
// under it.
func Usage(lines []string) string {
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

// TemplateText makes text safe to hand to urfave/cli as a help template: it
// prints --help through text/template, which would read "{{" as an action.
func TemplateText(s string) string {
	return strings.ReplaceAll(s, "{{", `{{"{{"}}`)
}
