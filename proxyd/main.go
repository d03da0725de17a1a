// Command proxyd is the gopcp proxy, a pmproxy analogue: on one port it relays PCP
// clients to collectors (the "pmproxy-client 1" prelude that pminfo -h HOST@PROXY
// and PMPROXY_HOST use), serves the PCP web API (/pmapi/...) and Prometheus
// /metrics over HTTP, and accepts TLS first (HTTPS, or the relay inside TLS).
//
// Its flags are one table on urfave/cli/v2 (newProgram, built afresh for every
// run); --help, the manual page (proxyd --generate-man) and the bash completion
// (proxyd completion bash) are made from it by internal/daemon, which also
// holds what proxyd shares with collectord: the merging of the common flags
// over the file and the signal loop.
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gopcp/gopcp/internal/daemon"
	"github.com/gopcp/gopcp/internal/logctl"
	"github.com/gopcp/gopcp/internal/systemd"
	"github.com/gopcp/gopcp/internal/tomlconfig"
	"github.com/gopcp/gopcp/internal/version"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/relay"
	"github.com/gopcp/gopcp/proxyd/server"
	"github.com/gopcp/gopcp/tlsconfig"
	urfave "github.com/urfave/cli/v2"
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

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed flags: those both daemons take (daemon.Common, which
// also knows which were given, so they override the file) and proxyd's own.
type options struct {
	daemon.Common
	allow      tomlconfig.ListFlag
	noLoopback bool
}

// Flag categories, in the order --help shows them.
const (
	catListen   = "Listening and collectors"
	catTLS      = "Identity and client certificates"
	catConfig   = "Configuration and logs"
	envPort     = "PMPROXY_PORT"
	envLocal    = "PMPROXY_LOCAL"
	portMaximum = 65535
)

// flags is proxyd's table.
func flags(o *options) []urfave.Flag {
	return slices.Concat(daemon.Category(catListen,
		daemon.Env(daemon.Int(&o.Port, "`PORT` (config server.port; the variable counts only when the file gives none)", "44322", "p"), envPort),
		daemon.List(&o.Addrs, "bind `ADDRESS`, repeatable or comma separated (default all interfaces; $"+envLocal+"=1 binds loopback only)", "i"),
		daemon.List(&o.allow, "also allow collectors at `HOST`: an address, a CIDR prefix or a host name, optionally with :PORT ([v6]:PORT); repeatable", "allow"),
		daemon.Bool(&o.noLoopback, "do not allow loopback collectors (port 44321) unless listed", "no-loopback"),
	), daemon.Category(catTLS,
		daemon.File(&o.CertDB, "certificate store (certdb) holding proxyd's identity, `DIR`, for TLS clients (HTTPS, relay over TLS)", "C"),
		daemon.String(&o.Nickname, "`NICKNAME` of proxyd's certificate in the store", "M"),
		daemon.File(&o.PasswordFile, "`FILE` holding the store's password (default: empty password)", "P"),
		daemon.Bool(&o.RequireCert, "require a verified client certificate: TLS clients must present one, and plain connections are refused except from loopback (as pmcd -Q exempts local clients)", "Q"),
		daemon.File(&o.TLSConf, "PCP 6 tls.conf `FILE` instead of a store", "tls-conf"),
	), daemon.Category(catConfig,
		daemon.File(&o.ConfigPath, "TOML configuration `FILE` (default "+DefaultConfigPath+" if present)", "config"),
		daemon.Bool(&o.CheckConfig, "validate the configuration and exit", "check-config"),
		daemon.Choice(&o.LogFormat, []string{"text", "json"}, "log `FORMAT`: text or json (default text)", "log-format"),
		daemon.Choice(&o.LogLevel, []string{"debug", "info", "warn", "error"}, "log `LEVEL`: debug, info, warn or error (default info)", "log-level"),
		daemon.Choices(&o.Debug, append(slices.Clone(debugClasses), "all"), "debug `CLASSES`, comma separated: tls (handshakes, client certificates), http (one line per request), all", "D"),
		daemon.Bool(&o.Version, "print the version and commit, and exit", "version"),
	))
}

// newProgram is proxyd's command line for one run; serve is the daemon.
func newProgram(stdout, stderr io.Writer, serve func(o *options) int) *daemon.Program {
	o := &options{}
	return &daemon.Program{
		Name: "proxyd", Section: "8",
		Summary:  "the gopcp proxy: PCP relay, REST API and Prometheus metrics, a pmproxy analogue",
		Synopsis: []string{"proxyd [options]"},
		Intro: `Relay PCP clients to collectors, and serve the PCP web API and Prometheus
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
hostspec= cannot ask for less security than configured (403).`,
		Flags:  flags(o),
		Common: &o.Common,
		Sections: []daemon.Section{
			{Title: "HTTP endpoints", Text: `GET; hostspec=HOST[:PORT] names the collector, default localhost; context=N or
/pmapi/N/... reuses a context from /pmapi/context.
  /pmapi/context     context number, source hash, host name and labels
  /pmapi/metric      metadata: names=, name= or prefix= (subtrees expanded)
  /pmapi/fetch       values: names=, name=, pmids= or pmid=
  /pmapi/indom       instances: indom= or name=; instance=, iname=, match=
  /pmapi/children    namespace children: prefix= or name=
  /metrics           Prometheus text of every numeric metric (names= to narrow)
  /proxyd/metrics    proxyd's own metrics: reloads, reload failures, seconds
                     until its certificate expires, connections, sessions`},
			{Title: "Signals", Text: `  SIGHUP             reload the configuration file and the certificates; a broken
                     file keeps the last good configuration (the log says which
                     file and why). Certificate files are also checked for changes
                     every 2s ([reload] watch_interval).
  SIGTERM, SIGINT    stop accepting, finish in-flight requests (shutdown_timeout),
                     exit

Under systemd (Type=notify) READY=1 is sent once the listeners are bound and the
certificate loaded; sockets from proxyd.socket (LISTEN_FDS) replace -p and -i.`},
		},
		Examples: `  proxyd -p 44322
  pminfo -h 127.0.0.1:44321@localhost:44322 -f kernel.all.load
  PMPROXY_HOST=localhost pminfo -h 127.0.0.1 -f hinv.ncpu
  curl 'http://localhost:44322/pmapi/fetch?hostspec=127.0.0.1:44321&names=kernel.all.load'
  curl 'http://localhost:44322/metrics?hostspec=127.0.0.1:44321&names=kernel.all'
  proxyd -C /etc/gopcp/certdb -M proxyd -Q --allow 10.0.0.0/8 --allow db1.example.com:44321`,
		Exit: `Exit status: 0 clean shutdown (SIGTERM, SIGINT) or help, 1 runtime failure (a
port that cannot be bound), 2 usage or configuration error.`,
		Action: func(*urfave.Context) error { return daemon.Status(serve(o)) },
	}
}

// parseFlags parses a command line without running anything (tests).
func parseFlags(args []string) (*options, error) {
	var got *options
	var errs strings.Builder
	p := newProgram(io.Discard, &errs, func(o *options) int { got = o; return 0 })
	if rc := daemon.Run(p.NewApp(io.Discard, &errs), args, &errs); rc != 0 || got == nil {
		return nil, fmt.Errorf("proxyd %s: exit status %d: %s", strings.Join(args, " "), rc, strings.TrimSpace(errs.String()))
	}
	return got, nil
}

// checkPort refuses a -p or $PMPROXY_PORT that is no port.
func (o *options) checkPort() error {
	switch {
	case o.Port >= 0 && o.Port <= portMaximum:
		return nil
	case o.Given("p"):
		return fmt.Errorf("-p %d: not a port", o.Port)
	default:
		return fmt.Errorf("%s=%d: not a port", envPort, o.Port)
	}
}

// merge applies the flags given on the command line (and the environment) over
// the file's values.
func (o *options) merge(c *Config) {
	o.Common.Merge(daemon.Targets{
		Port: &c.Server.Port, Address: &c.Server.Address,
		CertDB: &c.TLS.CertDB, Nickname: &c.TLS.Nickname, PasswordFile: &c.TLS.PasswordFile,
		RequireClientCert: &c.TLS.RequireClientCert, TLSConf: &c.TLS.TLSConf,
		LogFormat: &c.Log.Format, LogLevel: &c.Log.Level, Debug: &c.Log.Debug,
	})
	if !o.Given("p") && c.Server.Port == 0 {
		// $PMPROXY_PORT (-p's variable) when neither -p nor the file give one.
		c.Server.Port = DefaultPort
		if o.Port > 0 && o.Port <= portMaximum {
			c.Server.Port = o.Port
		}
	}
	if !o.Given("i") && len(c.Server.Address) == 0 && os.Getenv(envLocal) == "1" {
		c.Server.Address = []string{"127.0.0.1", "::1"}
	}
	c.Upstream.Allow = append(c.Upstream.Allow, o.allow...)
	if o.noLoopback {
		f := false
		c.Upstream.AllowLoopback = &f
	}
}

// loadConfig reads the file (if any) and applies the flags.
func loadConfig(o *options) (Config, error) {
	c, err := LoadConfig(o.ConfigFile(DefaultConfigPath))
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
	// Signals are caught first: SIGHUP's default action ends the process, so a
	// reload sent while starting would be fatal; caught, it is applied once
	// running.
	hup, ctx, stop := daemon.Signals()
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
	p := newProgram(stdout, stderr, func(o *options) int { return serve(ctx, o, stdout, stderr, h) })
	return daemon.Run(p.NewApp(stdout, stderr), args, stderr)
}

// serve is the daemon: configuration, listeners, the signal loop.
func serve(ctx context.Context, o *options, stdout, stderr io.Writer, h hooks) int {
	if o.Version {
		fmt.Fprintln(stdout, version.String("proxyd", Version, Commit))
		return 0
	}
	if err := o.checkPort(); err != nil {
		fmt.Fprintf(stderr, "proxyd: %v\nRun 'proxyd -h' for usage.\n", err)
		return 2
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
	if o.CheckConfig {
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
	srv.HTTP = accessLog(logs, api.Routed(mux))
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
		go func(ln net.Listener) {
			err := srv.Serve(ln)
			if err == nil {
				// Serve ended without an error while proxyd still runs: a
				// listener gone is a failure all the same.
				err = fmt.Errorf("listener %s closed", ln.Addr())
			}
			errc <- err
		}(ln)
	}
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rl.Watch(wctx, cfg.watchInterval())
	go systemd.Watchdog(wctx, log)
	loop := daemon.Loop{Log: log, Status: "serving on " + strings.Join(addrs, " "),
		Reload: rl.Reload, Hup: h.reload, Errc: errc}
	if h.ready != nil {
		loop.Ready = func() { h.ready(bound, rl) }
	}
	code := 0
	if err := loop.Run(ctx); err != nil {
		code = 1
	}
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
	path := o.ConfigPath
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
		fmt.Fprintln(stdout, "  TLS: off (no -C/-M, tls_conf or keystore)")
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
