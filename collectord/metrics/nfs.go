package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// The "nfs" source: the kernel's NFS and Sun RPC statistics, client side from
// /proc/net/rpc/nfs (rpc.client.*, nfs*.client.*), server side from
// /proc/net/rpc/nfsd (rpc.server.*, nfs*.server.*) and the nfsd thread pools from
// /proc/fs/nfsd/pool_threads and pool_stats (nfs.server.threads.*). Each line of
// the rpc files is a keyword and counts: "net 0 0 0 0", "rpc 10 0 0",
// "proc3 22 0 1 ..." (a procedure count, then one count per procedure). The files
// exist only while the nfs and nfsd modules are loaded: a missing file gives no
// values and is not an error. A count the kernel does not print (the "ra" line
// is gone from current kernels) has no value. A line whose counts are not
// numbers, or a procedure line whose count disagrees with its values, fails that
// file rather than shift values to the wrong procedure; a file failing is counted
// (as a partial error when another file served). The per-procedure instance
// domains are fixed lists of procedure names, the linux agent's, in the kernel's
// order. procfs's nfs parser is not used: it rejects procedure lines whose length
// differs from the one it knows (kernels add NFSv4 operations) and gives zero for
// the lines a kernel does not print.

var (
	indomNFS2    = protocol.NewInDom(DomainLinux, 7)
	indomNFS3    = protocol.NewInDom(DomainLinux, 8)
	indomNFS4Cli = protocol.NewInDom(DomainLinux, 14)
	indomNFS4Svr = protocol.NewInDom(DomainLinux, 15)
)

var (
	nfs2Ops = []string{"null", "getattr", "setattr", "root", "lookup", "readlink", "read", "wrcache", "write", "create",
		"remove", "rename", "link", "symlink", "mkdir", "rmdir", "readdir", "statfs"}
	nfs3Ops = []string{"null", "getattr", "setattr", "lookup", "access", "readlink", "read", "write", "create", "mkdir",
		"symlink", "mknod", "remove", "rmdir", "rename", "link", "readdir", "readdir+", "statfs", "fsinfo", "pathconf", "commit"}
	nfs4CliOps = []string{"null", "read", "write", "commit", "open", "open_conf", "open_noat", "open_dgrd", "close", "setattr",
		"fsinfo", "renew", "setclntid", "confirm", "lock", "lockt", "locku", "access", "getattr", "lookup",
		"lookup_root", "remove", "rename", "link", "symlink", "create", "pathconf", "statfs", "readlink", "readdir",
		"server_caps", "delegreturn", "getacl", "setacl", "fs_locations", "rel_lkowner", "secinfo", "fsid_present", "exchange_id", "create_ses",
		"destroy_ses", "sequence", "get_lease_t", "reclaim_comp", "layoutget", "getdevinfo", "layoutcommit", "secinfononam", "test_stateid", "free_stateid",
		"getdevlist", "bind_ses", "destroy_clntid", "seek", "allocate", "deallocate"}
	// The server's NFSv4 operations, numbered from 1 (instance n is operation n-1).
	nfs4SvrOps = []string{"op0-unused", "op1-unused", "op2-future", "access", "close", "commit", "create", "delegpurge", "delegreturn", "getattr",
		"getfh", "link", "lock", "lockt", "locku", "lookup", "lookup_root", "nverify", "open", "openattr",
		"open_conf", "open_dgrd", "putfh", "putpubfh", "putrootfh", "read", "readdir", "readlink", "remove", "rename",
		"renew", "restorefh", "savefh", "secinfo", "setattr", "setcltid", "setcltidconf", "verify", "write", "rellockowner",
		"bc_ctl", "bind_conn", "exchange_id", "create_ses", "destroy_ses", "free_stateid", "getdirdeleg", "getdevinfo", "getdevlist", "layoutcommit",
		"layoutget", "layoutreturn", "secinfononam", "sequence", "set_ssv", "test_stateid", "want_deleg", "destroy_clid", "reclaim_comp", "allocate",
		"copy", "copy_notify", "deallocate", "io_advise", "layouterror", "layoutstats", "offload_cancel", "offload_status", "read_plus", "seek",
		"write_same"}
)

