package pmapi

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

func TestDeriveParsePrecedence(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{"a+b*c", "(a + (b * c))"},
		{"a-b>c+d", "((a - b) > (c + d))"},
		{"a>b!=c", "((a > b) != c)"},
		{"a>=b||b>c&&d!=e||f>g", "((((a >= b) || (b > c)) && (d != e)) || (f > g))"},
		// pmRegisterDerived(3) says !((a>b)||(c<d)), but libpcp's grammar gives !
		// a higher precedence than || (checked with the real pminfo: 1, not 0)
		{"!a>b||c<d", "(!((a > b)) || (c < d))"},
		{"!a<b+c", "!((a < (b + c)))"},
		{"-a*b", "-((a * b))"},
		{"-a+b", "(-(a) + b)"},
		{"a ? b : c", "(a ? b : c)"},
		{"x.y[eth0] + (p.q)[lo]", "(x.y[eth0] + p.q[lo])"},
		{"rate(a.b) / 2.5", "(rate(a.b) / 2.5)"},
		{`matchinst(!/^lo/, n.i)`, "matchinst(!/^lo/, n.i)"},
		{`mkconst(0, type="double", units="millisec / count")`, "0"},
	} {
		n, err := parseExpr(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if got := show(n); got != c.want {
			t.Errorf("%q parsed as %s, want %s", c.expr, got, c.want)
		}
	}
}

func show(n *exprNode) string {
	switch n.kind {
	case nName, nInteger, nDouble:
		return n.value
	case nNot, nNeg:
		return nodeOp[n.kind] + "(" + show(n.left) + ")"
	case nQuest:
		return "(" + show(n.left) + " ? " + show(n.right.left) + " : " + show(n.right.right) + ")"
	case nFilterInst:
		if n.left.exact {
			return show(n.right) + "[" + n.left.value + "]"
		}
		inv := ""
		if n.left.invert {
			inv = "!"
		}
		return "matchinst(" + inv + "/" + n.left.value + "/, " + show(n.right) + ")"
	}
	if op, ok := nodeOp[n.kind]; ok && n.right != nil {
		return "(" + show(n.left) + " " + op + " " + show(n.right) + ")"
	}
	return strings.ToLower(nodeName[n.kind]) + "(" + show(n.left) + ")"
}

// TestDeriveConfigErrors checks the diagnostics against what libpcp 6.0.3's
// pminfo printed for the same file (recorded from /usr/bin/pminfo).
func TestDeriveConfigErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.conf")
	conf := "a.b = hinv.ncpu +\nc.d = * 3\ne.f = foo(\ng.h = 3 4\ni.j = rate(3)\nk.l = (hinv.ncpu\n" +
		"m.n = hinv.ncpu @ 2\na.b = 1\nno equals\n9x = 3\nx.y(oneline) = hi\nx.w = mkconst(1.5, type=u32)\n" +
		"x.v = hinv.ncpu / 0\nx.v(oneline) = one\nx.v(oneline) = two\nx.t = 99999999999\nx.u =   \n" +
		"x.v(helptext) = '\\\nline one\nline two'\nunterminated = 1"
	os.WriteFile(file, []byte(conf), 0o644)
	var diag bytes.Buffer
	s := NewDerivedSet()
	s.LoadConfig(file, &diag)
	want := "[F:1] Error: pmRegisterDerived(a.b, ...) syntax error\n hinv.ncpu +\n           ^\nArithmetic expression expected to follow PLUS\n" +
		"[F:2] Error: pmRegisterDerived(c.d, ...) syntax error\n * 3\n   ^\nUnexpected initial '*'\n" +
		"[F:3] Error: pmRegisterDerived(e.f, ...) syntax error\n foo(\n    ^\nUnexpected '('\n" +
		"[F:4] Error: pmRegisterDerived(g.h, ...) syntax error\n 3 4\n   ^\n" +
		"[F:5] Error: pmRegisterDerived(i.j, ...) syntax error\n rate(3)\n      ^ \nMetric name expected to follow rate(\n" +
		"[F:6] Error: pmRegisterDerived(k.l, ...) syntax error\n (hinv.ncpu\n          ^\nUnexpected initial '('\n" +
		"[F:7] Error: pmRegisterDerived(m.n, ...) syntax error\n hinv.ncpu @ 2\n           ^  \nIllegal character\n" +
		"[F:9] Error: pmLoadDerivedConfig: missing ``='' after derived metric name\nno equals\n" +
		"[F:10] Error: pmLoadDerivedConfig: illegal derived metric name (9x)\n" +
		"[F:11] Error: pmLoadDerivedConfig: cannot set attribute, derived metric (x.y) not defined\nx.y(oneline) = hi\n" +
		"[F:12] Error: pmRegisterDerived(x.w, ...) syntax error\n mkconst(1.5, type=u32)\n                      ^\nIncompatible floating point constant and type 'U32'\n" +
		"[F:15] Error: pmLoadDerivedConfig: duplicate value for attribute (oneline) of metric (x.v)\nx.v(oneline) = two\n" +
		"[F:16] Error: pmRegisterDerived(x.t, ...) syntax error\n 99999999999\n ^          \nConstant value too large\n" +
		"[F:17] Error: pmLoadDerivedConfig: expression missing\nx.u =   \n"
	if got := strings.ReplaceAll(diag.String(), file, "F"); got != want {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", got, want)
	}
	var names []string
	for _, d := range s.Defs() {
		names = append(names, d.Name+"="+d.PMID.String())
	}
	// failed definitions take no PMID; the unterminated last line is ignored
	if got := strings.Join(names, " "); got != "event.flags=511.0.1 event.missed=511.0.2 a.b=511.0.3 x.v=511.0.4" {
		t.Errorf("registered %s", got)
	}
	if d := s.byName("x.v"); d.Oneline != "one" || d.Help != "line one\nline two" {
		t.Errorf("x.v text %q %q", d.Oneline, d.Help)
	}
}

