package metrics

import (
	"path/filepath"
	"testing"
)

// TestNetInterfaceAttrs: duplex other than full/half is absent, an up interface
// without a readable carrier is not running, a speed too large for bytes/s is no
// baudrate, and the unknown speed (-1) is no baudrate either.
func TestNetInterfaceAttrs(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	eth := filepath.Join(dir, "sys/class/net/eth0")
	writeFile(t, filepath.Join(eth, "duplex"), "unknown\n")
	writeFile(t, filepath.Join(eth, "carrier"), "garbage\n")
	writeFile(t, filepath.Join(eth, "speed"), "9223372036854775807\n")
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r, "network.interface.duplex", "network.interface.running", "network.interface.baudrate")
	want := map[string]string{
		"network.interface.duplex":   "network.interface.duplex no values",
		"network.interface.running":  "network.interface.running [0]=1 [1]=0 [2]=0",
		"network.interface.baudrate": "network.interface.baudrate no values",
	}
	for n, w := range want {
		m, _ := r.ByName(n)
		if got := formatResult(m, res[n]); got != w {
			t.Errorf("got  %s\nwant %s", got, w)
		}
	}
}
