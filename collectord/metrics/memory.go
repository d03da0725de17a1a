package metrics

import (
	"fmt"
	"path/filepath"

	"github.com/gopcp/gopcp/protocol"
)

// The "meminfo" source: /proc/meminfo. A field the kernel does not print stays
// absent (the tests check this parser against procfs's Meminfo, which has a pointer
// per field for the same reason). Every line is parsed, since a line that is not
// "Name: value [kB]" makes the whole file garbage.
//
// The "pagesize" source: the kernel page size, which needs no file.
//
// The vmstat source is in vmstat.go.

// Selectors of the meminfo metrics that are not one field: the rest use the index
// of their field in meminfoFields (below) as their selector.
const (
	selPhysmem = 1000 + iota
	selHinvPhysmem
	selUsed
	selFreemem
	selSwapLength
	selSwapUsed
	selSwapFree
	selOther
	selCacheClean
	selHugeTotalBytes
	selHugeFreeBytes
	selHugeRsvdBytes
	selHugeSurpBytes
)

// memField is one mem.util metric that is a /proc/meminfo field as it is, in Kbytes
// (or a count of huge pages). item is its item in cluster 1 of the linux domain.
type memField struct {
	name, key string
	item      uint32
	units     protocol.Units
	oneline   string
}

// meminfoFields: the metrics that are a meminfo field unchanged, in the linux agent's
// namespace order. The first ones are also inputs of the computed metrics.
var meminfoFields = []memField{
	{"free", "MemFree", 2, uKB, "memory not used for anything"},
	{"shared", "MemShared", 3, uKB, "shared memory, as Linux 2.4 reported it"},
	{"bufmem", "Buffers", 4, uKB, "memory in block device buffers"},
	{"cached", "Cached", 5, uKB, "page cache memory holding file data, not counting swap cache"},
	{"swapCached", "SwapCached", 13, uKB, "memory that was swapped out and read back, still in swap too"},
	{"active", "Active", 14, uKB, "memory used recently and not reclaimed unless needed"},
	{"inactive", "Inactive", 15, uKB, "memory used less recently, first to be reclaimed"},
	{"highTotal", "HighTotal", 16, uKB, "total high memory (32-bit kernels only)"},
	{"highFree", "HighFree", 17, uKB, "free high memory (32-bit kernels only)"},
	{"lowTotal", "LowTotal", 18, uKB, "total low memory (32-bit kernels only)"},
	{"lowFree", "LowFree", 19, uKB, "free low memory (32-bit kernels only)"},
	{"swapTotal", "SwapTotal", 20, uKB, "total size of all swap areas"},
	{"swapFree", "SwapFree", 21, uKB, "unused space in all swap areas"},
	{"dirty", "Dirty", 22, uKB, "modified memory waiting to be written to disk"},
	{"writeback", "Writeback", 23, uKB, "memory being written to disk now"},
	{"mapped", "Mapped", 24, uKB, "file pages mapped into process address spaces"},
	{"slab", "Slab", 25, uKB, "memory used by the kernel's slab allocator"},
	{"committed_AS", "Committed_AS", 26, uKB, "memory promised to processes, used or not"},
	{"pageTables", "PageTables", 27, uKB, "memory used for page tables"},
	{"reverseMaps", "ReverseMaps", 28, uKB, "memory used for reverse mappings (old 2.5/2.6 kernels)"},
	{"anonpages", "AnonPages", 30, uKB, "anonymous (not file backed) memory mapped by processes"},
	{"commitLimit", "CommitLimit", 31, uKB, "most memory the kernel will promise under strict overcommit"},
	{"bounce", "Bounce", 32, uKB, "memory used for block device bounce buffers"},
	{"NFS_Unstable", "NFS_Unstable", 33, uKB, "NFS pages sent to the server but not yet committed there"},
	{"slabReclaimable", "SReclaimable", 34, uKB, "slab memory that can be reclaimed, such as caches"},
	{"slabUnreclaimable", "SUnreclaim", 35, uKB, "slab memory that cannot be reclaimed under pressure"},
	{"active_anon", "Active(anon)", 36, uKB, "anonymous memory on the active list"},
	{"inactive_anon", "Inactive(anon)", 37, uKB, "anonymous memory on the inactive list"},
	{"active_file", "Active(file)", 38, uKB, "file-backed memory on the active list"},
	{"inactive_file", "Inactive(file)", 39, uKB, "file-backed memory on the inactive list"},
	{"unevictable", "Unevictable", 40, uKB, "memory that cannot be paged out (mlocked, ramfs, ...)"},
	{"mlocked", "Mlocked", 41, uKB, "memory locked in place with mlock(2)"},
	{"shmem", "Shmem", 42, uKB, "shared memory and tmpfs pages"},
	{"kernelStack", "KernelStack", 43, uKB, "memory used by kernel thread stacks"},
	{"hugepagesTotal", "HugePages_Total", 44, uCount, "number of huge pages in the pool"},
	{"hugepagesFree", "HugePages_Free", 45, uCount, "number of huge pages in the pool not yet allocated"},
	{"hugepagesRsvd", "HugePages_Rsvd", 46, uCount, "number of huge pages reserved but not yet faulted in"},
	{"hugepagesSurp", "HugePages_Surp", 47, uCount, "number of huge pages above the configured pool size"},
	{"directMap4k", "DirectMap4k", 48, uKB, "kernel direct mapping made of 4 KiB pages"},
	{"directMap2M", "DirectMap2M", 49, uKB, "kernel direct mapping made of 2 MiB pages"},
	{"vmallocTotal", "VmallocTotal", 50, uKB, "size of the kernel's vmalloc address range"},
	{"vmallocUsed", "VmallocUsed", 51, uKB, "part of the vmalloc range in use"},
	{"vmallocChunk", "VmallocChunk", 52, uKB, "largest free block of the vmalloc range"},
	{"mmap_copy", "MmapCopy", 53, uKB, "memory copied for private mappings (kernels without an MMU)"},
	{"quicklists", "Quicklists", 54, uKB, "memory in page table quicklists (old kernels)"},
	{"corrupthardware", "HardwareCorrupted", 55, uKB, "memory the kernel took out of use after hardware errors"},
	{"anonhugepages", "AnonHugePages", 56, uKB, "anonymous memory backed by transparent huge pages"},
	{"directMap1G", "DirectMap1G", 57, uKB, "kernel direct mapping made of 1 GiB pages"},
	{"available", "MemAvailable", 58, uKB, "estimate of memory available to start new work without swapping"},
}

