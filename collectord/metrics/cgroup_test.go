package metrics

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

const cgDocker = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// cgValues fetches one cgroup metric and returns its values by instance name, as
// text (numbers in decimal, strings quoted).
func cgValues(t *testing.T, r *Registry, name string) map[string]string {
	t.Helper()
	m, _ := r.ByName(name)
	res := fetchByName(t, r, name)[name]
	if res.Err != 0 {
		t.Fatalf("%s: error %d", name, res.Err)
	}
	names := map[uint32]string{}
	if m.Desc.InDom != protocol.InDomNull {
		insts, err := r.Instances(m.Desc.InDom)
		if err != nil {
			t.Fatalf("%s instances: %v", name, err)
		}
		for _, in := range insts {
			names[in.ID] = in.Name
		}
	}
	out := map[string]string{}
	for _, v := range res.Values {
		key := "-"
		if m.Desc.InDom != protocol.InDomNull {
			n, ok := names[v.Inst]
			if !ok {
				t.Errorf("%s: value for instance %d that the instance domain does not list", name, v.Inst)
			}
			key = n
		}
		out[key] = formatValue(m.Desc.Type, v)
	}
	return out
}

func wantCg(t *testing.T, r *Registry, name string, want map[string]string) {
	t.Helper()
	got := cgValues(t, r, name)
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", name, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", name, got, want)
			return
		}
	}
}

// v1 mounts as a hybrid host has them (v1 controllers, then a cgroup2 mount).
const cgV1Mountinfo = `21 26 0:20 / /proc rw - proc proc rw
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:32 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
36 30 0:33 / /sys/fs/cgroup/net_cls rw,relatime - cgroup cgroup rw,net_cls
37 30 0:34 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
`

// TestCgroupV2: on a cgroup2-only host (the fixture), the groups are the
// directories below the mount (dot directories left out, systemd escapes decoded),
// cpu.stat, pressure and io.stat values come from each group's files, devices are
// named from /sys/dev/block (loop devices left out), and the v1-only metrics have no
// values.
func TestCgroupV2(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	dock := "/system.slice/docker-" + cgDocker + ".scope"
	wantCg(t, r, "cgroup.cpu.stat.usage", map[string]string{"/": "5000000", "/system.slice": "4000", dock: "10", "/user.slice/app-web.service": "1"})
	wantCg(t, r, "cgroup.cpu.stat.system", map[string]string{"/": "2000000", "/system.slice": "1000", dock: "4", "/user.slice/app-web.service": "0"})
	wantCg(t, r, "cgroup.pressure.cpu.some.avg10sec", map[string]string{"/": "1.5", "/system.slice": "0.1"})
	wantCg(t, r, "cgroup.pressure.cpu.some.total", map[string]string{"/": "123456", "/system.slice": "42"})
	wantCg(t, r, "cgroup.pressure.io.full.avg1min", map[string]string{"/": "0.5"})
	wantCg(t, r, "cgroup.pressure.memory.full.total", map[string]string{"/": "5"})
	wantCg(t, r, "cgroup.pressure.irq.full.total", map[string]string{})
	wantCg(t, r, "cgroup.io.stat.rbytes", map[string]string{"/::sda": "4096", "/::vda": "100", "/system.slice::sda": "10"})
	wantCg(t, r, "cgroup.io.stat.dios", map[string]string{"/::sda": "0", "/::vda": "6", "/system.slice::sda": "60"})
	// memory: only the groups with memory.stat are instances.
	wantCg(t, r, "cgroup.memory.current", map[string]string{"/system.slice": "1048576", dock: "65536"})
	wantCg(t, r, "cgroup.memory.stat.anon", map[string]string{"/system.slice": "4096", dock: "65536"})
	wantCg(t, r, "cgroup.memory.stat.workingset.activate", map[string]string{"/system.slice": "7"})
	wantCg(t, r, "cgroup.memory.stat.rss", map[string]string{})
	wantCg(t, r, "cgroup.memory.id.container", map[string]string{"/system.slice": `""`, dock: `"` + cgDocker + `"`})
	wantCg(t, r, "cgroup.cpusched.shares", map[string]string{})
	wantCg(t, r, "cgroup.subsys.count", map[string]string{"-": "7"})
	wantCg(t, r, "cgroup.subsys.num_cgroups", map[string]string{"cpuset": "5", "cpu": "5", "cpuacct": "5", "blkio": "5", "memory": "5", "net_cls": "1", "pids": "5"})
	wantCg(t, r, "cgroup.mounts.subsys", map[string]string{"/sys/fs/cgroup/unified": `"?"`})
	wantCg(t, r, "cgroup.mounts.count", map[string]string{"-": "1"})
}

