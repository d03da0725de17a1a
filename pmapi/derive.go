package pmapi

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/gopcp/gopcp/protocol"
)

// Binding derived metrics to a context: libpcp resolves each definition's
// operands when a context opens (__dmopencontext). A definition whose operands
// are missing, or whose expression fails the semantic checks, is not available
// in that context: its name is absent from the namespace and lookups fail with
// PM_ERR_NAME, exactly as in libpcp.

// bnode is an expression node bound to one context, with its evaluation state.
type bnode struct {
	kind        nodeKind
	value       string
	left, right *bnode
	desc        protocol.Desc
	pmid        protocol.PMID // operand metric (nName)
	mul, div    float64       // scale conversion applied to this operand's values
	src         *exprNode     // pattern data for nPattern

	// evaluation state, per context
	vals      []ival
	numval    int32 // values, or a negative error code
	last      []ival
	lastOK    bool
	stamp     float64
	lastStamp float64
	instID    int64 // metric[instance]: resolved instance id, -1 until known
}

// boundMetric is a derived metric available in a context.
type boundMetric struct {
	def  *DerivedDef
	root *bnode
	desc protocol.Desc
	pmid []protocol.PMID // operands to fetch
	// depth is how many derived metrics deep the definition reaches: 0 when
	// every operand is the collector's, else one more than its deepest
	// derived operand.
	depth int
}

// MaxDerivedDepth bounds how deeply derived metrics may be defined in terms of
// one another. libpcp 6.0.3 has no bound: it recurses until its stack runs out
// (a chain of 8,000 definitions binds with the default 8 MiB stack, one of
// 9,000 crashes pminfo), so every chain it can bind binds here too, and a
// longer one is unavailable instead of a crash.
const MaxDerivedDepth = 10000

// derivedCtx is a context's view of a DerivedSet. As in libpcp, a definition is
// bound the first time the context meets it (a traversal, lookup or descriptor
// request), and semantic errors are reported then. mu guards the maps, set and
// the evaluation state of bound trees; it is never held while binding (which
// asks the collector, and binds derived operands in turn), so binding one
// definition may bind others. mu orders before Context.mu.
type derivedCtx struct {
	mu    sync.Mutex
	set   *DerivedSet
	diag  io.Writer
	tried map[protocol.PMID]bool
	bound map[protocol.PMID]*boundMetric
	// maxDepth is MaxDerivedDepth (tests lower it to try the bound cheaply)
	maxDepth int
}

func newDerivedCtx(set *DerivedSet, diag io.Writer) *derivedCtx {
	if diag == nil {
		diag = io.Discard
	}
	return &derivedCtx{set: set, diag: diag, tried: map[protocol.PMID]bool{}, bound: map[protocol.PMID]*boundMetric{},
		maxDepth: MaxDerivedDepth}
}

// UseDerived makes the derived metrics of set available in c (libpcp does this
// for every context it opens). Semantic errors in a definition are written to
// diag when the definition is first used, as libpcp reports them. A nil set
// removes them.
func (c *Context) UseDerived(set *DerivedSet, diag io.Writer) {
	var dc *derivedCtx
	if set != nil {
		dc = newDerivedCtx(set, diag)
	}
	c.mu.Lock()
	c.derived = dc
	c.mu.Unlock()
}

// currentSet is the set the context sees now (AddDerived replaces it).
func (dc *derivedCtx) currentSet() *DerivedSet {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.set
}

// cached returns the binding of pmid if one was decided.
func (dc *derivedCtx) cached(pmid protocol.PMID) (*boundMetric, bool) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.bound[pmid], dc.tried[pmid]
}

// bind returns d bound to c, binding it on first use; nil when it is not
// available in this context. unlisted says the caller has just seen that the
// collector's namespace does not have d's name (which spares asking again).
func (dc *derivedCtx) bind(c *Context, d *DerivedDef, unlisted bool) *boundMetric {
	bm, _ := dc.bindPath(c, d, nil, unlisted)
	return bm
}

// bindOutcome is what a binding learnt besides its result.
type bindOutcome struct {
	// err is a failed exchange with the collector: nothing is settled.
	err error
	// pathNote explains a failure met below that depends on the path taken
	// (a cycle, or the depth bound): settled only for the outermost definition.
	pathNote string
}

