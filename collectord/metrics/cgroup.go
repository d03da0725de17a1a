package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// The "cgroup" source: cgroup.*, the control group metrics of the proc agent. It
// reads /proc/cgroups (the controllers), /proc/self/mountinfo (the cgroup and
// cgroup2 mounts) and the files of every control group below those mounts (a directory per
// group). The tables of the metrics are in cgroupv1.go.
//
// Like the real agent, it tells a host where only cgroup2 is mounted (version 2)
// from one with any v1 hierarchy mounted (version 1, hybrid hosts included). On a
// version 1 host the per-controller instance domains hold every group below the v1
// mounts of that controller and below every cgroup2 mount, and the cgroup2-only
// metrics (cgroup.cpu.stat.*, cgroup.pressure.*, cgroup.io.stat.*) have no values; on
// a version 2 host every group of the cgroup2 mount is an instance of 3.16 and of
// the cpuset and cpuacct domains, and of the cpusched, memory, netclass and blkio
// domains where it has cpu.shares, memory.stat, net_cls.classid or blkio.time.
// Instance names are the group's path below its mount, "/" for the root, with
// systemd's \xHH escapes decoded; the per-CPU and per-device domains append "::cpuN"
// or "::<disk>". Where the same group path is found under several mounts (the root
// of a hybrid host), each file is read from the first mount that has it: the real
// agent instead lets the last mount walked overwrite the first, which on hybrid
// hosts leaves the v1 root's values unread.
//
// A fetch walks only the mounts of the controllers it names and reads only the
// files its metrics come from (cgroup.memory.current reads memory.current in each
// memory group, nothing else). A missing file gives no value; a file that cannot be
// read or does not parse gives no value for that group and counts a partial error
// (PartialErrors); an unreadable /proc/self/mountinfo fails the source. Walks stop at
// cgroupMaxDepth levels and cgroupMaxGroups groups (counted as an error), and do
// not follow symbolic links. The values are totals per group, not per process, and
// the real agent serves them to any client, so the source is not private.
//
// Hand-written rather than github.com/prometheus/procfs: procfs reads /proc/cgroups
// (with strconv.Atoi, which takes negative counts, failing the whole file on one bad
// line where the agent skips it) and /proc/<pid>/cgroup, but has no reader for the
// cgroup filesystem's own files.

const (
	cgroupMaxDepth  = 64
	cgroupMaxGroups = 1 << 16
	cgroupMaxFile   = 4 << 20 // blkio files list every device: large, not unbounded
)

var (
	indomCgroup2     = protocol.NewInDom(DomainProc, 16)
	indomCgroup2Dev  = protocol.NewInDom(DomainProc, 17)
	indomCgCpuset    = protocol.NewInDom(DomainProc, 20)
	indomCgCpuacct   = protocol.NewInDom(DomainProc, 21)
	indomCgPercpu    = protocol.NewInDom(DomainProc, 22)
	indomCgCpusched  = protocol.NewInDom(DomainProc, 23)
	indomCgMemory    = protocol.NewInDom(DomainProc, 24)
	indomCgNetcls    = protocol.NewInDom(DomainProc, 25)
	indomCgBlkio     = protocol.NewInDom(DomainProc, 26)
	indomCgBlkioDev  = protocol.NewInDom(DomainProc, 27)
	indomCgSubsys    = protocol.NewInDom(DomainProc, 37)
	indomCgMounts    = protocol.NewInDom(DomainProc, 38)
	cgroupAllIndoms  = []protocol.InDom{indomCgroup2, indomCgroup2Dev, indomCgCpuset, indomCgCpuacct, indomCgPercpu, indomCgCpusched, indomCgMemory, indomCgNetcls, indomCgBlkio, indomCgBlkioDev, indomCgSubsys, indomCgMounts}
	errCgroupTooMany = errors.New("too many control groups")
)

// A cgroup group: the controller whose groups a metric is about.
type cgGroup int

const (
	cgNone cgGroup = iota // subsys and mounts: no walk
	cgCpuset
	cgCpuacct
	cgCpusched
	cgMemory
	cgNetcls
	cgBlkio
	cgV2 // cgroup2 only: cpu.stat, pressure, io.stat
	cgNumGroups
)

