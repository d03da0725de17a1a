package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/clidoc"
	"github.com/gopcp/gopcp/internal/shellquote"
	"github.com/gopcp/gopcp/internal/version"
	urfave "github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// Exit statuses, documented in --help.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// opts holds every flag's value. Each run has its own (newApp), and only the
// running command's flags write to it.
type opts struct {
	dir, nick, trust, in, out, format string
	pwFile, pwFileK, p12pwFile        string
	keyFile                           string
	ascii, deleteKey, withKey, force  bool

	// Issuing (ca, issue, quickstart, request).
	caNick, cn, keyType string
	days                int
	sans, hosts, ips    listFlag
	server, client      bool

	// check.
	role, caStore, file string

	// Java keystores.
	ksType, alias, storepassFile, keypassFile string

	// import-nss.
	from, nssPwFile string

	// generate-man.
	manVersion, manDate string
}

// listFlag is a repeatable flag's values; each value may also hold a
// comma-separated list (split says so where the command wants it).
type listFlag []string

// split returns every comma-separated item of every value, blanks trimmed.
func (l listFlag) split() []string {
	var out []string
	for _, v := range l {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// ctx is one invocation of a command.
type ctx struct {
	cmd    *command
	o      opts
	set    map[string]bool // flags given, by their Name in the table
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// create is how the stores this run makes derive their keys: always the
	// zero value (certdb's default) in the program; see runWith.
	create store.CreateOptions
}

// command names the running command in messages ("crl add").
type command struct {
	name string
}

// exitStatus is what an action returns to run(): the process's exit status.
// Its message is empty: the action has already said what went wrong.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitStatus) ExitCode() int { return int(e) }

// status turns an exit status into an action's error (nil for 0).
func status(rc int) error {
	if rc == exitOK {
		return nil
	}
	return exitStatus(rc)
}

// certutilCommands maps certutil's command letters to ours.
var certutilCommands = map[string]string{
	"-N": "create", "-A": "add", "-L": "list", "-K": "keys", "-M": "trust", "-D": "delete", "-F": "delete",
}

// run is certdb: main calls it with the process's arguments and streams, tests
// call it in-process. It never exits the process; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(store.CreateOptions{}, args, stdin, stdout, stderr)
}

// runWith is run with the options every store the run creates gets. run, and
// so the program, passes the zero value: certdb's default scrypt cost, with no
// flag, variable or file to change it. The package's tests pass the test-only
// fast cost (store.CreateOptions), which keeps their hundreds of in-process
// runs from spending minutes in scrypt; TestProgramCreatesDefaultKDF checks
// what run writes.
func runWith(create store.CreateOptions, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(create, stdin, stdout, stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, mainHelp(app))
		return exitUsage
	}
	args, rc := shim(args, stderr)
	if rc != exitOK {
		return rc
	}
	err := app.RunContext(context.Background(), append([]string{"certdb"}, args...))
	var es exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &es):
		return int(es)
	default:
		// Errors urfave/cli makes itself (none is expected: usage errors go
		// through OnUsageError); they are about the command line.
		fmt.Fprintf(stderr, "certdb: %v; run 'certdb --help'\n", err)
		return exitUsage
	}
}

// shim rewrites the command lines urfave/cli does not take as they are into
// ones it does: the certutil forms (the command letter anywhere among the
// flags: certdb -d DIR -A -n NICK ...) and the top-level --help, --version and
// --generate-man. Single-dash long flags (-d, -nickname) need nothing: the Go
// flag parser under urfave/cli takes one dash or two.
func shim(args []string, stderr io.Writer) ([]string, int) {
	switch args[0] {
	case "-h", "-help", "--help":
		return append([]string{"help"}, args[1:]...), exitOK
	case "-version", "--version":
		return append([]string{"version"}, args[1:]...), exitOK
	case "--generate-man", "-generate-man":
		return append([]string{"generate-man"}, args[1:]...), exitOK
	}
	if !strings.HasPrefix(args[0], "-") {
		return args, exitOK
	}
	name, rest := "", []string{}
	for _, a := range args {
		sub, ok := certutilCommands[a]
		if !ok {
			rest = append(rest, a)
			continue
		}
		if a == "-F" { // certutil -F deletes the key: our delete -F
			rest = append(rest, a)
		}
		if name != "" && name != sub {
			fmt.Fprintf(stderr, "certdb: two commands given (%s and %s); run 'certdb --help'\n", name, sub)
			return nil, exitUsage
		}
		name = sub
	}
	if name == "" {
		fmt.Fprintf(stderr, "certdb: no command given (%s); run 'certdb --help' for the list\n", strings.Join(args, " "))
		return nil, exitUsage
	}
	return append([]string{name}, rest...), exitOK
}

