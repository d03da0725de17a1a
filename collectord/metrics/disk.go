package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// The "diskstats" source: /proc/diskstats, "major minor name" then the I/O counters
// (11 on Linux 2.6.25 and later, 15 with discards, 17 with flushes). The tests check
// this parser against procfs's blockdevice.ProcDiskstats, which is not used here
// because its fmt.Sscanf per line costs several times the kernel's own work.
// Instances (indom 60.1) are whole disks, chosen with the linux agent's rules:
// partitions, loop, ram, zram, CD-ROM, device-mapper, md and wwid names are not disks.
// Disk instance ids are assigned as names first appear and never reused. md arrays
// (disk.md, 60.25) and zram devices (zram.*, 60.38) are their own views of the same
// lines; the zram devices also have the io_stat, mm_stat and bd_stat files of
// /sys/block/zramN, read only when one of their metrics is asked for.

// diskView is one of the groups the diskstats lines are served as: whole disks
// (disk.dev, indom 60.1), their sum (disk.all), partitions (disk.partitions, 60.10)
// and device-mapper devices (disk.dm, 60.24). A metric's selector is its view times
// 100 plus the index of its column in diskColumns.
const (
	viewDev = iota
	viewAll
	viewPart
	viewDM
	viewMD   // PMIDs: those of viewDM in cluster 59
	viewZram // PMIDs: those of viewPart in cluster 86
	viewWWID // PMIDs: those of viewDev in cluster 92; disks summed by their wwid
	numViews
)

// Selectors of the metrics that are not a column of a view.
const (
	selNDisk = 1000 + iota
	selDMName
	selMDName
	selMDStatus
	selScheduler
	selScsiID
	selWWIDScheduler
	selWWIDPaths
	selZramIO = 1100 // + index in zramStatFiles' io_stat, mm_stat, bd_stat fields
)

var (
	indomPartition = protocol.NewInDom(DomainLinux, 10)
	indomDM        = protocol.NewInDom(DomainLinux, 24)
	indomMD        = protocol.NewInDom(DomainLinux, 25)
	indomZram      = protocol.NewInDom(DomainLinux, 38)
	indomWWID      = protocol.NewInDom(DomainLinux, 42)
)

// diskPMID is a column's PMID cluster and item and type in one view; item 0 with
// cluster 0 means the view has no such metric.
type diskPMID struct {
	cluster, item uint32
	typ           int32
}

// diskColumn is one counter (or sum of counters) of a diskstats line.
type diskColumn struct {
	name    string
	views   [viewMD]diskPMID // the md and zram views derive theirs (pmidIn)
	sem     int32
	units   protocol.Units
	oneline string
	from    string // how the value is computed, for the help text
	minN    int    // the number of counters the line must have
}

// diskstats counters, in line order after "major minor name".
const (
	dsRdIOs = iota
	dsRdMerges
	dsRdSectors
	dsRdTicks
	dsWrIOs
	dsWrMerges
	dsWrSectors
	dsWrTicks
	dsInFlight
	dsIOTicks
	dsQueueTicks
	dsDiscIOs
	dsDiscMerges
	dsDiscSectors
	dsDiscTicks
	dsFlushIOs
	dsFlushTicks
	dsFields
)

