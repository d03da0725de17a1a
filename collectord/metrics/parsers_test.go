package metrics

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"github.com/prometheus/procfs/blockdevice"

	"github.com/gopcp/gopcp/protocol"
)

// The sources parse /proc themselves (for speed, and to keep absent fields absent);
// procfs serves as the reference implementation they must agree with.

func instValues(t *testing.T, r *Registry, indom protocol.InDom, res Result) map[string]Value {
	t.Helper()
	insts, err := r.Instances(indom)
	if err != nil {
		t.Fatal(err)
	}
	names := map[uint32]string{}
	for _, in := range insts {
		names[in.ID] = in.Name
	}
	out := map[string]Value{}
	for _, v := range res.Values {
		out[names[v.Inst]] = v
	}
	return out
}

func msFromSeconds(s float64) uint64 { return uint64(math.Round(s * 1000)) }

func TestParsersAgreeWithProcfs(t *testing.T) {
	proc := filepath.Join(fixtureDir, "proc")
	fs, err := procfs.NewFS(proc)
	if err != nil {
		t.Fatal(err)
	}
	r := newFixtureRegistry(t, fixtureDir)
	res := fetchByName(t, r, "mem.physmem", "mem.util.free", "mem.util.available", "mem.util.bufmem",
		"mem.util.cached", "mem.util.slab", "swap.length", "swap.free",
		"kernel.all.cpu.user", "kernel.all.cpu.nice", "kernel.all.cpu.sys", "kernel.all.cpu.idle",
		"kernel.all.cpu.wait.total", "kernel.all.cpu.irq.hard", "kernel.all.cpu.irq.soft",
		"kernel.all.cpu.steal", "kernel.all.cpu.guest", "kernel.percpu.cpu.user", "kernel.percpu.cpu.idle",
		"kernel.all.intr", "kernel.all.pswitch", "kernel.all.sysfork", "kernel.all.running",
		"kernel.all.blocked", "kernel.all.boottime", "kernel.all.load",
		"disk.dev.read", "disk.dev.write", "disk.dev.read_bytes", "disk.dev.write_bytes", "disk.dev.avactive",
		"network.interface.in.bytes", "network.interface.in.packets", "network.interface.in.errors",
		"network.interface.in.drops", "network.interface.out.bytes", "network.interface.out.packets",
		"network.interface.out.errors", "network.interface.out.drops")
	u := func(name string) uint64 {
		t.Helper()
		v := res[name].Values
		if len(v) != 1 {
			t.Fatalf("%s: %d values", name, len(v))
		}
		return v[0].U
	}

	mi, err := fs.Meminfo()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]*uint64{
		"mem.physmem": mi.MemTotal, "mem.util.free": mi.MemFree, "mem.util.available": mi.MemAvailable,
		"mem.util.bufmem": mi.Buffers, "mem.util.cached": mi.Cached, "mem.util.slab": mi.Slab,
	} {
		if u(name) != *want {
			t.Errorf("%s = %d, procfs %d", name, u(name), *want)
		}
	}
	if u("swap.length") != *mi.SwapTotalBytes || u("swap.free") != *mi.SwapFreeBytes {
		t.Errorf("swap.length/free %d/%d, procfs %d/%d", u("swap.length"), u("swap.free"), *mi.SwapTotalBytes, *mi.SwapFreeBytes)
	}

	st, err := fs.Stat()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"kernel.all.cpu.user": st.CPUTotal.User, "kernel.all.cpu.nice": st.CPUTotal.Nice,
		"kernel.all.cpu.sys": st.CPUTotal.System, "kernel.all.cpu.idle": st.CPUTotal.Idle,
		"kernel.all.cpu.wait.total": st.CPUTotal.Iowait, "kernel.all.cpu.irq.hard": st.CPUTotal.IRQ,
		"kernel.all.cpu.irq.soft": st.CPUTotal.SoftIRQ, "kernel.all.cpu.steal": st.CPUTotal.Steal,
		"kernel.all.cpu.guest": st.CPUTotal.Guest,
	} {
		if u(name) != msFromSeconds(want) {
			t.Errorf("%s = %d ms, procfs %g s", name, u(name), want)
		}
	}
	for _, v := range res["kernel.percpu.cpu.user"].Values {
		if v.U != msFromSeconds(st.CPU[int64(v.Inst)].User) {
			t.Errorf("kernel.percpu.cpu.user[%d] = %d, procfs %g s", v.Inst, v.U, st.CPU[int64(v.Inst)].User)
		}
	}
	for name, want := range map[string]uint64{
		"kernel.all.intr": st.IRQTotal, "kernel.all.pswitch": st.ContextSwitches, "kernel.all.sysfork": st.ProcessCreated,
		"kernel.all.running": st.ProcessesRunning, "kernel.all.blocked": st.ProcessesBlocked, "kernel.all.boottime": st.BootTime,
	} {
		if u(name) != want {
			t.Errorf("%s = %d, procfs %d", name, u(name), want)
		}
	}

	la, err := fs.LoadAvg()
	if err != nil {
		t.Fatal(err)
	}
	if l := res["kernel.all.load"].Values; len(l) != 3 || l[0].F != la.Load1 || l[1].F != la.Load5 || l[2].F != la.Load15 {
		t.Errorf("kernel.all.load %+v, procfs %+v", l, la)
	}

	bfs, err := blockdevice.NewFS(proc, filepath.Join(fixtureDir, "sys"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := bfs.ProcDiskstats()
	if err != nil {
		t.Fatal(err)
	}
	disks := 0
	for _, d := range ds {
		if !isDisk([]byte(d.DeviceName)) {
			continue
		}
		disks++
		for name, want := range map[string]uint64{
			"disk.dev.read": d.ReadIOs, "disk.dev.write": d.WriteIOs, "disk.dev.read_bytes": d.ReadSectors / 2,
			"disk.dev.write_bytes": d.WriteSectors / 2, "disk.dev.avactive": uint64(uint32(d.IOsTotalTicks)),
		} {
			got, ok := instValues(t, r, indomDisk, res[name])[d.DeviceName]
			if !ok || got.U != want {
				t.Errorf("%s[%s] = %d (present %v), procfs %d", name, d.DeviceName, got.U, ok, want)
			}
		}
	}
	if n := len(res["disk.dev.read"].Values); n != disks || disks == 0 {
		t.Errorf("%d disks, procfs lists %d", n, disks)
	}

	nd, err := fs.NetDev()
	if err != nil {
		t.Fatal(err)
	}
	for ifname, l := range nd {
		for name, want := range map[string]uint64{
			"network.interface.in.bytes": l.RxBytes, "network.interface.in.packets": l.RxPackets,
			"network.interface.in.errors": l.RxErrors, "network.interface.in.drops": l.RxDropped,
			"network.interface.out.bytes": l.TxBytes, "network.interface.out.packets": l.TxPackets,
			"network.interface.out.errors": l.TxErrors, "network.interface.out.drops": l.TxDropped,
		} {
			got, ok := instValues(t, r, indomNetIf, res[name])[ifname]
			if !ok || got.U != want {
				t.Errorf("%s[%s] = %d (present %v), procfs %d", name, ifname, got.U, ok, want)
			}
		}
	}
	if n := len(res["network.interface.in.bytes"].Values); n != len(nd) {
		t.Errorf("%d interfaces, procfs %d", n, len(nd))
	}
}

// TestParsersAgreeWithProcfsOnThisHost compares what does not change between two
// reads of the running kernel.
func TestParsersAgreeWithProcfsOnThisHost(t *testing.T) {
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := fetchByName(t, r, "mem.physmem", "hinv.ncpu", "kernel.all.boottime", "network.interface.in.bytes", "disk.dev.read")
	if mi, err := fs.Meminfo(); err == nil && (len(res["mem.physmem"].Values) != 1 || res["mem.physmem"].Values[0].U != *mi.MemTotal) {
		t.Errorf("mem.physmem %+v, procfs %d", res["mem.physmem"], *mi.MemTotal)
	}
	if st, err := fs.Stat(); err == nil {
		if v := res["hinv.ncpu"].Values; len(v) != 1 || v[0].U != uint64(len(st.CPU)) {
			t.Errorf("hinv.ncpu %+v, procfs %d", v, len(st.CPU))
		}
		if v := res["kernel.all.boottime"].Values; len(v) != 1 || v[0].U != st.BootTime {
			t.Errorf("kernel.all.boottime %+v, procfs %d", v, st.BootTime)
		}
	}
	if nd, err := fs.NetDev(); err == nil {
		var want, got []string
		for n := range nd {
			want = append(want, n)
		}
		for n := range instValues(t, r, indomNetIf, res["network.interface.in.bytes"]) {
			got = append(got, n)
		}
		sort.Strings(want)
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("interfaces %v, procfs %v", got, want)
		}
	}
	if bfs, err := blockdevice.NewFS("/proc", "/sys"); err == nil {
		if ds, err := bfs.ProcDiskstats(); err == nil {
			var want, got []string
			for _, d := range ds {
				if isDisk([]byte(d.DeviceName)) {
					want = append(want, d.DeviceName)
				}
			}
			for n := range instValues(t, r, indomDisk, res["disk.dev.read"]) {
				got = append(got, n)
			}
			sort.Strings(want)
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("disks %v, procfs %v", got, want)
			}
		}
	}
}

