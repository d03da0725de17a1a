package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// The "numa" source: per NUMA node memory, from /sys/devices/system/node/nodeN/
// meminfo ("Node 0 MemFree:  123 kB", mem.numa.util.*) and numastat ("numa_hit 123",
// mem.numa.alloc.*), on the node instance domain 60.19 (ids the node numbers), and
// hinv.node.online from nodeN/online (1 when the node has no such file, as the linux
// agent has it: a node listed is online unless it says otherwise). A field a node's
// file does not print has no value. A node whose file is garbage (a line that is not
// "Node N Key: value", a node number that is not the directory's, a value that is
// not a number) loses that file's values, and the fetch is counted as a partial
// error; without the node directory at all (a kernel without NUMA) there are no
// values and no error.
//
// hinv.hugepagesize and the *Bytes hugepage metrics need the default huge page size.
// That size is fixed at boot (the default_hugepagesz= parameter), so it is learnt
// once, when the source is made, and kept; only if it could not be learnt then is it
// tried again, by a fetch that needs it. Where /sys/kernel/mm/hugepages has a
// single hugepages-NkB directory, that is the default size; with several sizes, the
// Hugepagesize line of /proc/meminfo says which one is. mem.numa.max_bandwidth has no value: the linux agent takes it from
// its own bandwidth.conf, which the collector does not have.
//
// Parsed by hand: procfs has no reader for the per-node files.

type numaField struct {
	name string
	key  string // meminfo key without the colon, or numastat key
	item uint32
	what string
}

// numaMeminfo: the mem.numa.util metrics and their meminfo keys, in slot order.
var numaMeminfo = []numaField{
	{"total", "MemTotal", 0, "memory"},
	{"free", "MemFree", 1, "free memory"},
	{"used", "MemUsed", 2, "memory in use"},
	{"active", "Active", 3, "recently used memory"},
	{"inactive", "Inactive", 4, "memory not recently used"},
	{"active_anon", "Active(anon)", 5, "recently used anonymous memory"},
	{"inactive_anon", "Inactive(anon)", 6, "anonymous memory not recently used"},
	{"active_file", "Active(file)", 7, "recently used file cache"},
	{"inactive_file", "Inactive(file)", 8, "file cache not recently used"},
	{"highTotal", "HighTotal", 9, "high memory"},
	{"highFree", "HighFree", 10, "free high memory"},
	{"lowTotal", "LowTotal", 11, "low memory"},
	{"lowFree", "LowFree", 12, "free low memory"},
	{"unevictable", "Unevictable", 13, "memory that cannot be paged out"},
	{"mlocked", "Mlocked", 14, "memory locked with mlock"},
	{"dirty", "Dirty", 15, "memory waiting to be written back"},
	{"writeback", "Writeback", 16, "memory being written back"},
	{"filePages", "FilePages", 17, "file cache"},
	{"mapped", "Mapped", 18, "file cache mapped into processes"},
	{"anonpages", "AnonPages", 19, "anonymous memory mapped into processes"},
	{"shmem", "Shmem", 20, "shared memory"},
	{"kernelStack", "KernelStack", 21, "kernel stacks"},
	{"pageTables", "PageTables", 22, "page tables"},
	{"NFS_Unstable", "NFS_Unstable", 23, "NFS pages sent but not yet committed"},
	{"bounce", "Bounce", 24, "bounce buffers"},
	{"writebackTmp", "WritebackTmp", 25, "FUSE temporary writeback buffers"},
	{"slab", "Slab", 26, "kernel slab memory"},
	{"slabReclaimable", "SReclaimable", 27, "reclaimable kernel slab memory"},
	{"slabUnreclaimable", "SUnreclaim", 28, "unreclaimable kernel slab memory"},
	{"hugepagesTotal", "HugePages_Total", 29, "default-size huge pages in the pool"},
	{"hugepagesFree", "HugePages_Free", 30, "default-size huge pages not allocated"},
	{"hugepagesSurp", "HugePages_Surp", 31, "default-size huge pages above the pool size"},
}

