// Command collectord is the gopcp metrics collector: a pmcd analogue serving Linux
// kernel metrics over PCP's binary protocol on TCP 44321, with an optional TLS upgrade
// on the same socket and, with -Q, mandatory client certificates for every TCP
// client (loopback included; only clients on the -s unix socket are exempt).
//
// It runs under systemd as a Type=notify service (READY=1 once the listeners are
// bound and the certificates loaded), accepts sockets from a .socket unit, reloads
// its configuration and certificates on SIGHUP and when a certificate file changes,
// and shuts down gracefully on SIGTERM. `collectord verify --secure` checks a
// secure set-up end to end.
//
// Its flags and commands are one table on urfave/cli/v2 (newProgram, built
// afresh for every run); --help, the manual page (collectord --generate-man)
// and the bash completion (collectord completion bash) are made from it by
// internal/daemon, which also holds what collectord shares with proxyd: the
// merging of the common flags over the file and the signal loop.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/daemon"
	"github.com/gopcp/gopcp/internal/systemd"
	"github.com/gopcp/gopcp/internal/version"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/tlsconfig"
	urfave "github.com/urfave/cli/v2"
)

// Version and Commit are set at build time:
//
//	go build -ldflags "-X main.Version=1.2.3 -X main.Commit=$(git rev-parse --short HEAD)"
var (
	Version = "0.1.0"
	Commit  = ""
)

