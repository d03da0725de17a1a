package metrics

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDiskViews: partitions and device-mapper devices are their own instance
// domains; a dm device takes its mapping's name from sysfs (its dm-N name stays in
// hinv.map.dmname), a hostile name with control characters is not used, capacity
// comes from sysfs and is absent without it, and counters a kernel does not print
// (discards before 4.18) are absent, not zero.
func TestDiskViews(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/diskstats"),
		" 8 0 sda 100 1 800 7 50 2 400 3 1 9 10\n"+
			" 8 1 sda1 90 1 700 6 40 2 300 3 0 8 9\n"+
			" 253 0 dm-0 4 0 8 1 2 0 6 1 0 2 2 1 0 16 1 3 1\n"+
			" 253 1 dm-1 1 0 2 0 1 0 2 0 0 1 0 0 0 0 0\n")
	cb := filepath.Join(dir, "sys/class/block")
	for name, files := range map[string]map[string]string{
		"sda":  {"size": "2097152\n"},
		"dm-0": {"dm/name": "vg0-root\n", "size": "1024\n"},
		"dm-1": {"dm/name": "evil\x1b[2Jname\n"},
	} {
		for f, c := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(cb, name, f)), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(cb, name, f), c)
		}
	}
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r, "disk.dev.capacity", "disk.partitions.capacity", "disk.dm.capacity",
		"disk.dev.discard", "disk.dm.discard", "disk.dm.flush", "hinv.map.dmname", "disk.partitions.read",
		"disk.all.discard", "disk.dev.inflight", "disk.dm.read_bytes", "hinv.ndisk")
	want := map[string]string{
		"disk.dev.capacity":        "disk.dev.capacity [0]=1048576",
		"disk.partitions.capacity": "disk.partitions.capacity no values",
		"disk.dm.capacity":         "disk.dm.capacity [0]=512",
		"disk.dev.discard":         "disk.dev.discard no values",
		"disk.dm.discard":          "disk.dm.discard [0]=1 [1]=0",
		"disk.dm.flush":            "disk.dm.flush [0]=3",
		"hinv.map.dmname":          `hinv.map.dmname [0]="dm-0" [1]="dm-1"`,
		"disk.partitions.read":     "disk.partitions.read [0]=90",
		"disk.all.discard":         "disk.all.discard no values",
		"disk.dev.inflight":        "disk.dev.inflight [0]=1",
		"disk.dm.read_bytes":       "disk.dm.read_bytes [0]=4 [1]=1",
		"hinv.ndisk":               "hinv.ndisk 1",
	}
	for name, w := range want {
		m, _ := r.ByName(name)
		if got := formatResult(m, res[name]); got != w {
			t.Errorf("got  %s\nwant %s", got, w)
		}
	}
	in, err := r.Instances(indomDM)
	if err != nil || formatInstances(in) != `0 "vg0-root", 1 "dm-1"` {
		t.Errorf("dm instances: %s, %v", formatInstances(in), err)
	}
	in, err = r.Instances(indomPartition)
	if err != nil || formatInstances(in) != `0 "sda1"` {
		t.Errorf("partition instances: %s, %v", formatInstances(in), err)
	}
}

// TestDiskHostile: a line that is not diskstats fails the source (counted), a
// counter wider than 64 bits too; the 32-bit metrics wrap rather than saturate.
func TestDiskHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/diskstats")
	r := newFixtureRegistry(t, dir)
	for _, bad := range []string{"8 0 sda 1 2 x\n", "8 0 sda 1 2 3 4 5 6 7 8 9 10 99999999999999999999999\n", "garbage\n"} {
		writeFile(t, path, bad)
		before := r.SourceErrors()["diskstats"]
		res := fetchByName(t, r, "disk.dev.read")["disk.dev.read"]
		if res.Err == 0 || r.SourceErrors()["diskstats"] != before+1 {
			t.Errorf("%q: %+v, want a counted source error", bad, res)
		}
	}
	writeFile(t, path, "8 0 sda 1 0 0 4294967300 0 0 0 0 0 0 0\n")
	res := fetchByName(t, r, "disk.dev.read_rawactive", "disk.all.read_rawactive")
	if v := res["disk.dev.read_rawactive"].Values; len(v) != 1 || v[0].U != 4 {
		t.Errorf("disk.dev.read_rawactive: %+v, want 4 (wrapped at 32 bits)", v)
	}
	if v := res["disk.all.read_rawactive"].Values; len(v) != 1 || v[0].U != 4294967300 {
		t.Errorf("disk.all.read_rawactive: %+v, want 4294967300 (64 bits)", v)
	}
}
