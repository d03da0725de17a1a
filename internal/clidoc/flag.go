// Package clidoc renders a program's --help, manual page and bash completion
// from its urfave/cli command table, so the three never disagree with the
// flags the program parses. certdb, collectord and proxyd all use it; each
// keeps its own prose and page layout, and this package keeps the mechanics:
// how a flag is described, laid out in columns, written as Markdown for
// md2man, and completed.
//
// A word in backquotes in a flag's usage is the value's placeholder
// (urfave/cli's convention): "TCP `PORT`" shows as -p PORT. Defaults are
// shown from a flag's DefaultText only, never from its zero value: an unset
// flag in these programs means "the program's (or the file's) default", which
// the table states in words.
package clidoc

import (
	"slices"
	"strings"

	urfave "github.com/urfave/cli/v2"
)

// Worded is a flag value that knows the words it takes: completion offers
// them after the flag.
type Worded interface{ Words() []string }

// Flag is what help, man page and completion show of a flag.
type Flag struct {
	Short, Long []string // names without dashes
	Arg         string   // placeholder, "" for a switch
	Usage       string   // without the placeholder's backquotes
	Default     string   // default shown, "" for none
	Env         []string
	File        bool     // the value names a file, or a folder when Arg says DIR
	Words       []string // the values it takes, for completion
	Category    string
}

// Describe reads a flag of the table.
func Describe(f urfave.Flag) Flag {
	var fi Flag
	for _, n := range f.Names() {
		if len(n) == 1 {
			fi.Short = append(fi.Short, n)
		} else {
			fi.Long = append(fi.Long, n)
		}
	}
	if d, ok := f.(urfave.DocGenerationFlag); ok {
		fi.Usage = d.GetUsage()
		fi.Env = d.GetEnvVars()
		if d.TakesValue() {
			fi.Arg = "VALUE"
		}
	}
	if c, ok := f.(urfave.CategorizableFlag); ok {
		fi.Category = c.GetCategory()
	}
	if i := strings.IndexByte(fi.Usage, '`'); i >= 0 {
		if j := strings.IndexByte(fi.Usage[i+1:], '`'); j >= 0 {
			if fi.Arg != "" {
				fi.Arg = fi.Usage[i+1 : i+1+j]
			}
			fi.Usage = fi.Usage[:i] + fi.Usage[i+1:i+1+j] + fi.Usage[i+2+j:]
		}
	}
	switch t := f.(type) {
	case *urfave.StringFlag:
		fi.File, fi.Default = t.TakesFile, t.DefaultText
	case *urfave.StringSliceFlag:
		fi.File, fi.Default = t.TakesFile, t.DefaultText
	case *urfave.PathFlag:
		fi.File, fi.Default = true, t.DefaultText
	case *urfave.IntFlag:
		fi.Default = t.DefaultText
	case *urfave.Float64Flag:
		fi.Default = t.DefaultText
	case *urfave.GenericFlag:
		fi.File, fi.Default = t.TakesFile, t.DefaultText
		if w, ok := t.Value.(Worded); ok {
			fi.Words = slices.Clone(w.Words())
		}
	}
	if fi.Arg == "" {
		fi.Default = "" // a switch has no value to default
	}
	return fi
}

// Names are the flag's spellings: -p, --port.
func (fi Flag) Names() []string {
	var names []string
	for _, s := range fi.Short {
		names = append(names, "-"+s)
	}
	for _, l := range fi.Long {
		names = append(names, "--"+l)
	}
	return names
}

// Spec is "-n, --nickname NICKNAME".
func (fi Flag) Spec() string {
	s := strings.Join(fi.Names(), ", ")
	if fi.Arg != "" {
		s += " " + fi.Arg
	}
	return s
}

// Text is the usage with its default and environment variables.
func (fi Flag) Text() string {
	t := fi.Usage
	if fi.Default != "" {
		t += " (default " + fi.Default + ")"
	}
	for _, e := range fi.Env {
		t += " [$" + e + "]"
	}
	return t
}

// Visible are the flags but -h, --help (every command has it; the help says
// so once) and hidden ones.
func Visible(flags []urfave.Flag) []urfave.Flag {
	var out []urfave.Flag
	for _, f := range flags {
		if f.Names()[0] == "help" {
			continue
		}
		if v, ok := f.(urfave.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		out = append(out, f)
	}
	return out
}