// bindPath binds d while the definitions in path (outermost first) are being
// bound by this goroutine. A definition met again on its own path is a cycle:
// libpcp 6.0.3 recurses until it crashes there, we make the definition
// unavailable and say so on diag. Results that depend on path are cached only
// for the outermost definition (for which path is empty), and a failed
// exchange is never cached: the next request asks again. Other
// goroutines may bind the same definition at the same time; the first result
// stored wins and is what every caller gets, so a context evaluates one tree
// per definition.
func (dc *derivedCtx) bindPath(c *Context, d *DerivedDef, path []*DerivedDef, unlisted bool) (*boundMetric, bindOutcome) {
	if d.anon {
		return nil, bindOutcome{}
	}
	if bm, ok := dc.cached(d.PMID); ok {
		return bm, bindOutcome{}
	}
	if i := slices.Index(path, d); i >= 0 {
		var chain []string
		for _, p := range path[i:] {
			chain = append(chain, p.Name)
		}
		return nil, bindOutcome{pathNote: "circular definition: " + strings.Join(append(chain, d.Name), " -> ")}
	}
	if len(path) > dc.maxDepth {
		return nil, bindOutcome{pathNote: fmt.Sprintf("operands nested more than %d derived metrics deep", dc.maxDepth)}
	}
	// path is a stack: callees append after d and their entries are
	// overwritten by the next sibling, so each level costs no copy.
	bm, sem, out := dc.bindDef(c, d, append(path, d), !unlisted)
	if out.err != nil || (out.pathNote != "" && len(path) > 0) {
		return bm, out
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.tried[d.PMID] {
		return dc.bound[d.PMID], bindOutcome{} // another goroutine got there first
	}
	dc.tried[d.PMID] = true
	if bm != nil {
		dc.bound[d.PMID] = bm
		return bm, bindOutcome{}
	}
	switch {
	case sem.msg != "":
		fmt.Fprintf(dc.diag, "Semantic error: derived metric %s: %s: %s\n", d.Name, sem.at, sem.msg)
	case out.pathNote != "":
		fmt.Fprintf(dc.diag, "Semantic error: derived metric %s: %s\n", d.Name, out.pathNote)
	}
	return nil, bindOutcome{}
}

// semanticError is a definition that fails libpcp's checks: at is the node as
// libpcp describes it, msg its explanation.
type semanticError struct{ at, msg string }

// bindDef resolves d's operands and checks its expression; a semantic error is
// reported by whoever caches the result. With shadow, a name the collector's
// namespace has makes d unavailable: libpcp lists and looks up the
// namespace's metric, never the derived one.
func (dc *derivedCtx) bindDef(c *Context, d *DerivedDef, path []*DerivedDef, shadow bool) (bm *boundMetric, sem semanticError, out bindOutcome) {
	if shadow {
		if _, err := c.lookupNames([]string{d.Name}); err == nil {
			return nil, sem, out
		} else if !isNameError(err) {
			return nil, sem, bindOutcome{err: err}
		}
	}
	b, out := dc.resolve(c, d.tree, path)
	if b.depth > dc.maxDepth {
		// reached through bindings cached earlier, so not seen on path
		return nil, semanticError{at: d.Expr, msg: fmt.Sprintf("operands nested more than %d derived metrics deep", dc.maxDepth)}, out
	}
	root := b.bind(d.tree, false)
	if root == nil {
		return nil, sem, out
	}
	if msg, at := checkExpr(root); msg != "" {
		return nil, semanticError{at: describe(at), msg: msg}, out
	}
	desc := root.desc
	desc.PMID = d.PMID
	return &boundMetric{def: d, root: root, desc: desc, pmid: b.operands, depth: b.depth}, sem, out
}

// resolve looks up every name in tree as libpcp's bind_expr does, one name per
// request so that one missing operand cannot hide the others: at the
// collector first, then among the context's derived metrics, binding those in
// turn. A derived operand binds with its own descriptor; its values are what
// libpcp 6.0.3 gets for it, PM_ERR_NOAGENT (see fetchDerived).
func (dc *derivedCtx) resolve(c *Context, tree *exprNode, path []*DerivedDef) (*binder, bindOutcome) {
	var names []string
	walkNames(tree, func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	})
	var out bindOutcome
	b := &binder{pmids: map[string]protocol.PMID{}, descs: map[protocol.PMID]protocol.Desc{}}
	set := dc.currentSet()
	for _, n := range names {
		ids, err := c.lookupNames([]string{n})
		if err == nil && len(ids) == 1 {
			desc, err := c.Desc(ids[0])
			if err != nil {
				if !isMissing(err) && out.err == nil {
					out.err = err
				}
				continue
			}
			b.pmids[n], b.descs[ids[0]] = ids[0], desc
			continue
		}
		if err != nil && !isNameError(err) {
			if out.err == nil {
				out.err = err
			}
			continue
		}
		od := set.byName(n)
		switch {
		case od == nil:
		case od.anon:
			b.pmids[n], b.descs[od.PMID] = od.PMID, anonDesc(od.PMID)
		default:
			obm, o := dc.bindPath(c, od, path, true)
			if out.err == nil {
				out.err = o.err
			}
			if out.pathNote == "" {
				out.pathNote = o.pathNote
			}
			if obm != nil {
				b.pmids[n], b.descs[od.PMID] = od.PMID, obm.desc
				b.depth = max(b.depth, obm.depth+1)
			}
		}
	}
	return b, out
}

