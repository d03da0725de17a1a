package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/gopcp/gopcp/certdb/check"
	"github.com/gopcp/gopcp/internal/reload"
	"github.com/gopcp/gopcp/tlsconfig"
)

// generation is one complete, validated configuration in service.
type generation struct {
	cfg   Config
	tls   *tlsBundle   // nil without TLS
	files reload.Files // the TLS files as they were when tls was built
}

// Reloader holds collectord's configuration in service and replaces it whole
// (reload.Swapper): Reload (SIGHUP) reads the configuration file and the
// certificates again, ReloadTLS (a certificate file changed) the certificates
// only. Each builds the new configuration completely and checks it before it is
// swapped in; on any error the last good configuration stays and the log says
// which file and why. The server asks TLSConfig for every handshake, so existing
// sessions keep the configuration they started with and new ones get the new one.
type Reloader struct {
	opts *options
	logs *logControl
	log  *slog.Logger
	tlog *slog.Logger // -D tls
	sw   *reload.Swapper[generation]

	// OnApply, when set, is called with each configuration swapped in by a reload,
	// under the reload lock: run hands the server its new settings there.
	OnApply func(Config)
}

// newReloader loads the first generation: the configuration (file and flags) is
// already loaded and validated; this builds its TLS configuration.
func newReloader(o *options, cfg Config, logs *logControl) (*Reloader, error) {
	r := &Reloader{opts: o, logs: logs, log: logs.Logger(), tlog: logs.Class("tls")}
	g, err := r.build(cfg)
	if err != nil {
		return nil, err
	}
	r.sw = reload.NewSwapper(g, r.log)
	r.recordCert(g.tls)
	return r, nil
}

// build makes a generation: the TLS configuration of cfg, and the state of the
// files it was read from.
func (r *Reloader) build(cfg Config) (*generation, error) {
	files := reload.Snapshot(tlsFiles(cfg.TLS))
	b, err := buildTLS(cfg.TLS, r.log, r.tlog)
	if err != nil {
		return nil, reload.NameFiles(err, tlsFiles(cfg.TLS))
	}
	return &generation{cfg: cfg, tls: b, files: files}, nil
}

// current is the generation in service.
func (r *Reloader) current() *generation { return r.sw.Current() }

// Stats are the reload counters for the self metrics (pmcd.gopcp.reload.*).
func (r *Reloader) Stats() *reload.Stats { return r.sw.Stats() }

// Config is the configuration in service.
func (r *Reloader) Config() Config { return r.current().cfg }

// TLSConfig is the server's TLS configuration source (server.Server.TLSConfig).
func (r *Reloader) TLSConfig() *tls.Config {
	if b := r.current().tls; b != nil {
		return b.cfg
	}
	return nil
}

func (r *Reloader) recordCert(b *tlsBundle) {
	if b == nil {
		return
	}
	attrs := []any{"source", b.source, "subject", b.leaf.Subject.String(),
		"sha256", tlsconfig.Fingerprint(b.leaf), "not_after", b.leaf.NotAfter.UTC().Format(time.RFC3339)}
	r.log.Info("server certificate loaded", attrs...)
	if left := time.Until(b.leaf.NotAfter); left < check.DefaultExpiryWarning {
		r.log.Warn("server certificate expires soon; issue a new one and reload (systemctl reload collectord)",
			"source", b.source, "days_left", int(left.Hours()/24))
	}
}

// Reload re-reads the configuration file and rebuilds everything from it (SIGHUP).
func (r *Reloader) Reload(reason string) error {
	return r.sw.Swap(reason, func(old *generation) (*generation, error) {
		cfg, err := loadConfig(r.opts)
		if err != nil {
			return nil, err
		}
		if reload.WarnRestartOnly(r.log, reason, restartOnly(old.cfg, cfg)) {
			// Keep what cannot change while running, so what is reported is what runs.
			cfg.Server.Port, cfg.Server.Address = old.cfg.Server.Port, old.cfg.Server.Address
			cfg.Metrics, cfg.Reload = old.cfg.Metrics, old.cfg.Reload
		}
		return r.build(cfg)
	}, r.applied)
}

// ReloadTLS rebuilds the TLS configuration from the configuration in service (a
// certificate file changed).
func (r *Reloader) ReloadTLS(reason string) error {
	return r.sw.Swap(reason, func(old *generation) (*generation, error) {
		return r.build(old.cfg)
	}, r.applied)
}

// applied puts a new generation's log settings and server settings in force.
func (r *Reloader) applied(old, g *generation) {
	r.logs.apply(g.cfg.Log)
	if r.OnApply != nil {
		r.OnApply(g.cfg)
	}
	if g.tls != nil && (old.tls == nil || !g.tls.leaf.Equal(old.tls.leaf)) {
		r.recordCert(g.tls)
	}
	if g.tls == nil && old.tls != nil {
		r.log.Warn("TLS turned off by the reload: new clients cannot upgrade to TLS")
	}
}

// Watch checks the certificate files every interval until ctx ends and reloads the
// TLS configuration when they change (see reload.Watch).
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	reload.Watch(ctx, interval, func() reload.Current {
		g := r.current()
		c := reload.Current{Token: g, Loaded: g.files}
		if g.cfg.TLS.Enabled() {
			c.Paths = tlsFiles(g.cfg.TLS)
		}
		return c
	}, func(reason string) { r.ReloadTLS(reason) })
}