// cgSubsysName: the /proc/cgroups (and v1 mount option) name of each group's
// controller; cgV2 has none.
var cgSubsysName = [cgNumGroups]string{cgCpuset: "cpuset", cgCpuacct: "cpuacct", cgCpusched: "cpu",
	cgMemory: "memory", cgNetcls: "net_cls", cgBlkio: "blkio"}

// cgV2Marker: on a version 2 host, the file whose presence makes a group an instance
// of the controller's domain ("" for every group).
var cgV2Marker = [cgNumGroups]string{cgCpusched: "cpu.shares", cgMemory: "memory.stat",
	cgNetcls: "net_cls.classid", cgBlkio: "blkio.time"}

// How a metric's value is taken from its file.
type cgKind int

const (
	kSubsys    cgKind = iota // /proc/cgroups column (key: 1-3), or the count (key 0)
	kMounts                  // mountinfo: subsys (key "subsys") or count
	kOne                     // the file is one unsigned number
	kOneSigned               // the file is one signed number
	kString                  // the first line of the file
	kKeyed                   // "key value" lines
	kTicks                   // "key value" lines in USER_HZ ticks, served in milliseconds
	kContainer               // the container id in the group's name: no file
	kPercpu                  // the file's numbers, one per CPU
	kPSI                     // pressure file: key "some"/"full", field 0-3
	kBlkioOp                 // "MAJ:MIN Op value" lines: per device, or summed (all)
	kBlkioDev                // "MAJ:MIN value" lines: per device, or summed (all)
	kIOStat                  // cgroup2 io.stat "MAJ:MIN key=value ..." per device
)

// cgMetric is one metric: its descriptor and where its value comes from.
type cgMetric struct {
	name  string
	item  uint32 // PMID cluster<<16 | item
	typ   int32
	indom protocol.InDom
	sem   int32
	units protocol.Units
	group cgGroup
	file  string
	kind  cgKind
	key   string
	field int  // kPSI: 0-2 the averages, 3 the total
	all   bool // kBlkio*: the per-group sum rather than per device
	help  helpText
}

func init() {
	setOwnInDomHelp(indomCgSubsys, "cgroup controllers", "Each controller listed in /proc/cgroups, by name.")
	setOwnInDomHelp(indomCgMounts, "cgroup file system mounts", "Each cgroup and cgroup2 mount of /proc/self/mountinfo, by mount point.")
	setOwnInDomHelp(indomCgroup2, "control groups of the cgroup2 hierarchy",
		"Each directory below a cgroup2 mount (/proc/self/mountinfo), named by its path below the\nmount, \"/\" for the root.")
	setOwnInDomHelp(indomCgroup2Dev, "control groups by block device (cgroup2)",
		"Each group and disk of the cgroup2 io.stat files, as \"<group>::<disk>\", the disk\nnamed from /sys/dev/block.")
	setOwnInDomHelp(indomCgCpuset, "control groups of the cpuset controller", "Each group below the cpuset mounts (/proc/self/mountinfo), by path.")
	setOwnInDomHelp(indomCgCpuacct, "control groups of the cpuacct controller", "Each group below the cpuacct mounts (/proc/self/mountinfo), by path.")
	setOwnInDomHelp(indomCgPercpu, "control groups by CPU (cpuacct)",
		"Each group and CPU of the cpuacct.usage_percpu files, as \"<group>::cpuN\"\n(groups below the cpuacct mounts of /proc/self/mountinfo).")
	setOwnInDomHelp(indomCgCpusched, "control groups of the cpu controller", "Each group below the cpu mounts (/proc/self/mountinfo), by path.")
	setOwnInDomHelp(indomCgMemory, "control groups of the memory controller", "Each group below the memory mounts (/proc/self/mountinfo), by path.")
	setOwnInDomHelp(indomCgNetcls, "control groups of the net_cls controller", "Each group below the net_cls mounts (/proc/self/mountinfo), by path.")
	setOwnInDomHelp(indomCgBlkio, "control groups of the blkio controller", "Each group below the blkio mounts (/proc/self/mountinfo), by path.")
	setOwnInDomHelp(indomCgBlkioDev, "control groups by block device (blkio)",
		"Each group and disk of the blkio files, as \"<group>::<disk>\", the disk named\nfrom /sys/dev/block.")
	defs := make([]metricDef, len(cgMetrics))
	for i, m := range cgMetrics {
		defs[i] = metricDef{m.name, pmid(DomainProc, m.item>>16, m.item&0xffff), m.typ, m.indom, m.sem, m.units, i}
	}
	registerSource(&sourceSpec{
		name:    "cgroup",
		domain:  DomainProc,
		indoms:  cgroupAllIndoms,
		metrics: defs,
		help:    func(d metricDef) helpText { return cgMetrics[d.sel].help },
		new: func(e *env) Source {
			return &cgroupSource{
				procRoot: e.procRoot,
				sysRoot:  e.sysRoot,
				rootFS:   e.rootFS,
				cgroups:  newKfile(filepath.Join(e.procRoot, "cgroups")),
				mounts:   newKfile(filepath.Join(e.procRoot, "self/mountinfo")),
				ids:      map[protocol.InDom]*idCache{},
				hids:     map[protocol.InDom]*hashIDs{},
			}
		},
	})
}

