package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// TestMPTCPValues: the MPTcpExt fields come from their own line pair, not from the
// TcpExt fields of the same name (OFOQueue); the two second names of
// TcpExt fields serve the same value as the first name, or none for a field the
// kernel no longer prints (TCPLoss).
func TestMPTCPValues(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	res := fetchByName(t, r, "network.mptcp.mpcapablesynrx", "network.mptcp.addaddr", "network.mptcp.rcvwndconflict",
		"network.mptcp.ofoqueue", "network.tcp.ofoqueue", "network.tcp.fastopenactivefail",
		"network.tcp.tcpfastopenactivefail", "network.tcp.tcploss")
	wantValues(t, "mpcapablesynrx", res["network.mptcp.mpcapablesynrx"], 0, one(1000))
	wantValues(t, "addaddr", res["network.mptcp.addaddr"], 0, one(1036))
	wantValues(t, "rcvwndconflict", res["network.mptcp.rcvwndconflict"], 0, one(1067))
	if m, tc := res["network.mptcp.ofoqueue"], res["network.tcp.ofoqueue"]; len(m.Values) != 1 || len(tc.Values) != 1 || m.Values[0].U == tc.Values[0].U {
		t.Errorf("mptcp.ofoqueue %+v must come from MPTcpExt, not TcpExt (%+v)", m, tc)
	}
	fo := res["network.tcp.fastopenactivefail"]
	if len(fo.Values) != 1 {
		t.Fatalf("fastopenactivefail %+v", fo)
	}
	wantValues(t, "tcpfastopenactivefail", res["network.tcp.tcpfastopenactivefail"], 0, one(fo.Values[0].U))
	wantValues(t, "tcploss (not printed)", res["network.tcp.tcploss"], 0, nil)
}

// TestMPTCPAbsentWithoutMPTCP: a kernel without MPTCP (no MPTcpExt lines) gives no
// values for network.mptcp.*, keeps the TcpExt ones and counts no error; a broken
// MPTcpExt pair (more names than values) fails the file and is counted.
func TestMPTCPAbsentWithoutMPTCP(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/net/netstat")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept, mptcp []string
	for _, l := range strings.SplitAfter(string(orig), "\n") {
		if strings.HasPrefix(l, "MPTcpExt:") {
			mptcp = append(mptcp, l)
		} else {
			kept = append(kept, l)
		}
	}
	if len(mptcp) != 2 {
		t.Fatalf("fixture has %d MPTcpExt lines", len(mptcp))
	}
	writeFile(t, path, strings.Join(kept, ""))
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r, "network.mptcp.addaddr", "network.mptcp.mpcapablesynrx", "network.tcp.syncookiessent")
	wantValues(t, "addaddr without MPTCP", res["network.mptcp.addaddr"], 0, nil)
	wantValues(t, "mpcapablesynrx without MPTCP", res["network.mptcp.mpcapablesynrx"], 0, nil)
	if v := res["network.tcp.syncookiessent"]; v.Err != 0 || len(v.Values) != 1 {
		t.Errorf("TcpExt lost with MPTcpExt: %+v", v)
	}
	if n := r.SourceErrors()["netstat"]; n != 0 {
		t.Errorf("a kernel without MPTCP counted %d errors", n)
	}

	// A values line one field short: garbage, not a shifted column.
	short := mptcp[1][:strings.LastIndexByte(strings.TrimRight(mptcp[1], "\n"), ' ')] + "\n"
	writeFile(t, path, strings.Join(kept, "")+mptcp[0]+short)
	res = fetchByName(t, r, "network.mptcp.addaddr")
	wantValues(t, "short MPTcpExt", res["network.mptcp.addaddr"], protocol.ErrValue, nil)
	if n := r.SourceErrors()["netstat"]; n != 1 {
		t.Errorf("short MPTcpExt line counted %d errors, want 1", n)
	}
	// A huge value is absent, its neighbours are not.
	huge := strings.Replace(mptcp[1], " 1036 ", " 99999999999999999999999 ", 1)
	writeFile(t, path, strings.Join(kept, "")+mptcp[0]+huge)
	res = fetchByName(t, r, "network.mptcp.addaddr", "network.mptcp.rcvwndconflict")
	wantValues(t, "huge addaddr", res["network.mptcp.addaddr"], 0, nil)
	wantValues(t, "rcvwndconflict beside it", res["network.mptcp.rcvwndconflict"], 0, one(1067))
}

// TestICMPMsg: network.icmpmsg.* has a value for each type the IcmpMsg pairs name
// (several pairs, as the kernel prints them in chunks), on instance N for TypeN; the
// instance domain is every type 0-255; a column that is not In/OutType0-255, or a
// value that is not a count, is skipped without harm to the others; an IcmpMsg pair
// whose lines do not line up fails the file (counted).
func TestICMPMsg(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	res := fetchByName(t, r, "network.icmpmsg.intype", "network.icmpmsg.outtype")
	wantValues(t, "intype", res["network.icmpmsg.intype"], 0, map[uint32]uint64{3: 1, 8: 4})
	wantValues(t, "outtype", res["network.icmpmsg.outtype"], 0, map[uint32]uint64{0: 4, 3: 2})
	in, err := r.Instances(indomICMPMsg)
	if err != nil || len(in) != 256 || in[0].Name != "Type0" || in[255].ID != 255 || in[255].Name != "Type255" {
		t.Fatalf("icmpmsg instances %v %v", err, in)
	}

	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/net/snmp")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.SplitAfter(string(orig), "\n") {
		if !strings.HasPrefix(l, "IcmpMsg:") {
			kept = append(kept, l)
		}
	}
	base := strings.Join(kept, "")
	r = newFixtureRegistry(t, dir)
	for _, tc := range []struct {
		icmp    string
		in, out map[uint32]uint64
	}{
		{"", nil, nil},
		{"IcmpMsg: InType0 InType3\nIcmpMsg: 5 6\nIcmpMsg: InType255 OutType8\nIcmpMsg: 7 8\n",
			map[uint32]uint64{0: 5, 3: 6, 255: 7}, map[uint32]uint64{8: 8}},
		{"IcmpMsg: InType256 InType-1 InType03 InTypeX OutType OutType1 InType2\nIcmpMsg: 1 2 3 4 5 6 -7\n",
			nil, map[uint32]uint64{1: 6}},
		{"IcmpMsg: InType3 OutType3\nIcmpMsg: 99999999999999999999999 2\n", nil, map[uint32]uint64{3: 2}},
	} {
		writeFile(t, path, base+tc.icmp)
		res := fetchByName(t, r, "network.icmpmsg.intype", "network.icmpmsg.outtype", "network.ip.inreceives")
		wantValues(t, fmt.Sprintf("intype %q", tc.icmp), res["network.icmpmsg.intype"], 0, tc.in)
		wantValues(t, fmt.Sprintf("outtype %q", tc.icmp), res["network.icmpmsg.outtype"], 0, tc.out)
		if v := res["network.ip.inreceives"]; len(v.Values) != 1 {
			t.Errorf("%q: ip.inreceives %+v", tc.icmp, v)
		}
	}
	if n := r.SourceErrors()["snmp"]; n != 0 {
		t.Errorf("%d errors counted", n)
	}
	writeFile(t, path, base+"IcmpMsg: InType3 InType8\nIcmpMsg: 1\n")
	wantValues(t, "misaligned", fetchByName(t, r, "network.icmpmsg.intype")["network.icmpmsg.intype"], protocol.ErrValue, nil)
	if n := r.SourceErrors()["snmp"]; n != 1 {
		t.Errorf("misaligned IcmpMsg counted %d errors", n)
	}
}