// The files, in the order of nfsSource.files.
const (
	nfsCli = iota
	nfsSvr
	nfsThreads // pool_threads and pool_stats
	nfsFiles
)

// nfsField is one metric: a count at a position of a keyword's line, a sum or
// the per-procedure counts of a procedure line, or a thread pool figure.
type nfsField struct {
	name   string
	item   uint32
	file   int
	line   string // keyword
	pos    int    // index of the count after the keyword; -1 for a procedure line
	sum    bool   // a procedure line: the sum of its counts, else one per procedure
	ops    []string
	typ    int32
	sem    int32
	indom  protocol.InDom
	what   string
	source string // for the help: where the value is
}

func rpcField(name string, item uint32, file int, line string, pos int, sem int32, what string) nfsField {
	f := []string{"/proc/net/rpc/nfs", "/proc/net/rpc/nfsd"}[file]
	return nfsField{name: name, item: item, file: file, line: line, pos: pos, typ: tU32, sem: sem, indom: null, what: what,
		source: fmt.Sprintf("Count %d of the %q line of %s.", pos+1, line, f)}
}

func procField(name string, item uint32, file int, line string, sum bool, ops []string, indom protocol.InDom, what string) nfsField {
	f := []string{"/proc/net/rpc/nfs", "/proc/net/rpc/nfsd"}[file]
	src := fmt.Sprintf("The per-procedure counts of the %q line of %s, by procedure name.", line, f)
	if sum {
		src = fmt.Sprintf("The sum of the per-procedure counts of the %q line of %s (a 32-bit\ncounter, wrapping as the kernel's own counts do).", line, f)
		indom = null
	}
	return nfsField{name: name, item: item, file: file, line: line, pos: -1, sum: sum, ops: ops, typ: tU32, sem: semC, indom: indom, what: what, source: src}
}

const (
	thTotal = iota
	thPools
	thRequests
	thEnqueued
	thProcessed
	thTimedout
)