// isMissing reports an error that says a metric is not there (as opposed to a
// failed exchange).
func isMissing(err error) bool {
	code := protocol.CodeOf(err)
	return code == protocol.ErrPMID || code == protocol.ErrName || code == protocol.ErrNonLeaf
}

func walkNames(n *exprNode, f func(string)) {
	if n == nil {
		return
	}
	if n.kind == nName {
		f(n.value)
	}
	walkNames(n.left, f)
	walkNames(n.right, f)
}

type binder struct {
	pmids    map[string]protocol.PMID
	descs    map[protocol.PMID]protocol.Desc
	operands []protocol.PMID
	depth    int // see boundMetric.depth
}

// bind copies n for one context, resolving names; nil when an operand is
// missing (the metric is then unavailable). Under defined() a missing name is
// allowed.
func (b *binder) bind(n *exprNode, lookupOK bool) *bnode {
	if n == nil {
		return nil
	}
	out := &bnode{kind: n.kind, value: n.value, desc: n.desc, mul: 1, div: 1, src: n, instID: -1}
	if n.left != nil {
		if out.left = b.bind(n.left, n.kind == nDefined); out.left == nil {
			return nil
		}
	}
	if n.right != nil {
		if out.right = b.bind(n.right, false); out.right == nil {
			return nil
		}
	}
	if n.kind == nName {
		id, ok := b.pmids[n.value]
		d, dok := b.descs[id]
		if !ok || !dok {
			if lookupOK {
				out.pmid = protocol.PMIDNull
				return out
			}
			return nil
		}
		out.pmid, out.desc = id, d
		if !containsPMID(b.operands, id) {
			b.operands = append(b.operands, id)
		}
	}
	return out
}

func containsPMID(l []protocol.PMID, id protocol.PMID) bool {
	for _, x := range l {
		if x == id {
			return true
		}
	}
	return false
}

func isArith(t int32) bool { return t >= protocol.Type32 && t <= protocol.TypeDouble }

// promote is libpcp's type promotion table for the six arithmetic types.
var promote = [6][6]int32{
	{0, 1, 2, 3, 4, 5},
	{1, 1, 2, 3, 4, 5},
	{2, 2, 2, 3, 4, 5},
	{3, 3, 3, 3, 4, 5},
	{4, 4, 4, 4, 4, 5},
	{5, 5, 5, 5, 5, 5},
}

func isRel(k nodeKind) bool { return k >= nLT && k <= nNEQ }

// describe renders the node as libpcp's report_sem_error does.
func describe(n *bnode) string {
	leaf := func(x *bnode) string {
		if x.kind == nInteger || x.kind == nDouble || x.kind == nName {
			return x.value
		}
		return "<expr>"
	}
	switch {
	case n.kind == nNot || n.kind == nNeg:
		return nodeOp[n.kind] + " " + leaf(n.left)
	case n.kind == nQuest:
		return leaf(n.left) + " ? " + leaf(n.right.left) + " : " + leaf(n.right.right)
	case n.kind == nColon:
		return leaf(n.left) + " : " + leaf(n.right)
	case n.kind == nRescale:
		u := UnitsString(n.right.desc.Units)
		if u == "" {
			u = "none"
		}
		return leaf(n.left) + " " + nodeName[n.kind] + " " + u
	case n.kind == nFilterInst:
		return nodeName[n.kind] + " "
	case n.left != nil && n.right != nil:
		return leaf(n.left) + " " + nodeOp[n.kind] + " " + leaf(n.right)
	case n.left != nil:
		return strings.ToLower(nodeName[n.kind]) + "(" + n.left.value + ")"
	}
	return "botch"
}

