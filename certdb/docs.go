package main

import (
	"strings"

	"github.com/gopcp/gopcp/internal/clidoc"
	urfave "github.com/urfave/cli/v2"
)

// The manual page and the bash completion are made from the same command
// table as --help (newApp), by the renderer the daemons use too
// (internal/clidoc), so the three cannot disagree. man/main.go calls
// `certdb --generate-man` and `certdb completion bash` to install them.

// manPage renders certdb(1) in roff: the commands by group, each with its
// usage, description, flags and examples, then trust letters, examples and
// exit statuses.
func manPage(app *urfave.App, version, date string) (string, error) {
	page := clidoc.NewPage("certdb", "1", app.Usage, version, date)
	page.Section("Synopsis")
	page.Markdown("**certdb** *COMMAND* \\[*flags*\\]\n\n")
	page.Markdown("**certdb** -N|-A|-L|-K|-M|-D|-F \\[*flags*\\] (the certutil forms)\n\n")
	page.Section("Description")
	page.Text(mainIntro)
	page.Text(mainCertutil)
	for _, g := range append(groups(), "") {
		title := g
		if g == "" {
			title = "Other commands" // help, version
		}
		page.Section(title)
		walk(app.Commands, "certdb", func(c *urfave.Command, full string) {
			// crl's subcommands are listed under crl's group.
			sub := strings.HasPrefix(full, "certdb crl ")
			if c.Hidden || (!sub && c.Category != g) || (sub && g != groupStore) {
				return
			}
			prose, tail := splitDescription(c.Description)
			page.Command(3, clidoc.CommandDoc{Title: strings.TrimPrefix(full, "certdb "), Usage: c.Usage,
				Synopsis: []string{c.UsageText}, Intro: prose, Flags: c.Flags, Tail: tail})
		})
	}
	page.Section("Trust attributes")
	page.Text(trustLetters)
	page.Section("Examples")
	page.Text(mainExamples)
	page.Section("Exit status")
	page.Text(exitHelp)
	return page.Roff(), nil
}

// bashCompletion is a completion script for certdb: the commands (and crl's
// subcommands), each command's flags, files after flags that take a file and
// folders after those whose value is a DIR.
func bashCompletion(app *urfave.App) string {
	return clidoc.BashCompletion(&clidoc.Node{Name: "certdb", Commands: clidoc.Nodes(app.Commands)})
}
