// Package metrics is the collector's metric catalogue and its metric sources: the
// namespace (PMNS), descriptors, one-line and long help, instance domains and labels
// of the metrics gopcp serves, and the sources that read their values from the Linux
// kernel (/proc, /sys, statfs) through an injectable root.
//
// The names, PMIDs, descriptors and namespace order are those of PCP 6.0.3's linux
// (domain 60), proc (3) and pmcd (2) agents, so that the real PCP tools see no
// difference (namespace_order.go). The help texts are our own, written from what each
// source reads: in the source file (sourceSpec.help) or, for the families of the first
// catalogue, in the hand-maintained table of helptext.go. None is PCP's text.
//
// Values follow three rules. Absent is not zero: a value the kernel does not expose is
// reported as "no values" (or a per-metric error), never as 0. One broken source never
// breaks the others: a source that cannot read or parse its file (or panics) fails its
// own metrics only, and SourceErrors counts it. Each kernel file is read at most once
// per Fetch, however many of the requested metrics it feeds, and only the sources the
// requested metrics need are read.
//
// A source is one file per group, registering itself from init (registerSource):
//
//	stat      cpu.go         /proc/stat: CPU times (all, percpu, pernode), context switches, forks,
//	                         hinv.ncpu; /sys/devices/system/node: the NUMA node map, hinv.nnode
//	interrupts interrupts.go /proc/interrupts, /proc/softirqs: per-line and per-CPU totals
//	pressure  pressure.go    /proc/pressure/*: kernel.all.pressure.*
//	clock     cpu.go         kernel.all.hz (no file)
//	loadavg   load.go        /proc/loadavg: kernel.all.load, kernel.all.nprocs
//	uptime    load.go        /proc/uptime
//	meminfo   memory.go      /proc/meminfo: mem.physmem, mem.util.* (all), swap sizes, hinv.physmem
//	vmstat    vmstat.go      /proc/vmstat: mem.vmstat.* (all), swap.pagesin, swap.pagesout
//	snmp      snmp.go        /proc/net/snmp: network.{ip,icmp,tcp,udp,udplite}.*, network.icmpmsg.*
//	netstat   snmp.go        /proc/net/netstat: the IpExt and TcpExt extras of network.ip/tcp;
//	          mptcp.go       MPTcpExt: network.mptcp.*
//	softnet   softnet.go     /proc/net/softnet_stat (procfs): network.softnet.*
//	tcpconn   netconn.go     /proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}, one source each (tcpconn6,
//	                         udpconn, udpconn6, rawconn, rawconn6, unixconn): socket counts
//	snmp6     snmp6.go       /proc/net/snmp6: network.{ip6,icmp6,udp6,udplite6}.*
//	sockstat  sockstat.go    /proc/net/sockstat, sockstat6: network.sockstat.*
//	swaps     swaps.go       /proc/swaps: swapdev.*
//	vfs       sysctl.go      /proc/sys/fs/*: vfs.files, inodes, dentry, aio
//	kernsys   sysctl.go      /proc/sys/kernel/*: kernel.all.entropy.*, pid_max, nptys
//	ksm       sysctl.go      /sys/kernel/mm/ksm/*: mem.ksm.*
//	utmp      users.go       /var/run/utmp: kernel.all.nusers, nroots, nsessions
//	pagesize  memory.go      hinv.pagesize (no file)
//	diskstats disk.go        /proc/diskstats: disk.dev/all/partitions/dm.*, hinv.ndisk; sysfs: capacity, dm names
//	netdev    network.go     /proc/net/dev, /sys/class/net/<if>/{mtu,speed,flags,duplex,carrier,type},
//	                         network.all.*; /etc/pcp/linux/interfaces.conf
//	netaddr   netaddr.go     /sys/class/net/<if>/address, netlink RTM_GETADDR, /proc/net/if_inet6
//	mounts    filesystem.go  /proc/mounts and statfs(2): filesys.*
//	uname     uname.go       /proc/sys/kernel/*, /etc release files: kernel.uname.*, hinv.machine,
//	                         pmda.uname, pmda.version (pmda.go)
//	proc      process.go     /proc/[0-9]*/*: proc.nprocs, proc.psinfo/memory/id/io/schedstat.*, proc.fd.count;
//	          procmore.go    environ (procfs), labels, maps, container, proc.namespaces.*, proc.autogroup.*;
//	          smaps.go       smaps_rollup: proc.smaps.*; runq.go: proc.runq.*, proc.control.*;
//	          hotproc.go     hotproc.*: the predicate (hotpred.go) evaluated over the processes
//	pmcd      self.go        the daemon itself (Options, Self, /proc/self, getrusage); PDU counts,
//	                         pmcd.control.* (selfpdu.go, selfcontrol.go)
//	pmtools   pmtools.go     $PCP_TMP_DIR/pmie, pmlogger under RootFS: pmcd.pmie.*, pmcd.pmlogger.*
//
// The files are parsed here, in place and without allocation, rather than with
// github.com/prometheus/procfs: procfs fills fields a kernel does not print with 0
// (CPU steal, guest), drops fields the metrics need (the process count of
// /proc/loadavg), returns maps where the instance order matters (/proc/net/dev), and
// its fmt.Sscanf and per-line allocations cost several times the kernel's own work.
// The tests use procfs as the reference the parsers must agree with. Per source added
// since: procfs has no /proc/vmstat parser (its VM type is /proc/sys/vm); its
// /proc/net/snmp and netstat parsers hold every counter as a float64, which loses
// counts above 2^53, know only a fixed list of columns and cost about 8 times ours
// with 122 allocations per read (BenchmarkParseSNMP*); it has no utmp reader. So all
// of them are hand-written here too, on one shared helper (fields.go) that remembers
// each field's position so a re-read compares instead of looking up. Metrics added
// since the first catalogue carry help in our own words, written in their source
// file (sourceSpec.help), not generated from PCP's. Files on procfs
// and sysfs are kept open and re-read from offset 0 (see kfile), and /proc/mounts is
// re-read only when poll(2) reports a change.
package metrics

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gopcp/gopcp/protocol"
)