// diskColumns: PMIDs and types as the linux agent has them (the 32-bit ones wrap as
// theirs do).
var diskColumns = []diskColumn{
	{"read", [4]diskPMID{{0, 4, tU64}, {0, 24, tU64}, {10, 0, tU64}, {54, 0, tU64}}, semC, uCount, "read requests completed", "the reads completed counter", 11},
	{"write", [4]diskPMID{{0, 5, tU64}, {0, 25, tU64}, {10, 1, tU64}, {54, 1, tU64}}, semC, uCount, "write requests completed", "the writes completed counter", 11},
	{"total", [4]diskPMID{{0, 28, tU64}, {0, 29, tU64}, {10, 2, tU64}, {54, 2, tU64}}, semC, uCount, "read and write requests completed", "reads plus writes completed", 11},
	{"blkread", [4]diskPMID{{0, 6, tU64}, {0, 26, tU64}, {10, 3, tU64}, {54, 3, tU64}}, semC, uCount, "512-byte sectors read", "the sectors read counter", 11},
	{"blkwrite", [4]diskPMID{{0, 7, tU64}, {0, 27, tU64}, {10, 4, tU64}, {54, 4, tU64}}, semC, uCount, "512-byte sectors written", "the sectors written counter", 11},
	{"blktotal", [4]diskPMID{{0, 36, tU64}, {0, 37, tU64}, {10, 5, tU64}, {54, 5, tU64}}, semC, uCount, "512-byte sectors read and written", "sectors read plus sectors written", 11},
	{"read_bytes", [4]diskPMID{{0, 38, tU64}, {0, 41, tU64}, {10, 6, tU64}, {54, 6, tU32}}, semC, uKB, "data read, in Kbytes", "the sectors read counter halved", 11},
	{"write_bytes", [4]diskPMID{{0, 39, tU64}, {0, 42, tU64}, {10, 7, tU64}, {54, 7, tU32}}, semC, uKB, "data written, in Kbytes", "the sectors written counter halved", 11},
	{"total_bytes", [4]diskPMID{{0, 40, tU64}, {0, 43, tU64}, {10, 8, tU64}, {54, 8, tU32}}, semC, uKB, "data read and written, in Kbytes", "sectors read plus written, halved", 11},
	{"read_merge", [4]diskPMID{{0, 49, tU64}, {0, 51, tU64}, {10, 9, tU64}, {54, 9, tU64}}, semC, uCount, "read requests merged with a queued one", "the reads merged counter", 11},
	{"write_merge", [4]diskPMID{{0, 50, tU64}, {0, 52, tU64}, {10, 10, tU64}, {54, 10, tU64}}, semC, uCount, "write requests merged with a queued one", "the writes merged counter", 11},
	{"avactive", [4]diskPMID{{0, 46, tU32}, {0, 44, tU64}, {10, 11, tU32}, {54, 11, tU32}}, semC, uMsec, "time the device had I/O in progress", "the time spent doing I/O counter", 11},
	{"aveq", [4]diskPMID{{0, 47, tU32}, {0, 45, tU64}, {10, 12, tU32}, {54, 12, tU32}}, semC, uMsec, "time-weighted count of requests in progress", "the weighted time spent doing I/O counter", 11},
	{"read_rawactive", [4]diskPMID{{0, 72, tU32}, {0, 74, tU64}, {10, 13, tU32}, {54, 14, tU32}}, semC, uMsec, "time spent by all read requests", "the time spent reading counter", 11},
	{"write_rawactive", [4]diskPMID{{0, 73, tU32}, {0, 75, tU64}, {10, 14, tU32}, {54, 15, tU32}}, semC, uMsec, "time spent by all write requests", "the time spent writing counter", 11},
	{"total_rawactive", [4]diskPMID{{0, 79, tU32}, {0, 80, tU64}, {10, 15, tU32}, {54, 16, tU32}}, semC, uMsec, "time spent by all read and write requests", "time spent reading plus time spent writing", 11},
	{"capacity", [4]diskPMID{{0, 87, tU64}, {}, {10, 16, tU64}, {54, 17, tU64}}, semD, uKB, "size of the device in Kbytes", "", 0},
	{"discard", [4]diskPMID{{0, 88, tU64}, {0, 96, tU64}, {10, 17, tU64}, {54, 18, tU64}}, semC, uCount, "discard requests completed", "the discards completed counter (Linux 4.18 and later)", 15},
	{"blkdiscard", [4]diskPMID{{0, 89, tU64}, {0, 97, tU64}, {10, 18, tU64}, {54, 19, tU64}}, semC, uCount, "512-byte sectors discarded", "the sectors discarded counter (Linux 4.18 and later)", 15},
	{"discard_bytes", [4]diskPMID{{0, 90, tU64}, {0, 98, tU64}, {10, 19, tU64}, {54, 20, tU64}}, semC, uKB, "data discarded, in Kbytes", "the sectors discarded counter halved (Linux 4.18 and later)", 15},
	{"discard_merge", [4]diskPMID{{0, 91, tU64}, {0, 99, tU64}, {10, 20, tU64}, {54, 21, tU64}}, semC, uCount, "discard requests merged with a queued one", "the discards merged counter (Linux 4.18 and later)", 15},
	{"discard_rawactive", [4]diskPMID{{0, 92, tU32}, {0, 100, tU32}, {10, 21, tU32}, {54, 22, tU32}}, semC, uMsec, "time spent by all discard requests", "the time spent discarding counter (Linux 4.18 and later)", 15},
	{"flush", [4]diskPMID{{0, 93, tU64}, {0, 101, tU64}, {10, 22, tU64}, {54, 23, tU64}}, semC, uCount, "cache flush requests completed", "the flushes completed counter (Linux 5.5 and later)", 17},
	{"flush_rawactive", [4]diskPMID{{0, 94, tU32}, {0, 102, tU32}, {10, 23, tU32}, {54, 24, tU32}}, semC, uMsec, "time spent by all cache flush requests", "the time spent flushing counter (Linux 5.5 and later)", 17},
	{"inflight", [4]diskPMID{{0, 95, tU32}, {0, 104, tU64}, {10, 24, tU32}, {54, 25, tU32}}, semI, uNone, "requests issued to the device and not yet completed", "the I/Os currently in progress field", 11},
}

var diskViewPrefix = [numViews]string{"disk.dev.", "disk.all.", "disk.partitions.", "disk.dm.", "disk.md.", "zram.", "disk.wwid."}

// pmidIn is the column's PMID and type in a view: md arrays have the
// device-mapper items in cluster 59, zram devices the partition items in cluster 86,
// as the linux agent numbers them.
func (c *diskColumn) pmidIn(view int) diskPMID {
	switch view {
	case viewMD:
		p := c.views[viewDM]
		p.cluster = 59
		return p
	case viewZram:
		p := c.views[viewPart]
		p.cluster = 86
		return p
	case viewWWID:
		p := c.views[viewDev]
		p.cluster = 92
		if c.name == "inflight" {
			p.typ = tU64 // the one type that differs from disk.dev's
		}
		return p
	}
	return c.views[view]
}

