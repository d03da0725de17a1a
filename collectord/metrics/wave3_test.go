package metrics

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// wantValues checks one metric's result: code is its error (0 for none), and vals its
// values by instance (nil: no values at all).
func wantValues(t *testing.T, what string, res Result, code int32, vals map[uint32]uint64) {
	t.Helper()
	if res.Err != code {
		t.Errorf("%s: error %d, want %d (%+v)", what, res.Err, code, res)
		return
	}
	if len(res.Values) != len(vals) {
		t.Errorf("%s: %+v, want %v", what, res.Values, vals)
		return
	}
	for _, v := range res.Values {
		if w, ok := vals[v.Inst]; !ok || w != v.U {
			t.Errorf("%s: %+v, want %v", what, res.Values, vals)
		}
	}
}

func one(v uint64) map[uint32]uint64 { return map[uint32]uint64{protocol.InNull: v} }

// TestSnmp6Hostile: /proc/net/snmp6 lines that are not a name and a count, or a name
// given twice, fail the source (counted) instead of serving a value from the wrong
// line; a missing file (no IPv6) gives no values and no error.
func TestSnmp6Hostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/net/snmp6")
	r := newFixtureRegistry(t, dir)
	for _, bad := range []string{
		"Ip6InReceives x\n",
		"Ip6InReceives 1 2\n",
		"Ip6InReceives\n",
		"Ip6InReceives 1\nIp6InReceives 2\n",
		"Ip6InReceives 99999999999999999999999\n",
		"",
		"\x00\x01\x1b[31m 5\n",
	} {
		writeFile(t, path, bad)
		before := r.SourceErrors()["snmp6"]
		res := fetchByName(t, r, "network.ip6.inreceives")["network.ip6.inreceives"]
		wantValues(t, "snmp6 "+bad, res, protocol.ErrValue, nil)
		if r.SourceErrors()["snmp6"] != before+1 {
			t.Errorf("%q: not counted as a source error", bad)
		}
	}
	writeFile(t, path, "Ip6InReceives 5\nIp6SomethingNew 7\n\nUdp6InDatagrams 18446744073709551615\n")
	res := fetchByName(t, r, "network.ip6.inreceives", "network.ip6.indelivers", "network.udp6.indatagrams")
	wantValues(t, "inreceives", res["network.ip6.inreceives"], 0, one(5))
	wantValues(t, "indelivers (not printed)", res["network.ip6.indelivers"], 0, nil)
	wantValues(t, "udp6.indatagrams", res["network.udp6.indatagrams"], 0, one(1<<64-1))
	os.Remove(path)
	wantValues(t, "no IPv6", fetchByName(t, r, "network.ip6.inreceives")["network.ip6.inreceives"], 0, nil)
}

