package main

import (
	"os"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/collectord/server/servertest"
	"github.com/gopcp/gopcp/internal/pcptest"
)

// startCollectord runs our collectord over this machine's /proc and /sys on a
// loopback port for the test, as collectord's own interop tests do, and
// returns its address.
func startCollectord(t *testing.T) string {
	t.Helper()
	_, addr := servertest.Start(t, nil)
	return addr
}

// volatileInstances reduces the instance lines of metrics whose instances are
// processes or client connections to one marker per metric: the two pminfo
// runs are themselves processes and clients, and others come and go between
// them. Every other line is compared (values by kind, see maskValues).
func volatileInstances(lines []string) []string {
	var out []string
	name := ""
	for _, l := range lines {
		if l != "" && l[0] != ' ' {
			name, _, _ = strings.Cut(l, " ")
		}
		volatile := strings.HasPrefix(name, "proc.") || strings.HasPrefix(name, "pmcd.client.")
		if volatile && strings.HasPrefix(l, "    inst [") {
			if len(out) == 0 || out[len(out)-1] != "    <instances>" {
				out = append(out, "    <instances>")
			}
			continue
		}
		out = append(out, l)
	}
	return out
}

// compareReduced is compare with volatileInstances applied to both outputs.
func compareReduced(t *testing.T, args ...string) {
	t.Helper()
	real := runReal(t, nil, args...)
	ours := runOurs(t, nil, args...)
	if real.status != ours.status {
		t.Errorf("pminfo %s: exit status real %d, ours %d", strings.Join(args, " "), real.status, ours.status)
	}
	if real.stderr != withoutStoreLine(ours.stderr) {
		t.Errorf("pminfo %s: stderr differs\n real: %q\n ours: %q", strings.Join(args, " "), real.stderr, ours.stderr)
	}
	r, o := volatileInstances(maskValues(real.stdout)), volatileInstances(maskValues(ours.stdout))
	if d := firstDiff(r, o); d != "" {
		t.Errorf("pminfo %s: stdout differs at %s\n(%d lines real, %d ours)", strings.Join(args, " "), d, len(r), len(o))
	}
}

// TestInteropDerivedCollectord runs PCP 6.0.3's pminfo and ours against our
// collectord with the default environment (PCP_DERIVED_CONFIG unset, so both
// read the default derived-metric configuration) and compares them byte for
// byte: the whole namespace, and every derived metric whose operands the
// collector serves, by name, by PMID and by their non-leaf parents, for each
// flag. The derived names come from what the real pminfo lists, not from a
// fixed list, so metrics added to collectord are covered as they come.
//
// Values are compared by kind (a number, a string, or the text) because the
// two runs fetch at different moments: counters move, and the derived
// metrics built on rate() or delta() have no value at a client's first fetch
// in both. Instances of proc.* and pmcd.client.* are compared as present or
// not (volatileInstances).
func TestInteropDerivedCollectord(t *testing.T) {
	pcptest.Require(t, realPminfo)
	addr := startCollectord(t)
	cleanEnv(t)
	t.Setenv("PCP_DERIVED_CONFIG", "")
	os.Unsetenv("PCP_DERIVED_CONFIG")

	all := runReal(t, nil, "-h", addr, "-m")
	if all.status != 0 {
		t.Fatalf("real pminfo -m: status %d: %s", all.status, all.stderr)
	}
	var names, pmids, parents []string
	for _, l := range strings.Split(all.stdout, "\n") {
		name, pmid, ok := strings.Cut(l, " PMID: ")
		if !ok || !strings.HasPrefix(pmid, "511.") {
			continue
		}
		names, pmids = append(names, name), append(pmids, pmid)
		if i := strings.LastIndexByte(name, '.'); i > 0 && !strings.HasPrefix(name, "event.") {
			if p := name[:i]; !contains(parents, p) {
				parents = append(parents, p)
			}
		}
	}
	// event.flags and event.missed are always there; the default
	// configuration must add some for this test to mean anything
	if len(names) <= 2 {
		t.Fatalf("the real pminfo lists no derived metrics from the default configuration against collectord:\n%s", all.stdout)
	}
	t.Logf("%d derived metrics: %s", len(names), strings.Join(names, " "))

	for _, flags := range []string{"", "-m", "-d", "-t", "-T", "-dmtT"} {
		args := append([]string{"-h", addr}, strings.Fields(flags)...)
		t.Run(flags+"/all", func(t *testing.T) { compareReduced(t, args...) })
	}
	pmids = append(pmids, "511.0.999", "511.2047.1023")
	for _, flags := range []string{"", "-d", "-f", "-t", "-T", "-m", "-l", "-s", "-fdmtTls", "-fd", "-b1 -f", "-F", "-v", "-x"} {
		for set, list := range map[string][]string{"names": names, "pmids": pmids, "parents": parents} {
			args := append(append([]string{"-h", addr}, strings.Fields(flags)...), list...)
			t.Run(flags+"/"+set, func(t *testing.T) { compareReduced(t, args...) })
		}
	}
	// the whole namespace with values and labels: every metric the collector
	// serves and every derived one, fetched by both
	for _, flags := range []string{"-f", "-l", "-fl"} {
		args := append([]string{"-h", addr}, strings.Fields(flags)...)
		t.Run(flags+"/all", func(t *testing.T) { compareReduced(t, args...) })
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