// Agent domains served by the collector.
const (
	DomainPMCD  uint32 = 2
	DomainProc  uint32 = 3
	DomainLinux uint32 = 60
)

// Options configures a Registry. The roots exist so that tests (and containers that
// mount the host's /proc elsewhere) can point the sources at another tree.
type Options struct {
	ProcRoot string // default "/proc"
	SysRoot  string // default "/sys"
	EtcRoot  string // default "/etc" (machine-id, os-release)
	RootFS   string // prefix for statfs of mount points, default "/"
	UtmpPath string // login records (kernel.all.nusers ...), default "/var/run/utmp"
	Hostname string // "" = os.Hostname()
	Version  string // reported as pmcd.version and pmcd.build
	Self     Self   // may be nil (then pmcd.numclients is 0 etc.)
}

// Self is what the server tells the pmcd.* metrics about itself. Its methods are
// called from Fetch and Instances, possibly from several goroutines at once, and
// without any lock of the Registry held.
type Self interface {
	NumClients() int
	Features() Features
	Clients() []Client
}

// Features are the server's protocol features, reported as pmcd.feature.*.
type Features struct{ Secure, ClientCertRequired, CredsRequired, UnixSockets, Local bool }

// Client is one connected client, an instance of pmcd.client.* (indom 2.6).
type Client struct {
	Slot      uint32
	WhoAmI    string
	Container string
	Start     time.Time
}

// Metric is one leaf of the namespace with its descriptor and help text.
type Metric struct {
	Name string
	Desc protocol.Desc
	// The help is made when asked for (OneLine, Help), from the tables and the
	// source's help function, not kept: many sources write it from a template,
	// and kept it was about 0.3 MiB of live heap for text few clients ever read.
	spec *sourceSpec // nil: only the helptext.go table
	def  int32       // index into spec.metrics
}