func TestIsDisk(t *testing.T) {
	disks := []string{"sda", "vda", "hda", "xvda", "nvme0n1", "mmcblk0", "rbd0", "nbd3", "cciss/c0d0", "rd/c0d0"}
	notDisks := []string{"sda1", "vda2", "nvme0n1p1", "mmcblk0p6", "rbd0p1", "nbd3p2", "loop0", "ram1", "zram0",
		"sr0", "dm-0", "md127", "cciss/c0d0p1", "123456789012345678", "xvm_vol"}
	for _, d := range disks {
		if !isDisk([]byte(d)) {
			t.Errorf("isDisk(%q) = false", d)
		}
	}
	for _, d := range notDisks {
		if isDisk([]byte(d)) {
			t.Errorf("isDisk(%q) = true", d)
		}
	}
}

func TestSmallParsers(t *testing.T) {
	for in, want := range map[string]string{
		`/srv/my\040data`: "/srv/my data", `a\011b\012c\134d`: "a\tb\nc\\d", `plain`: "plain", `bad\09`: `bad\09`, `end\04`: `end\04`,
	} {
		if got := unescapeMount([]byte(in)); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
	ints := map[string]int64{"0x1003": 0x1003, "-1": -1, "1500": 1500, "+7": 7, "0X1f": 31}
	for in, want := range ints {
		if got, ok := parseInt([]byte(in)); !ok || got != want {
			t.Errorf("parseInt(%q) = %d %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "-", "0x", "12a", "0xzz", "99999999999999999999", "0x1ffffffffffffffff"} {
		if _, ok := parseInt([]byte(in)); ok {
			t.Errorf("parseInt(%q) accepted", in)
		}
	}
	if _, ok := parseUint([]byte("18446744073709551616")); ok {
		t.Error("parseUint accepted an overflow")
	}
	if v, ok := parseUint([]byte("18446744073709551615")); !ok || v != math.MaxUint64 {
		t.Error("parseUint(max)")
	}
	keys := []string{"MemTotal", "MemShared", "HugePages_Total"}
	tab, m := newFieldTable(keys), make(optSlots, len(keys))
	for _, bad := range []string{"", "MemTotal 12 kB\n", "MemTotal: x kB\n", "MemTotal: 12 MB\n", "MemTotal: 1 kB extra\n"} {
		if err := parseMeminfo([]byte(bad), tab, m); err == nil {
			t.Errorf("parseMeminfo(%q) accepted", bad)
		}
	}
	if err := parseMeminfo([]byte("MemShared: 5 kB\nHugePages_Total: 0\n"), tab, m); err != nil || !m[1].ok || m[1].v != 5 || m[0].ok || !m[2].ok || m[2].v != 0 {
		t.Errorf("parseMeminfo: %+v %v", m, err)
	}
}

func TestTimezone(t *testing.T) {
	load := func(name string) *time.Location {
		l, err := time.LoadLocation(name)
		if err != nil {
			t.Skipf("no zoneinfo for %s", name)
		}
		return l
	}
	cases := []struct {
		env  string
		loc  *time.Location
		want string
	}{
		{"", time.UTC, "UTC"},
		{"", load("Australia/Melbourne"), "AEST-10AEDT"},
		{"", load("America/New_York"), "EST+5EDT"},
		{"", load("Asia/Kolkata"), "IST-5:30"},
		{"EST5EDT", time.UTC, "EST5EDT"},
		{":Europe/Berlin", time.UTC, "UTC"},
	}
	for _, c := range cases {
		if got := pcpTimezone(c.env, c.loc); got != c.want {
			t.Errorf("pcpTimezone(%q, %v) = %q, want %q", c.env, c.loc, got, c.want)
		}
	}
	etc := filepath.Join(fixtureDir, "etc")
	for env, want := range map[string]string{"": ":Europe/Berlin", ":Asia/Tokyo": ":Asia/Tokyo", "UTC": ""} {
		if got := zoneinfo(env, etc); got != want {
			t.Errorf("zoneinfo(%q) = %q, want %q", env, got, want)
		}
	}
	if got := zoneinfo("", t.TempDir()); got != "" {
		t.Errorf("zoneinfo without /etc/localtime = %q", got)
	}
	if got := ctime(time.Date(2026, 1, 5, 7, 8, 9, 0, time.UTC)); got != "Mon Jan  5 07:08:09 2026" {
		t.Errorf("ctime = %q", got)
	}
}

func TestDistro(t *testing.T) {
	dir := t.TempDir()
	if got := distroName(dir); got != "" {
		t.Errorf("no release files: %q", got)
	}
	writeFile(t, filepath.Join(dir, "os-release"), "NAME=Foo\nPRETTY_NAME='Foo Linux 3'\n")
	if got := distroName(dir); got != "Foo Linux 3" {
		t.Errorf("os-release: %q", got)
	}
	writeFile(t, filepath.Join(dir, "lsb-release"), "DISTRIB_ID=Ubuntu\nDISTRIB_DESCRIPTION=\"Ubuntu 22.04.4 LTS\"\n")
	if got := distroName(dir); got != "Ubuntu 22.04.4 LTS" {
		t.Errorf("lsb-release: %q", got)
	}
	writeFile(t, filepath.Join(dir, "redhat-release"), "Red Hat Enterprise Linux release 9.4 (Plow)\n")
	if got := distroName(dir); got != "Red Hat Enterprise Linux release 9.4 (Plow)" {
		t.Errorf("redhat-release: %q", got)
	}
	writeFile(t, filepath.Join(dir, "debian_version"), "bookworm/sid\n")
	if got := distroName(dir); got != "Debian bookworm/sid" {
		t.Errorf("debian_version: %q", got)
	}
}

// TestKernelFilesStayOpen: /proc files are held open between fetches and still give
// fresh values; fixture (regular) files are reopened every time.
func TestKernelFilesStayOpen(t *testing.T) {
	if _, err := os.Stat("/proc/uptime"); err != nil {
		t.Skip("no /proc")
	}
	f := newKfile("/proc/uptime")
	b1, err := f.read(nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.fd < 0 {
		t.Fatal("/proc/uptime not held open")
	}
	fd := f.fd
	time.Sleep(20 * time.Millisecond)
	b2, err := f.read(nil)
	if err != nil || f.fd != fd {
		t.Fatalf("second read: %v, fd %d then %d", err, fd, f.fd)
	}
	if string(b1) == string(b2) {
		t.Errorf("held-open /proc/uptime did not change: %q", b1)
	}
	f.close()

	dir := t.TempDir()
	p := filepath.Join(dir, "loadavg")
	writeFile(t, p, "1 2 3 1/2 3\n")
	g := newKfile(p)
	if b, err := g.read(nil); err != nil || string(b) != "1 2 3 1/2 3\n" || g.fd >= 0 {
		t.Fatalf("regular file: %q %v fd %d", b, err, g.fd)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := g.read(nil); !os.IsNotExist(err) {
		t.Errorf("removed file read: %v", err)
	}
	if !g.changed() {
		t.Error("a file not held open must always count as changed")
	}

	// /sys attributes too, and a read error that is the attribute's answer (no
	// speed on lo) keeps the file.
	if _, err := os.Stat("/sys/class/net/lo/speed"); err == nil {
		s := newKfile("/sys/class/net/lo/speed")
		if _, err := s.read(nil); err != nil && !keepOnError(err) {
			t.Errorf("lo speed: %v", err)
		}
		s.close()
	}
}

// TestMountsReadOnlyOnChange: the held-open mount table is re-read only when the
// kernel reports a change.
func TestMountsReadOnlyOnChange(t *testing.T) {
	if _, err := os.Stat("/proc/mounts"); err != nil {
		t.Skip("no /proc")
	}
	s := &fsSource{file: newKfile("/proc/mounts"), rootFS: "/"}
	defer s.file.close()
	if err := s.read(); err != nil {
		t.Fatal(err)
	}
	if s.file.fd < 0 {
		t.Skip("/proc/mounts is not on procfs here")
	}
	s.mounts = append(s.mounts, mount{id: 999}) // a marker a re-read would drop
	if err := s.read(); err != nil {
		t.Fatal(err)
	}
	if s.mounts[len(s.mounts)-1].id != 999 {
		t.Error("unchanged mount table was read again")
	}
}