// checkExpr derives the descriptor of every node bottom up (libpcp's
// check_expr/map_desc/map_units); it returns the error message and the node it
// concerns, or "" when the expression is sound.
func checkExpr(n *bnode) (string, *bnode) {
	switch n.kind {
	case nInteger, nDouble, nName, nScale, nPattern:
		return "", nil
	case nDefined:
		n.desc = protocol.Desc{PMID: protocol.PMIDNull, Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: protocol.SemDiscrete}
		v := uint32(0)
		if n.left.pmid != protocol.PMIDNull {
			v = 1
		}
		n.vals, n.numval = []ival{{inst: protocol.InNull, u: uint64(v)}}, 1
		n.left = nil
		return "", nil
	}
	if msg, at := checkExpr(n.left); msg != "" {
		return msg, at
	}
	if n.right != nil {
		if msg, at := checkExpr(n.right); msg != "" {
			return msg, at
		}
		l, r := n.left.desc, n.right.desc
		switch n.kind {
		case nColon:
			n.desc = l
			switch {
			case l.Type != r.Type:
				return "Different types for ternary operands", n
			case l.InDom != r.InDom && l.InDom != protocol.InDomNull && r.InDom != protocol.InDomNull:
				return "Different instance domains for ternary operands", n
			}
			if l.InDom == protocol.InDomNull {
				n.desc.InDom = r.InDom
			}
			lu, ru := unpackUnits(l.Units), unpackUnits(r.Units)
			switch {
			case l.Sem != r.Sem:
				return "Different semantics for ternary operands", n
			case lu.dimSpace != ru.dimSpace || lu.scaleSpace != ru.scaleSpace:
				return "Different units or scale (space) for ternary operands", n
			case lu.dimTime != ru.dimTime || lu.scaleTime != ru.scaleTime:
				return "Different units or scale (time) for ternary operands", n
			case lu.dimCount != ru.dimCount || lu.scaleCount != ru.scaleCount:
				return "Different units or scale (count) for ternary operands", n
			}
			return "", nil
		case nQuest:
			if !isArith(l.Type) {
				return "Non-arithmetic operand for ternary guard", n
			}
			if n.right.left.desc.InDom == protocol.InDomNull && n.right.right.desc.InDom == protocol.InDomNull && l.InDom != protocol.InDomNull {
				return "Non-scalar ternary guard with scalar expressions", n
			}
			n.desc = n.right.desc
			return "", nil
		case nFilterInst:
			n.desc = r
			return "", nil
		}
		return mapDesc(n)
	}
	n.desc = n.left.desc
	switch n.kind {
	case nCount:
		n.desc.Type = protocol.TypeU32
		n.desc.Units = units{dimCount: 1}.pack()
		n.desc.Sem = protocol.SemInstant
		n.desc.InDom = protocol.InDomNull
	case nInstant:
		if n.left.desc.Sem == protocol.SemCounter {
			n.desc.Sem = protocol.SemInstant
		}
	case nScalar:
		n.desc.InDom = protocol.InDomNull
	case nAvg, nSum, nMax, nMin, nDelta, nRate, nNeg:
		if !isArith(n.left.desc.Type) {
			if n.kind == nNeg {
				return "Non-arithmetic operand for unary negation", n
			}
			return "Non-arithmetic operand for function", n
		}
		if n.kind != nSum {
			n.desc.Sem = protocol.SemInstant
		}
		lu := unpackUnits(n.left.desc.Units)
		if n.kind == nRate && lu.dimTime != 0 && lu.dimTime != 1 {
			return "Incorrect time dimension for operand", n
		}
		if n.kind != nDelta && n.kind != nRate && n.kind != nNeg {
			n.desc.InDom = protocol.InDomNull
		}
		switch n.kind {
		case nAvg:
			n.desc.Type = protocol.TypeFloat
		case nRate:
			n.desc.Type = protocol.TypeDouble
			u := lu
			u.dimTime--
			if u.dimTime == 0 {
				u.scaleTime = 0
			} else {
				u.scaleTime = 3 // PM_TIME_SEC
			}
			n.desc.Units = u.pack()
		case nNeg:
			if n.left.desc.Type == protocol.TypeU32 {
				n.desc.Type = protocol.Type32
			} else if n.left.desc.Type == protocol.TypeU64 {
				n.desc.Type = protocol.Type64
			}
		case nDelta:
			if n.left.desc.Type == protocol.TypeU32 {
				n.desc.Type = protocol.Type64
			} else if n.left.desc.Type == protocol.TypeU64 {
				n.desc.Type = protocol.TypeDouble
			}
		}
	case nNot:
		// libpcp inherits the operand's descriptor for ! (its value is 0 or 1)
	}
	return "", nil
}

