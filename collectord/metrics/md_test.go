package metrics

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMDZramFixture: md arrays and zram devices are their own views of
// /proc/diskstats (not disks), md arrays named by their /dev/md links (digit-only
// links skipped), zram statistics from sysfs with bytes and pages in Kbytes.
func TestMDZramFixture(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	insts, err := r.Instances(indomMD)
	if err != nil || len(insts) != 2 || insts[0].Name != "myarray" || insts[1].Name != "md1" {
		t.Fatalf("md instances %v %v", insts, err)
	}
	checkInstValues(t, r, map[string]map[string]string{
		"hinv.map.mdname":                   {"myarray": `"md127"`, "md1": `"md1"`},
		"disk.md.read":                      {"myarray": "20", "md1": "4"},
		"disk.md.write_bytes":               {"myarray": "40", "md1": "2"},
		"disk.md.total":                     {"myarray": "30", "md1": "6"},
		"disk.md.avactive":                  {"myarray": "3", "md1": "1"},
		"disk.md.discard":                   {"myarray": "0"}, // md1's line has 11 counters only
		"disk.md.flush":                     {"myarray": "0"},
		"disk.md.status":                    {},
		"zram.read":                         {"zram0": "5"},
		"zram.blkwrite":                     {"zram0": "40"},
		"zram.write_bytes":                  {"zram0": "20"},
		"zram.capacity":                     {"zram0": "2097152"},
		"zram.io_stat.invalid":              {"zram0": "3"},
		"zram.io_stat.failed.reads":         {"zram0": "1"},
		"zram.mm_stat.data_size.original":   {"zram0": "1024"},
		"zram.mm_stat.data_size.compressed": {"zram0": "256"},
		"zram.mm_stat.mem.used_total":       {"zram0": "320"},
		"zram.mm_stat.mem.limit":            {"zram0": "0"},
		"zram.mm_stat.mem.max_used":         {"zram0": "512"},
		"zram.mm_stat.pages.same":           {"zram0": "48"}, // 12 pages of 4 KiB
		"zram.mm_stat.pages.compacted":      {"zram0": "12"},
		"zram.mm_stat.pages.huge":           {"zram0": "8"},
		"zram.bd_stat.count":                {}, // no backing device: no file
		"disk.dev.scheduler":                {"vda": `"bfq"`},
		"hinv.map.scsi_id":                  {"vda": `"3600508b1001c4d1e"`, "sda": `"1ATA     QEMU HARDDISK"`},
	})
	// md and zram lines are not disks: hinv.ndisk and disk.all are unchanged.
	res := fetchByName(t, r, "hinv.ndisk")
	if v, ok := singleValue(t, res["hinv.ndisk"]); !ok || v != 3 {
		t.Errorf("hinv.ndisk = %+v, want 3 (vda, sda, nvme0n1)", res["hinv.ndisk"])
	}
	if n := r.SourceErrors()["diskstats"]; n != 0 {
		t.Errorf("%d source errors", n)
	}
}

// TestZramHostile: a zram statistics file that is not numbers, or is too short,
// fails its metric only, counted; /proc/diskstats still serves the others.
func TestZramHostile(t *testing.T) {
	for _, content := range []string{"garbage\n", "1 2\n", "-1 2 3 4\n", "99999999999999999999999 1 2 3\n"} {
		dir := copyTree(t, fixtureDir)
		writeFile(t, filepath.Join(dir, "sys/class/block/zram0/io_stat"), content)
		r := newFixtureRegistry(t, dir)
		res := fetchByName(t, r, "zram.io_stat.notify_free", "zram.read", "disk.md.read")
		if g := res["zram.io_stat.notify_free"]; g.Err == 0 || len(g.Values) != 0 {
			t.Errorf("%q: notify_free %+v", content, g)
		}
		if len(res["zram.read"].Values) != 1 || len(res["disk.md.read"].Values) != 2 {
			t.Errorf("%q: others %+v", content, res)
		}
		if r.SourceErrors()["diskstats"] == 0 {
			t.Errorf("%q: not counted", content)
		}
	}
	// Hostile sysfs text is not served: a scheduler with control characters, a
	// wwid longer than any device's.
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "sys/class/block/vda/queue/scheduler"), "[evil\x1b[31m]\n")
	writeFile(t, filepath.Join(dir, "sys/class/block/vda/device/wwid"), string(make([]byte, 300))+"\n")
	os.Remove(filepath.Join(dir, "sys/class/block/sda/wwid"))
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r, "disk.dev.scheduler", "hinv.map.scsi_id")
	for n, v := range res {
		if v.Err != 0 || len(v.Values) != 0 {
			t.Errorf("%s = %+v, want no value", n, v)
		}
	}
}

