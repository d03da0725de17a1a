package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gopcp/gopcp/protocol"
)

// The "stat" source: /proc/stat (CPU times, interrupts, context switches, forks,
// running/blocked processes, boot time, CPU count, and the 2.4-era swap line).
//
// procfs's Stat() is not used here: it converts jiffies to float seconds and fills
// fields a kernel does not print (steal, guest, ...) with 0, so it cannot tell absent
// from zero, and it parses every number of the long intr line. This parser keeps the
// integer jiffies, counts the fields each cpu line has, and skips what it does not
// need.

// userHZ is USER_HZ, the unit of /proc/stat CPU times (sysconf(_SC_CLK_TCK)). It is
// 100 on every Linux architecture the collector is built for.
const userHZ = 100

const (
	cpuUser = iota
	cpuNice
	cpuSys
	cpuIdle
	cpuWait
	cpuIRQ
	cpuSoftIRQ
	cpuSteal
	cpuGuest
	cpuGuestNice
	cpuFields
)

// cpuColumn is one CPU time metric as the linux agent serves it three times: summed
// over all CPUs (kernel.all.cpu.X), per CPU (kernel.percpu.cpu.X, indom 60.0) and per
// NUMA node (kernel.pernode.cpu.X, indom 60.19). items are the PMID items in cluster 0.
type cpuColumn struct {
	name               string
	all, per, node     uint32
	oneline, computing string
}

// cpuColumns in the order of their selectors. A column's selector is its index plus
// cpuScopeAll, cpuScopePer or cpuScopeNode.
var cpuColumns = []cpuColumn{
	{"user", 20, 0, 62, "time spent in user mode, guest time included", "the user column"},
	{"nice", 21, 1, 63, "time spent in user mode at a lowered priority (nice), guest_nice included", "the nice column"},
	{"sys", 22, 2, 64, "time spent in the kernel", "the system column"},
	{"idle", 23, 3, 65, "time spent idle and not waiting for I/O", "the idle column"},
	{"intr", 34, 31, 66, "time spent servicing hardware and software interrupts", "the irq plus softirq columns"},
	{"wait.total", 35, 30, 69, "idle time while some I/O was outstanding", "the iowait column"},
	{"irq.soft", 53, 56, 70, "time spent servicing software interrupts (softirqs)", "the softirq column"},
	{"irq.hard", 54, 57, 71, "time spent servicing hardware interrupts", "the irq column"},
	{"steal", 55, 58, 67, "time a hypervisor ran something else while this CPU wanted to run", "the steal column"},
	{"guest", 60, 61, 68, "time spent running virtual CPUs of guests", "the guest column"},
	{"vuser", 78, 76, 77, "user mode time without the time spent running guests", "the user column minus the guest column"},
	{"guest_nice", 81, 83, 85, "time spent running niced virtual CPUs of guests", "the guest_nice column"},
	{"vnice", 82, 84, 86, "niced user mode time without the time spent running niced guests", "the nice column minus the guest_nice column"},
}

// Selector bases of the three scopes of a cpuColumn.
const (
	cpuScopeAll  = 0
	cpuScopePer  = 100
	cpuScopeNode = 200
)

// Selectors of the other metrics of the stat source.
const (
	selIntr = 1000 + iota
	selPswitch
	selSysfork
	selRunning
	selBlocked
	selBoottime
	selNCPU
	selSwapIn
	selSwapOut
	selNNode
	selCPUNum
	selCPUNode
	selCPUOnline
)

// statOwnHelp is our own help for the metrics of the stat source added since the
// first catalogue; the others keep the help generated from PCP (helptext.go).
var statOwnHelp = map[int]helpText{
	selNNode: {"number of NUMA nodes",
		"The nodeN directories of /sys/devices/system/node; 1 when the kernel has no NUMA\n" +
			"support, as then every CPU of /proc/stat belongs to node 0."},
	selCPUNum: {"logical number of each CPU",
		"N of the cpuN line of /proc/stat, one value per CPU instance."},
	selCPUNode: {"NUMA node of each CPU",
		"The node whose /sys/devices/system/node/nodeN/cpulist names the CPU, per CPU of\n" +
			"/proc/stat; 0 when the kernel has no NUMA support."},
	selCPUOnline: {"whether each CPU is online",
		"1 for every CPU of /proc/stat: the kernel lists only online CPUs there, so an\n" +
			"offline CPU has no instance rather than a 0."},
}

