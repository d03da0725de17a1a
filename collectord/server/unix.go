package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ListenUnix opens the unix-domain socket at path (pmcd -s), the only way to reach
// the collector without a client certificate under -Q. The file is made 0666 as
// pmcd makes its socket: any local user may connect, and the server logs each
// client's uid, gid and pid (SO_PEERCRED). A socket file left by an earlier run is
// removed; anything else at path, or a socket something still answers on, is an
// error and is left alone. Closing the listener removes the file.
func ListenUnix(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("unix socket %s: the path exists and is not a socket (%s); remove it or choose another path", path, fi.Mode().Type())
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("unix socket %s is in use: another collector or pmcd listens on it", path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("unix socket %s: removing the stale socket: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("unix socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	return ln, nil
}

// peerCred reads a unix-socket client's credentials as the kernel recorded them
// when it connected; they cannot be forged by the client.
func peerCred(nc net.Conn) (*unix.Ucred, error) {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return nil, errors.New("not a unix socket")
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// peerIsRoot reports whether a unix-socket client connected as uid 0. It is
// asked per store (rare), so nothing is kept per connection.
func peerIsRoot(nc net.Conn) bool {
	cred, err := peerCred(nc)
	return err == nil && cred.Uid == 0
}

// unixPeer names a unix-socket client in the log by its socket and credentials.
func unixPeer(nc net.Conn, log *slog.Logger) *slog.Logger {
	path := ""
	if a, ok := nc.LocalAddr().(*net.UnixAddr); ok {
		path = a.Name
	}
	log = log.With("peer", "unix:"+path)
	cred, err := peerCred(nc)
	if err != nil {
		log.Warn("local client connected; its credentials are unreadable", "err", err)
		return log
	}
	log = log.With("uid", cred.Uid, "gid", cred.Gid, "pid", cred.Pid)
	log.Info("local client connected")
	return log
}