// Fields read by the computed metrics, placed after meminfoFields in the slot table.
var meminfoExtraKeys = []string{"MemTotal", "Hugepagesize"}

// Slots of the fields the computed metrics read.
var (
	slotMemTotal     = len(meminfoFields)
	slotHugepagesize = len(meminfoFields) + 1
	slotFree         = meminfoSlot("MemFree")
	slotBuffers      = meminfoSlot("Buffers")
	slotCached       = meminfoSlot("Cached")
	slotSwapTotal    = meminfoSlot("SwapTotal")
	slotSwapFree     = meminfoSlot("SwapFree")
	slotDirty        = meminfoSlot("Dirty")
	slotWriteback    = meminfoSlot("Writeback")
	slotHugeTotal    = meminfoSlot("HugePages_Total")
	slotHugeFree     = meminfoSlot("HugePages_Free")
	slotHugeRsvd     = meminfoSlot("HugePages_Rsvd")
	slotHugeSurp     = meminfoSlot("HugePages_Surp")
)

func meminfoSlot(key string) int {
	for i, f := range meminfoFields {
		if f.key == key {
			return i
		}
	}
	panic("metrics: no meminfo field " + key)
}

// meminfoComputed: the metrics derived from several fields, with their help.
var meminfoComputed = map[int]helpText{
	selOther: {"memory in use for something other than the page cache and buffers",
		"MemTotal minus MemFree, Cached and Buffers, from /proc/meminfo: what processes and the\n" +
			"kernel hold beyond the file caches."},
	selCacheClean: {"page cache memory that is not dirty or being written back",
		"Cached minus Dirty and Writeback, from /proc/meminfo: cache the kernel can drop at once."},
	selHugeTotalBytes: {"size of the huge page pool in bytes",
		"HugePages_Total times Hugepagesize, from /proc/meminfo."},
	selHugeFreeBytes: {"unallocated part of the huge page pool in bytes",
		"HugePages_Free times Hugepagesize, from /proc/meminfo."},
	selHugeRsvdBytes: {"reserved part of the huge page pool in bytes",
		"HugePages_Rsvd times Hugepagesize, from /proc/meminfo."},
	selHugeSurpBytes: {"huge pages above the configured pool size, in bytes",
		"HugePages_Surp times Hugepagesize, from /proc/meminfo."},
}