// TestCgroupV1: on a host with v1 hierarchies, each controller's groups come from
// its own mounts, values from its files; cpuacct.stat ticks are served in
// milliseconds, blkio sums per group leave unknown and loop devices out, and the
// cgroup2-only metrics have no values.
func TestCgroupV1(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/self/mountinfo"), cgV1Mountinfo)
	r := newFixtureRegistry(t, dir)
	dock := "/docker/" + cgDocker
	wantCg(t, r, "cgroup.cpusched.shares", map[string]string{"/": "1024", dock: "512"})
	wantCg(t, r, "cgroup.cpusched.cfs_quota", map[string]string{"/": "-1", dock: "50000"})
	wantCg(t, r, "cgroup.cpusched.throttled_time", map[string]string{"/": "5000"})
	wantCg(t, r, "cgroup.cpusched.id.container", map[string]string{"/": `""`, "/docker": `""`, dock: `"` + cgDocker + `"`})
	wantCg(t, r, "cgroup.cpuacct.stat.user", map[string]string{"/": "1500", dock: "30"})
	wantCg(t, r, "cgroup.cpuacct.usage", map[string]string{"/": "2000000000", dock: "40000000"})
	wantCg(t, r, "cgroup.cpuacct.usage_percpu", map[string]string{"/::cpu0": "1500000000", "/::cpu1": "500000000", dock + "::cpu0": "30000000", dock + "::cpu1": "10000000"})
	wantCg(t, r, "cgroup.cpuset.cpus", map[string]string{"/": `"0-1"`, dock: `"1"`})
	wantCg(t, r, "cgroup.memory.stat.cache", map[string]string{"/": "11964416", dock: "4096"})
	wantCg(t, r, "cgroup.memory.stat.total.rss", map[string]string{"/": "9000000"})
	wantCg(t, r, "cgroup.memory.stat.recent.rotated_anon", map[string]string{"/": "5"})
	wantCg(t, r, "cgroup.memory.limit", map[string]string{"/": "9223372036854771712", dock: "268435456"})
	wantCg(t, r, "cgroup.memory.current", map[string]string{})
	wantCg(t, r, "cgroup.netclass.classid", map[string]string{"/": "0", dock: "1048577"})
	wantCg(t, r, "cgroup.blkio.dev.io_serviced.read", map[string]string{"/::sda": "10", "/::vda": "1", dock + "::sda": "1"})
	wantCg(t, r, "cgroup.blkio.all.io_serviced.total", map[string]string{"/": "33", dock: "1"})
	wantCg(t, r, "cgroup.blkio.all.sectors", map[string]string{"/": "1029", dock: "4"})
	wantCg(t, r, "cgroup.blkio.dev.time", map[string]string{"/::sda": "70", "/::vda": "5", dock + "::sda": "1"})
	wantCg(t, r, "cgroup.cpu.stat.usage", map[string]string{})
	wantCg(t, r, "cgroup.io.stat.rbytes", map[string]string{})
	wantCg(t, r, "cgroup.mounts.subsys", map[string]string{"/sys/fs/cgroup/cpu": `"cpu"`, "/sys/fs/cgroup/cpuacct": `"cpuacct"`,
		"/sys/fs/cgroup/cpuset": `"cpuset"`, "/sys/fs/cgroup/memory": `"memory"`, "/sys/fs/cgroup/blkio": `"blkio"`,
		"/sys/fs/cgroup/net_cls": `"net_cls"`, "/sys/fs/cgroup/systemd": `"?"`})

	// Hybrid: the cgroup2 mount's groups join every controller's domain (as the
	// agent has them); the root's v1 files are still read from the v1 mount.
	writeFile(t, filepath.Join(dir, "proc/self/mountinfo"), cgV1Mountinfo+
		"38 30 0:35 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
	got := cgValues(t, r, "cgroup.cpusched.shares")
	if got["/"] != "1024" || got[dock] != "512" || len(got) != 2 {
		t.Errorf("hybrid cpusched.shares %v", got)
	}
	insts, _ := r.Instances(indomCgCpusched)
	var names []string
	for _, in := range insts {
		names = append(names, in.Name)
	}
	sort.Strings(names)
	if want := "/ /docker " + dock + " /system.slice /system.slice/docker-" + cgDocker + ".scope /user.slice /user.slice/app-web.service"; strings.Join(names, " ") != want {
		t.Errorf("hybrid cpusched instances %q, want %q", strings.Join(names, " "), want)
	}
	wantCg(t, r, "cgroup.cpu.stat.usage", map[string]string{})
}

// TestCgroupReadsOnlyWhatIsAsked: a fetch of cgroup.memory.current opens only the
// memory.current files of the memory groups (and mountinfo), not the other files of
// the groups, nor other controllers' directories.
func TestCgroupReadsOnlyWhatIsAsked(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	var files []string
	fileHook = func(p string) { files = append(files, p) }
	defer func() { fileHook = nil }()
	fetchByName(t, r, "cgroup.memory.current")
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(f, filepath.Join(fixtureDir, "sys/fs/cgroup")) {
			if info, err := os.Stat(f); err == nil && info.IsDir() {
				continue // the walk lists directories
			}
			if base == "memory.current" {
				continue
			}
		} else if base == "mountinfo" {
			continue
		}
		t.Errorf("a fetch of cgroup.memory.current read %s", f)
	}
	if len(files) == 0 {
		t.Error("nothing read")
	}
}

