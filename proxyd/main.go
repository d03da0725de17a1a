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
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopcp/gopcp/internal/logctl"
	"github.com/gopcp/gopcp/internal/systemd"
	"github.com/gopcp/gopcp/internal/tomlconfig"
	"github.com/gopcp/gopcp/internal/version"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/relay"
	"github.com/gopcp/gopcp/proxyd/server"
	"github.com/gopcp/gopcp/tlsconfig"
)

// Version and Commit are set at build time:
//
//	go build -ldflags "-X main.Version=1.2.3 -X main.Commit=$(git rev-parse --short HEAD)"
//
// Without Commit, the commit the toolchain recorded is shown.
var (
	Version = "0.1.0"
	Commit  = ""
)

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

Which collectors: proxyd connects only to loopback addresses on port 44321 and
to the collectors allowed by --allow, [upstream] allow and [[collector]] entries
of the configuration (another loopback port: --allow 127.0.0.1:PORT); proxyd is
not an open relay. Host names are resolved and every address is checked. It is
not a tunnel either: a relayed client's bytes go upstream only after proxyd has read
a valid PCP greeting from the collector. Refused relay clients are disconnected;
refused HTTP requests get 403.

proxyd presents its own upstream client certificate (REST, /metrics) only for
HTTP clients on loopback or authenticated to proxyd with a verified client
certificate, unless a [[collector]] entry says lend_identity = "always". A
hostspec= cannot ask for less security than configured (403).

Options:
  -p PORT            port (default 44322, or $PMPROXY_PORT; config server.port)
  -i ADDRESS         bind address, repeatable or comma separated (default all
                     interfaces; $PMPROXY_LOCAL=1 binds loopback only)
  --allow HOST       also allow collectors at HOST: an address, a CIDR prefix or
                     a host name, optionally with :PORT ([v6]:PORT); repeatable
  --no-loopback      do not allow loopback collectors (port 44321) unless listed
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
  -D CLASSES         debug classes, comma separated: tls (handshakes, client
                     certificates), http (one line per request), all
  --version          print the version and commit, and exit

HTTP endpoints (GET; hostspec=HOST[:PORT] names the collector, default localhost;
context=N or /pmapi/N/... reuses a context from /pmapi/context):
  /pmapi/context     context number, source hash, host name and labels
  /pmapi/metric      metadata: names=, name= or prefix= (subtrees expanded)
  /pmapi/fetch       values: names=, name=, pmids= or pmid=
  /pmapi/indom       instances: indom= or name=; instance=, iname=, match=
  /pmapi/children    namespace children: prefix= or name=
  /metrics           Prometheus text of every numeric metric (names= to narrow)
  /proxyd/metrics    proxyd's own metrics: reloads, reload failures, seconds
                     until its certificate expires, connections, sessions

Signals:
  SIGHUP             reload the configuration file and the certificates; a broken
                     file keeps the last good configuration (the log says which
                     file and why). Certificate files are also checked for changes
                     every 2s ([reload] watch_interval).
  SIGTERM, SIGINT    stop accepting, finish in-flight requests (shutdown_timeout),
                     exit

Under systemd (Type=notify) READY=1 is sent once the listeners are bound and the
certificate loaded; sockets from proxyd.socket (LISTEN_FDS) replace -p and -i.

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
	debug       listFlag
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
	fs.Var(&o.debug, "D", "")
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
	if o.set["D"] {
		c.Log.Debug = o.debug
	}
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

// buildTLS loads proxyd's identity, or returns nil when none is configured; log
// gets the CRL warnings, tlsLog the -D tls lines.
func buildTLS(c TLSConfig, log, tlsLog *slog.Logger) (*tls.Config, error) {
	if !c.enabled() {
		return nil, nil
	}
	cfg, err := tlsconfig.Server(tlsconfig.ServerOptions{
		Store: c.CertDB, Nickname: c.Nickname, PasswordFile: c.PasswordFile,
		TLSConf: c.TLSConf, RequireClientCert: c.RequireClientCert,
		CRLFiles: c.CRLFiles, Logger: log, Java: c.java(),
	})
	if err != nil {
		return nil, err
	}
	tlsconfig.Trace(cfg, tlsLog)
	return cfg, nil
}

