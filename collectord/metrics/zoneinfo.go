package metrics

import (
	"bytes"
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// The "zoneinfo" source: /proc/zoneinfo, memory statistics per zone of each NUMA
// node (mem.zoneinfo.*, indom 60.32) and each zone's lowmem protection
// (mem.zoneinfo.protection, indom 60.33). The file is a block per zone, begun by
// "Node 0, zone   Normal"; a block may hold a "per-node stats" section (the node's
// own counters, which newer kernels keep per node rather than per zone) before the
// zone's own "pages free N" line and counters. As the linux agent names them, zone
// instances are "Normal::node0", node instances "node0", and protection instances
// "Normal::node0::lowmem_reserved2" (the third number of the zone's protection
// list). Every value is in pages in the file and is served in kilobytes. A zone with
// no present pages (Movable, Device on most machines) is left out of indom 60.32, as
// the linux agent leaves it, though its protection numbers are kept. A counter the
// kernel does not print has no value.
//
// Parsed by hand: procfs's Zoneinfo splits the file at "Node" lines only, so a
// block's per-node counters land on its first zone, and it knows fewer counters.
// A counter named here whose value is not a decimal number, an unindented line that
// is not a zone's heading, or a file with no zone fails the source (counted).

var (
	indomZone     = protocol.NewInDom(DomainLinux, 32)
	indomZoneProt = protocol.NewInDom(DomainLinux, 33)
)

// zoneFields: the metric name (after mem.zoneinfo.) and the kernel's counter for
// each item of cluster 68, by item. "free" is the "pages free" line; "scanned" is
// also printed as "node_scanned".
var zoneFields = [...]struct{ name, key string }{
	{"free", "pages free"}, {"min", "min"}, {"low", "low"}, {"high", "high"},
	{"scanned", "scanned"}, {"spanned", "spanned"}, {"present", "present"}, {"managed", "managed"},
	{"nr_free_pages", ""}, {"nr_alloc_batch", ""}, {"nr_inactive_anon", ""}, {"nr_active_anon", ""},
	{"nr_inactive_file", ""}, {"nr_active_file", ""}, {"nr_unevictable", ""}, {"nr_mlock", ""},
	{"nr_anon_pages", ""}, {"nr_mapped", ""}, {"nr_file_pages", ""}, {"nr_dirty", ""},
	{"nr_writeback", ""}, {"nr_slab_reclaimable", ""}, {"nr_slab_unreclaimable", ""}, {"nr_page_table_pages", ""},
	{"nr_kernel_stack", ""}, {"nr_unstable", ""}, {"nr_bounce", ""}, {"nr_vmscan_write", ""},
	{"nr_vmscan_immediate_reclaim", ""}, {"nr_writeback_temp", ""}, {"nr_isolated_anon", ""}, {"nr_isolated_file", ""},
	{"nr_shmem", ""}, {"nr_dirtied", ""}, {"nr_written", ""}, {"numa_hit", ""},
	{"numa_miss", ""}, {"numa_foreign", ""}, {"numa_interleave", ""}, {"numa_local", ""},
	{"numa_other", ""}, {"workingset_refault", ""}, {"workingset_activate", ""}, {"workingset_nodereclaim", ""},
	{"nr_anon_transparent_hugepages", ""}, {"nr_free_cma", ""}, {"cma", ""}, {"nr_swapcached", ""},
	{"nr_shmem_hugepages", ""}, {"nr_shmem_pmdmapped", ""}, {"nr_file_hugepages", ""}, {"nr_file_pmdmapped", ""},
	{"nr_kernel_misc_reclaimable", ""}, {"nr_foll_pin_acquired", ""}, {"nr_foll_pin_released", ""}, {"workingset_refault_anon", ""},
	{"workingset_refault_file", ""}, {"workingset_active_anon", "workingset_activate_anon"}, {"workingset_active_file", "workingset_activate_file"}, {"workingset_restore_anon", ""},
	{"workingset_restore_file", ""}, {"nr_zspages", ""}, {"nr_zone_inactive_file", ""}, {"nr_zone_active_file", ""},
	{"nr_zone_inactive_anon", ""}, {"nr_zone_active_anon", ""}, {"nr_zone_unevictable", ""}, {"nr_zone_write_pending", ""},
}

const (
	nZoneFields  = len(zoneFields)
	selZoneProt  = nZoneFields
	zoneFree     = 0
	zonePresent  = 6
	zoneScanned  = 4
	maxZoneInsts = 1 << 14 // zones times nodes; far beyond any machine
)

// zoneKeys maps each kernel counter name to its item.
var zoneKeys = func() map[string]int {
	m := make(map[string]int, nZoneFields+1)
	for i, f := range zoneFields {
		k := f.key
		if k == "" {
			k = f.name
		}
		m[k] = i
	}
	m["node_scanned"] = zoneScanned
	return m
}()

func init() {
	setOwnInDomHelp(indomZone, "memory zones per NUMA node, and the nodes",
		"One instance per zone with present pages of each node in /proc/zoneinfo, named\n"+
			"ZONE::nodeN (\"Normal::node0\"), and one per node with per-node counters, nodeN.")
	setOwnInDomHelp(indomZoneProt, "lowmem protection levels per zone and node",
		"One instance per number of each zone's protection list in /proc/zoneinfo,\n"+
			"named ZONE::nodeN::lowmem_reservedK for the K-th number (from 0).")
	defs := make([]metricDef, 0, nZoneFields+1)
	for i, f := range zoneFields {
		defs = append(defs, metricDef{"mem.zoneinfo." + f.name, pmid(60, 68, uint32(i)), tU64, indomZone, semI, uKB, i})
	}
	defs = append(defs, metricDef{"mem.zoneinfo.protection", pmid(60, 70, 0), tU64, indomZoneProt, semI, uKB, selZoneProt})
	registerSource(&sourceSpec{
		name:   "zoneinfo",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomZone, indomZoneProt},
		new: func(e *env) Source {
			return &zoneSource{file: newKfile(filepath.Join(e.procRoot, "zoneinfo")), pageSize: uint64(e.pageSize)}
		},
		metrics: defs,
		help:    zoneHelp,
	})
}

