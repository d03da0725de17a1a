package metrics

import (
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// Benchmarks on the real /proc of the machine running them.

var (
	bench1  = []string{"kernel.all.load"}
	bench10 = []string{"kernel.all.load", "kernel.all.cpu.user", "kernel.all.cpu.sys", "mem.util.free",
		"mem.util.used", "disk.dev.read", "network.interface.in.bytes", "hinv.ncpu", "kernel.all.uptime", "swap.free"}
)

// bench30 is the first 30 linux metrics of the PROTOCOL.md table, in table order:
// uname, load, CPU times, per-CPU times and /proc/stat counters.
var bench30 = []string{
	"kernel.uname.release", "kernel.uname.version", "kernel.uname.sysname", "kernel.uname.machine",
	"kernel.uname.nodename", "kernel.uname.distro", "kernel.all.load", "kernel.all.nprocs",
	"kernel.all.cpu.user", "kernel.all.cpu.nice", "kernel.all.cpu.sys", "kernel.all.cpu.idle",
	"kernel.all.cpu.intr", "kernel.all.cpu.wait.total", "kernel.all.cpu.irq.soft", "kernel.all.cpu.irq.hard",
	"kernel.all.cpu.steal", "kernel.all.cpu.guest", "kernel.percpu.cpu.user", "kernel.percpu.cpu.nice",
	"kernel.percpu.cpu.sys", "kernel.percpu.cpu.idle", "kernel.percpu.cpu.wait.total", "kernel.all.intr",
	"kernel.all.pswitch", "kernel.all.sysfork", "kernel.all.running", "kernel.all.blocked",
	"kernel.all.boottime", "kernel.all.hz",
}

// benchMixed30 spreads 30 metrics over every kernel source.
var benchMixed30 = []string{
	"kernel.all.load", "kernel.all.nprocs", "kernel.all.cpu.user", "kernel.all.cpu.sys", "kernel.all.cpu.idle",
	"kernel.percpu.cpu.user", "kernel.all.pswitch", "kernel.all.uptime", "hinv.ncpu", "hinv.physmem",
	"mem.util.used", "mem.util.free", "mem.util.cached", "mem.util.available", "swap.used", "swap.pagesin",
	"disk.dev.read", "disk.dev.write", "disk.all.read_bytes", "disk.all.write_bytes",
	"network.interface.in.bytes", "network.interface.out.bytes", "network.interface.up", "network.interface.mtu",
	"filesys.capacity", "filesys.free", "filesys.mountdir", "proc.nprocs", "kernel.uname.release", "pmcd.numclients",
}

// fetchbench10 and fetchbench30 are the sets of bench/fetchbench.c (make bench),
// so the source-side cost of what make bench measures end to end shows here alone.
var (
	fetchbench10 = []string{
		"kernel.all.cpu.user", "kernel.all.cpu.sys", "kernel.all.cpu.idle",
		"kernel.all.pswitch", "kernel.all.intr", "mem.util.free", "mem.util.used",
		"mem.util.cached", "kernel.all.load", "kernel.all.nprocs",
	}
	fetchbench30 = []string{
		"kernel.percpu.cpu.user", "kernel.percpu.cpu.sys", "kernel.percpu.cpu.idle",
		"network.interface.in.bytes", "network.interface.out.bytes",
		"network.interface.in.packets", "network.interface.out.packets",
		"disk.dev.read", "disk.dev.write", "disk.dev.read_bytes", "disk.dev.write_bytes",
		"mem.util.free", "mem.util.used", "mem.util.cached", "mem.util.bufmem",
		"kernel.all.load", "kernel.all.pswitch", "kernel.all.intr", "kernel.all.nprocs",
		"swap.used", "filesys.free", "filesys.used", "kernel.all.cpu.nice",
		"kernel.all.cpu.steal", "mem.util.available", "mem.util.slab",
		"kernel.all.running", "kernel.all.blocked", "kernel.all.uptime", "hinv.ncpu",
	}
)

func benchFetch(b *testing.B, names []string) {
	r, err := New(Options{Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	var pmids []protocol.PMID
	for _, n := range names {
		m, ok := r.ByName(n)
		if !ok {
			b.Fatalf("no metric %s", n)
		}
		pmids = append(pmids, m.Desc.PMID)
	}
	dst := r.Fetch(nil, pmids)
	for i := range dst {
		if dst[i].Err != 0 {
			b.Logf("%s: error %d", names[i], dst[i].Err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = r.Fetch(dst[:0], pmids)
	}
}

func BenchmarkFetch1(b *testing.B)       { benchFetch(b, bench1) }
func BenchmarkFetch10(b *testing.B)      { benchFetch(b, bench10) }
func BenchmarkFetch30(b *testing.B)      { benchFetch(b, bench30) }
func BenchmarkFetchMixed30(b *testing.B) { benchFetch(b, benchMixed30) }
func BenchmarkFetchbench10(b *testing.B) { benchFetch(b, fetchbench10) }
func BenchmarkFetchbench30(b *testing.B) { benchFetch(b, fetchbench30) }