// applyLog puts a configuration's log settings in force.
func applyLog(logs *logctl.Control, c LogConfig) {
	classes, _ := logctl.ParseClasses(c.Debug, debugClasses) // validated
	logs.Apply(c.Format, c.Level, classes)
}

// accessLog logs each HTTP request while the http class is on (-D http).
func accessLog(logs *logctl.Control, next http.Handler) http.Handler {
	log := logs.Class("http")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !logs.ClassOn("http") {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Debug("http", "peer", r.RemoteAddr, "tls", server.TLSState(r) != nil, "method", r.Method,
			"uri", r.URL.RequestURI(), "status", rec.status, "bytes", rec.bytes, "duration", time.Since(start).String())
	})
}

// statusRecorder notes a response's status and size for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flushes).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func run(args []string, stdout, stderr io.Writer) int {
	// SIGHUP's default action ends the process: catch it before anything else, so
	// a reload sent while starting is not fatal (it is applied once running).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return runContext(ctx, args, stdout, stderr, hooks{reload: hup})
}

// hooks connect runContext to its caller: reload receives SIGHUP (or a test's
// request), ready gets the bound addresses and the reloader once serving.
type hooks struct {
	reload <-chan os.Signal
	ready  func([]net.Addr, *Reloader)
}

// runContext is run until ctx ends.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
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
		fmt.Fprintln(stdout, version.String("proxyd", Version, Commit))
		return 0
	}
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "proxyd: %v\n", err)
		return 2
	}
	logs := logctl.New(stderr)
	applyLog(logs, cfg.Log)
	log := logs.Logger()
	rl, err := newReloader(o, cfg, logs)
	if err != nil {
		fmt.Fprintf(stderr, "proxyd: %v\n", err)
		return 2
	}
	if o.checkConfig {
		checkConfig(o, rl.Current(), stdout)
		return 0
	}
	// proxyd reaches collectors itself: a PMPROXY_HOST in its environment would
	// send its own REST connections through another proxy (or itself).
	os.Unsetenv("PMPROXY_HOST")

	g := rl.Current()
	rl.recordCert(g)
	sc := cfg.Server
	api := httpapi.New(apiConfig(g, log))
	defer api.Close()
	rly := &relay.Relay{Logger: log}
	rly.Update(relaySettings(g))
	srv := &server.Server{
		Relay:             rly,
		ReadHeaderTimeout: sc.ReadHeaderTimeout.Duration,
		IdleTimeout:       sc.IdleTimeout.Duration,
		WriteTimeout:      sc.WriteTimeout.Duration,
		MaxHeaderBytes:    sc.MaxHeaderBytes,
		Logger:            log,
	}
	srv.Update(serverSettings(g))
	mux := http.NewServeMux()
	mux.Handle(SelfMetricsPath, selfMetrics(rl, srv, rly, api))
	mux.Handle("/", api)
	srv.HTTP = accessLog(logs, mux)
	rl.OnApply = func(g *generation) {
		srv.Update(serverSettings(g))
		rly.Update(relaySettings(g))
		api.Reconfigure(apiConfig(g, log))
	}

	lns, err := systemd.Listen(sc.Address, sc.Port, log)
	if err != nil {
		fmt.Fprintf(stderr, "proxyd: %v\n", err)
		return 1
	}
	var bound []net.Addr
	var addrs []string
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		bound = append(bound, ln.Addr())
		addrs = append(addrs, ln.Addr().String())
		log.Info("proxyd listening", "addr", ln.Addr().String(), "tls", g.tls != nil,
			"allow_loopback", g.policy.AllowLoopback(), "allow", strings.Join(cfg.Upstream.Allow, ","), "version", Version)
		go func(ln net.Listener) { errc <- srv.Serve(ln) }(ln)
	}
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rl.Watch(wctx, cfg.watchInterval())
	go systemd.Watchdog(wctx, log)
	status := "serving on " + strings.Join(addrs, " ")
	systemd.Ready(log, status)
	if h.ready != nil {
		h.ready(bound, rl)
	}
	code := 0
