package metrics

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// valuesByInst renders a result as "inst=value" pairs, instance names resolved.
func valuesByInst(t *testing.T, r *Registry, name string, res Result) map[string]string {
	t.Helper()
	m, _ := r.ByName(name)
	names := map[uint32]string{}
	if m.Desc.InDom != protocol.InDomNull {
		insts, err := r.Instances(m.Desc.InDom)
		if err != nil {
			t.Fatalf("%s: Instances: %v", name, err)
		}
		for _, in := range insts {
			names[in.ID] = in.Name
		}
	}
	out := map[string]string{}
	for _, v := range res.Values {
		k := names[v.Inst]
		switch m.Desc.Type {
		case protocol.TypeString:
			out[k] = strconv.Quote(v.S)
		case protocol.TypeFloat, protocol.TypeDouble:
			out[k] = strconv.FormatFloat(v.F, 'g', -1, 64)
		default:
			out[k] = strconv.FormatUint(v.U, 10)
		}
	}
	return out
}

func checkInstValues(t *testing.T, r *Registry, want map[string]map[string]string) {
	t.Helper()
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	res := fetchByName(t, r, names...)
	for n, w := range want {
		got := valuesByInst(t, r, n, res[n])
		if res[n].Err != 0 || len(got) != len(w) {
			t.Errorf("%s: err %d, %v; want %v", n, res[n].Err, got, w)
			continue
		}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("%s[%s] = %s, want %s", n, k, got[k], v)
			}
		}
	}
}

// TestSysvIPCFixture checks every table metric against the fixture's
// /proc/sysvipc files: keys in hex, owners by name (or number), perms as octal
// digits, the dest/locked status bits, a 16 GiB segment absent from the 32-bit size.
func TestSysvIPCFixture(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	checkInstValues(t, r, map[string]map[string]string{
		"ipc.shm.key":             {"0": `"0x81131c58"`, "32769": `"0x00000000"`, "65538": `"0x00bc614e"`},
		"ipc.shm.owner":           {"0": `"root"`, "32769": `"me"`, "65538": `"4242"`},
		"ipc.shm.perms":           {"0": "640", "32769": "600", "65538": "600"},
		"ipc.shm.segsz":           {"0": "8192", "32769": "1048576"},
		"ipc.shm.nattch":          {"0": "0", "32769": "2", "65538": "1"},
		"ipc.shm.status":          {"0": `""`, "32769": `"dest locked"`, "65538": `""`},
		"ipc.shm.creator_pid":     {"0": "20445", "32769": "1201", "65538": "900"},
		"ipc.shm.last_access_pid": {"0": "0", "32769": "1388", "65538": "901"},
		"ipc.msg.key":             {"0": `"0x0bc89eee"`},
		"ipc.msg.owner":           {"0": `"root"`},
		"ipc.msg.perms":           {"0": "644"},
		"ipc.msg.msgsz":           {"0": "120"},
		"ipc.msg.messages":        {"0": "3"},
		"ipc.msg.last_send_pid":   {"0": "3001"},
		"ipc.msg.last_recv_pid":   {"0": "3002"},
		"ipc.sem.key":             {"0": `"0xe8dfa8cb"`, "7": `"0x00000001"`},
		"ipc.sem.owner":           {"0": `"root"`, "7": `"me"`},
		"ipc.sem.perms":           {"0": "644", "7": "666"},
		"ipc.sem.nsems":           {"0": "3", "7": "250"},
	})
	// Not the live /proc: the limits from system calls have no value, and no error.
	res := fetchByName(t, r, "ipc.shm.max_seg", "ipc.msg.tot_msg")
	for n, v := range res {
		if v.Err != 0 || len(v.Values) != 0 {
			t.Errorf("%s on a fixture tree: %+v, want no value", n, v)
		}
	}
	for name, n := range r.SourceErrors() {
		if n != 0 {
			t.Errorf("source %s: %d errors", name, n)
		}
	}
}

// TestSysvIPCHostile: a broken table fails its own metrics with a counted error,
// never serves a value from the wrong column, and leaves the other tables alone.
func TestSysvIPCHostile(t *testing.T) {
	const hdr = "key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime rss swap\n"
	for _, tc := range []struct{ name, shm string }{
		{"garbage", "\x00\x01\x02 garbage"},
		{"truncated line", hdr + "0 1 644 4096\n"},
		{"perms not octal", hdr + "0 1 999 4096 1 2 0 0 0 0 0 0 0 0 0 0\n"},
		{"huge id", hdr + "0 99999999999 644 4096 1 2 0 0 0 0 0 0 0 0 0 0\n"},
		{"number too big", hdr + "0 1 644 999999999999999999999999 1 2 0 0 0 0 0 0 0 0 0 0\n"},
		{"negative size", hdr + "0 1 644 -4096 1 2 0 0 0 0 0 0 0 0 0 0\n"},
		{"key too big", hdr + "4294967296 1 644 4096 1 2 0 0 0 0 0 0 0 0 0 0\n"},
		{"missing", ""},
	} {
		dir := copyTree(t, fixtureDir)
		p := filepath.Join(dir, "proc/sysvipc/shm")
		if tc.name == "missing" {
			os.Remove(p)
		} else {
			writeFile(t, p, tc.shm)
		}
		r := newFixtureRegistry(t, dir)
		res := fetchByName(t, r, "ipc.shm.segsz", "ipc.shm.key", "ipc.msg.messages")
		for _, n := range []string{"ipc.shm.segsz", "ipc.shm.key"} {
			if res[n].Err == 0 || len(res[n].Values) != 0 {
				t.Errorf("%s: %s = %+v, want an error", tc.name, n, res[n])
			}
		}
		if m := res["ipc.msg.messages"]; m.Err != 0 || len(m.Values) != 1 || m.Values[0].U != 3 {
			t.Errorf("%s: ipc.msg.messages = %+v, want 3 from the intact msg table", tc.name, m)
		}
		if r.SourceErrors()["sysvipc"] == 0 {
			t.Errorf("%s: no source error counted", tc.name)
		}
		if _, err := r.Instances(indomIPCShm); err == nil {
			t.Errorf("%s: instances of a broken table", tc.name)
		}
	}
	// Everything missing (a kernel without System V IPC): errors, never zeros.
	dir := copyTree(t, fixtureDir)
	os.RemoveAll(filepath.Join(dir, "proc/sysvipc"))
	r := newFixtureRegistry(t, dir)
	if res := fetchByName(t, r, "ipc.sem.nsems"); res["ipc.sem.nsems"].Err == 0 {
		t.Errorf("no /proc/sysvipc: %+v", res)
	}
}

