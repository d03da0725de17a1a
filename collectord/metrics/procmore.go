package metrics

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/procfs"
)

// The rest of the per-process metrics of the proc agent, read by the "proc" source
// (process.go) over the process instance domain 3.9:
//
//	proc.psinfo.environ   /proc/<pid>/environ, the variables joined by spaces
//	proc.psinfo.labels    /proc/<pid>/attr/current, the security label
//	proc.memory.maps      /proc/<pid>/maps, the whole file as one string
//	proc.id.container     the container id in the cpuset line of /proc/<pid>/cgroup
//	proc.namespaces.*     NStgid, NSpid, NSpgid, NSsid and envID of /proc/<pid>/status
//	proc.autogroup.id,nice /proc/<pid>/autogroup ("/autogroup-861 nice 0")
//
// environ is read through procfs (Proc.Environ splits it correctly at the NULs);
// the others are a line or a copy, parsed here, and status is already parsed once
// for all its metrics by process.go. (procfs's Proc.Namespaces reads the
// /proc/<pid>/ns links, which are not these ids, and its ProcStatus keeps NSpid
// only, not NStgid, NSpgid or NSsid.) A file a kernel thread leaves empty
// (smaps_rollup) or a kernel without a security module refuses (attr/current:
// EINVAL) gives no value and no error: there is nothing to show. So does an
// empty autogroup file (a process in no autogroup), which the real agent shows as
// id 0 and nice 0.
// The environment and the mappings, like every per-process value, go only to
// trusted clients (the source is private).

// errTooLarge marks a file longer than the collector will hold as one value.
var errTooLarge = errors.New("file too large for one value")

// containerIDLen is the length of a container id in a cgroup path: a SHA-256 in hex,
// as docker and podman name their containers.
const containerIDLen = 64

var moreProcMetrics = []procMetric{
	{"proc.psinfo.environ", pmid(3, 8, 47), tSTR, semI, uNone, pfEnviron, strOf(func(p *procData) (string, bool) { return p.environ, p.has&pfEnviron != 0 }),
		"environment of the process", "The process's environment variables (NAME=value), separated by spaces;\n" +
			"empty for a kernel thread. It often holds secrets: only trusted clients see it."},
	{"proc.psinfo.labels", pmid(3, 12, 0), tSTR, semI, uNone, pfLabel, strOf(func(p *procData) (string, bool) { return p.label, p.has&pfLabel != 0 }),
		"security label of the process", "The SELinux context or AppArmor profile the kernel shows for the process;\nno value when no security module labels processes."},
	{"proc.memory.maps", pmid(3, 9, 7), tSTR, semI, uNone, pfMaps, strOf(func(p *procData) (string, bool) { return p.maps, p.has&pfMaps != 0 }),
		"memory mappings of the process", "Every mapping, one per line (address range, permissions, offset, device,\n" +
			"inode and path), as the kernel lists them; empty for a kernel thread."},
	{"proc.id.container", pmid(3, 11, 1), tSTR, semD, uNone, pfCgroup, strOf(func(p *procData) (string, bool) { return p.container, p.has&pfCgroup != 0 }),
		"container the process runs in", "The 64-character container id found at the end of the cpuset control group\n" +
			"path (docker-<id>.scope, libpod-<id>.scope or <id>); empty when there is none."},
	{"proc.namespaces.tgid", pmid(3, 24, 37), tSTR, semD, uNone, pfStatus, statusS(stsNStgid),
		"thread group id in each pid namespace", "The NStgid line of status: the id in the outermost namespace first, then in\neach nested one, separated by commas."},
	{"proc.namespaces.pid", pmid(3, 24, 38), tSTR, semD, uNone, pfStatus, statusS(stsNSpid),
		"process id in each pid namespace", "The NSpid line of status, comma separated, outermost namespace first."},
	{"proc.namespaces.pgid", pmid(3, 24, 39), tSTR, semD, uNone, pfStatus, statusS(stsNSpgid),
		"process group id in each pid namespace", "The NSpgid line of status, comma separated, outermost namespace first."},
	{"proc.namespaces.sid", pmid(3, 24, 40), tSTR, semD, uNone, pfStatus, statusS(stsNSsid),
		"session id in each pid namespace", "The NSsid line of status, comma separated, outermost namespace first."},
	{"proc.namespaces.envid", pmid(3, 24, 42), tU32, semD, uNone, pfStatus, statusU(stsEnvID),
		"OpenVZ container id", "The envID line of status, printed only by OpenVZ kernels; no value elsewhere."},
	{"proc.autogroup.id", pmid(3, 74, 1), tU32, semD, uNone, pfAutogroup, func(p *procData, _ *processSource) (Value, bool) {
		return Value{U: p.agID}, p.has&pfAutogroup != 0
	}, "scheduler autogroup of the process", "The number of the autogroup (one per session) the scheduler puts the process\n" +
		"in; no value while autogrouping is off (proc.autogroup.enabled 0)."},
	{"proc.autogroup.nice", pmid(3, 74, 2), tI32, semI, uNone, pfAutogroup, func(p *procData, _ *processSource) (Value, bool) {
		return Value{U: uint64(p.agNice)}, p.has&pfAutogroup != 0
	}, "nice value of the process's autogroup", "The nice value shared by the processes of the autogroup, -20 to 19; no value\nwhile autogrouping is off."},
}