func zoneHelp(d metricDef) helpText {
	if d.sel == selZoneProt {
		return helpText{"memory a zone keeps back from allocations meant for higher zones",
			"The K-th number of the zone's \"protection: (...)\" list in /proc/zoneinfo, in\n" +
				"kilobytes: free memory the zone holds back from an allocation that could have\n" +
				"used zone K."}
	}
	if d.sel < 0 || d.sel >= nZoneFields {
		return helpText{}
	}
	f := zoneFields[d.sel]
	k := f.key
	if k == "" {
		k = f.name
	}
	what := "the " + k + " counter"
	if d.sel <= 7 {
		what = "the " + k + " figure"
	}
	return helpText{k + " per zone and node, in kilobytes",
		"From " + what + " of /proc/zoneinfo (in pages there), per zone or, for a counter the\n" +
			"kernel keeps per node, per node; in kilobytes. No value where it is not printed."}
}

// zoneInst is one instance of indom 60.32 as read: its values and which are set.
type zoneInst struct {
	id     uint32
	hidden bool // a zone without present pages
	vals   [nZoneFields]uint64
	has    [nZoneFields]bool
}

type zoneProt struct {
	id    uint32
	pages uint64
}

type zoneSource struct {
	file     *kfile
	buf      []byte
	pageSize uint64
	ids      idCache // indom 60.32
	protIDs  idCache // indom 60.33
	insts    []zoneInst
	prots    []zoneProt
	name     []byte
}