type cgSubsysRow struct {
	name                          string
	hierarchy, numCgroups, enable uint64
}

type cgMount struct {
	path    string // as mountinfo has it (octal escapes kept): the instance name
	dir     string // where to read it
	v2      bool
	options []string
}

// cgDir is one control group: its instance name and the directories (one per mount
// it was found under) holding its files.
type cgDir struct {
	name string
	dirs []string
}

type cgroupSource struct {
	procRoot, sysRoot, rootFS string
	cgroups, mounts           *kfile
	buf, fbuf                 []byte
	ids                       map[protocol.InDom]*idCache
	hids                      map[protocol.InDom]*hashIDs
	partial                   atomic.Uint64

	subsys   []cgSubsysRow
	mnts     []cgMount
	v2       bool                // a cgroup2-only host
	devNames map[string]string   // "MAJ:MIN" -> disk name ("" for none), per fetch
	dirCache map[string][]string // directory -> its subdirectories, per fetch
}

// PartialErrors counts groups whose files could not be read or parsed.
func (s *cgroupSource) PartialErrors() uint64 { return s.partial.Load() }

// cgIDs gives instance ids to names.
type cgIDs interface {
	idString(name string) uint32
	name(id uint32) string
}

// idsOf: the controllers and mounts are numbered in order of appearance, as the
// agent numbers them; the groups (and group::device, group::cpu) by a hash of the
// name, so that an instance's id does not depend on which other groups exist or
// which of their files could be read when it was first seen.
func (s *cgroupSource) idsOf(in protocol.InDom) cgIDs {
	if in == indomCgSubsys || in == indomCgMounts {
		c := s.ids[in]
		if c == nil {
			c = &idCache{}
			s.ids[in] = c
		}
		return c
	}
	h := s.hids[in]
	if h == nil {
		h = &hashIDs{ids: map[string]uint32{}, names: map[uint32]string{}}
		s.hids[in] = h
	}
	return h
}

// hashIDs numbers names by their FNV-1a hash (31 bits, as instance ids are
// non-negative), the next free number on a collision; like idCache, an id is never
// reused for another name while the collector runs.
type hashIDs struct {
	ids   map[string]uint32
	names map[uint32]string
}

func (h *hashIDs) idString(name string) uint32 {
	if id, ok := h.ids[name]; ok {
		return id
	}
	id := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		id = (id ^ uint32(name[i])) * 16777619
	}
	id &= 1<<31 - 1
	for {
		if _, taken := h.names[id]; !taken {
			break
		}
		id = (id + 1) & (1<<31 - 1)
	}
	h.ids[name] = id
	h.names[id] = name
	return id
}

func (h *hashIDs) name(id uint32) string { return h.names[id] }

