package metrics

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// The "vmstat" source: /proc/vmstat, "name value" lines: swap.pagesin, swap.pagesout
// and mem.vmstat.*. Each mem.vmstat metric is the /proc/vmstat field of the same name,
// except the few the linux agent sums from fields that later kernels split or renamed
// (vmstatDerived). A field this kernel does not print gives no value, never 0. Only
// the values of the requested fields are converted.

// vmstatField is one mem.vmstat metric: its field (and name), its item in cluster 28
// of the linux domain, its semantics and units. All are 64-bit unsigned.
type vmstatField struct {
	key   string
	item  uint32
	sem   int32
	units protocol.Units
}

// vmstatFields: the descriptors are the linux agent's (PCP 6.0.3).
var vmstatFields = []vmstatField{
	{"allocstall", 35, semC, uCount},
	{"allocstall_dma", 154, semC, uCount},
	{"allocstall_dma32", 155, semC, uCount},
	{"allocstall_high", 156, semC, uCount},
	{"allocstall_movable", 157, semC, uCount},
	{"allocstall_normal", 158, semC, uCount},
	{"balloon_deflate", 103, semC, uCount},
	{"balloon_inflate", 104, semC, uCount},
	{"balloon_migrate", 105, semC, uCount},
	{"compact_blocks_moved", 57, semC, uCount},
	{"compact_daemon_free_scanned", 159, semC, uCount},
	{"compact_daemon_migrate_scanned", 160, semC, uCount},
	{"compact_daemon_wake", 106, semC, uCount},
	{"compact_fail", 58, semC, uCount},
	{"compact_free_scanned", 107, semC, uCount},
	{"compact_isolated", 126, semC, uCount},
	{"compact_migrate_scanned", 108, semC, uCount},
	{"compact_pagemigrate_failed", 59, semC, uCount},
	{"compact_pages_moved", 60, semC, uCount},
	{"compact_stall", 61, semC, uCount},
	{"compact_success", 62, semC, uCount},
	{"drop_pagecache", 109, semC, uCount},
	{"drop_slab", 110, semC, uCount},
	{"htlb_buddy_alloc_fail", 43, semC, uCount},
	{"htlb_buddy_alloc_success", 44, semC, uCount},
	{"kswapd_inodesteal", 33, semC, uCount},
	{"kswapd_low_wmark_hit_quickly", 87, semC, uCount},
	{"kswapd_high_wmark_hit_quickly", 88, semC, uCount},
	{"kswapd_skip_congestion_wait", 89, semC, uCount},
	{"kswapd_steal", 32, semC, uCount},
	{"nr_active_anon", 45, semI, uCount},
	{"nr_active_file", 46, semI, uCount},
	{"nr_anon_pages", 39, semI, uNone},
	{"nr_anon_transparent_hugepages", 90, semI, uCount},
	{"nr_bounce", 40, semI, uNone},
	{"nr_dirtied", 91, semC, uCount},
	{"nr_dirty", 0, semI, uNone},
	{"nr_dirty_background_threshold", 92, semI, uCount},
	{"nr_dirty_threshold", 93, semI, uCount},
	{"nr_file_hugepages", 161, semI, uCount},
	{"nr_file_pages", 41, semI, uNone},
	{"nr_file_pmdmapped", 162, semI, uCount},
	{"nr_foll_pin_acquired", 163, semI, uCount},
	{"nr_foll_pin_released", 164, semI, uCount},
	{"nr_free_cma", 111, semC, uCount},
	{"nr_free_pages", 47, semI, uCount},
	{"nr_inactive_anon", 48, semI, uCount},
	{"nr_inactive_file", 49, semI, uCount},
	{"nr_isolated_anon", 50, semI, uCount},
	{"nr_isolated_file", 51, semI, uCount},
	{"nr_kernel_misc_reclaimable", 165, semI, uCount},
	{"nr_kernel_stack", 52, semI, uCount},
	{"nr_mapped", 4, semI, uNone},
	{"nr_mlock", 53, semI, uCount},
	{"nr_pages_scanned", 112, semC, uCount},
	{"nr_page_table_pages", 3, semI, uNone},
	{"nr_shmem", 54, semI, uCount},
	{"nr_shmem_hugepages", 127, semI, uCount},
	{"nr_shmem_pmdmapped", 128, semI, uCount},
	{"nr_slab", 5, semI, uNone},
	{"nr_slab_reclaimable", 37, semI, uNone},
	{"nr_slab_unreclaimable", 38, semI, uNone},
	{"nr_unevictable", 55, semI, uCount},
	{"nr_unstable", 2, semI, uNone},
	{"nr_vmscan_immediate_reclaim", 113, semC, uCount},
	{"nr_vmscan_write", 42, semC, uCount},
	{"nr_writeback", 1, semI, uNone},
	{"nr_writeback_temp", 56, semI, uCount},
	{"nr_written", 94, semC, uCount},
	{"nr_zone_active_anon", 130, semI, uCount},
	{"nr_zone_active_file", 132, semI, uCount},
	{"nr_zone_inactive_anon", 129, semI, uCount},
	{"nr_zone_inactive_file", 131, semI, uCount},
	{"nr_zone_unevictable", 133, semI, uCount},
	{"nr_zone_write_pending", 134, semI, uCount},
	{"nr_zspages", 135, semI, uCount},
	{"numa_foreign", 95, semC, uCount},
	{"numa_hint_faults", 152, semC, uCount},
	{"numa_hint_faults_local", 153, semC, uCount},
	{"numa_hit", 96, semC, uCount},
	{"numa_huge_pte_updates", 151, semC, uCount},
	{"numa_interleave", 97, semC, uCount},
	{"numa_local", 98, semC, uCount},
	{"numa_miss", 99, semC, uCount},
	{"numa_other", 100, semC, uCount},
	{"numa_pages_migrated", 114, semC, uCount},
	{"numa_pte_updates", 115, semC, uCount},
	{"oom_kill", 166, semC, uCount},
	{"pageoutrun", 34, semC, uCount},
	{"pgactivate", 14, semC, uCount},
	{"pgalloc_dma", 12, semC, uCount},
	{"pgalloc_dma32", 63, semC, uCount},
	{"pgalloc_high", 10, semC, uCount},
	{"pgalloc_movable", 64, semC, uCount},
	{"pgalloc_normal", 11, semC, uCount},
	{"pgrefill_dma32", 65, semC, uCount},
	{"pgrefill_movable", 66, semC, uCount},
	{"pgdeactivate", 15, semC, uCount},
	{"pgfault", 16, semC, uCount},
	{"pgfree", 13, semC, uCount},
	{"pginodesteal", 30, semC, uCount},
	{"pglazyfreed", 116, semC, uCount},
	{"pgmajfault", 17, semC, uCount},
	{"pgmigrate_fail", 117, semC, uCount},
	{"pgmigrate_success", 118, semC, uCount},
	{"pgpgin", 6, semC, uCount},
	{"pgpgout", 7, semC, uCount},
	{"pgrefill_dma", 20, semC, uCount},
	{"pgrefill_high", 18, semC, uCount},
	{"pgrefill_normal", 19, semC, uCount},
	{"pgrotated", 36, semC, uCount},
	{"pgscan_direct", 146, semC, uCount},
	{"pgscan_direct_dma", 29, semC, uCount},
	{"pgscan_direct_dma32", 67, semC, uCount},
	{"pgscan_direct_high", 27, semC, uCount},
	{"pgscan_direct_movable", 68, semC, uCount},
	{"pgscan_direct_normal", 28, semC, uCount},
	{"pgscan_direct_throttle", 147, semC, uCount},
	{"pgscan_direct_total", 176, semC, uCount},
	{"pgscan_kswapd", 148, semC, uCount},
	{"pgscan_kswapd_dma", 26, semC, uCount},
	{"pgscan_kswapd_dma32", 69, semC, uCount},
	{"pgscan_kswapd_high", 24, semC, uCount},
	{"pgscan_kswapd_movable", 70, semC, uCount},
	{"pgscan_kswapd_normal", 25, semC, uCount},
	{"pgscan_kswapd_total", 177, semC, uCount},
	{"pgsteal_dma", 23, semC, uCount},
	{"pgsteal_dma32", 71, semC, uCount},
	{"pgsteal_file", 167, semC, uCount},
	{"pgsteal_high", 21, semC, uCount},
	{"pgsteal_movable", 72, semC, uCount},
	{"pgsteal_normal", 22, semC, uCount},
	{"pgsteal_kswapd", 150, semC, uCount},
	{"pgsteal_kswapd_dma", 138, semC, uCount},
	{"pgsteal_kswapd_dma32", 139, semC, uCount},
	{"pgsteal_kswapd_normal", 140, semC, uCount},
	{"pgsteal_kswapd_movable", 141, semC, uCount},
	{"pgsteal_direct", 149, semC, uCount},
	{"pgsteal_direct_dma", 142, semC, uCount},
	{"pgsteal_direct_dma32", 143, semC, uCount},
	{"pgsteal_direct_normal", 144, semC, uCount},
	{"pgsteal_direct_movable", 145, semC, uCount},
	{"pgsteal_total", 178, semC, uCount},
	{"pswpin", 8, semC, uCount},
	{"pswpout", 9, semC, uCount},
	{"slabs_scanned", 31, semC, uCount},
	{"swap_ra", 168, semC, uCount},
	{"swap_ra_hit", 169, semC, uCount},
	{"thp_collapse_alloc", 75, semC, uCount},
	{"thp_collapse_alloc_failed", 76, semC, uCount},
	{"thp_deferred_split_page", 119, semC, uCount},
	{"thp_fault_alloc", 73, semC, uCount},
	{"thp_fault_fallback", 74, semC, uCount},
	{"thp_fault_fallback_charge", 170, semC, uCount},
	{"thp_file_alloc", 136, semC, uCount},
	{"thp_file_mapped", 137, semC, uCount},
	{"thp_split", 77, semC, uCount},
	{"thp_split_page", 120, semC, uCount},
	{"thp_split_page_failed", 121, semC, uCount},
	{"thp_split_pmd", 122, semC, uCount},
	{"thp_split_pud", 171, semC, uCount},
	{"thp_swpout", 172, semC, uCount},
	{"thp_swpout_fallback", 173, semC, uCount},
	{"thp_zero_page_alloc", 101, semC, uCount},
	{"thp_zero_page_alloc_failed", 102, semC, uCount},
	{"unevictable_pgs_cleared", 78, semC, uCount},
	{"unevictable_pgs_culled", 79, semC, uCount},
	{"unevictable_pgs_mlocked", 80, semC, uCount},
	{"unevictable_pgs_mlockfreed", 81, semC, uCount},
	{"unevictable_pgs_munlocked", 82, semC, uCount},
	{"unevictable_pgs_rescued", 83, semC, uCount},
	{"unevictable_pgs_scanned", 84, semC, uCount},
	{"unevictable_pgs_stranded", 85, semC, uCount},
	{"workingset_activate", 123, semC, uCount},
	{"workingset_nodes", 174, semC, uCount},
	{"workingset_nodereclaim", 124, semC, uCount},
	{"workingset_refault", 125, semC, uCount},
	{"workingset_restore", 175, semC, uCount},
	{"zone_reclaim_failed", 86, semC, uCount},
}