// numaAlloc: the mem.numa.alloc metrics and their numastat keys.
var numaAlloc = []numaField{
	{"hit", "numa_hit", 32, "allocations satisfied on the node they were meant for"},
	{"miss", "numa_miss", 33, "allocations made on the node though meant for another"},
	{"foreign", "numa_foreign", 34, "allocations meant for the node but made on another"},
	{"interleave_hit", "interleave_hit", 35, "interleaved allocations satisfied on the node they were meant for"},
	{"local_node", "local_node", 36, "allocations on the node by a process running on it"},
	{"other_node", "other_node", 37, "allocations on the node by a process running on another"},
}

// Selectors: meminfo slots first, then numastat slots, then the rest.
var (
	selNumaAlloc0     = len(numaMeminfo)
	selNumaBandwidth  = selNumaAlloc0 + len(numaAlloc)
	selNumaHugeBytes0 = selNumaBandwidth + 1 // Total, Free, Surp bytes
	selNodeOnline     = selNumaHugeBytes0 + 3
	selHugePageSize   = selNodeOnline + 1
)

// numaHugeSlots: the meminfo slot of each *Bytes metric.
var numaHugeSlots = [3]int{29, 30, 31}

// maxNodes bounds the node numbers (the kernel's MAX_NUMNODES is at most 1024).
const maxNodes = 1 << 12

func init() {
	var defs []metricDef
	for i, f := range numaMeminfo {
		u := uKB
		if i >= 29 {
			u = uCount
		}
		defs = append(defs, metricDef{"mem.numa.util." + f.name, pmid(60, 36, f.item), tU64, indomNode, semI, u, i})
	}
	for i, f := range numaAlloc {
		defs = append(defs, metricDef{"mem.numa.alloc." + f.name, pmid(60, 36, f.item), tU64, indomNode, semC, uCount, selNumaAlloc0 + i})
	}
	defs = append(defs,
		metricDef{"mem.numa.max_bandwidth", pmid(60, 36, 38), tDBL, indomNode, semD, uMBps, selNumaBandwidth},
		metricDef{"mem.numa.util.hugepagesTotalBytes", pmid(60, 36, 39), tU64, indomNode, semI, uByte, selNumaHugeBytes0},
		metricDef{"mem.numa.util.hugepagesFreeBytes", pmid(60, 36, 40), tU64, indomNode, semI, uByte, selNumaHugeBytes0 + 1},
		metricDef{"mem.numa.util.hugepagesSurpBytes", pmid(60, 36, 41), tU64, indomNode, semI, uByte, selNumaHugeBytes0 + 2},
		metricDef{"hinv.node.online", pmid(60, 55, 1), tU32, indomNode, semI, uNone, selNodeOnline},
		metricDef{"hinv.hugepagesize", pmid(60, 1, 59), tU32, null, semD, uByte, selHugePageSize},
	)
	registerSource(&sourceSpec{
		name:   "numa",
		domain: DomainLinux,
		new: func(e *env) Source {
			s := &numaSource{
				dir:     filepath.Join(e.sysRoot, "devices", "system", "node"),
				meminfo: newKfile(filepath.Join(e.procRoot, "meminfo")),
				hugeDir: filepath.Join(e.sysRoot, "kernel", "mm", "hugepages"),
				nodes:   map[uint32]*numaNode{},
			}
			s.learnHugeSize(false) // outside any fetch: see the comment at the top
			return s
		},
		metrics: defs,
		help:    numaHelp,
	})
}

func numaHelp(d metricDef) helpText {
	switch {
	case d.sel < len(numaMeminfo):
		f := numaMeminfo[d.sel]
		unit := "in kilobytes"
		if d.sel >= 29 {
			unit = "a count of pages"
		}
		return helpText{f.what + " on each NUMA node",
			"The " + f.key + " line of /sys/devices/system/node/nodeN/meminfo, " + unit + ".\n" +
				"No value where the kernel does not print it."}
	case d.sel < selNumaBandwidth:
		f := numaAlloc[d.sel-selNumaAlloc0]
		return helpText{f.what, "The " + f.key + " line of /sys/devices/system/node/nodeN/numastat, in pages."}
	case d.sel == selNumaBandwidth:
		return helpText{"memory bandwidth of each NUMA node",
			"No file under /proc/ or /sys/ gives it: the linux agent reads it from its own\n" +
				"bandwidth.conf. The collector has no such configuration, so this metric has\n" +
				"no value."}
	case d.sel < selNodeOnline:
		f := numaMeminfo[numaHugeSlots[d.sel-selNumaHugeBytes0]]
		return helpText{f.what + " on each NUMA node, in bytes",
			"The " + f.key + " line of /sys/devices/system/node/nodeN/meminfo times the\n" +
				"Hugepagesize line of /proc/meminfo."}
	case d.sel == selNodeOnline:
		return helpText{"whether each NUMA node is online",
			"1 when the node is online, 0 when not: /sys/devices/system/node/nodeN/online,\n" +
				"1 for a node without that file."}
	case d.sel == selHugePageSize:
		return helpText{"default huge page size",
			"The Hugepagesize line of /proc/meminfo, in bytes: the size of the pages in the\n" +
				"default huge page pool. No value on a kernel without huge pages."}
	}
	return helpText{}
}

