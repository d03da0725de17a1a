package metrics

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

func pcpCode(err error) int32 {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 0
}

// TestNamespaceOrder: the namespace is listed in the real pmcd's order (from
// testdata/reference/pminfo-names.txt) restricted to the metrics served.
func TestNamespaceOrder(t *testing.T) {
	f, err := os.Open("testdata/reference/pminfo-names.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := newFixtureRegistry(t, fixtureDir)
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if _, ok := r.ByName(sc.Text()); ok {
			want = append(want, sc.Text())
		}
	}
	real := map[string]bool{}
	for _, n := range want {
		real[n] = true
	}
	// Our own metrics (pmcd.gopcp.*) have no place in the real order: leave them out.
	ours := func(names []string) []string {
		var out []string
		for _, n := range names {
			if real[n] {
				out = append(out, n)
			} else if !strings.HasPrefix(n, "pmcd.gopcp.") {
				t.Errorf("%s is neither the real pmcd's nor ours", n)
			}
		}
		return out
	}
	var got []string
	for _, m := range r.Metrics() {
		got = append(got, m.Name)
	}
	if strings.Join(ours(got), "\n") != strings.Join(want, "\n") {
		t.Errorf("namespace order differs from the real pmcd's:\n got %v\nwant %v", got, want)
	}
	all, err := r.Traverse("")
	if err != nil || strings.Join(ours(all), "\n") != strings.Join(want, "\n") {
		t.Errorf("Traverse(\"\") = %v, %v", all, err)
	}
}

func TestTraverse(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	cases := []struct {
		name string
		want string // names joined by spaces, or "" with code
		code int32
	}{
		{"kernel.all.load", "kernel.all.load", 0},
		{"kernel.all.cpu.irq", "kernel.all.cpu.irq.soft kernel.all.cpu.irq.hard", 0},
		{"kernel.all.cpu", "kernel.all.cpu.user kernel.all.cpu.nice kernel.all.cpu.sys kernel.all.cpu.idle " +
			"kernel.all.cpu.intr kernel.all.cpu.steal kernel.all.cpu.guest kernel.all.cpu.vuser " +
			"kernel.all.cpu.guest_nice kernel.all.cpu.vnice kernel.all.cpu.wait.total " +
			"kernel.all.cpu.irq.soft kernel.all.cpu.irq.hard", 0},
		{"kernel.uname", "kernel.uname.release kernel.uname.version kernel.uname.sysname kernel.uname.machine " +
			"kernel.uname.nodename kernel.uname.distro", 0},
		{"proc.schedstat", "proc.schedstat.pcount proc.schedstat.run_delay proc.schedstat.cpu_time", 0},
		{"swap", "swap.pagesin swap.pagesout swap.in swap.out swap.free swap.length swap.used", 0},
		{"kernel.al", "", protocol.ErrName},
		{"kernel.all.load.x", "", protocol.ErrName},
		{"kernel.", "", protocol.ErrName},
		{".kernel", "", protocol.ErrName},
		{"nosuch", "", protocol.ErrName},
		{"disk.md.status", "disk.md.status", 0},
	}
	for _, c := range cases {
		got, err := r.Traverse(c.name)
		if pcpCode(err) != c.code || strings.Join(got, " ") != c.want {
			t.Errorf("Traverse(%q) = %v, %v; want %q code %d", c.name, got, err, c.want, c.code)
		}
	}
	// Every non-leaf gives exactly the leaves that have it as a prefix.
	all, _ := r.Traverse("")
	for _, n := range all {
		parts := strings.Split(n, ".")
		for i := 1; i < len(parts); i++ {
			prefix := strings.Join(parts[:i], ".")
			below, err := r.Traverse(prefix)
			if err != nil {
				t.Fatalf("Traverse(%q): %v", prefix, err)
			}
			var want []string
			for _, m := range all {
				if strings.HasPrefix(m, prefix+".") {
					want = append(want, m)
				}
			}
			if strings.Join(below, " ") != strings.Join(want, " ") {
				t.Errorf("Traverse(%q) = %v, want %v", prefix, below, want)
			}
		}
	}
}

