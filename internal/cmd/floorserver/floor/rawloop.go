package floor

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// RawLoop is the floor as one event loop on one goroutine, with every system
// call on a request's path made raw (syscall.RawSyscall: accept4, setsockopt,
// epoll_ctl, epoll_pwait, read, write, close), so the Go runtime never sees a
// system call: no entersyscall/exitsyscall, no hand-off of the P, no wake of the
// monitor thread (sysmon). The loop still has to sleep somewhere when there is
// nothing to do; a blocking epoll_wait would be a system call the runtime
// must see (measured: no better than a goroutine per connection), so instead the
// loop's epoll instance is itself registered with the runtime's poller
// (os.NewFile of a non-blocking epoll fd is pollable) and the loop waits for it
// there, as a goroutine waits for a socket, polling its own set with a zero
// timeout inside the poller's callback. What this measures is the least a Go
// server can spend per request on this machine without leaving the runtime.
//
// Every event is handled inside that callback: the runtime holds a reference to
// the epoll fd there, so Close cannot close it under an epoll_ctl.
type RawLoop struct {
	lfd  int
	addr netip.AddrPort
	ep   *os.File // the epoll instance, in the runtime's poller
	rc   syscall.RawConn

	mu    sync.Mutex
	state loopState

	// Only Serve's goroutine touches what follows.
	waitFn func(uintptr) bool
	err    error // a failure that ends the loop, set inside the callback
	evs    [64]syscall.EpollEvent
	conns  []connState // indexed by file descriptor
	in     []byte      // a partial PDU carried over, then one read
	out    []byte      // one read's replies
}

type loopState int

const (
	loopIdle loopState = iota
	loopServing
	loopClosed
)

// connState is what the loop keeps per connection: nothing but the bytes of a
// PDU that has not all arrived (nil nearly always).
type connState struct {
	open bool
	pend []byte
}

// ListenRaw binds a raw event loop's listening socket on 127.0.0.1:port (0: any
// free port, see Addr).
func ListenRaw(port int) (*RawLoop, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("floor: port %d out of range 0-65535", port)
	}
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	l := &RawLoop{lfd: lfd}
	if err := l.listen(port); err != nil {
		syscall.Close(lfd)
		return nil, err
	}
	return l, nil
}

func (l *RawLoop) listen(port int) error {
	if err := syscall.SetsockoptInt(l.lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if err := syscall.Bind(l.lfd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fmt.Errorf("floor: bind 127.0.0.1:%d: %w", port, err)
	}
	// The kernel caps the backlog at net.core.somaxconn, as the net package's.
	if err := syscall.Listen(l.lfd, 4096); err != nil {
		return os.NewSyscallError("listen", err)
	}
	sa, err := syscall.Getsockname(l.lfd)
	if err != nil {
		return os.NewSyscallError("getsockname", err)
	}
	if in4, ok := sa.(*syscall.SockaddrInet4); ok {
		l.addr = netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port))
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.lfd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.lfd, &ev); err != nil {
		syscall.Close(epfd)
		return os.NewSyscallError("epoll_ctl", err)
	}
	// Non-blocking first: only then does os.NewFile hand the fd to the poller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return os.NewSyscallError("fcntl", err)
	}
	l.ep = os.NewFile(uintptr(epfd), "epoll")
	rc, err := l.ep.SyscallConn()
	if err != nil {
		l.ep.Close()
		return err
	}
	l.rc = rc
	l.waitFn = l.wait
	l.in = make([]byte, 2*MaxPDU)
	return nil
}

// Addr is the address the loop listens on.
func (l *RawLoop) Addr() netip.AddrPort { return l.addr }

// Serve runs the loop until Close (nil) or a failure of the loop itself.
// Connections are closed when it returns.
func (l *RawLoop) Serve() error {
	l.mu.Lock()
	if l.state != loopIdle {
		l.mu.Unlock()
		return errors.New("floor: RawLoop.Serve called twice or after Close")
	}
	l.state = loopServing
	l.mu.Unlock()
	defer l.closeAll()
	for {
		err := l.rc.Read(l.waitFn)
		if err != nil {
			l.mu.Lock()
			closed := l.state == loopClosed
			l.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("floor: waiting for the epoll fd: %w", err)
		}
		if l.err != nil {
			return l.err
		}
	}
}