// vmstatDerived: metrics with no field of their own on current kernels, the sum of
// the fields this kernel prints among those listed. Kernels print one generation of
// them (older kernels the per-zone fields, newer ones the node-wide totals), never
// two, so a sum is only right when every generation that shows up shows up whole:
// a file that lost lines (nr_slab_reclaimable without nr_slab_unreclaimable) or
// holds an unparseable value in any input makes the sum absent, never a smaller
// number. With no input present the metric has no value either.
var vmstatDerived = map[string][]vmstatGen{
	"nr_slab":             {vmstatOne("nr_slab"), vmstatOne("nr_slab_reclaimable", "nr_slab_unreclaimable")},
	"pgscan_direct_total": {vmstatOne("pgscan_direct"), vmstatZoned("pgscan_direct_")},
	"pgscan_kswapd_total": {vmstatOne("pgscan_kswapd"), vmstatZoned("pgscan_kswapd_")},
	"pgsteal_total": {vmstatOne("pgsteal_kswapd", "pgsteal_direct"), vmstatZoned("pgsteal_"),
		vmstatZonedNoHigh("pgsteal_kswapd_"), vmstatZonedNoHigh("pgsteal_direct_")},
	"thp_split": {vmstatOne("thp_split"), vmstatOne("thp_split_page")},
}

