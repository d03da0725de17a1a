package metrics

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kfile reads one kernel pseudo-file. A file on procfs or sysfs is kept open and
// re-read from offset 0 each time (the kernel regenerates it on every read from the
// start), which saves the open(2) and close(2) that cost more than the read itself
// for small files. Any other file (a test fixture, say) is opened and closed on every
// read, so that it behaves like a file: replaced or removed between reads, it reads
// as such.
type kfile struct {
	path   string
	fd     int  // -1 when not held open
	noKeep bool // never hold this one open
	// whole is set while fd is held open on a file the kernel hands out whole in
	// one read (see wholeInOneRead): a read that returns less than asked is then
	// the end of the file, and the read that would return nothing is skipped.
	whole bool
	// endBelow, when not zero, is set while fd is held open on a seq file whose
	// records have a known bound (see pagedEnd): a first read shorter than it is
	// the end of the file, and the read that would return nothing is skipped.
	endBelow int
	// raw is set while fd is held open on procfs: its reads go through a raw
	// system call (rawPread).
	raw bool
}

func newKfile(path string) *kfile { return &kfile{path: path, fd: -1} }

// Filesystem magic numbers (statfs f_type) of the pseudo-filesystems whose files are
// kept open and re-read.
const (
	procSuperMagic = 0x9fa0
	sysfsMagic     = 0x62656572
)

// fileHook, when set (tests), is called with the path of every file read.
var fileHook func(path string)

// read reads the whole file into buf (grown as needed) and returns the contents.
func (f *kfile) read(buf []byte) ([]byte, error) {
	if fileHook != nil {
		fileHook(f.path)
	}
	if f.fd >= 0 {
		b, err := preadAll(f.fd, f.path, buf, f.whole, f.endBelow, f.raw)
		if err == nil || keepOnError(err) {
			return b, err
		}
		f.close() // e.g. ENODEV: the device went away; try to open it again
		buf = b
	}
	fd, err := unix.Open(f.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return buf[:0], &os.PathError{Op: "open", Path: f.path, Err: err}
	}
	var st unix.Statfs_t
	keep := !f.noKeep && unix.Fstatfs(fd, &st) == nil && (st.Type == procSuperMagic || st.Type == sysfsMagic)
	// The first read of a file always goes to the zero-byte read: only a file
	// known to be on procfs or sysfs may trust a short read.
	b, err := preadAll(fd, f.path, buf, false, 0, false)
	if keep && (err == nil || keepOnError(err)) {
		f.fd = fd
		f.whole = st.Type == sysfsMagic || wholeInOneRead(f.path)
		f.raw = st.Type == procSuperMagic
		if f.raw {
			f.endBelow = pagedEnd(f.path)
		}
	} else {
		unix.Close(fd)
	}
	return b, err
}

// keepOnError tells errors that are an attribute's answer (EINVAL reading the speed
// of a link that has none, say) from errors meaning the file is gone.
func keepOnError(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENODATA)
}

func (f *kfile) close() {
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
		f.whole, f.raw, f.endBelow = false, false, 0
	}
}

// wholeInOneRead reports whether path, a held-open procfs file, is one of those
// the kernel makes with single_open (or, for hostname, a sysctl): one record
// holding the whole text, generated into a buffer grown until it fits, so one
// read with room to spare returns all of it. Other seq files (/proc/net/dev,
// diskstats, vmstat, interrupts, mounts) stop each read at the end of their
// page-sized buffer whatever room the reader gave, so for them a short read is
// NOT the end and they keep the zero-byte read. Matched on the path's tail; a
// file not listed is read the careful way.
func wholeInOneRead(path string) bool {
	for _, suffix := range [...]string{
		"/stat", "/meminfo", "/loadavg", "/uptime", "/softirqs",
		"/pressure/cpu", "/pressure/memory", "/pressure/io", "/pressure/irq",
		"/self/status", "/net/snmp", "/net/netstat", "/net/snmp6",
		"/sys/kernel/hostname",
	} {
		if strings.HasSuffix(path, suffix) {
			return true
		}
	}
	return false
}