// statHelp: our words for the CPU time columns not in the first catalogue, and for
// the statOwnHelp metrics.
func statHelp(d metricDef) helpText {
	if h, ok := statOwnHelp[d.sel]; ok {
		return h
	}
	if d.sel >= 1000 || d.sel%100 >= len(cpuColumns) {
		return helpText{}
	}
	if _, ok := helpPMID[d.pmid]; ok {
		return helpText{} // served before: keeps the generated help
	}
	c := cpuColumns[d.sel%100]
	var where string
	switch d.sel / 100 {
	case 0:
		where = "Summed over all CPUs: the \"cpu\" line of /proc/stat"
	case 1:
		where = "Per CPU: each \"cpuN\" line of /proc/stat"
	default:
		where = "Per NUMA node: the \"cpuN\" lines of /proc/stat of the node's CPUs\n" +
			"(/sys/devices/system/node/nodeN/cpulist) added up"
	}
	return helpText{c.oneline, where + ", " + c.computing + ",\n" +
		"converted from clock ticks to milliseconds. No value when the running kernel\n" +
		"does not print the column."}
}

func statMetrics() []metricDef {
	var defs []metricDef
	for i, c := range cpuColumns {
		defs = append(defs,
			metricDef{"kernel.all.cpu." + c.name, pmid(60, 0, c.all), tU64, null, semC, uMsec, cpuScopeAll + i},
			metricDef{"kernel.percpu.cpu." + c.name, pmid(60, 0, c.per), tU64, indomCPU, semC, uMsec, cpuScopePer + i},
			metricDef{"kernel.pernode.cpu." + c.name, pmid(60, 0, c.node), tU64, indomNode, semC, uMsec, cpuScopeNode + i})
	}
	return append(defs,
		metricDef{"kernel.all.intr", pmid(60, 0, 12), tU64, null, semC, uCount, selIntr},
		metricDef{"kernel.all.pswitch", pmid(60, 0, 13), tU64, null, semC, uCount, selPswitch},
		metricDef{"kernel.all.sysfork", pmid(60, 0, 14), tU64, null, semC, uCount, selSysfork},
		metricDef{"kernel.all.running", pmid(60, 0, 15), tU64, null, semI, uNone, selRunning},
		metricDef{"kernel.all.blocked", pmid(60, 0, 16), tU64, null, semI, uNone, selBlocked},
		metricDef{"kernel.all.boottime", pmid(60, 0, 17), tI64, null, semD, uSec, selBoottime},
		metricDef{"hinv.ncpu", pmid(60, 0, 32), tU32, null, semD, uNone, selNCPU},
		metricDef{"hinv.nnode", pmid(60, 0, 19), tU32, null, semD, uNone, selNNode},
		metricDef{"hinv.map.cpu_num", pmid(60, 18, 6), tU32, indomCPU, semD, uNone, selCPUNum},
		metricDef{"hinv.map.cpu_node", pmid(60, 18, 8), tU32, indomCPU, semD, uNone, selCPUNode},
		metricDef{"hinv.cpu.online", pmid(60, 55, 0), tU32, indomCPU, semI, uNone, selCPUOnline},
		metricDef{"swap.in", pmid(60, 0, 10), tU32, null, semC, uCount, selSwapIn},
		metricDef{"swap.out", pmid(60, 0, 11), tU32, null, semC, uCount, selSwapOut},
	)
}

// indomNode is the NUMA node instance domain (60.19), "node0", "node1", ...
var indomNode = protocol.NewInDom(DomainLinux, 19)

func init() {
	setOwnInDomHelp(indomNode, "NUMA nodes",
		"One instance per NUMA node, named nodeN after /sys/devices/system/node/nodeN (a\n"+
			"single node0 on a kernel without NUMA support).")
	registerSource(&sourceSpec{
		name:   "stat",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomCPU, indomNode},
		new: func(e *env) Source {
			return &statSource{file: newKfile(filepath.Join(e.procRoot, "stat")),
				nodeDir: filepath.Join(e.sysRoot, "devices", "system", "node")}
		},
		metrics: statMetrics(),
		help:    statHelp,
	})
	registerSource(&sourceSpec{
		name:   "clock",
		domain: DomainLinux,
		new:    func(*env) Source { return clockSource{} },
		metrics: []metricDef{
			{"kernel.all.hz", pmid(60, 0, 48), tU32, null, semD, uCPS, 0},
		},
	})
}