// text is the metric's one-line and long help: the source's own when it gives
// one, else the helptext.go table's.
func (m *Metric) text() helpText {
	if m.spec != nil && m.spec.help != nil {
		if h := m.spec.help(m.spec.metrics[m.def]); h.oneline != "" {
			return h
		}
	}
	return helpPMID[m.Desc.PMID]
}

// OneLine is the metric's one-line help.
func (m *Metric) OneLine() string { return m.text().oneline }

// Help is the metric's long help; "" when the real PCP has none.
func (m *Metric) Help() string { return m.text().help }

// Instance is one member of an instance domain.
type Instance struct {
	ID   uint32
	Name string
	// Text is a description the agent gives the instance as a label (an
	// interrupt row's chip and handler, "irqtext"); "" when it has none.
	Text string
}

// Value is one instance's value. Integer types go in U (int32/int64 as
// uint64(int64(v))), FLOAT/DOUBLE in F, STRING in S. Inst is protocol.InNull for
// metrics without an instance domain.
type Value struct {
	Inst uint32
	U    uint64
	F    float64
	S    string
}

// Result is the answer for one PMID of a fetch. Err < 0 is a PCP error code for the
// whole metric (protocol.ErrPMID for an unknown item, protocol.ErrNoAgent for an unknown
// domain, protocol.ErrAppVersion when the kernel has no such counter, -errno when the
// source file cannot be read, protocol.ErrValue when it cannot be parsed); Err == 0
// with no Values means no values are available.
type Result struct {
	PMID   protocol.PMID
	Err    int32
	Values []Value
}

// entry is a metric in the registry: the public Metric plus its routing.
type entry struct {
	m   *Metric
	src int // index into Registry.sources
	sel int // selector within the source
}

// Registry holds the catalogue and the sources. It is safe for concurrent use.
type Registry struct {
	env     *env
	metrics []*Metric // namespace order
	byPMID  map[protocol.PMID]*entry
	ns      *pmns // also answers ByName: no map of names besides

	sources   []*sourceState
	indoms    map[protocol.InDom]int // indom -> index into sources
	indomList []protocol.InDom

	scratch sync.Pool // *fetchScratch

	// readHook, when set (tests), is called with a source's name each time it reads.
	readHook func(name string)
}

// sourceState is a registered source with its lock and failure counter.
type sourceState struct {
	spec   *sourceSpec
	src    Source
	mu     sync.Mutex
	errors atomic.Uint64
}

// fetchScratch is one fetch's bookkeeping, pooled on the Registry: per PMID the
// entry it routes to (nil when it failed up front), the requests sorted by
// source, and for FetchLent the results themselves.
type fetchScratch struct {
	counts  []int
	ents    []*entry
	sorted  []Request
	results []Result
}

