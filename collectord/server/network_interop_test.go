package server

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/internal/pcptest"
)

// instValues parses "pminfo -f" output for one metric into "instance name -> value"
// ("" for a metric without instances), and whether pminfo said it had no values.
func instValues(out string) (map[string]string, bool) {
	vals := map[string]string{}
	none := false
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "No value(s) available"):
			none = true
		case strings.HasPrefix(l, "inst ["):
			// inst [3 or "eth0"] value "192.0.2.2"
			q := strings.Index(l, `"`)
			end := strings.Index(l, `"] value `)
			if q < 0 || end < q {
				continue
			}
			vals[l[q+1:end]] = l[end+len(`"] value `):]
		case strings.HasPrefix(l, "value "):
			vals[""] = strings.TrimPrefix(l, "value ")
		}
	}
	return vals, none
}

// sameValues runs the real pminfo -f for each name against the real pmcd (realAddr)
// and collectord (addr) and reports every difference: whether there are values, how
// many, and each instance's value by instance name. It returns the real pmcd's values.
func sameValues(t *testing.T, realAddr, addr string, names ...string) map[string]map[string]string {
	t.Helper()
	real := map[string]map[string]string{}
	for _, name := range names {
		wantOut, _, _ := runTool(t, pcptest.PMInfo, "-h", realAddr, "-f", name)
		gotOut, gerr, code := runTool(t, pcptest.PMInfo, "-h", addr, "-f", name)
		if code != 0 || gerr != "" {
			t.Errorf("%s: pminfo exit %d: %s", name, code, gerr)
			continue
		}
		want, wantNone := instValues(wantOut)
		got, gotNone := instValues(gotOut)
		real[name] = want
		if wantNone != gotNone || len(want) != len(got) {
			t.Errorf("%s:\n ours: %v (no values: %v)\n real: %v (no values: %v)", name, got, gotNone, want, wantNone)
			continue
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s [%s]: ours %s, real %s", name, k, got[k], w)
			}
		}
	}
	return real
}

// TestRealNetworkValues: the values of the network metrics that stay put while the
// test runs (addresses, interface kinds, which MPTCP and TCP extras this kernel has,
// the ICMP type names) are those the real pmcd serves on this machine, instance by
// instance name (the ids of the address domain are each agent's own).
func TestRealNetworkValues(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD, pcptest.PMInfo)
	realPort := pcptest.StartPMCD(t, "")
	_, addr, _ := startServer(t, nil)
	realAddr := "127.0.0.1:" + strconv.Itoa(realPort)
	real := sameValues(t, realAddr, addr,
		"network.interface.hw_addr", "network.interface.inet_addr", "network.interface.ipv6_addr",
		"network.interface.ipv6_scope", "network.interface.type", "network.interface.virtual",
		"network.interface.wireless", "network.mptcp.mpfailtx", "network.mptcp.rmaddrdrop",
		"network.tcp.tcploss", "network.rawconn6.count", "network.tcpconn6.closing")
	if len(real["network.interface.hw_addr"]) == 0 {
		t.Fatal("no hardware address read from the real pmcd's output")
	}
	// Every name of the ICMP message type domain, and of the address domain.
	for _, name := range []string{"network.icmpmsg.intype", "network.interface.hw_addr"} {
		names := func(a string) string {
			out, _, _ := runTool(t, pcptest.PMInfo, "-h", a, "-l", name)
			var n []string
			for _, l := range strings.Split(out, "\n") {
				if i := strings.Index(l, ` or "`); i >= 0 {
					n = append(n, l[i+5:strings.Index(l[i+5:], `"`)+i+5])
				}
			}
			sort.Strings(n)
			return strings.Join(n, " ")
		}
		if got, want := names(addr), names(realAddr); got != want || got == "" {
			t.Errorf("%s instances:\n ours: %s\n real: %s", name, got, want)
		}
	}
}
