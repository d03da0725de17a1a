package pmapi

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/gopcp/gopcp/protocol"
)

// PCP error codes that package protocol does not name; the messages are those of
// pmErrStr in PCP 6.0.3 (pmerr -l).
const (
	ErrPMNS        int32 = -12346
	ErrNoPMNS      int32 = -12347
	ErrDupPMNS     int32 = -12348
	ErrNoData      int32 = -12354
	ErrUnit        int32 = -12361
	ErrConv        int32 = -12362
	ErrTrunc       int32 = -12363
	ErrSign        int32 = -12364
	ErrNotHost     int32 = -12369
	ErrEOL         int32 = -12370
	ErrMode        int32 = -12371
	ErrLabel       int32 = -12372
	ErrLogRec      int32 = -12373
	ErrNotArchive  int32 = -12374
	ErrLogFile     int32 = -12375
	ErrProfileSpec int32 = -12377
	ErrNeedPort    int32 = -12392
	ErrThread      int32 = -12398
	ErrBadDerive   int32 = -12409
	ErrBotch       int32 = -12442
)

var extraErrText = map[int32]string{
	ErrPMNS:        "Problems parsing PMNS definitions",
	ErrNoPMNS:      "PMNS not accessible",
	ErrDupPMNS:     "Attempt to reload the PMNS",
	ErrNoData:      "Empty archive log file",
	ErrUnit:        "Illegal pmUnits specification",
	ErrConv:        "Impossible value or scale conversion",
	ErrTrunc:       "Truncation in value conversion",
	ErrSign:        "Negative value in conversion to unsigned",
	ErrNotHost:     "Operation requires context with host source of metrics",
	ErrEOL:         "End of PCP archive log",
	ErrMode:        "Illegal mode specification",
	ErrLabel:       "Illegal label record at start of a PCP archive log file",
	ErrLogRec:      "Corrupted record in a PCP archive log",
	ErrNotArchive:  "Operation requires context with archive source of metrics",
	ErrLogFile:     "Missing PCP archive log file",
	ErrProfileSpec: "NULL pmInDom with non-NULL instlist",
	ErrNeedPort:    "A non-null port name is required",
	ErrThread:      "Operation not supported for multi-threaded applications",
	ErrBadDerive:   "Derived metric definition failed",
	ErrBotch:       "Internal inconsistency detected or assertion failed",
}

// ErrStr returns pmErrStr's message for code. It extends protocol.ErrStr with the
// codes that package lacks and with libpcp's wording for unknown PCP codes.
func ErrStr(code int32) string {
	if s, ok := extraErrText[code]; ok {
		return s
	}
	s := protocol.ErrStr(code)
	if strings.HasPrefix(s, "No such error code") && code <= protocol.ErrGeneric && code >= protocol.ErrNYI {
		return "No such PMAPI error code (" + strconv.Itoa(int(code)) + ")"
	}
	return s
}

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