// zramStat is one number of /sys/block/zramN/io_stat, mm_stat or bd_stat.
type zramStat struct {
	name      string
	cluster   uint32
	item      uint32
	sem       int32
	file      string
	field     int
	kb, pages bool // bytes to be turned into Kbytes, pages into Kbytes
	oneline   string
}

var zramStats = []zramStat{
	{"zram.io_stat.failed.reads", 87, 0, semC, "io_stat", 0, false, false, "reads of each zram device that failed"},
	{"zram.io_stat.failed.writes", 87, 1, semC, "io_stat", 1, false, false, "writes to each zram device that failed"},
	{"zram.io_stat.invalid", 87, 2, semC, "io_stat", 2, false, false, "requests to each zram device outside its size"},
	{"zram.io_stat.notify_free", 87, 3, semC, "io_stat", 3, false, false, "freed-slot notices each zram device received"},
	{"zram.mm_stat.data_size.original", 88, 0, semI, "mm_stat", 0, true, false, "data stored in each zram device, uncompressed"},
	{"zram.mm_stat.data_size.compressed", 88, 1, semI, "mm_stat", 1, true, false, "data stored in each zram device, compressed"},
	{"zram.mm_stat.mem.used_total", 88, 2, semI, "mm_stat", 2, true, false, "memory each zram device uses, overhead included"},
	{"zram.mm_stat.mem.limit", 88, 3, semI, "mm_stat", 3, true, false, "most memory each zram device may use (0: no limit)"},
	{"zram.mm_stat.mem.max_used", 88, 4, semI, "mm_stat", 4, true, false, "most memory each zram device has used"},
	{"zram.mm_stat.pages.same", 88, 5, semC, "mm_stat", 5, false, true, "pages of each zram device filled with one value, stored without data"},
	{"zram.mm_stat.pages.compacted", 88, 6, semC, "mm_stat", 6, false, true, "pages each zram device freed by compaction"},
	{"zram.mm_stat.pages.huge", 88, 7, semC, "mm_stat", 7, false, true, "pages of each zram device stored uncompressed"},
	{"zram.bd_stat.count", 89, 0, semC, "bd_stat", 0, false, true, "data each zram device holds on its backing device"},
	{"zram.bd_stat.reads", 89, 1, semC, "bd_stat", 1, false, true, "data each zram device read from its backing device"},
	{"zram.bd_stat.writes", 89, 2, semC, "bd_stat", 2, false, true, "data each zram device wrote to its backing device"},
}

const colCapacity = 16 // index of "capacity" in diskColumns

func diskMetrics() []metricDef {
	indoms := [numViews]protocol.InDom{indomDisk, null, indomPartition, indomDM, indomMD, indomZram, indomWWID}
	var defs []metricDef
	for i, c := range diskColumns {
		for v := 0; v < numViews; v++ {
			p := c.pmidIn(v)
			if p.cluster == 0 && p.item == 0 {
				continue
			}
			defs = append(defs, metricDef{diskViewPrefix[v] + c.name, pmid(60, p.cluster, p.item), p.typ, indoms[v], c.sem, c.units, v*100 + i})
		}
	}
	for i, z := range zramStats {
		units := uKB
		if !z.kb && !z.pages {
			units = uCount
		}
		defs = append(defs, metricDef{z.name, pmid(60, z.cluster, z.item), tU64, indomZram, z.sem, units, selZramIO + i})
	}
	return append(defs,
		metricDef{"hinv.ndisk", pmid(60, 0, 33), tU32, null, semD, uNone, selNDisk},
		metricDef{"hinv.map.dmname", pmid(60, 54, 13), tSTR, indomDM, semD, uNone, selDMName},
		metricDef{"hinv.map.mdname", pmid(60, 59, 13), tSTR, indomMD, semD, uNone, selMDName},
		metricDef{"disk.md.status", pmid(60, 60, 0), tI32, indomMD, semI, uNone, selMDStatus},
		metricDef{"disk.dev.scheduler", pmid(60, 0, 59), tSTR, indomDisk, semD, uNone, selScheduler},
		metricDef{"hinv.map.scsi_id", pmid(60, 0, 103), tSTR, indomDisk, semD, uNone, selScsiID},
		metricDef{"disk.wwid.scheduler", pmid(60, 92, 59), tSTR, indomWWID, semD, uNone, selWWIDScheduler},
		metricDef{"disk.wwid.scsi_paths", pmid(60, 92, 3), tSTR, indomWWID, semD, uNone, selWWIDPaths},
	)
}