// runner holds what one run's actions share: its streams, its flag values and
// the options of the stores it creates (ctx.create).
type runner struct {
	o      opts
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	create store.CreateOptions
}

// action wraps a command's function: it refuses stray arguments, records which
// flags were given, reconciles -f and -k, and turns the exit status into the
// error run() reads.
func (r *runner) action(name string, fn func(c *ctx) int) urfave.ActionFunc {
	return func(cc *urfave.Context) error {
		c := &ctx{cmd: &command{name: name}, o: r.o, set: map[string]bool{}, stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, create: r.create}
		if cc.Args().Present() {
			return status(c.usage("unexpected argument %q (values with spaces need quotes)", cc.Args().First()))
		}
		for _, f := range cc.Command.Flags {
			if n := f.Names()[0]; cc.IsSet(n) {
				c.set[n] = true
			}
		}
		if c.o.pwFile != "" && c.o.pwFileK != "" && c.o.pwFile != c.o.pwFileK {
			return status(c.usage("-f and -k both name the store's password file, and differ (%s, %s)", c.o.pwFile, c.o.pwFileK))
		}
		if c.o.pwFile == "" {
			c.o.pwFile = c.o.pwFileK
		}
		return status(fn(c))
	}
}

// usageError is every command's OnUsageError: a flag the command does not
// take, a missing or malformed value. Exit status 2, with the way to help.
func (r *runner) usageError(cc *urfave.Context, err error, _ bool) error {
	name := strings.TrimPrefix(cc.Command.HelpName, "certdb ")
	if cc.Command.HelpName == "" || name == "certdb" {
		fmt.Fprintf(r.stderr, "certdb: %v\nRun 'certdb --help' for usage.\n", err)
		return exitStatus(exitUsage)
	}
	c := &ctx{cmd: &command{name: name}, stderr: r.stderr}
	return exitStatus(c.usage("%v", err))
}

// Flag constructors. A word in backquotes in the usage is the value's
// placeholder in help, man page and completion (urfave/cli's convention):
// "the `NICKNAME` to store it under" shows as -n, --nickname NICKNAME. The
// first name is the flag's Name (ctx.set's key), the others its aliases.
func strF(p *string, usage string, names ...string) *urfave.StringFlag {
	return &urfave.StringFlag{Name: names[0], Aliases: names[1:], Usage: usage, Destination: p}
}

// fileF is a flag whose value is a file: completion offers files.
func fileF(p *string, usage string, names ...string) *urfave.StringFlag {
	f := strF(p, usage, names...)
	f.TakesFile = true
	return f
}

func boolF(p *bool, usage string, names ...string) *urfave.BoolFlag {
	return &urfave.BoolFlag{Name: names[0], Aliases: names[1:], Usage: usage, Destination: p}
}

// intF's zero value means "not given" to the command, which picks its own
// default (defaultText says which).
func intF(p *int, usage, defaultText string, names ...string) *urfave.IntFlag {
	return &urfave.IntFlag{Name: names[0], Aliases: names[1:], Usage: usage, Destination: p, DefaultText: defaultText}
}

// listF is a repeatable flag. Values are not split on commas here (the app
// disables urfave's separator): a nickname may hold a comma; commands that take
// lists split them themselves (listFlag.split).
func listF(p *listFlag, usage string, names ...string) *urfave.StringSliceFlag {
	return &urfave.StringSliceFlag{Name: names[0], Aliases: names[1:], Usage: usage,
		Action: func(_ *urfave.Context, v []string) error {
			*p = append(listFlag(nil), v...)
			return nil
		}}
}

// categoryStore groups the flags that name and open the store.
const categoryStore = "Store"

