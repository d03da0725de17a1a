package metrics

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/protocol"
)

// The "tmpfs" source: the tmpfs mounts of /proc/self/mounts, each measured with
// statfs(2) on its mount point (tmpfs.*). The instances of indom 60.18 are the
// mount points as /proc/mounts prints them (white space escaped as \040), the first
// of repeated mounts of one point winning, as the linux agent names them; their ids
// stay fixed while the collector runs. A mount point that statfs cannot reach (it
// went away since the mount table was read) gives no values, and is not an error, as
// for filesys.*. The file is /proc/self/mounts, the one the linux agent reads (the
// filesys source reads /proc/mounts): like that source, this one re-reads it only
// when a poll says the mount table changed. It is hand-parsed as in filesystem.go:
// procfs's mount parser allocates per line and does not keep the kernel's escapes
// for the instance name.

var indomTmpfs = protocol.NewInDom(DomainLinux, 18)

const (
	selTmpfsCapacity = iota
	selTmpfsUsed
	selTmpfsFree
	selTmpfsMaxfiles
	selTmpfsUsedfiles
	selTmpfsFreefiles
	selTmpfsFull
)

var tmpfsHelp = map[int]helpText{
	selTmpfsCapacity:  {"size of each tmpfs filesystem", "f_blocks times f_bsize of statfs(2) on the tmpfs mount point (/proc/self/mounts),\nin kilobytes."},
	selTmpfsUsed:      {"space used on each tmpfs filesystem", "f_blocks less f_bfree, times f_bsize, of statfs(2) on the tmpfs mount point\n(/proc/self/mounts), in kilobytes."},
	selTmpfsFree:      {"space free on each tmpfs filesystem", "f_bfree times f_bsize of statfs(2) on the tmpfs mount point (/proc/self/mounts),\nin kilobytes."},
	selTmpfsMaxfiles:  {"inodes each tmpfs filesystem allows", "f_files of statfs(2) on the tmpfs mount point (/proc/self/mounts); no value above\n2^32 - 1."},
	selTmpfsUsedfiles: {"inodes in use on each tmpfs filesystem", "f_files less f_ffree of statfs(2) on the tmpfs mount point (/proc/self/mounts)."},
	selTmpfsFreefiles: {"inodes free on each tmpfs filesystem", "f_ffree of statfs(2) on the tmpfs mount point (/proc/self/mounts); no value above\n2^32 - 1."},
	selTmpfsFull:      {"percentage of each tmpfs filesystem in use", "100 times used over used plus f_bavail, from statfs(2) on the tmpfs mount\npoint (/proc/self/mounts); 0 for a filesystem of no size."},
}

func init() {
	setOwnInDomHelp(indomTmpfs, "tmpfs mounts",
		"Each mount point of a tmpfs filesystem in /proc/self/mounts, as printed there.")
	registerSource(&sourceSpec{
		name:   "tmpfs",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomTmpfs},
		new: func(e *env) Source {
			return &tmpfsSource{file: newKfile(filepath.Join(e.procRoot, "self/mounts")), rootFS: e.rootFS, statfs: unix.Statfs}
		},
		metrics: []metricDef{
			{"tmpfs.capacity", pmid(60, 34, 1), tU64, indomTmpfs, semD, uKB, selTmpfsCapacity},
			{"tmpfs.used", pmid(60, 34, 2), tU64, indomTmpfs, semI, uKB, selTmpfsUsed},
			{"tmpfs.free", pmid(60, 34, 3), tU64, indomTmpfs, semI, uKB, selTmpfsFree},
			{"tmpfs.maxfiles", pmid(60, 34, 4), tU32, indomTmpfs, semD, uNone, selTmpfsMaxfiles},
			{"tmpfs.usedfiles", pmid(60, 34, 5), tU32, indomTmpfs, semI, uNone, selTmpfsUsedfiles},
			{"tmpfs.freefiles", pmid(60, 34, 6), tU32, indomTmpfs, semI, uNone, selTmpfsFreefiles},
			{"tmpfs.full", pmid(60, 34, 7), tDBL, indomTmpfs, semI, uNone, selTmpfsFull},
		},
		help: func(d metricDef) helpText { return tmpfsHelp[d.sel] },
	})
}

type tmpfsMount struct {
	id       uint32
	statPath string
}

type tmpfsSource struct {
	file   *kfile
	valid  bool // mounts holds the table as last read
	buf    []byte
	rootFS string
	statfs func(string, *unix.Statfs_t) error
	ids    idCache
	mounts []tmpfsMount
}

func (s *tmpfsSource) read() error {
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
	lines := 0
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		dev, r := nextField(line)
		if len(dev) == 0 {
			continue
		}
		dir, r := nextField(r)
		typ, _ := nextField(r)
		if len(typ) == 0 || len(dir) == 0 || dir[0] != '/' {
			return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
		}
		lines++
		if string(typ) != "tmpfs" {
			continue
		}
		id := s.ids.id(dir)
		dup := false
		for _, m := range s.mounts {
			dup = dup || m.id == id
		}
		if dup {
			continue
		}
		if len(s.mounts) >= 1<<16 {
			return fmt.Errorf("%s: %w: too many tmpfs mounts", s.file.path, errParse)
		}
		s.mounts = append(s.mounts, tmpfsMount{id, filepath.Join(s.rootFS, unescapeMount(dir))})
	}
	if lines == 0 && len(b) > 0 {
		return fmt.Errorf("%s: %w: no mount line", s.file.path, errParse)
	}
	s.valid = true
	return nil
}

func (s *tmpfsSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	var st unix.Statfs_t
	for _, m := range s.mounts {
		if s.statfs(m.statPath, &st) != nil {
			continue // gone since the mount table was read
		}
		bs := uint64(st.Bsize)
		if st.Bsize <= 0 || st.Bfree > st.Blocks || st.Ffree > st.Files {
			continue // nonsense from statfs: no values rather than wrong ones
		}
		used := st.Blocks - st.Bfree
		for _, rq := range reqs {
			switch rq.Sel {
			case selTmpfsCapacity:
				putKB(rq.Res, m.id, st.Blocks, bs)
			case selTmpfsUsed:
				putKB(rq.Res, m.id, used, bs)
			case selTmpfsFree:
				putKB(rq.Res, m.id, st.Bfree, bs)
			case selTmpfsMaxfiles:
				putU32(rq.Res, m.id, clampI64(st.Files))
			case selTmpfsUsedfiles:
				putU32(rq.Res, m.id, clampI64(st.Files-st.Ffree))
			case selTmpfsFreefiles:
				putU32(rq.Res, m.id, clampI64(st.Ffree))
			case selTmpfsFull:
				full := 0.0
				if d := used + st.Bavail; d != 0 {
					full = 100 * float64(used) / float64(d)
				}
				putF(rq.Res, m.id, full)
			}
		}
	}
	return nil
}

// putKB adds blocks of bs bytes as kilobytes, none when that overflows.
func putKB(res *Result, inst uint32, blocks, bs uint64) {
	if bs != 0 && blocks > (1<<64-1)/bs {
		return
	}
	putU(res, inst, blocks*bs/1024)
}

func clampI64(v uint64) int64 {
	if v > 1<<63-1 {
		return -1 // fails putU32's range check
	}
	return int64(v)
}

func (s *tmpfsSource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.mounts))
	for i, m := range s.mounts {
		out[i] = Instance{ID: m.id, Name: s.ids.name(m.id)}
	}
	return out, nil
}
