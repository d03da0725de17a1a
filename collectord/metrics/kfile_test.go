package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func onProcfs(t *testing.T) {
	t.Helper()
	var st unix.Statfs_t
	if unix.Statfs("/proc/self", &st) != nil || st.Type != procSuperMagic {
		t.Skip("/proc is not procfs here")
	}
}

// readSyscalls is the process's count of read system calls so far (pread included).
func readSyscalls(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "syscr: "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Skip("no syscr in /proc/self/io")
	return 0
}

// A held-open single-record file (/proc/loadavg) costs one read per fetch: the
// zero-byte read that used to confirm the end is skipped.
func TestKfileWholeFileOneRead(t *testing.T) {
	onProcfs(t)
	f := newKfile("/proc/loadavg")
	defer f.close()
	buf, err := f.read(nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.fd < 0 || !f.whole {
		t.Fatalf("/proc/loadavg not held open as a whole file (fd %d, whole %v)", f.fd, f.whole)
	}
	const n = 200
	overhead := readSyscalls(t)
	overhead = readSyscalls(t) - overhead // what measuring itself costs
	before := readSyscalls(t)
	for i := 0; i < n; i++ {
		if buf, err = f.read(buf); err != nil || len(buf) == 0 {
			t.Fatalf("read %d: %q, %v", i, buf, err)
		}
	}
	// Other goroutines may read a little meanwhile; two reads per call would be 2n.
	if got := readSyscalls(t) - before - overhead; got > n+n/4 {
		t.Fatalf("%d reads of /proc/loadavg took %d read system calls", n, got)
	}
}

// A multi-record seq file larger than a page stops each read at the end of the
// kernel's buffer, short of what the reader asked: trusting a short read there
// would cut it. Files not known to come whole are read to the zero-byte read, in
// full.
func TestKfileMultiRecordReadInFull(t *testing.T) {
	onProcfs(t)
	const path = "/proc/self/smaps" // one record (of many lines) per mapping
	if wholeInOneRead(path) {
		t.Fatalf("%s listed as a whole file", path)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	careful, err := preadAll(fd, path, make([]byte, 0, 1<<20), false, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(careful) <= os.Getpagesize() {
		t.Skipf("%s is only %d bytes here: nothing to show", path, len(careful))
	}
	trusting, err := preadAll(fd, path, make([]byte, 0, 1<<20), true, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(trusting) >= len(careful) {
		t.Fatalf("a short read of %s was its end (%d of %d bytes): the kernel no longer pages seq files, revisit wholeInOneRead", path, len(trusting), len(careful))
	}
	f := newKfile(path)
	defer f.close()
	got, err := f.read(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The mappings may change between reads; the size of the text hardly does.
	if len(got) < len(careful)*3/4 || !bytes.HasSuffix(got, []byte("\n")) {
		t.Fatalf("kfile read %d bytes of %s, a full read has %d", len(got), path, len(careful))
	}
}

// Every file listed as coming whole really does on this kernel: the short-read
// result has the same lines (the same first fields) as a careful read.
func TestKfileWholeListMatchesKernel(t *testing.T) {
	onProcfs(t)
	for _, p := range []string{"/proc/stat", "/proc/meminfo", "/proc/loadavg", "/proc/uptime", "/proc/softirqs",
		"/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io", "/proc/self/status",
		"/proc/net/snmp", "/proc/net/netstat", "/proc/net/snmp6", "/proc/sys/kernel/hostname"} {
		if !wholeInOneRead(p) {
			t.Errorf("%s not listed as a whole file", p)
			continue
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // not on this kernel (pressure, snmp6)
		}
		whole, err1 := preadAll(fd, p, nil, true, 0, true) // raw, as held-open procfs files are read
		careful, err2 := preadAll(fd, p, nil, false, 0, false)
		unix.Close(fd)
		if err1 != nil || err2 != nil {
			continue // e.g. pressure files present but PSI disabled (EOPNOTSUPP)
		}
		firsts := func(b []byte) string {
			var out []string
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) > 0 {
					out = append(out, f[0])
				}
			}
			return strings.Join(out, " ")
		}
		if firsts(whole) != firsts(careful) {
			t.Errorf("%s: one short read gave %d bytes, a careful read %d", p, len(whole), len(careful))
		}
	}
}

// A held-open procfs file is read with the raw pread, which must read what the
// ordinary one reads and report errors the same way (a bad descriptor is an
// error naming the file, not a panic or an empty success).
func TestKfileRawPread(t *testing.T) {
	onProcfs(t)
	f := newKfile("/proc/self/stat")
	defer f.close()
	if _, err := f.read(nil); err != nil {
		t.Fatal(err)
	}
	if f.fd < 0 || !f.raw {
		t.Fatalf("/proc/self/stat: held open %v, raw %v; want both", f.fd >= 0, f.raw)
	}
	got, err := f.read(nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The pid and command name open the line; the counters after them move.
	first := func(b []byte) string { return strings.Join(strings.Fields(string(b))[:2], " ") }
	if first(got) != first(want) {
		t.Fatalf("raw read %q, os.ReadFile %q", got, want)
	}
	if _, err := preadAll(-1, "/nonexistent", nil, false, 0, true); !errors.Is(err, unix.EBADF) || !strings.Contains(err.Error(), "/nonexistent") {
		t.Fatalf("raw pread of a bad descriptor: %v, want EBADF naming the path", err)
	}
	sysfs := newKfile("/sys/kernel/mm/transparent_hugepage/enabled")
	defer sysfs.close()
	if _, err := sysfs.read(nil); err == nil && sysfs.raw {
		t.Fatal("a sysfs attribute is read raw; only procfs files may be")
	}
}

// /proc/net/dev and /proc/diskstats, seq files of bounded records, cost one read
// per fetch when they are short of a page less the record bound, and that read
// holds what a careful read to the zero-byte read finds (the same first fields).
// Larger, they keep reading: the result still matches.
func TestKfilePagedEnd(t *testing.T) {
	onProcfs(t)
	for _, p := range []string{"/proc/net/dev", "/proc/diskstats"} {
		if pagedEnd(p) == 0 {
			t.Fatalf("%s has no paged end", p)
		}
		f := newKfile(p)
		buf, err := f.read(nil)
		if err != nil {
			f.close()
			t.Skipf("%s: %v", p, err)
		}
		if f.fd < 0 || f.endBelow == 0 {
			f.close()
			t.Fatalf("%s not held open with a paged end (fd %d, endBelow %d)", p, f.fd, f.endBelow)
		}
		careful, err := preadAll(f.fd, p, nil, false, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		const n = 100
		overhead := readSyscalls(t)
		overhead = readSyscalls(t) - overhead
		before := readSyscalls(t)
		for i := 0; i < n; i++ {
			if buf, err = f.read(buf); err != nil {
				t.Fatal(err)
			}
		}
		got := readSyscalls(t) - before - overhead
		f.close()
		if firstFields(buf) != firstFields(careful) {
			t.Fatalf("%s: a paged read has lines %q, a careful read %q", p, firstFields(buf), firstFields(careful))
		}
		if len(careful) < f.endBelow || len(careful) < pagedEnd(p) {
			if got > n+n/4 {
				t.Fatalf("%d reads of %s (%d bytes) took %d read system calls", n, p, len(careful), got)
			}
		}
	}
	for _, p := range []string{"/proc/self/smaps", "/proc/interrupts", "/proc/mounts", "/proc/vmstat"} {
		if pagedEnd(p) != 0 {
			t.Errorf("%s, whose records have no bound, has a paged end", p)
		}
	}
}

// firstFields is the first field of every line, to compare two reads of a file
// whose counters move between them.
func firstFields(b []byte) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return strings.Join(out, " ")
}
