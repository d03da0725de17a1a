package metrics

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/procfs"

	"github.com/gopcp/gopcp/protocol"
)

// Tests of the buddyinfo, slabinfo, zoneinfo, numa, cpuinfo and cpufreq sources and
// of the per-CPU interrupt and softirq counts, against the fixture tree and hostile
// variants of its files.

// byName fetches one metric and returns its values keyed by instance name, failing
// the test on an error code other than want.
func byName(t *testing.T, r *Registry, metric string, wantErr int32) map[string]Value {
	t.Helper()
	m, ok := r.ByName(metric)
	if !ok {
		t.Fatalf("no metric %s", metric)
	}
	res := r.Fetch(nil, []protocol.PMID{m.Desc.PMID})[0]
	if res.Err != wantErr {
		t.Fatalf("%s: error %d, want %d (%+v)", metric, res.Err, wantErr, res)
	}
	if res.Err != 0 {
		if len(res.Values) != 0 {
			t.Fatalf("%s: values with an error", metric)
		}
		return nil
	}
	if m.Desc.InDom == protocol.InDomNull {
		out := map[string]Value{}
		for _, v := range res.Values {
			out[""] = v
		}
		return out
	}
	return instValues(t, r, m.Desc.InDom, res)
}

func wantU(t *testing.T, what string, got map[string]Value, want map[string]uint64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values %v, want %d %v", what, len(got), got, len(want), want)
	}
	for k, w := range want {
		if v, ok := got[k]; !ok || v.U != w {
			t.Errorf("%s[%s] = %+v (present %v), want %d", what, k, v, ok, w)
		}
	}
}