// New builds a registry from the registered sources. It reads no kernel file: the
// sources read lazily, on Fetch and Instances.
func New(opts Options) (*Registry, error) {
	e, err := newEnv(opts)
	if err != nil {
		return nil, err
	}
	r := &Registry{
		env:    e,
		byPMID: make(map[protocol.PMID]*entry),
		indoms: make(map[protocol.InDom]int),
	}
	e.registry = r
	byName := make(map[string]bool) // the duplicate check only
	var all []*entry
	for i, spec := range orderedSpecs() {
		st := &sourceState{spec: spec, src: spec.new(e)}
		r.sources = append(r.sources, st)
		for j, d := range spec.metrics {
			if byName[d.name] {
				return nil, fmt.Errorf("metrics: duplicate metric name %q", d.name)
			}
			if _, dup := r.byPMID[d.pmid]; dup {
				return nil, fmt.Errorf("metrics: duplicate PMID %v (%s)", d.pmid, d.name)
			}
			if d.pmid.Domain() != spec.domain {
				return nil, fmt.Errorf("metrics: %s: PMID %v outside domain %d", d.name, d.pmid, spec.domain)
			}
			m := &Metric{
				Name: d.name,
				Desc: protocol.Desc{PMID: d.pmid, Type: d.typ, InDom: d.indom, Sem: d.sem, Units: d.units},
				spec: spec,
				def:  int32(j),
			}
			ent := &entry{m: m, src: i, sel: d.sel}
			byName[d.name] = true
			r.byPMID[d.pmid] = ent
			all = append(all, ent)
		}
		for _, in := range spec.indoms {
			if _, dup := r.indoms[in]; dup {
				return nil, fmt.Errorf("metrics: instance domain %v owned twice", in)
			}
			r.indoms[in] = i
			r.indomList = append(r.indomList, in)
		}
	}
	for _, ent := range all {
		if in := ent.m.Desc.InDom; in != protocol.InDomNull {
			if _, ok := r.indoms[in]; !ok {
				return nil, fmt.Errorf("metrics: %s: no source owns instance domain %v", ent.m.Name, in)
			}
		}
	}
	sort.Slice(r.indomList, func(i, j int) bool { return r.indomList[i] < r.indomList[j] })

	// Namespace order: the real pmcd's order (PMNS file order, depth first), restricted
	// to the metrics served here; anything it does not list goes last, by name.
	rank := realNamespaceRank()
	sort.SliceStable(all, func(i, j int) bool {
		ri, iok := rank[all[i].m.Name]
		rj, jok := rank[all[j].m.Name]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		default:
			return all[i].m.Name < all[j].m.Name
		}
	})
	tree := newPMNS()
	for _, ent := range all {
		if err := tree.add(ent.m); err != nil {
			return nil, err
		}
	}
	// The tree's depth-first order is the namespace order (identical to the sort
	// above whenever that order is itself depth first, as the real one is).
	r.ns, r.metrics = tree.finish()

	n := len(r.sources)
	r.scratch.New = func() any { return &fetchScratch{counts: make([]int, n+1)} }
	return r, nil
}

// Metrics returns every metric in namespace order. The slice and the Metrics are
// shared; callers must not modify them.
func (r *Registry) Metrics() []*Metric { return r.metrics }

// ByName looks a metric up by its full name.
func (r *Registry) ByName(name string) (*Metric, bool) {
	n, ok := r.ns.find(name)
	// A leaf's one leaf is itself, at its place in the namespace order, which is
	// also its place in r.metrics; a non-leaf may have one leaf below it too.
	if !ok || n.leafHi != n.leafLo+1 || r.ns.leaves[n.leafLo] != name {
		return nil, false
	}
	return r.metrics[n.leafLo], true
}

// ByPMID looks a metric up by PMID.
func (r *Registry) ByPMID(p protocol.PMID) (*Metric, bool) {
	e, ok := r.byPMID[p]
	if !ok {
		return nil, false
	}
	return e.m, true
}

// KnownDomain reports whether an agent with that domain number exists (2, 3, 60).
func (r *Registry) KnownDomain(domain uint32) bool {
	return domain == DomainPMCD || domain == DomainProc || domain == DomainLinux
}

// InDoms returns the instance domains served, in ascending order.
func (r *Registry) InDoms() []protocol.InDom { return r.indomList }

// Fetch returns one Result per requested PMID, in request order, appended to dst.
// Each source needed by the request is read exactly once. Passing the previous
// result sliced to zero length as dst reuses its memory, including the Values slices
// (so a caller must be done with the old values before it fetches again). Fetch is
// safe for concurrent use.
// Fetch is for a trusted caller (the collector itself, tests); the server fetches
// for a client with FetchFor.
func (r *Registry) Fetch(dst []Result, pmids []protocol.PMID) []Result {
	return r.FetchFor(dst, pmids, FetchOpts{Trusted: true})
}

// OnlyFunc says which instances of an instance domain a client wants: ok false
// means all of them (or an exclusion list, which the caller applies itself).
type OnlyFunc func(indom protocol.InDom) (insts []uint32, ok bool)

// FetchOpts describes the client a fetch is for.
type FetchOpts struct {
	// Only, when set, names the instances the client wants: sources that can read
	// only those. The caller still filters the values.
	Only OnlyFunc
	// Trusted: the client is local (a unix socket) or authenticated (a verified
	// certificate). The per-process metrics (command lines, users, working
	// directories) are given only to such a client, as PCP's proc agent does;
	// others get PM_ERR_PERMISSION for them. The zero value is untrusted.
	Trusted bool
	// Client: the client's own proc agent settings (threads.go); nil for a
	// caller that has none (the defaults apply).
	Client *ClientSettings
}