func (s *zoneSource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.insts, s.prots = s.insts[:0], s.prots[:0]
	zone := -1 // index in s.insts of the current zone
	cur := -1  // where counters go: the zone, or its node's per-node instance
	var zoneName []byte
	var node uint64
	// finish ends a zone's block: its id is given now, after its node's, so ids
	// come in the order the linux agent gives them.
	finish := func() {
		if zone >= 0 {
			z := &s.insts[zone]
			z.hidden = !z.has[zonePresent] || z.vals[zonePresent] == 0
			s.name = append(append(append(s.name[:0], zoneName...), "::node"...), strconv.FormatUint(node, 10)...)
			z.id = s.ids.id(s.name)
		}
	}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		f1, r := nextField(line)
		if len(f1) == 0 {
			continue
		}
		if !isSpace(line[0]) {
			// "Node 0, zone   Normal"
			n, r2 := nextField(r)
			zw, r3 := nextField(r2)
			zn, _ := nextField(r3)
			if string(f1) != "Node" || len(n) < 2 || n[len(n)-1] != ',' || string(zw) != "zone" || !isFieldName(zn) {
				return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
			}
			v, ok := parseUint(n[:len(n)-1])
			if !ok || v >= maxNodes {
				return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
			}
			finish()
			if len(s.insts) >= maxZoneInsts {
				return fmt.Errorf("%s: %w: more zones than any machine has", s.file.path, errParse)
			}
			node, zoneName = v, zn
			s.insts = append(s.insts, zoneInst{})
			zone, cur = len(s.insts)-1, len(s.insts)-1
			continue
		}
		if zone < 0 {
			return fmt.Errorf("%s: %w: line %q before any zone", s.file.path, errParse, line)
		}
		if string(f1) == "per-node" {
			if len(s.insts) >= maxZoneInsts {
				return fmt.Errorf("%s: %w: more zones than any machine has", s.file.path, errParse)
			}
			s.name = append(append(s.name[:0], "node"...), strconv.FormatUint(node, 10)...)
			s.insts = append(s.insts, zoneInst{id: s.ids.id(s.name)})
			cur = len(s.insts) - 1
			continue
		}
		if string(f1) == "protection:" {
			if err := s.protection(r, zoneName, node); err != nil {
				return fmt.Errorf("%s: %w", s.file.path, err)
			}
			continue
		}
		key := f1
		if string(f1) == "pages" {
			var f2 []byte
			f2, r = nextField(r)
			if string(f2) != "free" {
				continue
			}
			cur, key = zone, []byte("pages free")
		}
		item, ok := zoneKeys[string(key)]
		if !ok {
			continue // pagesets, counters no metric serves
		}
		val, r := nextField(r)
		extra, _ := nextField(r)
		v, ok := parseUint(val)
		if !ok || len(extra) > 0 {
			return fmt.Errorf("%s: %w: line %q", s.file.path, errParse, line)
		}
		in := &s.insts[cur]
		in.vals[item], in.has[item] = v, true
	}
	finish()
	if zone < 0 {
		return fmt.Errorf("%s: %w: no zones", s.file.path, errParse)
	}
	return nil
}

// protection parses "(0, 3018, 8906)" into protection instances.
func (s *zoneSource) protection(r []byte, zoneName []byte, node uint64) error {
	r = trimSpace(r)
	if len(r) < 2 || r[0] != '(' || r[len(r)-1] != ')' {
		return fmt.Errorf("%w: protection %q", errParse, r)
	}
	for k, part := range bytes.Split(r[1:len(r)-1], []byte(",")) {
		v, ok := parseUint(trimSpace(part))
		if !ok || k >= 64 || len(s.prots) >= maxZoneInsts {
			return fmt.Errorf("%w: protection %q", errParse, r)
		}
		s.name = append(append(append(s.name[:0], zoneName...), "::node"...), strconv.FormatUint(node, 10)...)
		s.name = append(append(s.name, "::lowmem_reserved"...), strconv.Itoa(k)...)
		s.prots = append(s.prots, zoneProt{s.protIDs.id(s.name), v})
	}
	return nil
}