// TestCgroupHostile: garbage in a group's file gives no value for that group (the
// others keep theirs) and a counted error; a missing file or group gives no value
// and no error; an unreadable mountinfo fails the source; control characters in a
// string file, symbolic links and names that would decode to control characters do
// not get through; a huge number fits or is absent, never wrapped.
func TestCgroupHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	r := newFixtureRegistry(t, dir)
	u := filepath.Join(dir, "sys/fs/cgroup/unified")
	dock := "/system.slice/docker-" + cgDocker + ".scope"
	errs := func() uint64 { return r.SourceErrors()["cgroup"] }
	for _, bad := range []string{"x\n", "1 2\n", "-5\n", "99999999999999999999999\n", "\x1b[31m\n"} {
		writeFile(t, filepath.Join(u, "system.slice/memory.current"), bad)
		before := errs()
		wantCg(t, r, "cgroup.memory.current", map[string]string{dock: "65536"})
		if errs() != before+1 {
			t.Errorf("memory.current %q: not counted", bad)
		}
	}
	writeFile(t, filepath.Join(u, "system.slice/memory.current"), "18446744073709551615\n")
	wantCg(t, r, "cgroup.memory.current", map[string]string{"/system.slice": "18446744073709551615", dock: "65536"})
	for _, bad := range []string{"some avg10=x avg60=0 avg300=0 total=1\n", "some avg10=1 avg60=0 total=1\n", "some total=1\n"} {
		writeFile(t, filepath.Join(u, "cpu.pressure"), bad)
		before := errs()
		wantCg(t, r, "cgroup.pressure.cpu.some.total", map[string]string{"/system.slice": "42"})
		if errs() != before+1 {
			t.Errorf("cpu.pressure %q: not counted", bad)
		}
	}
	writeFile(t, filepath.Join(u, "io.stat"), "8:0 rbytes=x\n")
	wantCg(t, r, "cgroup.io.stat.rbytes", map[string]string{"/system.slice::sda": "10"})
	writeFile(t, filepath.Join(u, "io.stat"), "garbage rbytes=5\n")
	wantCg(t, r, "cgroup.io.stat.rbytes", map[string]string{"/system.slice::sda": "10"})
	writeFile(t, filepath.Join(u, "io.stat"), "9:9 rbytes=5\n") // no such device
	wantCg(t, r, "cgroup.io.stat.rbytes", map[string]string{"/system.slice::sda": "10"})

	// A truncated or missing file: no value, no error.
	os.Remove(filepath.Join(u, "system.slice/cpu.stat"))
	writeFile(t, filepath.Join(u, "cpu.stat"), "")
	before := errs()
	wantCg(t, r, "cgroup.cpu.stat.usage", map[string]string{dock: "10", "/user.slice/app-web.service": "1"})
	if errs() != before {
		t.Error("a missing cpu.stat counted as an error")
	}

	// Permission denied (as root, a directory where the file should be).
	os.Remove(filepath.Join(u, "system.slice/memory.stat"))
	os.Mkdir(filepath.Join(u, "system.slice/memory.stat"), 0o755)
	before = errs()
	got := cgValues(t, r, "cgroup.memory.stat.anon")
	if _, ok := got["/system.slice"]; ok || errs() == before {
		t.Errorf("unreadable memory.stat: %v, errors %d -> %d", got, before, errs())
	}

	// A symbolic link to another group is not walked; an escape that would decode to
	// a control character stays escaped; a control character in cpuset.cpus gives no
	// value.
	if err := os.Symlink(filepath.Join(u, "system.slice"), filepath.Join(u, "loop")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(u, `evil\x1b.slice`), 0o755)
	insts, err := r.Instances(indomCgroup2)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		if strings.HasPrefix(in.Name, "/loop") || strings.ContainsRune(in.Name, 0x1b) {
			t.Errorf("instance %q", in.Name)
		}
	}
	if !strings.Contains(formatInstances(insts), `evil\\x1b.slice`) {
		t.Errorf("escaped name missing: %s", formatInstances(insts))
	}

	// A mountinfo line that is not one (garbage, mangled ids) fails the mount-based
	// metrics, not the /proc/cgroups ones asked for with them (a partial error).
	for _, bad := range []string{"\x00\x01garbage\n", "-1 26 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
		"30 22 0:99999999999999999999999 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n", "30 22 0:27 / /x rw cgroup2\n"} {
		writeFile(t, filepath.Join(dir, "proc/self/mountinfo"), bad)
		before := errs()
		res := fetchByName(t, r, "cgroup.mounts.count", "cgroup.subsys.count")
		wantValues(t, "mounts.count "+bad, res["cgroup.mounts.count"], protocol.ErrValue, nil)
		wantValues(t, "subsys.count beside "+bad, res["cgroup.subsys.count"], 0, one(7))
		if errs() != before+1 {
			t.Errorf("mountinfo %q: not counted", bad)
		}
	}

	// An unreadable mountinfo fails the source.
	os.Remove(filepath.Join(dir, "proc/self/mountinfo"))
	before = errs()
	res := fetchByName(t, r, "cgroup.memory.current")["cgroup.memory.current"]
	if res.Err == 0 || errs() != before+1 {
		t.Errorf("no mountinfo: %+v, errors %d -> %d", res, before, errs())
	}
	// No /proc/cgroups: no controllers, no error.
	os.Remove(filepath.Join(dir, "proc/cgroups"))
	wantCg(t, r, "cgroup.subsys.count", map[string]string{})
}

