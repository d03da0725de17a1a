// Package rawconn wraps an accepted or dialled socket so that its reads and
// writes are raw system calls (see Wrap): collectord and proxyd serve through it.
package rawconn

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawConn does a socket's reads and writes as raw read(2) and write(2) calls
// inside syscall.RawConn's Read and Write: the socket is non-blocking (the
// runtime's poller made it so), so a call never blocks, and when it would
// (EAGAIN) the poller parks the goroutine as for any net.Conn, deadlines
// included. What this skips is the runtime's entersyscall/exitsyscall around
// each call, which, on a process that keeps going idle between requests, wakes
// the runtime's monitor thread (sysmon) and sets it polling every 20 µs: on a
// REST fetch that polling was about a sixth of proxyd's CPU, and on collectord a
// futex wake and a thread switch per fetch. The saving only shows when no system
// call on a request's path goes the ordinary way (collectord's /proc reads go
// raw too: collectord/metrics kfile.go). Only Read and
// Write change; Close, deadlines and addresses are the embedded connection's.
//
// A rawConn is used by one reader and one writer at a time (as every net.Conn
// user here does: net/http's connection loop, pmapi's locked Context); the
// runtime's fd locks serialise concurrent callers anyway.
type rawConn struct {
	net.Conn
	rc syscall.RawConn

	// The closures handed to rc are made once per connection and take their
	// arguments from these fields, so a read or write allocates nothing.
	rbuf, wbuf []byte
	rn, wn     int
	rerrno     syscall.Errno
	werrno     syscall.Errno
	readOnceFn func(fd uintptr) bool
	writeAllFn func(fd uintptr) bool
}

// Wrap returns nc reading and writing through raw system calls when it is a
// socket the runtime polls (TCP, unix), else nc itself. A TLS session above it
// reads and writes through it unchanged.
func Wrap(nc net.Conn) net.Conn {
	if _, ok := nc.(*rawConn); ok {
		return nc
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nc
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	c := &rawConn{Conn: nc, rc: rc}
	c.readOnceFn = c.readOnce
	c.writeAllFn = c.writeAll
	return c
}

// CloseWrite half-closes the connection underneath when it can.
func (c *rawConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// readOnce is one read(2); false asks the poller to wait for the socket.
func (c *rawConn) readOnce(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.rbuf))), uintptr(len(c.rbuf)))
		if e == syscall.EINTR {
			continue
		}
		if e == syscall.EAGAIN {
			return false
		}
		c.rn, c.rerrno = int(n), e
		return true
	}
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rbuf, c.rn, c.rerrno = p, 0, 0
	// The poller's own failures (closed, deadline passed) come back here as
	// *net.OpError wrapping net.ErrClosed or os.ErrDeadlineExceeded, as the
	// embedded Read would return them.
	err := c.rc.Read(c.readOnceFn)
	c.rbuf = nil
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case c.rerrno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", c.rerrno))
	case c.rn == 0:
		return 0, io.EOF
	}
	// Each read tries read(2) first, even right after a short read when the
	// socket is almost surely empty: asking the poller to wait first would
	// save that EAGAIN, but RawRead resets the poller's readiness before
	// calling readOnce, so data that came in the meantime would be waited
	// for until the next arrival (BenchmarkLoop hung on it).
	return c.rn, nil
}

// writeAll writes as much of c.wbuf as the socket takes; false asks the
// poller to wait until it takes more.
func (c *rawConn) writeAll(fd uintptr) bool {
	for len(c.wbuf) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.wbuf))), uintptr(len(c.wbuf)))
		switch e {
		case 0:
			c.wn += int(n)
			c.wbuf = c.wbuf[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werrno = e
			return true
		}
	}
	return true
}

func (c *rawConn) Write(p []byte) (int, error) {
	c.wbuf, c.wn, c.werrno = p, 0, 0
	err := c.rc.Write(c.writeAllFn)
	c.wbuf = nil
	switch {
	case err != nil:
		return c.wn, c.opError("write", err)
	case c.werrno != 0:
		return c.wn, c.opError("write", os.NewSyscallError("write", c.werrno))
	}
	return c.wn, nil
}

// opError wraps err as the embedded Read and Write do. The poller's errors
// come as *net.OpError already, named "raw-read" or "raw-write": they are
// renamed so that logs show the operation a person knows.
func (c *rawConn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		e := *oe
		e.Op = op
		return &e
	}
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