// kb converts pages to kilobytes, false when that does not fit.
func (s *zoneSource) kb(pages uint64) (uint64, bool) {
	per := s.pageSize / 1024
	if per != 0 && pages > (1<<64-1)/per {
		return 0, false
	}
	return pages * per, true
}

func (s *zoneSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	for _, rq := range reqs {
		if rq.Sel == selZoneProt {
			for _, p := range s.prots {
				if v, ok := s.kb(p.pages); ok {
					putU(rq.Res, p.id, v)
				}
			}
			continue
		}
		if rq.Sel < 0 || rq.Sel >= nZoneFields {
			continue
		}
		for i := range s.insts {
			in := &s.insts[i]
			if in.hidden || !in.has[rq.Sel] {
				continue
			}
			if v, ok := s.kb(in.vals[rq.Sel]); ok {
				putU(rq.Res, in.id, v)
			}
		}
	}
	return nil
}

func (s *zoneSource) Instances(indom protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	var out []Instance
	if indom == indomZoneProt {
		for _, p := range s.prots {
			out = append(out, Instance{ID: p.id, Name: s.protIDs.name(p.id)})
		}
		return out, nil
	}
	for _, in := range s.insts {
		if !in.hidden {
			out = append(out, Instance{ID: in.id, Name: s.ids.name(in.id)})
		}
	}
	// In id order, as the linux agent lists them: a block's node before its zone.
	slices.SortFunc(out, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// splitNameLabels writes the instance labels of the domains whose instance names
// are parts joined by "::" (buddyinfo, zoneinfo and its protection, the per-CPU
// interrupt and softirq counts), as the linux agent labels them: the node, zone,
// order, CPU, line or kind each part names, keys in byte order. A name not of its
// domain's shape gets no labels.
func splitNameLabels(b *strings.Builder, in protocol.InDom, name string) {
	parts := strings.Split(name, "::")
	num := func(s, prefix string) (string, bool) {
		v, ok := strings.CutPrefix(s, prefix)
		if _, isNum := parseUint([]byte(v)); !ok || !isNum {
			return "", false
		}
		return v, true
	}
	str := func(s string) string {
		var sb strings.Builder
		writeJSONString(&sb, s)
		return sb.String()
	}
	switch in {
	case indomBuddy: // ZONE::orderK::nodeN
		if len(parts) == 3 {
			order, ok1 := num(parts[1], "order")
			node, ok2 := num(parts[2], "node")
			if ok1 && ok2 {
				b.WriteString(`{"numa_node":` + node + `,"order":` + order + `,"zone":` + str(parts[0]) + `}`)
			}
		}
	case indomZone: // ZONE::nodeN or nodeN
		if node, ok := num(parts[len(parts)-1], "node"); ok && len(parts) <= 2 {
			b.WriteString(`{"numa_node":` + node)
			if len(parts) == 2 {
				b.WriteString(`,"zone":` + str(parts[0]))
			}
			b.WriteByte('}')
		}
	case indomZoneProt: // ZONE::nodeN::lowmem_reservedK
		if len(parts) == 3 {
			node, ok1 := num(parts[1], "node")
			k, ok2 := num(parts[2], "lowmem_reserved")
			if ok1 && ok2 {
				b.WriteString(`{"lowmem_reserved":` + k + `,"numa_node":` + node + `,"zone":` + str(parts[0]) + `}`)
			}
		}
	case indomIntrCPU, indomSoftirqCPU: // LINE::cpuN
		if len(parts) == 2 {
			if cpu, ok := num(parts[1], "cpu"); ok {
				key := `,"irq":`
				if in == indomSoftirqCPU {
					key = `,"softirq":`
				}
				b.WriteString(`{"cpu":` + cpu + key + str(parts[0]) + `}`)
			}
		}
	}
}
