package metrics

import (
	"os"
	"path/filepath"
	"testing"
)

// TestNetInterfaceAttrs: duplex other than full/half is absent, an up interface
// without a readable carrier has no running value (a guessed 0 would be a wrong
// number), a speed too large for bytes/s is no
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
		"network.interface.running":  "network.interface.running [0]=1 [2]=0",
		"network.interface.baudrate": "network.interface.baudrate no values",
	}
	for n, w := range want {
		m, _ := r.ByName(n)
		if got := formatResult(m, res[n]); got != w {
			t.Errorf("got  %s\nwant %s", got, w)
		}
	}
}

// TestNetRunningCarrier: an up interface's running value is exactly its carrier
// when that reads 0 or 1; a carrier that is missing, empty, negative, too big,
// garbage or followed by an unexpected line gives no value, never a guessed 0.
// A down interface is 0 whatever its carrier file says.
func TestNetRunningCarrier(t *testing.T) {
	for _, tc := range []struct {
		carrier string // "" removes the file
		flags   string
		want    string
	}{
		{"1\n", "0x1003\n", "[0]=1 [1]=1 [2]=0"},
		{"0\n", "0x1003\n", "[0]=1 [1]=0 [2]=0"},
		{"", "0x1003\n", "[0]=1 [2]=0"},
		{"\n", "0x1003\n", "[0]=1 [2]=0"},
		{"-1\n", "0x1003\n", "[0]=1 [2]=0"},
		{"2\n", "0x1003\n", "[0]=1 [2]=0"},
		{"99999999999999999999999\n", "0x1003\n", "[0]=1 [2]=0"},
		{"1\ngopcp_unexpected: 12 34 x y\n", "0x1003\n", "[0]=1 [2]=0"},
		{"\x00\xff\x01", "0x1003\n", "[0]=1 [2]=0"},
		{"garbage\n", "0x1002\n", "[0]=1 [1]=0 [2]=0"},
		{"", "0x1002\n", "[0]=1 [1]=0 [2]=0"},
	} {
		dir := copyTree(t, fixtureDir)
		eth := filepath.Join(dir, "sys/class/net/eth0")
		if tc.carrier == "" {
			if err := os.Remove(filepath.Join(eth, "carrier")); err != nil {
				t.Fatal(err)
			}
		} else {
			writeFile(t, filepath.Join(eth, "carrier"), tc.carrier)
		}
		writeFile(t, filepath.Join(eth, "flags"), tc.flags)
		r := newFixtureRegistry(t, dir)
		res := fetchByName(t, r, "network.interface.running")
		m, _ := r.ByName("network.interface.running")
		if got, w := formatResult(m, res["network.interface.running"]), "network.interface.running "+tc.want; got != w {
			t.Errorf("carrier %q flags %q:\ngot  %s\nwant %s", tc.carrier, tc.flags, got, w)
		}
	}
}