// dirFlags are the store's flags, shared by most commands.
func dirFlags(o *opts) []urfave.Flag {
	return []urfave.Flag{
		&urfave.StringFlag{Name: "dir", Aliases: []string{"d"}, Category: categoryStore, Destination: &o.dir, TakesFile: true,
			Usage: "the store's folder, `DIR` (a \"sql:\" prefix is accepted and ignored)"},
		&urfave.StringFlag{Name: "password-file", Aliases: []string{"f"}, Category: categoryStore, Destination: &o.pwFile, TakesFile: true,
			Usage: "`FILE` whose first line is the store's password; without it the password is empty (PCP's stores always had one)"},
		&urfave.StringFlag{Name: "k", Category: categoryStore, Destination: &o.pwFileK, TakesFile: true,
			Usage: "the same as -f (pk12util's name for it), `FILE`"},
	}
}

// with returns the store's flags followed by more.
func with(o *opts, more ...urfave.Flag) []urfave.Flag {
	return append(more, dirFlags(o)...)
}

// newApp builds certdb's command table for one run: every command with its
// flags, help, and action. Nothing in it is shared with another run, so runs
// may go on at once in one process (the tests do). create is runWith's.
func newApp(create store.CreateOptions, stdin io.Reader, stdout, stderr io.Writer) *urfave.App {
	r := &runner{stdin: stdin, stdout: stdout, stderr: stderr, create: create}
	o := &r.o
	var cmds []*urfave.Command
	cmds = append(cmds, issueCommands(r, o)...)
	cmds = append(cmds, requestCommands(r, o)...)
	cmds = append(cmds, storeCommands(r, o)...)
	cmds = append(cmds, crlCommand(r, o))
	cmds = append(cmds, checkCommands(r, o)...)
	cmds = append(cmds, keystoreCommands(r, o)...)
	cmds = append(cmds, nssCommands(r, o)...)
	cmds = append(cmds, metaCommands(r, o)...)
	app := &urfave.App{
		Name:                      "certdb",
		HelpName:                  "certdb",
		Usage:                     "manage gopcp certificate stores (certutil and pk12util for gopcp)",
		Version:                   Version,
		Commands:                  cmds,
		Reader:                    stdin,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		Compiled:                  time.Unix(0, 0),
		DisableSliceFlagSeparator: true,
		// urfave/cli's own help flag, help command and version flag are package
		// variables it writes to on every run (a data race between two runs in
		// one process): certdb brings its own, made per run, below.
		HideHelp:        true,
		HideHelpCommand: true,
		HideVersion:     true,
		Flags:           []urfave.Flag{helpFlag()},
		OnUsageError:    r.usageError,
		// Statuses come back to run() as errors; urfave/cli must not exit.
		ExitErrHandler: func(*urfave.Context, error) {},
		Action: func(cc *urfave.Context) error {
			fmt.Fprintf(r.stderr, "certdb: unknown command %q; run 'certdb --help' for the list\n", cc.Args().First())
			return exitStatus(exitUsage)
		},
	}
	walk(cmds, "certdb", func(c *urfave.Command, full string) {
		c.HideHelp, c.HideHelpCommand = true, true
		c.Flags = append(c.Flags, helpFlag())
		c.OnUsageError = r.usageError
		c.CustomHelpTemplate = clidoc.TemplateText(commandHelp(c, full))
	})
	app.CustomAppHelpTemplate = clidoc.TemplateText(mainHelp(app))
	return app
}

// helpFlag is -h, --help, made afresh for each command of each run. urfave/cli
// sees a flag named help set and prints the command's CustomHelpTemplate.
func helpFlag() urfave.Flag {
	return &urfave.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show this help"}
}

// walk calls fn for every command and subcommand with its full name
// ("certdb crl add").
func walk(cmds []*urfave.Command, parent string, fn func(c *urfave.Command, full string)) {
	for _, c := range cmds {
		full := parent + " " + c.Name
		fn(c, full)
		walk(c.Subcommands, full, fn)
	}
}

// findCommand returns the command named by words ("crl", "add"), or nil.
func findCommand(cmds []*urfave.Command, words []string) *urfave.Command {
	var found *urfave.Command
	for _, w := range words {
		found = nil
		for _, c := range cmds {
			if c.Name == w {
				found = c
			}
		}
		if found == nil {
			return nil
		}
		cmds = found.Subcommands
	}
	return found
}