// TestCgroupV1Hostile: hostile v1 files: a bad cpuacct.stat or usage_percpu line,
// a blkio line without a device, and a string with control characters.
func TestCgroupV1Hostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/self/mountinfo"), cgV1Mountinfo)
	r := newFixtureRegistry(t, dir)
	root := filepath.Join(dir, "sys/fs/cgroup")
	dock := "/docker/" + cgDocker
	writeFile(t, filepath.Join(root, "cpuacct/cpuacct.stat"), "user 1844674407370955162\nsystem 1\n")
	wantCg(t, r, "cgroup.cpuacct.stat.user", map[string]string{dock: "30"})
	wantCg(t, r, "cgroup.cpuacct.stat.system", map[string]string{"/": "10", dock: "10"})
	writeFile(t, filepath.Join(root, "cpuacct/cpuacct.usage_percpu"), "1 x 3\n")
	wantCg(t, r, "cgroup.cpuacct.usage_percpu", map[string]string{dock + "::cpu0": "30000000", dock + "::cpu1": "10000000"})
	writeFile(t, filepath.Join(root, "blkio/blkio.io_serviced"), "Read 5\n")
	wantCg(t, r, "cgroup.blkio.all.io_serviced.read", map[string]string{dock: "1"})
	writeFile(t, filepath.Join(root, "cpuset/cpuset.cpus"), "0-1\x07\n")
	wantCg(t, r, "cgroup.cpuset.cpus", map[string]string{dock: `"1"`})
	writeFile(t, filepath.Join(root, "cpu/cpu.cfs_quota_us"), "-9223372036854775809\n")
	wantCg(t, r, "cgroup.cpusched.cfs_quota", map[string]string{dock: "50000"})
}