// readSubsys parses /proc/cgroups; a line that is not a name and three numbers is
// skipped (as the agent does) and counted.
func (s *cgroupSource) readSubsys() error {
	b, err := s.cgroups.read(s.buf)
	s.buf = b
	s.subsys = s.subsys[:0]
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	bad := false
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name, r := nextField(line)
		var v [3]uint64
		ok := len(name) > 0
		for i := range v {
			var f []byte
			f, r = nextField(r)
			var fok bool
			v[i], fok = parseUint(f)
			ok = ok && fok && v[i] <= 1<<32-1
		}
		if !ok || len(s.subsys) >= 1024 {
			bad = true
			continue
		}
		s.subsys = append(s.subsys, cgSubsysRow{string(name), v[0], v[1], v[2]})
	}
	if bad {
		s.partial.Add(1)
	}
	return nil
}

// readMounts parses the cgroup and cgroup2 mounts of /proc/self/mountinfo: the
// same mounts, in the same order and with the same escaped mount points, as the
// agent's /proc/mounts, which the filesys source already reads in the same fetch.
// Fields: id parent dev root mountpoint options [optional...] - fstype source
// superoptions; a v1 mount's controllers are among its superoptions.
func (s *cgroupSource) readMounts() error {
	b, err := s.mounts.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.mnts = s.mnts[:0]
	v1 := false
	seen := map[string]bool{}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if len(trimSpace(line)) == 0 {
			continue
		}
		// The kernel's lines always start with two ids and a MAJ:MIN device and
		// hold the " - " separator: anything else is not a mountinfo line.
		id, r := nextField(line)
		parent, r := nextField(r)
		dev, r := nextField(r)
		maj, min, isDev := bytes.Cut(dev, []byte(":"))
		_, ok1 := parseUint(id)
		_, ok2 := parseUint(parent)
		_, ok3 := parseUint(maj)
		_, ok4 := parseUint(min)
		sep := bytes.Index(r, []byte(" - "))
		if !ok1 || !ok2 || !ok3 || !ok4 || !isDev || sep < 0 {
			return fmt.Errorf("%s: %w: line %q", s.mounts.path, errParse, line)
		}
		_, r = nextField(r) // the root of the mount within its file system
		path, r := nextField(r)
		sep = bytes.Index(r, []byte(" - "))
		if sep < 0 {
			return fmt.Errorf("%s: %w: line %q", s.mounts.path, errParse, line)
		}
		typ, r := nextField(r[sep+3:])
		_, r = nextField(r)
		opts, _ := nextField(r)
		isV2 := string(typ) == "cgroup2"
		if !isV2 && string(typ) != "cgroup" {
			continue
		}
		if len(path) == 0 || path[0] != '/' || seen[string(path)] {
			continue
		}
		seen[string(path)] = true
		m := cgMount{path: string(path), dir: s.hostPath(unescapeMount(path)), v2: isV2}
		if !isV2 {
			v1 = true
			m.options = strings.Split(string(opts), ",")
		}
		s.mnts = append(s.mnts, m)
		if len(s.mnts) > 1024 {
			return fmt.Errorf("%s: %w: more cgroup mounts than any host has", s.mounts.path, errParse)
		}
	}
	s.v2 = !v1 && len(s.mnts) > 0
	return nil
}

// hostPath maps a mount point to where it is read: below SysRoot for /sys (so a
// fixture tree stands in for it), below RootFS otherwise.
func (s *cgroupSource) hostPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/sys/"); ok || p == "/sys" {
		return filepath.Join(s.sysRoot, rest)
	}
	return filepath.Join(s.rootFS, p)
}

// devName names a block device by its "MAJ:MIN" from the /sys/dev/block/MAJ:MIN
// link (the agent uses /proc/diskstats, which the disk source reads in the same
// fetch); loop and ram devices are left out, as the agent does. Names are cached
// for the fetch.
func (s *cgroupSource) devName(dev []byte) (string, bool) {
	if n, ok := s.devNames[string(dev)]; ok {
		return n, n != ""
	}
	maj, min, ok := bytes.Cut(dev, []byte(":"))
	_, ok1 := parseUint(maj)
	_, ok2 := parseUint(min)
	name := ""
	if ok && ok1 && ok2 {
		if l, err := os.Readlink(filepath.Join(s.sysRoot, "dev/block", string(dev))); err == nil {
			name = filepath.Base(l)
			if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || !cgPrintable([]byte(name)) {
				name = ""
			}
		}
	}
	if len(s.devNames) < 1<<14 {
		s.devNames[string(dev)] = name
	}
	return name, name != ""
}

