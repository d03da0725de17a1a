package pmapi

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gopcp/gopcp/internal/syncbuf"
	"github.com/gopcp/gopcp/protocol"
)

// Derived metrics defined in terms of other derived metrics. libpcp 6.0.3 binds
// them: the operand's descriptor is the derived one, so types, units and
// semantics follow through the chain; at fetch time it sends the operand's
// PMID (domain 511) to pmcd, which has no agent for it, so the metric's value
// is PM_ERR_NOAGENT (checked against the real pminfo in
// pminfo/derived_chain_test.go).

func TestDeriveChainDescriptors(t *testing.T) {
	f := &fakePMCD{ctr: 7, set: [2]uint64{2048, 1024}, sec: 1}
	c, diag := derivedContext(t, f, ""+
		"d.fwd = d.kb * 2\n"+ // forward reference: bound on demand
		"d.kb = rescale(m.set, \"Kbyte\")\n"+
		"d.mb = rescale(d.kb, \"Mbyte\")\n"+
		"d.util = 100 * rate(m.ctr)\n"+
		"d.util2 = d.util / 2\n"+
		"d.ctr = m.ctr\n"+
		"d.ctrsum = d.ctr + m.ctr\n"+ // counter + counter stays a counter
		"d.inst = instant(d.ctr)\n"+
		"d.def = defined(d.kb) ? 1 : 0\n"+
		"d.undef = defined(d.nothing) ? 1 : 0\n"+
		"d.bad = d.ctr * d.ctr\n"+ // a semantic error reported through the chain
		"d.onbad = d.bad + 1\n"+ // unavailable: its operand is
		"d.ev = event.flags + 1\n")
	for _, w := range []struct{ name, typ, indom, sem, units string }{
		{"d.fwd", "U64", "1.1", "instant", "Kbyte"},
		{"d.kb", "U64", "1.1", "instant", "Kbyte"},
		{"d.mb", "U64", "1.1", "instant", "Mbyte"},
		{"d.util2", "DOUBLE", "PM_INDOM_NULL", "instant", ""},
		{"d.ctrsum", "U32", "PM_INDOM_NULL", "counter", "millisec"},
		{"d.inst", "U32", "PM_INDOM_NULL", "instant", "millisec"},
		{"d.def", "U32", "PM_INDOM_NULL", "discrete", ""},
		{"d.undef", "U32", "PM_INDOM_NULL", "discrete", ""},
		{"d.ev", "U32", "PM_INDOM_NULL", "discrete", ""},
	} {
		ids, err := c.LookupNames([]string{w.name})
		if err != nil {
			t.Errorf("%s: %v", w.name, err)
			continue
		}
		d, err := c.Desc(ids[0])
		if err != nil {
			t.Errorf("%s: %v", w.name, err)
			continue
		}
		if got := fmt.Sprintf("%s %s %s %q", TypeString(d.Type), d.InDom, SemString(d.Sem), UnitsString(d.Units)); got != fmt.Sprintf("%s %s %s %q", w.typ, w.indom, w.sem, w.units) {
			t.Errorf("%s: %s", w.name, got)
		}
	}
	for _, n := range []string{"d.bad", "d.onbad"} {
		if _, err := c.LookupNames([]string{n}); protocol.CodeOf(err) != protocol.ErrName {
			t.Errorf("%s: %v, want PM_ERR_NAME", n, err)
		}
	}
	if want := "Semantic error: derived metric d.bad: d.ctr * d.ctr: Illegal operator for counters\n"; diag.String() != want {
		t.Errorf("diagnostics %q, want %q", diag.String(), want)
	}
	// d.def is evaluated at bind time: a bound derived operand is defined.
	if d, vs := fetchOne(t, c, "d.def"); values(d, vs) != "1" {
		t.Errorf("d.def %s", values(d, vs))
	}
	if d, vs := fetchOne(t, c, "d.undef"); values(d, vs) != "0" {
		t.Errorf("d.undef %s", values(d, vs))
	}
}