type numaNode struct {
	meminfo, numastat, online *kfile
	mem                       [32]optU
	alloc                     [6]optU
	on                        optU
}

type numaSource struct {
	dir     string
	dirBuf  []byte
	buf     []byte
	meminfo *kfile
	hugeDir string
	hugeKB  optU
	ids     []uint32
	nodes   map[uint32]*numaNode
	partial atomic.Uint64
}

// PartialErrors counts fetches in which some node's file was garbage.
func (s *numaSource) PartialErrors() uint64 { return s.partial.Load() }

// hugepageSizeKB finds "Hugepagesize:  2048 kB" in /proc/meminfo.
func hugepageSizeKB(b []byte) optU {
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		k, r := nextField(line)
		if string(k) != "Hugepagesize:" {
			continue
		}
		v, r := nextField(r)
		unit, _ := nextField(r)
		if n, ok := parseUint(v); ok && string(unit) == "kB" && n <= (1<<64-1)>>10 {
			return optU{n, true}
		}
		return optU{}
	}
	return optU{}
}

// learnHugeSize finds the default huge page size: the one size of
// /sys/kernel/mm/hugepages, else the Hugepagesize of /proc/meminfo (read as a kernel
// file in a fetch, directly when the source is made).
func (s *numaSource) learnHugeSize(inFetch bool) {
	var size optU
	n := 0
	s.dirBuf, _ = listDir(s.hugeDir, s.dirBuf, func(_ int, name []byte) {
		// "hugepages-2048kB"
		if v, ok := bytes.CutPrefix(name, []byte("hugepages-")); ok {
			if num, ok := bytes.CutSuffix(v, []byte("kB")); ok {
				if kb, ok := parseUint(num); ok && kb <= (1<<64-1)>>10 {
					size, n = optU{kb, true}, n+1
				}
			}
		}
	})
	if n == 1 {
		s.hugeKB = size
		return
	}
	var b []byte
	var err error
	if inFetch {
		b, err = s.meminfo.read(s.buf)
		s.buf = b
	} else {
		b, err = os.ReadFile(s.meminfo.path)
	}
	if err == nil {
		s.hugeKB = hugepageSizeKB(b)
	}
}

func (s *numaSource) listNodes() error {
	s.ids = s.ids[:0]
	var err error
	s.dirBuf, err = listDir(s.dir, s.dirBuf, func(_ int, name []byte) {
		if len(name) > 4 && string(name[:4]) == "node" {
			if n, ok := parseUint(name[4:]); ok && n < maxNodes {
				s.ids = append(s.ids, uint32(n))
			}
		}
	})
	return err
}

func (s *numaSource) node(id uint32) *numaNode {
	n := s.nodes[id]
	if n == nil {
		d := filepath.Join(s.dir, "node"+strconv.FormatUint(uint64(id), 10))
		n = &numaNode{meminfo: newKfile(filepath.Join(d, "meminfo")),
			numastat: newKfile(filepath.Join(d, "numastat")), online: newKfile(filepath.Join(d, "online"))}
		s.nodes[id] = n
	}
	return n
}

