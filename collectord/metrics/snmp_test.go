package metrics

import (
	"path/filepath"
	"testing"

	"github.com/prometheus/procfs"

	"github.com/gopcp/gopcp/protocol"
)

// TestSNMPHostile: a file whose value line has fewer or more columns than its header,
// or no pair at all, fails the source (counted) instead of shifting columns; a column
// this kernel lacks is absent; a value that is not a number is absent.
func TestSNMPHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	path := filepath.Join(dir, "proc/net/snmp")
	r := newFixtureRegistry(t, dir)
	for _, bad := range []string{
		"Tcp: RtoAlgorithm RtoMin ActiveOpens\nTcp: 1 200\n",
		"Tcp: RtoAlgorithm RtoMin\nTcp: 1 200 300\n",
		"Tcp: RtoAlgorithm RtoMin\nUdp: 1 200\n",
		"Tcp: RtoAlgorithm RtoMin\n",
		"",
		"\x00\x01\x02 garbage",
	} {
		writeFile(t, path, bad)
		before := r.SourceErrors()["snmp"]
		res := fetchByName(t, r, "network.tcp.rtomin")["network.tcp.rtomin"]
		if res.Err != protocol.ErrValue || len(res.Values) != 0 {
			t.Errorf("%q: %+v, want PM_ERR_VALUE", bad, res)
		}
		if r.SourceErrors()["snmp"] != before+1 {
			t.Errorf("%q: not counted as a source error", bad)
		}
	}
	writeFile(t, path, "Tcp: RtoAlgorithm RtoMin MaxConn InSegs\nTcp: 1 x -1 18446744073709551615\nUdp: InDatagrams\nUdp: 5\n")
	res := fetchByName(t, r, "network.tcp.rtoalgorithm", "network.tcp.rtomin", "network.tcp.maxconn",
		"network.tcp.insegs", "network.tcp.activeopens", "network.udp.indatagrams", "network.udplite.indatagrams")
	want := map[string]int64{"network.tcp.rtoalgorithm": 1, "network.tcp.rtomin": -2, "network.tcp.maxconn": -1,
		"network.tcp.insegs": -1, "network.tcp.activeopens": -2, "network.udp.indatagrams": 5, "network.udplite.indatagrams": -2}
	for name, w := range want {
		v := res[name].Values
		switch {
		case res[name].Err != 0:
			t.Errorf("%s: error %d", name, res[name].Err)
		case w == -2 && len(v) != 0:
			t.Errorf("%s: %+v, want no values", name, v)
		case w != -2 && (len(v) != 1 || v[0].U != uint64(w)):
			t.Errorf("%s: %+v, want %d", name, v, uint64(w))
		}
	}
}

// TestSNMPAgreesWithProcfs: on this host, the slow-moving fields of /proc/net/snmp
// read the same through procfs and through our parser.
func TestSNMPAgreesWithProcfs(t *testing.T) {
	p, err := procfs.Self()
	if err != nil {
		t.Skip(err)
	}
	sn, err := p.Snmp()
	if err != nil {
		t.Skip(err)
	}
	r, err := New(Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	res := fetchByName(t, r, "network.ip.forwarding", "network.ip.defaultttl", "network.tcp.rtoalgorithm",
		"network.tcp.rtomin", "network.tcp.rtomax")
	for name, want := range map[string]*float64{
		"network.ip.forwarding": sn.Ip.Forwarding, "network.ip.defaultttl": sn.Ip.DefaultTTL,
		"network.tcp.rtoalgorithm": sn.Tcp.RtoAlgorithm, "network.tcp.rtomin": sn.Tcp.RtoMin, "network.tcp.rtomax": sn.Tcp.RtoMax,
	} {
		v := res[name].Values
		if want == nil || len(v) != 1 || float64(v[0].U) != *want {
			t.Errorf("%s: %+v, procfs %v", name, v, want)
		}
	}
}

// Parser cost, ours against procfs's, on this host's file (go test -bench Parse).
func BenchmarkParseSNMPOurs(b *testing.B) {
	buf, err := readFile("/proc/net/snmp", nil)
	if err != nil {
		b.Skip(err)
	}
	keys := make([]string, len(snmpFields))
	for i, f := range snmpFields {
		keys[i] = f.key
	}
	tab, vals, want := newFieldTable(keys), make(optSlots, len(keys)), make([]bool, len(keys))
	for i := range want {
		want[i] = true
	}
	signed := signedSNMP(keys)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := parseSNMP(buf, tab, vals, want, signed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSNMPProcfs(b *testing.B) {
	p, err := procfs.Self()
	if err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := p.Snmp(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSNMPNegative: a negative value in an unsigned counter (every column but Tcp
// MaxConn) is corruption and gives no value, never its two's complement; MaxConn,
// which the kernel prints signed, keeps -1 and rejects what is not a decimal int64.
func TestSNMPNegative(t *testing.T) {
	keys := []string{"Tcp:MaxConn", "Tcp:InSegs", "TcpExt:TW"}
	tab, signed := newFieldTable(keys), signedSNMP(keys)
	want := []bool{true, true, true}
	for _, tc := range []struct {
		file string
		want []int64 // -2: no value; others compared as uint64
	}{
		{"Tcp: MaxConn InSegs\nTcp: -1 5\nTcpExt: TW\nTcpExt: 7\n", []int64{-1, 5, 7}},
		{"Tcp: MaxConn InSegs\nTcp: 10 -5\nTcpExt: TW\nTcpExt: -7\n", []int64{10, -2, -2}},
		{"Tcp: MaxConn InSegs\nTcp: --1 -0\nTcpExt: TW\nTcpExt: -17239\n", []int64{-2, -2, -2}},
		{"Tcp: MaxConn InSegs\nTcp: -9223372036854775808 +5\nTcpExt: TW\nTcpExt: 0x10\n", []int64{-9223372036854775808, -2, -2}},
		{"Tcp: MaxConn InSegs\nTcp: -9223372036854775809 18446744073709551616\nTcpExt: TW\nTcpExt: 1\n", []int64{-2, -2, 1}},
		{"Tcp: MaxConn InSegs\nTcp: -0x1 1\nTcpExt: TW\nTcpExt: 1\n", []int64{-2, 1, 1}},
	} {
		vals := make(optSlots, len(keys))
		if err := parseSNMP([]byte(tc.file), tab, vals, want, signed); err != nil {
			t.Fatalf("%q: %v", tc.file, err)
		}
		for i, w := range tc.want {
			got := vals[i]
			if w == -2 && got.ok || w != -2 && (!got.ok || got.v != uint64(w)) {
				t.Errorf("%q: %s = %+v, want %d", tc.file, keys[i], got, w)
			}
		}
	}
}