// ShutdownTimeout bounds the wait for in-flight requests on SIGTERM; clients still
// busy after it are closed.
const ShutdownTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed flags: those both daemons take (daemon.Common, which
// also knows which were given, so they override the file) and collectord's own.
type options struct {
	daemon.Common
	unixSocket  string
	maxPDU      int
	timeout     float64
	memoryLimit string
}

// Flag categories, in the order --help shows them.
const (
	catListen = "Listening"
	catTLS    = "Identity and client certificates"
	catConfig = "Configuration and logs"
)

// listenFlags and identityFlags select where the collector listens, its
// configuration file and its identity; collectord and collectord verify share
// them (the same words in both helps, written here once).
func listenFlags(o *options) []urfave.Flag {
	return daemon.Category(catListen,
		daemon.Int(&o.Port, "TCP `PORT` (config server.port)", "44321", "p"),
		daemon.List(&o.Addrs, "bind `ADDRESS`, repeatable or comma separated (default all interfaces; config server.address)", "i"),
	)
}

func identityFlags(o *options) []urfave.Flag {
	return slices.Concat(daemon.Category(catTLS,
		daemon.File(&o.CertDB, "certificate store holding the server identity, `DIR` (certdb; a \"sql:\" prefix is ignored)", "C"),
		daemon.String(&o.Nickname, "`NICKNAME` of the server certificate in the store", "M"),
		daemon.File(&o.PasswordFile, "`FILE` holding the store's password (default: empty password)", "P"),
		daemon.Bool(&o.RequireCert, "require TLS with a verified client certificate from every TCP client, loopback included; only -s clients are exempt", "Q"),
		daemon.Env(daemon.File(&o.TLSConf, "PCP 6 tls.conf `FILE` instead of a store (the variable counts only when the configuration names no identity)", "tls-conf"), tlsconfig.EnvTLSConf),
	), daemon.Category(catConfig,
		daemon.File(&o.ConfigPath, "TOML configuration `FILE` (default "+DefaultConfigPath+" if present)", "config"),
	))
}

// flags is collectord's table.
func flags(o *options) []urfave.Flag {
	return slices.Concat(listenFlags(o), daemon.Category(catListen,
		daemon.File(&o.unixSocket, "also listen on a unix-domain socket at `PATH` (mode 0666, as pmcd's; config server.unix_socket); clients there need no certificate", "s"),
		daemon.Int(&o.maxPDU, "largest PDU accepted from a client, in `BYTES`", "65536", "L"),
		daemon.Float(&o.timeout, "`SECONDS` a client has to finish sending a PDU", "5", "t"),
	), identityFlags(o), daemon.Category(catConfig,
		daemon.String(&o.memoryLimit, "soft limit on the memory the Go runtime manages, `SIZE` such as 20MiB, or off (default $GOMEMLIMIT, else 16MiB; config server.memory_limit): collection runs more often near it, trading CPU for memory", "memory-limit"),
		daemon.Bool(&o.CheckConfig, "load the configuration and the certificates, report, and exit", "check-config"),
		daemon.Choice(&o.LogFormat, []string{"text", "json"}, "log `FORMAT`: text or json (default text)", "log-format"),
		daemon.Choice(&o.LogLevel, []string{"debug", "info", "warn", "error"}, "log `LEVEL`: debug, info, warn or error (default info)", "log-level"),
		daemon.Choices(&o.Debug, append(slices.Clone(debugClasses), "all"), "debug `CLASSES`, comma separated: tls (handshakes, client certificates), pdu (each PDU type and length in and out), all", "D"),
		daemon.Bool(&o.Version, "print the version and commit, and exit", "version"),
	))
}

// newProgram is collectord's command line for one run; serve is the daemon.
func newProgram(stdout, stderr io.Writer, serve func(o *options) int) *daemon.Program {
	o := &options{}
	p := &daemon.Program{
		Name: "collectord", Section: "8",
		Summary:  "the gopcp metrics collector, a PCP pmcd analogue",
		Synopsis: []string{"collectord [options]", "collectord verify --secure [options]", "collectord completion bash"},
		Intro:    "Serve Linux kernel metrics over the PCP protocol (a pmcd analogue).",
		Flags:    flags(o),
		Common:   &o.Common,
		Sections: []daemon.Section{{Title: "Signals", Text: `  SIGHUP           reload the configuration file and the certificates; a broken
                   file keeps the last good configuration (the log says why).
                   Certificate files are also checked for changes every 2s.
  SIGTERM, SIGINT  stop accepting, finish in-flight requests (up to 10s), exit

Under systemd (Type=notify) READY=1 is sent once the listeners are bound and the
certificates loaded; sockets from a .socket unit (LISTEN_FDS) replace -p and -i.`}},
		Examples: `  collectord -p 44321
  collectord -C /etc/gopcp/certdb -M "PCP Collector certificate" -Q
  collectord --config /etc/gopcp/collectord.toml --check-config
  collectord -D tls,pdu --log-level debug`,
		Exit:   "Exit status: 0 clean shutdown, 1 runtime failure, 2 usage or configuration error.",
		Action: func(*urfave.Context) error { return daemon.Status(serve(o)) },
	}
	p.Commands = []*daemon.Command{verifyCommand(stdout, stderr), p.CompletionCommand(stdout, stderr)}
	return p
}

// verifyCommand is collectord verify: its flags here, its checks in verify.go.
func verifyCommand(stdout, stderr io.Writer) *daemon.Command {
	vo := &verifyOptions{opts: &options{}}
	return &daemon.Command{
		Name: "verify", Usage: "check this host's secure set-up and the running collector (--secure)",
		Synopsis: []string{"collectord verify --secure [options]"},
		Intro: `Check this host's secure collector set-up, as 'pcp verify --secure' does: the
configuration (file and flags, as collectord would read them), the certificate
store or tls.conf, the server certificate and its key, and then a TLS connection
to the running collector over loopback with a fetch of hinv.ncpu.

Each check prints one line, PASS, WARN or FAIL, with what to do for WARN and
FAIL; "; fix: COMMAND" ends the line when one command does the next step, and
runs as printed. The certificate checks are those of 'certdb check'. A
certificate without any subjectAltName (as 'openssl x509 -req' makes them) is
matched against its common name, as NSS and OpenSSL clients do, with a warning.
Run it as the collector's user (sudo -u gopcp collectord verify --secure) so the
store is read with the daemon's rights.

-p and -i name the collector to connect to (default: the configured port, over
loopback); -Q checks as if collectord ran with -Q.`,
		Flags: slices.Concat([]urfave.Flag{
			daemon.Bool(&vo.secure, "check the TLS set-up (required; the only mode)", "secure"),
		}, listenFlags(vo.opts), identityFlags(vo.opts), daemon.Category("Connection",
			daemon.File(&vo.clientStore, "client store `DIR` for the connection (default $PCP_SECURE_DB_PATH, else ~/.pki/gopcp): it must trust the collector's CA (C) and, with -Q, hold a client certificate. Without a store, the tls.conf of $PCP_TLSCONF_PATH or --tls-conf is used, as PCP 6 clients use it (CA file, client certificate)", "client-store"),
			daemon.File(&vo.clientPWFile, "the client store's password `FILE` (default $PCP_SECURE_DB_PASSWORD_FILE)", "client-password-file"),
			daemon.String(&vo.clientNick, "client certificate to present, `NICKNAME` (default $PCP_SECURE_CLIENT_NICKNAME)", "client-nickname"),
			&urfave.Float64Flag{Name: "timeout", Usage: "connection and request timeout in `SECONDS`", Value: 5, Destination: &vo.timeout, DefaultText: "5"},
		)),
		Tail: `Examples:
  collectord verify --secure
  collectord verify --secure --config /etc/gopcp/collectord.toml --client-store /etc/gopcp/certs/client
  collectord verify --secure -C /etc/gopcp/certs/server -M "PCP Collector certificate" -p 44321

Exit status: 0 every check passed (warnings allowed), 1 a check failed, 2 usage error.`,
		Action: func(cc *urfave.Context) error {
			if cc.Args().Present() {
				fmt.Fprintf(stderr, "collectord verify: unexpected argument %q\nRun 'collectord verify --help' for usage.\n", cc.Args().First())
				return daemon.ExitStatus(daemon.ExitUsage)
			}
			vo.opts.Record(cc)
			return daemon.Status(runVerify(vo, stdout, stderr))
		},
	}
}

// parseFlags parses a daemon command line without running anything (tests).
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	var got *options
	p := newProgram(io.Discard, stderr, func(o *options) int { got = o; return 0 })
	if rc := daemon.Run(p.NewApp(io.Discard, stderr), args, stderr); rc != 0 || got == nil {
		return nil, fmt.Errorf("collectord %s: not a daemon command line (exit status %d)", strings.Join(args, " "), rc)
	}
	return got, nil
}