// vmstatGen is one generation of a derived metric's inputs: the fields a kernel that
// prints any of them always prints together (req), and the ones that depend on its
// configuration (opt: the DMA, DMA32 and HIGHMEM zones exist only on some).
type vmstatGen struct{ req, opt []string }

func vmstatOne(req ...string) vmstatGen { return vmstatGen{req: req} }

// vmstatZoned: per-zone fields. NORMAL and MOVABLE are always compiled in (and MOVABLE is
// printed last, so a file cut after it lost none of the others).
func vmstatZoned(prefix string) vmstatGen {
	return vmstatGen{req: []string{prefix + "normal", prefix + "movable"},
		opt: []string{prefix + "dma", prefix + "dma32", prefix + "high"}}
}

func vmstatZonedNoHigh(prefix string) vmstatGen {
	g := vmstatZoned(prefix)
	g.opt = g.opt[:2]
	return g
}

// inputs lists every field of the generations, required ones first.
func vmstatInputs(gens []vmstatGen) []string {
	var in []string
	for _, g := range gens {
		in = append(append(in, g.req...), g.opt...)
	}
	return in
}

// vmstatGenSlots is a vmstatGen as slots of the source's table.
type vmstatGenSlots struct{ req, opt []int }

// derivedSum adds the inputs present; absent when none is, when one is present but
// unparseable (bad), or when a generation is present only in part.
func derivedSum(vals optSlots, bad []bool, gens []vmstatGenSlots) optU {
	var r optU
	for _, g := range gens {
		have := 0
		for _, s := range g.req {
			if bad[s] {
				return optU{}
			}
			if vals[s].ok {
				have++
				r.v += vals[s].v
			}
		}
		for _, s := range g.opt {
			if bad[s] {
				return optU{}
			}
			if vals[s].ok {
				if have == 0 {
					return optU{} // an optional zone without the ones always printed
				}
				r.v += vals[s].v
			}
		}
		if have != 0 && have != len(g.req) {
			return optU{}
		}
		r.ok = r.ok || have != 0
	}
	return r
}

