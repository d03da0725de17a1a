// Command collectord is the gopcp metrics collector: a pmcd analogue serving Linux
// kernel metrics over PCP's binary protocol on TCP 44321, with an optional TLS upgrade
// on the same socket and, with -Q, mandatory client certificates for remote clients.
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/protocol"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0"

const usage = `Usage: collectord [options]

Serve Linux kernel metrics over the PCP protocol (a pmcd analogue).

Options:
  -p PORT          TCP port (default 44321; config server.port)
  -i ADDRESS       bind address, repeatable or comma separated (default all interfaces)
  -C DIR           certificate store holding the server identity (certdb)
  -M NICKNAME      nickname of the server certificate in the store
  -P FILE          file holding the store's password (default: empty password)
  -Q               require a verified client certificate from remote clients
  --tls-conf FILE  PCP 6 tls.conf instead of a store (also PCP_TLSCONF_PATH)
  -L BYTES         largest PDU accepted from a client (default 65536)
  -t SECONDS       time a client has to finish sending a PDU (default 5)
  --config FILE    TOML configuration (default /etc/gopcp/collectord.toml if present)
  --check-config   validate the configuration and exit
  --log-format F   text or json (default text)
  --log-level L    debug, info, warn or error (default info)
  --version        print the version and exit

Examples:
  collectord -p 44321
  collectord -C /etc/gopcp/certdb -M "PCP Collector certificate" -Q

Exit status: 0 clean shutdown, 1 runtime failure, 2 usage or configuration error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// listFlag collects repeatable, comma separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

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
	maxPDU      int
	timeout     float64
	logFormat   string
	logLevel    string
	set         map[string]bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{set: map[string]bool{}}
	fs := flag.NewFlagSet("collectord", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.cfgPath, "config", "", "")
	fs.BoolVar(&o.checkConfig, "check-config", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.IntVar(&o.port, "p", 0, "")
	fs.Var(&o.addrs, "i", "")
	fs.StringVar(&o.certDB, "C", "", "")
	fs.StringVar(&o.nickname, "M", "", "")
	fs.StringVar(&o.passFile, "P", "", "")
	fs.BoolVar(&o.requireCert, "Q", false, "")
	fs.StringVar(&o.tlsConf, "tls-conf", "", "")
	fs.IntVar(&o.maxPDU, "L", 0, "")
	fs.Float64Var(&o.timeout, "t", 0, "")
	fs.StringVar(&o.logFormat, "log-format", "", "")
	fs.StringVar(&o.logLevel, "log-level", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, usage)
			return nil, err
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
	} else if c.TLS.TLSConf == "" && c.TLS.CertDB == "" {
		c.TLS.TLSConf = os.Getenv("PCP_TLSCONF_PATH")
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
	if c.Server.Port == 0 {
		c.Server.Port = protocol.DefaultPort
	}
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil || c.Level == "" {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loadConfig reads the file (if any) and applies the flags.
func loadConfig(o *options) (Config, error) {
	path, required := o.cfgPath, true
	if path == "" {
		path, required = DefaultConfigPath, false
	}
	c, err := LoadConfig(path, required)
	if err != nil {
		return c, err
	}
	o.merge(&c)
	return c, c.Validate()
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "collectord: %v\n%s", err, "Run 'collectord -h' for usage.\n")
		return 2
	}
	if o.version {
		fmt.Fprintf(stdout, "collectord %s\n", Version)
		return 0
	}
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "collectord: %v\n", err)
		return 2
	}
	log := newLogger(cfg.Log, stderr)
	tlsFn, err := buildTLS(cfg.TLS, log)
	if err != nil {
		fmt.Fprintf(stderr, "collectord: %v\n", err)
		return 2
	}
	if o.checkConfig {
		fmt.Fprintln(stdout, "collectord: configuration OK")
		return 0
	}
	srv := &server.Server{
		TLSConfig:         tlsFn,
		RequireClientCert: cfg.TLS.RequireClientCert,
		MaxPDUSize:        cfg.Server.MaxPDUSize,
		MaxClients:        cfg.Server.MaxClients,
		RequestTimeout:    cfg.Server.RequestTimeout.Duration,
		IdleTimeout:       cfg.Server.IdleTimeout.Duration,
		HandshakeTimeout:  cfg.Server.HandshakeTimeout.Duration,
		Logger:            log,
	}
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

	addrs := cfg.Server.Address
	if len(addrs) == 0 {
		addrs = []string{""}
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(cfg.Server.Port)))
		if err != nil {
			fmt.Fprintf(stderr, "collectord: cannot listen: %v\n", err)
			for _, l := range lns {
				l.Close()
			}
			return 1
		}
		lns = append(lns, ln)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		log.Info("collectord listening", "addr", ln.Addr().String(), "secure", tlsFn != nil, "require_client_cert", cfg.TLS.RequireClientCert)
		go func(ln net.Listener) { errc <- srv.Serve(context.Background(), ln) }(ln)
	}
	notifyReady(log)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			log.Error("serve failed", "err", err)
			return 1
		}
	}
	log.Info("collectord shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return 0
}