func TestDeriveEnvironment(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.conf"), []byte("my.one = 1\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "var", "config", "derived"), 0o755)
	os.WriteFile(filepath.Join(dir, "var", "config", "derived", "b.conf"), []byte("my.two = 2\n"), 0o644)
	env := map[string]string{"PCP_VAR_DIR": filepath.Join(dir, "var")}
	get := func(k string) string { return env[k] }
	count := func(set bool, v string) int {
		look := func(k string) (string, bool) {
			if k == "PCP_DERIVED_CONFIG" && set {
				return v, true
			}
			return env[k], env[k] != ""
		}
		return len(LoadDerivedFromEnv(get, look, &bytes.Buffer{}).Defs())
	}
	if n := count(false, ""); n != 3 {
		t.Errorf("unset: %d defs, want the default directory's", n)
	}
	if n := count(true, ""); n != 2 {
		t.Errorf("set but empty: %d defs, want none beyond the anonymous two", n)
	}
	if n := count(true, filepath.Join(dir, "a.conf")+"::/nonexistent"); n != 3 {
		t.Errorf("explicit list: %d defs", n)
	}
}

// fakePMCD serves two metrics: m.ctr (U32 counter, millisec) and m.set (U64
// instant bytes over indom 1.1 with instances 0 "a" and 1 "b"), with values
// set by the test, and fails m.err with PM_ERR_PERMISSION... as pmcd does.
type fakePMCD struct {
	mu      sync.Mutex
	ctr     uint32
	set     [2]uint64
	sec     int64
	fetches int
}

const (
	pmidCtr protocol.PMID  = 0x00400001
	pmidSet protocol.PMID  = 0x00400002
	pmidErr protocol.PMID  = 0x00400003
	indomA  protocol.InDom = 0x00400001
)

func (f *fakePMCD) handle(p protocol.PDU) []protocol.PDU {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := map[string]protocol.PMID{"m.ctr": pmidCtr, "m.set": pmidSet, "m.err": pmidErr}
	switch r := p.(type) {
	case *protocol.PMNSNames:
		out := &protocol.PMNSIDs{}
		for _, n := range r.Names {
			if id, ok := ids[n]; ok {
				out.IDs = append(out.IDs, id)
				out.Status++
			} else {
				out.IDs = append(out.IDs, protocol.PMIDNull)
			}
		}
		if out.Status == 0 {
			return []protocol.PDU{&protocol.ErrorPDU{Code: protocol.ErrName}}
		}
		return []protocol.PDU{out}
	case *protocol.NameReq:
		return []protocol.PDU{&protocol.PMNSNames{Names: []string{"m.ctr", "m.set", "m.err"}}}
	case *protocol.DescReq:
		switch r.PMID {
		case pmidCtr:
			return []protocol.PDU{&protocol.DescPDU{Desc: protocol.Desc{PMID: pmidCtr, Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: protocol.SemCounter, Units: protocol.UnitsMillisec}}}
		case pmidSet:
			return []protocol.PDU{&protocol.DescPDU{Desc: protocol.Desc{PMID: pmidSet, Type: protocol.TypeU64, InDom: indomA, Sem: protocol.SemInstant, Units: protocol.UnitsByte}}}
		case pmidErr:
			return []protocol.PDU{&protocol.DescPDU{Desc: protocol.Desc{PMID: pmidErr, Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: protocol.SemInstant}}}
		}
		return []protocol.PDU{&protocol.ErrorPDU{Code: protocol.ErrPMID}}
	case *protocol.InstanceReq:
		all := []protocol.Instance{{ID: 0, Name: "a"}, {ID: 1, Name: "b"}}
		if r.Name != "" {
			for _, in := range all {
				if in.Name == r.Name {
					return []protocol.PDU{&protocol.InstancePDU{InDom: r.InDom, Instances: []protocol.Instance{in}}}
				}
			}
			return []protocol.PDU{&protocol.ErrorPDU{Code: protocol.ErrInst}}
		}
		return []protocol.PDU{&protocol.InstancePDU{InDom: r.InDom, Instances: all}}
	case *protocol.Fetch:
		f.fetches++
		res := &protocol.Result{Highres: r.Highres, Sec: f.sec}
		for _, id := range r.PMIDs {
			switch id {
			case pmidCtr:
				res.VSets = append(res.VSets, protocol.ValueSet{PMID: id, NumVal: 1, Values: []protocol.Value{protocol.Insitu32(protocol.InNull, f.ctr)}})
			case pmidSet:
				vs := protocol.ValueSet{PMID: id, NumVal: 2, ValFmt: protocol.ValFmtDynamic}
				for i, v := range f.set {
					vs.Values = append(vs.Values, protocol.Value{Inst: uint32(i), VType: uint8(protocol.TypeU64), Payload: binary.BigEndian.AppendUint64(nil, v)})
				}
				res.VSets = append(res.VSets, vs)
			default:
				res.VSets = append(res.VSets, protocol.ValueSet{PMID: id, NumVal: -13}) // EACCES
			}
		}
		return []protocol.PDU{res}
	}
	return nil
}

