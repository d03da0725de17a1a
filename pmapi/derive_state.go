package pmapi

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// Per-context derived metrics (pmAddDerivedMetric) and derived-metric state that
// outlives one connection.
//
// A client that multiplexes many logical contexts over pooled connections
// (proxyd's REST contexts) keeps one DerivedState per logical context and lends
// it to whichever connection serves a request (UseDerivedState): the bindings,
// the previous values that rate() and delta() need, and the context's own
// definitions then follow the logical context, not the connection. All the
// connections a state is lent to must reach the same collector.

// maxPerContext is the per-context PMID space libpcp hands out from the top of
// domain 511 downwards (511.2047.1023, 511.2047.1022, ...), leaving the bottom
// to global definitions.
const maxPerContext = 2048 * 1023

// errDuplicateDerived is the code libpcp returns for a duplicate per-context
// name (PM_ERR_BADDERIVE's neighbour in 6.0.3, as pmproxy reports it).
const errDuplicateDerived = -12409

// DerivedState is one logical context's derived metrics: the global set, the
// definitions added to this context, and their bindings and evaluation state.
type DerivedState struct {
	global *DerivedSet
	local  []*DerivedDef // the bound per-context definitions
	// names are all the per-context names accepted, bound or not: libpcp keeps
	// a definition whose operands are missing, or that fails the semantic
	// checks, and refuses its name a second time.
	names []string
	next  int // per-context PMIDs handed out
	dc    *derivedCtx
}

// NewDerivedState starts a context's derived metrics from the global set (nil:
// only the anonymous event metrics). Semantic errors in global definitions are
// written to diag when they are first used.
func NewDerivedState(global *DerivedSet, diag io.Writer) *DerivedState {
	if global == nil {
		global = NewDerivedSet()
	}
	if diag == nil {
		diag = io.Discard
	}
	return &DerivedState{global: global, dc: newDerivedCtx(global, diag)}
}

// UseDerivedState lends st to c for the requests that follow (nil removes
// derived metrics from c).
func (c *Context) UseDerivedState(st *DerivedState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == nil {
		c.derived = nil
		return
	}
	c.derived = st.dc
}

// HasLocal reports whether definitions were added to this context: its names
// and PMIDs then differ from those of other contexts.
func (st *DerivedState) HasLocal() bool {
	st.dc.mu.Lock()
	defer st.dc.mu.Unlock()
	return len(st.local) > 0
}

// AddError is a failed AddDerived: Error gives libpcp's message for
// pmAddDerivedMetric, as pmproxy passes it to its clients.
type AddError struct {
	Kind string // "Syntax Error", "Semantic Error" or "Error"
	Name string
	Expr string
	Pos  int    // caret position in Expr (syntax and semantic errors)
	Msg  string // the explanation ("" when libpcp gives none)
	Code int32  // the PCP error code for "Error"
}