func (s *numaSource) Fetch(reqs []Request) error {
	var needMem, needStat, needOnline, needHuge bool
	for _, rq := range reqs {
		switch {
		case rq.Sel < len(numaMeminfo):
			needMem = true
		case rq.Sel < selNumaBandwidth:
			needStat = true
		case rq.Sel >= selNumaHugeBytes0 && rq.Sel < selNodeOnline:
			needMem, needHuge = true, true
		case rq.Sel == selNodeOnline:
			needOnline = true
		case rq.Sel == selHugePageSize:
			needHuge = true
		}
	}
	if needHuge && !s.hugeKB.ok {
		s.learnHugeSize(true)
	}
	bad := false
	if needMem || needStat || needOnline {
		err := s.listNodes()
		if errors.Is(err, fs.ErrNotExist) {
			s.ids = s.ids[:0] // no NUMA support in this kernel
		} else if err != nil {
			return err
		}
		for _, id := range s.ids {
			n := s.node(id)
			if needMem {
				n.mem = [32]optU{}
				if err := s.readNodeMeminfo(n, id); err != nil {
					bad = true
				}
			}
			if needStat {
				n.alloc = [6]optU{}
				if err := s.readNumastat(n); err != nil {
					bad = true
				}
			}
			if needOnline {
				n.on = optU{1, true}
				b, err := n.online.read(s.buf)
				s.buf = b
				if err == nil {
					v, ok := parseUint(trimSpace(b))
					n.on = optU{v, ok && v <= 1}
					bad = bad || !n.on.ok
				} else if !errors.Is(err, fs.ErrNotExist) {
					n.on, bad = optU{}, true
				}
			}
		}
	}
	if bad {
		s.partial.Add(1)
	}
	for _, rq := range reqs {
		if rq.Sel == selHugePageSize {
			if h := s.hugeKB; h.ok && h.v<<10 <= 1<<32-1 {
				putU(rq.Res, protocol.InNull, h.v<<10)
			}
			continue
		}
		for _, id := range s.ids {
			n := s.nodes[id]
			switch {
			case rq.Sel < len(numaMeminfo):
				putOptU(rq.Res, id, n.mem[rq.Sel])
			case rq.Sel < selNumaBandwidth:
				putOptU(rq.Res, id, n.alloc[rq.Sel-selNumaAlloc0])
			case rq.Sel >= selNumaHugeBytes0 && rq.Sel < selNodeOnline:
				v := n.mem[numaHugeSlots[rq.Sel-selNumaHugeBytes0]]
				if v.ok && s.hugeKB.ok {
					hi, lo := bits.Mul64(v.v, s.hugeKB.v<<10)
					if hi == 0 {
						putU(rq.Res, id, lo)
					}
				}
			case rq.Sel == selNodeOnline:
				putOptU(rq.Res, id, n.on)
			}
		}
	}
	return nil
}

// readNodeMeminfo parses "Node N Key: value [kB]" lines into n.mem; on garbage it
// clears them all and returns the error.
func (s *numaSource) readNodeMeminfo(n *numaNode, id uint32) error {
	b, err := n.meminfo.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		word, r := nextField(line)
		if len(word) == 0 {
			continue
		}
		num, r := nextField(r)
		key, r := nextField(r)
		val, r := nextField(r)
		unit, r := nextField(r)
		extra, _ := nextField(r)
		node, ok1 := parseUint(num)
		v, ok2 := parseUint(val)
		if string(word) != "Node" || !ok1 || node != uint64(id) || len(key) < 2 || key[len(key)-1] != ':' || !ok2 ||
			len(extra) > 0 || len(unit) > 0 && string(unit) != "kB" {
			n.mem = [32]optU{}
			return fmt.Errorf("%s: %w: line %q", n.meminfo.path, errParse, line)
		}
		k := key[:len(key)-1]
		for i := range numaMeminfo {
			if string(k) == numaMeminfo[i].key {
				n.mem[i] = optU{v, true}
				break
			}
		}
	}
	return nil
}

func (s *numaSource) readNumastat(n *numaNode) error {
	b, err := n.numastat.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		k, r := nextField(line)
		if len(k) == 0 {
			continue
		}
		val, r := nextField(r)
		extra, _ := nextField(r)
		v, ok := parseUint(val)
		if !ok || len(extra) > 0 || !isFieldName(k) {
			n.alloc = [6]optU{}
			return fmt.Errorf("%s: %w: line %q", n.numastat.path, errParse, line)
		}
		for i := range numaAlloc {
			if bytes.Equal(k, []byte(numaAlloc[i].key)) {
				n.alloc[i] = optU{v, true}
				break
			}
		}
	}
	return nil
}
