package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// Sources of small files holding a few numbers on one line (kernel tunables and
// counters under /proc/sys, the KSM state under /sys/kernel/mm/ksm):
//
//	vfs     /proc/sys/fs/{file-nr,inode-state,dentry-state,aio-nr,aio-max-nr}: vfs.*
//	kernsys /proc/sys/kernel/{random/entropy_avail,random/poolsize,pid_max,pty/nr}:
//	        kernel.all.entropy.*, kernel.all.pid_max, kernel.all.nptys
//	ksm     /sys/kernel/mm/ksm/*: mem.ksm.*
//
// Each file a fetch needs is read once, however many of its fields are asked for. A
// missing file (an older kernel, KSM not built in) gives no values; a file that
// cannot be read fails only the metrics it feeds, with the errno; a field that is
// not a decimal number, or does not fit the metric's type, gives no value.

// smallFileField is one metric: the file (relative to the source's root), which
// whitespace-separated field of it, and its descriptor.
type smallFileField struct {
	name   string
	file   string
	field  int
	pmid   protocol.PMID
	typ    int32
	sem    int32
	units  protocol.Units
	one    string // one-line help
	detail string // what the field is, for the long help
}

// smallFileSpec is one such source.
type smallFileSpec struct {
	name   string
	sys    bool // the files are under the sysfs root, not the procfs one
	dir    string
	fields []smallFileField
}

var smallFileSpecs = []smallFileSpec{
	{name: "vfs", dir: "sys/fs", fields: []smallFileField{
		{"vfs.files.count", "file-nr", 0, pmid(60, 27, 0), tI32, semI, uNone,
			"open file structures allocated by the kernel", "the first field: file handles allocated"},
		{"vfs.files.free", "file-nr", 1, pmid(60, 27, 1), tI32, semI, uNone,
			"allocated file structures not in use", "the second field: allocated file handles that are unused"},
		{"vfs.files.max", "file-nr", 2, pmid(60, 27, 2), tI32, semI, uNone,
			"most file structures the kernel will allocate", "the third field: the limit on file handles (fs.file-max)"},
		{"vfs.inodes.count", "inode-state", 0, pmid(60, 27, 3), tI32, semI, uNone,
			"inodes allocated by the kernel", "the first field: inodes allocated"},
		{"vfs.inodes.free", "inode-state", 1, pmid(60, 27, 4), tI32, semI, uNone,
			"allocated inodes not in use", "the second field: allocated inodes that are free"},
		{"vfs.dentry.count", "dentry-state", 0, pmid(60, 27, 5), tI32, semI, uNone,
			"directory cache entries allocated", "the first field: directory entries in the cache"},
		{"vfs.dentry.free", "dentry-state", 1, pmid(60, 27, 6), tI32, semI, uNone,
			"directory cache entries not in use", "the second field: cached directory entries nobody uses"},
		{"vfs.aio.count", "aio-nr", 0, pmid(60, 27, 7), tI32, semI, uNone,
			"asynchronous I/O requests in flight system wide", "the count of asynchronous I/O contexts' events now allocated"},
		{"vfs.aio.max", "aio-max-nr", 0, pmid(60, 27, 8), tI32, semI, uNone,
			"limit on asynchronous I/O requests system wide", "the limit aio-nr may reach"},
	}},
	{name: "kernsys", dir: "sys/kernel", fields: []smallFileField{
		{"kernel.all.entropy.avail", "random/entropy_avail", 0, pmid(60, 72, 0), tU32, semI, uNone,
			"bits of entropy the kernel's random pool holds", "the bits of entropy now in the pool"},
		{"kernel.all.entropy.poolsize", "random/poolsize", 0, pmid(60, 72, 1), tU32, semI, uNone,
			"size of the kernel's random pool in bits", "the pool's size in bits"},
		{"kernel.all.pid_max", "pid_max", 0, pmid(60, 72, 2), tU32, semD, uNone,
			"process ids wrap around at this value", "one more than the largest process id the kernel hands out"},
		{"kernel.all.nptys", "pty/nr", 0, pmid(60, 72, 3), tU32, semI, uNone,
			"pseudo-terminals in use", "the number of pseudo-terminals now allocated"},
	}},
	{name: "ksm", sys: true, dir: "kernel/mm/ksm", fields: []smallFileField{
		{"mem.ksm.full_scans", "full_scans", 0, pmid(60, 69, 0), tU64, semI, uCount,
			"complete scans of mergeable memory by KSM", "how many times the same-page merging daemon has scanned all mergeable areas"},
		{"mem.ksm.merge_across_nodes", "merge_across_nodes", 0, pmid(60, 69, 1), tU64, semI, uNone,
			"whether KSM merges pages of different NUMA nodes", "1 when pages of different NUMA nodes may be merged, 0 when not"},
		{"mem.ksm.pages_shared", "pages_shared", 0, pmid(60, 69, 2), tU64, semI, uNone,
			"shared pages KSM keeps", "how many merged pages are in use"},
		{"mem.ksm.pages_sharing", "pages_sharing", 0, pmid(60, 69, 3), tU64, semI, uNone,
			"pages mapped onto KSM's shared pages", "how many more sites share the merged pages (the saving)"},
		{"mem.ksm.pages_to_scan", "pages_to_scan", 0, pmid(60, 69, 4), tU64, semI, uNone,
			"pages KSM scans before it sleeps", "how many pages the merging daemon scans per wake-up"},
		{"mem.ksm.pages_unshared", "pages_unshared", 0, pmid(60, 69, 5), tU64, semI, uCount,
			"pages KSM checks that are unique", "pages scanned for merging that had no twin"},
		{"mem.ksm.pages_volatile", "pages_volatile", 0, pmid(60, 69, 6), tU64, semI, uNone,
			"pages changing too fast for KSM to merge", "pages scanned for merging that change too often"},
		{"mem.ksm.run_state", "run", 0, pmid(60, 69, 7), tU64, semI, uNone,
			"whether the KSM daemon runs", "0 stopped, 1 running, 2 stopped and all merged pages split again"},
		{"mem.ksm.sleep_time", "sleep_millisecs", 0, pmid(60, 69, 8), tU64, semI, uMsec,
			"time KSM sleeps between scans", "the milliseconds the merging daemon sleeps between batches"},
	}},
}