// diskHelp is our own help for the metrics added since the first catalogue.
func diskHelp(d metricDef) helpText {
	if _, ok := helpPMID[d.pmid]; ok {
		return helpText{}
	}
	switch d.sel {
	case selDMName:
		return helpText{"kernel name (dm-N) of each device-mapper device",
			"The dm-N name /proc/diskstats lists each device-mapper device under; its\n" +
				"instance name is the mapping's own name, from /sys/block/dm-N/dm/name."}
	case selMDName:
		return helpText{"kernel name (mdN) of each md array",
			"The mdN name /proc/diskstats lists each md array under; its instance name is\n" +
				"the array's persistent name (the /dev/md/NAME link to it), or mdN."}
	case selMDStatus:
		return helpText{"health of each md array, as mdadm --detail --test reports it",
			"The linux agent runs mdadm for this; collectord runs no external program, and\n" +
				"/proc/mdstat and /sys/block/mdN/md do not give the same number: never has a value."}
	case selScheduler:
		return helpText{"I/O scheduler of each disk",
			"The bracketed name in /sys/block/<disk>/queue/scheduler. No value when the\n" +
				"file is missing or names none."}
	case selWWIDScheduler:
		return helpText{"I/O scheduler of each multipath device",
			"The bracketed name in /sys/block/<disk>/queue/scheduler of the last disk path\n" +
				"with that wwid (/sys/block/<disk>/device/wwid)."}
	case selWWIDPaths:
		return helpText{"disk paths of each multipath device",
			"The disks whose /sys/block/<disk>/device/wwid is the instance's, space separated."}
	case selScsiID:
		return helpText{"world-wide identifier of each disk",
			"The first line of /sys/block/<disk>/device/wwid (or /sys/block/<disk>/wwid),\n" +
				"with a t10., eui. or naa. prefix turned into 1, 2 or 3. No value when the\n" +
				"disk has no wwid file."}
	}
	if d.sel >= selZramIO && d.sel < selZramIO+len(zramStats) {
		z := zramStats[d.sel-selZramIO]
		long := fmt.Sprintf("Field %d of /sys/block/zramN/%s", z.field+1, z.file)
		switch {
		case z.kb:
			long += ", bytes turned into Kbytes"
		case z.pages:
			long += ", pages turned into Kbytes"
		}
		return helpText{z.oneline, long + ".\nNo value when the kernel has no such file (bd_stat needs a backing device)."}
	}
	if d.sel >= 1000 || d.sel%100 >= len(diskColumns) {
		return helpText{}
	}
	c := diskColumns[d.sel%100]
	what := [numViews]string{"per disk", "summed over all disks", "per partition", "per device-mapper device", "per md array", "per zram device",
		"summed over the disk paths with one wwid"}[d.sel/100]
	if d.sel%100 == colCapacity && d.sel/100 == viewWWID {
		return helpText{c.oneline, "The size file under /sys/class/block of the first disk path with that wwid, in\n" +
			"512-byte sectors, halved (the paths are one device: their sizes are not summed)."}
	}
	if d.sel%100 == colCapacity && d.sel/100 == viewZram {
		return helpText{c.oneline, "The disksize file of /sys/block/zramN, in bytes, turned into Kbytes."}
	}
	if d.sel%100 == colCapacity {
		return helpText{c.oneline, "The size file of the device under /sys/class/block, in 512-byte sectors,\n" +
			"halved; " + what + ". No value when sysfs does not have it."}
	}
	return helpText{c.oneline, "From /proc/diskstats, " + what + ": " + c.from + ".\n" +
		"No value when the running kernel does not print that counter."}
}

func init() {
	setOwnInDomHelp(indomPartition, "disk partitions",
		"One instance per partition line of /proc/diskstats (sda1, nvme0n1p2, ...).")
	setOwnInDomHelp(indomDM, "device-mapper devices",
		"One instance per dm-N line of /proc/diskstats, named after the mapping\n"+
			"(/sys/block/dm-N/dm/name), or dm-N when sysfs has no name for it.")
	setOwnInDomHelp(indomMD, "md arrays",
		"One instance per md line of /proc/diskstats, named by the /dev/md/NAME link\n"+
			"to it, or mdN when there is none.")
	setOwnInDomHelp(indomZram, "zram devices", "One instance per zram line of /proc/diskstats.")
	setOwnInDomHelp(indomWWID, "multipath devices by world-wide identifier",
		"One instance per distinct wwid of the disks (/sys/block/<disk>/device/wwid).")
	registerSource(&sourceSpec{
		name:   "diskstats",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomDisk, indomPartition, indomDM, indomMD, indomZram, indomWWID},
		new: func(e *env) Source {
			return &diskSource{file: newKfile(filepath.Join(e.procRoot, "diskstats")),
				classBlock: filepath.Join(e.sysRoot, "class", "block"), dmNames: map[string]string{},
				devMD: filepath.Join(e.rootFS, "dev", "md"), mdNames: map[string]string{}, pageKB: uint64(e.pageSize) / 1024}
		},
		metrics: diskMetrics(),
		help:    diskHelp,
	})
}

type diskStat struct {
	id    uint32
	view  int    // viewDev, viewPart or viewDM
	kname string // the kernel's name, as in /proc/diskstats
	n     int    // counters the line has
	v     [dsFields]uint64
}