// Selectors of swap.pagesin and swap.pagesout; a mem.vmstat metric's selector is its
// index in vmstatFields.
const (
	selPagesIn = 10000 + iota
	selPagesOut
)

// vmstatLayout is the slot table of the source: one slot per field of vmstatFields
// (same index), then the extra fields the derived metrics and swap.* read.
type vmstatLayout struct {
	keys    []string
	derived map[int][]vmstatGenSlots // metric slot -> its inputs' generations
	pswpin  int
	pswpout int
}

func newVmstatLayout() *vmstatLayout {
	l := &vmstatLayout{derived: map[int][]vmstatGenSlots{}}
	idx := map[string]int{}
	add := func(k string) int {
		if i, ok := idx[k]; ok {
			return i
		}
		idx[k] = len(l.keys)
		l.keys = append(l.keys, k)
		return idx[k]
	}
	for _, f := range vmstatFields {
		add(f.key)
	}
	for name, gens := range vmstatDerived {
		m, ok := idx[name]
		if !ok {
			panic("metrics: derived vmstat metric " + name + " not in the table")
		}
		var in []vmstatGenSlots
		for _, g := range gens {
			var gs vmstatGenSlots
			for _, k := range g.req {
				gs.req = append(gs.req, add(k))
			}
			for _, k := range g.opt {
				gs.opt = append(gs.opt, add(k))
			}
			in = append(in, gs)
		}
		l.derived[m] = in
	}
	l.pswpin, l.pswpout = add("pswpin"), add("pswpout")
	return l
}

func vmstatMetrics() []metricDef {
	defs := []metricDef{
		{"swap.pagesin", pmid(60, 0, 8), tU32, null, semC, uCount, selPagesIn},
		{"swap.pagesout", pmid(60, 0, 9), tU32, null, semC, uCount, selPagesOut},
	}
	for i, f := range vmstatFields {
		defs = append(defs, metricDef{"mem.vmstat." + f.key, pmid(60, 28, f.item), tU64, null, f.sem, f.units, i})
	}
	return defs
}