// merge applies the flags given on the command line over the file's values.
func (o *options) merge(c *Config) {
	o.Common.Merge(daemon.Targets{
		Port: &c.Server.Port, Address: &c.Server.Address,
		CertDB: &c.TLS.CertDB, Nickname: &c.TLS.Nickname, PasswordFile: &c.TLS.PasswordFile,
		RequireClientCert: &c.TLS.RequireClientCert, TLSConf: &c.TLS.TLSConf,
		LogFormat: &c.Log.Format, LogLevel: &c.Log.Level, Debug: &c.Log.Debug,
	})
	if !o.Given("tls-conf") && c.TLS.TLSConf == "" && c.TLS.CertDB == "" && c.TLS.Keystore == "" {
		// PCP_TLSCONF_PATH (--tls-conf's variable) is the identity only when
		// the file names none.
		c.TLS.TLSConf = o.TLSConf
	}
	if o.Given("s") {
		c.Server.UnixSocket = o.unixSocket
	}
	if o.Given("L") {
		c.Server.MaxPDUSize = o.maxPDU
	}
	if o.Given("t") {
		c.Server.RequestTimeout.Duration = time.Duration(o.timeout * float64(time.Second))
	}
	if o.Given("memory-limit") {
		// Checked by loadConfig before merging.
		n, _ := parseByteSize(o.memoryLimit)
		c.Server.MemoryLimit, c.Server.memoryLimitSet = ByteSize(n), true
	}
	if c.Server.Port == 0 {
		c.Server.Port = protocol.DefaultPort
	}
}

// configPath is the file to read and whether it must exist.
func (o *options) configPath() (string, bool) { return o.ConfigFile(DefaultConfigPath) }

// loadConfig reads the file (if any) and applies the flags.
func loadConfig(o *options) (Config, error) {
	c, err := readConfig(o.configPath())
	if err != nil {
		return c, err
	}
	if o.Given("memory-limit") {
		if _, err := parseByteSize(o.memoryLimit); err != nil {
			return c, fmt.Errorf("--memory-limit: %w", err)
		}
	}
	o.merge(&c)
	if err := c.Validate(); err != nil {
		if path, _ := o.configPath(); fileExists(path) {
			return c, fmt.Errorf("%w (in %s or the flags)", err, path)
		}
		return c, err
	}
	return c, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func versionString() string { return version.String("collectord", Version, Commit) }

// run is collectord: main calls it with the process's arguments and streams,
// tests call it in-process. It returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	p := newProgram(stdout, stderr, func(o *options) int { return serve(o, stdout, stderr) })
	return daemon.Run(p.NewApp(stdout, stderr), args, stderr)
}

