package metrics

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/protocol"
)

// The "ipclimits" source: the System V IPC limits and usage totals (ipc.shm.max_*,
// ipc.shm.tot, ipc.msg.sz_pool, ipc.sem.used_sem, ...), which the kernel gives only
// through shmctl, msgctl and semctl with IPC_INFO (limits) and SHM_INFO, MSG_INFO,
// SEM_INFO (usage), the calls the linux agent makes. Several of these (the message
// pool size, the segment size) are kernel constants no /proc file shows.
//
// The calls answer for the running kernel's IPC namespace, not for a /proc tree: a
// collector pointed at another tree (a test fixture, a copied /proc) serves no
// value rather than mix two systems. The metrics are 32-bit, as the linux agent
// declares them; a value that does not fit (shmmax and shmall are "unlimited",
// near 2^64, on current kernels) is absent rather than truncated to a wrong number.

const (
	ipcInfoCmd = 3 // IPC_INFO
	msgInfoCmd = 12
	shmInfoCmd = 14
	semInfoCmd = 19
)

// ipcGroup is one system call.
const (
	ipcShmLimits = iota
	ipcShmInfo
	ipcMsgLimits
	ipcMsgInfo
	ipcSemLimits
	ipcSemInfo
	ipcGroups
)

type ipcLimit struct {
	name  string
	item  protocol.PMID
	sem   int32
	units protocol.Units
	group int
	field int // index into the call's decoded fields
	what  string
	long  string
}