func meminfoMetrics() []metricDef {
	defs := []metricDef{
		{"hinv.physmem", pmid(60, 1, 9), tU32, null, semD, uMB, selHinvPhysmem},
		{"mem.physmem", pmid(60, 1, 0), tU64, null, semD, uKB, selPhysmem},
		{"mem.util.used", pmid(60, 1, 1), tU64, null, semI, uKB, selUsed},
		{"mem.util.other", pmid(60, 1, 12), tU64, null, semI, uKB, selOther},
		{"mem.util.cache_clean", pmid(60, 1, 29), tU64, null, semI, uKB, selCacheClean},
		{"mem.util.hugepagesTotalBytes", pmid(60, 1, 60), tU64, null, semI, uByte, selHugeTotalBytes},
		{"mem.util.hugepagesFreeBytes", pmid(60, 1, 61), tU64, null, semI, uByte, selHugeFreeBytes},
		{"mem.util.hugepagesRsvdBytes", pmid(60, 1, 62), tU64, null, semI, uByte, selHugeRsvdBytes},
		{"mem.util.hugepagesSurpBytes", pmid(60, 1, 63), tU64, null, semI, uByte, selHugeSurpBytes},
		{"mem.freemem", pmid(60, 1, 10), tU64, null, semI, uKB, selFreemem},
		{"swap.length", pmid(60, 1, 6), tU64, null, semI, uByte, selSwapLength},
		{"swap.used", pmid(60, 1, 7), tU64, null, semI, uByte, selSwapUsed},
		{"swap.free", pmid(60, 1, 8), tU64, null, semI, uByte, selSwapFree},
	}
	for i, f := range meminfoFields {
		defs = append(defs, metricDef{"mem.util." + f.name, pmid(60, 1, f.item), tU64, null, semI, f.units, i})
	}
	return defs
}

// meminfoHelp is our own help for the mem.util metrics added after the first
// catalogue (whose help is in the helptext.go table).
func meminfoHelp(d metricDef) helpText {
	if h, ok := meminfoComputed[d.sel]; ok {
		return h
	}
	if d.sel < 0 || d.sel >= len(meminfoFields) || pcpHelpMeminfo[meminfoFields[d.sel].key] {
		return helpText{}
	}
	f := meminfoFields[d.sel]
	unit := "Kbytes"
	if f.units == uCount {
		unit = "pages"
	}
	return helpText{f.oneline, "The " + f.key + " line of /proc/meminfo, in " + unit + ".\n" +
		"No value when the running kernel does not print that line."}
}

// pcpHelpMeminfo: fields of metrics that were served before our own help texts,
// which keep the help generated into helptext.go.
var pcpHelpMeminfo = map[string]bool{"MemFree": true, "MemShared": true, "Buffers": true, "Cached": true, "Slab": true, "MemAvailable": true}

func init() {
	keys := make([]string, 0, len(meminfoFields)+len(meminfoExtraKeys))
	for _, f := range meminfoFields {
		keys = append(keys, f.key)
	}
	keys = append(keys, meminfoExtraKeys...)
	registerSource(&sourceSpec{
		name:   "meminfo",
		domain: DomainLinux,
		new: func(e *env) Source {
			return &meminfoSource{
				file:   newKfile(filepath.Join(e.procRoot, "meminfo")),
				fields: newFieldTable(keys),
				vals:   make(optSlots, len(keys)),
			}
		},
		metrics: meminfoMetrics(),
		help:    meminfoHelp,
	})
	registerSource(&sourceSpec{
		name:   "pagesize",
		domain: DomainLinux,
		new:    func(e *env) Source { return pagesizeSource{size: e.pageSize} },
		metrics: []metricDef{
			{"hinv.pagesize", pmid(60, 1, 11), tU32, null, semD, uByte, 0},
		},
	})
}

