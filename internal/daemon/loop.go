package daemon

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gopcp/gopcp/internal/systemd"
)

// Signals catches SIGHUP, SIGTERM and SIGINT. Call it first thing: SIGHUP's
// default action ends the process, so a reload sent while starting would be
// fatal; caught, it waits in hup and is applied once running. ctx ends on
// SIGTERM or SIGINT; stop releases the signals.
func Signals() (hup <-chan os.Signal, ctx context.Context, stop func()) {
	h := make(chan os.Signal, 1)
	signal.Notify(h, syscall.SIGHUP)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	return h, ctx, func() {
		signal.Stop(h)
		cancel()
	}
}

// Loop is a daemon's life once its listeners are bound and its certificates
// loaded.
type Loop struct {
	Log    *slog.Logger
	Status string // "serving on ADDR ...": systemd's STATUS= while ready
	// Reload reads the configuration and certificates again; on error the
	// last good configuration stays (the reloader logs which file and why).
	Reload func(reason string) error
	Hup    <-chan os.Signal // SIGHUP, or a test's request
	Errc   <-chan error     // a listener's Serve ended
	// Ready, when set, is called once READY=1 is sent (tests learn the
	// daemon's addresses there).
	Ready func()
}

// Run sends READY=1 and serves signals until ctx ends (SIGTERM, SIGINT) or a
// listener fails (its error is returned): SIGHUP is RELOADING=1, the reload,
// and READY=1 again with the outcome as the status. STOPPING=1 is sent before
// it returns, so the caller's graceful shutdown runs under it.
func (l Loop) Run(ctx context.Context) error {
	systemd.Ready(l.Log, l.Status)
	defer systemd.Stopping(l.Log)
	if l.Ready != nil {
		l.Ready()
	}
	for {
		select {
		case <-l.Hup:
			systemd.Reloading(l.Log)
			msg := "reloaded; " + l.Status
			if err := l.Reload("SIGHUP"); err != nil {
				msg = "reload failed, last good configuration kept: " + err.Error()
			}
			systemd.Ready(l.Log, msg)
		case <-ctx.Done():
			return nil
		case err := <-l.Errc:
			if err != nil {
				l.Log.Error("serve failed", "err", err)
				return err
			}
		}
	}
}
