package metrics

import "testing"

// TestVmstatDerivedFailClosed: a summed mem.vmstat metric is the sum of its inputs
// only when the file holds them whole; a file that lost lines, or holds a negative or
// unparseable value in any input, gives no value rather than a smaller number.
func TestVmstatDerivedFailClosed(t *testing.T) {
	l := newVmstatLayout()
	sel := map[string]int{}
	for i, f := range vmstatFields {
		sel[f.key] = i
	}
	for _, tc := range []struct {
		metric, file string
		want         int64 // -1: no value
	}{
		{"nr_slab", "nr_slab_reclaimable 5317\nnr_slab_unreclaimable 16836\n", 22153},
		{"nr_slab", "nr_slab 7\n", 7},
		{"nr_slab", "nr_free_pages 1\nnr_slab_reclaimable 5317\n", -1},              // cut
		{"nr_slab", "nr_slab_reclaimable -5317\nnr_slab_unreclaimable 16836\n", -1}, // negative
		{"nr_slab", "nr_slab_reclaimable 5317\nnr_slab_unreclaimable 99999999999999999999999\n", -1},
		{"nr_slab", "nr_slab_reclaimable 5317\nnr_slab_unreclaimable x\n", -1}, // polluted
		{"nr_slab", "nr_free_pages 1\n", -1},                                   // none
		{"pgscan_direct_total", "pgscan_direct 20\n", 20},
		{"pgscan_direct_total", "pgscan_direct_dma 1\npgscan_direct_dma32 2\npgscan_direct_normal 3\npgscan_direct_movable 4\n", 10},
		{"pgscan_direct_total", "pgscan_direct_normal 3\npgscan_direct_movable 4\n", 7},                     // no DMA zones configured
		{"pgscan_direct_total", "pgscan_direct_dma 1\npgscan_direct_dma32 2\npgscan_direct_normal 3\n", -1}, // cut before movable
		{"pgscan_direct_total", "pgscan_direct_dma 1\npgscan_direct_dma32 2\n", -1},
		{"pgscan_direct_total", "nr_free_pages 1\npgscan_direct -20\n", -1},
		{"pgscan_kswapd_total", "pgscan_kswapd 100\n", 100},
		{"pgsteal_total", "pgsteal_kswapd 90\npgsteal_direct 15\n", 105},
		{"pgsteal_total", "pgsteal_kswapd 90\n", -1}, // cut
		{"pgsteal_total", "pgsteal_kswapd_normal 1\npgsteal_kswapd_movable 2\npgsteal_direct_normal 3\npgsteal_direct_movable 4\n", 10},
		{"pgsteal_total", "pgsteal_kswapd_normal 1\npgsteal_kswapd_movable 2\npgsteal_direct_normal 3\n", -1},
		{"thp_split", "thp_split_page 4\n", 4},
		{"thp_split", "nr_free_pages 1\nthp_split_page -4\n", -1},
	} {
		keys, vals, want, bad := l.keys, make(optSlots, len(l.keys)), make([]bool, len(l.keys)), make([]bool, len(l.keys))
		gens := l.derived[sel[tc.metric]]
		for _, g := range gens {
			for _, s := range append(append([]int{}, g.req...), g.opt...) {
				want[s] = true
			}
		}
		if err := parseVmstat([]byte(tc.file), newFieldTable(keys), vals, want, bad); err != nil {
			t.Fatalf("%q: %v", tc.file, err)
		}
		got := derivedSum(vals, bad, gens)
		if tc.want < 0 && got.ok || tc.want >= 0 && (!got.ok || got.v != uint64(tc.want)) {
			t.Errorf("%s from %q: %+v, want %d", tc.metric, tc.file, got, tc.want)
		}
	}
}