func TestContainerID(t *testing.T) {
	for name, want := range map[string]string{
		"/":                   "",
		"/docker/" + cgDocker: cgDocker,
		"/system.slice/docker-" + cgDocker + ".scope":  cgDocker,
		"/machine.slice/libpod-" + cgDocker + ".scope": cgDocker,
		"/system.slice/docker-containerd.service":      "",
		"/x/" + strings.ToUpper(cgDocker):              "",
		"/x/" + cgDocker[:63]:                          "",
	} {
		if got := containerID(name); got != want {
			t.Errorf("containerID(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestCgroupIDsIndependent: a group's instance id depends on its name only, not on
// which other groups exist or could be read when it was first seen (the memory
// domain loses /system.slice when its memory.stat goes; the docker scope keeps its
// id; a device instance keeps its id when the root's io.stat goes).
func TestCgroupIDsIndependent(t *testing.T) {
	idOf := func(r *Registry, metric, name string) uint32 {
		t.Helper()
		m, _ := r.ByName(metric)
		insts, err := r.Instances(m.Desc.InDom)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range insts {
			if in.Name == name {
				return in.ID
			}
		}
		t.Fatalf("%s: no instance %q in %s", metric, name, formatInstances(insts))
		return 0
	}
	dock := "/system.slice/docker-" + cgDocker + ".scope"
	r1 := newFixtureRegistry(t, fixtureDir)
	want, wantDev := idOf(r1, "cgroup.memory.current", dock), idOf(r1, "cgroup.io.stat.rbytes", "/system.slice::sda")
	dir := copyTree(t, fixtureDir)
	os.Remove(filepath.Join(dir, "sys/fs/cgroup/unified/system.slice/memory.stat"))
	os.Remove(filepath.Join(dir, "sys/fs/cgroup/unified/io.stat"))
	r2 := newFixtureRegistry(t, dir)
	if got := idOf(r2, "cgroup.memory.current", dock); got != want {
		t.Errorf("%s: id %d, was %d", dock, got, want)
	}
	if got := idOf(r2, "cgroup.io.stat.rbytes", "/system.slice::sda"); got != wantDev {
		t.Errorf("/system.slice::sda: id %d, was %d", got, wantDev)
	}
}