// TestDeriveChainValues: a metric over a derived operand has PM_ERR_NOAGENT as
// libpcp gives it, in the same fetch as metrics that have values, and the
// operand's PMID is not sent to the collector.
func TestDeriveChainValues(t *testing.T) {
	f := &fakePMCD{ctr: 7, set: [2]uint64{2048, 1024}, sec: 1}
	c, _ := derivedContext(t, f, "d.kb = rescale(m.set, \"Kbyte\")\nd.fwd = d.kb * 2\nd.both = d.kb + m.set\n")
	ids, err := c.LookupNames([]string{"d.kb", "d.fwd", "m.ctr", "d.both"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Fetch(ids)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, vs := range r.VSets {
		d, _ := c.Desc(ids[i])
		got = append(got, values(d, vs))
	}
	if want := "2,1|No PMCD agent for domain of request|7|No PMCD agent for domain of request"; strings.Join(got, "|") != want {
		t.Errorf("values %s, want %s", strings.Join(got, "|"), want)
	}
	// alone, nothing needs the collector: no FETCH is sent
	f.mu.Lock()
	before := f.fetches
	f.mu.Unlock()
	r, err = c.Fetch(ids[1:2])
	if err != nil || r.VSets[0].NumVal != protocol.ErrNoAgent {
		t.Fatalf("d.fwd alone: %v %+v", err, r)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fetches != before {
		t.Errorf("%d FETCH PDUs for a metric whose only operand is derived", f.fetches-before)
	}
}

// TestDeriveChainShadow: a derived metric named like one of the collector's
// metrics is hidden by it (libpcp looks names up at pmcd first), in lookups,
// traversals and as another definition's operand.
func TestDeriveChainShadow(t *testing.T) {
	f := &fakePMCD{ctr: 7, sec: 1}
	c, _ := derivedContext(t, f, "m.ctr = 42\nd.on = m.ctr * 2\n")
	names, err := c.Traverse("")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != "m.ctr m.set m.err event.flags event.missed d.on" {
		t.Errorf("namespace %s", got)
	}
	ids, err := c.LookupNames([]string{"m.ctr"})
	if err != nil || ids[0] != pmidCtr {
		t.Errorf("m.ctr: %v %v, want the collector's", ids, err)
	}
	if d, vs := fetchOne(t, c, "d.on"); values(d, vs) != "14" || SemString(d.Sem) != "counter" {
		t.Errorf("d.on %s %s, want 14 from the collector's counter", values(d, vs), SemString(d.Sem))
	}
}

// TestDeriveCycle: libpcp 6.0.3 recurses until its stack overflows on a
// cycle (pminfo dies with SIGSEGV); here every definition on or over the
// cycle is unavailable, the first one met says why, and the others still work.
func TestDeriveCycle(t *testing.T) {
	f := &fakePMCD{ctr: 7, sec: 1}
	c, diag := derivedContext(t, f, "c.self = c.self + 1\nc.x = c.y + 1\nc.y = c.z * 2\nc.z = c.x - 1\n"+
		"c.over = c.y + m.ctr\nc.guard = defined(c.x) ? 1 : 0\nc.ok = m.ctr * 2\n")
	names, err := c.Traverse("")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != "m.ctr m.set m.err event.flags event.missed c.guard c.ok" {
		t.Errorf("namespace %s", got)
	}
	want := "Semantic error: derived metric c.self: circular definition: c.self -> c.self\n" +
		"Semantic error: derived metric c.x: circular definition: c.x -> c.y -> c.z -> c.x\n"
	if diag.String() != want {
		t.Errorf("diagnostics %q\nwant %q", diag.String(), want)
	}
	for _, n := range []string{"c.self", "c.x", "c.y", "c.z", "c.over"} {
		if _, err := c.LookupNames([]string{n}); protocol.CodeOf(err) != protocol.ErrName {
			t.Errorf("%s: %v, want PM_ERR_NAME", n, err)
		}
	}
	if d, vs := fetchOne(t, c, "c.guard"); values(d, vs) != "0" {
		t.Errorf("c.guard %s", values(d, vs))
	}
	if d, vs := fetchOne(t, c, "c.ok"); values(d, vs) != "14" {
		t.Errorf("c.ok %s", values(d, vs))
	}
	// Met from the middle first, the cycle is reported from there, once.
	c2, diag2 := derivedContext(t, f, "c.x = c.y + 1\nc.y = c.x * 2\n")
	for range 3 {
		if _, err := c2.LookupNames([]string{"c.y"}); protocol.CodeOf(err) != protocol.ErrName {
			t.Errorf("c.y: %v", err)
		}
	}
	if want := "Semantic error: derived metric c.y: circular definition: c.y -> c.x -> c.y\n"; diag2.String() != want {
		t.Errorf("diagnostics %q, want %q", diag2.String(), want)
	}
}

func chainConfig(n int) string {
	var b strings.Builder
	b.WriteString("l.l0 = m.err\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "l.l%d = l.l%d + 1\n", i, i-1)
	}
	return b.String()
}

// TestDeriveDeepChain: a chain exactly as many derived operands deep as the
// bound binds, whether met from its top (one recursion that deep) or bottom
// up; one more is unavailable, also when its operands were bound before (the
// depth is the definition's, not the path's). The bound is lowered to 40 here;
// TestDeriveChainConcurrent binds and fetches chained definitions, a cycle
// and per-context definitions from many goroutines over one DerivedState lent
// to two connections (as proxyd does); under -race this checks the locking,
// and the test ends only if nothing deadlocks.
func TestDeriveChainConcurrent(t *testing.T) {
	f := &fakePMCD{ctr: 7, set: [2]uint64{2048, 1024}, sec: 1}
	srv := serve(t, plainFeatures, f.handle)
	set := NewDerivedSet()
	var diag syncbuf.Buffer
	set.parseConfig("test.conf", "g.a = m.ctr\ng.b = g.a * 2\ng.c = g.b + g.a\ng.x = g.y + 1\ng.y = g.x + 1\n"+
		"g.r = rate(m.ctr)\ng.rr = g.r / 2\n"+chainConfig(50), &diag)
	st := NewDerivedState(set, &diag)
	conns := []*Context{connect(t, srv.Addr, Options{}), connect(t, srv.Addr, Options{})}
	for _, c := range conns {
		c.UseDerivedState(st)
	}
	names := []string{"g.c", "g.x", "g.b", "g.y", "g.rr", "g.r", "g.a", "l.l49", "l.l10", "m.set"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := conns[g%2]
			for i := range 20 {
				n := names[(g+i)%len(names)]
				ids, err := c.LookupNames([]string{n, names[(g+i+3)%len(names)]})
				if err != nil {
					t.Error(n, err)
					return
				}
				if ids[0] != protocol.PMIDNull {
					if _, err := c.Desc(ids[0]); err != nil {
						t.Error(n, err)
					}
					if _, err := c.Fetch(ids[:1]); err != nil {
						t.Error(n, err)
					}
				}
				if i%5 == 0 {
					if err := st.AddDerived(c, fmt.Sprintf("p.g%d_%d", g, i), "g.b + g.a"); err != nil {
						t.Error(err)
					}
					if err := st.AddDerived(c, fmt.Sprintf("p.l%d_%d", g, i), "l.l3 + 1"); err != nil {
						t.Error(err)
					}
				}
				if i%7 == 0 {
					if _, err := c.Traverse(""); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	// each binding was decided once: the cycle is reported once, whichever
	// goroutine met it first
	if n := strings.Count(diag.String(), "circular definition"); n < 1 || n > 2 {
		t.Errorf("cycle reported %d times: %q", n, diag.String())
	}
	ids, err := conns[0].LookupNames([]string{"p.g0_0", "g.c", "p.l7_15"})
	if err != nil || slices.Contains(ids, protocol.PMIDNull) {
		t.Errorf("after the run: %v %v", ids, err)
	}
}