// cpuTimes is one cpu line: the jiffies of its first n fields.
type cpuTimes struct {
	id uint32
	n  int
	v  [cpuFields]uint64
}

// column returns the jiffies of cpuColumns[c], if the kernel printed what it needs.
func (c *cpuTimes) column(col int) optU {
	has := func(f int) bool { return f < c.n }
	switch cpuColumns[col].name {
	case "user":
		return c.raw(cpuUser)
	case "nice":
		return c.raw(cpuNice)
	case "sys":
		return c.raw(cpuSys)
	case "idle":
		return c.raw(cpuIdle)
	case "intr":
		if has(cpuIRQ) && has(cpuSoftIRQ) {
			return optU{c.v[cpuIRQ] + c.v[cpuSoftIRQ], true}
		}
	case "wait.total":
		return c.raw(cpuWait)
	case "irq.soft":
		return c.raw(cpuSoftIRQ)
	case "irq.hard":
		return c.raw(cpuIRQ)
	case "steal":
		return c.raw(cpuSteal)
	case "guest":
		return c.raw(cpuGuest)
	case "guest_nice":
		return c.raw(cpuGuestNice)
	case "vuser":
		// The kernel counts guest time in user time too (and guest_nice in nice);
		// the v* columns take it out again, never going below zero if a read
		// caught the two columns between updates.
		if has(cpuGuest) {
			return optU{subFloor(c.v[cpuUser], c.v[cpuGuest]), true}
		}
	case "vnice":
		if has(cpuGuestNice) {
			return optU{subFloor(c.v[cpuNice], c.v[cpuGuestNice]), true}
		}
	}
	return optU{}
}

func (c *cpuTimes) raw(f int) optU {
	if f >= c.n {
		return optU{}
	}
	return optU{c.v[f], true}
}

func subFloor(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// ticksToMsec converts clock ticks of /proc/stat to milliseconds.
func ticksToMsec(o optU) optU {
	if !o.ok {
		return o
	}
	return optU{o.v * 1000 / userHZ, true}
}

type statSource struct {
	file    *kfile
	buf     []byte
	nodeDir string // /sys/devices/system/node

	// the last read
	all                                 cpuTimes
	haveAll                             bool
	per                                 []cpuTimes
	intr, ctxt, procs, running, blocked optU
	btime                               optU
	swapIn, swapOut                     optU
	haveSwap                            bool
	cpuNames                            []string // "cpuN" by N, cached

	// The CPU to node map, read from sysfs when first needed and again whenever
	// the set of CPUs in /proc/stat changes (hotplug), not on every fetch.
	nodes    nodeMap
	nodesFor []uint32 // the CPU ids nodes was read for
}

// nodeMap is the NUMA topology: the node of each CPU and the list of nodes.
type nodeMap struct {
	cpuNode map[uint32]uint32
	ids     []uint32 // node ids, ascending
}

func (s *statSource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.haveAll, s.haveSwap = false, false
	s.per = s.per[:0]
	s.intr, s.ctxt, s.procs, s.running, s.blocked, s.btime = optU{}, optU{}, optU{}, optU{}, optU{}, optU{}
	s.swapIn, s.swapOut = optU{}, optU{}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		key, vals := nextField(line)
		switch {
		case len(key) >= 3 && key[0] == 'c' && key[1] == 'p' && key[2] == 'u':
			var ct cpuTimes
			if err := parseCPULine(vals, &ct); err != nil {
				return fmt.Errorf("%s: %s: %w", s.file.path, key, err)
			}
			if len(key) == 3 {
				s.all, s.haveAll = ct, true
				continue
			}
			id, ok := parseUint(key[3:])
			if !ok || id > 1<<20 {
				return fmt.Errorf("%s: %q: %w", s.file.path, key, errParse)
			}
			ct.id = uint32(id)
			s.per = append(s.per, ct)
		case bytes.Equal(key, []byte("intr")):
			s.intr = firstUint(vals)
		case bytes.Equal(key, []byte("ctxt")):
			s.ctxt = firstUint(vals)
		case bytes.Equal(key, []byte("processes")):
			s.procs = firstUint(vals)
		case bytes.Equal(key, []byte("procs_running")):
			s.running = firstUint(vals)
		case bytes.Equal(key, []byte("procs_blocked")):
			s.blocked = firstUint(vals)
		case bytes.Equal(key, []byte("btime")):
			s.btime = firstUint(vals)
		case bytes.Equal(key, []byte("swap")):
			// Linux 2.4: "swap <pages in> <pages out>"
			f1, r := nextField(vals)
			f2, _ := nextField(r)
			in, ok1 := parseUint(f1)
			out, ok2 := parseUint(f2)
			if ok1 && ok2 {
				s.swapIn, s.swapOut, s.haveSwap = optU{in, true}, optU{out, true}, true
			}
		}
	}
	if !s.haveAll {
		return fmt.Errorf("%s: %w: no cpu line", s.file.path, errParse)
	}
	return nil
}