// FetchOnly is FetchFor a trusted caller that wants only some instances.
func (r *Registry) FetchOnly(dst []Result, pmids []protocol.PMID, only OnlyFunc) []Result {
	return r.FetchFor(dst, pmids, FetchOpts{Only: only, Trusted: true})
}

// FetchFor is Fetch on behalf of a client described by opts.
func (r *Registry) FetchFor(dst []Result, pmids []protocol.PMID, opts FetchOpts) []Result {
	sc := r.scratch.Get().(*fetchScratch)
	dst = r.fetchInto(sc, dst, pmids, opts)
	r.scratch.Put(sc)
	return dst
}

// Lent is the scratch behind results lent by FetchLent; give it back with Return.
type Lent struct{ sc *fetchScratch }

// FetchLent is FetchFor with results that belong to the registry: valid until
// Return(lent), after which another fetch may overwrite them, so the caller must
// copy out what it keeps first. A server answering many clients holds no results
// of its own between requests this way, and takes its reply's memory only after
// the fetch: a fetch waiting for a busy source then holds this one scratch only.
func (r *Registry) FetchLent(pmids []protocol.PMID, opts FetchOpts) ([]Result, Lent) {
	sc := r.scratch.Get().(*fetchScratch)
	sc.results = r.fetchInto(sc, sc.results[:0], pmids, opts)
	return sc.results, Lent{sc}
}

// maxLentValues bounds the values a lent scratch may hold and still be reused: a
// fetch of every process's details grows it to megabytes, which the next small
// fetch should not keep alive.
const maxLentValues = (256 << 10) / int(unsafe.Sizeof(Value{}))

// Return takes back the results of FetchLent and clears l, so that returning it
// again, or returning a zero Lent, does nothing (a scratch in the pool twice
// would be handed to two fetches at once).
func (r *Registry) Return(l *Lent) {
	sc := l.sc
	if sc == nil {
		return
	}
	l.sc = nil
	n := 0
	for _, res := range sc.results[:cap(sc.results)] {
		n += cap(res.Values)
	}
	if n > maxLentValues {
		return
	}
	r.scratch.Put(sc)
}

// fetchInto answers pmids into dst (appended) with sc's bookkeeping. Waiting for a
// source that another fetch is reading is the usual state of a fetch under many
// clients (200 clients on one CPU: most goroutines waiting on one source), so what
// sc holds during the wait is kept small: one entry pointer per PMID and the
// requests sorted by source, not a second unsorted copy of them.
func (r *Registry) fetchInto(sc *fetchScratch, dst []Result, pmids []protocol.PMID, opts FetchOpts) []Result {
	only := opts.Only
	base := len(dst)
	dst = growResults(dst, len(pmids))
	counts := sc.counts
	clear(counts)
	ents := slices.Grow(sc.ents[:0], len(pmids))[:len(pmids)]
	sc.ents = ents
	nreq := 0
	for i, p := range pmids {
		res := &dst[base+i]
		res.PMID, res.Err, res.Values = p, 0, res.Values[:0]
		ents[i] = nil
		e, ok := r.byPMID[p]
		if !ok {
			if r.KnownDomain(p.Domain()) {
				res.Err = protocol.ErrPMID
			} else {
				res.Err = protocol.ErrNoAgent
			}
			continue
		}
		if !opts.Trusted && r.private(e) {
			res.Err = protocol.ErrPermission
			continue
		}
		ents[i] = e
		counts[e.src+1]++
		nreq++
	}
	if nreq > 0 {
		// Counting sort of the requests by source, keeping request order within one.
		for i := 1; i < len(counts); i++ {
			counts[i] += counts[i-1]
		}
		if cap(sc.sorted) < nreq {
			sc.sorted = make([]Request, nreq)
		}
		sorted := sc.sorted[:nreq]
		pos := counts[:len(counts)-1] // pos[s] = next slot of source s
		for i, e := range ents {
			if e == nil {
				continue
			}
			rq := Request{Sel: e.sel, Res: &dst[base+i], Client: opts.Client}
			if only != nil && e.m.Desc.InDom != protocol.InDomNull {
				rq.Only, rq.Filtered = only(e.m.Desc.InDom)
			}
			sorted[pos[e.src]] = rq
			pos[e.src]++
		}
		// pos[s] is now the end of source s; its start is pos[s-1] (0 for s == 0).
		start := 0
		for s, end := range pos {
			if end > start {
				r.run(s, sorted[start:end])
			}
			start = end
		}
		// Not pinning the caller's results (or a profile's lists) from the pool.
		clear(sorted)
	}
	clear(ents)
	return dst
}