type meminfoSource struct {
	file   *kfile
	buf    []byte
	fields *fieldTable
	vals   optSlots
}

// parseMeminfo parses "Name:   value [kB]" lines into vals, by the slots of t. Any
// other line makes the file garbage (errParse).
func parseMeminfo(b []byte, t *fieldTable, vals optSlots) error {
	vals.reset()
	lines := 0
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		key, r := nextField(line)
		if len(key) == 0 {
			continue
		}
		val, r := nextField(r)
		unit, r := nextField(r)
		extra, _ := nextField(r)
		v, ok := parseUint(val)
		if key[len(key)-1] != ':' || !ok || len(extra) != 0 || (len(unit) != 0 && string(unit) != "kB") {
			return fmt.Errorf("%w: meminfo line %q", errParse, line)
		}
		if s := t.slot(lines, key[:len(key)-1]); s >= 0 {
			vals[s] = optU{v, true}
		}
		lines++
	}
	if lines == 0 {
		return fmt.Errorf("%w: empty meminfo", errParse)
	}
	return nil
}

func (s *meminfoSource) Fetch(reqs []Request) error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	if err := parseMeminfo(b, s.fields, s.vals); err != nil {
		return fmt.Errorf("%s: %w", s.file.path, err)
	}
	v := s.vals
	total, free := v[slotMemTotal], v[slotFree]
	swapTotal, swapFree := v[slotSwapTotal], v[slotSwapFree]
	hugeBytes := func(slot int) optU {
		// Hugepagesize is in Kbytes.
		return mul(v[slot], scale(v[slotHugepagesize], 1024, 1))
	}
	in := protocol.InNull
	for _, rq := range reqs {
		res := rq.Res
		switch rq.Sel {
		case selPhysmem:
			putOptU(res, in, total)
		case selHinvPhysmem:
			if total.ok {
				putU(res, in, uint64(uint32(total.v/1024)))
			}
		case selUsed:
			putOptU(res, in, diff(total, free))
		case selFreemem:
			putOptU(res, in, free)
		case selOther:
			putOptU(res, in, diff(diff(diff(total, free), v[slotCached]), v[slotBuffers]))
		case selCacheClean:
			putOptU(res, in, diff(diff(v[slotCached], v[slotDirty]), v[slotWriteback]))
		case selHugeTotalBytes:
			putOptU(res, in, hugeBytes(slotHugeTotal))
		case selHugeFreeBytes:
			putOptU(res, in, hugeBytes(slotHugeFree))
		case selHugeRsvdBytes:
			putOptU(res, in, hugeBytes(slotHugeRsvd))
		case selHugeSurpBytes:
			putOptU(res, in, hugeBytes(slotHugeSurp))
		case selSwapLength:
			putOptU(res, in, scale(swapTotal, 1024, 1))
		case selSwapUsed:
			putOptU(res, in, scale(diff(swapTotal, swapFree), 1024, 1))
		case selSwapFree:
			putOptU(res, in, scale(swapFree, 1024, 1))
		default:
			// "MemShared", which Linux stopped printing in 2.6, and the other
			// fields a kernel may lack: like the linux agent, no values then.
			if rq.Sel >= 0 && rq.Sel < len(meminfoFields) {
				putOptU(res, in, v[rq.Sel])
			}
		}
	}
	return nil
}

type pagesizeSource struct{ size int }

func (s pagesizeSource) Fetch(reqs []Request) error {
	for _, rq := range reqs {
		putU(rq.Res, protocol.InNull, uint64(s.size))
	}
	return nil
}

// diff is a - b when both are present (clamped at 0, since the kernel does not
// produce the two at the same instant).
func diff(a, b optU) optU {
	if !a.ok || !b.ok {
		return optU{}
	}
	if b.v > a.v {
		return optU{0, true}
	}
	return optU{a.v - b.v, true}
}

func scale(o optU, mul, div uint64) optU {
	if !o.ok {
		return o
	}
	return optU{o.v * mul / div, true}
}

// mul is a * b when both are present.
func mul(a, b optU) optU {
	if !a.ok || !b.ok {
		return optU{}
	}
	return optU{a.v * b.v, true}
}
