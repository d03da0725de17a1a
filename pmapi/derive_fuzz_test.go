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