// Close stops Serve.
func (l *RawLoop) Close() error {
	l.mu.Lock()
	st := l.state
	l.state = loopClosed
	l.mu.Unlock()
	if st == loopClosed {
		return nil
	}
	err := l.ep.Close()
	if st == loopIdle {
		syscall.Close(l.lfd)
	}
	return err
}

func (l *RawLoop) closeAll() {
	for fd := range l.conns {
		if l.conns[fd].open {
			rawClose(fd)
		}
	}
	l.conns = nil
	rawClose(l.lfd)
}

// wait is the poller's callback: false when nothing is ready (the poller then
// parks the goroutine until the epoll fd is readable), true once the ready events
// are handled or the loop must end (l.err).
func (l *RawLoop) wait(epfd uintptr) bool {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(&l.evs[0])), uintptr(len(l.evs)), 0, 0, 0)
	switch {
	case e == syscall.EINTR:
		return true
	case e != 0:
		l.err = os.NewSyscallError("epoll_pwait", e)
		return true
	case n == 0:
		return false
	}
	for _, ev := range l.evs[:n] {
		if int(ev.Fd) == l.lfd {
			l.accept(epfd)
		} else {
			l.readable(int(ev.Fd))
		}
		if l.err != nil {
			break
		}
	}
	return true
}

// accept takes one connection per event, as the C floor does: the listener is
// level-triggered, so a backlog wakes the loop again.
func (l *RawLoop) accept(epfd uintptr) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_ACCEPT4, uintptr(l.lfd), 0, 0, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
	switch e {
	case 0:
	case syscall.EAGAIN, syscall.EINTR, syscall.ECONNABORTED:
		return
	default:
		// EMFILE and the like: level-triggered, the loop would spin on it.
		l.err = fmt.Errorf("floor: accept4: %w (at the open file limit? ulimit -n)", e)
		return
	}
	fd := int(r)
	one := int32(1)
	syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, r, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, uintptr(unsafe.Pointer(&one)), 4, 0)
	g := Greeting()
	if !rawWriteAll(fd, g) {
		rawClose(fd)
		return
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, epfd, syscall.EPOLL_CTL_ADD, r, uintptr(unsafe.Pointer(&ev)), 0, 0); e != 0 {
		rawClose(fd)
		return
	}
	for len(l.conns) <= fd {
		l.conns = append(l.conns, connState{})
	}
	l.conns[fd] = connState{open: true}
}

// readable does one read on fd (level-triggered: more data wakes the loop
// again) and writes its replies in one write.
func (l *RawLoop) readable(fd int) {
	if fd < 0 || fd >= len(l.conns) || !l.conns[fd].open {
		return
	}
	c := &l.conns[fd]
	p := copy(l.in, c.pend)
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&l.in[p])), uintptr(MaxPDU))
	if e == syscall.EAGAIN || e == syscall.EINTR {
		return
	}
	if e != 0 || n == 0 {
		l.drop(fd)
		return
	}
	data := l.in[:p+int(n)]
	out, used, err := Respond(l.out[:0], data)
	l.out = out
	if len(out) > 0 && !rawWriteAll(fd, out) {
		l.drop(fd)
		return
	}
	if err != nil {
		l.drop(fd)
		return
	}
	if used == len(data) {
		c.pend = nil
	} else {
		c.pend = append(c.pend[:0], data[used:]...)
	}
}

func (l *RawLoop) drop(fd int) {
	rawClose(fd)
	l.conns[fd] = connState{}
}

// rawWriteAll is one write(2) that must take all of b: the floor keeps no
// output queue, so a client that leaves its replies unread is dropped.
func rawWriteAll(fd int, b []byte) bool {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return e == 0 && int(n) == len(b)
}

func rawClose(fd int) { syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0) }
