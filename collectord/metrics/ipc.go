package metrics

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// The "sysvipc" source: System V shared memory segments, message queues and
// semaphore sets, one line each in /proc/sysvipc/shm, msg and sem (ipc.shm.*,
// ipc.msg.*, ipc.sem.* with an instance domain). Each file is a header line, then
// white-space separated decimal columns, except perms, which the kernel prints in
// octal. The instances are the ids (shmid, msqid, semid) in decimal, as the linux
// agent names them. A fetch reads only the files its metrics come from; a line
// whose leading columns are not numbers fails that file rather than serve a value
// from the wrong column. procfs parses only shm and msg, and reads neither the
// semaphore table nor the lock bits of shm perms, so this parser is hand-written.

var (
	indomIPCShm = protocol.NewInDom(DomainLinux, 28)
	indomIPCMsg = protocol.NewInDom(DomainLinux, 29)
	indomIPCSem = protocol.NewInDom(DomainLinux, 30)
)

const (
	ipcShm = iota
	ipcMsg
	ipcSem
)

var ipcFiles = [3]string{"shm", "msg", "sem"}

// ipcCol says where a table metric's value comes from.
type ipcCol struct {
	name  string
	item  protocol.PMID
	table int
	typ   int32
	sem   int32
	units protocol.Units
	col   int // column of the line, or one of the derived columns below
	what  string
	long  string
}

// Derived columns.
const (
	colKey    = -1 // the key column as 0x%08x
	colOwner  = -2 // the uid column as a user name
	colPerms  = -3 // the low nine bits of perms, as octal digits read in decimal
	colStatus = -4 // the SHM_DEST and SHM_LOCKED bits of perms, as words
)

var ipcCols = []ipcCol{
	{"ipc.shm.key", pmid(60, 64, 0), ipcShm, tSTR, semD, uNone, colKey, "key of each shared memory segment",
		"The key column of /proc/sysvipc/shm, in hexadecimal (0x%08x)."},
	{"ipc.shm.owner", pmid(60, 64, 1), ipcShm, tSTR, semD, uNone, colOwner, "user owning each shared memory segment",
		"The uid column of /proc/sysvipc/shm, as the user name passwd gives it, or the\nnumber when passwd has no such user."},
	{"ipc.shm.perms", pmid(60, 64, 2), ipcShm, tU32, semI, uNone, colPerms, "access mode of each shared memory segment",
		"The read and write bits of the perms column of /proc/sysvipc/shm, written as\nthe octal digits read in decimal: mode 0640 gives 640."},
	{"ipc.shm.segsz", pmid(60, 64, 3), ipcShm, tU32, semD, uByte, 3, "size of each shared memory segment",
		"The size column of /proc/sysvipc/shm, in bytes; no value above 4 GiB - 1,\nwhich the 32-bit metric cannot hold."},
	{"ipc.shm.nattch", pmid(60, 64, 4), ipcShm, tU32, semI, uNone, 6, "attaches to each shared memory segment",
		"The nattch column of /proc/sysvipc/shm: how many processes have it mapped."},
	{"ipc.shm.status", pmid(60, 64, 5), ipcShm, tSTR, semI, uNone, colStatus, "destroy and lock flags of each shared memory segment",
		"From the perms column of /proc/sysvipc/shm: \"dest\" when the segment is marked\nfor removal at its last detach, \"locked\" when it is locked in memory, both, or\nthe empty string."},
	{"ipc.shm.creator_pid", pmid(60, 64, 6), ipcShm, tU32, semD, uNone, 4, "process that created each shared memory segment",
		"The cpid column of /proc/sysvipc/shm."},
	{"ipc.shm.last_access_pid", pmid(60, 64, 7), ipcShm, tU32, semI, uNone, 5, "process that last attached or detached each segment",
		"The lpid column of /proc/sysvipc/shm."},

	{"ipc.msg.key", pmid(60, 65, 0), ipcMsg, tSTR, semD, uNone, colKey, "key of each message queue",
		"The key column of /proc/sysvipc/msg, in hexadecimal (0x%08x)."},
	{"ipc.msg.owner", pmid(60, 65, 1), ipcMsg, tSTR, semD, uNone, colOwner, "user owning each message queue",
		"The uid column of /proc/sysvipc/msg, as the user name passwd gives it, or the\nnumber when passwd has no such user."},
	{"ipc.msg.perms", pmid(60, 65, 2), ipcMsg, tU32, semI, uNone, colPerms, "access mode of each message queue",
		"The read and write bits of the perms column of /proc/sysvipc/msg, written as\nthe octal digits read in decimal: mode 0640 gives 640."},
	{"ipc.msg.msgsz", pmid(60, 65, 3), ipcMsg, tU32, semD, uByte, 3, "bytes queued on each message queue",
		"The cbytes column of /proc/sysvipc/msg."},
	{"ipc.msg.messages", pmid(60, 65, 4), ipcMsg, tU32, semI, uNone, 4, "messages queued on each message queue",
		"The qnum column of /proc/sysvipc/msg."},
	{"ipc.msg.last_send_pid", pmid(60, 65, 5), ipcMsg, tU32, semI, uByte, 5, "process that last sent to each message queue",
		"The lspid column of /proc/sysvipc/msg. (The linux agent declares it in bytes;\nthe units are kept for compatibility.)"},
	{"ipc.msg.last_recv_pid", pmid(60, 65, 6), ipcMsg, tU32, semI, uNone, 6, "process that last received from each message queue",
		"The lrpid column of /proc/sysvipc/msg."},

	{"ipc.sem.key", pmid(60, 66, 0), ipcSem, tSTR, semD, uNone, colKey, "key of each semaphore set",
		"The key column of /proc/sysvipc/sem, in hexadecimal (0x%08x)."},
	{"ipc.sem.owner", pmid(60, 66, 1), ipcSem, tSTR, semD, uNone, colOwner, "user owning each semaphore set",
		"The uid column of /proc/sysvipc/sem, as the user name passwd gives it, or the\nnumber when passwd has no such user."},
	{"ipc.sem.perms", pmid(60, 66, 2), ipcSem, tU32, semI, uNone, colPerms, "access mode of each semaphore set",
		"The read and write bits of the perms column of /proc/sysvipc/sem, written as\nthe octal digits read in decimal: mode 0640 gives 640."},
	{"ipc.sem.nsems", pmid(60, 66, 3), ipcSem, tU32, semI, uNone, 3, "semaphores in each semaphore set",
		"The nsems column of /proc/sysvipc/sem."},
}