func (e *AddError) Error() string {
	var b strings.Builder
	if e.Kind == "Error" {
		fmt.Fprintf(&b, "Error: pmAddDerivedMetric(\"%s\", ...): returns %d\n%s\n", e.Name, e.Code, e.Msg)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: pmAddDerivedMetric(\"%s\", ...)\n%s\n%s^\n", e.Kind, e.Name, e.Expr, strings.Repeat(" ", max(e.Pos, 0)))
	if e.Msg != "" {
		b.WriteString(e.Msg + "\n")
	}
	return b.String()
}

// AddDerived defines name as expr in this context only (pmAddDerivedMetric), on
// c, a connection st is lent to. As libpcp 6.0.3 does it: a syntax error or a
// duplicate per-context name is refused and uses no PMID; otherwise the next
// per-context PMID and the name are used and the definition is bound at once. A
// semantic error is refused; a missing operand, or a name the collector's
// namespace already has (which takes precedence), leaves the name undefined
// without an error. A name is accepted once, whatever became of it. A
// per-context name hides a global one. Operands are looked up as libpcp does:
// in the collector's namespace, then among the context's derived metrics
// (whose values are then PM_ERR_NOAGENT, see fetchDerived). A transport
// failure is returned as it is. The lock is not held while the collector is
// asked, so requests on the context's other connections are not held up.
func (st *DerivedState) AddDerived(c *Context, name, expr string) error {
	dc := st.dc
	dc.mu.Lock()
	if slices.Contains(st.names, name) {
		dc.mu.Unlock()
		return &AddError{Kind: "Error", Name: name, Code: errDuplicateDerived, Msg: "Duplicate per-context derived metric name"}
	}
	tree, serr := parseExpr(expr)
	if serr != nil {
		dc.mu.Unlock()
		pos := serr.Pos
		if expr == "" {
			pos = 1 // libpcp's caret for an empty expression
		}
		return &AddError{Kind: "Syntax Error", Name: name, Expr: expr, Pos: pos, Msg: serr.Msg}
	}
	if st.next >= maxPerContext {
		dc.mu.Unlock()
		return &AddError{Kind: "Error", Name: name, Code: protocol.ErrPMID, Msg: "per-context derived metric PMID space exhausted"}
	}
	n := st.next
	st.next++
	st.names = append(st.names, name)
	dc.mu.Unlock()
	d := &DerivedDef{Name: name, Expr: expr, tree: tree,
		PMID: protocol.NewPMID(derivedDomain, uint32(2047-n/1023), uint32(1023-n%1023)),
		// libpcp gives per-context metrics empty help text, not none.
		hasOne: true, hasHelp: true}

	if !validName(name) {
		return nil // accepted, as libpcp 6.0.3 does, but no lookup can reach it
	}
	if ids, err := c.lookupNames([]string{name}); err == nil && len(ids) == 1 && ids[0] != protocol.PMIDNull {
		return nil // the namespace's metric wins
	} else if err != nil && !isNameError(err) {
		return err
	}
	bm, sem, out := dc.bindDef(c, d, []*DerivedDef{d}, false)
	if out.err != nil {
		return out.err
	}
	if sem.msg != "" {
		return &AddError{Kind: "Semantic Error", Name: name, Expr: expr, Msg: sem.msg}
	}
	if bm == nil {
		return nil // an operand is missing: not defined here
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	dc.tried[d.PMID] = true
	dc.bound[d.PMID] = bm
	st.local = append(st.local, d)

	// The set the context sees: global definitions not hidden by a per-context
	// one, then the per-context ones in the order they were added.
	defs := make([]*DerivedDef, 0, len(st.global.defs)+len(st.local))
	for _, g := range st.global.defs {
		if !slices.ContainsFunc(st.local, func(l *DerivedDef) bool { return l.Name == g.Name }) {
			defs = append(defs, g)
		}
	}
	dc.set = derivedSetOf(append(defs, st.local...))
	return nil
}

func isNameError(err error) bool {
	code := protocol.CodeOf(err)
	return code == protocol.ErrName || code == protocol.ErrNonLeaf
}

// DerivedChildren returns the immediate children of prefix ("" is the root)
// among the derived names of c, and whether each is a non-leaf, in
// registration order: what libpcp adds to pmGetChildrenStatus. Global names are
// listed whether or not their operands exist (as libpcp lists them);
// per-context ones exist only when bound.
func (c *Context) DerivedChildren(prefix string) (names []string, nonleaf []bool) {
	dc := c.derived
	if dc == nil {
		return nil, nil
	}
	dc.mu.Lock()
	defs := dc.set.defs
	dc.mu.Unlock()
	for _, d := range defs {
		rest := d.Name
		if prefix != "" {
			var ok bool
			if rest, ok = strings.CutPrefix(d.Name, prefix+"."); !ok {
				continue
			}
		}
		child, _, more := strings.Cut(rest, ".")
		if i := slices.Index(names, child); i >= 0 {
			nonleaf[i] = nonleaf[i] || more
			continue
		}
		names, nonleaf = append(names, child), append(nonleaf, more)
	}
	return names, nonleaf
}