var nfsFields = []nfsField{
	procField("nfs.client.calls", 1, nfsCli, "proc2", true, nfs2Ops, null, "NFSv2 calls the client made"),
	procField("nfs.client.reqs", 4, nfsCli, "proc2", false, nfs2Ops, indomNFS2, "NFSv2 calls the client made, per procedure"),
	procField("nfs.server.calls", 50, nfsSvr, "proc2", true, nfs2Ops, null, "NFSv2 calls the server answered"),
	procField("nfs.server.reqs", 12, nfsSvr, "proc2", false, nfs2Ops, indomNFS2, "NFSv2 calls the server answered, per procedure"),
	procField("nfs3.client.calls", 60, nfsCli, "proc3", true, nfs3Ops, null, "NFSv3 calls the client made"),
	procField("nfs3.client.reqs", 61, nfsCli, "proc3", false, nfs3Ops, indomNFS3, "NFSv3 calls the client made, per procedure"),
	procField("nfs3.server.calls", 62, nfsSvr, "proc3", true, nfs3Ops, null, "NFSv3 calls the server answered"),
	procField("nfs3.server.reqs", 63, nfsSvr, "proc3", false, nfs3Ops, indomNFS3, "NFSv3 calls the server answered, per procedure"),
	procField("nfs4.client.calls", 64, nfsCli, "proc4", true, nfs4CliOps, null, "NFSv4 calls the client made"),
	procField("nfs4.client.reqs", 65, nfsCli, "proc4", false, nfs4CliOps, indomNFS4Cli, "NFSv4 calls the client made, per procedure"),
	procField("nfs4.server.calls", 66, nfsSvr, "proc4ops", true, nfs4SvrOps, null, "NFSv4 operations the server performed"),
	procField("nfs4.server.reqs", 67, nfsSvr, "proc4ops", false, nfs4SvrOps, indomNFS4Svr, "NFSv4 operations the server performed, per operation"),

	rpcField("rpc.client.rpccnt", 20, nfsCli, "rpc", 0, semC, "RPC calls the NFS client made"),
	rpcField("rpc.client.rpcretrans", 21, nfsCli, "rpc", 1, semC, "RPC calls the NFS client retransmitted"),
	rpcField("rpc.client.rpcauthrefresh", 22, nfsCli, "rpc", 2, semC, "RPC credential refreshes of the NFS client"),
	rpcField("rpc.client.netcnt", 24, nfsCli, "net", 0, semC, "packets the NFS client received"),
	rpcField("rpc.client.netudpcnt", 25, nfsCli, "net", 1, semC, "UDP packets the NFS client received"),
	rpcField("rpc.client.nettcpcnt", 26, nfsCli, "net", 2, semC, "TCP packets the NFS client received"),
	rpcField("rpc.client.nettcpconn", 27, nfsCli, "net", 3, semC, "TCP connections the NFS client made"),
	rpcField("rpc.server.rpccnt", 30, nfsSvr, "rpc", 0, semC, "RPC calls the NFS server received"),
	rpcField("rpc.server.rpcerr", 31, nfsSvr, "rpc", 1, semC, "RPC calls the NFS server rejected"),
	rpcField("rpc.server.rpcbadfmt", 32, nfsSvr, "rpc", 2, semC, "RPC calls the NFS server could not decode"),
	rpcField("rpc.server.rpcbadauth", 33, nfsSvr, "rpc", 3, semC, "RPC calls the NFS server refused for bad credentials"),
	rpcField("rpc.server.rpcbadclnt", 34, nfsSvr, "rpc", 4, semC, "RPC calls the NFS server refused for an unknown client"),
	rpcField("rpc.server.rchits", 35, nfsSvr, "rc", 0, semC, "NFS server reply cache hits"),
	rpcField("rpc.server.rcmisses", 36, nfsSvr, "rc", 1, semC, "NFS server reply cache misses"),
	rpcField("rpc.server.rcnocache", 37, nfsSvr, "rc", 2, semC, "NFS server requests not cached"),
	rpcField("rpc.server.fh_cached", 38, nfsSvr, "rc", 3, semC, "NFS server file handles found in the dentry cache"),
	rpcField("rpc.server.fh_valid", 39, nfsSvr, "rc", 4, semC, "NFS server file handles validated"),
	rpcField("rpc.server.fh_fixup", 40, nfsSvr, "rc", 5, semC, "NFS server file handles fixed up"),
	rpcField("rpc.server.fh_lookup", 41, nfsSvr, "fh", 1, semC, "NFS server file handles that needed a lookup"),
	rpcField("rpc.server.fh_stale", 42, nfsSvr, "fh", 0, semC, "NFS server stale file handle errors"),
	rpcField("rpc.server.fh_concurrent", 43, nfsSvr, "rc", 8, semC, "NFS server concurrent file handle requests"),
	rpcField("rpc.server.netcnt", 44, nfsSvr, "net", 0, semC, "packets the NFS server received"),
	rpcField("rpc.server.netudpcnt", 45, nfsSvr, "net", 1, semC, "UDP packets the NFS server received"),
	rpcField("rpc.server.nettcpcnt", 46, nfsSvr, "net", 2, semC, "TCP packets the NFS server received"),
	rpcField("rpc.server.nettcpconn", 47, nfsSvr, "net", 3, semC, "TCP connections the NFS server accepted"),
	rpcField("rpc.server.fh_anon", 51, nfsSvr, "fh", 2, semC, "NFS server anonymous file handle dentries"),
	rpcField("rpc.server.fh_nocache_dir", 52, nfsSvr, "fh", 3, semC, "NFS server directory file handles not in the dentry cache"),
	rpcField("rpc.server.fh_nocache_nondir", 53, nfsSvr, "fh", 4, semC, "NFS server file handles of other files not in the dentry cache"),
	rpcField("rpc.server.io_read", 54, nfsSvr, "io", 0, semC, "bytes the NFS server returned to reads"),
	rpcField("rpc.server.io_write", 55, nfsSvr, "io", 1, semC, "bytes the NFS server received in writes"),
	rpcField("rpc.server.th_cnt", 56, nfsSvr, "th", 0, semI, "NFS server threads"),
	rpcField("rpc.server.th_fullcnt", 57, nfsSvr, "th", 1, semC, "times every NFS server thread was busy"),
	rpcField("rpc.server.ra_size", 68, nfsSvr, "ra", 0, semC, "size of the NFS server read-ahead cache"),
	{name: "rpc.server.ra_hits", item: 69, file: nfsSvr, line: "ra", pos: 1, typ: tU32, sem: semC, indom: null, what: "NFS server read-ahead cache hits",
		source: "The sum of counts 2 to 11 (the hits at each depth) of the \"ra\" line of\n/proc/net/rpc/nfsd; no value on kernels that no longer print it."},
	rpcField("rpc.server.ra_misses", 70, nfsSvr, "ra", 11, semC, "NFS server read-ahead cache misses"),

	{name: "nfs.server.threads.total", item: 71, file: nfsThreads, pos: thTotal, typ: tU32, sem: semI, indom: null, what: "nfsd threads",
		source: "The first number of /proc/fs/nfsd/pool_threads."},
	{name: "nfs.server.threads.pools", item: 72, file: nfsThreads, pos: thPools, typ: tU32, sem: semI, indom: null, what: "nfsd thread pools",
		source: "The pool lines of /proc/fs/nfsd/pool_stats; no value while nfsd has no threads."},
	{name: "nfs.server.threads.requests", item: 73, file: nfsThreads, pos: thRequests, typ: tU64, sem: semC, indom: null, what: "requests that arrived at the nfsd pools",
		source: "The packets-arrived column of /proc/fs/nfsd/pool_stats, summed over the pools."},
	{name: "nfs.server.threads.enqueued", item: 74, file: nfsThreads, pos: thEnqueued, typ: tU64, sem: semC, indom: null, what: "requests queued for want of a free nfsd thread",
		source: "The sockets-enqueued column of /proc/fs/nfsd/pool_stats, summed over the pools."},
	{name: "nfs.server.threads.processed", item: 75, file: nfsThreads, pos: thProcessed, typ: tU64, sem: semC, indom: null, what: "times an nfsd thread was woken for a request",
		source: "The threads-woken column of /proc/fs/nfsd/pool_stats, summed over the pools."},
	{name: "nfs.server.threads.timedout", item: 76, file: nfsThreads, pos: thTimedout, typ: tU64, sem: semC, indom: null, what: "times an idle nfsd thread timed out",
		source: "The threads-timedout column of /proc/fs/nfsd/pool_stats, summed over the pools."},
}

