package metrics

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/internal/netnstest"
	"github.com/gopcp/gopcp/protocol"
)

// strValues renders a string metric's values by instance name.
func strValues(t *testing.T, r *Registry, res Result) map[string]string {
	t.Helper()
	in, err := r.Instances(indomNetAddr)
	if err != nil {
		t.Fatal(err)
	}
	names := map[uint32]string{}
	for _, i := range in {
		names[i.ID] = i.Name
	}
	out := map[string]string{}
	for _, v := range res.Values {
		n, ok := names[v.Inst]
		if !ok {
			t.Errorf("value for instance %d, which the instance domain does not list", v.Inst)
		}
		out[n] = v.S
	}
	return out
}

func sameStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestNetAddr: hardware addresses from sysfs, IPv6 addresses and scopes from
// if_inet6 (the last line of an interface wins; ::a.b.c.d as inet_ntop writes an
// IPv4-compatible address), IPv4 addresses from the address dump (the first of a
// label; aliases are instances of their own), and no value for an interface without
// an address of that kind. The instance domain holds every name seen.
func TestNetAddr(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	source[*netAddrSource](t, r, "netaddr").inet4 = func() ([]ifAddr4, error) {
		return []ifAddr4{
			{"lo", netip.MustParseAddr("127.0.0.1")},
			{"eth0", netip.MustParseAddr("192.0.2.2")},
			{"eth0", netip.MustParseAddr("192.0.2.3")}, // secondary: not the one shown
			{"eth0:1", netip.MustParseAddr("198.51.100.7")},
		}, nil
	}
	res := fetchByName(t, r, "network.interface.hw_addr", "network.interface.inet_addr",
		"network.interface.ipv6_addr", "network.interface.ipv6_scope")
	for n, want := range map[string]map[string]string{
		"network.interface.hw_addr":    {"eth0": "52:54:00:12:34:56", "lo": "00:00:00:00:00:00", "wlan0": "a0:b1:c2:d3:e4:f5"},
		"network.interface.inet_addr":  {"lo": "127.0.0.1", "eth0": "192.0.2.2", "eth0:1": "198.51.100.7"},
		"network.interface.ipv6_addr":  {"eth0": "fe80::5054:ffff:fe12:3456/64", "lo": "::1/128", "sit0": "::10.0.0.1/96"},
		"network.interface.ipv6_scope": {"eth0": "Link", "lo": "Host", "sit0": "Compat"},
	} {
		if got := strValues(t, r, res[n]); res[n].Err != 0 || !sameStrings(got, want) {
			t.Errorf("%s = %v (err %d), want %v", n, got, res[n].Err, want)
		}
	}
	in, _ := r.Instances(indomNetAddr)
	var names []string
	for _, i := range in {
		names = append(names, i.Name)
	}
	// The directory's names sorted, then the IPv4 labels, then if_inet6's.
	if got := strings.Join(names, " "); got != "eth0 lo wlan0 eth0:1 sit0" {
		t.Errorf("instances %q", got)
	}
	if got := r.InstanceLabels(indomNetAddr, in[0]); got != "" {
		t.Errorf("instance labels %s, want none (as the linux agent)", got)
	}
	if got, _ := r.InDomLabels(indomNetAddr); got != `{"device_type":"interface","indom_name":"per interface"}` {
		t.Errorf("indom labels %s", got)
	}
}