// ipcUIDCol is the uid column of each table; ipcMinCols how many leading columns
// a line must have (through uid).
var (
	ipcUIDCol  = [3]int{7, 7, 4}
	ipcMinCols = [3]int{8, 8, 5}
)

func init() {
	setOwnInDomHelp(indomIPCShm, "System V shared memory segments",
		"Each segment of /proc/sysvipc/shm, named by its shmid.")
	setOwnInDomHelp(indomIPCMsg, "System V message queues",
		"Each queue of /proc/sysvipc/msg, named by its msqid.")
	setOwnInDomHelp(indomIPCSem, "System V semaphore sets",
		"Each set of /proc/sysvipc/sem, named by its semid.")
	defs := make([]metricDef, len(ipcCols))
	indoms := [3]protocol.InDom{indomIPCShm, indomIPCMsg, indomIPCSem}
	for i, c := range ipcCols {
		defs[i] = metricDef{c.name, c.item, c.typ, indoms[c.table], c.sem, c.units, i}
	}
	registerSource(&sourceSpec{
		name:   "sysvipc",
		domain: DomainLinux,
		indoms: indoms[:],
		new: func(e *env) Source {
			s := &sysvipcSource{etc: e.etcRoot}
			for i, f := range ipcFiles {
				s.files[i] = newKfile(filepath.Join(e.procRoot, "sysvipc", f))
			}
			return s
		},
		metrics: defs,
		help: func(d metricDef) helpText {
			if d.sel < 0 || d.sel >= len(ipcCols) {
				return helpText{}
			}
			return helpText{ipcCols[d.sel].what, ipcCols[d.sel].long}
		},
	})
}

// ipcEntry is one line of a table: its instance id and its leading columns.
type ipcEntry struct {
	id   uint32
	cols [8]int64
}

type sysvipcSource struct {
	files   [3]*kfile
	buf     []byte
	ids     [3]idCache
	entries [3][]ipcEntry
	etc     string
	names   idNames
	partial atomic.Uint64
}

// PartialErrors counts fetches in which one table failed while another served.
func (s *sysvipcSource) PartialErrors() uint64 { return s.partial.Load() }

