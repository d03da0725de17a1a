package daemon

import (
	"fmt"

	"github.com/gopcp/gopcp/internal/clidoc"
	"github.com/gopcp/gopcp/internal/tomlconfig"
	urfave "github.com/urfave/cli/v2"
)

// Flag constructors for the daemons' tables. A word in backquotes in a usage
// is the value's placeholder in help, man page and completion (urfave/cli's
// convention): "TCP `PORT`" shows as -p PORT. The first name is the flag's
// Name (what Common.Given takes), the others its aliases. Defaults are shown
// from DefaultText (def), never from the zero value: an unset flag means "the
// file's value, else the program's default".

// String is a flag with a free-text value.
func String(p *string, usage string, names ...string) *urfave.StringFlag {
	return &urfave.StringFlag{Name: names[0], Aliases: names[1:], Usage: usage, Destination: p}
}

// File is a flag naming a file (a folder when its placeholder says DIR):
// completion offers files or folders.
func File(p *string, usage string, names ...string) *urfave.StringFlag {
	f := String(p, usage, names...)
	f.TakesFile = true
	return f
}

// Bool is a switch.
func Bool(p *bool, usage string, names ...string) *urfave.BoolFlag {
	return &urfave.BoolFlag{Name: names[0], Aliases: names[1:], Usage: usage, Destination: p}
}

// Int is a number; def is the default shown ("" for none).
func Int(p *int, usage, def string, names ...string) *urfave.IntFlag {
	return &urfave.IntFlag{Name: names[0], Aliases: names[1:], Usage: usage, Destination: p, DefaultText: def}
}

// Float is a decimal number; def is the default shown ("" for none).
func Float(p *float64, usage, def string, names ...string) *urfave.Float64Flag {
	return &urfave.Float64Flag{Name: names[0], Aliases: names[1:], Usage: usage, Destination: p, DefaultText: def}
}

// List is a repeatable flag whose values may also be comma separated (-i a,b
// -i c), as the daemons' flag parsing has always taken them.
func List(p *tomlconfig.ListFlag, usage string, names ...string) *urfave.GenericFlag {
	return &urfave.GenericFlag{Name: names[0], Aliases: names[1:], Usage: usage, Value: p}
}

// Choice is a flag whose value is one of words; completion offers them. The
// value is checked where the configuration is (the file may give it too), so
// a wrong one is reported the same way from either.
func Choice(p *string, words []string, usage string, names ...string) *urfave.GenericFlag {
	return &urfave.GenericFlag{Name: names[0], Aliases: names[1:], Usage: usage, Value: &choice{p: p, words: words}}
}

// Choices is a List whose items are among words.
func Choices(p *tomlconfig.ListFlag, words []string, usage string, names ...string) *urfave.GenericFlag {
	return &urfave.GenericFlag{Name: names[0], Aliases: names[1:], Usage: usage, Value: &choices{p: p, words: words}}
}

// Worded is a flag value that knows the words it takes (for completion).
type Worded = clidoc.Worded

type choice struct {
	p     *string
	words []string
}

func (c *choice) Set(v string) error { *c.p = v; return nil }
func (c *choice) String() string {
	if c.p == nil {
		return ""
	}
	return *c.p
}
func (c *choice) Words() []string { return c.words }

type choices struct {
	p     *tomlconfig.ListFlag
	words []string
}

func (c *choices) Set(v string) error { return c.p.Set(v) }
func (c *choices) String() string {
	if c.p == nil {
		return ""
	}
	return c.p.String()
}
func (c *choices) Words() []string { return c.words }

// Env adds environment variables to a flag (shown in help and man page). Only
// string and int flags take them: those are the ones Common.Record can tell
// apart from the command line.
func Env(f urfave.Flag, vars ...string) urfave.Flag {
	switch t := f.(type) {
	case *urfave.StringFlag:
		t.EnvVars = append(t.EnvVars, vars...)
	case *urfave.IntFlag:
		t.EnvVars = append(t.EnvVars, vars...)
	default:
		panic(fmt.Sprintf("daemon.Env: %T takes no environment variable", f)) // a programming error in a table
	}
	return f
}

// Category puts flags under a heading in help and man page, in table order.
func Category(name string, flags ...urfave.Flag) []urfave.Flag {
	for _, f := range flags {
		switch t := f.(type) {
		case *urfave.StringFlag:
			t.Category = name
		case *urfave.IntFlag:
			t.Category = name
		case *urfave.BoolFlag:
			t.Category = name
		case *urfave.Float64Flag:
			t.Category = name
		case *urfave.GenericFlag:
			t.Category = name
		}
	}
	return flags
}