type diskSource struct {
	file       *kfile
	buf        []byte
	classBlock string // /sys/class/block
	ids        [numViews]idCache
	disks      []diskStat // the last read, in file order
	// dmNames caches the mapping name of each dm-N: reading sysfs on every fetch
	// would cost more than the whole of /proc/diskstats. A name is looked up when
	// its dm-N first appears; a mapping renamed in place keeps its old name until
	// the collector restarts.
	dmNames  map[string]string
	dmKernel idCache // interns the dm-N and mdN names
	// mdNames: the persistent name of each mdN (from the links in devMD), looked
	// up when mdN first appears, as dmNames.
	devMD   string
	mdNames map[string]string
	pageKB  uint64 // the page size in Kbytes, for the zram page counts
	statBuf []byte
	partial atomic.Uint64
	// zramRead holds the zram statistics files read in this fetch: each is read
	// once, whichever of its metrics are asked for.
	zramRead map[string]zramRead
	// wwidOf caches the wwid of each disk ("" for none), read once per name: the
	// identifier of a device does not change while it is attached.
	wwidOf  map[string]string
	wwidIDs wwidIDs
	wwids   []wwidGroup // the disks of the last read grouped by wwid
	// schedRead holds the schedulers read in this fetch.
	schedRead map[string]string
}

// wwidIDs gives each wwid a fixed instance id: the disk instance id of the path it
// was first seen on, unless another wwid has that one (then one from a range above
// any disk's). Ids assigned in order of appearance would depend on which other
// disks have a wwid; a disk's id does not.
type wwidIDs struct {
	ids   map[string]uint32
	names map[uint32]string
	next  uint32
}

func (w *wwidIDs) id(name string, diskID uint32) uint32 {
	if id, ok := w.ids[name]; ok {
		return id
	}
	if w.ids == nil {
		w.ids, w.names, w.next = map[string]uint32{}, map[uint32]string{}, 1<<24
	}
	id := diskID
	if _, taken := w.names[id]; taken {
		id = w.next
		w.next++
	}
	w.ids[name], w.names[id] = id, name
	return id
}

func (w *wwidIDs) name(id uint32) string { return w.names[id] }

// wwidGroup is one wwid instance: the indexes in disks of its paths.
type wwidGroup struct {
	id    uint32
	paths []int
}

// groupWWID groups the disks of the last read by wwid.
func (s *diskSource) groupWWID() {
	s.wwids = s.wwids[:0]
	for i := range s.disks {
		d := &s.disks[i]
		if d.view != viewDev {
			continue
		}
		w, _ := s.scsiID(d.kname)
		if w == "" {
			continue
		}
		id := s.wwidIDs.id(w, d.id)
		found := false
		for g := range s.wwids {
			if s.wwids[g].id == id {
				s.wwids[g].paths = append(s.wwids[g].paths, i)
				found = true
			}
		}
		if !found {
			s.wwids = append(s.wwids, wwidGroup{id, []int{i}})
		}
	}
}

type zramRead struct {
	vals [8]uint64
	n    int
	err  error
}

func (s *diskSource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.disks = s.disks[:0]
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		major, r := nextField(line)
		if len(major) == 0 {
			continue
		}
		minor, r := nextField(r)
		name, r := nextField(r)
		_, ok1 := parseUint(major)
		_, ok2 := parseUint(minor)
		if !ok1 || !ok2 || len(name) == 0 {
			return fmt.Errorf("%s: %w: %q", s.file.path, errParse, line)
		}
		// The device is classified before its counters are parsed: those of a
		// device not served (loop, ram, zram, sr, md...) are never looked at.
		var d diskStat
		switch {
		case isDisk(name):
			d.view = viewDev
		case bytes.HasPrefix(name, []byte("dm-")):
			d.view = viewDM
		case bytes.HasPrefix(name, []byte("md")):
			d.view = viewMD
		case bytes.HasPrefix(name, []byte("zram")):
			d.view = viewZram
		case isPartition(string(name)):
			d.view = viewPart
		default:
			continue
		}
		for {
			var f []byte
			f, r = nextField(r)
			if len(f) == 0 {
				break
			}
			x, ok := parseUint(f)
			if !ok {
				return fmt.Errorf("%s: %w: %q", s.file.path, errParse, line)
			}
			if d.n < dsFields {
				d.v[d.n] = x
			}
			d.n++
		}
		if d.n < 11 {
			continue // partitions in the old 4-counter format: not served
		}
		if d.n > dsFields {
			d.n = dsFields
		}
		switch d.view {
		case viewDM:
			s.dmName(name)
			d.id = s.ids[viewDM].idString(s.dmNames[string(name)])
		case viewMD:
			s.mdName(name)
			d.id = s.ids[viewMD].idString(s.mdNames[string(name)])
		default:
			d.id = s.ids[d.view].id(name)
		}
		if d.view == viewDM || d.view == viewMD {
			d.kname = s.dmKernel.name(s.dmKernel.id(name))
		} else {
			d.kname = s.ids[d.view].name(d.id)
		}
		s.disks = append(s.disks, d)
	}
	return nil
}

// dmName makes sure the mapping name of kernel device name (dm-N) is cached.
func (s *diskSource) dmName(name []byte) {
	if _, ok := s.dmNames[string(name)]; ok {
		return
	}
	k := string(name)
	n := k
	if b, err := os.ReadFile(filepath.Join(s.classBlock, k, "dm", "name")); err == nil {
		// A name with control characters (or absurdly long) is not shown: the
		// instance keeps its kernel name.
		if t := string(trimSpace(b)); t != "" && len(t) <= 128 && !hasControl(t) {
			n = t
		}
	}
	s.dmNames[k] = n
}

