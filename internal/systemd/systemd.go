// Package systemd is what the daemons need from a service manager: readiness,
// reload and stop notifications ($NOTIFY_SOCKET), the watchdog, and sockets
// passed by socket activation (LISTEN_FDS). Without a service manager every
// call does nothing: the daemons work unsupervised.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// Notify sends a state to the service manager. Failures are logged, never fatal.
func Notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("cannot notify the service manager", "state", state, "err", err)
	}
}

// Ready tells the service manager the daemon is ready, with a status line. Call it
// only once the listeners are bound and the certificates loaded (also to end a
// reload).
func Ready(log *slog.Logger, status string) {
	Notify(log, "READY=1\nSTATUS="+status)
}

// Reloading marks the start of a reload; Ready ends it.
func Reloading(log *slog.Logger) {
	Notify(log, "RELOADING=1\n"+daemon.SdNotifyMonotonicUsec())
}

// Stopping marks the start of the shutdown.
func Stopping(log *slog.Logger) { Notify(log, daemon.SdNotifyStopping) }

// Watchdog pings the service manager at half its WatchdogSec while ctx lasts.
func Watchdog(ctx context.Context, log *slog.Logger) {
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
			Notify(log, daemon.SdNotifyWatchdog)
		}
	}
}

// Listeners returns the stream sockets passed by socket activation (LISTEN_FDS
// for this process), or nil when there are none; the environment variables are
// cleared so children do not see them.
func Listeners() ([]net.Listener, error) {
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

// Listen returns the sockets a daemon serves: those passed by socket activation
// when there are any (addrs and port are then not used, and the log says so),
// else new TCP listeners on each of addrs (none: all interfaces) at port.
func Listen(addrs []string, port int, log *slog.Logger) ([]net.Listener, error) {
	return ListenWith(net.ListenConfig{}, addrs, port, log)
}

// ListenWith is Listen with lc for the listeners it creates (its KeepAlive
// applies to the connections they accept); sockets from the service manager
// come as they are.
func ListenWith(lc net.ListenConfig, addrs []string, port int, log *slog.Logger) ([]net.Listener, error) {
	lns, err := Listeners()
	if err != nil {
		return nil, err
	}
	if len(lns) > 0 {
		log.Info("using sockets from the service manager; server.port and server.address (-p, -i) are not used", "sockets", len(lns))
		return lns, nil
	}
	if len(addrs) == 0 {
		addrs = []string{""}
	}
	for _, a := range addrs {
		ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(a, strconv.Itoa(port)))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("cannot listen: %w", err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
