package server

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// TestRealMemTopologyMatch: for the CPU description, NUMA, zone, buddy allocator and
// per-CPU interrupt metrics, the real pminfo shows from collectord what it shows
// from the real pmcd on this machine: the values that stay put while the test runs
// (CPU model and flags, zone sizes, huge page size, node memory size) instance by
// instance name, the instance names of the domains whose counts move (buddy orders,
// per-CPU interrupt and softirq cells, zone protection), and the labels.
// slabinfo is left out: the real agent runs unprivileged and has no values.
func TestRealMemTopologyMatch(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo)
	realAddr := "127.0.0.1:" + strconv.Itoa(pcptest.StartPMCD(t, ""))
	_, addr, _ := startServer(t, nil)
	sameValues(t, realAddr, addr,
		"hinv.cpu.vendor", "hinv.cpu.model", "hinv.cpu.model_name", "hinv.cpu.stepping", "hinv.cpu.cache",
		"hinv.cpu.cache_alignment", "hinv.cpu.flags", "hinv.cpu.bogomips", "hinv.hugepagesize",
		"hinv.node.online", "mem.numa.util.total", "mem.numa.max_bandwidth",
		"mem.zoneinfo.present", "mem.zoneinfo.spanned", "mem.zoneinfo.nr_alloc_batch")
	names := func(a, metric string) string {
		out, _, _ := runTool(t, pcptest.PMInfo, "-h", a, "-f", metric)
		vals, _ := instValues(out)
		var n []string
		for k := range vals {
			n = append(n, k)
		}
		sort.Strings(n)
		return strings.Join(n, " ")
	}
	for _, metric := range []string{"mem.buddyinfo.pages", "mem.zoneinfo.protection", "mem.zoneinfo.nr_dirtied",
		"kernel.percpu.interrupts", "kernel.percpu.softirqs"} {
		if got, want := names(addr, metric), names(realAddr, metric); got != want || got == "" {
			t.Errorf("%s instances:\n ours: %s\n real: %s", metric, got, want)
		}
	}
	labelled := []string{"hinv.cpu.clock", "hinv.node.online", "mem.numa.util.free", "mem.buddyinfo.pages",
		"mem.zoneinfo.free", "mem.zoneinfo.protection", "kernel.percpu.interrupts", "kernel.percpu.softirqs",
		"mem.slabinfo.objects.active"}
	list := func(host string) labelListing {
		out, errOut, code := runTool(t, pcptest.PMInfo, append([]string{"-h", host, "-l"}, labelled...)...)
		if code != 0 {
			t.Fatalf("pminfo -l -h %s: exit %d\n%s", host, code, errOut)
		}
		return parseLabelListing(out)
	}
	want, got := list(realAddr), list(addr)
	for _, name := range labelled {
		w, g := want[name], got[name]
		if g.labels != w.labels {
			t.Errorf("%s labels:\n ours: %s\n real: %s", name, g.labels, w.labels)
		}
		for inst, wl := range w.insts {
			if gl, ok := g.insts[inst]; ok && gl != wl {
				t.Errorf("%s instance %s labels:\n ours: %s\n real: %s", name, inst, gl, wl)
			}
		}
	}
}