loop:
	for {
		select {
		case <-h.reload:
			systemd.Reloading(log)
			msg := "reloaded; " + status
			if err := rl.Reload("SIGHUP"); err != nil {
				msg = "reload failed, last good configuration kept: " + err.Error()
			}
			systemd.Ready(log, msg)
		case <-ctx.Done():
			break loop
		case err := <-errc:
			log.Error("serve failed", "err", err)
			code = 1
			break loop
		}
	}
	systemd.Stopping(log)
	log.Info("proxyd shutting down", "relay_sessions", rly.Sessions(), "connections", srv.Connections())
	grace := rl.Current().cfg.Server.ShutdownTimeout.Duration
	if grace == 0 {
		grace = DefaultShutdownTimeout
	}
	sctx, scancel := context.WithTimeout(context.Background(), grace)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown: connections closed at the deadline", "err", err)
	}
	log.Info("proxyd stopped")
	return code
}

// serverSettings, relaySettings and apiConfig give each part its share of a
// generation.
func serverSettings(g *generation) server.Settings {
	return server.Settings{TLSConfig: g.tls, RequireClientCert: g.cfg.TLS.RequireClientCert,
		MaxConnections: g.cfg.Server.MaxConnections, HandshakeTimeout: g.cfg.Server.HandshakeTimeout.Duration}
}

func relaySettings(g *generation) relay.Settings {
	c := g.cfg
	return relay.Settings{Policy: g.policy, PreludeTimeout: c.Server.HandshakeTimeout.Duration,
		ConnectTimeout: c.Upstream.ConnectTimeout.Duration, IdleTimeout: c.Server.RelayIdleTimeout.Duration}
}

func apiConfig(g *generation, log *slog.Logger) httpapi.Config {
	c := g.cfg
	return httpapi.Config{
		Policy:          g.policy,
		Clients:         c.clients(),
		DefaultHostspec: c.Upstream.DefaultHostspec,
		RequestTimeout:  c.Server.RequestTimeout.Duration,
		ConnectTimeout:  c.Upstream.ConnectTimeout.Duration,
		MetadataTTL:     c.Upstream.MetadataTTL.Duration,
		MaxBodyBytes:    c.Server.MaxBodyBytes,
		Logger:          log,
	}
}

// checkConfig reports what --check-config loaded.
func checkConfig(o *options, g *generation, stdout io.Writer) {
	path := o.cfgPath
	if path == "" {
		path = DefaultConfigPath
		if _, err := os.Stat(path); err != nil {
			path = "none (flags and defaults)"
		}
	}
	c := g.cfg
	fmt.Fprintln(stdout, "proxyd: configuration OK")
	fmt.Fprintf(stdout, "  config file: %s\n", path)
	fmt.Fprintf(stdout, "  port: %d\n", c.Server.Port)
	if leaf := g.leaf(); leaf == nil {
		fmt.Fprintln(stdout, "  TLS: off (no -C/-M or tls_conf)")
	} else {
		fmt.Fprintf(stdout, "  TLS: subject %s, expires %s, sha256 %s\n", leaf.Subject,
			leaf.NotAfter.UTC().Format(time.RFC3339), tlsconfig.Fingerprint(leaf))
		fmt.Fprintf(stdout, "  client certificates required (-Q): %v\n", c.TLS.RequireClientCert)
	}
	allow := append([]string(nil), c.Upstream.Allow...)
	for _, col := range c.Collectors {
		allow = append(allow, col.Host)
	}
	fmt.Fprintf(stdout, "  collectors allowed: loopback %v; %s\n", g.policy.AllowLoopback(), orNone(strings.Join(allow, ", ")))
}

func orNone(s string) string {
	if s == "" {
		return "no others"
	}
	return s
}