// mdName makes sure the persistent name of kernel device name (mdN) is cached: the
// name of the link in /dev/md that points at it (names made of digits only are
// the default links, skipped), or mdN.
func (s *diskSource) mdName(name []byte) {
	if _, ok := s.mdNames[string(name)]; ok {
		return
	}
	k := string(name)
	n := k
	if ents, err := os.ReadDir(s.devMD); err == nil {
		for _, e := range ents {
			l := e.Name()
			if l[0] == '.' || isDigit(l[0]) || len(l) > 128 || hasControl(l) {
				continue
			}
			if t, err := os.Readlink(filepath.Join(s.devMD, l)); err == nil && filepath.Base(t) == k {
				n = l
				break
			}
		}
	}
	s.mdNames[k] = n
}

// blockAttr reads the first line of a sysfs attribute of a block device.
func (s *diskSource) blockAttr(kname string, path ...string) ([]byte, error) {
	b, err := readFile(filepath.Join(append([]string{s.classBlock, kname}, path...)...), s.statBuf)
	s.statBuf = b
	if err != nil {
		return nil, err
	}
	line, _ := nextLine(b)
	return trimSpace(line), nil
}

// scheduler is the bracketed name of the disk's queue/scheduler, read once per
// fetch (disk.dev and disk.wwid both ask).
func (s *diskSource) scheduler(kname string) (string, bool) {
	if v, ok := s.schedRead[kname]; ok {
		return v, v != ""
	}
	v, _ := s.readScheduler(kname)
	if s.schedRead == nil {
		s.schedRead = map[string]string{}
	}
	s.schedRead[kname] = v
	return v, v != ""
}

func (s *diskSource) readScheduler(kname string) (string, bool) {
	b, err := s.blockAttr(kname, "queue", "scheduler")
	if err != nil {
		return "", false
	}
	i, j := bytes.IndexByte(b, '['), bytes.IndexByte(b, ']')
	if i < 0 || j < i+2 || j-i > 64 || hasControl(string(b[i+1:j])) {
		return "", false
	}
	return string(b[i+1 : j]), true
}

// scsiID is the disk's wwid, its t10./eui./naa. prefix turned into 1, 2 or 3,
// cached by name (wwidOf).
func (s *diskSource) scsiID(kname string) (string, bool) {
	if w, ok := s.wwidOf[kname]; ok {
		return w, w != ""
	}
	w, _ := s.readSCSIID(kname)
	if s.wwidOf == nil {
		s.wwidOf = map[string]string{}
	}
	if len(s.wwidOf) < 1<<16 {
		s.wwidOf[kname] = w
	}
	return w, w != ""
}

func (s *diskSource) readSCSIID(kname string) (string, bool) {
	b, err := s.blockAttr(kname, "device", "wwid")
	if err != nil {
		if b, err = s.blockAttr(kname, "wwid"); err != nil {
			return "", false
		}
	}
	if len(b) == 0 || len(b) > 256 || hasControl(string(b)) {
		return "", false
	}
	id := string(b)
	if len(id) > 4 {
		switch id[:4] {
		case "t10.":
			id = "1" + id[4:]
		case "eui.":
			id = "2" + id[4:]
		case "naa.":
			id = "3" + id[4:]
		}
	}
	return id, true
}

// zramFile reads the numbers of /sys/block/zramN/<file>: an fs.ErrNotExist error
// when the file is missing, errParse when it is not made of numbers.
func (s *diskSource) zramFile(kname, file string) (vals [8]uint64, n int, err error) {
	b, err := readFile(filepath.Join(s.classBlock, kname, file), s.statBuf)
	s.statBuf = b
	if err != nil {
		return vals, 0, err
	}
	for r := b; ; {
		var f []byte
		f, r = nextField(r)
		if len(f) == 0 {
			break
		}
		v, ok := parseUint(f)
		if !ok {
			return vals, 0, fmt.Errorf("%s/%s/%s: %w: %.60q", s.classBlock, kname, file, errParse, b)
		}
		if n < len(vals) {
			vals[n] = v
		}
		n++
	}
	return vals, n, nil
}

// column returns column c of d, if the line has the counters it needs.
func (d *diskStat) column(c int) optU {
	col := &diskColumns[c]
	if d.n < col.minN {
		return optU{}
	}
	v := &d.v
	var x uint64
	switch col.name {
	case "read":
		x = v[dsRdIOs]
	case "write":
		x = v[dsWrIOs]
	case "total":
		x = v[dsRdIOs] + v[dsWrIOs]
	case "blkread":
		x = v[dsRdSectors]
	case "blkwrite":
		x = v[dsWrSectors]
	case "blktotal":
		x = v[dsRdSectors] + v[dsWrSectors]
	case "read_bytes":
		x = v[dsRdSectors] / 2
	case "write_bytes":
		x = v[dsWrSectors] / 2
	case "total_bytes":
		x = (v[dsRdSectors] + v[dsWrSectors]) / 2
	case "read_merge":
		x = v[dsRdMerges]
	case "write_merge":
		x = v[dsWrMerges]
	case "avactive":
		x = v[dsIOTicks]
	case "aveq":
		x = v[dsQueueTicks]
	case "read_rawactive":
		x = v[dsRdTicks]
	case "write_rawactive":
		x = v[dsWrTicks]
	case "total_rawactive":
		x = v[dsRdTicks] + v[dsWrTicks]
	case "discard":
		x = v[dsDiscIOs]
	case "blkdiscard":
		x = v[dsDiscSectors]
	case "discard_bytes":
		x = v[dsDiscSectors] / 2
	case "discard_merge":
		x = v[dsDiscMerges]
	case "discard_rawactive":
		x = v[dsDiscTicks]
	case "flush":
		x = v[dsFlushIOs]
	case "flush_rawactive":
		x = v[dsFlushTicks]
	case "inflight":
		x = v[dsInFlight]
	default:
		return optU{}
	}
	return optU{x, true}
}

