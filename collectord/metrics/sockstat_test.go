package metrics

import (
	"path/filepath"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// TestSockstatFilesFailApart: in one fetch of IPv4 and IPv6 counts, a broken
// sockstat (or sockstat6) fails only its own metrics; the other file's keep their
// exact values, and the failure is counted in SourceErrors.
func TestSockstatFilesFailApart(t *testing.T) {
	const v4, v6 = "sockets: used 9\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\n", "TCP6: inuse 4\nUDP6: inuse 2\n"
	for _, tc := range []struct {
		name, v4, v6 string
		tcp, tcp6    int64 // -1: PM_ERR_VALUE
	}{
		{"both whole", v4, v6, 5, 4},
		{"sockstat garbage", "\x00\x01 garbage", v6, -1, 4},
		{"sockstat negative", "TCP: inuse -5\n", v6, -1, 4},
		{"sockstat unexpected line", "TCP: inuse 5\ngopcp_unexpected: 12 34 x y\n", v6, -1, 4},
		{"sockstat6 empty", v4, "", 5, -1},
		{"sockstat6 too big", v4, "TCP6: inuse 99999999999999999999999\n", 5, -1},
		{"both broken", "", "", -1, -1},
	} {
		dir := copyTree(t, fixtureDir)
		writeFile(t, filepath.Join(dir, "proc/net/sockstat"), tc.v4)
		writeFile(t, filepath.Join(dir, "proc/net/sockstat6"), tc.v6)
		r := newFixtureRegistry(t, dir)
		res := fetchByName(t, r, "network.sockstat.tcp.inuse", "network.sockstat.tcp6.inuse")
		for n, w := range map[string]int64{"network.sockstat.tcp.inuse": tc.tcp, "network.sockstat.tcp6.inuse": tc.tcp6} {
			got := res[n]
			if w < 0 && (got.Err != protocol.ErrValue || len(got.Values) != 0) ||
				w >= 0 && (got.Err != 0 || len(got.Values) != 1 || got.Values[0].U != uint64(w)) {
				t.Errorf("%s: %s = %+v, want %d", tc.name, n, got, w)
			}
		}
		if broken := tc.tcp < 0 || tc.tcp6 < 0; broken != (r.SourceErrors()["sockstat"] > 0) {
			t.Errorf("%s: SourceErrors %d", tc.name, r.SourceErrors()["sockstat"])
		}
	}
}