func vmstatHelp(d metricDef) helpText {
	if d.sel < 0 || d.sel >= len(vmstatFields) {
		return helpText{} // swap.*: their help is in the helptext.go table
	}
	key := vmstatFields[d.sel].key
	kind := "count of pages"
	if d.sem == semC {
		kind = "cumulative count"
	}
	if gens, ok := vmstatDerived[key]; ok {
		return helpText{"kernel VM statistic " + key + " (summed)",
			"The sum of the fields " + strings.Join(vmstatInputs(gens), ", ") + " of /proc/vmstat that the running\n" +
				"kernel prints (a " + kind + "); no value when it prints none of them, or when one\n" +
				"of them is not a number or is missing from a group the kernel prints together."}
	}
	return helpText{"kernel VM statistic " + key,
		"The " + key + " field of /proc/vmstat, a " + kind + " kept by the kernel's virtual\n" +
			"memory subsystem. No value when the running kernel does not print that field."}
}

func init() {
	layout := newVmstatLayout()
	registerSource(&sourceSpec{
		name:   "vmstat",
		domain: DomainLinux,
		new: func(e *env) Source {
			return &vmstatSource{
				file:   newKfile(filepath.Join(e.procRoot, "vmstat")),
				layout: layout,
				fields: newFieldTable(layout.keys),
				vals:   make(optSlots, len(layout.keys)),
				want:   make([]bool, len(layout.keys)),
				bad:    make([]bool, len(layout.keys)),
			}
		},
		metrics: vmstatMetrics(),
		help:    vmstatHelp,
	})
}

type vmstatSource struct {
	file   *kfile
	buf    []byte
	layout *vmstatLayout
	fields *fieldTable
	vals   optSlots
	want   []bool
	bad    []bool // wanted fields present with a value that is not a number
}

func (s *vmstatSource) Fetch(reqs []Request) error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	l := s.layout
	clear(s.want)
	for _, rq := range reqs {
		switch {
		case rq.Sel == selPagesIn:
			s.want[l.pswpin] = true
		case rq.Sel == selPagesOut:
			s.want[l.pswpout] = true
		case rq.Sel >= 0 && rq.Sel < len(vmstatFields):
			s.want[rq.Sel] = true
			for _, g := range l.derived[rq.Sel] {
				for _, in := range g.req {
					s.want[in] = true
				}
				for _, in := range g.opt {
					s.want[in] = true
				}
			}
		}
	}
	if err := parseVmstat(b, s.fields, s.vals, s.want, s.bad); err != nil {
		return fmt.Errorf("%s: %w", s.file.path, err)
	}
	for _, rq := range reqs {
		switch {
		case rq.Sel == selPagesIn || rq.Sel == selPagesOut:
			v := s.vals[l.pswpin]
			if rq.Sel == selPagesOut {
				v = s.vals[l.pswpout]
			}
			if v.ok {
				putU(rq.Res, protocol.InNull, uint64(uint32(v.v)))
			}
		case rq.Sel >= 0 && rq.Sel < len(vmstatFields):
			if in, ok := l.derived[rq.Sel]; ok {
				putOptU(rq.Res, protocol.InNull, derivedSum(s.vals, s.bad, in))
			} else {
				putOptU(rq.Res, protocol.InNull, s.vals[rq.Sel])
			}
		}
	}
	return nil
}

// parseVmstat fills the wanted slots from "name value" lines. A file in which no
// line is "name value" is garbage (errParse); a wanted field whose value is not a
// number stays absent and is marked bad.
func parseVmstat(b []byte, t *fieldTable, vals optSlots, want, bad []bool) error {
	vals.reset()
	clear(bad)
	valid := false
	pos := 0
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		key, r := nextField(line)
		if len(key) == 0 {
			continue
		}
		val, _ := nextField(r)
		s := t.slot(pos, key)
		pos++
		if (s >= 0 && want[s]) || !valid {
			v, ok := parseUint(val)
			valid = valid || ok
			if s >= 0 && want[s] {
				if ok {
					vals[s] = optU{v, true}
				} else {
					bad[s] = true
				}
			}
		}
	}
	if !valid {
		return fmt.Errorf("%w: no \"name value\" line", errParse)
	}
	return nil
}