// metaCommands are help, version, and the hidden ones that print the manual
// page and the bash completion.
func metaCommands(r *runner, o *opts) []*urfave.Command {
	return []*urfave.Command{
		{Name: "help", Usage: "show the help of certdb or of a command",
			UsageText: "certdb help [COMMAND]", Description: "Show certdb's help, or a command's (certdb help crl add).\n\nExample:\n  certdb help add",
			// Its words are command names, not flags: certdb help crl add.
			SkipFlagParsing: true,
			Action: func(cc *urfave.Context) error {
				words := cc.Args().Slice()
				if len(words) > 0 && (words[0] == "-h" || words[0] == "-help" || words[0] == "--help") {
					fmt.Fprint(r.stdout, commandHelp(cc.Command, "certdb help"))
					return nil
				}
				if len(words) == 0 {
					fmt.Fprint(r.stdout, mainHelp(cc.App))
					return nil
				}
				c := findCommand(cc.App.Commands, words)
				if c == nil {
					fmt.Fprintf(r.stderr, "certdb: unknown command %q; run 'certdb --help' for the list\n", strings.Join(words, " "))
					return exitStatus(exitUsage)
				}
				fmt.Fprint(r.stdout, commandHelp(c, "certdb "+strings.Join(words, " ")))
				return nil
			}},
		{Name: "version", Usage: "print certdb's version",
			UsageText: "certdb version", Description: "Print certdb's version and commit.\n\nExample:\n  certdb --version",
			Action: func(cc *urfave.Context) error {
				fmt.Fprintln(r.stdout, version.String("certdb", Version, Commit))
				return nil
			}},
		{Name: "generate-man", Hidden: true, Usage: "print certdb's manual page (roff), made from this table",
			UsageText: "certdb --generate-man [--version V] [--date YYYY-MM-DD]",
			Flags: []urfave.Flag{
				strF(&o.manVersion, "gopcp `VERSION` in the page's footer", "version"),
				strF(&o.manDate, "`DATE` in the page's footer", "date"),
			},
			Action: func(cc *urfave.Context) error {
				if cc.Args().Present() {
					return r.usageError(cc, fmt.Errorf("unexpected argument %q", cc.Args().First()), true)
				}
				page, err := manPage(cc.App, r.o.manVersion, r.o.manDate)
				if err != nil {
					fmt.Fprintf(r.stderr, "certdb generate-man: %v\n", err)
					return exitStatus(exitFail)
				}
				fmt.Fprint(r.stdout, page)
				return nil
			}},
		{Name: "completion", Hidden: true, Usage: "print a bash completion script for certdb, made from this table",
			UsageText: "certdb completion bash",
			Action: func(cc *urfave.Context) error {
				if cc.Args().Len() != 1 || cc.Args().First() != "bash" {
					return r.usageError(cc, errors.New("the one shell supported is bash: certdb completion bash"), true)
				}
				fmt.Fprint(r.stdout, bashCompletion(cc.App))
				return nil
			}},
	}
}

// usage reports a command-line error: exit status 2.
func (c *ctx) usage(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "certdb %s: %s\nRun 'certdb %s --help' for usage.\n", c.cmd.name, fmt.Sprintf(format, args...), c.cmd.name)
	return exitUsage
}

// require checks that the named flags were given.
func (c *ctx) require(flags ...string) int {
	for _, f := range flags {
		var v string
		switch f {
		case "d":
			v = c.o.dir
		case "n":
			v = c.o.nick
		case "t":
			v = c.o.trust
		case "i":
			v = c.o.in
		case "o":
			v = c.o.out
		}
		if v == "" {
			return c.usage("-%s %s is required", f, map[string]string{"d": "DIR", "n": "NICKNAME", "t": "TRUST", "i": "FILE", "o": "FILE"}[f])
		}
	}
	return exitOK
}

// fail reports a failed operation, with what to do next: exit status 1.
func (c *ctx) fail(err error) int {
	msg := err.Error()
	if h := c.hint(err); h != "" {
		msg += "; " + h
	}
	fmt.Fprintf(c.stderr, "certdb %s: %s\n", c.cmd.name, msg)
	return exitFail
}

func (c *ctx) failf(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "certdb %s: %s\n", c.cmd.name, fmt.Sprintf(format, args...))
	return exitFail
}

func (c *ctx) warn(w string) {
	fmt.Fprintf(c.stderr, "certdb %s: warning: %s\n", c.cmd.name, w)
}

