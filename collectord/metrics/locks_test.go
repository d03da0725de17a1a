package metrics

import (
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLocksFixture counts the fixture's /proc/locks by kind and access: waiters
// are skipped, OFDLCK and ACCESS count as posix, DELEG as lease, RW as both.
func TestLocksFixture(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	want := map[string]uint64{
		"vfs.locks.posix.count": 4, "vfs.locks.posix.read": 3, "vfs.locks.posix.write": 2,
		"vfs.locks.flock.count": 1, "vfs.locks.flock.read": 0, "vfs.locks.flock.write": 1,
		"vfs.locks.lease.count": 2, "vfs.locks.lease.read": 2, "vfs.locks.lease.write": 1,
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	res := fetchByName(t, r, names...)
	for n, w := range want {
		if g := res[n]; g.Err != 0 || len(g.Values) != 1 || g.Values[0].U != w {
			t.Errorf("%s = %+v, want %d", n, g, w)
		}
	}
}

// TestLocksHostile: garbage, a missing file and an unreadable one give no values
// and a counted error; an empty file (no locks) gives zeros.
func TestLocksHostile(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		ok            bool
	}{
		{"empty", "", true},
		{"garbage", "\x00\xff garbage\n", false},
		{"no number", "x: POSIX ADVISORY WRITE 1 00:01:2 0 EOF\n", false},
		{"huge number", "99999999999999999999999: POSIX ADVISORY WRITE 1 00:01:2 0 EOF\n", false},
		{"unknown kind", "1: SOMEDAY ADVISORY WRITE 1 00:01:2 0 EOF\n", true},
		{"missing", "", false},
	} {
		dir := copyTree(t, fixtureDir)
		p := filepath.Join(dir, "proc/locks")
		writeFile(t, p, tc.content)
		if tc.name == "missing" {
			os.Remove(p)
		}
		r := newFixtureRegistry(t, dir)
		res := fetchByName(t, r, "vfs.locks.posix.count")["vfs.locks.posix.count"]
		if tc.ok != (res.Err == 0 && len(res.Values) == 1 && res.Values[0].U == 0) {
			t.Errorf("%s: %+v", tc.name, res)
		}
		if !tc.ok && (len(res.Values) != 0 || r.SourceErrors()["locks"] == 0) {
			t.Errorf("%s: values %+v, errors %d", tc.name, res.Values, r.SourceErrors()["locks"])
		}
	}
}

// TestSysfsKernelFixture reads uevent_seqnum and the Normal zone's summed
// unusable index of node0; without debugfs the index has no value and no error.
func TestSysfsKernelFixture(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	res := fetchByName(t, r, "sysfs.kernel.uevent_seqnum", "sysfs.kernel.debug.extfrag_unusable")
	if g := res["sysfs.kernel.uevent_seqnum"]; g.Err != 0 || len(g.Values) != 1 || g.Values[0].U != 2887 {
		t.Errorf("uevent_seqnum = %+v", g)
	}
	if g := res["sysfs.kernel.debug.extfrag_unusable"]; g.Err != 0 || len(g.Values) != 1 || g.Values[0].Inst != 0 || math.Abs(g.Values[0].F-8.225) > 1e-9 {
		t.Errorf("extfrag_unusable = %+v", g)
	}

	dir := copyTree(t, fixtureDir)
	os.RemoveAll(filepath.Join(dir, "sys/kernel/debug"))
	r = newFixtureRegistry(t, dir)
	res = fetchByName(t, r, "sysfs.kernel.debug.extfrag_unusable")
	if g := res["sysfs.kernel.debug.extfrag_unusable"]; g.Err != 0 || len(g.Values) != 0 || r.SourceErrors()["sysfskernel"] != 0 {
		t.Errorf("no debugfs: %+v, %d errors", g, r.SourceErrors()["sysfskernel"])
	}
}

// TestSysfsKernelHostile: a bad file fails only its own metric, counted.
func TestSysfsKernelHostile(t *testing.T) {
	for _, tc := range []struct{ name, seq, frag string }{
		{"seq garbage", "abc\n", ""},
		{"seq negative", "-5\n", ""},
		{"seq too big", "999999999999999999999999\n", ""},
		{"frag garbage", "", "Node 0, zone Normal x y z\n"},
		{"frag out of range", "", "Node 0, zone Normal 7.5\n"},
		{"frag not a node line", "", "garbage\n"},
	} {
		dir := copyTree(t, fixtureDir)
		if tc.seq != "" {
			writeFile(t, filepath.Join(dir, "sys/kernel/uevent_seqnum"), tc.seq)
		}
		if tc.frag != "" {
			writeFile(t, filepath.Join(dir, "sys/kernel/debug/extfrag/unusable_index"), tc.frag)
		}
		r := newFixtureRegistry(t, dir)
		res := fetchByName(t, r, "sysfs.kernel.uevent_seqnum", "sysfs.kernel.debug.extfrag_unusable")
		seq, frag := res["sysfs.kernel.uevent_seqnum"], res["sysfs.kernel.debug.extfrag_unusable"]
		if (tc.seq != "") != (seq.Err != 0 && len(seq.Values) == 0) || (tc.frag != "") != (frag.Err != 0 && len(frag.Values) == 0) {
			t.Errorf("%s: seq %+v frag %+v", tc.name, seq, frag)
		}
		if r.SourceErrors()["sysfskernel"] == 0 {
			t.Errorf("%s: not counted", tc.name)
		}
	}
}

// TestTmpfsFixture: instances are the tmpfs mount points (escapes kept, repeats
// once), values from statfs; a mount point statfs cannot reach has no values.
func TestTmpfsFixture(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/self/mounts"), "/dev/vda1 / ext4 rw 0 0\n"+
		"tmpfs /dev/shm tmpfs rw,relatime 0 0\n"+
		"tmpfs /run/my\\040tmp tmpfs rw 0 0\n"+
		"tmpfs /dev/shm tmpfs rw,relatime 0 0\n"+
		"tmpfs /gone tmpfs rw 0 0\n")
	r := newFixtureRegistry(t, dir)
	root := filepath.Join(dir, "rootfs")
	source[*tmpfsSource](t, r, "tmpfs").statfs = func(p string, st *unix.Statfs_t) error {
		switch p {
		case filepath.Join(root, "/dev/shm"):
			*st = unix.Statfs_t{Bsize: 4096, Blocks: 1000, Bfree: 750, Bavail: 750, Files: 5000, Ffree: 4990}
		case filepath.Join(root, "/run/my tmp"):
			*st = unix.Statfs_t{Bsize: 4096, Blocks: 0, Bfree: 0, Bavail: 0, Files: 1 << 40, Ffree: 1 << 40}
		default:
			return syscall.ENOENT
		}
		return nil
	}
	insts, err := r.Instances(indomTmpfs)
	if err != nil || len(insts) != 3 || insts[0].Name != "/dev/shm" || insts[1].Name != `/run/my\040tmp` || insts[2].Name != "/gone" {
		t.Fatalf("instances %v %v", insts, err)
	}
	checkInstValues(t, r, map[string]map[string]string{
		"tmpfs.capacity":  {"/dev/shm": "4000", `/run/my\040tmp`: "0"},
		"tmpfs.used":      {"/dev/shm": "1000", `/run/my\040tmp`: "0"},
		"tmpfs.free":      {"/dev/shm": "3000", `/run/my\040tmp`: "0"},
		"tmpfs.maxfiles":  {"/dev/shm": "5000"},
		"tmpfs.usedfiles": {"/dev/shm": "10", `/run/my\040tmp`: "0"},
		"tmpfs.freefiles": {"/dev/shm": "4990"},
		"tmpfs.full":      {"/dev/shm": "25", `/run/my\040tmp`: "0"},
	})
	if r.SourceErrors()["tmpfs"] != 0 {
		t.Errorf("errors: %d", r.SourceErrors()["tmpfs"])
	}
	// A garbage mounts file fails the source, counted.
	writeFile(t, filepath.Join(dir, "proc/self/mounts"), "garbage\n")
	if res := fetchByName(t, r, "tmpfs.free")["tmpfs.free"]; res.Err == 0 || r.SourceErrors()["tmpfs"] == 0 {
		t.Errorf("garbage mounts: %+v", res)
	}
	if _, err := r.Instances(indomTmpfs); err == nil {
		t.Error("instances from a garbage mounts file")
	}
}
