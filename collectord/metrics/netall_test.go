package metrics

import (
	"os"
	"path/filepath"
	"testing"
)

// TestNetAll: network.all.* sums the interfaces that the interfaces.conf pattern
// does not cull. The fixture has no such file, so the pattern PCP ships applies
// (lo culled; eth0 and wlan0 summed), and wlan0's near-2^64 receive bytes overflow
// those sums, which have no value rather than a wrapped one. A file that culls
// wlan0 too leaves eth0 alone; one that does not compile is the default pattern;
// one that culls everything gives zeros.
func TestNetAll(t *testing.T) {
	names := []string{"network.all.in.bytes", "network.all.in.packets", "network.all.in.errors", "network.all.in.drops",
		"network.all.out.bytes", "network.all.out.packets", "network.all.out.errors", "network.all.out.drops",
		"network.all.total.bytes", "network.all.total.packets", "network.all.total.errors", "network.all.total.drops"}
	check := func(what string, dir string, want []int64) {
		t.Helper()
		res := fetchByName(t, newFixtureRegistry(t, dir), names...)
		for i, n := range names {
			if want[i] < 0 {
				wantValues(t, what+" "+n, res[n], 0, nil)
			} else {
				wantValues(t, what+" "+n, res[n], 0, one(uint64(want[i])))
			}
		}
	}
	withWlan := []int64{-1, 1499, 1, 2, 137419, 1153, 3, 4, -1, 1499 + 1153, 4, 6}
	check("no interfaces.conf", fixtureDir, withWlan)
	dir := copyTree(t, fixtureDir)
	conf := filepath.Join(dir, "etc/pcp/linux/interfaces.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, conf, "# culled from network.all\n^(lo |\n  veth[0-9]+ |   # container pairs\n  wlan0)$\n")
	check("eth0 alone", dir, []int64{36595205, 1489, 1, 2, 137399, 1151, 3, 4, 36595205 + 137399, 1489 + 1151, 4, 6})
	writeFile(t, conf, "# unbalanced\n^(lo|wlan0\n")
	check("broken interfaces.conf", dir, withWlan)
	writeFile(t, conf, "^(lo|eth0|wlan0)$ # everything\n")
	check("all culled", dir, []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
}

// TestNetInterfaceKind: type from /sys/class/net/<if>/type, virtual from
// /sys/devices/virtual/net/<if>, wireless from /sys/class/net/<if>/wireless; a type
// that is missing or not a number is no value for that interface only, and an
// interface with no /sys/class/net directory has no virtual or wireless value.
func TestNetInterfaceKind(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r, "network.interface.type", "network.interface.virtual", "network.interface.wireless")
	// instances: lo 0, eth0 1, wlan0 2
	wantValues(t, "type", res["network.interface.type"], 0, map[uint32]uint64{0: 772, 1: 1, 2: 1})
	wantValues(t, "virtual", res["network.interface.virtual"], 0, map[uint32]uint64{0: 1, 1: 0, 2: 0})
	wantValues(t, "wireless", res["network.interface.wireless"], 0, map[uint32]uint64{0: 0, 1: 0, 2: 1})

	writeFile(t, filepath.Join(dir, "sys/class/net/eth0/type"), "ether\n")
	os.Remove(filepath.Join(dir, "sys/class/net/wlan0/type"))
	os.RemoveAll(filepath.Join(dir, "sys/class/net/lo"))
	res = fetchByName(t, r, "network.interface.type", "network.interface.virtual", "network.interface.wireless")
	wantValues(t, "type, hostile", res["network.interface.type"], 0, nil)
	wantValues(t, "virtual without lo's sysfs", res["network.interface.virtual"], 0, map[uint32]uint64{1: 0, 2: 0})
	wantValues(t, "wireless without lo's sysfs", res["network.interface.wireless"], 0, map[uint32]uint64{1: 0, 2: 1})
	writeFile(t, filepath.Join(dir, "sys/class/net/eth0/type"), "99999999999\n")
	wantValues(t, "type beyond 32 bits", fetchByName(t, r, "network.interface.type")["network.interface.type"], 0, nil)
}
