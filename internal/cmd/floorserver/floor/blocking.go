package floor

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// blockingConn reads and writes a socket put in blocking mode with raw
// read(2) and write(2): the thread waits in the kernel and the runtime never
// learns of it, so there is no poller, no EAGAIN read and no epoll_pwait on
// the way (REST.Block). That is a floor, not a design: while the goroutine
// waits no other goroutine runs on its P, and a garbage collection cannot
// stop the world until the read returns. Close does not wake a thread
// blocked in read(2): shutdown does (serve and REST.Close call it).
type blockingConn struct {
	net.Conn
	fd uintptr
}

// blocking puts nc's socket in blocking mode and returns it wrapped.
func blocking(nc net.Conn) (net.Conn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, &net.OpError{Op: "block", Net: "tcp", Err: syscall.ENOTSOCK}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &blockingConn{Conn: nc}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		c.fd = fd
		serr = syscall.SetNonblock(int(fd), false)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, os.NewSyscallError("fcntl", serr)
	}
	return c, nil
}

func (c *blockingConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, c.fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return 0, os.NewSyscallError("read", e)
		case n == 0:
			return 0, io.EOF
		}
		return int(n), nil
	}
}

func (c *blockingConn) Write(p []byte) (int, error) {
	w := 0
	for w < len(p) {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, c.fd, uintptr(unsafe.Pointer(&p[w])), uintptr(len(p)-w))
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return w, os.NewSyscallError("write", e)
		}
		w += int(n)
	}
	return w, nil
}

// shutdown shuts a TCP connection down both ways, which wakes a thread
// blocked in read(2) on it (blockingConn); close alone does not.
func shutdown(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.CloseRead()
		tc.CloseWrite()
	}
}
