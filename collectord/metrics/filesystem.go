package metrics

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/protocol"
)

// The "mounts" source: /proc/mounts, and statfs(2) of each mount point (joined under
// Options.RootFS) when a fetch asks for sizes. Instances (indom 60.5) follow the
// linux agent (filesys.c): only block-device filesystems (device under /dev, not
// proc/nfs/devfs/devpts/auto*/tmpfs), named by the device with symbolic links
// resolved, the first mount of a device winning. Ids are stable, never reused.
//
// procfs only parses /proc/self/mountinfo; the agent reads /proc/mounts, whose
// device field is what it reports, so this file is parsed here (with the kernel's
// octal escapes for space, tab, newline and backslash). The file is kept open and
// re-read only when poll(2) says the mount table changed.

const (
	selCapacity = iota
	selFsUsed
	selFsFree
	selMountdir
	// added with the metric breadth work
	selMaxfiles
	selUsedfiles
	selFreefiles
	selFull
	selBlocksize
	selAvail
	selReadonly
	selNFilesys
)

// fsOwnHelp: our own help for the filesys metrics added since the first catalogue.
var fsOwnHelp = map[int]helpText{
	selMaxfiles:  {"inodes the filesystem has in all", "f_files of statfs(2) on the mount point (/proc/mounts), per filesystem."},
	selUsedfiles: {"inodes in use", "f_files minus f_ffree of statfs(2) on the mount point (/proc/mounts)."},
	selFreefiles: {"inodes not in use", "f_ffree of statfs(2) on the mount point (/proc/mounts), per filesystem."},
	selFull: {"percentage of the space usable by ordinary users that is in use",
		"Used blocks over used plus f_bavail blocks, times 100, from statfs(2) on the mount\n" +
			"point (/proc/mounts); the blocks reserved for root count as neither, as df does."},
	selBlocksize: {"block size of the filesystem", "f_bsize of statfs(2) on the mount point (/proc/mounts), in bytes."},
	selAvail: {"space available to ordinary users, in Kbytes",
		"f_bavail times f_bsize of statfs(2) on the mount point (/proc/mounts): free space\n" +
			"minus the blocks reserved for root."},
	selReadonly: {"whether the filesystem is mounted read-only",
		"1 when statfs(2) on the mount point (/proc/mounts) reports ST_RDONLY, else 0."},
	selNFilesys: {"number of filesystems served as filesys.* instances",
		"The block-device mounts of /proc/mounts, counted as the filesys instance domain is."},
}

func init() {
	registerSource(&sourceSpec{
		name:   "mounts",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomFilesys},
		new: func(e *env) Source {
			return &fsSource{file: newKfile(filepath.Join(e.procRoot, "mounts")), rootFS: e.rootFS}
		},
		metrics: []metricDef{
			{"filesys.capacity", pmid(60, 5, 1), tU64, indomFilesys, semD, uKB, selCapacity},
			{"filesys.used", pmid(60, 5, 2), tU64, indomFilesys, semI, uKB, selFsUsed},
			{"filesys.free", pmid(60, 5, 3), tU64, indomFilesys, semI, uKB, selFsFree},
			{"filesys.mountdir", pmid(60, 5, 7), tSTR, indomFilesys, semD, uNone, selMountdir},
			{"filesys.maxfiles", pmid(60, 5, 4), tU32, indomFilesys, semD, uNone, selMaxfiles},
			{"filesys.usedfiles", pmid(60, 5, 5), tU32, indomFilesys, semI, uNone, selUsedfiles},
			{"filesys.freefiles", pmid(60, 5, 6), tU32, indomFilesys, semI, uNone, selFreefiles},
			{"filesys.full", pmid(60, 5, 8), tDBL, indomFilesys, semI, uNone, selFull},
			{"filesys.blocksize", pmid(60, 5, 9), tU32, indomFilesys, semI, uByte, selBlocksize},
			{"filesys.avail", pmid(60, 5, 10), tU64, indomFilesys, semI, uKB, selAvail},
			{"filesys.readonly", pmid(60, 5, 11), tU32, indomFilesys, semI, uNone, selReadonly},
			{"hinv.nfilesys", pmid(60, 5, 0), tU32, null, semD, uCount, selNFilesys},
		},
		help: func(d metricDef) helpText { return fsOwnHelp[d.sel] },
	})
}

