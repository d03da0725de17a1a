package server

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// TestRealBlockIPCValues: the values of the System V IPC limits, the tmpfs sizes,
// the zram devices, the tape and Fibre Channel counts and the disk schedulers,
// which stay put while the test runs, are those the real pmcd serves on this
// machine, instance by instance name; the NFS procedure domains have the same
// names. Where the kernel's shmmax or shmall does not fit the 32-bit metric, the
// real agent serves it truncated and collectord serves no value: that is checked
// too.
func TestRealBlockIPCValues(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo)
	realPort := pcptest.StartPMCD(t, "")
	_, addr, _ := startServer(t, nil)
	realAddr := "127.0.0.1:" + strconv.Itoa(realPort)
	sameValues(t, realAddr, addr,
		"ipc.sem.max_semmap", "ipc.sem.max_semid", "ipc.sem.max_sem", "ipc.sem.num_undo", "ipc.sem.max_perid",
		"ipc.sem.max_ops", "ipc.sem.max_undoent", "ipc.sem.sz_semundo", "ipc.sem.max_semval", "ipc.sem.max_exit",
		"ipc.msg.sz_pool", "ipc.msg.mapent", "ipc.msg.max_msgsz", "ipc.msg.max_defmsgq", "ipc.msg.max_msgqid",
		"ipc.msg.max_msgseg", "ipc.msg.num_smsghdr", "ipc.msg.max_seg", "ipc.shm.min_segsz", "ipc.shm.max_seg",
		"ipc.shm.max_segproc", "tmpfs.capacity", "tmpfs.maxfiles", "hinv.ntape", "hinv.nfchost",
		"disk.dev.scheduler", "zram.capacity", "zram.mm_stat.mem.limit", "nfs3.client.calls", "rpc.server.rpccnt")
	for _, c := range []struct{ metric, file string }{{"ipc.shm.max_segsz", "shmmax"}, {"ipc.shm.max_shmsys", "shmall"}} {
		b, err := os.ReadFile("/proc/sys/kernel/" + c.file)
		if err != nil {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatalf("/proc/sys/kernel/%s: %q", c.file, b)
		}
		out, _, _ := runTool(t, pcptest.PMInfo, "-h", addr, "-f", c.metric)
		got, none := instValues(out)
		if v > 1<<32-1 && !none || v <= 1<<32-1 && got[""] != strconv.FormatUint(v, 10) {
			t.Errorf("%s: kernel %d, ours %v", c.metric, v, got)
		}
	}
	for _, name := range []string{"nfs.client.reqs", "nfs3.server.reqs", "nfs4.client.reqs", "nfs4.server.reqs"} {
		list := func(a string) string {
			out, _, _ := runTool(t, pcptest.PMInfo, "-h", a, "-l", name)
			var n []string
			for _, l := range strings.Split(out, "\n") {
				if i := strings.Index(l, `inst [`); i >= 0 {
					n = append(n, l[i:strings.Index(l, "]")+1])
				}
			}
			sort.Strings(n)
			return strings.Join(n, " ")
		}
		if got, want := list(addr), list(realAddr); got != want || got == "" {
			t.Errorf("%s instances:\n ours: %s\n real: %s", name, got, want)
		}
	}
}