// parseCPULine parses the numbers after "cpu" or "cpuN"; at least user, nice, system
// and idle must be there.
func parseCPULine(b []byte, ct *cpuTimes) error {
	for ct.n < cpuFields {
		var f []byte
		f, b = nextField(b)
		if len(f) == 0 {
			break
		}
		v, ok := parseUint(f)
		if !ok {
			return errParse
		}
		ct.v[ct.n] = v
		ct.n++
	}
	if ct.n < 4 {
		return errParse
	}
	return nil
}

func firstUint(b []byte) optU {
	f, _ := nextField(b)
	v, ok := parseUint(f)
	return optU{v, ok}
}

func (s *statSource) cpuName(id uint32) string {
	for uint32(len(s.cpuNames)) <= id {
		s.cpuNames = append(s.cpuNames, "cpu"+strconv.Itoa(len(s.cpuNames)))
	}
	return s.cpuNames[id]
}

func (s *statSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	in := protocol.InNull
	for _, rq := range reqs {
		res := rq.Res
		switch sel := rq.Sel; {
		case sel >= cpuScopeAll && sel < cpuScopeAll+len(cpuColumns):
			putOptU(res, in, ticksToMsec(s.all.column(sel-cpuScopeAll)))
		case sel >= cpuScopePer && sel < cpuScopePer+len(cpuColumns):
			for i := range s.per {
				putOptU(res, s.per[i].id, ticksToMsec(s.per[i].column(sel-cpuScopePer)))
			}
		case sel >= cpuScopeNode && sel < cpuScopeNode+len(cpuColumns):
			if err := s.fetchNodes(res, sel-cpuScopeNode); err != nil {
				res.Err = protocol.ErrValue
			}
		case sel == selIntr:
			putOptU(res, in, s.intr)
		case sel == selPswitch:
			putOptU(res, in, s.ctxt)
		case sel == selSysfork:
			putOptU(res, in, s.procs)
		case sel == selRunning:
			putOptU(res, in, s.running)
		case sel == selBlocked:
			putOptU(res, in, s.blocked)
		case sel == selBoottime:
			putOptU(res, in, s.btime)
		case sel == selNCPU:
			if len(s.per) > 0 {
				putU(res, in, uint64(len(s.per)))
			}
		case sel == selNNode:
			if m, err := s.nodeMap(); err == nil {
				putU(res, in, uint64(len(m.ids)))
			} else {
				res.Err = protocol.ErrValue
			}
		case sel == selCPUNum:
			for i := range s.per {
				putU(res, s.per[i].id, uint64(s.per[i].id))
			}
		case sel == selCPUNode:
			m, err := s.nodeMap()
			if err != nil {
				res.Err = protocol.ErrValue
				continue
			}
			for i := range s.per {
				if n, ok := m.cpuNode[s.per[i].id]; ok {
					putU(res, s.per[i].id, uint64(n))
				}
			}
		case sel == selCPUOnline:
			for i := range s.per {
				putU(res, s.per[i].id, 1)
			}
		case sel == selSwapIn, sel == selSwapOut:
			// Only 2.4 kernels print the swap line; the linux agent answers
			// PM_ERR_APPVERSION for these on anything newer.
			if !s.haveSwap {
				res.Err = protocol.ErrAppVersion
				continue
			}
			v := s.swapIn
			if sel == selSwapOut {
				v = s.swapOut
			}
			putU(res, in, uint64(uint32(v.v)))
		}
	}
	return nil
}

