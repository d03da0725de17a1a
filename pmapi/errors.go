package pmapi

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/gopcp/gopcp/protocol"
)

// ErrStr returns pmErrStr's message for code.
func ErrStr(code int32) string { return protocol.ErrStr(code) }

// Message returns pmErrStr's text for any error returned by this package.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return ErrStr(pe.Code)
	}
	return ErrStr(protocol.CodeOf(err))
}

func pcpErr(code int32) error { return &protocol.Error{Code: code} }

func errnoErr(e syscall.Errno) error { return &protocol.Error{Code: -int32(e)} }

// isTimeout reports whether err is a deadline or timeout.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// replyError maps a failure while waiting for or reading a reply as libpcp's
// receive routines do: a timeout is PM_ERR_TIMEOUT, anything else PM_ERR_IPC.
func replyError(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	if isTimeout(err) {
		return pcpErr(protocol.ErrTimeout)
	}
	return pcpErr(protocol.ErrIPC)
}

// sendError maps a failure to send a request (__pmMapErrno: EPIPE and EBADF are
// PM_ERR_IPC).
func sendError(err error) error {
	if isTimeout(err) {
		return pcpErr(protocol.ErrTimeout)
	}
	return pcpErr(protocol.ErrIPC)
}

// dialError maps a failed TCP or unix-socket connect to the errno libpcp reports.
func dialError(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return errnoErr(syscall.EHOSTUNREACH)
	}
	if isTimeout(err) {
		return errnoErr(syscall.ETIMEDOUT)
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return errnoErr(en)
	}
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return errnoErr(syscall.EHOSTUNREACH)
	}
	return errnoErr(syscall.ECONNREFUSED)
}