func derivedContext(t *testing.T, f *fakePMCD, conf string) (*Context, *bytes.Buffer) {
	t.Helper()
	srv := serve(t, plainFeatures, f.handle)
	c := connect(t, srv.Addr, Options{})
	s := NewDerivedSet()
	var diag bytes.Buffer
	s.parseConfig("test.conf", conf, &diag)
	c.UseDerived(s, &diag)
	return c, &diag
}

func fetchOne(t *testing.T, c *Context, name string) (protocol.Desc, protocol.ValueSet) {
	t.Helper()
	ids, err := c.LookupNames([]string{name})
	if err != nil {
		t.Fatalf("lookup %s: %v", name, err)
	}
	d, err := c.Desc(ids[0])
	if err != nil {
		t.Fatalf("desc %s: %v", name, err)
	}
	r, err := c.Fetch(ids)
	if err != nil {
		t.Fatalf("fetch %s: %v", name, err)
	}
	return d, r.VSets[0]
}

func values(d protocol.Desc, vs protocol.ValueSet) string {
	if vs.NumVal < 0 {
		return ErrStr(vs.NumVal)
	}
	var out []string
	for _, v := range vs.Values {
		out = append(out, FormatValue(d, v, vs.ValFmt == protocol.ValFmtInsitu))
	}
	return strings.Join(out, ",")
}

func TestDeriveDescriptorsAndNamespace(t *testing.T) {
	f := &fakePMCD{}
	c, diag := derivedContext(t, f, "d.util = 100 * rate(m.ctr)\nd.sum = sum(m.set)\nd.kb = rescale(m.set, \"Kbyte\")\n"+
		"d.missing = m.ctr + no.such\nd.bad = m.set + m.ctr\nd.await = delta(m.ctr) == 0 ? mkconst(0, type=\"double\", semantics=\"instant\", units=\"millisec / count\") : delta(m.ctr) / count(m.set)\n"+
		"d.cnt = count(m.set)\n")
	names, err := c.Traverse("")
	if err != nil {
		t.Fatal(err)
	}
	want := "m.ctr m.set m.err event.flags event.missed d.util d.sum d.kb d.await d.cnt"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("namespace %s\nwant %s", got, want)
	}
	if !strings.Contains(diag.String(), "Semantic error: derived metric d.bad: m.set + m.ctr: Illegal operator for non-counter and counter") {
		t.Errorf("diagnostics %q", diag.String())
	}
	if _, err := c.LookupNames([]string{"d.missing"}); protocol.CodeOf(err) != protocol.ErrName {
		t.Errorf("missing operand: %v, want PM_ERR_NAME", err)
	}
	for _, c2 := range []struct{ name, typ, indom, sem, units string }{
		{"d.util", "DOUBLE", "PM_INDOM_NULL", "instant", ""},
		{"d.sum", "U64", "PM_INDOM_NULL", "instant", "byte"},
		{"d.kb", "U64", "1.1", "instant", "Kbyte"},
		{"d.await", "DOUBLE", "PM_INDOM_NULL", "instant", "millisec / count"},
		{"d.cnt", "U32", "PM_INDOM_NULL", "instant", "count"},
	} {
		ids, err := c.LookupNames([]string{c2.name})
		if err != nil {
			t.Fatal(c2.name, err)
		}
		d, _ := c.Desc(ids[0])
		if TypeString(d.Type) != c2.typ || d.InDom.String() != c2.indom || SemString(d.Sem) != c2.sem || UnitsString(d.Units) != c2.units {
			t.Errorf("%s: %s %s %s %q", c2.name, TypeString(d.Type), d.InDom, SemString(d.Sem), UnitsString(d.Units))
		}
	}
}