// TestSockstatHostile: a line that is not "PROTO: name count ..." fails the source; a
// missing sockstat6 leaves the IPv6 counts without values and the IPv4 ones intact;
// sockstat6 is not read for IPv4 counts; counts beyond the 32-bit type are absent.
func TestSockstatHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/net/sockstat")
	r := newFixtureRegistry(t, dir)
	for _, bad := range []string{
		"TCP: inuse x\n",
		"TCP: inuse\n",
		"garbage without colon\n",
		"",
		"TCP: inuse 5 \x1b]0;title\x07 3\n",
	} {
		writeFile(t, path, bad)
		before := r.SourceErrors()["sockstat"]
		res := fetchByName(t, r, "network.sockstat.tcp.inuse")["network.sockstat.tcp.inuse"]
		wantValues(t, "sockstat "+bad, res, protocol.ErrValue, nil)
		if r.SourceErrors()["sockstat"] != before+1 {
			t.Errorf("%q: not counted as a source error", bad)
		}
	}
	writeFile(t, path, "sockets: used 4294967296\nTCP: inuse 5 tw 2\nNEWPROTO: inuse 9\n")
	writeFile(t, filepath.Join(dir, "proc/net/sockstat6"), "not: a valid file\n")
	res := fetchByName(t, r, "network.sockstat.total", "network.sockstat.tcp.inuse", "network.sockstat.tcp.tw",
		"network.sockstat.tcp.orphan", "network.sockstat.udp.inuse")
	wantValues(t, "total beyond 32 bits", res["network.sockstat.total"], 0, nil)
	wantValues(t, "tcp.inuse", res["network.sockstat.tcp.inuse"], 0, one(5))
	wantValues(t, "tcp.tw", res["network.sockstat.tcp.tw"], 0, one(2))
	wantValues(t, "tcp.orphan", res["network.sockstat.tcp.orphan"], 0, nil)
	wantValues(t, "udp.inuse", res["network.sockstat.udp.inuse"], 0, nil)
	os.Remove(filepath.Join(dir, "proc/net/sockstat6"))
	res = fetchByName(t, r, "network.sockstat.tcp.inuse", "network.sockstat.tcp6.inuse")
	wantValues(t, "tcp.inuse beside a missing sockstat6", res["network.sockstat.tcp.inuse"], 0, one(5))
	wantValues(t, "tcp6.inuse without sockstat6", res["network.sockstat.tcp6.inuse"], 0, nil)
}

// TestSwapsHostile: a short line, sizes that are not numbers or used beyond size fail
// the source; sizes beyond the 32-bit type are absent; names keep the kernel's
// escaping; an instance keeps its id when another area goes away.
func TestSwapsHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/swaps")
	r := newFixtureRegistry(t, dir)
	const head = "Filename Type Size Used Priority\n"
	for _, bad := range []string{
		head + "/dev/sda2 partition 100\n",
		head + "/dev/sda2 partition x 0 -2\n",
		head + "/dev/sda2 partition 100 200 -2\n",
		head + "/dev/sda2 partition -100 0 -2\n",
	} {
		writeFile(t, path, bad)
		res := fetchByName(t, r, "swapdev.length")["swapdev.length"]
		wantValues(t, "swaps "+bad, res, protocol.ErrValue, nil)
	}
	writeFile(t, path, head)
	wantValues(t, "no swap", fetchByName(t, r, "swapdev.free")["swapdev.free"], 0, nil)
	writeFile(t, path, head+"/a partition 10 4 -2\n/b\\012x file 8589934592 0 3000000000\n")
	res := fetchByName(t, r, "swapdev.free", "swapdev.length", "swapdev.priority", "swapdev.vlength")
	a, b := uint32(0), uint32(1)
	wantValues(t, "free", res["swapdev.free"], 0, map[uint32]uint64{a: 6})
	wantValues(t, "length", res["swapdev.length"], 0, map[uint32]uint64{a: 10})
	wantValues(t, "priority", res["swapdev.priority"], 0, map[uint32]uint64{a: uint64(1<<64 - 2)})
	wantValues(t, "vlength", res["swapdev.vlength"], 0, nil)
	insts, err := r.Instances(indomSwapDev)
	if err != nil || len(insts) != 2 || insts[1] != (Instance{ID: b, Name: `/b\012x`}) {
		t.Errorf("instances %+v %v", insts, err)
	}
	writeFile(t, path, head+"/b\\012x file 8 0 1\n")
	res = fetchByName(t, r, "swapdev.length")
	wantValues(t, "id kept", res["swapdev.length"], 0, map[uint32]uint64{b: 8})
}

