package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// sdNotify sends a state to the service manager ($NOTIFY_SOCKET); without one it
// does nothing. Failures are logged, never fatal: the daemon works unsupervised.
func sdNotify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("cannot notify the service manager", "state", state, "err", err)
	}
}

// notifyReady tells the service manager the daemon is ready. It is called only
// after the listeners are bound and the certificates loaded.
func notifyReady(log *slog.Logger, status string) {
	sdNotify(log, "READY=1\nSTATUS="+status)
}

// notifyReloading marks the start of a reload; notifyReady ends it.
func notifyReloading(log *slog.Logger) {
	sdNotify(log, "RELOADING=1\n"+daemon.SdNotifyMonotonicUsec())
}

// watchdog pings the service manager at half its WatchdogSec while ctx lasts.
func watchdog(ctx context.Context, log *slog.Logger) {
	every, err := daemon.SdWatchdogEnabled(false)
	if err != nil || every <= 0 {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sdNotify(log, daemon.SdNotifyWatchdog)
		}
	}
}

// inheritedListeners returns the stream sockets passed by systemd socket activation
// (LISTEN_FDS for this process), or nil when there are none; the environment
// variables are cleared so children do not see them.
func inheritedListeners() ([]net.Listener, error) {
	if os.Getenv("LISTEN_FDS") == "" {
		return nil, nil
	}
	all, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	var lns []net.Listener
	for _, ln := range all {
		if ln != nil {
			lns = append(lns, ln)
		}
	}
	if len(all) > 0 && len(lns) == 0 {
		return nil, errors.New("socket activation: no stream socket among the inherited descriptors (use ListenStream= in the .socket unit)")
	}
	return lns, nil
}
