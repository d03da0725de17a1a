package protocol

import (
	"errors"
	"strconv"
	"syscall"
)

// PCP error codes (PM_ERR_*), as pmErrStr of PCP 6.0.3 knows them.
const (
	ErrGeneric        int32 = -12345
	ErrText           int32 = -12349
	ErrAppVersion     int32 = -12350
	ErrValue          int32 = -12351
	ErrTimeout        int32 = -12353
	ErrReset          int32 = -12355
	ErrName           int32 = -12357
	ErrPMID           int32 = -12358
	ErrInDom          int32 = -12359
	ErrInst           int32 = -12360
	ErrProfile        int32 = -12365
	ErrIPC            int32 = -12366
	ErrEOF            int32 = -12368
	ErrNoContext      int32 = -12376
	ErrNoProfile      int32 = -12381
	ErrNoAgent        int32 = -12386
	ErrPermission     int32 = -12387
	ErrConnLimit      int32 = -12388
	ErrAgain          int32 = -12389
	ErrIsConn         int32 = -12390
	ErrNotConn        int32 = -12391
	ErrNonLeaf        int32 = -12394
	ErrType           int32 = -12397
	ErrNoContainer    int32 = -12399
	ErrBadStore       int32 = -12400
	ErrNeedClientCert int32 = -12408
	ErrNoLabels       int32 = -12410
	ErrPMDAFenced     int32 = -12411
	ErrTLS            int32 = -12414
	ErrTooSmall       int32 = -12443
	ErrTooBig         int32 = -12444
	ErrPMDAReady      int32 = -13393
	ErrPMDANotReady   int32 = -13394
	ErrNYI            int32 = -21344

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

var errText = map[int32]string{
	ErrGeneric:        "Generic error, already reported above",
	ErrText:           "One-line or help text is not available",
	ErrAppVersion:     "Metric not supported by this version of monitored application",
	ErrValue:          "Missing metric value(s)",
	ErrTimeout:        "Timeout waiting for a response from PMCD",
	ErrReset:          "PMCD reset or configuration change",
	ErrName:           "Unknown metric name",
	ErrPMID:           "Unknown or illegal metric identifier",
	ErrInDom:          "Unknown or illegal instance domain identifier",
	ErrInst:           "Unknown or illegal instance identifier",
	ErrProfile:        "Explicit instance identifier(s) required",
	ErrIPC:            "IPC protocol failure",
	ErrEOF:            "IPC channel closed",
	ErrNoContext:      "Attempt to use an illegal context",
	ErrNoProfile:      "Missing profile - protocol botch",
	ErrNoAgent:        "No PMCD agent for domain of request",
	ErrPermission:     "No permission to perform requested operation",
	ErrConnLimit:      "PMCD connection limit for this host exceeded",
	ErrAgain:          "Try again. Information not currently available",
	ErrIsConn:         "Already Connected",
	ErrNotConn:        "Not Connected",
	ErrNonLeaf:        "Metric name is not a leaf in PMNS",
	ErrType:           "Unknown or illegal metric type",
	ErrNoContainer:    "Container not found",
	ErrBadStore:       "Bad input to pmstore",
	ErrNeedClientCert: "PMCD requires a client certificate",
	ErrNoLabels:       "No support for metric label metadata",
	ErrPMDAFenced:     "PMDA is currently fenced and unable to respond to requests",
	ErrTLS:            "TLS protocol failure",
	ErrTooSmall:       "Insufficient elements in list",
	ErrTooBig:         "Result size exceeded",
	ErrPMDAReady:      "PMDA is now responsive to requests",
	ErrPMDANotReady:   "PMDA is not yet ready to respond to requests",
	ErrNYI:            "Functionality not yet implemented",

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

// ErrStr returns the message pmErrStr gives for code: PCP codes by table, small
// negative codes as -errno with the C library's text.
func ErrStr(code int32) string {
	if s, ok := errText[code]; ok {
		return s
	}
	if code < 0 && code > ErrGeneric {
		return errnoText(syscall.Errno(-code))
	}
	if code <= ErrGeneric && code >= ErrNYI {
		return "No such PMAPI error code (" + strconv.Itoa(int(code)) + ")"
	}
	return "No such error code " + strconv.Itoa(int(code))
}

// errnoText mirrors glibc strerror for the errno values PCP clients meet; Go's own
// table differs in capitalisation for some.
func errnoText(e syscall.Errno) string {
	switch e {
	case syscall.ECONNREFUSED:
		return "Connection refused"
	case syscall.EOPNOTSUPP:
		return "Operation not supported"
	case syscall.ETIMEDOUT:
		return "Connection timed out"
	case syscall.ECONNRESET:
		return "Connection reset by peer"
	case syscall.EHOSTUNREACH:
		return "No route to host"
	case syscall.ENETUNREACH:
		return "Network is unreachable"
	case syscall.EPIPE:
		return "Broken pipe"
	case syscall.EINVAL:
		return "Invalid argument"
	case syscall.ENOENT:
		return "No such file or directory"
	case syscall.EACCES:
		return "Permission denied"
	}
	s := e.Error()
	if s != "" {
		return string(s[0]-32*b2i(s[0] >= 'a' && s[0] <= 'z')) + s[1:]
	}
	return s
}

func b2i(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// Error is a PCP error code carried as a Go error.
type Error struct{ Code int32 }

func (e *Error) Error() string { return ErrStr(e.Code) }

// Is lets errors.Is match two PCP errors by code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// CodeOf extracts a PCP error code from err: a *Error's code, an errno negated, or
// PM_ERR_IPC for anything else.
func CodeOf(err error) int32 {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return -int32(en)
	}
	return ErrIPC
}