// The decoded fields of each call, in the order of the kernel's structures:
// shminfo64 {shmmax, shmmin, shmmni, shmseg, shmall}; shm_info {used_ids, shm_tot,
// shm_rss, shm_swp, swap_attempts, swap_successes}; msginfo {msgpool, msgmap,
// msgmax, msgmnb, msgmni, msgssz, msgtql, msgseg}; seminfo {semmap, semmni, semmns,
// semmnu, semmsl, semopm, semume, semusz, semvmx, semaem}.
var ipcLimits = []ipcLimit{
	{"ipc.sem.max_semmap", pmid(60, 21, 0), semD, uNone, ipcSemLimits, 0, "entries in the semaphore map", "semmap of semctl(2) with IPC_INFO."},
	{"ipc.sem.max_semid", pmid(60, 21, 1), semD, uNone, ipcSemLimits, 1, "most semaphore sets the system allows", "semmni of semctl(2) with IPC_INFO: the fourth field of /proc/sys/kernel/sem."},
	{"ipc.sem.max_sem", pmid(60, 21, 2), semD, uNone, ipcSemLimits, 2, "most semaphores the system allows", "semmns of semctl(2) with IPC_INFO: the second field of /proc/sys/kernel/sem."},
	{"ipc.sem.num_undo", pmid(60, 21, 3), semD, uNone, ipcSemLimits, 3, "undo structures the system allows", "semmnu of semctl(2) with IPC_INFO."},
	{"ipc.sem.max_perid", pmid(60, 21, 4), semD, uNone, ipcSemLimits, 4, "most semaphores in one set", "semmsl of semctl(2) with IPC_INFO: the first field of /proc/sys/kernel/sem."},
	{"ipc.sem.max_ops", pmid(60, 21, 5), semD, uNone, ipcSemLimits, 5, "most operations in one semop call", "semopm of semctl(2) with IPC_INFO: the third field of /proc/sys/kernel/sem."},
	{"ipc.sem.max_undoent", pmid(60, 21, 6), semD, uNone, ipcSemLimits, 6, "most undo entries per process", "semume of semctl(2) with IPC_INFO."},
	{"ipc.sem.sz_semundo", pmid(60, 21, 7), semD, uNone, ipcSemLimits, 7, "size of a semaphore undo structure", "semusz of semctl(2) with IPC_INFO, a kernel constant."},
	{"ipc.sem.max_semval", pmid(60, 21, 8), semD, uNone, ipcSemLimits, 8, "largest value a semaphore may hold", "semvmx of semctl(2) with IPC_INFO."},
	{"ipc.sem.max_exit", pmid(60, 21, 9), semD, uNone, ipcSemLimits, 9, "largest adjustment applied at process exit", "semaem of semctl(2) with IPC_INFO."},
	{"ipc.sem.used_sem", pmid(60, 61, 0), semI, uNone, ipcSemInfo, 7, "semaphore sets in use", "semusz of semctl(2) with SEM_INFO, which the kernel fills with the count of sets."},
	{"ipc.sem.tot_sem", pmid(60, 61, 1), semI, uNone, ipcSemInfo, 9, "semaphores in use in all sets", "semaem of semctl(2) with SEM_INFO, which the kernel fills with the count of\nsemaphores."},
	{"ipc.msg.sz_pool", pmid(60, 22, 0), semD, uKB, ipcMsgLimits, 0, "size of the message pool", "msgpool of msgctl(2) with IPC_INFO, in kilobytes."},
	{"ipc.msg.mapent", pmid(60, 22, 1), semD, uNone, ipcMsgLimits, 1, "entries in the message map", "msgmap of msgctl(2) with IPC_INFO."},
	{"ipc.msg.max_msgsz", pmid(60, 22, 2), semD, uNone, ipcMsgLimits, 2, "largest message, in bytes", "msgmax of msgctl(2) with IPC_INFO: /proc/sys/kernel/msgmax."},
	{"ipc.msg.max_defmsgq", pmid(60, 22, 3), semD, uNone, ipcMsgLimits, 3, "default largest queue, in bytes", "msgmnb of msgctl(2) with IPC_INFO: /proc/sys/kernel/msgmnb."},
	{"ipc.msg.max_msgqid", pmid(60, 22, 4), semD, uNone, ipcMsgLimits, 4, "most message queues the system allows", "msgmni of msgctl(2) with IPC_INFO: /proc/sys/kernel/msgmni."},
	{"ipc.msg.max_msgseg", pmid(60, 22, 5), semD, uNone, ipcMsgLimits, 5, "size of a message segment", "msgssz of msgctl(2) with IPC_INFO, a kernel constant."},
	{"ipc.msg.num_smsghdr", pmid(60, 22, 6), semD, uNone, ipcMsgLimits, 6, "message headers the system allows", "msgtql of msgctl(2) with IPC_INFO."},
	{"ipc.msg.max_seg", pmid(60, 22, 7), semD, uNone, ipcMsgLimits, 7, "most message segments", "msgseg of msgctl(2) with IPC_INFO, a kernel constant."},
	{"ipc.msg.used_queues", pmid(60, 62, 0), semI, uNone, ipcMsgInfo, 0, "message queues in use", "msgpool of msgctl(2) with MSG_INFO, which the kernel fills with the count of queues."},
	{"ipc.msg.tot_msg", pmid(60, 62, 1), semI, uNone, ipcMsgInfo, 1, "messages queued on all queues", "msgmap of msgctl(2) with MSG_INFO, which the kernel fills with the count of\nmessages."},
	{"ipc.msg.tot_bytes", pmid(60, 62, 2), semI, uByte, ipcMsgInfo, 6, "bytes queued on all queues", "msgtql of msgctl(2) with MSG_INFO, which the kernel fills with the bytes queued."},
	{"ipc.shm.max_segsz", pmid(60, 23, 0), semD, uByte, ipcShmLimits, 0, "largest shared memory segment", "shmmax of shmctl(2) with IPC_INFO: /proc/sys/kernel/shmmax, in bytes. No value when\nit is above 4 GiB - 1 (the default, \"unlimited\"), which the 32-bit metric\ncannot hold."},
	{"ipc.shm.min_segsz", pmid(60, 23, 1), semD, uByte, ipcShmLimits, 1, "smallest shared memory segment", "shmmin of shmctl(2) with IPC_INFO, in bytes."},
	{"ipc.shm.max_seg", pmid(60, 23, 2), semD, uNone, ipcShmLimits, 2, "most shared memory segments the system allows", "shmmni of shmctl(2) with IPC_INFO: /proc/sys/kernel/shmmni."},
	{"ipc.shm.max_segproc", pmid(60, 23, 3), semD, uNone, ipcShmLimits, 3, "most shared memory segments per process", "shmseg of shmctl(2) with IPC_INFO."},
	{"ipc.shm.max_shmsys", pmid(60, 23, 4), semD, uNone, ipcShmLimits, 4, "most shared memory pages the system allows", "shmall of shmctl(2) with IPC_INFO: /proc/sys/kernel/shmall, in pages. No value when\nit is above 2^32 - 1 (the default, \"unlimited\")."},
	{"ipc.shm.tot", pmid(60, 56, 0), semI, uByte, ipcShmInfo, 1, "shared memory allocated", "shm_tot of shmctl(2) with SHM_INFO, pages turned into bytes; no value above\n4 GiB - 1, which the 32-bit metric cannot hold."},
	{"ipc.shm.rss", pmid(60, 56, 1), semI, uByte, ipcShmInfo, 2, "shared memory resident", "shm_rss of shmctl(2) with SHM_INFO, pages turned into bytes; no value above\n4 GiB - 1."},
	{"ipc.shm.swp", pmid(60, 56, 2), semI, uByte, ipcShmInfo, 3, "shared memory swapped out", "shm_swp of shmctl(2) with SHM_INFO, pages turned into bytes; no value above\n4 GiB - 1."},
	{"ipc.shm.used_ids", pmid(60, 56, 3), semI, uNone, ipcShmInfo, 0, "shared memory segments in use", "used_ids of shmctl(2) with SHM_INFO."},
	{"ipc.shm.swap_attempts", pmid(60, 56, 4), semI, uNone, ipcShmInfo, 4, "shared memory swap attempts", "swap_attempts of shmctl(2) with SHM_INFO (always 0 on current kernels)."},
	{"ipc.shm.swap_successes", pmid(60, 56, 5), semI, uNone, ipcShmInfo, 5, "shared memory swap successes", "swap_successes of shmctl(2) with SHM_INFO (always 0 on current kernels)."},
}

