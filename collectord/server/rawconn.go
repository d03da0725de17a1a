package server

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawConn reads and writes a client's socket with raw system calls: the socket is
// non-blocking (the runtime's poller made it so), so read(2) and write(2) never
// wait, and when one would (EAGAIN) the runtime's poller waits instead, deadlines
// included, through syscall.RawConn. What it saves is the scheduler's bookkeeping
// around an ordinary system call (entersyscall/exitsyscall), which on an idle
// server also wakes the runtime's monitor thread (sysmon) for every request: a
// futex wake and a thread switch per fetch. That saving only shows when no system
// call on the fetch path goes the ordinary way, so the /proc reads go raw too
// (collectord/metrics kfile.go).
//
// Only Read and Write change; Close, deadlines, CloseWrite and the addresses are
// the embedded connection's, and a TLS session above it reads and writes through
// it unchanged.
type rawConn struct {
	net.Conn
	rc syscall.RawConn

	// The current call's arguments and results, apart for reads and writes: the
	// closures given to rc are made once per connection, so a read or write
	// allocates nothing.
	rp, wp  []byte
	rn, wn  int
	rerr    syscall.Errno
	werr    syscall.Errno
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

// newRawConn wraps nc when it is a socket the runtime polls, else returns nc.
func newRawConn(nc net.Conn) net.Conn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nc
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	c := &rawConn{Conn: nc, rc: rc}
	c.readFn = c.readOnce
	c.writeFn = c.writeOnce
	return c
}

// CloseWrite half-closes the socket when the connection underneath can (TCP, unix).
func (c *rawConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// readOnce is one read(2); false asks the poller to wait for the socket.
func (c *rawConn) readOnce(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.rp))), uintptr(len(c.rp)))
		if e == syscall.EINTR {
			continue
		}
		c.rn, c.rerr = int(n), e
		return e != syscall.EAGAIN
	}
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rp = p
	// An error of the poller's own (closed, past the deadline) comes back as
	// net.ErrClosed or os.ErrDeadlineExceeded inside a *net.OpError, as from the
	// embedded Read.
	err := c.rc.Read(c.readFn)
	c.rp = nil
	switch {
	case err != nil:
		return 0, err
	case c.rerr != 0:
		return 0, c.opError("read", c.rerr)
	case c.rn == 0:
		return 0, io.EOF
	}
	return c.rn, nil
}

// writeOnce writes as much of c.wp as the socket takes; false asks the poller to
// wait until it takes more.
func (c *rawConn) writeOnce(fd uintptr) bool {
	for len(c.wp) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.wp))), uintptr(len(c.wp)))
		switch e {
		case 0:
			c.wn += int(n)
			c.wp = c.wp[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werr = e
			return true
		}
	}
	return true
}

func (c *rawConn) Write(p []byte) (int, error) {
	c.wp, c.wn, c.werr = p, 0, 0
	err := c.rc.Write(c.writeFn)
	c.wp = nil
	if err != nil {
		return c.wn, err
	}
	if c.werr != 0 {
		return c.wn, c.opError("write", c.werr)
	}
	return c.wn, nil
}

// opError shapes a system call's error as the net package does, so that callers
// testing with errors.Is (syscall.ECONNRESET, EPIPE) still see what they expect
// and log lines read the same.
func (c *rawConn) opError(op string, e syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, e)}
}