func init() {
	for _, in := range []struct {
		indom protocol.InDom
		what  string
	}{{indomNFS2, "NFSv2 procedures"}, {indomNFS3, "NFSv3 procedures"}, {indomNFS4Cli, "NFSv4 client procedures"}, {indomNFS4Svr, "NFSv4 server operations"}} {
		setOwnInDomHelp(in.indom, in.what, "A fixed list of names, in the order the kernel prints the counts in\n/proc/net/rpc/nfs and nfsd.")
	}
	defs := make([]metricDef, len(nfsFields))
	for i, f := range nfsFields {
		u := uCount
		switch {
		case f.name == "rpc.server.io_read" || f.name == "rpc.server.io_write":
			u = uByte
		}
		defs[i] = metricDef{f.name, pmid(60, 7, f.item), f.typ, f.indom, f.sem, u, i}
	}
	registerSource(&sourceSpec{
		name:   "nfs",
		domain: DomainLinux,
		indoms: []protocol.InDom{indomNFS2, indomNFS3, indomNFS4Cli, indomNFS4Svr},
		new: func(e *env) Source {
			return &nfsSource{
				rpc:         [2]*kfile{newKfile(filepath.Join(e.procRoot, "net/rpc/nfs")), newKfile(filepath.Join(e.procRoot, "net/rpc/nfsd"))},
				poolThreads: newKfile(filepath.Join(e.procRoot, "fs/nfsd/pool_threads")),
				poolStats:   newKfile(filepath.Join(e.procRoot, "fs/nfsd/pool_stats")),
			}
		},
		metrics: defs,
		help: func(d metricDef) helpText {
			if d.sel < 0 || d.sel >= len(nfsFields) {
				return helpText{}
			}
			f := nfsFields[d.sel]
			long := f.source
			if f.file != nfsThreads {
				long += "\nNo value while the file is missing (the module is not loaded)."
			} else {
				long += "\nNo value while nfsd is not loaded."
			}
			return helpText{f.what, long}
		},
	})
}

