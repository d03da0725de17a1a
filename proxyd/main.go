// Command proxyd is the gopcp proxy, a pmproxy analogue: on one port it relays PCP
// clients to collectors (the "pmproxy-client 1" prelude that pminfo -h HOST@PROXY
// and PMPROXY_HOST use), serves the PCP web API (/pmapi/...) and Prometheus
// /metrics over HTTP, and accepts TLS first (HTTPS, or the relay inside TLS).
package main

import (
	"context"
	"crypto/tls"
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

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/gopcp/gopcp/internal/tomlconfig"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/relay"
	"github.com/gopcp/gopcp/proxyd/server"
	"github.com/gopcp/gopcp/tlsconfig"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0"

// DefaultShutdownTimeout bounds the graceful shutdown on SIGTERM.
const DefaultShutdownTimeout = 10 * time.Second

const usage = `Usage: proxyd [options]

Relay PCP clients to collectors, and serve the PCP web API and Prometheus
/metrics, all on one port (a pmproxy analogue). The first bytes of each
connection choose the protocol: "pmproxy-client 1" is the PCP relay (used by
pminfo -h COLLECTOR@PROXY and by PMPROXY_HOST), an HTTP method is HTTP, and a
TLS handshake is TLS (with a certificate configured), inside which HTTPS or the
relay follow. Relayed bytes are not interpreted: a client's TLS upgrade runs end
to end with the collector, which sees the client's own certificate.

Which collectors: proxyd connects only to loopback addresses and to the
collectors allowed by --allow, [upstream] allow and [[collector]] entries of the
configuration; it is not an open relay. Host names are resolved and every
address is checked. Refused relay clients are disconnected; refused HTTP
requests get 403.

Options:
  -p PORT            port (default 44322, or $PMPROXY_PORT; config server.port)
  -i ADDRESS         bind address, repeatable or comma separated (default all
                     interfaces; $PMPROXY_LOCAL=1 binds loopback only)
  --allow HOST       also allow collectors at HOST: an address, a CIDR prefix or
                     a host name, optionally with :PORT ([v6]:PORT); repeatable
  --no-loopback      do not allow loopback collectors unless listed
  -C DIR             certificate store (certdb) holding proxyd's identity, for
                     TLS clients (HTTPS, relay over TLS)
  -M NICKNAME        nickname of proxyd's certificate in the store
  -P FILE            file holding the store's password (default: empty password)
  -Q                 require a verified client certificate: TLS clients must
                     present one, and plain connections are refused except
                     from loopback (as pmcd -Q exempts local clients)
  --tls-conf FILE    PCP 6 tls.conf instead of a store
  --config FILE      TOML configuration (default /etc/gopcp/proxyd.toml if present)
  --check-config     validate the configuration and exit
  --log-format F     text or json (default text)
  --log-level L      debug, info, warn or error (default info)
  --version          print the version and exit

HTTP endpoints (GET; hostspec=HOST[:PORT] names the collector, default localhost;
context=N or /pmapi/N/... reuses a context from /pmapi/context):
  /pmapi/context     context number, source hash, host name and labels
  /pmapi/metric      metadata: names=, name= or prefix= (subtrees expanded)
  /pmapi/fetch       values: names=, name=, pmids= or pmid=
  /pmapi/indom       instances: indom= or name=; instance=, iname=, match=
  /pmapi/children    namespace children: prefix= or name=
  /metrics           Prometheus text of every numeric metric (names= to narrow)

Examples:
  proxyd -p 44322
  pminfo -h 127.0.0.1:44321@localhost:44322 -f kernel.all.load
  PMPROXY_HOST=localhost pminfo -h 127.0.0.1 -f hinv.ncpu
  curl 'http://localhost:44322/pmapi/fetch?hostspec=127.0.0.1:44321&names=kernel.all.load'
  curl 'http://localhost:44322/metrics?hostspec=127.0.0.1:44321&names=kernel.all'
  proxyd -C /etc/gopcp/certdb -M proxyd -Q --allow 10.0.0.0/8 --allow db1.example.com:44321

Exit status: 0 clean shutdown (SIGTERM, SIGINT) or help, 1 runtime failure (a
port that cannot be bound), 2 usage or configuration error.
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
	help        bool
	port        int
	addrs       listFlag
	allow       listFlag
	noLoopback  bool
	certDB      string
	nickname    string
	passFile    string
	requireCert bool
	tlsConf     string
	logFormat   string
	logLevel    string
	set         map[string]bool
}

func parseFlags(args []string) (*options, error) {
	o := &options{set: map[string]bool{}}
	fs := flag.NewFlagSet("proxyd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.cfgPath, "config", "", "")
	fs.BoolVar(&o.checkConfig, "check-config", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.BoolVar(&o.help, "help", false, "")
	fs.BoolVar(&o.help, "h", false, "")
	fs.IntVar(&o.port, "p", 0, "")
	fs.Var(&o.addrs, "i", "")
	fs.Var(&o.allow, "allow", "")
	fs.BoolVar(&o.noLoopback, "no-loopback", false, "")
	fs.StringVar(&o.certDB, "C", "", "")
	fs.StringVar(&o.nickname, "M", "", "")
	fs.StringVar(&o.passFile, "P", "", "")
	fs.BoolVar(&o.requireCert, "Q", false, "")
	fs.StringVar(&o.tlsConf, "tls-conf", "", "")
	fs.StringVar(&o.logFormat, "log-format", "", "")
	fs.StringVar(&o.logLevel, "log-level", "", "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if o.set["p"] && (o.port < 0 || o.port > 65535) {
		return nil, fmt.Errorf("-p %d: not a port", o.port)
	}
	return o, nil
}

// merge applies the flags given on the command line (and the environment) over
// the file's values.
func (o *options) merge(c *Config) {
	if o.set["p"] {
		c.Server.Port = o.port
	} else if c.Server.Port == 0 {
		c.Server.Port = DefaultPort
		if v, err := strconv.Atoi(os.Getenv("PMPROXY_PORT")); err == nil && v > 0 && v <= 65535 {
			c.Server.Port = v
		}
	}
	if o.set["i"] {
		c.Server.Address = o.addrs
	} else if len(c.Server.Address) == 0 && os.Getenv("PMPROXY_LOCAL") == "1" {
		c.Server.Address = []string{"127.0.0.1", "::1"}
	}
	c.Upstream.Allow = append(c.Upstream.Allow, o.allow...)
	if o.noLoopback {
		f := false
		c.Upstream.AllowLoopback = &f
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
	}
	if o.set["log-format"] {
		c.Log.Format = o.logFormat
	}
	if o.set["log-level"] {
		c.Log.Level = o.logLevel
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

// buildTLS loads proxyd's identity, or returns nil when none is configured.
func buildTLS(c TLSConfig) (*tls.Config, error) {
	if c.CertDB == "" && c.TLSConf == "" {
		return nil, nil
	}
	return tlsconfig.Server(tlsconfig.ServerOptions{
		Store: c.CertDB, Nickname: c.Nickname, PasswordFile: c.PasswordFile,
		TLSConf: c.TLSConf, RequireClientCert: c.RequireClientCert,
	})
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return runContext(ctx, args, stdout, stderr, nil)
}

// runContext is run until ctx ends; ready (if not nil) gets the bound addresses.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer, ready func([]net.Addr)) int {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "proxyd: %v\nRun 'proxyd -h' for usage.\n", err)
		return 2
	}
	if o.help {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if o.version {
		fmt.Fprintf(stdout, "proxyd %s\n", Version)
		return 0
	}
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "proxyd: %v\n", err)
		return 2
	}
	tlsCfg, err := buildTLS(cfg.TLS)
	if err != nil {
		fmt.Fprintf(stderr, "proxyd: TLS identity: %v\n", err)
		return 2
	}
	policy, err := cfg.policy()
	if err != nil {
		fmt.Fprintf(stderr, "proxyd: %v\n", err)
		return 2
	}
	if o.checkConfig {
		fmt.Fprintln(stdout, "proxyd: configuration OK")
		return 0
	}
	// proxyd reaches collectors itself: a PMPROXY_HOST in its environment would
	// send its own REST connections through another proxy (or itself).
	os.Unsetenv("PMPROXY_HOST")

	log := newLogger(cfg.Log, stderr)
	if tlsCfg != nil {
		log.Info("TLS identity loaded", "subject", tlsCfg.Certificates[0].Leaf.Subject.String(),
			"sha256", tlsconfig.Fingerprint(tlsCfg.Certificates[0].Leaf), "require_client_cert", cfg.TLS.RequireClientCert)
	}
	sc := cfg.Server
	api := httpapi.New(httpapi.Config{
		Policy:          policy,
		Clients:         cfg.clients(),
		DefaultHostspec: cfg.Upstream.DefaultHostspec,
		RequestTimeout:  sc.RequestTimeout.Duration,
		ConnectTimeout:  cfg.Upstream.ConnectTimeout.Duration,
		MetadataTTL:     cfg.Upstream.MetadataTTL.Duration,
		MaxBodyBytes:    sc.MaxBodyBytes,
		Logger:          log,
	})
	defer api.Close()
	rl := &relay.Relay{
		Policy:         policy,
		PreludeTimeout: sc.HandshakeTimeout.Duration,
		ConnectTimeout: cfg.Upstream.ConnectTimeout.Duration,
		IdleTimeout:    sc.RelayIdleTimeout.Duration,
		Logger:         log,
	}
	srv := &server.Server{
		HTTP:              api,
		Relay:             rl,
		TLSConfig:         tlsCfg,
		RequireClientCert: cfg.TLS.RequireClientCert,
		MaxConnections:    sc.MaxConnections,
		HandshakeTimeout:  sc.HandshakeTimeout.Duration,
		ReadHeaderTimeout: sc.ReadHeaderTimeout.Duration,
		IdleTimeout:       sc.IdleTimeout.Duration,
		WriteTimeout:      sc.WriteTimeout.Duration,
		MaxHeaderBytes:    sc.MaxHeaderBytes,
		Logger:            log,
	}

	addrs := sc.Address
	if len(addrs) == 0 {
		addrs = []string{""}
	}
	var lns []net.Listener
	var bound []net.Addr
	for _, a := range addrs {
		ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(sc.Port)))
		if err != nil {
			fmt.Fprintf(stderr, "proxyd: cannot listen: %v\n", err)
			for _, l := range lns {
				l.Close()
			}
			return 1
		}
		lns = append(lns, ln)
		bound = append(bound, ln.Addr())
	}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		log.Info("proxyd listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil,
			"allow_loopback", policy.AllowLoopback(), "allow", strings.Join(cfg.Upstream.Allow, ","))
		go func(ln net.Listener) { errc <- srv.Serve(ln) }(ln)
	}
	daemon.SdNotify(false, daemon.SdNotifyReady)
	if ready != nil {
		ready(bound)
	}
	code := 0
	select {
	case <-ctx.Done():
	case err := <-errc:
		log.Error("serve failed", "err", err)
		code = 1
	}
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	log.Info("proxyd shutting down", "relay_sessions", rl.Sessions(), "connections", srv.Connections())
	grace := sc.ShutdownTimeout.Duration
	if grace == 0 {
		grace = DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown: connections closed at the deadline", "err", err)
	}
	log.Info("proxyd stopped")
	return code
}
