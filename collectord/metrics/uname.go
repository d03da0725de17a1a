package metrics

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/protocol"
)

// The "uname" source: the uname(2) strings as the kernel exports them under
// /proc/sys/kernel (ostype, osrelease, version, hostname, arch), and the
// distribution name from the release files under /etc.
//
// Kernel name, release, version and machine cannot change while the kernel runs, so
// they are read once (the first time they read successfully); the host name is read
// on every fetch. The distribution is worked out once, like the linux agent does.

const (
	selKRelease = iota
	selKVersion
	selSysname
	selMachine
	selNodename
	selDistro
	selHinvMachine
	selPMDAUname   // pmda.go
	selPMDAVersion // pmda.go
)

func init() {
	registerSource(&sourceSpec{
		name:   "uname",
		domain: DomainLinux,
		new: func(e *env) Source {
			dir := filepath.Join(e.procRoot, "sys/kernel")
			return &unameSource{dir: dir, host: newKfile(filepath.Join(dir, "hostname")), etc: e.etcRoot, realProc: filepath.Clean(e.procRoot) == "/proc"}
		},
		metrics: []metricDef{
			{"kernel.uname.release", pmid(60, 12, 0), tSTR, null, semD, uNone, selKRelease},
			{"kernel.uname.version", pmid(60, 12, 1), tSTR, null, semD, uNone, selKVersion},
			{"kernel.uname.sysname", pmid(60, 12, 2), tSTR, null, semD, uNone, selSysname},
			{"kernel.uname.machine", pmid(60, 12, 3), tSTR, null, semD, uNone, selMachine},
			{"kernel.uname.nodename", pmid(60, 12, 4), tSTR, null, semD, uNone, selNodename},
			{"kernel.uname.distro", pmid(60, 12, 7), tSTR, null, semD, uNone, selDistro},
			{"hinv.machine", pmid(60, 18, 7), tSTR, null, semD, uNone, selHinvMachine},
			{"pmda.uname", pmid(60, 12, 5), tSTR, null, semD, uNone, selPMDAUname},
			{"pmda.version", pmid(60, 12, 6), tSTR, null, semD, uNone, selPMDAVersion},
		},
	})
}

type unameSource struct {
	dir, etc string
	host     *kfile
	realProc bool // dir is the running kernel's: uname(2) may fill gaps

	// fixed for the life of the kernel, once known
	sysname, release, version, machine string

	distro     string
	distroDone bool
	buf        []byte
}

// readOnce fills *dst from dir/file unless it is already known.
func (s *unameSource) readOnce(dst *string, file string) {
	if *dst != "" {
		return
	}
	b, err := readFile(filepath.Join(s.dir, file), s.buf)
	s.buf = b
	if err == nil {
		*dst = string(trimSpace(b))
	}
}

func (s *unameSource) readMachine() {
	s.readOnce(&s.machine, "arch") // Linux 6.1 and later
	if s.machine == "" && s.realProc {
		var u unix.Utsname
		if unix.Uname(&u) == nil {
			s.machine = unix.ByteSliceToString(u.Machine[:])
		}
	}
}

func (s *unameSource) readHostname() (string, bool) {
	b, err := s.host.read(s.buf)
	s.buf = b
	if err != nil {
		return "", false
	}
	h := trimSpace(b)
	return string(h), len(h) > 0
}

func (s *unameSource) Fetch(reqs []Request) error {
	in := protocol.InNull
	var host string
	hostDone := false
	for _, rq := range reqs {
		res := rq.Res
		var v string
		switch rq.Sel {
		case selKRelease:
			s.readOnce(&s.release, "osrelease")
			v = s.release
		case selKVersion:
			s.readOnce(&s.version, "version")
			v = s.version
		case selSysname:
			s.readOnce(&s.sysname, "ostype")
			v = s.sysname
		case selMachine, selHinvMachine:
			s.readMachine()
			v = s.machine
		case selNodename:
			if !hostDone {
				host, _ = s.readHostname()
				hostDone = true
			}
			v = host
		case selPMDAUname:
			if !hostDone {
				host, _ = s.readHostname()
				hostDone = true
			}
			v = s.unameLine(host)
		case selPMDAVersion:
			v = PCPVersion
		case selDistro:
			if !s.distroDone {
				s.distro, s.distroDone = distroName(s.etc), true
			}
			v = s.distro
		}
		if v != "" {
			putS(res, in, v)
		}
	}
	return nil
}

// distroName follows the linux agent's heuristics: the first release file found
// wins (/etc/debian_version is prefixed with "Debian "; /etc/lsb-release gives its
// DISTRIB_DESCRIPTION), then /etc/os-release's PRETTY_NAME. "" when none is there.
func distroName(etc string) string {
	for _, f := range []string{"debian_version", "oracle-release", "fedora-release", "redhat-release",
		"slackware-version", "SuSE-release", "lsb-release"} {
		b, err := os.ReadFile(filepath.Join(etc, f))
		if err != nil {
			continue
		}
		switch f {
		case "debian_version":
			if line := firstLine(b); line != "" {
				return "Debian " + line
			}
		case "lsb-release":
			if d := osReleaseValue(b, "DISTRIB_DESCRIPTION"); d != "" {
				return d
			}
		default:
			if line := firstLine(b); line != "" {
				return line
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(etc, "os-release")); err == nil {
		return osReleaseValue(b, "PRETTY_NAME")
	}
	return ""
}

func firstLine(b []byte) string {
	line, _ := nextLine(b)
	return string(trimSpace(line))
}

// osReleaseValue returns KEY's value from an os-release style file, unquoted.
func osReleaseValue(b []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || k != key {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		return v
	}
	return ""
}