// rpcLine is one keyword line of an rpc file, its counts parsed.
type rpcLine struct {
	key  string
	vals []uint64
}

type nfsSource struct {
	rpc                    [2]*kfile
	poolThreads, poolStats *kfile
	buf                    []byte
	partial                atomic.Uint64
}

// PartialErrors counts fetches in which one file failed while another served.
func (s *nfsSource) PartialErrors() uint64 { return s.partial.Load() }

// parseRPC reads the keyword lines of /proc/net/rpc/nfs or nfsd.
func parseRPC(b []byte) (map[string][]uint64, error) {
	out := map[string][]uint64{}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		key, r := nextField(line)
		if len(key) == 0 {
			continue
		}
		if !isFieldName(key) {
			return nil, fmt.Errorf("%w: line %q", errParse, line)
		}
		var vals []uint64
		for {
			var f []byte
			f, r = nextField(r)
			if len(f) == 0 {
				break
			}
			v, ok := parseUint(f)
			if !ok {
				if string(key) == "th" {
					break // the thread usage histogram that follows, in floats
				}
				return nil, fmt.Errorf("%w: line %q", errParse, line)
			}
			if len(vals) >= 1024 {
				return nil, fmt.Errorf("%w: line %q is too long", errParse, line)
			}
			vals = append(vals, v)
		}
		k := string(key)
		if len(k) > 4 && k[:4] == "proc" {
			// "procN count v1 ... vcount"
			if len(vals) == 0 || vals[0] != uint64(len(vals)-1) {
				return nil, fmt.Errorf("%w: line %q: the count does not match the values", errParse, line)
			}
		}
		out[k] = vals
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no statistics", errParse)
	}
	return out, nil
}

// nfsThreadStats is what pool_threads and pool_stats give.
type nfsThreadStats struct {
	vals [6]uint64
	ok   [6]bool
}

func (s *nfsSource) readThreads() (nfsThreadStats, error) {
	var t nfsThreadStats
	b, err := s.poolThreads.read(s.buf)
	s.buf = b
	if err != nil {
		return t, err
	}
	f, _ := nextField(b)
	n, ok := parseUint(f)
	if !ok {
		return t, fmt.Errorf("%s: %w: %.40q", s.poolThreads.path, errParse, b)
	}
	t.vals[thTotal], t.ok[thTotal] = n, true
	if n == 0 {
		return t, nil // pool_stats is meaningful only with threads running
	}
	b, err = s.poolStats.read(s.buf)
	s.buf = b
	if err != nil {
		return t, err
	}
	pools := uint64(0)
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if l := trimSpace(line); len(l) == 0 || l[0] == '#' {
			continue
		}
		r := line
		var v [5]uint64
		for i := range v {
			var f []byte
			f, r = nextField(r)
			if v[i], ok = parseUint(f); !ok {
				return t, fmt.Errorf("%s: %w: line %q", s.poolStats.path, errParse, line)
			}
		}
		pools++
		for i := 1; i < 5; i++ {
			t.vals[thPools+i] += v[i]
		}
	}
	if pools == 0 {
		return t, fmt.Errorf("%s: %w: no pool", s.poolStats.path, errParse)
	}
	t.vals[thPools] = pools
	for i := thPools; i <= thTimedout; i++ {
		t.ok[i] = true
	}
	return t, nil
}