func TestChildren(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	type child struct {
		names string
		leaf  string
		code  int32
	}
	flags := func(leaf []bool) string {
		var b strings.Builder
		for _, l := range leaf {
			if l {
				b.WriteByte('L')
			} else {
				b.WriteByte('N')
			}
		}
		return b.String()
	}
	cases := map[string]child{
		"kernel.all.cpu":  {"user nice sys idle intr steal guest vuser guest_nice vnice wait irq", "LLLLLLLLLLNN", 0},
		"kernel":          {"all percpu pernode uname", "NNNN", 0},
		"kernel.all.load": {"", "", 0}, // a leaf has no children
		"pmcd.feature":    {"secure compress ipv6 authentication creds_required unix_domain_sockets service_discovery containers local client_cert_required", "LLLLLLLLLL", 0},
		"kernel.al":       {"", "", protocol.ErrName},
		"nosuch":          {"", "", protocol.ErrName},
		"kernel.all.":     {"", "", protocol.ErrName},
	}
	// The root's children are the first components of the served names (which
	// grow as metric families are added), each a non-leaf.
	tops, seen := map[string]bool{}, 0
	for _, m := range r.Metrics() {
		top, _, _ := strings.Cut(m.Name, ".")
		tops[top] = true
	}
	if names, leaf, err := r.Children(""); err != nil || len(names) != len(tops) || flags(leaf) != strings.Repeat("N", len(tops)) {
		t.Errorf("Children(\"\") = %v %s %v; want the %d first components, all non-leaf", names, flags(leaf), err, len(tops))
	} else {
		for _, n := range names {
			if tops[n] {
				seen++
			}
		}
		if seen != len(tops) || names[0] != "pmcd" {
			t.Errorf("Children(\"\") = %v, want %v in namespace order", names, tops)
		}
	}
	for name, want := range cases {
		names, leaf, err := r.Children(name)
		if pcpCode(err) != want.code || strings.Join(names, " ") != want.names || flags(leaf) != want.leaf {
			t.Errorf("Children(%q) = %v %s %v; want %q %s code %d", name, names, flags(leaf), err, want.names, want.leaf, want.code)
		}
		if len(names) != len(leaf) {
			t.Errorf("Children(%q): %d names, %d flags", name, len(names), len(leaf))
		}
	}
	// Walking the tree with Children finds every leaf, in namespace order.
	var walk func(prefix string) []string
	walk = func(prefix string) []string {
		names, leaf, err := r.Children(prefix)
		if err != nil {
			t.Fatalf("Children(%q): %v", prefix, err)
		}
		var out []string
		for i, n := range names {
			full := n
			if prefix != "" {
				full = prefix + "." + n
			}
			if leaf[i] {
				out = append(out, full)
			} else {
				out = append(out, walk(full)...)
			}
		}
		return out
	}
	all, _ := r.Traverse("")
	if got := walk(""); strings.Join(got, " ") != strings.Join(all, " ") {
		t.Errorf("walk by Children differs from Traverse(\"\")")
	}
}

func TestNamesOf(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	for _, m := range r.Metrics() {
		names, err := r.NamesOf(m.Desc.PMID)
		if err != nil || len(names) != 1 || names[0] != m.Name {
			t.Errorf("NamesOf(%v) = %v, %v; want [%s]", m.Desc.PMID, names, err, m.Name)
		}
	}
	for _, p := range []protocol.PMID{protocol.NewPMID(60, 0, 999), protocol.NewPMID(9, 0, 0), protocol.PMIDNull} {
		if _, err := r.NamesOf(p); pcpCode(err) != protocol.ErrPMID {
			t.Errorf("NamesOf(%v): %v, want PM_ERR_PMID", p, err)
		}
	}
}

// TestByNameFlat: ByName, answered from the flat namespace, finds every metric
// and nothing else: not a non-leaf (even one with a single leaf below it), not
// the root, not a prefix or an unknown name.
func TestByNameFlat(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	for _, m := range r.Metrics() {
		got, ok := r.ByName(m.Name)
		if !ok || got != m {
			t.Fatalf("ByName(%q) = %v, %v", m.Name, got, ok)
		}
		if names, err := r.NamesOf(m.Desc.PMID); err != nil || len(names) != 1 || names[0] != m.Name {
			t.Fatalf("NamesOf(%v) = %v, %v", m.Desc.PMID, names, err)
		}
	}
	single := ""
	for _, m := range r.Metrics() {
		parent := m.Name[:strings.LastIndexByte(m.Name, '.')]
		if leaves, _ := r.Traverse(parent); len(leaves) == 1 {
			single = parent
			break
		}
	}
	bad := []string{"", "kernel", "kernel.all", "kernel.all.loa", "kernel.all.load.x", "no.such"}
	if single != "" {
		bad = append(bad, single)
	}
	for _, name := range bad {
		if m, ok := r.ByName(name); ok {
			t.Errorf("ByName(%q) found %s", name, m.Name)
		}
	}
	if single == "" {
		t.Log("no non-leaf with a single leaf in this catalogue")
	}
}