// fetchNodes adds up column col over the CPUs of each node. A node whose CPUs lack
// the column (an older kernel) has no value.
func (s *statSource) fetchNodes(res *Result, col int) error {
	m, err := s.nodeMap()
	if err != nil {
		return err
	}
	for _, node := range m.ids {
		var sum uint64
		ok, any := true, false
		for i := range s.per {
			if n, in := m.cpuNode[s.per[i].id]; !in || n != node {
				continue
			}
			v := s.per[i].column(col)
			ok, any = ok && v.ok, true
			sum += v.v
		}
		if ok && any {
			putU(res, node, sum*1000/userHZ)
		}
	}
	return nil
}

// nodeMap returns the CPU to node map for the CPUs of the last read, reading sysfs
// again only when that set of CPUs changed.
func (s *statSource) nodeMap() (*nodeMap, error) {
	same := len(s.nodesFor) == len(s.per) && s.nodes.cpuNode != nil
	for i := 0; same && i < len(s.per); i++ {
		same = s.nodesFor[i] == s.per[i].id
	}
	if same {
		return &s.nodes, nil
	}
	m, err := readNodeMap(s.nodeDir, s.per)
	if err != nil {
		return nil, err
	}
	s.nodes = m
	s.nodesFor = s.nodesFor[:0]
	for i := range s.per {
		s.nodesFor = append(s.nodesFor, s.per[i].id)
	}
	return &s.nodes, nil
}

// readNodeMap reads dir/nodeN/cpulist for each node. Without dir (a kernel built
// without NUMA) every CPU is on node 0, as the linux agent has it; a CPU no cpulist
// names is left out of every node.
func readNodeMap(dir string, per []cpuTimes) (nodeMap, error) {
	m := nodeMap{cpuNode: make(map[uint32]uint32, len(per))}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		m.ids = []uint32{0}
		for i := range per {
			m.cpuNode[per[i].id] = 0
		}
		return m, nil
	}
	if err != nil {
		return m, err
	}
	for _, e := range ents {
		name := e.Name()
		if len(name) <= 4 || name[:4] != "node" {
			continue
		}
		id, ok := parseUint([]byte(name[4:]))
		if !ok || id > 1<<16 {
			continue // "node" followed by something else is not a node
		}
		b, err := os.ReadFile(filepath.Join(dir, name, "cpulist"))
		if err != nil {
			return m, err
		}
		cpus, err := parseCPUList(trimSpace(b))
		if err != nil {
			return m, fmt.Errorf("%s: %w", filepath.Join(dir, name, "cpulist"), err)
		}
		for _, c := range cpus {
			m.cpuNode[c] = uint32(id)
		}
		m.ids = append(m.ids, uint32(id))
	}
	slices.Sort(m.ids)
	return m, nil
}

// parseCPUList parses a kernel CPU list such as "0-3,8,10-11" (empty: none).
func parseCPUList(b []byte) ([]uint32, error) {
	var out []uint32
	for len(b) > 0 {
		part := b
		if i := bytes.IndexByte(b, ','); i >= 0 {
			part, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		lo, hi := part, part
		if i := bytes.IndexByte(part, '-'); i >= 0 {
			lo, hi = part[:i], part[i+1:]
		}
		l, ok1 := parseUint(lo)
		h, ok2 := parseUint(hi)
		// A bound on the range keeps a hostile file from making us allocate
		// without limit; no kernel has more than 2^16 CPUs in a node.
		if !ok1 || !ok2 || l > h || h >= 1<<20 || h-l >= 1<<16 || len(out) > 1<<16 {
			return nil, fmt.Errorf("%w: CPU list %q", errParse, part)
		}
		for c := l; c <= h; c++ {
			out = append(out, uint32(c))
		}
	}
	return out, nil
}

func (s *statSource) Instances(indom protocol.InDom) ([]Instance, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	if indom == indomNode {
		m, err := s.nodeMap()
		if err != nil {
			return nil, err
		}
		out := make([]Instance, len(m.ids))
		for i, id := range m.ids {
			out[i] = Instance{ID: id, Name: "node" + strconv.FormatUint(uint64(id), 10)}
		}
		return out, nil
	}
	out := make([]Instance, len(s.per))
	for i := range s.per {
		out[i] = Instance{ID: s.per[i].id, Name: s.cpuName(s.per[i].id)}
	}
	return out, nil
}

// clockSource answers kernel.all.hz, which needs no file.
type clockSource struct{}

func (clockSource) Fetch(reqs []Request) error {
	for _, rq := range reqs {
		putU(rq.Res, protocol.InNull, userHZ)
	}
	return nil
}