func (c *ctx) hint(err error) string {
	d := quote(c.o.dir)
	switch {
	case errors.Is(err, store.ErrNoStore):
		return "create one with: certdb create -d " + d
	case errors.Is(err, store.ErrBadPassword):
		return "give the store's password file (the one used with certdb create) with -f FILE"
	case errors.Is(err, store.ErrLocked):
		return "the store has a password: give its password file with -f FILE"
	case errors.Is(err, store.ErrBadPKCS12Password):
		return "give the file holding the PKCS#12 password with -w FILE"
	case errors.Is(err, store.ErrNotFound):
		return "see the nicknames with: certdb list -d " + d
	case errors.Is(err, store.ErrDuplicate):
		return "choose another nickname with -n, or delete the old entry first with: certdb delete -d " + d + " -n NICKNAME"
	case errors.Is(err, store.ErrExists):
		return "use the existing store, or choose another folder with -d"
	case errors.Is(err, store.ErrKeyMismatch):
		return "the key and the certificate do not belong together; compare 'openssl x509 -noout -pubkey -in CERT' with 'openssl pkey -pubout -in KEY'"
	case errors.Is(err, store.ErrNoKey):
		return "import its key with certdb import (PKCS#12) or certdb add --key KEYFILE"
	case errors.Is(err, store.ErrCorrupt):
		return "this is not a certdb store or it is damaged: restore it from a backup, or create a new one in another folder"
	}
	return ""
}

// quote quotes a value for a command line a person will paste (the one helper
// every program shares, kept under this short name for the many call sites).
func quote(s string) string { return shellquote.Quote(s) }

// terminal returns stdin's descriptor if it is a terminal.
func (c *ctx) terminal() (int, bool) {
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// prompt reads a password from the terminal, echo off.
func (c *ctx) prompt(fd int, what string) ([]byte, error) {
	fmt.Fprintf(c.stderr, "%s: ", what)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(c.stderr)
	if err != nil {
		return nil, err
	}
	if pw == nil {
		pw = []byte{}
	}
	return pw, nil
}

// readPasswordFile reads a password file as NSS tools do: its first line, without
// the line end. An empty file (or `echo > file`) is the empty password.
func (c *ctx) readPasswordFile(path string) ([]byte, error) {
	data, err := readLimited(path, c.stdin, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("reading password file: %w", err)
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	data = bytes.TrimSuffix(data, []byte("\r"))
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// readLimited reads a file ("-": stdin) of at most limit bytes.
func readLimited(path string, stdin io.Reader, limit int64) ([]byte, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s is a folder, not a file", path)
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

func (c *ctx) readInput(path string) ([]byte, error) {
	return readLimited(path, c.stdin, store.MaxInputSize)
}

// openStore opens the store named by -d. needKeys asks for a store whose private
// keys are usable: without -f, a store with a password is then prompted for (on
// a terminal) or refused with a hint.
func (c *ctx) openStore(needKeys bool) (*store.Store, int) {
	if c.o.pwFile != "" {
		pw, err := c.readPasswordFile(c.o.pwFile)
		if err != nil {
			return nil, c.fail(err)
		}
		s, err := store.Open(c.o.dir, pw)
		if err != nil {
			if errors.Is(err, store.ErrBadPassword) {
				return nil, c.failf("%v: the password in %s is not this store's; give the right file with -f FILE", err, c.o.pwFile)
			}
			return nil, c.fail(err)
		}
		return s, exitOK
	}
	s, err := store.Open(c.o.dir, nil)
	if err != nil {
		return nil, c.fail(err)
	}
	if needKeys {
		return c.unlock(s)
	}
	return s, exitOK
}

// unlock returns s, or s opened again with its password if s is Locked: prompted
// for on a terminal, refused with a hint otherwise.
func (c *ctx) unlock(s *store.Store) (*store.Store, int) {
	if !s.Locked() {
		return s, exitOK
	}
	fd, ok := c.terminal()
	if !ok {
		return nil, c.failf("%s has a password and private keys need it (stdin is not a terminal, so certdb does not prompt): give its password file with -f FILE", s.Dir())
	}
	pw, err := c.prompt(fd, "Password for certificate store "+s.Dir())
	if err != nil {
		return nil, c.fail(err)
	}
	s, err = store.Open(c.o.dir, pw)
	if err != nil {
		return nil, c.fail(err)
	}
	return s, exitOK
}

// writeOutput writes data to path ("-": stdout) through a temporary file and a
// rename, with mode perm.
func (c *ctx) writeOutput(path string, data []byte, perm os.FileMode) error {
	if path == "-" {
		_, err := c.stdout.Write(data)
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