func init() {
	defs := make([]metricDef, len(ipcLimits))
	for i, l := range ipcLimits {
		defs[i] = metricDef{l.name, l.item, tU32, null, l.sem, l.units, i}
	}
	registerSource(&sourceSpec{
		name:   "ipclimits",
		domain: DomainLinux,
		new: func(e *env) Source {
			s := &ipcLimitsSource{pageSize: uint64(e.pageSize)}
			if e.procRoot == "/proc" {
				s.call = ipcSyscall
			}
			return s
		},
		metrics: defs,
		help: func(d metricDef) helpText {
			if d.sel < 0 || d.sel >= len(ipcLimits) {
				return helpText{}
			}
			return helpText{ipcLimits[d.sel].what, ipcLimits[d.sel].long}
		},
	})
}

type ipcLimitsSource struct {
	// call makes one of the six calls and decodes its structure; nil when the
	// collector does not read the live /proc.
	call     func(group int) ([]uint64, error)
	pageSize uint64
}

func (s *ipcLimitsSource) Fetch(reqs []Request) error {
	if s.call == nil {
		return nil // not the live /proc: no values, and nothing failed
	}
	var vals [ipcGroups][]uint64
	var errs [ipcGroups]error
	var done [ipcGroups]bool
	failed, asked := 0, 0
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= len(ipcLimits) {
			continue
		}
		g := ipcLimits[rq.Sel].group
		if !done[g] {
			done[g] = true
			asked++
			if vals[g], errs[g] = s.call(g); errs[g] != nil {
				failed++
			}
		}
	}
	if asked > 0 && failed == asked {
		return errors.Join(errs[:]...)
	}
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= len(ipcLimits) {
			continue
		}
		l := ipcLimits[rq.Sel]
		if errs[l.group] != nil {
			rq.Res.Err = errCode(errs[l.group])
			continue
		}
		if l.field >= len(vals[l.group]) {
			continue
		}
		v := vals[l.group][l.field]
		if l.group == ipcShmInfo && l.field >= 1 && l.field <= 3 {
			if s.pageSize == 0 || v > (1<<32-1)/s.pageSize {
				continue // does not fit
			}
			v *= s.pageSize
		}
		if v <= 1<<32-1 {
			putU(rq.Res, protocol.InNull, v)
		}
	}
	return nil
}

// ipcSyscall makes call g and decodes the kernel's structure (the 64-bit layouts:
// shminfo64 and shm_info have unsigned longs, msginfo and seminfo ints).
func ipcSyscall(g int) ([]uint64, error) {
	var buf [16]uint64 // larger than any of the four structures
	p := uintptr(unsafe.Pointer(&buf[0]))
	var err error
	switch g {
	case ipcShmLimits, ipcShmInfo:
		cmd := uintptr(ipcInfoCmd)
		if g == ipcShmInfo {
			cmd = shmInfoCmd
		}
		if _, _, e := unix.Syscall(unix.SYS_SHMCTL, 0, cmd, p); e != 0 {
			err = e
		}
	case ipcMsgLimits, ipcMsgInfo:
		cmd := uintptr(ipcInfoCmd)
		if g == ipcMsgInfo {
			cmd = msgInfoCmd
		}
		if _, _, e := unix.Syscall(unix.SYS_MSGCTL, 0, cmd, p); e != 0 {
			err = e
		}
	default:
		cmd := uintptr(ipcInfoCmd)
		if g == ipcSemInfo {
			cmd = semInfoCmd
		}
		if _, _, e := unix.Syscall6(unix.SYS_SEMCTL, 0, 0, cmd, p, 0, 0); e != 0 {
			err = e
		}
	}
	if err != nil {
		return nil, err
	}
	return decodeIPCInfo(g, unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)), nil
}

// decodeIPCInfo reads the fields of call g's structure from its bytes in host
// (little-endian on the 64-bit platforms served) order. Negative ints, which no
// kernel reports, are dropped to the largest value so they fail the 32-bit check.
func decodeIPCInfo(g int, b []byte) []uint64 {
	u64 := func(i int) uint64 { return *(*uint64)(unsafe.Pointer(&b[i*8])) }
	i32 := func(i int) uint64 {
		v := *(*int32)(unsafe.Pointer(&b[i*4]))
		if v < 0 {
			return 1<<64 - 1
		}
		return uint64(v)
	}
	switch g {
	case ipcShmLimits:
		return []uint64{u64(0), u64(1), u64(2), u64(3), u64(4)}
	case ipcShmInfo:
		// int used_ids, then (after padding) five unsigned longs
		return []uint64{i32(0), u64(1), u64(2), u64(3), u64(4), u64(5)}
	case ipcMsgLimits, ipcMsgInfo:
		out := make([]uint64, 8)
		for i := 0; i < 7; i++ {
			out[i] = i32(i)
		}
		out[7] = uint64(*(*uint16)(unsafe.Pointer(&b[28])))
		return out
	default:
		out := make([]uint64, 10)
		for i := range out {
			out[i] = i32(i)
		}
		return out
	}
}