func TestBuddyinfo(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	pages := byName(t, r, "mem.buddyinfo.pages", 0)
	total := byName(t, r, "mem.buddyinfo.total", 0)
	if len(pages) != 33 || len(total) != 33 {
		t.Fatalf("%d and %d instances, want 3 zones x 11 orders", len(pages), len(total))
	}
	for name, want := range map[string]uint64{"DMA::order10::node0": 3, "DMA32::order10::node0": 753, "Normal::order0::node0": 12843} {
		if pages[name].U != want {
			t.Errorf("pages[%s] = %d, want %d", name, pages[name].U, want)
		}
	}
	// 3 free blocks of 2^10 pages of 4 KiB: 12 MiB.
	if got := total["DMA::order10::node0"].U; got != 3*1024*4 {
		t.Errorf("total[DMA::order10::node0] = %d KiB", got)
	}
	// procfs reads the same counts.
	fs, err := procfs.NewFS(filepath.Join(fixtureDir, "proc"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := fs.BuddyInfo()
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range ref {
		for k, v := range z.Sizes {
			name := z.Zone + "::order" + strconv.Itoa(k) + "::node" + z.Node
			if got := pages[name]; float64(got.U) != v {
				t.Errorf("%s: %d, procfs %v", name, got.U, v)
			}
		}
	}
}

// hostileCase writes content (or removes the file when content is "<none>") into a
// copy of the fixture, fetches metric and checks it fails (counted by source) with
// no values.
func hostileCase(t *testing.T, file, content, metric, source string) {
	t.Helper()
	dir := copyTree(t, fixtureDir)
	p := filepath.Join(dir, file)
	if content == "<none>" {
		os.Remove(p)
	} else {
		writeFile(t, p, content)
	}
	r := newFixtureRegistry(t, dir)
	m, _ := r.ByName(metric)
	res := r.Fetch(nil, []protocol.PMID{m.Desc.PMID})[0]
	if res.Err == 0 || len(res.Values) != 0 {
		t.Errorf("%s %.40q: %s = %+v, want an error and no values", file, content, metric, res)
	}
	if r.SourceErrors()[source] == 0 {
		t.Errorf("%s %.40q: source %s counted no error", file, content, source)
	}
}

func TestBuddyinfoHostile(t *testing.T) {
	good := "Node 0, zone      DMA      1      2\n"
	for _, bad := range []string{
		"<none>",
		"",
		"\x00\x01\x02 garbage",
		good + "Node 0, zone   Normal      1\n", // fewer orders than the line before
		"Node 0, zone      DMA      1     -2\n", // negative
		"Node 0, zone      DMA      1     99999999999999999999999\n", // beyond 64 bits
		"Node 0, zone      DMA      1     1e5\n",
		"Node x, zone      DMA      1      2\n",
		"Node 0 zone      DMA      1      2\n",
		"Node 0, zone     \"D\"      1      2\n",
		"Node 0, zone      DMA\n", // no counts
		good + "gopcp_unexpected: 12 34 x y\n",
		"Node 0, zone DMA" + strings.Repeat(" 1", maxBuddyOrders+1) + "\n",
	} {
		hostileCase(t, "proc/buddyinfo", bad, "mem.buddyinfo.pages", "buddyinfo")
	}
	// total of a count too big to multiply has no value; pages keeps it.
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/buddyinfo"), "Node 0, zone      DMA      1      18446744073709551615\n")
	r := newFixtureRegistry(t, dir)
	wantU(t, "pages", byName(t, r, "mem.buddyinfo.pages", 0), map[string]uint64{"DMA::order0::node0": 1, "DMA::order1::node0": 1<<64 - 1})
	wantU(t, "total", byName(t, r, "mem.buddyinfo.total", 0), map[string]uint64{"DMA::order0::node0": 4})
}

func TestSlabinfo(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	wantU(t, "objects.active", byName(t, r, "mem.slabinfo.objects.active", 0),
		map[string]uint64{"btrfs_delayed_node": 0, "ext4_inode_cache": 97230, "dentry": 144446, "kmalloc-64": 3582})
	wantU(t, "objects.size", byName(t, r, "mem.slabinfo.objects.size", 0),
		map[string]uint64{"btrfs_delayed_node": 312, "ext4_inode_cache": 1128, "dentry": 192, "kmalloc-64": 64})
	wantU(t, "slabs.total", byName(t, r, "mem.slabinfo.slabs.total", 0),
		map[string]uint64{"btrfs_delayed_node": 0, "ext4_inode_cache": 6978, "dentry": 6948, "kmalloc-64": 63})
	// 97230 objects, 14 to a slab of 4 pages of 4 KiB: 97230*4*4096/14 bytes.
	wantU(t, "slabs.total_size", byName(t, r, "mem.slabinfo.slabs.total_size", 0),
		map[string]uint64{"btrfs_delayed_node": 0, "ext4_inode_cache": 97230 * 4 * 4096 / 14, "dentry": 144446 * 4096 / 21, "kmalloc-64": 3582 * 4096 / 64})

	fs, err := procfs.NewFS(filepath.Join(fixtureDir, "proc"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := fs.SlabInfo()
	if err != nil {
		t.Fatal(err)
	}
	per := byName(t, r, "mem.slabinfo.slabs.objects_per_slab", 0)
	pages := byName(t, r, "mem.slabinfo.slabs.pages_per_slab", 0)
	act := byName(t, r, "mem.slabinfo.slabs.active", 0)
	tot := byName(t, r, "mem.slabinfo.objects.total", 0)
	for _, s := range ref.Slabs {
		if per[s.Name].U != uint64(s.ObjPerSlab) || pages[s.Name].U != uint64(s.PagesPerSlab) ||
			act[s.Name].U != uint64(s.SlabActive) || tot[s.Name].U != uint64(s.ObjNum) {
			t.Errorf("%s differs from procfs's %+v", s.Name, s)
		}
	}
}

func TestSlabinfoHostile(t *testing.T) {
	const head = "slabinfo - version: 2.1\n# name <active_objs> ...\n"
	const line = "dentry 1 2 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n"
	for _, bad := range []string{
		"<none>",
		"",
		"slabinfo - version: 1.1\n" + line,
		head + "dentry -1 2 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n",
		head + "dentry 1 2 192 21 1 : tunables 0 0 0 : slabdata 1 1\n", // cut short
		head + "dentry 1 2 192 21 1 : tunables 0 0 0 ; slabdata 1 1 0\n",
		head + "dentry 99999999999999999999999 2 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n",
		head + line + "gopcp_unexpected: 12 34 x y\n",
		"\x00\x01garbage",
	} {
		hostileCase(t, "proc/slabinfo", bad, "mem.slabinfo.objects.active", "slabinfo")
	}
	// A 32-bit column too big for its metric, or objperslab 0, gives no value for
	// that metric only.
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/slabinfo"), head+"big 1 2 4294967296 0 1 : tunables 0 0 0 : slabdata 1 1 0\n")
	r := newFixtureRegistry(t, dir)
	wantU(t, "objects.active", byName(t, r, "mem.slabinfo.objects.active", 0), map[string]uint64{"big": 1})
	wantU(t, "objects.size", byName(t, r, "mem.slabinfo.objects.size", 0), nil)
	wantU(t, "total_size", byName(t, r, "mem.slabinfo.slabs.total_size", 0), nil)
}

// TestSlabinfoPermission: /proc/slabinfo is readable by root only; any other user
// gets no values and a counted permission error.
func TestSlabinfoPermission(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	p := filepath.Join(dir, "proc/slabinfo")
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(p); err == nil {
		f.Close()
		t.Skip("running with CAP_DAC_OVERRIDE (root): a mode 000 file is still readable")
	}
	r := newFixtureRegistry(t, dir)
	byName(t, r, "mem.slabinfo.objects.active", -13) // -EACCES
	if r.SourceErrors()["slabinfo"] == 0 {
		t.Error("permission error not counted")
	}
}

func TestZoneinfo(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	insts, err := r.Instances(indomZone)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range insts {
		names = append(names, in.Name)
	}
	// Movable and Device have no present pages: left out.
	if got := strings.Join(names, " "); got != "node0 DMA::node0 DMA32::node0 Normal::node0" {
		t.Errorf("instances %q", got)
	}
	// Pages of 4 KiB in kilobytes; node counters on the node, zone counters on zones.
	wantU(t, "free", byName(t, r, "mem.zoneinfo.free", 0),
		map[string]uint64{"DMA::node0": 3840 * 4, "DMA32::node0": 772848 * 4, "Normal::node0": 877678 * 4})
	wantU(t, "nr_dirtied", byName(t, r, "mem.zoneinfo.nr_dirtied", 0), map[string]uint64{"node0": 9656044 * 4})
	wantU(t, "workingset_active_file", byName(t, r, "mem.zoneinfo.workingset_active_file", 0), map[string]uint64{"node0": 400618 * 4})
	wantU(t, "nr_alloc_batch (not printed)", byName(t, r, "mem.zoneinfo.nr_alloc_batch", 0), nil)
	prot := byName(t, r, "mem.zoneinfo.protection", 0)
	if len(prot) != 25 || prot["DMA::node0::lowmem_reserved1"].U != 3018*4 || prot["Device::node0::lowmem_reserved4"].U != 0 {
		t.Errorf("protection %v", prot)
	}
	// procfs agrees on the zone figures it reads.
	fs, err := procfs.NewFS(filepath.Join(fixtureDir, "proc"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := fs.Zoneinfo()
	if err != nil {
		t.Fatal(err)
	}
	present := byName(t, r, "mem.zoneinfo.present", 0)
	for _, z := range ref {
		if z.Present == nil || *z.Present == 0 {
			continue
		}
		if got := present[z.Zone+"::node"+z.Node].U; got != uint64(*z.Present)*4 {
			t.Errorf("%s: present %d KiB, procfs %d pages", z.Zone, got, *z.Present)
		}
	}
}

func TestZoneinfoHostile(t *testing.T) {
	const zone = "Node 0, zone      DMA\n  pages free     3840\n        present  3998\n"
	for _, bad := range []string{
		"<none>",
		"",
		"\x00\x01garbage",
		"  pages free 3\n",                    // a counter before any zone
		"Node 0, zone DMA\n  pages free -3\n", // negative
		"Node 0, zone DMA\n  pages free 99999999999999999999999\n",
		"Node 0, zone DMA\n        nr_dirty 1 2\n", // two values
		"Node x, zone DMA\n  pages free 3\n",
		zone + "gopcp_unexpected: 12 34 x y\n",
		zone + "        protection: (0, x)\n",
		zone + "        protection: 0, 1\n",
	} {
		hostileCase(t, "proc/zoneinfo", bad, "mem.zoneinfo.free", "zoneinfo")
	}
	// A file cut in the middle of a zone serves what it holds.
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/zoneinfo"), zone)
	r := newFixtureRegistry(t, dir)
	wantU(t, "free", byName(t, r, "mem.zoneinfo.free", 0), map[string]uint64{"DMA::node0": 3840 * 4})
	wantU(t, "min", byName(t, r, "mem.zoneinfo.min", 0), nil)
}

func TestNuma(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	wantU(t, "util.total", byName(t, r, "mem.numa.util.total", 0), map[string]uint64{"node0": 24683748})
	wantU(t, "util.highTotal (not printed)", byName(t, r, "mem.numa.util.highTotal", 0), nil)
	wantU(t, "util.hugepagesTotal", byName(t, r, "mem.numa.util.hugepagesTotal", 0), map[string]uint64{"node0": 4})
	wantU(t, "util.hugepagesFreeBytes", byName(t, r, "mem.numa.util.hugepagesFreeBytes", 0), map[string]uint64{"node0": 3 << 21})
	wantU(t, "alloc.interleave_hit", byName(t, r, "mem.numa.alloc.interleave_hit", 0), map[string]uint64{"node0": 1062})
	wantU(t, "max_bandwidth", byName(t, r, "mem.numa.max_bandwidth", 0), nil)
	wantU(t, "node.online", byName(t, r, "hinv.node.online", 0), map[string]uint64{"node0": 1})
	wantU(t, "hugepagesize", byName(t, r, "hinv.hugepagesize", 0), map[string]uint64{"": 2 << 20})

	// A second node, offline, with its own files; a node file of garbage loses
	// that file's values only, counted.
	dir := copyTree(t, fixtureDir)
	n1 := filepath.Join(dir, "sys/devices/system/node/node1")
	os.MkdirAll(n1, 0o755)
	writeFile(t, filepath.Join(n1, "cpulist"), "\n")
	writeFile(t, filepath.Join(n1, "online"), "0\n")
	writeFile(t, filepath.Join(n1, "meminfo"), "Node 1 MemTotal:  1000 kB\nNode 1 MemFree: 10 kB\n")
	writeFile(t, filepath.Join(n1, "numastat"), "numa_hit 5\nnuma_miss x\n")
	r = newFixtureRegistry(t, dir)
	wantU(t, "util.free", byName(t, r, "mem.numa.util.free", 0), map[string]uint64{"node0": 22852880, "node1": 10})
	wantU(t, "alloc.hit", byName(t, r, "mem.numa.alloc.hit", 0), map[string]uint64{"node0": 258851058})
	wantU(t, "node.online", byName(t, r, "hinv.node.online", 0), map[string]uint64{"node0": 1, "node1": 0})
	if r.SourceErrors()["numa"] != 1 {
		t.Errorf("garbage numastat counted %d times, want 1", r.SourceErrors()["numa"])
	}

	for _, bad := range []string{
		"Node 0 MemTotal: 1 kB\nNode 1 MemFree: 2 kB\n", // another node's line
		"Node 0 MemTotal: -1 kB\n",
		"Node 0 MemTotal: 1 MB\n",
		"Node 0 MemTotal: 99999999999999999999999 kB\n",
		"Node 0 MemTotal: 1 kB\ngopcp_unexpected: 12 34 x y\n",
		"\x00garbage",
	} {
		dir := copyTree(t, fixtureDir)
		writeFile(t, filepath.Join(dir, "sys/devices/system/node/node0/meminfo"), bad)
		r := newFixtureRegistry(t, dir)
		wantU(t, "util.total "+bad, byName(t, r, "mem.numa.util.total", 0), nil)
		wantU(t, "alloc.hit "+bad, byName(t, r, "mem.numa.alloc.hit", 0), map[string]uint64{"node0": 258851058})
		if r.SourceErrors()["numa"] == 0 {
			t.Errorf("%q: not counted", bad)
		}
	}

	// A kernel without NUMA: no node directory, no values, no error.
	dir = copyTree(t, fixtureDir)
	os.RemoveAll(filepath.Join(dir, "sys/devices/system/node"))
	r = newFixtureRegistry(t, dir)
	wantU(t, "util.total", byName(t, r, "mem.numa.util.total", 0), nil)
	if r.SourceErrors()["numa"] != 0 {
		t.Error("no NUMA counted as an error")
	}
}

// TestHugepageSize: several huge page sizes leave /proc/meminfo to say which is the
// default; without it there is no value (not 0).
func TestHugepageSize(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	os.MkdirAll(filepath.Join(dir, "sys/kernel/mm/hugepages/hugepages-1048576kB"), 0o755)
	r := newFixtureRegistry(t, dir)
	wantU(t, "from meminfo", byName(t, r, "hinv.hugepagesize", 0), map[string]uint64{"": 2048 << 10})
	writeFile(t, filepath.Join(dir, "proc/meminfo"), "MemTotal: 1 kB\n")
	r = newFixtureRegistry(t, dir)
	wantU(t, "no Hugepagesize", byName(t, r, "hinv.hugepagesize", 0), nil)
	wantU(t, "no Hugepagesize", byName(t, r, "mem.numa.util.hugepagesTotalBytes", 0), nil)
	wantU(t, "counts still there", byName(t, r, "mem.numa.util.hugepagesTotal", 0), map[string]uint64{"node0": 4})
}

func TestCPUInfo(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	clock := byName(t, r, "hinv.cpu.clock", 0)
	if len(clock) != 2 || float32(clock["cpu0"].F) != 2096.012 || float32(clock["cpu1"].F) != 1800.5 {
		t.Errorf("clock %v", clock)
	}
	flags := byName(t, r, "hinv.cpu.flags", 0)
	if f := flags["cpu1"].S; !strings.HasPrefix(f, "fpu vme de ") || !strings.Contains(f, "pti        vmmcall") {
		t.Errorf("flags %q: not as the kernel prints them", f)
	}
	wantU(t, "cache", byName(t, r, "hinv.cpu.cache", 0), map[string]uint64{"cpu0": 1024, "cpu1": 1024})
	wantU(t, "cache_alignment", byName(t, r, "hinv.cpu.cache_alignment", 0), map[string]uint64{"cpu0": 64, "cpu1": 64})
	if v := byName(t, r, "hinv.cpu.model_name", 0); v["cpu0"].S != "AMD EPYC" {
		t.Errorf("model_name %v", v)
	}

	// arm64 style: each block has BogoMIPS and Features, no model name; an older
	// arm style gives the description once, after processor lines back to back.
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/cpuinfo"),
		"processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU revision\t: 1\n\n"+
			"processor\t: 1\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU revision\t: 1\n")
	r = newFixtureRegistry(t, dir)
	if v := byName(t, r, "hinv.cpu.vendor", 0); len(v) != 2 || v["cpu1"].S != "0x41" {
		t.Errorf("arm vendor %v", v)
	}
	if v := byName(t, r, "hinv.cpu.flags", 0); v["cpu0"].S != "fp asimd" {
		t.Errorf("arm flags %v", v)
	}
	wantU(t, "arm model_name (none)", byName(t, r, "hinv.cpu.model_name", 0), nil)
	wantU(t, "arm clock (none)", byName(t, r, "hinv.cpu.clock", 0), nil)
	writeFile(t, filepath.Join(dir, "proc/cpuinfo"),
		"processor\t: 0\nprocessor\t: 1\nFeatures\t: swp half\nHardware\t: Board X\n")
	r = newFixtureRegistry(t, dir)
	if v := byName(t, r, "hinv.cpu.model_name", 0); len(v) != 2 || v["cpu0"].S != "Board X" || v["cpu1"].S != "Board X" {
		t.Errorf("shared description %v", v)
	}

	// Values that are not numbers give no value; a bad processor line fails.
	writeFile(t, filepath.Join(dir, "proc/cpuinfo"),
		"processor\t: 0\ncpu MHz\t\t: fast\ncache size\t: 1024 MB\ncache_alignment\t: -64\nvendor_id\t: X\n")
	r = newFixtureRegistry(t, dir)
	for _, m := range []string{"hinv.cpu.clock", "hinv.cpu.cache", "hinv.cpu.cache_alignment", "hinv.cpu.bogomips"} {
		wantU(t, m, byName(t, r, m, 0), nil)
	}
	for _, bad := range []string{"<none>", "processor\t: x\n", "processor\t: 99999999\n", "processor\t: -1\n"} {
		hostileCase(t, "proc/cpuinfo", bad, "hinv.cpu.vendor", "cpuinfo")
	}
}

func TestCPUFreq(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	// time_in_state: 3000 MHz x 100 + 2000 x 50 + 800 x 1000.
	wantU(t, "count", byName(t, r, "hinv.cpu.frequency_scaling.count", 0), map[string]uint64{"cpu0": 300000 + 100000 + 800000})
	wantU(t, "time", byName(t, r, "hinv.cpu.frequency_scaling.time", 0), map[string]uint64{"cpu0": 1150})
	wantU(t, "max", byName(t, r, "hinv.cpu.frequency_scaling.max", 0), map[string]uint64{"cpu0": 3000})
	wantU(t, "core.count", byName(t, r, "hinv.cpu.thermal_throttle.core.count", 0), map[string]uint64{"cpu0": 7})
	// cpu1 has no such files: no values (the linux agent would say 0), no error.
	wantU(t, "package.count", byName(t, r, "hinv.cpu.thermal_throttle.package.count", 0), nil)
	if n := r.SourceErrors()["cpufreq"]; n != 0 {
		t.Errorf("missing files counted %d errors", n)
	}

	dir := copyTree(t, fixtureDir)
	c0 := filepath.Join(dir, "sys/devices/system/cpu/cpu0")
	writeFile(t, filepath.Join(c0, "cpufreq/stats/time_in_state"), "3000000 100\n2000000 x\n")
	writeFile(t, filepath.Join(c0, "thermal_throttle/core_throttle_count"), "-7\n")
	writeFile(t, filepath.Join(c0, "cpufreq/cpuinfo_max_freq"), "99999999999999999999999\n")
	r = newFixtureRegistry(t, dir)
	for _, m := range []string{"hinv.cpu.frequency_scaling.count", "hinv.cpu.frequency_scaling.time",
		"hinv.cpu.thermal_throttle.core.count", "hinv.cpu.frequency_scaling.max"} {
		wantU(t, m, byName(t, r, m, 0), nil)
	}
	wantU(t, "min (intact)", byName(t, r, "hinv.cpu.frequency_scaling.min", 0), map[string]uint64{"cpu0": 800})
	if r.SourceErrors()["cpufreq"] == 0 {
		t.Error("garbage not counted")
	}
	// time_in_state that lost a line, or lists a frequency twice, would give a
	// smaller or larger sum: no value, counted. Without the list of available
	// frequencies to check it against: no value, not an error.
	for _, c := range []struct{ tis, avail string }{
		{"3000000 100\n2000000 50\n", "3000000 2000000 800000\n"},
		{"3000000 100\n3000000 50\n800000 1\n", "3000000 2000000 800000\n"},
		{"3000000 100\n2000000 50\n800000 1\n", "3000000 x\n"},
		{"3000000 100\n2000000 50\n800000 1\n", "<none>"},
	} {
		dir := copyTree(t, fixtureDir)
		c0 := filepath.Join(dir, "sys/devices/system/cpu/cpu0/cpufreq")
		writeFile(t, filepath.Join(c0, "stats/time_in_state"), c.tis)
		if c.avail == "<none>" {
			os.Remove(filepath.Join(c0, "scaling_available_frequencies"))
		} else {
			writeFile(t, filepath.Join(c0, "scaling_available_frequencies"), c.avail)
		}
		r := newFixtureRegistry(t, dir)
		wantU(t, "count "+c.tis, byName(t, r, "hinv.cpu.frequency_scaling.count", 0), nil)
		wantU(t, "time "+c.tis, byName(t, r, "hinv.cpu.frequency_scaling.time", 0), nil)
		if counted := r.SourceErrors()["cpufreq"] > 0; counted != (c.avail != "<none>") {
			t.Errorf("%q / %q: counted %v", c.tis, c.avail, counted)
		}
	}
}

func TestPerCPUInterrupts(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	wantU(t, "interrupts", byName(t, r, "kernel.percpu.interrupts", 0), map[string]uint64{
		"0::cpu0": 40, "0::cpu1": 2, "24::cpu0": 1, "24::cpu1": 0, "NMI::cpu0": 3, "NMI::cpu1": 4,
		"LOC::cpu0": 100000, "LOC::cpu1": 200000,
	})
	sirq := byName(t, r, "kernel.percpu.softirqs", 0)
	if len(sirq) != 20 || sirq["TIMER::cpu1"].U != 2000 || sirq["NET_RX::cpu0"].U != 10 {
		t.Errorf("softirqs %v", sirq)
	}
	// A cut row has no cells; a count beyond 32 bits wraps, as the agent's do.
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/interrupts"),
		"  CPU0 CPU1\n  0: 4294967297 2 IO-APIC timer\n 24: 1\nERR: 0\n")
	r = newFixtureRegistry(t, dir)
	wantU(t, "interrupts", byName(t, r, "kernel.percpu.interrupts", 0), map[string]uint64{"0::cpu0": 1, "0::cpu1": 2})
	insts, err := r.Instances(indomIntrCPU)
	if err != nil || len(insts) != 2 || insts[1].Name != "0::cpu1" {
		t.Errorf("instances %v %v", insts, err)
	}
}

// TestOwnFilesOnly: a fetch of other metrics reads none of these sources' files,
// and a fetch of one of them reads only its own.
func TestOwnFilesOnly(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	files := map[string]int{}
	fileHook = func(p string) { files[p]++ }
	defer func() { fileHook = nil }()
	mine := []string{"cpuinfo", "buddyinfo", "slabinfo", "zoneinfo", "/node/", "/cpu/cpu"}
	fetchByName(t, r, "hinv.ncpu", "kernel.all.load", "mem.util.free", "kernel.percpu.intr", "hinv.map.cpu_node")
	for p := range files {
		for _, m := range mine {
			if strings.Contains(p, m) && !strings.HasSuffix(p, "/node") {
				t.Errorf("%s read by a fetch of other metrics", p)
			}
		}
	}
	for metric, want := range map[string]string{"hinv.cpu.clock": "proc/cpuinfo", "mem.buddyinfo.pages": "proc/buddyinfo",
		"mem.zoneinfo.free": "proc/zoneinfo", "mem.slabinfo.objects.active": "proc/slabinfo"} {
		clear(files)
		fetchByName(t, r, metric)
		if len(files) != 1 || files[filepath.Join(fixtureDir, want)] != 1 {
			t.Errorf("%s read %v", metric, files)
		}
	}
}

func TestSplitNameLabels(t *testing.T) {
	for _, c := range []struct {
		in         protocol.InDom
		name, want string
	}{
		{indomBuddy, "Normal::order3::node1", `{"numa_node":1,"order":3,"zone":"Normal"}`},
		{indomZone, "node0", `{"numa_node":0}`},
		{indomZone, "DMA32::node2", `{"numa_node":2,"zone":"DMA32"}`},
		{indomZoneProt, "DMA::node0::lowmem_reserved4", `{"lowmem_reserved":4,"numa_node":0,"zone":"DMA"}`},
		{indomIntrCPU, "LOC::cpu3", `{"cpu":3,"irq":"LOC"}`},
		{indomSoftirqCPU, "NET_RX::cpu0", `{"cpu":0,"softirq":"NET_RX"}`},
		{indomIntrCPU, "a\"b\x1b::cpu1", `{"cpu":1,"irq":"a\"b\u001b"}`},
		{indomBuddy, "Normal::order3", ""},
		{indomZone, "Normal::nodeX", ""},
		{indomIntrCPU, "LOC::cpu-1", ""},
		{indomZoneProt, "a::b::c::d", ""},
	} {
		var b strings.Builder
		splitNameLabels(&b, c.in, c.name)
		if b.String() != c.want {
			t.Errorf("%v %q: %s, want %s", c.in, c.name, b.String(), c.want)
		}
		if c.want != "" {
			if _, err := protocol.NewLabelSet(0, b.String(), uint8(protocol.LabelInstances)); err != nil {
				t.Errorf("%q: %v", b.String(), err)
			}
		}
	}
}
