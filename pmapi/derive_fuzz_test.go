package pmapi

import (
	"bytes"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// FuzzDeriveParse feeds the expression parser and the configuration reader
// arbitrary text, then binds and evaluates whatever parsed against fixed operand
// descriptors and values: nothing may panic.
func FuzzDeriveParse(f *testing.F) {
	for _, s := range []string{
		"100 * rate(kernel.all.cpu.user) / hinv.ncpu",
		`delta(a) == 0 ? mkconst(0, type="double", semantics="instant", units="millisec / count") : delta(b) / delta(a)`,
		`rescale(delta(a) + delta(b), "kbyte") / (delta(a) + delta(b))`,
		`matchinst(!/^(lo)|(vbir)/, b) + b[x]`, "!a>b||c<d", "-a*b?c:d", "scalar((b)[y])", "count(a)+sum(b)+avg(b)+min(b)+max(b)",
		"defined(zz) && instant(a)", "a(oneline) = 'x\\\ny'", "(((", "[", "mkconst(1.5, type=u32)", "a / 0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		var diag bytes.Buffer
		set := NewDerivedSet()
		set.parseConfig("fuzz", "x.y = "+s+"\n"+s+"\n", &diag)
		tree, err := parseExpr(s)
		if err != nil {
			if err.Pos < 0 || err.Pos > len(s) {
				t.Fatalf("error position %d outside %q", err.Pos, s)
			}
			return
		}
		descs := map[string]protocol.Desc{
			"a": {PMID: 1, Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: protocol.SemCounter, Units: protocol.UnitsMillisec},
			"b": {PMID: 2, Type: protocol.TypeU64, InDom: 7, Sem: protocol.SemInstant, Units: protocol.UnitsByte},
			"c": {PMID: 3, Type: protocol.TypeDouble, InDom: protocol.InDomNull, Sem: protocol.SemDiscrete},
			"d": {PMID: 4, Type: protocol.TypeString, InDom: protocol.InDomNull, Sem: protocol.SemInstant},
		}
		b := &binder{pmids: map[string]protocol.PMID{}, descs: map[protocol.PMID]protocol.Desc{}}
		for n, d := range descs {
			b.pmids[n], b.descs[d.PMID] = d.PMID, d
		}
		root := b.bind(tree, false)
		if root == nil {
			return
		}
		if msg, _ := checkExpr(root); msg != "" {
			return
		}
		vsets := map[protocol.PMID]*protocol.ValueSet{
			1: {PMID: 1, NumVal: 1, Values: []protocol.Value{protocol.Insitu32(protocol.InNull, 5)}},
			2: {PMID: 2, NumVal: 2, ValFmt: protocol.ValFmtDynamic, Values: []protocol.Value{
				{Inst: 0, VType: uint8(protocol.TypeU64), Payload: make([]byte, 8)},
				{Inst: 1, VType: uint8(protocol.TypeU64), Payload: []byte{0, 0, 0, 0, 0, 0, 1, 0}}}},
			3: {PMID: 3, NumVal: -13},
			4: {PMID: 4, NumVal: 1, ValFmt: protocol.ValFmtDynamic, Values: []protocol.Value{{VType: uint8(protocol.TypeString), Payload: []byte("s")}}},
		}
		// no Context: instance names are not available, so [inst] and matchinst
		// select nothing, which must be harmless too
		env := &evalEnv{vsets: vsets, stamp: 1, names: map[protocol.InDom]map[uint32]string{7: {0: "x", 1: "y"}}}
		for i := 0; i < 2; i++ {
			n := root.eval(env)
			encodeValues(protocol.NewPMID(511, 0, 3), root.desc.Type, n, root.vals)
			env.stamp++
		}
	})
}

// FuzzDeriveConfigBind loads arbitrary configurations, whose definitions may
// use each other (chains, cycles, forward references, names the collector
// has), into a context on a fake collector, then lists, looks up, describes
// and fetches every derived name twice: nothing may panic or hang.
func FuzzDeriveConfigBind(f *testing.F) {
	for _, s := range []string{
		"a.a = m.ctr\na.b = a.a * 2\na.c = a.b + a.a\n",
		"c.x = c.y + 1\nc.y = c.z * 2\nc.z = c.x - 1\nc.w = defined(c.x) ? c.y : m.err\n",
		"c.s = c.s\n",
		"f.a = f.b[a] + 1\nf.b = rescale(m.set, \"Kbyte\")\nf.c = rate(f.a) / count(f.b)\n",
		"m.ctr = 42\nm.x = m.ctr + event.flags\nm.y = matchinst(/a/, f.q) ? 1 : 0\nf.q = m.set\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		set := NewDerivedSet()
		var diag bytes.Buffer
		set.parseConfig("fuzz", s, &diag)
		fk := &fakePMCD{ctr: 7, set: [2]uint64{2048, 1024}, sec: 1}
		c := connect(t, serve(t, plainFeatures, fk.handle).Addr, Options{})
		c.UseDerived(set, &diag)
		names, err := c.Traverse("")
		if err != nil {
			t.Fatal(err)
		}
		var ids []protocol.PMID
		for _, d := range set.Defs() {
			if id, err := c.LookupNames([]string{d.Name}); err == nil {
				ids = append(ids, id[0])
				if _, err := c.Desc(id[0]); err != nil {
					t.Fatalf("%s: listed but no descriptor: %v", d.Name, err)
				}
			}
		}
		if len(ids) > len(names) {
			t.Fatalf("%d names found, %d listed", len(ids), len(names))
		}
		for range 2 {
			if len(ids) == 0 {
				break
			}
			if _, err := c.Fetch(ids); err != nil {
				t.Fatal(err)
			}
		}
	})
}