type mount struct {
	id       uint32
	dir      string // mount point as the kernel reports it
	statPath string // dir joined under rootFS
	st       unix.Statfs_t
	stOK     bool
	fuse     bool // served by a user-space process, which may take its time
}

type fsSource struct {
	file   *kfile
	valid  bool // mounts holds the table as last read
	rootFS string
	// statfs, when set (tests), answers statfs(2) for every mount; nil is the
	// kernel's, as a raw system call except for FUSE (rawStatfs).
	statfs    func(string, *unix.Statfs_t) error
	buf       []byte
	ids       idCache
	mounts    []mount
	dirs      []string // by id: mount point, and joined under rootFS
	statPaths []string
	// device field -> instance name with symbolic links resolved, cached: resolving
	// costs syscalls, and a mounted device's /dev links do not change.
	resolved map[string]string
}

// read refreshes the mount table, unless the kernel says it has not changed since the
// last read (poll on a held-open /proc/mounts): the table is long to generate, and
// mounts come and go rarely.
func (s *fsSource) read() error {
	if s.valid && !s.file.changed() {
		return nil
	}
	s.valid = false
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.mounts = s.mounts[:0]
	wellFormed, blank := 0, true
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		dev, r := nextField(line)
		dir, r := nextField(r)
		typ, r := nextField(r)
		if len(dev) > 0 {
			blank = false
		}
		if len(typ) == 0 {
			continue
		}
		// A mounts line has six fields, the last two (dump, pass) numbers.
		_, r = nextField(r)
		dump, r := nextField(r)
		pass, _ := nextField(r)
		if _, ok := parseUint(dump); ok {
			if _, ok := parseUint(pass); ok {
				wellFormed++
			}
		}
		if skipFSType(typ) || !bytes.HasPrefix(dev, []byte("/dev")) {
			continue
		}
		name, ok := s.resolved[string(dev)] // lookup without allocation
		if !ok {
			name = s.resolve(unescapeMount(dev))
			if s.resolved == nil {
				s.resolved = make(map[string]string)
			}
			s.resolved[string(dev)] = name
		}
		id := s.ids.idString(name)
		dup := false
		for i := range s.mounts {
			if s.mounts[i].id == id {
				dup = true // repeated device: the first mount wins
				break
			}
		}
		if dup {
			continue
		}
		s.mounts = append(s.mounts, mount{id: id, fuse: bytes.HasPrefix(typ, []byte("fuse"))})
		m := &s.mounts[len(s.mounts)-1]
		for uint32(len(s.dirs)) <= id {
			s.dirs = append(s.dirs, "")
			s.statPaths = append(s.statPaths, "")
		}
		if bytes.IndexByte(dir, '\\') >= 0 || string(dir) != s.dirs[id] {
			if d := unescapeMount(dir); d != s.dirs[id] {
				s.dirs[id], s.statPaths[id] = d, filepath.Join(s.rootFS, d)
			}
		}
		m.dir, m.statPath = s.dirs[id], s.statPaths[id]
	}
	if !blank && wellFormed == 0 {
		return fmt.Errorf("%s: %w: no mount line", s.file.path, errParse)
	}
	s.valid = true
	return nil
}

func skipFSType(t []byte) bool {
	switch string(t) { // no allocation: the compiler switches on the bytes
	case "proc", "nfs", "devfs", "devpts", "tmpfs":
		return true
	}
	return bytes.HasPrefix(t, []byte("auto"))
}

// resolve follows a device's symbolic links (e.g. /dev/mapper/x -> /dev/dm-0), as
// realpath(3) in the agent does, looking under rootFS.
func (s *fsSource) resolve(dev string) string {
	full := filepath.Join(s.rootFS, dev)
	fi, err := os.Lstat(full)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return dev
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return dev
	}
	if root := filepath.Clean(s.rootFS); root != "/" {
		rel, err := filepath.Rel(root, real)
		if err != nil || strings.HasPrefix(rel, "..") {
			return dev
		}
		real = "/" + rel
	}
	return real
}