// TestNetAddrHostile: an if_inet6 line that is not one fails the IPv6 metrics alone
// (counted as a partial error), never an address from a line before it; a missing
// if_inet6 is no IPv6 values and no error; a failed IPv4 dump fails inet_addr
// alone; an address file holding garbage or control characters is no value for
// that interface; a fixture root never asks the live kernel for IPv4 addresses.
func TestNetAddrHostile(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	r := newFixtureRegistry(t, dir)
	src := source[*netAddrSource](t, r, "netaddr")
	if src.inet4 != nil {
		t.Fatal("a fixture root reads the live IPv4 addresses")
	}
	wantValues(t, "no IPv4 under a fixture root", fetchByName(t, r, "network.interface.inet_addr")["network.interface.inet_addr"], 0, nil)

	inet6 := filepath.Join(dir, "proc/net/if_inet6")
	good := "00000000000000000000000000000001 01 80 10 80       lo\n"
	for _, bad := range []string{
		good + "garbage\n",
		good + "0000000000000000000000000000001 01 80 10 80 lo\n",
		good + "00000000000000000000000000000001 01 81 10 80 lo\n",
		good + "00000000000000000000000000000001 01 80 10 80 lo extra\n",
		good + "00000000000000000000000000000001 01 80 10 80 l/o\n",
		good + "00000000000000000000000000000001 01 80 10 80 lo\x1b[31m\n",
		good + "0000000000000000000000000000000g 01 80 10 80 lo\n",
		"\x00\x01\x02\x03",
	} {
		writeFile(t, inet6, bad)
		before := src.PartialErrors()
		res := fetchByName(t, r, "network.interface.ipv6_addr", "network.interface.hw_addr")
		wantValues(t, "ipv6 "+bad, res["network.interface.ipv6_addr"], protocol.ErrValue, nil)
		if len(res["network.interface.hw_addr"].Values) != 3 {
			t.Errorf("%q: hw_addr %+v", bad, res["network.interface.hw_addr"])
		}
		if src.PartialErrors() != before+1 {
			t.Errorf("%q: not counted", bad)
		}
		before = r.SourceErrors()["netaddr"]
		wantValues(t, "ipv6 alone "+bad, fetchByName(t, r, "network.interface.ipv6_scope")["network.interface.ipv6_scope"], protocol.ErrValue, nil)
		if r.SourceErrors()["netaddr"] != before+1 {
			t.Errorf("%q alone: not counted", bad)
		}
	}
	os.Remove(inet6)
	before := r.SourceErrors()["netaddr"]
	wantValues(t, "no if_inet6", fetchByName(t, r, "network.interface.ipv6_addr")["network.interface.ipv6_addr"], 0, nil)
	if r.SourceErrors()["netaddr"] != before {
		t.Error("a kernel without IPv6 counted as an error")
	}

	src.inet4 = func() ([]ifAddr4, error) { return nil, errors.New("netlink refused") }
	res := fetchByName(t, r, "network.interface.inet_addr", "network.interface.hw_addr")
	wantValues(t, "failed dump", res["network.interface.inet_addr"], protocol.ErrValue, nil)
	if len(res["network.interface.hw_addr"].Values) != 3 {
		t.Errorf("hw_addr beside a failed dump: %+v", res["network.interface.hw_addr"])
	}
	src.inet4 = func() ([]ifAddr4, error) {
		return []ifAddr4{{"../x", netip.MustParseAddr("10.0.0.1")}, {"e\x1bth", netip.MustParseAddr("10.0.0.2")}, {"", netip.MustParseAddr("10.0.0.3")}}, nil
	}
	wantValues(t, "hostile labels", fetchByName(t, r, "network.interface.inet_addr")["network.interface.inet_addr"], 0, nil)

	for _, bad := range []string{"", "\x1b]0;x\x07\n", strings.Repeat("a", 64) + "\n"} {
		writeFile(t, filepath.Join(dir, "sys/class/net/eth0/address"), bad)
		got := strValues(t, r, fetchByName(t, r, "network.interface.hw_addr")["network.interface.hw_addr"])
		if _, ok := got["eth0"]; ok || len(got) != 2 {
			t.Errorf("address %q: %v", bad, got)
		}
	}
}

// nlAddr builds one RTM_NEWADDR message: an ifaddrmsg and the given attributes.
func nlAddr(family byte, attrs ...[]byte) []byte {
	body := []byte{family, 24, 0, 0, 2, 0, 0, 0}
	for _, a := range attrs {
		body = append(body, a...)
	}
	h := make([]byte, 16)
	binary.NativeEndian.PutUint32(h[0:], uint32(16+len(body)))
	binary.NativeEndian.PutUint16(h[4:], syscall.RTM_NEWADDR)
	return append(h, body...)
}