// TestSmallFilesHostile: a field that is not a number, or beyond the metric's type,
// has no value; a missing file has no values; a file that cannot be read fails only
// the metrics it feeds, with its errno, not the others of the source.
func TestSmallFilesHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	r := newFixtureRegistry(t, dir)
	fs := filepath.Join(dir, "proc/sys/fs")
	writeFile(t, filepath.Join(fs, "file-nr"), "12 x 2147483648\n")
	os.Remove(filepath.Join(fs, "aio-nr"))
	os.Remove(filepath.Join(fs, "inode-state"))
	if err := os.Mkdir(filepath.Join(fs, "inode-state"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "proc/sys/kernel/pid_max"), "\x1b[2J\n")
	res := fetchByName(t, r, "vfs.files.count", "vfs.files.free", "vfs.files.max", "vfs.aio.count",
		"vfs.inodes.count", "vfs.inodes.free", "vfs.dentry.count", "kernel.all.pid_max", "kernel.all.nptys")
	wantValues(t, "files.count", res["vfs.files.count"], 0, one(12))
	wantValues(t, "files.free (not a number)", res["vfs.files.free"], 0, nil)
	wantValues(t, "files.max (beyond int32)", res["vfs.files.max"], 0, nil)
	wantValues(t, "aio.count (missing)", res["vfs.aio.count"], 0, nil)
	wantValues(t, "inodes.count (a directory)", res["vfs.inodes.count"], -21, nil) // -EISDIR
	wantValues(t, "inodes.free (a directory)", res["vfs.inodes.free"], -21, nil)
	wantValues(t, "dentry.count", res["vfs.dentry.count"], 0, one(120345))
	wantValues(t, "pid_max (garbage)", res["kernel.all.pid_max"], 0, nil)
	wantValues(t, "nptys", res["kernel.all.nptys"], 0, one(3))
	os.RemoveAll(filepath.Join(dir, "sys/kernel/mm/ksm"))
	wantValues(t, "no KSM", fetchByName(t, r, "mem.ksm.run_state")["mem.ksm.run_state"], 0, nil)
}

// TestReadOncePerFetchWave3: a fetch of every metric of the new sources reads each
// of their files once.
func TestReadOncePerFetchWave3(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	counts := map[string]int{}
	fileHook = func(p string) { counts[p]++ }
	defer func() { fileHook = nil }()
	r.Fetch(nil, allPMIDs(r))
	for _, f := range []string{"proc/net/snmp6", "proc/net/sockstat", "proc/net/sockstat6", "proc/swaps",
		"proc/sys/fs/file-nr", "proc/sys/kernel/random/entropy_avail", "sys/kernel/mm/ksm/run"} {
		if n := counts[filepath.Join(fixtureDir, f)]; n != 1 {
			t.Errorf("%s read %d times in one fetch", f, n)
		}
	}
}

// TestInstanceLabelsHostileNames: an interface or disk name holding quotes,
// backslashes or control characters still gives one valid label set (escaped), which
// the label encoder accepts with the name intact.
func TestInstanceLabelsHostileNames(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	for _, name := range []string{`a"b`, `x\y`, "esc\x1b[31m\x07", "tab\there", "ünï"} {
		for _, in := range []protocol.InDom{indomNetIf, indomDisk, indomIntrLine} {
			json := r.InstanceLabels(in, Instance{ID: 3, Name: name})
			set, err := protocol.NewLabelSet(3, json, uint8(protocol.LabelInstances))
			if err != nil || len(set.Labels) != 1 {
				t.Errorf("%v %q: %s: %v %+v", in, name, json, err, set)
			}
			for _, c := range []byte(json) {
				if c < 0x20 {
					t.Errorf("%v %q: control character left in %q", in, name, json)
				}
			}
		}
	}
	if got := r.InstanceLabels(indomCPU, Instance{ID: 7, Name: "cpu7"}); got != `{"cpu":7}` {
		t.Errorf("cpu label %s", got)
	}
	if got := r.InstanceLabels(indomLoad, Instance{ID: 1, Name: "1 minute"}); got != "" {
		t.Errorf("load average instance labelled %s", got)
	}
	for in, json := range indomLabels {
		if _, err := protocol.NewLabelSet(protocol.InNull, json, uint8(protocol.LabelInDom)); err != nil {
			t.Errorf("indom %v labels %s: %v", in, json, err)
		}
	}
}
