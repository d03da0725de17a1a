package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/shellquote"
	"github.com/gopcp/gopcp/internal/version"
	"golang.org/x/term"
)

// Exit statuses, documented in --help.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// opts holds every flag; each command registers the ones it takes.
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
}

// listFlag is a repeatable flag; each value may also hold a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

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
	set    map[string]bool // flags given, by their first name
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	group   string // heading in --help; "" is groupStore
	nss     string // the certutil/pk12util/openssl/keytool form it replaces
	summary string
	help    string // usage, description, flags, examples (exit codes are appended)
	flags   func(fs *flag.FlagSet, o *opts)
	run     func(c *ctx) int
}

var commands []*command

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// certutilCommands maps certutil's command letters to ours.
var certutilCommands = map[string]string{
	"-N": "create", "-A": "add", "-L": "list", "-K": "keys", "-M": "trust", "-D": "delete", "-F": "delete",
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainHelp())
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, version.String("certdb", Version, Commit))
		return exitOK
	case "-h", "-help", "--help", "help":
		if name == "help" && len(rest) > 0 {
			if c := findCommand(rest[0]); c != nil {
				fmt.Fprint(stdout, commandHelp(c))
				return exitOK
			}
			fmt.Fprintf(stderr, "certdb: unknown command %q; run 'certdb --help' for the list\n", rest[0])
			return exitUsage
		}
		fmt.Fprint(stdout, mainHelp())
		return exitOK
	}
	if strings.HasPrefix(name, "-") {
		// certutil form: the command letter may be anywhere among the flags.
		name, rest = "", nil
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
				return exitUsage
			}
			name = sub
		}
		if name == "" {
			fmt.Fprintf(stderr, "certdb: no command given (%s); run 'certdb --help' for the list\n", strings.Join(args, " "))
			return exitUsage
		}
	}
	if len(rest) > 0 && findCommand(name+" "+rest[0]) != nil { // two-word commands: "crl add"
		name, rest = name+" "+rest[0], rest[1:]
	}
	cmd := findCommand(name)
	if cmd == nil {
		fmt.Fprintf(stderr, "certdb: unknown command %q; run 'certdb --help' for the list\n", name)
		return exitUsage
	}
	c := &ctx{cmd: cmd, stdin: stdin, stdout: stdout, stderr: stderr, set: map[string]bool{}}
	fs := flag.NewFlagSet("certdb "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cmd.flags(fs, &c.o)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, commandHelp(cmd))
			return exitOK
		}
		return c.usage("%v", err)
	}
	if fs.NArg() > 0 {
		return c.usage("unexpected argument %q (values with spaces need quotes)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { c.set[canonicalFlag[f.Name]] = true })
	if c.o.pwFile != "" && c.o.pwFileK != "" && c.o.pwFile != c.o.pwFileK {
		return c.usage("-f and -k both name the store's password file, and differ (%s, %s)", c.o.pwFile, c.o.pwFileK)
	}
	if c.o.pwFile == "" {
		c.o.pwFile = c.o.pwFileK
	}
	return cmd.run(c)
}

// canonicalFlag maps every flag name to the first name it was declared with.
var canonicalFlag = map[string]string{}

func strFlag(fs *flag.FlagSet, p *string, names ...string) {
	for _, n := range names {
		fs.StringVar(p, n, "", "")
		canonicalFlag[n] = names[0]
	}
}

func listVar(fs *flag.FlagSet, p *listFlag, names ...string) {
	for _, n := range names {
		fs.Var(p, n, "")
		canonicalFlag[n] = names[0]
	}
}

func intFlag(fs *flag.FlagSet, p *int, names ...string) {
	for _, n := range names {
		fs.IntVar(p, n, 0, "")
		canonicalFlag[n] = names[0]
	}
}

func boolFlag(fs *flag.FlagSet, p *bool, names ...string) {
	for _, n := range names {
		fs.BoolVar(p, n, false, "")
		canonicalFlag[n] = names[0]
	}
}

// Flags shared by every command.
func dirFlags(fs *flag.FlagSet, o *opts) {
	strFlag(fs, &o.dir, "d", "dir")
	strFlag(fs, &o.pwFile, "f", "password-file")
	strFlag(fs, &o.pwFileK, "k")
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