// TestSysvIPCStableIDs: an instance keeps its id when others come and go.
func TestSysvIPCStableIDs(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	r := newFixtureRegistry(t, dir)
	before, err := r.Instances(indomIPCSem)
	if err != nil || len(before) != 2 {
		t.Fatalf("%v %v", before, err)
	}
	writeFile(t, filepath.Join(dir, "proc/sysvipc/sem"), "key semid perms nsems uid gid cuid cgid otime ctime\n1 7 666 250 1000 1000 1000 1000 0 0\n")
	after, err := r.Instances(indomIPCSem)
	if err != nil || len(after) != 1 || after[0] != before[1] {
		t.Errorf("after removing semid 0: %v (was %v)", after, before)
	}
}

// TestIPCLimitsLive makes the real system calls and compares the limits the
// kernel also shows in /proc/sys/kernel, and the usage with /proc/sysvipc.
func TestIPCLimitsLive(t *testing.T) {
	sem, err := os.ReadFile("/proc/sys/kernel/sem")
	if err != nil {
		t.Skip("no /proc/sys/kernel/sem: no System V IPC here")
	}
	s := &ipcLimitsSource{call: ipcSyscall, pageSize: uint64(os.Getpagesize())}
	want := map[string]string{}
	f := strings.Fields(string(sem))
	want["ipc.sem.max_perid"], want["ipc.sem.max_sem"], want["ipc.sem.max_ops"], want["ipc.sem.max_semid"] = f[0], f[1], f[2], f[3]
	for n, file := range map[string]string{"ipc.shm.max_seg": "shmmni", "ipc.msg.max_msgsz": "msgmax", "ipc.msg.max_defmsgq": "msgmnb", "ipc.msg.max_msgqid": "msgmni"} {
		b, err := os.ReadFile("/proc/sys/kernel/" + file)
		if err != nil {
			t.Fatal(err)
		}
		want[n] = strings.TrimSpace(string(b))
	}
	reqs := make([]Request, len(ipcLimits))
	res := make([]Result, len(ipcLimits))
	for i := range reqs {
		reqs[i] = Request{Sel: i, Res: &res[i]}
	}
	if err := s.Fetch(reqs); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for i, l := range ipcLimits {
		if len(res[i].Values) == 1 {
			got[l.name] = strconv.FormatUint(res[i].Values[0].U, 10)
		}
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s = %q, /proc/sys/kernel says %q", n, got[n], w)
		}
	}
	// Constants every Linux kernel reports.
	if got["ipc.msg.max_msgseg"] != "16" || got["ipc.sem.sz_semundo"] != "20" {
		t.Errorf("msgssz %q semusz %q, want 16 and 20", got["ipc.msg.max_msgseg"], got["ipc.sem.sz_semundo"])
	}
	b, _ := os.ReadFile("/proc/sysvipc/shm")
	if segs := strings.Count(string(b), "\n") - 1; segs >= 0 && got["ipc.shm.used_ids"] != strconv.Itoa(segs) {
		t.Logf("ipc.shm.used_ids %q, /proc/sysvipc/shm has %d lines (may race with other processes)", got["ipc.shm.used_ids"], segs)
	}
}

// TestDecodeIPCInfo checks the structure layouts with hand-made bytes, including
// an "unlimited" shmmax that must not be truncated into a wrong 32-bit value.
func TestDecodeIPCInfo(t *testing.T) {
	b := make([]byte, 128)
	put64 := func(i int, v uint64) {
		for k := 0; k < 8; k++ {
			b[i*8+k] = byte(v >> (8 * k))
		}
	}
	put64(0, 1<<64-1-1<<24)
	put64(1, 1)
	put64(2, 4096)
	s := &ipcLimitsSource{pageSize: 4096, call: func(g int) ([]uint64, error) {
		if g == ipcShmInfo {
			return []uint64{2, 1 << 20, 3, 0, 0, 0}, nil // shm_tot of 4 GiB: does not fit
		}
		return decodeIPCInfo(g, b), nil
	}}
	res := make([]Result, 4)
	reqs := []Request{}
	for i, n := range []string{"ipc.shm.max_segsz", "ipc.shm.max_seg", "ipc.shm.tot", "ipc.shm.rss"} {
		for sel, l := range ipcLimits {
			if l.name == n {
				reqs = append(reqs, Request{Sel: sel, Res: &res[i]})
			}
		}
	}
	if err := s.Fetch(reqs); err != nil {
		t.Fatal(err)
	}
	if len(res[0].Values) != 0 || len(res[1].Values) != 1 || res[1].Values[0].U != 4096 ||
		len(res[2].Values) != 0 || len(res[3].Values) != 1 || res[3].Values[0].U != 3*4096 {
		t.Errorf("decoded %+v", res)
	}
}
