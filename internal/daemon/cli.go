package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopcp/gopcp/internal/clidoc"
	urfave "github.com/urfave/cli/v2"
)

// Exit statuses of both daemons (pmcd's): documented in their --help.
const (
	ExitOK      = 0 // clean shutdown, help, version, configuration OK
	ExitFailure = 1 // runtime failure: a port that cannot be bound, a failed check
	ExitUsage   = 2 // usage or configuration error
)

// ExitStatus is what an action returns for a status other than 0; its message
// has already been printed.
type ExitStatus int

func (e ExitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Status turns an exit status into an action's error (nil for 0).
func Status(rc int) error {
	if rc == ExitOK {
		return nil
	}
	return ExitStatus(rc)
}

// Program is a daemon's command line: its urfave/cli table (flags and
// commands) and the prose around it. Help, manual page and bash completion are
// all made from it, so each flag is written once, in the table.
type Program struct {
	Name     string // collectord
	Section  string // manual section: "8"
	Summary  string // the NAME line: "the gopcp metrics collector, a PCP pmcd analogue"
	Synopsis []string
	Intro    string // what the program does, before the flags
	// Sections follow the flags and commands (Signals, HTTP endpoints, ...).
	Sections []Section
	Examples string // indented command lines, one a line
	Exit     string // the exit statuses, one paragraph

	Flags    []urfave.Flag
	Commands []*Command
	// Action runs the daemon with the flags parsed; Common.Record has been
	// called for the top-level flags.
	Action func(cc *urfave.Context) error
	// Common receives the flags both daemons share (Record is called on it).
	Common *Common
}

// Command is a subcommand (collectord verify): its flags and prose.
type Command struct {
	Name     string
	Usage    string   // one line for the command list
	Synopsis []string // its usage lines
	Intro    string
	Tail     string   // after its flags: examples, exit statuses
	Args     []string // the words it takes, offered by completion
	Flags    []urfave.Flag
	Hidden   bool
	Action   func(cc *urfave.Context) error
}

// Section is a titled block of help text.
type Section struct {
	Title string
	Text  string
}

// NewApp builds the urfave/cli app of one run. Like certdb's, nothing in it
// is shared with another run (urfave's own help and version flags are package
// variables it writes to), so runs may go on at once in one process.
func (p *Program) NewApp(stdout, stderr io.Writer) *urfave.App {
	var man struct{ version, date string }
	usageErr := func(prefix string) urfave.OnUsageErrorFunc {
		return func(cc *urfave.Context, err error, _ bool) error {
			fmt.Fprintf(stderr, "%s: %v\nRun '%s -h' for usage.\n", prefix, err, prefix)
			return ExitStatus(ExitUsage)
		}
	}
	app := &urfave.App{
		Name:      p.Name,
		HelpName:  p.Name,
		Usage:     p.Summary,
		Writer:    stdout,
		ErrWriter: stderr,
		Compiled:  time.Unix(0, 0),
		// Values are split on commas by tomlconfig.ListFlag, once.
		DisableSliceFlagSeparator: true,
		HideHelp:                  true,
		HideHelpCommand:           true,
		HideVersion:               true,
		Flags:                     append(append([]urfave.Flag(nil), p.Flags...), helpFlag()),
		OnUsageError:              usageErr(p.Name),
		ExitErrHandler:            func(*urfave.Context, error) {},
		Action: func(cc *urfave.Context) error {
			if cc.Args().Present() {
				fmt.Fprintf(stderr, "%s: unexpected argument %q\nRun '%s -h' for usage.\n", p.Name, cc.Args().First(), p.Name)
				return ExitStatus(ExitUsage)
			}
			if p.Common != nil {
				p.Common.Record(cc)
			}
			return p.Action(cc)
		},
	}
	for _, c := range p.Commands {
		c := c
		full := p.Name + " " + c.Name
		app.Commands = append(app.Commands, &urfave.Command{
			Name: c.Name, Usage: c.Usage, Hidden: c.Hidden,
			HideHelp: true, HideHelpCommand: true,
			Flags:              append(append([]urfave.Flag(nil), c.Flags...), helpFlag()),
			OnUsageError:       usageErr(full),
			CustomHelpTemplate: clidoc.TemplateText(p.commandHelp(c)),
			Action: func(cc *urfave.Context) error {
				// Flags before the command word were parsed as the daemon's:
				// refuse them rather than drop them.
				if parent := cc.Lineage(); len(parent) > 1 && parent[1] != nil && parent[1].NumFlags() > 0 {
					fmt.Fprintf(stderr, "%s: give its flags after %q\nRun '%s --help' for usage.\n", full, c.Name, full)
					return ExitStatus(ExitUsage)
				}
				return c.Action(cc)
			},
		})
	}
	app.Commands = append(app.Commands,
		&urfave.Command{Name: "generate-man", Hidden: true, HideHelp: true, HideHelpCommand: true,
			Usage: "print the manual page (roff), made from this table",
			Flags: []urfave.Flag{
				String(&man.version, "gopcp `VERSION` in the page's footer", "version"),
				String(&man.date, "`DATE` in the page's footer", "date"),
			},
			OnUsageError: usageErr(p.Name + " --generate-man"),
			Action: func(cc *urfave.Context) error {
				if cc.Args().Present() {
					fmt.Fprintf(stderr, "%s --generate-man: unexpected argument %q\n", p.Name, cc.Args().First())
					return ExitStatus(ExitUsage)
				}
				fmt.Fprint(stdout, p.ManPage(man.version, man.date))
				return nil
			}})
	if !p.hasCommand("completion") {
		app.Commands = append(app.Commands, p.completionCommand(stdout, stderr))
	}
	app.CustomAppHelpTemplate = clidoc.TemplateText(p.Help())
	return app
}

// CompletionCommand is `NAME completion bash`, for a program that lists it
// among its commands (collectord does); others get it hidden.
func (p *Program) CompletionCommand(stdout, stderr io.Writer) *Command {
	return &Command{Name: "completion", Usage: "print a bash completion script",
		Synopsis: []string{p.Name + " completion bash"},
		Intro:    "Print a bash completion script for " + p.Name + ", made from its flag table.",
		Tail:     "Example:\n  " + p.Name + " completion bash > /etc/bash_completion.d/" + p.Name,
		Args:     []string{"bash"},
		Action: func(cc *urfave.Context) error {
			if cc.Args().Len() != 1 || cc.Args().First() != "bash" {
				fmt.Fprintf(stderr, "%s: usage: %s completion bash\n", p.Name, p.Name)
				return ExitStatus(ExitUsage)
			}
			fmt.Fprint(stdout, p.BashCompletion())
			return nil
		}}
}

func (p *Program) completionCommand(stdout, stderr io.Writer) *urfave.Command {
	c := p.CompletionCommand(stdout, stderr)
	return &urfave.Command{Name: c.Name, Hidden: true, HideHelp: true, HideHelpCommand: true, Usage: c.Usage, Action: c.Action}
}

func (p *Program) hasCommand(name string) bool {
	for _, c := range p.Commands {
		if c.Name == name {
			return true
		}
	}
	return false
}

// helpFlag is -h, --help, made afresh for each run: urfave/cli sees a flag
// named help set and prints the CustomHelpTemplate to stdout (exit 0).
func helpFlag() urfave.Flag {
	return &urfave.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show this help"}
}

// Run runs the app built by NewApp on a command line and returns the exit
// status; it never exits the process. --generate-man (what man/main.go runs)
// is the hidden generate-man command, whose --version is the page's.
func Run(app *urfave.App, args []string, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--generate-man" || args[0] == "-generate-man") {
		args = append([]string{"generate-man"}, args[1:]...)
	}
	err := app.RunContext(context.Background(), append([]string{app.Name}, args...))
	var es ExitStatus
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &es):
		return int(es)
	default:
		// Errors urfave/cli makes itself: a malformed environment variable
		// (PMPROXY_PORT=x) while setting up the flags.
		fmt.Fprintf(stderr, "%s: %v\nRun '%s -h' for usage.\n", app.Name, err, app.Name)
		return ExitUsage
	}
}