// mountsOf returns the mounts whose groups belong to group g's domain.
func (s *cgroupSource) mountsOf(g cgGroup) []cgMount {
	var out []cgMount
	for _, m := range s.mnts {
		switch {
		case g == cgV2:
			if s.v2 && m.v2 {
				out = append(out, m)
			}
		case m.v2:
			out = append(out, m)
		default:
			for _, o := range m.options {
				if o == cgSubsysName[g] {
					out = append(out, m)
					break
				}
			}
		}
	}
	return out
}

// walk lists the control groups of group g: every directory below its mounts, in
// mount order then depth first, merged by name.
func (s *cgroupSource) walk(g cgGroup) ([]cgDir, error) {
	var out []cgDir
	index := map[string]int{}
	var tooMany error
	var visit func(dir, name string, depth int)
	visit = func(dir, name string, depth int) {
		if len(index) >= cgroupMaxGroups {
			tooMany = errCgroupTooMany
			return
		}
		if s.v2 && g != cgV2 && cgV2Marker[g] != "" {
			if _, err := os.Lstat(filepath.Join(dir, cgV2Marker[g])); err != nil {
				goto children
			}
		}
		{
			inst := unitUnescape(name)
			if i, ok := index[inst]; ok {
				out[i].dirs = append(out[i].dirs, dir)
			} else {
				index[inst] = len(out)
				out = append(out, cgDir{inst, []string{dir}})
			}
		}
	children:
		if depth >= cgroupMaxDepth {
			tooMany = errCgroupTooMany
			return
		}
		for _, sub := range s.subdirs(dir) {
			child := "/" + sub
			if name != "/" {
				child = name + child
			}
			visit(filepath.Join(dir, sub), child, depth+1)
		}
	}
	for _, m := range s.mountsOf(g) {
		if _, err := os.Lstat(m.dir); err != nil {
			continue // a mount that went away
		}
		visit(m.dir, "/", 0)
	}
	return out, tooMany
}