// unescapeMount undoes the octal escapes of /proc/mounts (\040 for a space, etc.).
func unescapeMount(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && isOctal(b, i+1) {
			out = append(out, (b[i+1]-'0')<<6|(b[i+2]-'0')<<3|(b[i+3]-'0'))
			i += 3
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

func isOctal(b []byte, at int) bool {
	if at+3 > len(b) {
		return false
	}
	for _, c := range b[at : at+3] {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

func (s *fsSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	needStat := false
	for _, rq := range reqs {
		if rq.Sel != selMountdir && rq.Sel != selNFilesys {
			needStat = true
		}
	}
	if needStat {
		for i := range s.mounts {
			m := &s.mounts[i]
			statfs := s.statfs
			switch {
			case statfs != nil:
			case m.fuse:
				statfs = unix.Statfs
			default:
				statfs = rawStatfs
			}
			m.stOK = statfs(m.statPath, &m.st) == nil
		}
	}
	for _, rq := range reqs {
		res := rq.Res
		if rq.Sel == selNFilesys {
			putU(res, protocol.InNull, uint64(len(s.mounts)))
			continue
		}
		for i := range s.mounts {
			m := &s.mounts[i]
			if rq.Sel == selMountdir {
				putS(res, m.id, m.dir)
				continue
			}
			if !m.stOK {
				continue // this filesystem only: no value
			}
			bsize := uint64(m.st.Bsize)
			switch rq.Sel {
			case selCapacity:
				putU(res, m.id, m.st.Blocks*bsize/1024)
			case selFsUsed:
				putU(res, m.id, (m.st.Blocks-m.st.Bfree)*bsize/1024)
			case selFsFree:
				putU(res, m.id, m.st.Bfree*bsize/1024)
			case selMaxfiles:
				putU(res, m.id, uint64(uint32(m.st.Files)))
			case selUsedfiles:
				if m.st.Files >= m.st.Ffree {
					putU(res, m.id, uint64(uint32(m.st.Files-m.st.Ffree)))
				}
			case selFreefiles:
				putU(res, m.id, uint64(uint32(m.st.Ffree)))
			case selFull:
				// No value for a filesystem with no usable blocks at all, rather
				// than a division by zero.
				used := m.st.Blocks - m.st.Bfree
				if m.st.Bfree <= m.st.Blocks && used+m.st.Bavail > 0 {
					putF(res, m.id, float64(used)*100/float64(used+m.st.Bavail))
				}
			case selBlocksize:
				putU(res, m.id, uint64(uint32(m.st.Bsize)))
			case selAvail:
				putU(res, m.id, m.st.Bavail*bsize/1024)
			case selReadonly:
				putU(res, m.id, uint64(m.st.Flags&unix.ST_RDONLY))
			}
		}
	}
	return nil
}

func (s *fsSource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.mounts))
	for i, m := range s.mounts {
		out[i] = Instance{ID: m.id, Name: s.ids.name(m.id)}
	}
	sortInstances(out)
	return out, nil
}

// rawStatfs is statfs(2) as a raw system call, for the reason rawPread gives
// (kfile.go). The mounts measured are block-device filesystems (network
// filesystems and pseudo-filesystems are skipped), whose statfs the kernel answers
// from counters in memory without waiting on the device; FUSE filesystems, which
// a user-space process answers, keep the ordinary call. The path is made
// NUL-terminated on the stack, so nothing is allocated.
func rawStatfs(path string, st *unix.Statfs_t) error {
	var b [512]byte
	if len(path) >= len(b) || strings.IndexByte(path, 0) >= 0 {
		return unix.Statfs(path, st) // long, or with a NUL the ordinary call refuses
	}
	copy(b[:], path)
	_, _, e := unix.RawSyscall(unix.SYS_STATFS, uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(st)), 0)
	if e != 0 {
		return &os.PathError{Op: "statfs", Path: path, Err: e}
	}
	return nil
}