func (s *nfsSource) Fetch(reqs []Request) error {
	var need [nfsFiles]bool
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < len(nfsFields) {
			need[nfsFields[rq.Sel].file] = true
		}
	}
	var lines [2]map[string][]uint64
	var th nfsThreadStats
	var errs [nfsFiles]error
	var absent [nfsFiles]bool
	failed, asked := 0, 0
	for i := range need {
		if !need[i] {
			continue
		}
		asked++
		var err error
		if i == nfsThreads {
			th, err = s.readThreads()
		} else {
			var b []byte
			b, err = s.rpc[i].read(s.buf)
			s.buf = b
			if err == nil {
				if lines[i], err = parseRPC(b); err != nil {
					err = fmt.Errorf("%s: %w", s.rpc[i].path, err)
				}
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			absent[i], err = true, nil // the module is not loaded
		}
		if errs[i] = err; err != nil {
			failed++
		}
	}
	if asked > 0 && failed == asked {
		return errors.Join(errs[:]...)
	}
	if failed > 0 {
		s.partial.Add(1)
	}
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= len(nfsFields) {
			continue
		}
		f := nfsFields[rq.Sel]
		if errs[f.file] != nil {
			rq.Res.Err = errCode(errs[f.file])
			continue
		}
		if absent[f.file] {
			continue
		}
		if f.file == nfsThreads {
			if th.ok[f.pos] && (f.typ == tU64 || th.vals[f.pos] <= 1<<32-1) {
				putU(rq.Res, protocol.InNull, th.vals[f.pos])
			}
			continue
		}
		vals, ok := lines[f.file][f.line]
		if !ok {
			continue // a line this kernel does not print
		}
		switch {
		case f.pos < 0: // procedure line: vals[0] is the count
			ops := vals[1:]
			if len(ops) > len(f.ops) {
				ops = ops[:len(f.ops)] // operations newer than the list
			}
			if f.sum {
				var sum uint64
				for _, v := range ops {
					sum += v
				}
				putU(rq.Res, protocol.InNull, sum&(1<<32-1))
				continue
			}
			base := uint32(0)
			if f.indom == indomNFS4Svr {
				base = 1
			}
			for i, v := range ops {
				putU(rq.Res, base+uint32(i), v&(1<<32-1))
			}
		case f.name == "rpc.server.ra_hits":
			if len(vals) >= 11 {
				var sum uint64
				for _, v := range vals[1:11] {
					sum += v
				}
				putU(rq.Res, protocol.InNull, sum&(1<<32-1))
			}
		case f.pos < len(vals):
			v := vals[f.pos]
			if f.sem == semC {
				putU(rq.Res, protocol.InNull, v&(1<<32-1)) // a 32-bit counter wraps
			} else if v <= 1<<32-1 {
				putU(rq.Res, protocol.InNull, v)
			}
		}
	}
	return nil
}

func (s *nfsSource) Instances(indom protocol.InDom) ([]Instance, error) {
	ops, base := nfs2Ops, uint32(0)
	switch indom {
	case indomNFS3:
		ops = nfs3Ops
	case indomNFS4Cli:
		ops = nfs4CliOps
	case indomNFS4Svr:
		ops, base = nfs4SvrOps, 1
	}
	out := make([]Instance, len(ops))
	for i, n := range ops {
		out[i] = Instance{ID: base + uint32(i), Name: n}
	}
	return out, nil
}