// subdirs lists the directories in dir (not symbolic links, not dot names), once
// per fetch however many controllers' walks pass through it.
func (s *cgroupSource) subdirs(dir string) []string {
	if l, ok := s.dirCache[dir]; ok {
		return l
	}
	if fileHook != nil {
		fileHook(dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		s.partial.Add(1)
	}
	var out []string
	for _, e := range ents {
		if e.Name()[0] != '.' && e.IsDir() { // IsDir is false for symbolic links
			out = append(out, e.Name())
		}
	}
	if s.dirCache == nil {
		s.dirCache = map[string][]string{}
	}
	s.dirCache[dir] = out
	return out
}

// unitUnescape decodes systemd's \xHH escapes in a group name, as the agent names
// its instances; an escape that would give a control character is left as it is.
func unitUnescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, ok := parseHex2(s[i+2], s[i+3]); ok && v >= 0x20 && v != 0x7f {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func parseHex2(a, b byte) (byte, bool) {
	h := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	x, ok1 := h(a)
	y, ok2 := h(b)
	return x<<4 | y, ok1 && ok2
}

// containerID is the container id a group's name carries, as the agent finds it:
// a last path component that is 64 hexadecimal digits, or "docker-" or "libpod-"
// followed by them and a suffix (".scope"); "" when there is none.
func containerID(name string) string {
	last := name[strings.LastIndexByte(name, '/')+1:]
	for _, p := range []string{"docker-", "libpod-"} {
		if rest, ok := strings.CutPrefix(last, p); ok {
			if i := strings.IndexByte(rest, '.'); i >= 0 {
				last = rest[:i]
			}
			break
		}
	}
	if len(last) != 64 {
		return ""
	}
	for i := 0; i < len(last); i++ {
		if c := last[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return last
}

// readCgFile reads one file of a group from the first of its directories that has
// it; ok is false when none has it. A file that exists but cannot be read is counted.
func (s *cgroupSource) readCgFile(d *cgDir, file string) ([]byte, bool) {
	for _, dir := range d.dirs {
		p := filepath.Join(dir, file)
		if fileHook != nil {
			fileHook(p)
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			s.partial.Add(1)
			return nil, false
		}
		s.fbuf = s.fbuf[:0]
		buf := bytes.NewBuffer(s.fbuf)
		n, err := buf.ReadFrom(io.LimitReader(f, cgroupMaxFile+1))
		f.Close()
		s.fbuf = buf.Bytes()
		if err != nil || n > cgroupMaxFile {
			s.partial.Add(1)
			return nil, false
		}
		return s.fbuf, true
	}
	return nil, false
}

// cgUserHZ is the tick rate of cpuacct.stat (USER_HZ, 100 on every Linux ABI).
const cgMsecPerTick = 10

func (s *cgroupSource) Fetch(reqs []Request) error {
	clear(s.dirCache)
	var need [cgNumGroups]bool
	needSubsys, needMounts, needDev := false, false, false
	for _, rq := range reqs {
		m := &cgMetrics[rq.Sel]
		switch m.kind {
		case kSubsys:
			needSubsys = true
		case kMounts:
			needMounts = true
			needSubsys = needSubsys || m.key == "subsys"
		default:
			need[m.group] = true
			needMounts = true
			needDev = needDev || m.kind == kBlkioOp || m.kind == kBlkioDev || m.kind == kIOStat
		}
	}
	if needSubsys {
		if err := s.readSubsys(); err != nil {
			return err
		}
	}
	var mountErr error
	if needMounts {
		mountErr = s.readMounts()
	}
	if needDev {
		clear(s.devNames)
		if s.devNames == nil {
			s.devNames = map[string]string{}
		}
	}
	// Without the mounts, every metric but the /proc/cgroups ones fails; the source
	// as a whole fails (and is counted) when nothing else was asked for, and the
	// failure is a partial error otherwise.
	served := false
	for _, rq := range reqs {
		m := &cgMetrics[rq.Sel]
		switch {
		case m.kind == kSubsys:
			s.putSubsys(rq.Res, m)
			served = true
		case mountErr != nil:
			rq.Res.Err = protocol.ErrValue
		case m.kind == kMounts:
			s.putMounts(rq.Res, m)
		}
	}
	if mountErr != nil {
		if !served {
			return mountErr
		}
		s.partial.Add(1)
		return nil
	}
	for g := cgCpuset; g < cgNumGroups; g++ {
		if !need[g] {
			continue
		}
		dirs, err := s.walk(g)
		if err != nil {
			s.partial.Add(1)
		}
		// The files this fetch needs in each group, in first-asked order.
		var files []string
		for _, rq := range reqs {
			m := &cgMetrics[rq.Sel]
			if m.group == g && m.file != "" && !containsString(files, m.file) {
				files = append(files, m.file)
			}
		}
		for i := range dirs {
			d := &dirs[i]
			for _, rq := range reqs {
				if m := &cgMetrics[rq.Sel]; m.group == g && m.kind == kContainer {
					putS(rq.Res, s.idsOf(m.indom).idString(d.name), containerID(d.name))
				}
			}
			for _, file := range files {
				b, ok := s.readCgFile(d, file)
				if !ok {
					continue
				}
				bad := false
				for _, rq := range reqs {
					if m := &cgMetrics[rq.Sel]; m.group == g && m.file == file {
						bad = !s.parse(rq.Res, m, d.name, b) || bad
					}
				}
				if bad {
					s.partial.Add(1)
				}
			}
		}
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *cgroupSource) putSubsys(res *Result, m *cgMetric) {
	if m.key == "count" {
		if len(s.subsys) > 0 {
			putU(res, protocol.InNull, uint64(len(s.subsys)))
		}
		return
	}
	ids := s.idsOf(indomCgSubsys)
	for _, r := range s.subsys {
		v := r.hierarchy
		switch m.key {
		case "num_cgroups":
			v = r.numCgroups
		case "enabled":
			v = r.enable
		}
		putU(res, ids.idString(r.name), v)
	}
}

func (s *cgroupSource) putMounts(res *Result, m *cgMetric) {
	if m.key == "count" {
		putU(res, protocol.InNull, uint64(len(s.mnts)))
		return
	}
	ids := s.idsOf(indomCgMounts)
	for _, mnt := range s.mnts {
		// The controllers among the mount's options, "?" for none (and for cgroup2).
		var subs []string
		for _, o := range mnt.options {
			for _, r := range s.subsys {
				if r.name == o {
					subs = append(subs, o)
					break
				}
			}
		}
		v := "?"
		if len(subs) > 0 {
			v = strings.Join(subs, ",")
		}
		putS(res, ids.idString(mnt.path), v)
	}
}

// parse adds the values metric m takes from file contents b of group name; false
// when the file does not have the expected format (no value is added then).
func (s *cgroupSource) parse(res *Result, m *cgMetric, name string, b []byte) bool {
	ids := s.idsOf(m.indom)
	switch m.kind {
	case kOne, kOneSigned:
		f, rest := nextField(b)
		if len(trimSpace(rest)) != 0 {
			return false
		}
		if m.kind == kOne {
			v, ok := parseUint(f)
			if ok {
				putU(res, ids.idString(name), v)
			}
			return ok
		}
		v, ok := parseInt(f)
		if ok {
			putI(res, ids.idString(name), v)
		}
		return ok
	case kString:
		line, _ := nextLine(b)
		line = trimSpace(line)
		if len(line) > 4096 || !cgPrintable(line) {
			return false
		}
		putS(res, ids.idString(name), string(line))
		return true
	case kKeyed, kTicks:
		for rest := b; len(rest) > 0; {
			var line []byte
			line, rest = nextLine(rest)
			k, r := nextField(line)
			if string(k) != m.key {
				continue
			}
			f, r := nextField(r)
			v, ok := parseUint(f)
			if !ok || len(trimSpace(r)) != 0 {
				return false
			}
			if m.kind == kTicks {
				if v > (1<<64-1)/cgMsecPerTick {
					return false
				}
				v *= cgMsecPerTick
			}
			putU(res, ids.idString(name), v)
			return true
		}
		return true // the kernel does not have this one: no value
	case kPercpu:
		line, _ := nextLine(b)
		var vals []uint64
		for f, r := nextField(line); len(f) > 0; f, r = nextField(r) {
			v, ok := parseUint(f)
			if !ok || len(vals) >= 1<<14 {
				return false
			}
			vals = append(vals, v)
		}
		for i, v := range vals {
			putU(res, ids.idString(fmt.Sprintf("%s::cpu%d", name, i)), v)
		}
		return true
	case kPSI:
		for rest := b; len(rest) > 0; {
			var line []byte
			line, rest = nextLine(rest)
			k, r := nextField(line)
			if string(k) != m.key {
				continue
			}
			// The whole line must parse, whichever field is asked for.
			var avg [3]float64
			var total uint64
			for i, key := range []string{"avg10=", "avg60=", "avg300=", "total="} {
				var fi []byte
				fi, r = nextField(r)
				if !bytes.HasPrefix(fi, []byte(key)) {
					return false
				}
				ok := false
				if i < 3 {
					avg[i], ok = parseFloat(fi[len(key):])
				} else {
					total, ok = parseUint(fi[len(key):])
				}
				if !ok {
					return false
				}
			}
			if m.field == 3 {
				putU(res, ids.idString(name), total)
			} else {
				putF(res, ids.idString(name), avg[m.field])
			}
			return true
		}
		return true
	case kBlkioOp, kBlkioDev, kIOStat:
		return s.parseDevFile(res, m, name, b)
	}
	return true
}

// parseDevFile handles the per-device files: blkio.* ("MAJ:MIN Op value" or
// "MAJ:MIN value", and a closing "Total value") and io.stat ("MAJ:MIN key=value ...").
// Devices without a /sys/dev/block link are left out, of the sums too.
func (s *cgroupSource) parseDevFile(res *Result, m *cgMetric, name string, b []byte) bool {
	ids := s.idsOf(m.indom)
	var sum uint64
	any := false
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		dev, r := nextField(line)
		if len(dev) == 0 || string(dev) == "Total" {
			continue
		}
		if bytes.IndexByte(dev, ':') < 0 {
			return false
		}
		var f []byte
		switch m.kind {
		case kBlkioOp:
			var op []byte
			op, r = nextField(r)
			if string(op) != m.key {
				continue
			}
			f, r = nextField(r)
		case kBlkioDev:
			f, r = nextField(r)
		case kIOStat:
			found := false
			for fi, rr := nextField(r); len(fi) > 0; fi, rr = nextField(rr) {
				if k, v, ok := bytes.Cut(fi, []byte("=")); ok && string(k) == m.key {
					f, found = v, true
				}
			}
			if !found {
				continue
			}
			r = nil
		}
		v, ok := parseUint(f)
		if !ok || len(trimSpace(r)) != 0 {
			return false
		}
		disk, known := s.devName(dev)
		if !known {
			continue
		}
		if m.all {
			sum += v
			any = true
			continue
		}
		putU(res, ids.idString(name+"::"+disk), v)
	}
	if m.all && any {
		if m.key == "sectors" {
			sum /= 2 // 512-byte sectors, served in kilobytes
		}
		putU(res, ids.idString(name), sum)
	}
	return true
}

// cgPrintable: a string value from a cgroup file holds no control characters.
func cgPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// cgInDomMetric: for each per-group instance domain, a metric whose file lists its
// instances (nil: every group walked is an instance).
func cgIndomGroup(in protocol.InDom) (cgGroup, *cgMetric) {
	var files []*cgMetric
	g := cgNone
	for i := range cgMetrics {
		m := &cgMetrics[i]
		if m.indom != in {
			continue
		}
		g = m.group
		if m.kind == kPercpu || (m.kind == kBlkioOp || m.kind == kBlkioDev || m.kind == kIOStat) && !m.all {
			files = append(files, m)
		}
	}
	if len(files) > 0 {
		return g, files[0]
	}
	return g, nil
}

func (s *cgroupSource) Instances(in protocol.InDom) ([]Instance, error) {
	switch in {
	case indomCgSubsys:
		if err := s.readSubsys(); err != nil {
			return nil, err
		}
		out := make([]Instance, len(s.subsys))
		for i, r := range s.subsys {
			out[i] = Instance{ID: s.idsOf(in).idString(r.name), Name: r.name}
		}
		return out, nil
	case indomCgMounts:
		if err := s.readMounts(); err != nil {
			return nil, err
		}
		out := make([]Instance, len(s.mnts))
		for i, m := range s.mnts {
			out[i] = Instance{ID: s.idsOf(in).idString(m.path), Name: m.path}
		}
		return out, nil
	}
	clear(s.dirCache)
	g, lister := cgIndomGroup(in)
	if g == cgNone {
		return nil, fmt.Errorf("cgroup: no instance domain %v", in)
	}
	if err := s.readMounts(); err != nil {
		return nil, err
	}
	dirs, err := s.walk(g)
	if err != nil {
		s.partial.Add(1)
	}
	ids := s.idsOf(in)
	var out []Instance
	if lister == nil {
		for _, d := range dirs {
			out = append(out, Instance{ID: ids.idString(d.name), Name: d.name})
		}
		return out, nil
	}
	if s.devNames == nil {
		s.devNames = map[string]string{}
	}
	clear(s.devNames)
	// The per-CPU and per-device instances are those the files list: parse each
	// lister file (every blkio op file for blkio) into a scratch result.
	var res Result
	for i := range dirs {
		for j := range cgMetrics {
			m := &cgMetrics[j]
			if m.indom != in || m.all || !(m.kind == kPercpu || m.kind == kBlkioDev || m.kind == kIOStat || m.kind == kBlkioOp && m.key == "Total") {
				continue
			}
			if b, ok := s.readCgFile(&dirs[i], m.file); ok {
				s.parse(&res, m, dirs[i].name, b)
			}
			if m.kind == kIOStat || m.kind == kPercpu {
				break // one field is enough to list the devices or CPUs
			}
		}
	}
	seen := map[uint32]bool{}
	for _, v := range res.Values {
		if !seen[v.Inst] {
			seen[v.Inst] = true
			out = append(out, Instance{ID: v.Inst, Name: ids.name(v.Inst)})
		}
	}
	return out, nil
}