// private reports whether a metric is kept from untrusted clients: one with an
// instance domain in a source that declares its instances private.
func (r *Registry) private(e *entry) bool {
	return r.sources[e.src].spec.private && e.m.Desc.InDom != protocol.InDomNull
}

// growResults extends dst by n elements, reusing spare capacity (and the Values
// slices left in it) when there is enough.
func growResults(dst []Result, n int) []Result {
	need := len(dst) + n
	if need <= cap(dst) {
		return dst[:need]
	}
	nd := make([]Result, need, need+need/4)
	copy(nd, dst)
	return nd
}

// run reads one source for a set of requests. A failing or panicking source marks its
// own requests with an error and counts the failure; it never affects other sources.
func (r *Registry) run(s int, reqs []Request) {
	st := r.sources[s]
	if !st.spec.concurrent {
		st.mu.Lock()
		defer st.mu.Unlock()
	}
	if r.readHook != nil {
		r.readHook(st.spec.name)
	}
	if err := safeFetch(st.src, reqs); err != nil {
		st.errors.Add(1)
		code := errCode(err)
		for _, rq := range reqs {
			rq.Res.Err = code
			rq.Res.Values = rq.Res.Values[:0]
		}
	}
}

func safeFetch(src Source, reqs []Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic: %v", errParse, p)
		}
	}()
	return src.Fetch(reqs)
}

// SourceErrors returns, per source name, how many reads of that source have failed
// since the registry was created (for a self-monitoring metric or a log line).
func (r *Registry) SourceErrors() map[string]uint64 {
	m := make(map[string]uint64, len(r.sources))
	for _, st := range r.sources {
		n := st.errors.Load()
		// A source that can fail in part (one process of many) counts those itself.
		if pe, ok := st.src.(interface{ PartialErrors() uint64 }); ok {
			n += pe.PartialErrors()
		}
		m[st.spec.name] = n
	}
	return m
}

// SourceNames returns the names of the registered sources in registration order.
func (r *Registry) SourceNames() []string {
	names := make([]string, len(r.sources))
	for i, st := range r.sources {
		names[i] = st.spec.name
	}
	return names
}

// Instances lists the current members of an instance domain, by ascending id. An
// unknown instance domain gives a *protocol.Error with code protocol.ErrInDom; a
// source that cannot be read gives its error.
func (r *Registry) Instances(indom protocol.InDom) ([]Instance, error) {
	return r.InstancesFor(indom, true)
}

// InstancesFor is Instances for a client: an untrusted one (see FetchOpts) gets
// PM_ERR_PERMISSION for a private instance domain (the processes).
func (r *Registry) InstancesFor(indom protocol.InDom, trusted bool) ([]Instance, error) {
	return r.InstancesOf(indom, FetchOpts{Trusted: trusted})
}