func dimsEqual(a, b units) bool {
	return a.dimCount == b.dimCount && a.dimTime == b.dimTime && a.dimSpace == b.dimSpace
}

// countNoneOK is pmConvScale's special case: "none" and "count" mix.
func countNoneOK(a, b units) bool {
	return a.dimTime == 0 && b.dimTime == 0 && a.dimSpace == 0 && b.dimSpace == 0 &&
		(a.dimCount == 0 && b.dimCount == 1 || a.dimCount == 1 && b.dimCount == 0)
}

func dimensionless(u units) bool { return u.dimCount == 0 && u.dimTime == 0 && u.dimSpace == 0 }

// mapDesc is libpcp's map_desc for binary operators and rescale.
func mapDesc(n *bnode) (string, *bnode) {
	l, r := n.left.desc, n.right.desc
	lu, ru := unpackUnits(l.Units), unpackUnits(r.Units)
	rel := isRel(n.kind)
	boolean := n.kind == nAnd || n.kind == nOr
	switch {
	case rel || boolean:
	case n.kind == nRescale:
		n.desc = l
		if !isArith(l.Type) {
			return "Non-arithmetic operand for function", n
		}
		if !dimsEqual(lu, ru) && !countNoneOK(lu, ru) {
			return "Incompatible dimensions", n
		}
		n.desc.Units = r.Units
		return "", nil
	case l.Sem == protocol.SemCounter && r.Sem == protocol.SemCounter:
		if n.kind != nPlus && n.kind != nMinus {
			return "Illegal operator for counters", n
		}
	case l.Sem == protocol.SemCounter:
		if n.kind != nStar && n.kind != nSlash {
			return "Illegal operator for counter and non-counter", n
		}
	case r.Sem == protocol.SemCounter:
		if n.kind != nStar {
			return "Illegal operator for non-counter and counter", n
		}
	}
	if n.left.kind != nInteger && n.left.kind != nDouble {
		n.desc = l
	} else {
		n.desc = r
	}
	if l.Sem != protocol.SemCounter && r.Sem != protocol.SemCounter {
		if l.Sem == protocol.SemDiscrete && r.Sem == protocol.SemDiscrete {
			n.desc.Sem = protocol.SemDiscrete
		} else {
			n.desc.Sem = protocol.SemInstant
		}
	}
	if !isArith(l.Type) {
		return "Non-arithmetic type for left operand", n
	}
	if !isArith(r.Type) {
		return "Non-arithmetic type for right operand", n
	}
	switch {
	case n.kind == nSlash:
		n.desc.Type = protocol.TypeDouble
	case rel || boolean:
		n.desc.Type = protocol.TypeU32
	default:
		n.desc.Type = promote[l.Type][r.Type]
	}
	if (n.kind == nPlus || n.kind == nMinus) && !dimsEqual(lu, ru) && !countNoneOK(lu, ru) {
		return "Dimensions are not the same", n
	}
	// libpcp compares the operands' metric *types* with its constant node
	// numbers here (N_INTEGER is 1, N_DOUBLE 16), so the check is skipped
	// whenever either operand has type U32; reproduced as it behaves.
	if rel && l.Type != 1 && l.Type != 16 && r.Type != 1 && r.Type != 16 && !dimsEqual(lu, ru) && !countNoneOK(lu, ru) {
		return "Dimensions are not the same", n
	}
	if boolean && (!dimensionless(lu) || !dimensionless(ru)) {
		return "Dimensions are not the same", n
	}
	if n.kind == nStar || n.kind == nSlash || rel {
		if l.Sem == protocol.SemCounter && r.Sem != protocol.SemCounter && !dimensionless(ru) {
			return "Non-counter and not dimensionless for right operand", n
		}
		if l.Sem != protocol.SemCounter && r.Sem == protocol.SemCounter && !dimensionless(lu) {
			return "Non-counter and not dimensionless for left operand", n
		}
	}
	switch {
	case n.kind == nPlus || n.kind == nMinus || n.kind == nStar || n.kind == nSlash:
		mapUnits(n)
	case rel || boolean:
		n.desc.Units = 0
	}
	switch {
	case l.InDom != protocol.InDomNull && r.InDom != protocol.InDomNull && l.InDom != r.InDom:
		return "Operands should have the same instance domain", n
	case l.InDom != protocol.InDomNull && r.InDom == protocol.InDomNull:
		n.desc.InDom = l.InDom
	case r.InDom != protocol.InDomNull && l.InDom == protocol.InDomNull:
		n.desc.InDom = r.InDom
	}
	return "", nil
}

