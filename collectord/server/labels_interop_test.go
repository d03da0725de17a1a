package server

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// labelMetrics: one or more metrics of each family with labels of its own (CPU,
// NUMA node, disk, partition, device mapper, interface, interrupt line, softirq,
// swap device, process) and some without (load, file systems, pressure, memory).
var labelMetrics = []string{
	"kernel.percpu.cpu.user", "hinv.map.cpu_num", "kernel.all.cpu.user", "kernel.all.cpu.wait.total",
	"kernel.pernode.cpu.user", "disk.dev.read", "disk.partitions.read", "hinv.map.dmname",
	"network.interface.in.bytes", "kernel.all.interrupts.total", "kernel.all.softirqs.total",
	"swapdev.free", "proc.psinfo.pid", "kernel.all.load", "filesys.used", "mem.util.used",
	"kernel.all.pressure.cpu.some.avg", "hinv.ncpu", "pmcd.agent.type",
}

// labelListing is `pminfo -l` output: per metric, its merged label set and the
// label set of each instance.
type labelListing map[string]struct {
	labels string
	insts  map[string]string
}

var instLabelLine = regexp.MustCompile(`^    inst \[(\d+) or "(.*)"\] labels (.*)$`)

func parseLabelListing(out string) labelListing {
	l := labelListing{}
	var cur string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case line == "":
		case !strings.HasPrefix(line, " "):
			cur = line
			l[cur] = struct {
				labels string
				insts  map[string]string
			}{insts: map[string]string{}}
		case strings.HasPrefix(line, "    labels "):
			e := l[cur]
			e.labels = strings.TrimPrefix(line, "    labels ")
			l[cur] = e
		default:
			if m := instLabelLine.FindStringSubmatch(line); m != nil && m[2] != "DISAPPEARED" {
				l[cur].insts[m[1]+" "+m[2]] = m[3]
			}
		}
	}
	return l
}

// TestRealLabelsMatch: the real pminfo -l shows the same metric, instance domain and
// instance labels (context and domain labels merged in) from collectord as from the
// real pmcd, for a sample of every labelled family; instances present on both sides
// (processes come and go) must have the same labels, and each labelled domain with
// instances must have some in common.
func TestRealLabelsMatch(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo)
	realHost := "127.0.0.1:" + strconv.Itoa(pcptest.StartPMCD(t, ""))
	_, addr, _ := startServer(t, nil)
	list := func(host string) labelListing {
		out, errOut, code := runTool(t, pcptest.PMInfo, append([]string{"-h", host, "-l"}, labelMetrics...)...)
		if code != 0 {
			t.Fatalf("pminfo -l -h %s: exit %d\n%s", host, code, errOut)
		}
		return parseLabelListing(out)
	}
	want, got := list(realHost), list(addr)
	compared := 0
	for _, name := range labelMetrics {
		w, g := want[name], got[name]
		if w.labels == "" {
			t.Errorf("%s: no labels from the real pmcd", name)
			continue
		}
		if g.labels != w.labels {
			t.Errorf("%s labels:\n ours: %s\n real: %s", name, g.labels, w.labels)
		}
		common := 0
		for inst, wl := range w.insts {
			gl, ok := g.insts[inst]
			if !ok {
				continue
			}
			common++
			compared++
			if gl != wl {
				t.Errorf("%s instance %s labels:\n ours: %s\n real: %s", name, inst, gl, wl)
			}
		}
		if len(w.insts) > 0 && common == 0 {
			t.Errorf("%s: no instance in common (ours %d, real %d)", name, len(g.insts), len(w.insts))
		}
	}
	if compared < 10 {
		t.Errorf("only %d instance label sets compared", compared)
	}
	t.Logf("%d metrics and %d instance label sets compared", len(labelMetrics), compared)
}
