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
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/systemd"
	"github.com/gopcp/gopcp/internal/tomlconfig"
	"github.com/gopcp/gopcp/internal/version"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/tlsconfig"
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

const usage = `Usage: collectord [options]
       collectord verify --secure [options]
       collectord completion bash

Serve Linux kernel metrics over the PCP protocol (a pmcd analogue).

Options:
  -p PORT          TCP port (default 44321; config server.port)
  -i ADDRESS       bind address, repeatable or comma separated (default all interfaces)
  -C DIR           certificate store holding the server identity (certdb)
  -M NICKNAME      nickname of the server certificate in the store
  -P FILE          file holding the store's password (default: empty password)
  -Q               require TLS with a verified client certificate from every TCP
                   client, loopback included; only -s clients are exempt
  -s PATH          also listen on a unix-domain socket (mode 0666, as pmcd's;
                   config server.unix_socket); clients there need no certificate
  --tls-conf FILE  PCP 6 tls.conf instead of a store (also PCP_TLSCONF_PATH)
  -L BYTES         largest PDU accepted from a client (default 65536)
  -t SECONDS       time a client has to finish sending a PDU (default 5)
  --config FILE    TOML configuration (default /etc/gopcp/collectord.toml if present)
  --check-config   load the configuration and the certificates, report, and exit
  --log-format F   text or json (default text)
  --log-level L    debug, info, warn or error (default info)
  -D CLASSES       debug classes, comma separated: tls (handshakes, client
                   certificates), pdu (each PDU type and length in and out), all
  --version        print the version and commit, and exit

Commands:
  verify --secure  check this host's secure set-up and the running collector
                   (run 'collectord verify --help')
  completion bash  print a bash completion script

Signals:
  SIGHUP           reload the configuration file and the certificates; a broken
                   file keeps the last good configuration (the log says why).
                   Certificate files are also checked for changes every 2s.
  SIGTERM, SIGINT  stop accepting, finish in-flight requests (up to 10s), exit

Under systemd (Type=notify) READY=1 is sent once the listeners are bound and the
certificates loaded; sockets from a .socket unit (LISTEN_FDS) replace -p and -i.

Examples:
  collectord -p 44321
  collectord -C /etc/gopcp/certdb -M "PCP Collector certificate" -Q
  collectord --config /etc/gopcp/collectord.toml --check-config
  collectord -D tls,pdu --log-level debug

Exit status: 0 clean shutdown, 1 runtime failure, 2 usage or configuration error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// listFlag collects repeatable, comma separated values.
type listFlag = tomlconfig.ListFlag

// options are the parsed flags; set records which were given, so they override the file.
type options struct {
	cfgPath     string
	checkConfig bool
	version     bool
	port        int
	addrs       listFlag
	certDB      string
	nickname    string
	passFile    string
	requireCert bool
	tlsConf     string
	unixSocket  string
	maxPDU      int
	timeout     float64
	logFormat   string
	logLevel    string
	debug       listFlag
	set         map[string]bool
}

// flagSpec describes a flag for the help check and the completion script.
type flagSpec struct {
	name string
	arg  string // completion of its value: "file", "dir", "" (free text), or words
}

// identityFlags defines the flags that select the configuration and the server
// identity; collectord and collectord verify share them.
func identityFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.cfgPath, "config", "", "TOML configuration file")
	fs.IntVar(&o.port, "p", 0, "TCP port")
	fs.Var(&o.addrs, "i", "address")
	fs.StringVar(&o.certDB, "C", "", "certificate store")
	fs.StringVar(&o.nickname, "M", "", "server certificate nickname")
	fs.StringVar(&o.passFile, "P", "", "store password file")
	fs.BoolVar(&o.requireCert, "Q", false, "require client certificates")
	fs.StringVar(&o.tlsConf, "tls-conf", "", "PCP tls.conf")
}

func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("collectord", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	identityFlags(fs, o)
	fs.BoolVar(&o.checkConfig, "check-config", false, "validate and exit")
	fs.BoolVar(&o.version, "version", false, "print the version")
	fs.StringVar(&o.unixSocket, "s", "", "unix socket path")
	fs.IntVar(&o.maxPDU, "L", 0, "largest PDU")
	fs.Float64Var(&o.timeout, "t", 0, "request timeout")
	fs.StringVar(&o.logFormat, "log-format", "", "log format")
	fs.StringVar(&o.logLevel, "log-level", "", "log level")
	fs.Var(&o.debug, "D", "debug classes")
	return fs
}

// flagArgs says how the completion script completes each flag's value.
var flagArgs = map[string]string{
	"config": "file", "C": "dir", "P": "file", "tls-conf": "file", "s": "file",
	"log-format": "text json", "log-level": "debug info warn error",
	"D": "tls pdu all", "i": "", "p": "", "M": "", "L": "", "t": "",
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{set: map[string]bool{}}
	fs := newFlagSet(o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, usage)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	return o, nil
}

// merge applies the flags given on the command line over the file's values.
func (o *options) merge(c *Config) {
	if o.set["p"] {
		c.Server.Port = o.port
	}
	if o.set["i"] {
		c.Server.Address = o.addrs
	}
	if o.set["C"] {
		c.TLS.CertDB = strings.TrimPrefix(o.certDB, "sql:")
	}
	c.TLS.CertDB = strings.TrimPrefix(c.TLS.CertDB, "sql:")
	if o.set["M"] {
		c.TLS.Nickname = o.nickname
	}
	if o.set["P"] {
		c.TLS.PasswordFile = o.passFile
	}
	if o.set["Q"] {
		c.TLS.RequireClientCert = o.requireCert
	}
	if o.set["tls-conf"] {
		c.TLS.TLSConf = o.tlsConf
	} else if c.TLS.TLSConf == "" && c.TLS.CertDB == "" && c.TLS.Keystore == "" {
		// PCP_TLSCONF_PATH is the identity only when the file names none.
		c.TLS.TLSConf = os.Getenv(tlsconfig.EnvTLSConf)
	}
	if o.set["s"] {
		c.Server.UnixSocket = o.unixSocket
	}
	if o.set["L"] {
		c.Server.MaxPDUSize = o.maxPDU
	}
	if o.set["t"] {
		c.Server.RequestTimeout.Duration = time.Duration(o.timeout * float64(time.Second))
	}
	if o.set["log-format"] {
		c.Log.Format = o.logFormat
	}
	if o.set["log-level"] {
		c.Log.Level = o.logLevel
	}
	if o.set["D"] {
		c.Log.Debug = o.debug
	}
	if c.Server.Port == 0 {
		c.Server.Port = protocol.DefaultPort
	}
}

// configPath is the file to read and whether it must exist.
func (o *options) configPath() (string, bool) {
	if o.cfgPath == "" {
		return DefaultConfigPath, false
	}
	return o.cfgPath, true
}

// loadConfig reads the file (if any) and applies the flags.
func loadConfig(o *options) (Config, error) {
	c, err := readConfig(o.configPath())
	if err != nil {
		return c, err
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

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "verify":
			return runVerify(args[1:], stdout, stderr)
		case "completion":
			return runCompletion(args[1:], stdout, stderr)
		}
	}
	// SIGHUP's default action ends the process: catch it before anything else, so a
	// reload sent while starting is not fatal (it is applied once running).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(term)

	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "collectord: %v\n%s", err, "Run 'collectord -h' for usage.\n")
		return 2
	}
	if o.version {
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
	if o.checkConfig {
		return checkConfig(o, rl, stdout)
	}
	srv := &server.Server{TLSConfig: rl.TLSConfig, Logger: log}
	srv.Update(serverSettings(cfg))
	rl.OnApply = func(c Config) { srv.Update(serverSettings(c)) }
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

	lns, err := systemd.Listen(cfg.Server.Address, cfg.Server.Port, log)
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, len(lns))
	var addrs []string
	for _, ln := range lns {
		addrs = append(addrs, ln.Addr().String())
		log.Info("collectord listening", "addr", ln.Addr().String(), "secure", cfg.TLS.Enabled(),
			"require_client_cert", cfg.TLS.RequireClientCert, "version", Version)
		go func(ln net.Listener) { errc <- srv.Serve(ctx, ln) }(ln)
	}
	go rl.Watch(ctx, cfg.Reload.Interval())
	go systemd.Watchdog(ctx, log)
	status := "serving on " + strings.Join(addrs, " ")
	systemd.Ready(log, status)

	for {
		select {
		case <-hup:
			systemd.Reloading(log)
			msg := "reloaded; " + status
			if err := rl.Reload("SIGHUP"); err != nil {
				msg = "reload failed, last good configuration kept: " + err.Error()
			}
			systemd.Ready(log, msg)
		case s := <-term:
			log.Info("collectord shutting down", "signal", s.String())
			return shutdown(srv, log, cancel)
		case err := <-errc:
			if err != nil {
				log.Error("serve failed", "err", err)
				shutdown(srv, log, cancel)
				return 1
			}
		}
	}
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

// shutdown stops accepting and waits for in-flight requests.
func shutdown(srv *server.Server, log *slog.Logger, cancel context.CancelFunc) int {
	systemd.Stopping(log)
	sctx, stop := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer stop()
	srv.Shutdown(sctx)
	cancel()
	return 0
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
	if g.tls == nil {
		fmt.Fprintln(stdout, "  TLS: off (no -C/-M or tls_conf)")
	} else {
		fmt.Fprintf(stdout, "  TLS: %s, subject %s, expires %s, sha256 %s\n", g.tls.source, g.tls.leaf.Subject,
			g.tls.leaf.NotAfter.UTC().Format(time.RFC3339), tlsconfig.Fingerprint(g.tls.leaf))
		fmt.Fprintf(stdout, "  client certificates required (-Q): %v\n", g.cfg.TLS.RequireClientCert)
	}
	return 0
}
