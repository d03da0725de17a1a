package metrics

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// The "diskstats" source: /proc/diskstats, "major minor name" then the I/O counters
// (11 on Linux 2.6.25 and later, 15 with discards, 17 with flushes). The tests check
// this parser against procfs's blockdevice.ProcDiskstats, which is not used here
// because its fmt.Sscanf per line costs several times the kernel's own work.
// Instances (indom 60.1) are whole disks, chosen with the linux agent's rules:
// partitions, loop, ram, zram, CD-ROM, device-mapper, md and wwid names are not disks.
// Disk instance ids are assigned as names first appear and never reused.

const (
	selDevRead = iota
	selDevWrite
	selDevTotal
	selDevReadBytes
	selDevWriteBytes
	selDevTotalBytes
	selDevAvactive
	selAllRead
	selAllWrite
	selAllTotal
	selAllReadBytes
	selAllWriteBytes
	selAllTotalBytes
	selNDisk
)

func init() {
	registerSource(&sourceSpec{
		name:   "diskstats",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomDisk},
		new:    func(e *env) Source { return &diskSource{file: newKfile(filepath.Join(e.procRoot, "diskstats"))} },
		metrics: []metricDef{
			{"disk.dev.read", pmid(60, 0, 4), tU64, indomDisk, semC, uCount, selDevRead},
			{"disk.dev.write", pmid(60, 0, 5), tU64, indomDisk, semC, uCount, selDevWrite},
			{"disk.dev.total", pmid(60, 0, 28), tU64, indomDisk, semC, uCount, selDevTotal},
			{"disk.dev.read_bytes", pmid(60, 0, 38), tU64, indomDisk, semC, uKB, selDevReadBytes},
			{"disk.dev.write_bytes", pmid(60, 0, 39), tU64, indomDisk, semC, uKB, selDevWriteBytes},
			{"disk.dev.total_bytes", pmid(60, 0, 40), tU64, indomDisk, semC, uKB, selDevTotalBytes},
			{"disk.dev.avactive", pmid(60, 0, 46), tU32, indomDisk, semC, uMsec, selDevAvactive},
			{"disk.all.read", pmid(60, 0, 24), tU64, null, semC, uCount, selAllRead},
			{"disk.all.write", pmid(60, 0, 25), tU64, null, semC, uCount, selAllWrite},
			{"disk.all.total", pmid(60, 0, 29), tU64, null, semC, uCount, selAllTotal},
			{"disk.all.read_bytes", pmid(60, 0, 41), tU64, null, semC, uKB, selAllReadBytes},
			{"disk.all.write_bytes", pmid(60, 0, 42), tU64, null, semC, uKB, selAllWriteBytes},
			{"disk.all.total_bytes", pmid(60, 0, 43), tU64, null, semC, uKB, selAllTotalBytes},
			{"hinv.ndisk", pmid(60, 0, 33), tU32, null, semD, uNone, selNDisk},
		},
	})
}

type diskStat struct {
	id                                     uint32
	rdIOs, wrIOs, rdSectors, wrSectors, io uint64
}

type diskSource struct {
	file  *kfile
	buf   []byte
	ids   idCache
	disks []diskStat // the last read, in file order
}

func (s *diskSource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.disks = s.disks[:0]
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		major, r := nextField(line)
		if len(major) == 0 {
			continue
		}
		minor, r := nextField(r)
		name, r := nextField(r)
		_, ok1 := parseUint(major)
		_, ok2 := parseUint(minor)
		if !ok1 || !ok2 || len(name) == 0 {
			return fmt.Errorf("%s: %w: %q", s.file.path, errParse, line)
		}
		var v [11]uint64
		n := 0
		for {
			var f []byte
			f, r = nextField(r)
			if len(f) == 0 {
				break
			}
			x, ok := parseUint(f)
			if !ok {
				return fmt.Errorf("%s: %w: %q", s.file.path, errParse, line)
			}
			if n < len(v) {
				v[n] = x
			}
			n++
		}
		if n < len(v) || !isDisk(name) {
			continue // partitions in the old 4-counter format are not disks either
		}
		s.disks = append(s.disks, diskStat{
			id:    s.ids.id(name),
			rdIOs: v[0], rdSectors: v[2], wrIOs: v[4], wrSectors: v[6], io: v[9],
		})
	}
	return nil
}

