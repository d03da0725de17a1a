// Package daemon is what collectord and proxyd share around their servers: the
// flags both take for the configuration file, the identity and the logs, and
// their merging over the TOML file (a flag given on the command line wins; the
// file wins over the environment); running a urfave/cli command table with
// pmcd's exit statuses; help, manual page and bash completion made from that
// table; and the signal loop (SIGHUP reload, SIGTERM/SIGINT stop) with its
// systemd notifications.
//
// Each daemon keeps its own table in its main package: the flags' words differ
// (what -Q means to a collector and to a proxy), so only their values and the
// machinery are shared here.
package daemon

import (
	"strings"

	"github.com/gopcp/gopcp/internal/tomlconfig"
	urfave "github.com/urfave/cli/v2"
)

// Common holds the values of the flags both daemons take. Each run has its own,
// filled in by the urfave flags its table binds to it.
type Common struct {
	ConfigPath  string // --config
	CheckConfig bool   // --check-config
	Version     bool   // --version

	Port         int                 // -p
	Addrs        tomlconfig.ListFlag // -i
	CertDB       string              // -C
	Nickname     string              // -M
	PasswordFile string              // -P
	RequireCert  bool                // -Q
	TLSConf      string              // --tls-conf

	LogFormat string              // --log-format
	LogLevel  string              // --log-level
	Debug     tomlconfig.ListFlag // -D

	// given names the flags given on the command line (by their Name in the
	// table), not those only set from an environment variable.
	given map[string]bool
}

// Given reports whether the flag called name was on the command line.
func (o *Common) Given(name string) bool { return o.given[name] }

// SetGiven marks name as given on the command line; for a program's own flags
// parsed by hand, and tests.
func (o *Common) SetGiven(name string) {
	if o.given == nil {
		o.given = map[string]bool{}
	}
	o.given[name] = true
}

// Record notes which of the running command's flags were on the command line.
// urfave's IsSet also counts a flag whose environment variable is set; the
// daemons rank the environment below the TOML file (PCP_TLSCONF_PATH from
// /etc/pcp.conf must not override an identity the file names), so the
// environment's mark is hidden while asking.
func (o *Common) Record(cc *urfave.Context) {
	var flags []urfave.Flag
	if cc.Command != nil {
		flags = cc.Command.Flags
	}
	if len(flags) == 0 && cc.App != nil {
		flags = cc.App.Flags
	}
	for _, f := range flags {
		name := f.Names()[0]
		if commandLine(cc, f, name) {
			o.SetGiven(name)
		}
	}
}

// commandLine is IsSet without the environment.
func commandLine(cc *urfave.Context, f urfave.Flag, name string) bool {
	var mark *bool
	switch t := f.(type) {
	case *urfave.StringFlag:
		mark = &t.HasBeenSet
	case *urfave.IntFlag:
		mark = &t.HasBeenSet
	case *urfave.BoolFlag:
		mark = &t.HasBeenSet
	case *urfave.Float64Flag:
		mark = &t.HasBeenSet
	case *urfave.GenericFlag:
		mark = &t.HasBeenSet
	}
	if mark == nil || !*mark {
		return cc.IsSet(name)
	}
	saved := *mark
	*mark = false
	defer func() { *mark = saved }()
	return cc.IsSet(name)
}

// Targets point at a configuration's fields that the common flags override.
// A nil pointer is a field the program does not have.
type Targets struct {
	Port              *int
	Address           *[]string
	CertDB            *string
	Nickname          *string
	PasswordFile      *string
	RequireClientCert *bool
	TLSConf           *string
	LogFormat         *string
	LogLevel          *string
	Debug             *[]string
}

// Merge puts the flags given on the command line over the file's values. The
// store's "sql:" prefix (NSS's) is dropped from the flag and the file alike.
func (o *Common) Merge(t Targets) {
	setIf(o, "p", t.Port, o.Port)
	if o.Given("i") && t.Address != nil {
		*t.Address = append([]string(nil), o.Addrs...)
	}
	setIf(o, "C", t.CertDB, o.CertDB)
	if t.CertDB != nil {
		*t.CertDB = strings.TrimPrefix(*t.CertDB, "sql:")
	}
	setIf(o, "M", t.Nickname, o.Nickname)
	setIf(o, "P", t.PasswordFile, o.PasswordFile)
	setIf(o, "Q", t.RequireClientCert, o.RequireCert)
	setIf(o, "tls-conf", t.TLSConf, o.TLSConf)
	setIf(o, "log-format", t.LogFormat, o.LogFormat)
	setIf(o, "log-level", t.LogLevel, o.LogLevel)
	if o.Given("D") && t.Debug != nil {
		*t.Debug = append([]string(nil), o.Debug...)
	}
}

func setIf[T any](o *Common, name string, dst *T, v T) {
	if dst != nil && o.Given(name) {
		*dst = v
	}
}

// ConfigFile is the file to read and whether it must exist: --config's, else
// the program's default, read only when present.
func (o *Common) ConfigFile(def string) (path string, required bool) {
	if o.ConfigPath == "" {
		return def, false
	}
	return o.ConfigPath, true
}