var timeFactor = [...]float64{1000, 1000, 1000, 60, 60}

// mapUnits is libpcp's map_units: the larger scale wins and the other operand's
// values are converted (the result is then DOUBLE); * and / add or subtract the
// dimensions.
func mapUnits(n *bnode) {
	lu, ru := unpackUnits(n.left.desc.Units), unpackUnits(n.right.desc.Units)
	res := unpackUnits(n.desc.Units)
	L, R := n.left, n.right
	scale := func(x *bnode, positive bool, f float64) {
		if positive {
			x.div *= f
		} else {
			x.mul *= f
		}
	}
	if lu.dimCount != 0 && ru.dimCount != 0 {
		if d := lu.scaleCount - ru.scaleCount; d > 0 {
			for i := 0; i < d; i++ {
				scale(R, ru.dimCount > 0, 10)
			}
			n.desc.Type = protocol.TypeDouble
		} else if d < 0 {
			res.scaleCount = ru.scaleCount
			for i := d; i < 0; i++ {
				scale(L, lu.dimCount > 0, 10)
			}
			n.desc.Type = protocol.TypeDouble
		}
	}
	if lu.dimTime != 0 && ru.dimTime != 0 {
		if lu.scaleTime > ru.scaleTime {
			for i := ru.scaleTime; i < lu.scaleTime && i < len(timeFactor); i++ {
				scale(R, ru.dimTime > 0, timeFactor[i])
			}
			n.desc.Type = protocol.TypeDouble
		} else if lu.scaleTime < ru.scaleTime {
			res.scaleTime = ru.scaleTime
			for i := lu.scaleTime; i < ru.scaleTime && i < len(timeFactor); i++ {
				// libpcp tests the right operand's sign here
				scale(L, ru.dimTime > 0, timeFactor[i])
			}
			n.desc.Type = protocol.TypeDouble
		}
	}
	if lu.dimSpace != 0 && ru.dimSpace != 0 {
		if d := lu.scaleSpace - ru.scaleSpace; d > 0 {
			for i := 0; i < d; i++ {
				scale(R, ru.dimSpace > 0, 1024)
			}
			n.desc.Type = protocol.TypeDouble
		} else if d < 0 {
			res.scaleSpace = ru.scaleSpace
			for i := d; i < 0; i++ {
				// libpcp tests the right operand's sign here too
				scale(L, ru.dimSpace > 0, 1024)
			}
			n.desc.Type = protocol.TypeDouble
		}
	}
	switch n.kind {
	case nStar:
		res.dimCount, res.dimTime, res.dimSpace = lu.dimCount+ru.dimCount, lu.dimTime+ru.dimTime, lu.dimSpace+ru.dimSpace
	case nSlash:
		res.dimCount, res.dimTime, res.dimSpace = lu.dimCount-ru.dimCount, lu.dimTime-ru.dimTime, lu.dimSpace-ru.dimSpace
	}
	if res.dimCount != 0 && lu.dimCount == 0 {
		res.scaleCount = ru.scaleCount
	}
	if res.dimTime != 0 && lu.dimTime == 0 {
		res.scaleTime = ru.scaleTime
	}
	if res.dimSpace != 0 && lu.dimSpace == 0 {
		res.scaleSpace = ru.scaleSpace
	}
	if res.dimCount == 0 {
		res.scaleCount = 0
	}
	if res.dimTime == 0 {
		res.scaleTime = 0
	}
	if res.dimSpace == 0 {
		res.scaleSpace = 0
	}
	n.desc.Units = res.pack()
}