// changed reports whether a held-open mount table (/proc/mounts) may have changed
// since the last call: the kernel flags POLLPRI|POLLERR on it when a mount comes or
// goes. A file not held open always counts as changed.
func (f *kfile) changed() bool {
	if f.fd < 0 {
		return true
	}
	// A poll that does not wait: a raw system call, as rawPread's.
	p := [1]unix.PollFd{{Fd: int32(f.fd), Events: unix.POLLPRI}}
	n, _, e := unix.RawSyscall(unix.SYS_POLL, uintptr(unsafe.Pointer(&p[0])), 1, 0)
	if e != 0 {
		return true
	}
	return n > 0 && p[0].Revents&(unix.POLLPRI|unix.POLLERR|unix.POLLNVAL) != 0
}

// readFile reads a whole (small, /proc-style) file into buf, growing it as needed.
func readFile(path string, buf []byte) ([]byte, error) {
	if fileHook != nil {
		fileHook(path)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return buf[:0], &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	return preadAll(fd, path, buf, false, 0, false)
}

// pagedEnd returns, for a held-open procfs seq file whose records (lines) have a
// known upper size, the length below which a first read is the whole file, or 0.
// The kernel fills one page-sized buffer per read with whole records and stops
// only at the end of the file or at a record that does not fit what is left of
// the page; a read that left room for the largest record a file can have
// therefore stopped at the end. Confirming the end with the zero-byte read
// instead is not cheap: a read at an offset makes the kernel generate every
// record again to find where that offset falls.
//
// /proc/net/dev: a name of at most 16 bytes and 16 counters of at most 20
// digits, under 400 bytes a line. /proc/diskstats: two device numbers, a name of
// at most 32 bytes and 20 counters, under 500 bytes. Bounded at 1 KiB each. Other
// seq files (smaps, interrupts on a machine with many CPUs, mounts) can have
// records of any size and keep the zero-byte read.
func pagedEnd(path string) int {
	const recordMax = 1024
	if strings.HasSuffix(path, "/net/dev") || strings.HasSuffix(path, "/diskstats") {
		if page := os.Getpagesize(); page > recordMax {
			return page - recordMax
		}
	}
	return 0
}

// rawPread is pread(2) without the scheduler's bookkeeping around an ordinary
// system call (entersyscall/exitsyscall). That bookkeeping wakes the runtime's
// monitor thread on an idle server, once per request, which costs more than the
// read of a small /proc file; the saving shows only when every system call of a
// fetch goes raw (the client's socket does too: collectord/server rawconn.go).
// A raw call cannot hand its CPU to another goroutine if it blocks, so it is
// used only for held-open procfs files, which the kernel generates from memory
// without waiting on a device or the network; sysfs attributes (a network
// driver's speed, say) can wait, and keep the ordinary call.
func rawPread(fd int, p []byte, off int64) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), uintptr(off), 0, 0)
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

// preadAll reads fd from offset 0 to end of file. Files of pseudo-filesystems report
// no size, so it reads until a read returns nothing, or, when shortIsEnd (a file
// that comes whole in one read), until a read returns less than it had room for,
// or, when endBelow is not zero (pagedEnd), until a first read returns fewer bytes
// than endBelow.
func preadAll(fd int, path string, buf []byte, shortIsEnd bool, endBelow int, raw bool) ([]byte, error) {
	if cap(buf) < 4096 {
		buf = make([]byte, 0, 4096)
	}
	buf = buf[:0]
	const limit = 16 << 20
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= limit {
				return buf, fmt.Errorf("%s: %w: file too large", path, errParse)
			}
			buf = append(buf, 0)[:len(buf)]
		}
		room := cap(buf) - len(buf)
		var n int
		var err error
		if raw {
			n, err = rawPread(fd, buf[len(buf):cap(buf)], int64(len(buf)))
		} else {
			n, err = unix.Pread(fd, buf[len(buf):cap(buf)], int64(len(buf)))
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return buf, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n <= 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
		if shortIsEnd && n < room || len(buf) == n && n < endBelow && n < room {
			return buf, nil
		}
	}
}