// read refreshes one table.
func (s *sysvipcSource) read(t int) error {
	b, err := s.files[t].read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.entries[t] = s.entries[t][:0]
	hdr, rest := nextLine(b)
	if f, _ := nextField(hdr); string(f) != "key" {
		return fmt.Errorf("%s: %w: no header line", s.files[t].path, errParse)
	}
	var name [24]byte
	for len(rest) > 0 {
		var line []byte
		line, rest = nextLine(rest)
		if len(trimSpace(line)) == 0 {
			continue
		}
		var e ipcEntry
		r := line
		for c := 0; c < len(e.cols); c++ {
			var f []byte
			f, r = nextField(r)
			if len(f) == 0 {
				if c < ipcMinCols[t] {
					return fmt.Errorf("%s: %w: line %q has too few columns", s.files[t].path, errParse, line)
				}
				break
			}
			var v int64
			ok := true
			switch c {
			case 0: // key: a signed int
				v, ok = parseInt(f)
				ok = ok && v >= -1<<31 && v <= 1<<31-1
			case 2: // perms, in octal
				v, ok = parseOctal(f)
			default:
				var u uint64
				u, ok = parseUint(f)
				ok = ok && u <= 1<<63-1
				v = int64(u)
			}
			if !ok {
				return fmt.Errorf("%s: %w: line %q", s.files[t].path, errParse, line)
			}
			e.cols[c] = v
		}
		if e.cols[1] > 1<<31-1 {
			return fmt.Errorf("%s: %w: id out of range in %q", s.files[t].path, errParse, line)
		}
		if len(s.entries[t]) >= 1<<20 {
			return fmt.Errorf("%s: %w: more entries than any kernel allows", s.files[t].path, errParse)
		}
		e.id = s.ids[t].id(strconv.AppendInt(name[:0], e.cols[1], 10))
		s.entries[t] = append(s.entries[t], e)
	}
	return nil
}

// parseOctal parses an unsigned octal field of at most 11 digits.
func parseOctal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 11 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v<<3 | int64(c-'0')
	}
	return v, true
}

// octalDigits writes the low nine mode bits as their octal digits read in decimal.
func octalDigits(mode int64) uint64 {
	mode &= 0o777
	return uint64(mode>>6*100 + mode>>3&7*10 + mode&7)
}

const (
	shmDest   = 0o1000
	shmLocked = 0o2000
)

func (s *sysvipcSource) Fetch(reqs []Request) error {
	var need [3]bool
	owner := false
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < len(ipcCols) {
			need[ipcCols[rq.Sel].table] = true
			owner = owner || ipcCols[rq.Sel].col == colOwner
		}
	}
	var errs [3]error
	failed, asked := 0, 0
	for t := range need {
		if need[t] {
			asked++
			if errs[t] = s.read(t); errs[t] != nil {
				failed++
			}
		}
	}
	if failed == asked {
		return errors.Join(errs[:]...)
	}
	if failed > 0 {
		s.partial.Add(1)
	}
	if owner {
		s.names.refresh(s.etc)
	}
	var key [16]byte
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= len(ipcCols) {
			continue
		}
		c := ipcCols[rq.Sel]
		if errs[c.table] != nil {
			rq.Res.Err = errCode(errs[c.table])
			continue
		}
		for _, e := range s.entries[c.table] {
			switch c.col {
			case colKey:
				k := strconv.AppendUint(key[:0], uint64(uint32(int32(e.cols[0]))), 16)
				putS(rq.Res, e.id, "0x"+zeroPad(k, 8))
			case colOwner:
				putS(rq.Res, e.id, s.names.name(uint32(min(e.cols[ipcUIDCol[c.table]], 1<<32-1)), false))
			case colPerms:
				putU(rq.Res, e.id, octalDigits(e.cols[2]))
			case colStatus:
				st := ""
				switch d, l := e.cols[2]&shmDest != 0, e.cols[2]&shmLocked != 0; {
				case d && l:
					st = "dest locked"
				case l:
					st = "locked"
				case d:
					st = "dest"
				}
				putS(rq.Res, e.id, st)
			default:
				putU32(rq.Res, e.id, e.cols[c.col])
			}
		}
	}
	return nil
}

// zeroPad left-pads the digits b with zeros to width n.
func zeroPad(b []byte, n int) string {
	if len(b) >= n {
		return string(b)
	}
	var p [16]byte
	m := copy(p[n-len(b):], b)
	for i := 0; i < n-m; i++ {
		p[i] = '0'
	}
	return string(p[:n])
}

func (s *sysvipcSource) Instances(indom protocol.InDom) ([]Instance, error) {
	t := ipcShm
	switch indom {
	case indomIPCMsg:
		t = ipcMsg
	case indomIPCSem:
		t = ipcSem
	}
	if err := s.read(t); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.entries[t]))
	for i, e := range s.entries[t] {
		out[i] = Instance{ID: e.id, Name: s.ids[t].name(e.id)}
	}
	return out, nil
}