// serve is the daemon: configuration, listeners, the signal loop.
func serve(o *options, stdout, stderr io.Writer) int {
	// Signals are caught before the configuration is read, so that a SIGHUP
	// sent while starting is applied once running rather than fatal. (Not
	// before the flags are parsed: verify and completion keep the default
	// actions, so ^C stops them.)
	hup, ctx, stop := daemon.Signals()
	defer stop()
	if o.Version {
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "collectord: %v\n", err)
		return 2
	}
	logs := newLogControl(stderr, cfg.Log)
	log := logs.Logger()
	rl, err := newReloader(o, cfg, logs)
	if err != nil {
		fmt.Fprintf(stderr, "collectord: %v\n", err)
		return 2
	}
	if o.CheckConfig {
		return checkConfig(o, rl, stdout)
	}
	srv := &server.Server{TLSConfig: rl.TLSConfig, Logger: log}
	srv.Update(serverSettings(cfg))
	env := startLimit(os.Getenv("GOMEMLIMIT"))
	limit, source := applyMemoryLimit(cfg.Server, env)
	rl.OnApply = func(c Config) {
		srv.Update(serverSettings(c))
		if l, src := applyMemoryLimit(c.Server, env); l != limit {
			limit = l
			log.Info("memory limit changed", "memory_limit", describeLimit(l, src))
		}
	}
	srv.ReloadStats = func() (ok, failed uint64) { return rl.Stats().Count(), rl.Stats().Failures() }
	reg, err := metrics.New(metrics.Options{
		ProcRoot: cfg.Metrics.ProcRoot, SysRoot: cfg.Metrics.SysRoot,
		EtcRoot: cfg.Metrics.EtcRoot, RootFS: cfg.Metrics.RootFS,
		Version: Version, Self: srv.Self(),
	})
	if err != nil {
		fmt.Fprintf(stderr, "collectord: %v\n", err)
		return 1
	}
	srv.Registry = reg

	lns, err := systemd.ListenWith(server.ListenConfig(), cfg.Server.Address, cfg.Server.Port, log)
	if err != nil {
		fmt.Fprintf(stderr, "collectord: %v\n", err)
		return 1
	}
	if cfg.Server.UnixSocket != "" {
		uln, err := server.ListenUnix(cfg.Server.UnixSocket)
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			fmt.Fprintf(stderr, "collectord: %v\n", err)
			return 1
		}
		lns = append(lns, uln)
	}
	srv.PDUTrace = pduTracer(logs)
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, len(lns))
	var addrs []string
	for _, ln := range lns {
		addrs = append(addrs, ln.Addr().String())
		log.Info("collectord listening", "addr", ln.Addr().String(), "secure", cfg.TLS.Enabled(),
			"require_client_cert", cfg.TLS.RequireClientCert, "memory_limit", describeLimit(limit, source), "version", Version)
		go func(ln net.Listener) { errc <- srv.Serve(sctx, ln) }(ln)
	}
	go rl.Watch(sctx, cfg.Reload.Interval())
	go systemd.Watchdog(sctx, log)
	// The loop reloads on SIGHUP only (a changed certificate file reloads through
	// rl.Watch), so each call is one for pmcd.sighups. A store into
	// pmcd.control.sighup raises SIGHUP, as pmcd does, so it takes the same path.
	srv.SetSIGHUPHook(func() { syscall.Kill(os.Getpid(), syscall.SIGHUP) })
	loop := daemon.Loop{Log: log, Status: "serving on " + strings.Join(addrs, " "),
		Reload: func(reason string) error { srv.CountSIGHUP(); return rl.Reload(reason) }, Hup: hup, Errc: errc}
	code := 0
	if err := loop.Run(ctx); err != nil {
		code = 1
	} else {
		log.Info("collectord shutting down")
	}
	shutdown(srv, cancel)
	return code
}

// serverSettings are the server's live settings from a configuration.
func serverSettings(c Config) server.Settings {
	return server.Settings{
		RequireClientCert: c.TLS.RequireClientCert,
		MaxPDUSize:        c.Server.MaxPDUSize,
		MaxClients:        c.Server.MaxClients,
		MaxClientsPerAddr: c.Server.MaxClientsPerAddr,
		MaxHandshakes:     c.Server.MaxHandshakes,
		RequestTimeout:    c.Server.RequestTimeout.Duration,
		IdleTimeout:       c.Server.IdleTimeout.Duration,
		HandshakeTimeout:  c.Server.HandshakeTimeout.Duration,
	}
}

// shutdown stops accepting and waits for in-flight requests (the loop has sent
// STOPPING=1).
func shutdown(srv *server.Server, cancel context.CancelFunc) {
	sctx, stop := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer stop()
	srv.Shutdown(sctx)
	cancel()
}

// checkConfig reports what --check-config loaded.
func checkConfig(o *options, rl *Reloader, stdout io.Writer) int {
	path, required := o.configPath()
	if _, err := os.Stat(path); err != nil && !required {
		path = "none (flags and defaults)"
	}
	fmt.Fprintln(stdout, "collectord: configuration OK")
	fmt.Fprintf(stdout, "  config file: %s\n", path)
	g := rl.current()
	fmt.Fprintf(stdout, "  port: %d\n", g.cfg.Server.Port)
	l, src := memoryLimit(g.cfg.Server, startLimit(os.Getenv("GOMEMLIMIT")))
	fmt.Fprintf(stdout, "  memory limit: %s\n", describeLimit(l, src))
	if g.tls == nil {
		fmt.Fprintln(stdout, "  TLS: off (no -C/-M, tls_conf or keystore)")
	} else {
		fmt.Fprintf(stdout, "  TLS: %s, subject %s, expires %s, sha256 %s\n", g.tls.source, g.tls.leaf.Subject,
			g.tls.leaf.NotAfter.UTC().Format(time.RFC3339), tlsconfig.Fingerprint(g.tls.leaf))
		fmt.Fprintf(stdout, "  client certificates required (-Q): %v\n", g.cfg.TLS.RequireClientCert)
	}
	return 0
}
