// Package netnstest gives a test two hosts of its own: two network namespaces
// joined by a veth pair, with private addresses that exist only inside them. A
// server runs in one, a client in the other, and the server sees the client's
// real, non-loopback address, as it would across a network, without the test
// touching any address or interface of the machine.
//
// Programs run inside a namespace as subprocesses ("ip netns exec"), since the
// test process itself stays in the root namespace. Namespaces are removed by
// t.Cleanup, also when the test fails; namespaces left by a killed earlier run
// (their creator's process is gone) are removed when the next pair is made.
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Prefix starts the name of every namespace this package makes.
const Prefix = "gopcp-nt-"

// nameRE matches a namespace made by this package: the creating process's id
// (how a stale one is recognised) and a random tag (so that parallel tests in
// one process never collide).
var nameRE = regexp.MustCompile(`^` + regexp.QuoteMeta(Prefix) + `([0-9]+)-[0-9a-f]+-(srv|cli)$`)

// Pair is two namespaces joined by a veth pair: Server at ServerIP and Client at
// ClientIP, a /30 of 10.231.0.0/16 picked at random per pair. lo is up in both.
type Pair struct {
	Server, Client     string
	ServerIP, ClientIP netip.Addr
}

// Available reports why namespaces cannot be made here ("" when they can): they
// need root and iproute2's ip.
func Available() string {
	if os.Geteuid() != 0 {
		return "network namespace tests need root (ip netns add); run as root, as CI does"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "network namespace tests need iproute2's ip (apt-get install iproute2)"
	}
	return ""
}

// New makes a pair, or skips t when Available says it cannot. A failure to make
// it as root with ip present fails t: a security test must not vanish quietly.
func New(t testing.TB) *Pair {
	t.Helper()
	if why := Available(); why != "" {
		t.Skip(why)
	}
	RemoveStale(t)
	tag := randomHex(t, 4)
	base := Prefix + strconv.Itoa(os.Getpid()) + "-" + tag
	n := randomInt(t, 1<<14) // 16384 /30 blocks in 10.231.0.0/16
	p := &Pair{
		Server:   base + "-srv",
		Client:   base + "-cli",
		ServerIP: netip.AddrFrom4([4]byte{10, 231, byte(n >> 6), byte(n&63)<<2 | 1}),
	}
	p.ClientIP = p.ServerIP.Next()
	// Interface names are limited to 15 bytes; they live inside the namespaces
	// and vanish with them.
	vs, vc := "gp"+tag+"s", "gp"+tag+"c"
	t.Cleanup(func() { p.remove(t) })
	steps := [][]string{
		{"netns", "add", p.Server},
		{"netns", "add", p.Client},
		{"link", "add", vs, "netns", p.Server, "type", "veth", "peer", "name", vc, "netns", p.Client},
		{"-n", p.Server, "addr", "add", p.ServerIP.String() + "/30", "dev", vs},
		{"-n", p.Client, "addr", "add", p.ClientIP.String() + "/30", "dev", vc},
		{"-n", p.Server, "link", "set", "lo", "up"},
		{"-n", p.Client, "link", "set", "lo", "up"},
		{"-n", p.Server, "link", "set", vs, "up"},
		{"-n", p.Client, "link", "set", vc, "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return p
}

// Command is name run with args inside namespace ns. "ip netns exec" execs the
// program, so the process's id is the program's own.
func Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

func (p *Pair) remove(t testing.TB) {
	for _, ns := range []string{p.Server, p.Client} {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
			t.Logf("removing namespace %s: %v: %s", ns, err, out)
		}
	}
}

// RemoveStale deletes this package's namespaces whose creating process is gone
// (a run killed before its cleanup). Namespaces of live processes, and any not
// named by this package, are left alone.
func RemoveStale(t testing.TB) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Logf("ip netns list: %v", err)
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := nameRE.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", f[0]).CombinedOutput(); err != nil {
			t.Logf("removing stale namespace %s: %v: %s", f[0], err, out)
		} else {
			t.Logf("removed stale namespace %s", f[0])
		}
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func randomInt(t testing.TB, n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		t.Fatal(err)
	}
	return v.Int64()
}

// String names the pair in messages.
func (p *Pair) String() string {
	return fmt.Sprintf("%s (%s) <-> %s (%s)", p.Server, p.ServerIP, p.Client, p.ClientIP)
}
