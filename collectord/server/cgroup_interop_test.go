package server

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// TestRealCgroupMatch: the real pminfo gets the same cgroup controllers (hierarchy,
// enabled, count) and cgroup mounts (the mount points as instances, their
// controllers, the count) from collectord as from the real pmcd on this host, the
// same process accounting state (disabled: enable_acct 0, no exited processes), and
// the same metric and instance labels for the groups both serve. num_cgroups is left
// out: groups come and go between the two fetches.
func TestRealCgroupMatch(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo)
	realHost := "127.0.0.1:" + strconv.Itoa(pcptest.StartPMCD(t, ""))
	_, addr, _ := startServer(t, nil)
	names := []string{"cgroup.subsys.hierarchy", "cgroup.subsys.enabled", "cgroup.subsys.count",
		"cgroup.mounts.subsys", "cgroup.mounts.count", "acct.control.enable_acct", "acct.psinfo.pid", "acct.id.uid_nm"}
	fetch := func(host string) string {
		out, errOut, code := runTool(t, pcptest.PMInfo, append([]string{"-h", host, "-f"}, names...)...)
		if code != 0 {
			t.Fatalf("pminfo -f -h %s: exit %d\n%s", host, code, errOut)
		}
		return out
	}
	want, got := fetch(realHost), fetch(addr)
	if got != want {
		t.Errorf("pminfo -f differs:\n--- collectord\n%s--- real pmcd\n%s", got, want)
	}
	if !strings.Contains(want, "cgroup.mounts.count\n    value ") {
		t.Skip("the real pmcd serves no cgroup mounts here")
	}

	// Labels: the metric's, and each instance both serve ("/" at least, whatever
	// the version of the host's hierarchy).
	labelled := []string{"cgroup.memory.id.container", "cgroup.cpuset.id.container", "cgroup.cpuacct.id.container",
		"cgroup.cpusched.id.container", "cgroup.blkio.id.container", "cgroup.subsys.enabled", "cgroup.mounts.subsys",
		"cgroup.cpuacct.usage_percpu", "cgroup.blkio.dev.time", "cgroup.io.stat.rbytes", "cgroup.cpu.stat.usage"}
	list := func(host string) labelListing {
		out, errOut, code := runTool(t, pcptest.PMInfo, append([]string{"-h", host, "-l"}, labelled...)...)
		if code != 0 {
			t.Fatalf("pminfo -l -h %s: exit %d\n%s", host, code, errOut)
		}
		return parseLabelListing(out)
	}
	wl, gl := list(realHost), list(addr)
	byName := regexp.MustCompile(`^\d+ `)
	compared := 0
	for _, name := range labelled {
		w, g := wl[name], gl[name]
		if g.labels != w.labels {
			t.Errorf("%s labels:\n ours: %s\n real: %s", name, g.labels, w.labels)
		}
		ours := map[string]string{}
		for inst, l := range g.insts {
			ours[byName.ReplaceAllString(inst, "")] = l
		}
		for inst, l := range w.insts {
			if o, ok := ours[byName.ReplaceAllString(inst, "")]; ok {
				compared++
				if o != l {
					t.Errorf("%s instance %s labels:\n ours: %s\n real: %s", name, inst, o, l)
				}
			}
		}
	}
	if compared == 0 {
		t.Error("no instance label sets compared")
	}
	t.Logf("%d instance label sets compared", compared)
}
