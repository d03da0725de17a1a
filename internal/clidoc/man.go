package clidoc

import (
	"fmt"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	urfave "github.com/urfave/cli/v2"
)

// Page is a manual page being written: Markdown built from the table and the
// program's help text, converted to roff by md2man (what urfave/cli's ToMan
// uses; its own template leaves out the commands' descriptions, sections and
// examples, which these pages need).
type Page struct {
	b strings.Builder
}

// NewPage starts a page: the title line and the NAME section. version and
// date go in the footer.
func NewPage(name, section, summary, version, date string) *Page {
	p := &Page{}
	fmt.Fprintf(&p.b, "%% %s %s %q %q %q\n\n", strings.ToUpper(name), section, date, "gopcp "+version, "gopcp Manual")
	fmt.Fprintf(&p.b, "# NAME\n\n%s - %s\n\n", name, Escape(summary))
	return p
}

// Section starts a section; its title is upper-cased, as man pages have them.
func (p *Page) Section(title string) {
	fmt.Fprintf(&p.b, "# %s\n\n", Escape(strings.ToUpper(title)))
}

// Line writes one line of text as a paragraph of its own.
func (p *Page) Line(s string) {
	p.b.WriteString(Escape(s) + "\n\n")
}

// Markdown writes s as it is: markup the caller built (bold and italic in a
// synopsis). It must end its paragraph with a blank line.
func (p *Page) Markdown(s string) {
	p.b.WriteString(s)
}

// Text writes help text: indented lines (examples, tables) as preformatted
// blocks, the rest as paragraphs.
func (p *Page) Text(text string) {
	lines := strings.Split(strings.Trim(text, "\n"), "\n")
	for i := 0; i < len(lines); {
		if strings.TrimSpace(lines[i]) == "" {
			i++
			continue
		}
		if strings.HasPrefix(lines[i], " ") {
			p.b.WriteString("```\n")
			// A blank line inside an indented block belongs to it.
			for ; i < len(lines) && (strings.HasPrefix(lines[i], " ") || strings.TrimSpace(lines[i]) == "" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], " ")); i++ {
				p.b.WriteString(strings.TrimPrefix(lines[i], "  ") + "\n")
			}
			p.b.WriteString("```\n\n")
			continue
		}
		var para []string
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != "" && !strings.HasPrefix(lines[i], " "); i++ {
			para = append(para, Escape(lines[i]))
		}
		p.b.WriteString(strings.Join(para, "\n") + "\n\n")
	}
}

// Flags writes flags as a definition list: the spec in bold, then its text.
func (p *Page) Flags(flags []urfave.Flag) {
	for _, f := range flags {
		fi := Describe(f)
		fmt.Fprintf(&p.b, "**%s**\n: %s\n\n", Escape(fi.Spec()), Escape(fi.Text()))
	}
}

// CommandDoc is what a page says of one command.
type CommandDoc struct {
	Title    string   // the heading: "crl add", "collectord verify"
	Usage    string   // its one line
	Synopsis []string // its usage lines, shown preformatted
	Intro    string   // prose before its flags
	Flags    []urfave.Flag
	Tail     string // after its flags: trust letters, examples, exit statuses
}

// Command writes a command under a heading of the given level (1 for a
// section of its own, 3 for an entry within one): its usage line, synopsis,
// prose, visible flags and tail.
func (p *Page) Command(level int, c CommandDoc) {
	fmt.Fprintf(&p.b, "%s %s\n\n%s\n\n", strings.Repeat("#", level), Escape(c.Title), Escape(c.Usage))
	p.b.WriteString("```\n" + strings.Join(c.Synopsis, "\n") + "\n```\n\n")
	p.Text(c.Intro)
	if fl := Visible(c.Flags); len(fl) > 0 {
		p.b.WriteString("Flags:\n\n")
		p.Flags(fl)
	}
	p.Text(c.Tail)
}

// Roff is the finished page.
func (p *Page) Roff() string {
	return string(md2man.Render([]byte(p.b.String())))
}

// Escape keeps Markdown from reading help text's characters as markup.
func Escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]<>#+-!|~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
