package netnstest

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func namespaces(t *testing.T) string { return ip(t, "netns", "list") }

// TestPair: the addresses exist inside the namespaces and nowhere outside, lo is
// up, the client routes to the server over the veth, and the namespaces are gone
// after the test that made them.
func TestPair(t *testing.T) {
	var p *Pair
	t.Run("make", func(t *testing.T) {
		p = New(t)
		if !p.ServerIP.Is4() || p.ServerIP.As4()[0] != 10 || p.ServerIP.As4()[1] != 231 || p.ClientIP != p.ServerIP.Next() {
			t.Fatalf("addresses %s %s: want a /30 pair in 10.231.0.0/16", p.ServerIP, p.ClientIP)
		}
		if !strings.Contains(ip(t, "-n", p.Server, "-br", "addr"), p.ServerIP.String()+"/30") ||
			!strings.Contains(ip(t, "-n", p.Client, "-br", "addr"), p.ClientIP.String()+"/30") {
			t.Fatal("addresses missing inside the namespaces")
		}
		for _, ns := range []string{p.Server, p.Client} {
			if lo := ip(t, "-n", ns, "link", "show", "lo"); !strings.Contains(lo, "UP") {
				t.Fatalf("lo down in %s: %s", ns, lo)
			}
		}
		if r := ip(t, "-n", p.Client, "route", "get", p.ServerIP.String()); !strings.Contains(r, "dev gp") {
			t.Fatalf("client's route to the server: %s", r)
		}
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if s := a.String(); strings.HasPrefix(s, p.ServerIP.String()+"/") || strings.HasPrefix(s, p.ClientIP.String()+"/") {
				t.Fatalf("address %s leaked into the root namespace", s)
			}
		}
		// A program run with Command is inside: it sees the server address.
		out, err := Command(p.Server, "ip", "-br", "addr").CombinedOutput()
		if err != nil || !strings.Contains(string(out), p.ServerIP.String()) {
			t.Fatalf("Command in %s: %v: %s", p.Server, err, out)
		}
	})
	if p == nil {
		return
	}
	if l := namespaces(t); strings.Contains(l, p.Server) || strings.Contains(l, p.Client) {
		t.Fatalf("namespaces left after the test:\n%s", l)
	}
}

// TestRemoveStale: a namespace of ours whose creator is gone is removed; one of
// a live process, and one not named by us, are kept.
func TestRemoveStale(t *testing.T) {
	if why := Available(); why != "" {
		t.Skip(why)
	}
	stale := Prefix + "0-deadbeef-srv" // there is no process 0 in /proc
	foreign := "gopcp-other-0-deadbeef-srv"
	for _, ns := range []string{stale, foreign} {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	live := New(t)
	RemoveStale(t)
	l := namespaces(t)
	if strings.Contains(l, stale) {
		t.Fatalf("stale namespace %s kept:\n%s", stale, l)
	}
	for _, keep := range []string{foreign, live.Server, live.Client} {
		if !strings.Contains(l, keep) {
			t.Fatalf("namespace %s removed:\n%s", keep, l)
		}
	}
}