func init() {
	for _, spec := range smallFileSpecs {
		defs := make([]metricDef, len(spec.fields))
		for i, f := range spec.fields {
			defs[i] = metricDef{f.name, f.pmid, f.typ, null, f.sem, f.units, i}
		}
		registerSource(&sourceSpec{
			name:   spec.name,
			domain: DomainLinux,
			new: func(e *env) Source {
				root := e.procRoot
				if spec.sys {
					root = e.sysRoot
				}
				s := &smallFileSource{spec: spec, files: map[string]*kfile{}}
				for _, f := range spec.fields {
					if s.files[f.file] == nil {
						s.files[f.file] = newKfile(filepath.Join(root, spec.dir, f.file))
					}
				}
				return s
			},
			metrics: defs,
			help: func(d metricDef) helpText {
				if d.sel < 0 || d.sel >= len(spec.fields) {
					return helpText{}
				}
				f := spec.fields[d.sel]
				base := "/proc"
				if spec.sys {
					base = "/sys"
				}
				return helpText{f.one, "From " + base + "/" + spec.dir + "/" + f.file + ": " + f.detail + ".\n" +
					"No value when the kernel does not have the file."}
			},
		})
	}
}

type smallFileSource struct {
	spec  smallFileSpec
	files map[string]*kfile
	buf   []byte
	// per fetch: the fields of each file read so far, or its error
	read map[string]smallFileRead
}

type smallFileRead struct {
	fields [4]optU
	err    error
}

func (s *smallFileSource) Fetch(reqs []Request) error {
	if s.read == nil {
		s.read = make(map[string]smallFileRead, len(s.files))
	}
	clear(s.read)
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= len(s.spec.fields) {
			continue
		}
		f := s.spec.fields[rq.Sel]
		got, ok := s.read[f.file]
		if !ok {
			got = s.readFile(s.files[f.file])
			s.read[f.file] = got
		}
		if got.err != nil {
			rq.Res.Err = errCode(got.err)
			continue
		}
		v := got.fields[f.field]
		switch f.typ {
		case tI32:
			v.ok = v.ok && v.v <= 1<<31-1
		case tU32:
			v.ok = v.ok && v.v <= 1<<32-1
		}
		putOptU(rq.Res, protocol.InNull, v)
	}
	return nil
}

// readFile reads the first line's leading fields; a missing file has none.
func (s *smallFileSource) readFile(f *kfile) smallFileRead {
	var r smallFileRead
	b, err := f.read(s.buf)
	s.buf = b
	if errors.Is(err, fs.ErrNotExist) {
		return r
	}
	if err != nil {
		r.err = fmt.Errorf("%s: %w", f.path, err)
		return r
	}
	line, _ := nextLine(b)
	for i := range r.fields {
		var fld []byte
		fld, line = nextField(line)
		r.fields[i].v, r.fields[i].ok = parseUint(fld)
	}
	return r
}
