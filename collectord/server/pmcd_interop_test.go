package server

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// TestPMCDMetricsMatchReal: the pmcd.* and pmda.* values that do not depend on
// the daemon's history read the same from the real pmcd and from ours, pmstore
// gets the same answers from both, and the PDU counters move the same way for
// the same requests (pmcd.pdu_in.highres_fetch by one per pminfo -f, creds by one
// per connection). Skips without PCP: scripts/reference-pcp install.
func TestPMCDMetricsMatchReal(t *testing.T) {
	pcptest.Require(t, pcptest.PMInfo, pmstoreBin)
	real := "127.0.0.1:" + strconv.Itoa(pcptest.StartPMCD(t, ""))
	_, ours, _ := startServer(t, nil)
	same := []string{"pmda.uname", "pmda.version", "pmcd.version", "pmcd.agent.name", "pmcd.agent.fenced",
		"pmcd.control.traceconn", "pmcd.control.tracepdu", "pmcd.control.tracenobuf", "pmcd.control.tracebufs",
		"pmcd.control.dumptrace", "pmcd.control.dumpconn", "pmcd.control.sighup"}
	args := append([]string{"-f"}, same...)
	want, _, _ := runTool(t, pcptest.PMInfo, append([]string{"-h", real}, args...)...)
	got, _, _ := runTool(t, pcptest.PMInfo, append([]string{"-h", ours}, args...)...)
	if got != want {
		t.Errorf("pminfo -f differs: %s", firstDiff(got, want))
	}
	for _, st := range [][]string{
		{"pmcd.control.traceconn", "5"}, {"pmcd.control.tracebufs", "-1"}, {"pmcd.control.tracepdu", "1"},
		{"pmcd.control.tracepdu", "0"}, {"pmcd.control.tracebufs", "20"}, {"pmcd.control.dumptrace", "1"},
	} {
		wantOut, wantErr, wantCode := runTool(t, pmstoreBin, "-h", real, st[0], st[1])
		gotOut, gotErr, gotCode := runTool(t, pmstoreBin, "-h", ours, st[0], st[1])
		if gotOut != wantOut || gotErr != wantErr || gotCode != wantCode {
			t.Errorf("pmstore %s %s: ours exit %d %q %q, real exit %d %q %q", st[0], st[1], gotCode, gotOut, gotErr, wantCode, wantOut, wantErr)
		}
	}
	value := regexp.MustCompile(`(?m)^(pmcd\.pdu_in\.\w+)\n    value ([0-9]+)$`)
	counts := func(host string) map[string]int {
		out, _, _ := runTool(t, pcptest.PMInfo, "-h", host, "-f", "pmcd.pdu_in.highres_fetch", "pmcd.pdu_in.creds")
		m := map[string]int{}
		for _, v := range value.FindAllStringSubmatch(out, -1) {
			m[v[1]], _ = strconv.Atoi(v[2])
		}
		return m
	}
	for name, host := range map[string]string{"real": real, "ours": ours} {
		a, b := counts(host), counts(host)
		for _, n := range []string{"pmcd.pdu_in.highres_fetch", "pmcd.pdu_in.creds"} {
			if b[n]-a[n] != 1 {
				t.Errorf("%s: %s moved by %d between two pminfo -f, want 1 (%v -> %v)", name, n, b[n]-a[n], a, b)
			}
		}
	}
}

// pmstoreBin is PCP's pmstore, installed beside pminfo.
const pmstoreBin = "/usr/bin/pmstore"