func (s *diskSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	for _, rq := range reqs {
		res := rq.Res
		if rq.Sel >= selAllRead && rq.Sel <= selAllTotalBytes {
			var sum uint64
			for i := range s.disks {
				sum += diskValue(&s.disks[i], rq.Sel-selAllRead+selDevRead)
			}
			putU(res, protocol.InNull, sum)
			continue
		}
		if rq.Sel == selNDisk {
			putU(res, protocol.InNull, uint64(len(s.disks)))
			continue
		}
		for i := range s.disks {
			putU(res, s.disks[i].id, diskValue(&s.disks[i], rq.Sel))
		}
	}
	return nil
}

func diskValue(d *diskStat, sel int) uint64 {
	switch sel {
	case selDevRead:
		return d.rdIOs
	case selDevWrite:
		return d.wrIOs
	case selDevTotal:
		return d.rdIOs + d.wrIOs
	case selDevReadBytes:
		return d.rdSectors / 2
	case selDevWriteBytes:
		return d.wrSectors / 2
	case selDevTotalBytes:
		return (d.rdSectors + d.wrSectors) / 2
	case selDevAvactive:
		return uint64(uint32(d.io))
	}
	return 0
}

func (s *diskSource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.disks))
	for i, d := range s.disks {
		out[i] = Instance{ID: d.id, Name: s.ids.name(d.id)}
	}
	sortInstances(out)
	return out, nil
}

// isDisk applies the linux agent's rules (proc_partitions.c, _pm_isdisk).
func isDisk(nb []byte) bool {
	name := string(nb) // does not escape: no allocation
	return !strings.HasPrefix(name, "loop") && !strings.HasPrefix(name, "ram") &&
		!isCDROM(name) && !strings.HasPrefix(name, "zram") &&
		!isPartition(name) && !strings.Contains(name, "xvm") &&
		!strings.HasPrefix(name, "dm-") && !strings.HasPrefix(name, "md") &&
		!isWWID(name)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isCDROM(name string) bool { return len(name) > 2 && name[:2] == "sr" && isDigit(name[2]) }

// wholeWithP reports whether a device family with the given prefix names its
// partitions with a "p" (mmcblk0p1, nvme0n1p1, rbd0p1, nbd0p1) and name is not one.
func wholeWithP(name, prefix string) bool {
	return strings.HasPrefix(name, prefix) && !strings.Contains(name[len(prefix):], "p")
}

// isPartition is the linux agent's _pm_ispartition heuristic.
func isPartition(name string) bool {
	if name == "" {
		return false
	}
	m := len(name) - 1
	if strings.IndexByte(name, '/') >= 0 {
		p := m
		for p > 0 && isDigit(name[p]) {
			p--
		}
		if p == m {
			return true // no trailing digits: the agent "wildly guesses"
		}
		return name[p] == 'p'
	}
	return isDigit(name[m]) &&
		!strings.HasPrefix(name, "loop") && !strings.HasPrefix(name, "ram") &&
		!wholeWithP(name, "mmcblk") && !wholeWithP(name, "nvme") &&
		!wholeWithP(name, "rbd") && !strings.HasPrefix(name, "zram") &&
		!wholeWithP(name, "nbd") && !strings.HasPrefix(name, "md") &&
		!strings.HasPrefix(name, "dm-") && !isCDROM(name)
}

func isWWID(name string) bool {
	return len(name) == 18 && (name[0] == '1' || name[0] == '2' || name[0] == '3')
}

func sortInstances(in []Instance) {
	for i := 1; i < len(in); i++ {
		for j := i; j > 0 && in[j].ID < in[j-1].ID; j-- {
			in[j], in[j-1] = in[j-1], in[j]
		}
	}
}