// InstancesOf is Instances for the client opts describes: its trust, and its own
// settings (opts.Client) for a source whose instances depend on them (the
// processes, or the tasks when the client asked for threads). opts.Only is not
// used.
func (r *Registry) InstancesOf(indom protocol.InDom, opts FetchOpts) ([]Instance, error) {
	s, ok := r.indoms[indom]
	if !ok {
		return nil, &protocol.Error{Code: protocol.ErrInDom}
	}
	st := r.sources[s]
	if !opts.Trusted && st.spec.private {
		return nil, &protocol.Error{Code: protocol.ErrPermission}
	}
	ids, ok := st.src.(InDomSource)
	if !ok {
		return nil, &protocol.Error{Code: protocol.ErrInDom}
	}
	if !st.spec.concurrent {
		st.mu.Lock()
		defer st.mu.Unlock()
	}
	if r.readHook != nil {
		r.readHook(st.spec.name)
	}
	insts, err := safeInstances(ids, indom, opts.Client)
	if err != nil {
		st.errors.Add(1)
		return nil, &protocol.Error{Code: errCode(err)}
	}
	return insts, nil
}

func safeInstances(src InDomSource, indom protocol.InDom, c *ClientSettings) (insts []Instance, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic: %v", errParse, p)
		}
	}()
	if cs, ok := src.(clientInDomSource); ok {
		return cs.instancesFor(indom, c)
	}
	return src.Instances(indom)
}

// clientInDomSource is implemented by a source whose instances depend on the
// client's own settings (ClientSettings).
type clientInDomSource interface {
	instancesFor(indom protocol.InDom, c *ClientSettings) ([]Instance, error)
}

// LookupName finds an instance of insts (a listing of indom) by a name the
// source understands besides the external names: the proc agent takes a bare
// process id ("1" for "000001 /sbin/init"), as PCP's does. False otherwise.
func (r *Registry) LookupName(indom protocol.InDom, name string, insts []Instance) (uint32, bool) {
	s, ok := r.indoms[indom]
	if !ok {
		return 0, false
	}
	l, ok := r.sources[s].src.(interface {
		lookupName(name string, insts []Instance) (uint32, bool)
	})
	if !ok {
		return 0, false
	}
	return l.lookupName(name, insts)
}

// InDomText returns the one-line (help false) or long (help true) text of an instance
// domain; false when there is none.
func (r *Registry) InDomText(indom protocol.InDom, help bool) (string, bool) {
	if _, ok := r.indoms[indom]; !ok {
		return "", false
	}
	h, ok := helpInDom[indom]
	if !ok {
		return "", false
	}
	if help {
		return h.help, true
	}
	return h.oneline, true
}

// errParse marks a source file that exists but does not parse.
var errParse = errors.New("unparsable kernel data")

// errCode maps a source error to a PCP error code: PCP codes pass through, an errno
// (e.g. the file does not exist) becomes -errno, anything else is PM_ERR_VALUE.
func errCode(err error) int32 {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	if errors.Is(err, errParse) {
		return protocol.ErrValue
	}
	if c := protocol.CodeOf(err); c != protocol.ErrIPC {
		return c
	}
	return protocol.ErrValue
}

// env is what the sources know about their surroundings. Tests may change its fields
// between New and the first Fetch.
type env struct {
	procRoot, sysRoot, etcRoot, rootFS string
	utmpPath                           string
	hostname                           string // pmcd.hostname, full as configured
	version                            string
	self                               Self
	pid                                int
	pageSize                           int
	getenv                             func(string) string
	loc                                *time.Location
	registry                           *Registry // set by New, for the health source
}

func newEnv(o Options) (*env, error) {
	e := &env{
		procRoot: def(o.ProcRoot, "/proc"),
		sysRoot:  def(o.SysRoot, "/sys"),
		etcRoot:  def(o.EtcRoot, "/etc"),
		rootFS:   def(o.RootFS, "/"),
		utmpPath: def(o.UtmpPath, "/var/run/utmp"),
		hostname: o.Hostname,
		version:  o.Version,
		self:     o.Self,
		pid:      os.Getpid(),
		pageSize: os.Getpagesize(),
		getenv:   os.Getenv,
		loc:      time.Local,
	}
	if e.hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("metrics: host name: %w", err)
		}
		e.hostname = h
	}
	return e, nil
}

func def(v, d string) string {
	if strings.TrimSpace(v) == "" {
		return d
	}
	return v
}
