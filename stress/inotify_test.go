package stress

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher reports file events under some directories with inotify: which files a
// metric source opens, when certdb creates its temporary file.
type watcher struct {
	fd   int
	dirs map[int32]string
	buf  []byte
}

type fsEvent struct {
	path string
	mask uint32
}

// newWatcher watches dirs (not recursively) for the events in mask.
func newWatcher(t testing.TB, mask uint32, dirs ...string) *watcher {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	w := &watcher{fd: fd, dirs: map[int32]string{}, buf: make([]byte, 64<<10)}
	t.Cleanup(func() { unix.Close(fd) })
	for _, d := range dirs {
		wd, err := unix.InotifyAddWatch(fd, d, mask)
		if err != nil {
			t.Fatalf("inotify watch %s: %v", d, err)
		}
		w.dirs[int32(wd)] = d
	}
	return w
}

// events returns the events queued, waiting up to timeout for the first one.
func (w *watcher) events(timeout time.Duration) []fsEvent {
	var out []fsEvent
	first := true
	for {
		wait := 0
		if first {
			wait = int(timeout / time.Millisecond)
		}
		first = false
		pfd := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, wait); err != nil || n == 0 {
			if err == unix.EINTR {
				continue
			}
			return out
		}
		n, err := unix.Read(w.fd, w.buf)
		if err != nil || n <= 0 {
			return out
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&w.buf[off]))
			name := ""
			if ev.Len > 0 {
				raw := w.buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				name = strings.TrimRight(string(raw), "\x00")
			}
			p := w.dirs[ev.Wd]
			if name != "" {
				p = filepath.Join(p, name)
			}
			out = append(out, fsEvent{path: p, mask: ev.Mask})
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}