func (s *diskSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	// A metric that reads sysfs per device is answered once per fetch, however
	// many times it is asked for.
	var first map[int]*Result
	clear(s.zramRead)
	clear(s.schedRead)
	for _, rq := range reqs {
		res := rq.Res
		if readsSysfs(rq.Sel) {
			if f, ok := first[rq.Sel]; ok {
				res.Err, res.Values = f.Err, append(res.Values, f.Values...)
				continue
			}
			if first == nil {
				first = map[int]*Result{}
			}
			first[rq.Sel] = res
		}
		switch {
		case rq.Sel == selNDisk:
			n := 0
			for i := range s.disks {
				if s.disks[i].view == viewDev {
					n++
				}
			}
			putU(res, protocol.InNull, uint64(n))
		case rq.Sel == selDMName || rq.Sel == selMDName:
			view := viewDM
			if rq.Sel == selMDName {
				view = viewMD
			}
			for i := range s.disks {
				if d := &s.disks[i]; d.view == view {
					putS(res, d.id, d.kname)
				}
			}
		case rq.Sel == selMDStatus:
			// no value: see the help
		case rq.Sel == selScheduler || rq.Sel == selScsiID:
			for i := range s.disks {
				if d := &s.disks[i]; d.view == viewDev {
					get := s.scheduler
					if rq.Sel == selScsiID {
						get = s.scsiID
					}
					if v, ok := get(d.kname); ok {
						putS(res, d.id, v)
					}
				}
			}
		case rq.Sel == selWWIDScheduler || rq.Sel == selWWIDPaths:
			s.groupWWID()
			for _, g := range s.wwids {
				if rq.Sel == selWWIDPaths {
					var names []string
					for _, i := range g.paths {
						names = append(names, s.disks[i].kname)
					}
					putS(res, g.id, strings.Join(names, " "))
				} else if v, ok := s.scheduler(s.disks[g.paths[len(g.paths)-1]].kname); ok {
					putS(res, g.id, v)
				}
			}
		case rq.Sel/100 == viewWWID && rq.Sel < 1000:
			c := rq.Sel % 100
			typ := diskColumns[c].pmidIn(viewWWID).typ
			s.groupWWID()
			for _, g := range s.wwids {
				if c == colCapacity {
					if v, ok := s.capacity(s.disks[g.paths[0]].kname); ok {
						putU(res, g.id, v)
					}
					continue
				}
				var sum uint64
				ok := true
				for _, i := range g.paths {
					v := s.disks[i].column(c)
					ok = ok && v.ok
					sum += v.v
				}
				if ok {
					putU(res, g.id, diskWrap(typ, sum))
				}
			}
		case rq.Sel >= selZramIO && rq.Sel < selZramIO+len(zramStats):
			if err := s.fetchZram(rq.Sel-selZramIO, res); err != nil {
				res.Err = errCode(err)
				res.Values = res.Values[:0]
				s.partial.Add(1)
			}
		case rq.Sel/100 == viewAll:
			c := rq.Sel % 100
			var sum uint64
			ok := true
			for i := range s.disks {
				if d := &s.disks[i]; d.view == viewDev {
					v := d.column(c)
					ok = ok && v.ok
					sum += v.v
				}
			}
			if ok {
				putU(res, protocol.InNull, diskWrap(diskColumns[c].views[viewAll].typ, sum))
			}
		default:
			view, c := rq.Sel/100, rq.Sel%100
			typ := diskColumns[c].pmidIn(view).typ
			for i := range s.disks {
				d := &s.disks[i]
				if d.view != view {
					continue
				}
				if c == colCapacity && view == viewZram {
					if b, err := s.blockAttr(d.kname, "disksize"); err == nil {
						if v, ok := parseUint(b); ok {
							putU(res, d.id, v/1024)
						}
					}
					continue
				}
				if c == colCapacity {
					if v, ok := s.capacity(d.kname); ok {
						putU(res, d.id, v)
					}
					continue
				}
				if v := d.column(c); v.ok {
					putU(res, d.id, diskWrap(typ, v.v))
				}
			}
		}
	}
	return nil
}

// readsSysfs says whether a selector's values come from sysfs files of each device.
func readsSysfs(sel int) bool {
	return sel == selScheduler || sel == selWWIDScheduler || sel >= selZramIO && sel < selZramIO+len(zramStats) ||
		sel < 1000 && sel%100 == colCapacity
}