func nlAttr(typ uint16, v []byte) []byte {
	a := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(a[0:], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(a[2:], typ)
	a = append(a, v...)
	for len(a)%4 != 0 {
		a = append(a, 0)
	}
	return a
}

// TestParseAddrDump: the label and local address of each IPv4 message, the
// address when there is no local one; other families and messages without a label
// skipped; a truncated dump or bad attribute lengths fail rather than guess.
func TestParseAddrDump(t *testing.T) {
	dump := append(nlAddr(syscall.AF_INET, nlAttr(syscall.IFA_ADDRESS, []byte{10, 0, 0, 9}), nlAttr(syscall.IFA_LOCAL, []byte{10, 0, 0, 1}),
		nlAttr(syscall.IFA_LABEL, []byte("eth0\x00"))),
		nlAddr(syscall.AF_INET, nlAttr(syscall.IFA_ADDRESS, []byte{10, 0, 1, 1}), nlAttr(syscall.IFA_LABEL, []byte("eth0:1\x00")))...)
	dump = append(dump, nlAddr(syscall.AF_INET6, nlAttr(syscall.IFA_ADDRESS, make([]byte, 16)), nlAttr(syscall.IFA_LABEL, []byte("eth0\x00")))...)
	dump = append(dump, nlAddr(syscall.AF_INET, nlAttr(syscall.IFA_LOCAL, []byte{10, 0, 2, 1}))...)
	got, err := parseAddrDump(dump)
	if err != nil || len(got) != 2 || got[0] != (ifAddr4{"eth0", netip.MustParseAddr("10.0.0.1")}) ||
		got[1] != (ifAddr4{"eth0:1", netip.MustParseAddr("10.0.1.1")}) {
		t.Fatalf("parseAddrDump = %v, %v", got, err)
	}
	bad := nlAddr(syscall.AF_INET, nlAttr(syscall.IFA_LABEL, []byte("eth0\x00")))
	binary.NativeEndian.PutUint16(bad[24:], 200) // attribute longer than the message
	for _, b := range [][]byte{dump[:len(dump)-3], bad} {
		if got, err := parseAddrDump(b); err == nil {
			t.Errorf("hostile dump of %d bytes parsed: %v", len(b), got)
		}
	}
}

// TestNetlinkIPv4Live: the dump of this process's network namespace has loopback's
// 127.0.0.1 (present in every namespace once lo is up).
func TestNetlinkIPv4Live(t *testing.T) {
	addrs, err := netlinkIPv4()
	if err != nil {
		t.Skipf("netlink: %v", err)
	}
	for _, a := range addrs {
		if a.label == "lo" && a.addr == netip.MustParseAddr("127.0.0.1") {
			return
		}
	}
	t.Errorf("no 127.0.0.1 on lo in %v", addrs)
}

// inNetns runs fn on an OS thread moved into the named network namespace. The
// goroutine never unlocks the thread, so the runtime ends the thread with it and no
// other goroutine ever runs in that namespace.
func inNetns(t *testing.T, ns string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		fn()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("entering namespace %s: %v", ns, err)
	}
}

// TestNetlinkIPv4MatchesIoctl: in a network namespace of the test's own, with an
// alias label and a secondary address added, the dump gives each label the address
// that SIOCGIFADDR (the linux agent's call) gives it: the alias is an instance of
// its own and the secondary address is not shown.
func TestNetlinkIPv4MatchesIoctl(t *testing.T) {
	p := netnstest.New(t)
	for _, args := range [][]string{
		{"-n", p.Server, "addr", "add", "10.231.255.9/32", "dev", "lo", "label", "lo:gp"},
		{"-n", p.Server, "addr", "add", "127.0.0.2/8", "dev", "lo"}, // secondary to 127.0.0.1/8
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	var addrs []ifAddr4
	var dumpErr error
	ioctl := map[string]string{}
	inNetns(t, p.Server, func() {
		addrs, dumpErr = netlinkIPv4()
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return
		}
		defer unix.Close(fd)
		for _, a := range addrs {
			ifr, err := unix.NewIfreq(a.label)
			if err != nil {
				continue
			}
			if err := unix.IoctlIfreq(fd, unix.SIOCGIFADDR, ifr); err == nil {
				if ip, err := ifr.Inet4Addr(); err == nil {
					ioctl[a.label] = netip.AddrFrom4([4]byte(ip)).String()
				}
			}
		}
	})
	if dumpErr != nil {
		t.Fatal(dumpErr)
	}
	// The source's own choice among the dump's addresses.
	src := &netAddrSource{classDir: t.TempDir(), inet6: newKfile(filepath.Join(t.TempDir(), "if_inet6")),
		inet4: func() ([]ifAddr4, error) { return addrs, nil }}
	res := &Result{}
	if err := src.Fetch([]Request{{Sel: selInetAddr, Res: res}}); err != nil {
		t.Fatal(err)
	}
	first := map[string]string{}
	for _, v := range res.Values {
		first[src.ids.name(v.Inst)] = v.S
	}
	if first["lo"] != "127.0.0.1" || first["lo:gp"] != "10.231.255.9" || first[""] != "" {
		t.Errorf("dump in the namespace: %v", first)
	}
	if len(first) != 3 { // lo, lo:gp and the veth end
		t.Errorf("labels %v, want lo, lo:gp and the veth", first)
	}
	if !sameStrings(first, ioctl) {
		t.Errorf("netlink %v, SIOCGIFADDR %v", first, ioctl)
	}
}
