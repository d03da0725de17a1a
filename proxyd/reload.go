package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"

	"github.com/gopcp/gopcp/certdb/check"
	"github.com/gopcp/gopcp/internal/logctl"
	"github.com/gopcp/gopcp/internal/reload"
	"github.com/gopcp/gopcp/proxyd/upstream"
	"github.com/gopcp/gopcp/tlsconfig"
)

// DefaultWatchInterval is how often the certificate files are checked for a change.
const DefaultWatchInterval = 2 * time.Second

// generation is one complete, validated configuration in service.
type generation struct {
	cfg    Config
	tls    *tls.Config // nil without TLS
	policy *upstream.Policy
	files  reload.Files // the TLS files as they were when tls was built
}

// leaf is the server certificate, or nil without TLS.
func (g *generation) leaf() *x509.Certificate {
	if g.tls == nil {
		return nil
	}
	return g.tls.Certificates[0].Leaf
}

// Reloader holds proxyd's configuration in service and replaces it whole, as
// collectord's does (reload.Swapper): Reload (SIGHUP) reads the configuration
// file and the certificates again, ReloadTLS (a certificate file changed) the
// certificates only. The new configuration is built completely and checked
// before it is swapped in; on any error the last good one stays and the log says
// which file and why. OnApply hands each new generation to the server, relay
// and API.
type Reloader struct {
	opts *options
	logs *logctl.Control
	log  *slog.Logger
	sw   *reload.Swapper[generation]

	// OnApply, when set, is called with each generation swapped in by a reload,
	// under the reload lock.
	OnApply func(*generation)
}

// newReloader builds the first generation from a loaded, validated configuration.
func newReloader(o *options, cfg Config, logs *logctl.Control) (*Reloader, error) {
	r := &Reloader{opts: o, logs: logs, log: logs.Logger()}
	g, err := r.build(cfg)
	if err != nil {
		return nil, err
	}
	r.sw = reload.NewSwapper(g, r.log)
	return r, nil
}

// build makes a generation: the TLS identity and the allow list. A TLS error
// names the files it was read from.
func (r *Reloader) build(cfg Config) (*generation, error) {
	files := reload.Snapshot(tlsFiles(cfg.TLS))
	t, err := buildTLS(cfg.TLS, r.log, r.logs.Class("tls"))
	if err != nil {
		return nil, reload.NameFiles(fmt.Errorf("TLS identity: %w", err), tlsFiles(cfg.TLS))
	}
	p, err := cfg.policy()
	if err != nil {
		return nil, err
	}
	return &generation{cfg: cfg, tls: t, policy: p, files: files}, nil
}

// tlsFiles are the files proxyd's identity is built from, for the watch.
func tlsFiles(c TLSConfig) []string {
	if !c.enabled() {
		return nil
	}
	return tlsconfig.ServerOptions{Store: c.CertDB, PasswordFile: c.PasswordFile, TLSConf: c.TLSConf, CRLFiles: c.CRLFiles, Java: c.java()}.Files()
}

// Current is the generation in service.
func (r *Reloader) Current() *generation { return r.sw.Current() }

// Stats are the reload counters for /proxyd/metrics.
func (r *Reloader) Stats() *reload.Stats { return r.sw.Stats() }

// recordCert logs the certificate in use, and warns when it expires soon.
func (r *Reloader) recordCert(g *generation) {
	leaf := g.leaf()
	if leaf == nil {
		return
	}
	r.log.Info("TLS identity loaded", "subject", leaf.Subject.String(), "sha256", tlsconfig.Fingerprint(leaf),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "require_client_cert", g.cfg.TLS.RequireClientCert)
	if left := time.Until(leaf.NotAfter); left < check.DefaultExpiryWarning {
		r.log.Warn("proxyd's certificate expires soon; issue a new one and reload (systemctl reload proxyd)",
			"days_left", int(left.Hours()/24))
	}
}

// Reload re-reads the configuration file and rebuilds everything from it.
func (r *Reloader) Reload(reason string) error {
	return r.sw.Swap(reason, func(old *generation) (*generation, error) {
		cfg, err := loadConfig(r.opts)
		if err != nil {
			return nil, err
		}
		if reload.WarnRestartOnly(r.log, reason, restartOnly(old.cfg, cfg)) {
			keepListener(&cfg, old.cfg)
		}
		return r.build(cfg)
	}, r.applied)
}

// ReloadTLS rebuilds the configuration in service (a certificate file changed).
func (r *Reloader) ReloadTLS(reason string) error {
	return r.sw.Swap(reason, func(old *generation) (*generation, error) {
		return r.build(old.cfg)
	}, r.applied)
}

// applied puts a new generation's logging in force and hands it to OnApply.
func (r *Reloader) applied(old, g *generation) {
	applyLog(r.logs, g.cfg.Log)
	if r.OnApply != nil {
		r.OnApply(g)
	}
	if leaf := g.leaf(); leaf != nil && (old.leaf() == nil || !leaf.Equal(old.leaf())) {
		r.recordCert(g)
	}
	if g.tls == nil && old.tls != nil {
		r.log.Warn("TLS turned off by the reload: TLS clients are refused from now on")
	}
}

// Watch checks the certificate files every interval until ctx ends and reloads
// when they change (see reload.Watch).
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	reload.Watch(ctx, interval, func() reload.Current {
		g := r.Current()
		return reload.Current{Token: g, Loaded: g.files, Paths: tlsFiles(g.cfg.TLS)}
	}, func(reason string) { r.ReloadTLS(reason) })
}

// fixed is the part of the configuration that a reload cannot change: the
// sockets, the HTTP limits that net/http fixes when it starts serving, and the
// watch interval.
type fixed struct {
	Port              int           `key:"server.port"`
	Address           []string      `key:"server.address"`
	MaxHeaderBytes    int           `key:"server.max_header_bytes"`
	ReadHeaderTimeout time.Duration `key:"server.read_header_timeout"`
	IdleTimeout       time.Duration `key:"server.idle_timeout"`
	WriteTimeout      time.Duration `key:"server.write_timeout"`
	WatchInterval     time.Duration `key:"reload.watch_interval"`
}

func fixedOf(c Config) fixed {
	s := c.Server
	return fixed{Port: s.Port, Address: s.Address, MaxHeaderBytes: s.MaxHeaderBytes,
		ReadHeaderTimeout: s.ReadHeaderTimeout.Duration, IdleTimeout: s.IdleTimeout.Duration,
		WriteTimeout: s.WriteTimeout.Duration, WatchInterval: c.watchInterval()}
}

// keepListener puts the running values of the fixed settings into cfg.
func keepListener(cfg *Config, old Config) {
	s := &cfg.Server
	o := old.Server
	s.Port, s.Address, s.MaxHeaderBytes = o.Port, o.Address, o.MaxHeaderBytes
	s.ReadHeaderTimeout, s.IdleTimeout, s.WriteTimeout = o.ReadHeaderTimeout, o.IdleTimeout, o.WriteTimeout
	cfg.Reload = old.Reload
}

// restartOnly lists the fixed settings whose new value differs, as
// "section.key (old -> new)".
func restartOnly(old, cur Config) []string { return reload.Changed(fixedOf(old), fixedOf(cur)) }