// TestSCSIFixture: SCSI devices with a block device are instances, named as the
// linux agent names them; a device without one (the tape) is not. A Host line
// that is not four numbers fails the source; no /proc/scsi/scsi is no devices.
func TestSCSIFixture(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	checkInstValues(t, r, map[string]map[string]string{
		"hinv.map.scsi": {"scsi0:0:0:0_Direct-Access": `"sda"`},
	})
	for _, content := range []string{"Host: scsi0 Channel: x Id: 00 Lun: 00\n", "Host: sata0 Channel: 00 Id: 00 Lun: 00\n",
		"Host: scsi0 Channel: 00 Id: 00 Lun: 00\n  Type:   \x1b[31m\n"} {
		dir := copyTree(t, fixtureDir)
		writeFile(t, filepath.Join(dir, "proc/scsi/scsi"), content)
		r := newFixtureRegistry(t, dir)
		if res := fetchByName(t, r, "hinv.map.scsi")["hinv.map.scsi"]; res.Err == 0 || r.SourceErrors()["scsi"] == 0 {
			t.Errorf("%q: %+v", content, res)
		}
	}
	dir := copyTree(t, fixtureDir)
	os.RemoveAll(filepath.Join(dir, "proc/scsi"))
	r = newFixtureRegistry(t, dir)
	if res := fetchByName(t, r, "hinv.map.scsi")["hinv.map.scsi"]; res.Err != 0 || len(res.Values) != 0 || r.SourceErrors()["scsi"] != 0 {
		t.Errorf("no SCSI: %+v", res)
	}
}

// TestWWIDFixture: disks are grouped by wwid; the counts of a device reached by
// two paths are summed, its capacity is not (the paths are one device), and
// scsi_paths names the paths.
func TestWWIDFixture(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	os.Remove(filepath.Join(dir, "sys/class/block/sda/wwid"))
	os.MkdirAll(filepath.Join(dir, "sys/class/block/sda/device"), 0o755)
	writeFile(t, filepath.Join(dir, "sys/class/block/sda/device/wwid"), "naa.600508b1001c4d1e\n")
	writeFile(t, filepath.Join(dir, "sys/class/block/vda/size"), "2000\n")
	writeFile(t, filepath.Join(dir, "sys/class/block/sda/size"), "2000\n")
	r := newFixtureRegistry(t, dir)
	const w = "3600508b1001c4d1e"
	checkInstValues(t, r, map[string]map[string]string{
		"disk.wwid.read":       {w: "33242"}, // 33142 + 100
		"disk.wwid.write":      {w: "7344"},
		"disk.wwid.capacity":   {w: "1000"},
		"disk.wwid.scsi_paths": {w: `"vda sda"`},
		"disk.wwid.scheduler":  {}, // sda, the last path, has no scheduler file
		"disk.wwid.discard":    {w: "3832"},
		"disk.wwid.flush":      {}, // sda's line has no flush counters
		"hinv.map.scsi_id":     {"vda": `"` + w + `"`, "sda": `"` + w + `"`},
	})
}

// TestWWIDStableIDs: a wwid's instance id does not depend on which other disks
// have a wwid (it is the id of the disk it was first seen on).
func TestWWIDStableIDs(t *testing.T) {
	ids := func(dir string) map[string]uint32 {
		insts, err := newFixtureRegistry(t, dir).Instances(indomWWID)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]uint32{}
		for _, in := range insts {
			m[in.Name] = in.ID
		}
		return m
	}
	base := ids(fixtureDir)
	dir := copyTree(t, fixtureDir)
	os.Remove(filepath.Join(dir, "sys/class/block/vda/device/wwid"))
	after := ids(dir)
	const sda = "1ATA     QEMU HARDDISK"
	if len(base) != 2 || len(after) != 1 || after[sda] != base[sda] {
		t.Errorf("wwid ids %v, then without vda's wwid %v", base, after)
	}
}