func TestDeriveEvaluation(t *testing.T) {
	f := &fakePMCD{ctr: 0xfffffff0, set: [2]uint64{2048, 0}, sec: 100}
	c, _ := derivedContext(t, f, "d.util = 100 * rate(m.ctr)\nd.delta = delta(m.ctr)\nd.ratio = m.set / m.set\n"+
		"d.b = m.set[b]\nd.nota = matchinst(!/^a$/, m.set)\nd.kb = rescale(m.set, \"Kbyte\")\nd.err = m.err + 1\n"+
		"d.cnterr = count(m.err)\nd.avg = avg(m.set)\nd.max = max(m.set)\nd.guard = m.set > 1000 ? m.set : m.set - m.set\n")
	d, vs := fetchOne(t, c, "d.util")
	if vs.NumVal != 0 {
		t.Errorf("rate() on the first sample: %d values, want none", vs.NumVal)
	}
	// ratio: 2048/2048 = 1, and 0/0 is 0 in libpcp (not NaN)
	if d, vs = fetchOne(t, c, "d.ratio"); values(d, vs) != "1,0" {
		t.Errorf("d.ratio %s", values(d, vs))
	}
	if d, vs = fetchOne(t, c, "d.b"); values(d, vs) != "0" || vs.Values[0].Inst != 1 {
		t.Errorf("d.b %s", values(d, vs))
	}
	if d, vs = fetchOne(t, c, "d.nota"); values(d, vs) != "0" {
		t.Errorf("d.nota %s", values(d, vs))
	}
	if d, vs = fetchOne(t, c, "d.kb"); values(d, vs) != "2,0" {
		t.Errorf("d.kb %s", values(d, vs))
	}
	if d, vs = fetchOne(t, c, "d.err"); vs.NumVal != -13 {
		t.Errorf("operand error: %s, want the operand's error", values(d, vs))
	}
	if d, vs = fetchOne(t, c, "d.cnterr"); values(d, vs) != "0" {
		t.Errorf("count of an erroring metric %s, want 0", values(d, vs))
	}
	if d, vs = fetchOne(t, c, "d.avg"); values(d, vs) != "1024" {
		t.Errorf("avg %s", values(d, vs))
	}
	if d, vs = fetchOne(t, c, "d.max"); values(d, vs) != "2048" {
		t.Errorf("max %s", values(d, vs))
	}
	if d, vs = fetchOne(t, c, "d.guard"); values(d, vs) != "2048,0" {
		t.Errorf("guard %s", values(d, vs))
	}
	// The U32 counter wraps between samples: 0xfffffff0 -> 0x10 is +32.
	f.mu.Lock()
	f.ctr, f.sec = 0x10, 102
	f.mu.Unlock()
	d, vs = fetchOne(t, c, "d.util")
	if got := values(d, vs); got != "1.6" { // 32 ms over 2 s = 1.6% of a second
		t.Errorf("rate over a wrapped counter: %s, want 1.6", got)
	}
	// delta() of U32 is a signed 64-bit difference, as libpcp computes it.
	ids, _ := c.LookupNames([]string{"d.delta"})
	r1, _ := c.Fetch(ids)
	f.mu.Lock()
	f.ctr = 0x30
	f.mu.Unlock()
	r2, _ := c.Fetch(ids)
	dd, _ := c.Desc(ids[0])
	if r1.VSets[0].NumVal != 0 || values(dd, r2.VSets[0]) != "32" || TypeString(dd.Type) != "64" {
		t.Errorf("delta: %v then %s (%s)", r1.VSets[0].NumVal, values(dd, r2.VSets[0]), TypeString(dd.Type))
	}
}

func TestDeriveDivisionByZero(t *testing.T) {
	f := &fakePMCD{ctr: 5, sec: 1}
	c, _ := derivedContext(t, f, "d.inf = m.ctr / 0\n")
	d, vs := fetchOne(t, c, "d.inf")
	if got := values(d, vs); got != "inf" || !math.IsInf(math.Float64frombits(binary.BigEndian.Uint64(vs.Values[0].Payload)), 1) {
		t.Errorf("5/0 = %s, want inf as libpcp", got)
	}
}