// fetchZram answers one io_stat, mm_stat or bd_stat metric for every zram device.
// A missing file gives no value (bd_stat exists only with a backing device); a file
// that is not numbers, or has fewer than the field, fails the metric.
func (s *diskSource) fetchZram(i int, res *Result) error {
	z := zramStats[i]
	for j := range s.disks {
		d := &s.disks[j]
		if d.view != viewZram {
			continue
		}
		key := d.kname + "/" + z.file
		zr, ok := s.zramRead[key]
		if !ok {
			zr.vals, zr.n, zr.err = s.zramFile(d.kname, z.file)
			if s.zramRead == nil {
				s.zramRead = map[string]zramRead{}
			}
			s.zramRead[key] = zr
		}
		vals, n, err := zr.vals, zr.n, zr.err
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if z.field >= n {
			return fmt.Errorf("%s/%s/%s: %w: %d fields", s.classBlock, d.kname, z.file, errParse, n)
		}
		v := vals[z.field]
		switch {
		case z.kb:
			v /= 1024
		case z.pages:
			if s.pageKB == 0 || v > (1<<64-1)/s.pageKB {
				continue
			}
			v *= s.pageKB
		}
		putU(res, d.id, v)
	}
	return nil
}

// PartialErrors counts the zram statistics files that failed their metric while
// /proc/diskstats served the others.
func (s *diskSource) PartialErrors() uint64 { return s.partial.Load() }

// diskWrap truncates a value served as a 32-bit counter, as the linux agent does.
func diskWrap(typ int32, v uint64) uint64 {
	if typ == tU32 {
		return uint64(uint32(v))
	}
	return v
}

// capacity reads the size of a device from sysfs, in Kbytes.
func (s *diskSource) capacity(kname string) (uint64, bool) {
	b, err := os.ReadFile(filepath.Join(s.classBlock, kname, "size"))
	if err != nil {
		return 0, false
	}
	sectors, ok := parseUint(trimSpace(b))
	return sectors / 2, ok
}

func (s *diskSource) Instances(indom protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	view := viewDev
	switch indom {
	case indomPartition:
		view = viewPart
	case indomDM:
		view = viewDM
	case indomMD:
		view = viewMD
	case indomZram:
		view = viewZram
	case indomWWID:
		s.groupWWID()
		out := make([]Instance, len(s.wwids))
		for i, g := range s.wwids {
			out[i] = Instance{ID: g.id, Name: s.wwidIDs.name(g.id)}
		}
		sortInstances(out)
		return out, nil
	}
	var out []Instance
	for _, d := range s.disks {
		if d.view == view {
			out = append(out, Instance{ID: d.id, Name: s.ids[view].name(d.id)})
		}
	}
	sortInstances(out)
	return out, nil
}

// isDisk applies the linux agent's rules (proc_partitions.c, _pm_isdisk).
func isDisk(nb []byte) bool {
	name := string(nb) // does not escape: no allocation
	return !strings.HasPrefix(name, "loop") && !strings.HasPrefix(name, "ram") &&
		!isCDROM(name) && !strings.HasPrefix(name, "zram") &&
		!isPartition(name) && !strings.Contains(name, "xvm") &&
		!strings.HasPrefix(name, "dm-") && !strings.HasPrefix(name, "md") &&
		!isWWID(name)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isCDROM(name string) bool { return len(name) > 2 && name[:2] == "sr" && isDigit(name[2]) }

// wholeWithP reports whether a device family with the given prefix names its
// partitions with a "p" (mmcblk0p1, nvme0n1p1, rbd0p1, nbd0p1) and name is not one.
func wholeWithP(name, prefix string) bool {
	return strings.HasPrefix(name, prefix) && !strings.Contains(name[len(prefix):], "p")
}

// isPartition is the linux agent's _pm_ispartition heuristic.
func isPartition(name string) bool {
	if name == "" {
		return false
	}
	m := len(name) - 1
	if strings.IndexByte(name, '/') >= 0 {
		p := m
		for p > 0 && isDigit(name[p]) {
			p--
		}
		if p == m {
			return true // no trailing digits: the agent "wildly guesses"
		}
		return name[p] == 'p'
	}
	return isDigit(name[m]) &&
		!strings.HasPrefix(name, "loop") && !strings.HasPrefix(name, "ram") &&
		!wholeWithP(name, "mmcblk") && !wholeWithP(name, "nvme") &&
		!wholeWithP(name, "rbd") && !strings.HasPrefix(name, "zram") &&
		!wholeWithP(name, "nbd") && !strings.HasPrefix(name, "md") &&
		!strings.HasPrefix(name, "dm-") && !isCDROM(name)
}

func isWWID(name string) bool {
	return len(name) == 18 && (name[0] == '1' || name[0] == '2' || name[0] == '3')
}

func sortInstances(in []Instance) {
	for i := 1; i < len(in); i++ {
		for j := i; j > 0 && in[j].ID < in[j-1].ID; j-- {
			in[j], in[j-1] = in[j-1], in[j]
		}
	}
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
