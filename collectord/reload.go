package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcp/gopcp/internal/reload"
	"github.com/gopcp/gopcp/tlsconfig"
)

// generation is one complete, validated configuration in service.
type generation struct {
	cfg   Config
	tls   *tlsBundle   // nil without TLS
	files reload.Files // the TLS files as they were when tls was built
}

// Reloader holds collectord's configuration in service and replaces it whole:
// Reload (SIGHUP) reads the configuration file and the certificates again,
// ReloadTLS (a certificate file changed) the certificates only. Each builds the new
// configuration completely and checks it before swapping it in with one atomic
// store; on any error the last good configuration stays and the log says which file
// and why. The server asks TLSConfig for every handshake, so existing sessions keep
// the configuration they started with and new ones get the new one.
type Reloader struct {
	opts  *options
	logs  *logControl
	log   *slog.Logger
	tlog  *slog.Logger // -D tls
	now   func() time.Time
	mu    sync.Mutex // one reload at a time
	cur   atomic.Pointer[generation]
	stats reload.Stats

	// OnApply, when set, is called with each configuration swapped in by a reload,
	// under the reload lock: run hands the server its new settings there.
	OnApply func(Config)
}

// newReloader loads the first generation: the configuration (file and flags) is
// already loaded and validated; this builds its TLS configuration.
func newReloader(o *options, cfg Config, logs *logControl) (*Reloader, error) {
	r := &Reloader{opts: o, logs: logs, log: logs.Logger(), tlog: logs.Class("tls"), now: time.Now}
	files := reload.Snapshot(tlsFiles(cfg.TLS))
	b, err := buildTLS(cfg.TLS, r.tlog)
	if err != nil {
		return nil, err
	}
	r.cur.Store(&generation{cfg: cfg, tls: b, files: files})
	r.recordCert(b)
	return r, nil
}

// Stats are the reload counters for the self metrics (pmcd.gopcp.reload.*).
func (r *Reloader) Stats() *reload.Stats { return &r.stats }

// Config is the configuration in service.
func (r *Reloader) Config() Config { return r.cur.Load().cfg }

// TLSConfig is the server's TLS configuration source (server.Server.TLSConfig).
func (r *Reloader) TLSConfig() *tls.Config {
	if b := r.cur.Load().tls; b != nil {
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
	if left := b.leaf.NotAfter.Sub(r.now()); left < ExpiryWarning {
		r.log.Warn("server certificate expires soon; issue a new one and reload (systemctl reload collectord)",
			"source", b.source, "days_left", int(left.Hours()/24))
	}
}

// Reload re-reads the configuration file and rebuilds everything from it (SIGHUP).
func (r *Reloader) Reload(reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	cfg, err := loadConfig(r.opts)
	if err != nil {
		return r.failed(reason, err)
	}
	if changed := restartOnly(old.cfg, cfg); len(changed) > 0 {
		for _, c := range changed {
			r.log.Warn("setting changed but needs a restart; keeping the running value", "reason", reason, "setting", c)
		}
		// Keep what cannot change while running, so what is reported is what runs.
		cfg.Server.Port, cfg.Server.Address = old.cfg.Server.Port, old.cfg.Server.Address
		cfg.Metrics, cfg.Reload = old.cfg.Metrics, old.cfg.Reload
	}
	return r.swap(reason, old, cfg)
}

// ReloadTLS rebuilds the TLS configuration from the configuration in service (a
// certificate file changed).
func (r *Reloader) ReloadTLS(reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	return r.swap(reason, old, old.cfg)
}

func (r *Reloader) swap(reason string, old *generation, cfg Config) error {
	files := reload.Snapshot(tlsFiles(cfg.TLS))
	b, err := buildTLS(cfg.TLS, r.tlog)
	if err != nil {
		return r.failed(reason, err, "files", strings.Join(tlsFiles(cfg.TLS), " "))
	}
	if !r.cur.CompareAndSwap(old, &generation{cfg: cfg, tls: b, files: files}) {
		return r.failed(reason, fmt.Errorf("configuration replaced during the reload"))
	}
	r.logs.apply(cfg.Log)
	if r.OnApply != nil {
		r.OnApply(cfg)
	}
	r.stats.Succeeded(r.now())
	r.log.Info("configuration reloaded", "reason", reason, "reloads", r.stats.Count())
	if b != nil && (old.tls == nil || !b.leaf.Equal(old.tls.leaf)) {
		r.recordCert(b)
	}
	if b == nil && old.tls != nil {
		r.log.Warn("TLS turned off by the reload: new clients cannot upgrade to TLS", "reason", reason)
	}
	return nil
}

func (r *Reloader) failed(reason string, err error, attrs ...any) error {
	r.stats.Failed()
	attrs = append([]any{"reason", reason, "err", err}, attrs...)
	r.log.Error("reload failed; keeping the last good configuration", append(attrs, "failures", r.stats.Failures())...)
	return err
}

// Watch checks the certificate files every interval until ctx ends and reloads the
// TLS configuration when they change (see reload.Watch).
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	reload.Watch(ctx, interval, func() reload.Current {
		g := r.cur.Load()
		c := reload.Current{Token: g, Loaded: g.files}
		if g.cfg.TLS.Enabled() {
			c.Paths = tlsFiles(g.cfg.TLS)
		}
		return c
	}, func(reason string) { r.ReloadTLS(reason) })
}