// parseAutogroup parses "/autogroup-<id> nice <n>".
func parseAutogroup(b []byte, d *procData) bool {
	line, _ := nextLine(b)
	name, rest := nextField(line)
	const prefix = "/autogroup-"
	if len(name) <= len(prefix) || string(name[:len(prefix)]) != prefix {
		return false
	}
	id, ok := parseUint(name[len(prefix):])
	if !ok || id > 1<<32-1 {
		return false
	}
	word, rest := nextField(rest)
	num, _ := nextField(rest)
	nice, ok := parseInt(num)
	if string(word) != "nice" || !ok || nice < -20 || nice > 19 {
		return false
	}
	d.agID, d.agNice = id, nice
	return true
}

// cpusetContainerID finds a container id in the cpuset line of /proc/<pid>/cgroup: the
// last path component, when it is docker-<id>.scope, libpod-<id>.scope or a bare
// 64-character id. No cpuset line (cgroup v2) or no such component gives "".
func cpusetContainerID(b []byte) string {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		first := strings.IndexByte(string(line), ':')
		if first < 0 {
			continue
		}
		rest := line[first+1:]
		const cpuset = "cpuset:"
		if len(rest) < len(cpuset) || string(rest[:len(cpuset)]) != cpuset {
			continue
		}
		path := string(trimSpace(rest[len(cpuset):]))
		last := path[strings.LastIndexByte(path, '/')+1:]
		for _, pre := range []string{"docker-", "libpod-"} {
			if strings.HasPrefix(last, pre) {
				id, _, _ := strings.Cut(last[len(pre):], ".")
				if isHexID(id) {
					return id
				}
				return ""
			}
		}
		if isHexID(last) {
			return last
		}
		return ""
	}
	return ""
}

func isHexID(s string) bool {
	if len(s) != containerIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// labelString takes the label of attr/current without its terminator (a newline
// from AppArmor, a NUL from SELinux); an empty file has no label.
func labelString(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", false
	}
	if c := b[len(b)-1]; c == '\n' || c == 0 {
		b = b[:len(b)-1]
	}
	return string(b), true
}

// trimTrailingNewline drops the newline that ends a file, so that a value of
// several lines does not end with an empty one.
func trimTrailingNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b[:len(b)-1]
	}
	return b
}

// readEnviron reads /proc/<pid>/environ through procfs (rel is "<pid>/environ").
// procfs reads at most 1 MiB of it, beyond any environment a program can be
// started with on a default stack limit.
func (s *processSource) readEnviron(path, rel string, d *procData) error {
	if fileHook != nil {
		fileHook(path)
	}
	pidText, _, _ := strings.Cut(rel, "/")
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		return &os.PathError{Op: "parse", Path: path, Err: errParse}
	}
	if s.pfs == nil {
		fs, err := procfs.NewFS(s.root)
		if err != nil {
			return err
		}
		s.pfs = &fs
	}
	p, err := s.pfs.Proc(pid)
	if err != nil {
		return err
	}
	vars, err := p.Environ()
	if errors.Is(err, syscall.ESRCH) {
		// The kernel refuses the environment of a task without an address space
		// (a kernel thread, or a zombie) this way: it has none.
		vars, err = nil, nil
	}
	if err != nil {
		return err
	}
	d.environ = strings.Join(vars, " ")
	return nil
}
