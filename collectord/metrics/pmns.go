package metrics

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/gopcp/gopcp/protocol"
)

// pmns is the namespace tree. Children keep the order in which they were first added,
// so that a depth-first walk reproduces the namespace order.
type pmns struct {
	root  *pnode
	nodes map[string]*pnode // full name -> node ("" is the root)
}

type pnode struct {
	comp     string // last component
	children []*pnode
	byComp   map[string]*pnode
	metric   *Metric  // leaves only
	leaves   []string // all leaf names below (or the leaf itself), namespace order
	childNm  []string // child components, in order
	childLf  []bool   // whether each child is a leaf
	pmidName []string // leaves only: the single-name list returned by NamesOf
}

func newPMNS() *pmns {
	root := &pnode{}
	return &pmns{root: root, nodes: map[string]*pnode{"": root}}
}

func (t *pmns) add(m *Metric) error {
	comps := strings.Split(m.Name, ".")
	n := t.root
	for i, c := range comps {
		if c == "" {
			return fmt.Errorf("metrics: bad metric name %q", m.Name)
		}
		if n.metric != nil {
			return fmt.Errorf("metrics: %q is below leaf %q", m.Name, strings.Join(comps[:i], "."))
		}
		child, ok := n.byComp[c]
		if !ok {
			child = &pnode{comp: c}
			if n.byComp == nil {
				n.byComp = make(map[string]*pnode)
			}
			n.byComp[c] = child
			n.children = append(n.children, child)
			t.nodes[strings.Join(comps[:i+1], ".")] = child
		}
		n = child
	}
	if n.metric != nil || len(n.children) > 0 {
		return fmt.Errorf("metrics: duplicate or non-leaf metric name %q", m.Name)
	}
	n.metric = m
	return nil
}

// finish precomputes the answers and returns the leaves in depth-first order.
func (t *pmns) finish() []*Metric {
	var order []*Metric
	var walk func(n *pnode)
	walk = func(n *pnode) {
		if n.metric != nil {
			order = append(order, n.metric)
			return
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(t.root)
	all := make([]string, len(order))
	for i, m := range order {
		all[i] = m.Name
	}
	// Leaves below any node are contiguous in depth-first order: share one slice.
	var fill func(n *pnode, at int) int
	fill = func(n *pnode, at int) int {
		if n.metric != nil {
			n.leaves = all[at : at+1 : at+1]
			n.pmidName = n.leaves
			return at + 1
		}
		start := at
		for _, c := range n.children {
			at = fill(c, at)
			n.childNm = append(n.childNm, c.comp)
			n.childLf = append(n.childLf, c.metric != nil)
		}
		n.leaves = all[start:at:at]
		return at
	}
	fill(t.root, 0)
	return order
}

// Traverse answers PMNS_TRAVERSE: "" gives every leaf, a leaf gives itself, a
// non-leaf gives all leaves below it, in namespace order. An unknown name gives a
// *protocol.Error with code protocol.ErrName. The returned slice is shared; callers
// must not modify it.
func (r *Registry) Traverse(name string) ([]string, error) {
	n, ok := r.ns.nodes[name]
	if !ok {
		return nil, &protocol.Error{Code: protocol.ErrName}
	}
	return n.leaves, nil
}

// Children answers PMNS_CHILD: the immediate child components of name ("" is the
// root) and whether each is a leaf. A leaf has no children; an unknown name gives
// protocol.ErrName. The returned slices are shared; callers must not modify them.
func (r *Registry) Children(name string) (names []string, leaf []bool, err error) {
	n, ok := r.ns.nodes[name]
	if !ok {
		return nil, nil, &protocol.Error{Code: protocol.ErrName}
	}
	return n.childNm, n.childLf, nil
}

// NamesOf answers PMNS_IDS: every name of a PMID (there is exactly one for each
// metric served). An unknown PMID gives protocol.ErrPMID.
func (r *Registry) NamesOf(p protocol.PMID) ([]string, error) {
	e, ok := r.byPMID[p]
	if !ok {
		return nil, &protocol.Error{Code: protocol.ErrPMID}
	}
	return r.ns.nodes[e.m.Name].pmidName, nil
}

// realNamespace is the full namespace of the real pmcd 6.0.3 (pmcd, linux and proc
// agents) in the order it lists it, depth first in PMNS file order: a listing of facts
// (names only), kept as the reference tests use it. The generated namespaceOrder
// (helptext.go) holds only the metrics that were served when it was generated, so
// metric families added since take their place from this listing instead.
//
//go:embed testdata/reference/pminfo-names.txt
var realNamespace string

// realNamespaceRank maps each name of realNamespace to its position. It is computed
// once and never modified afterwards.
var realNamespaceRank = sync.OnceValue(func() map[string]int {
	names := strings.Split(strings.TrimSpace(realNamespace), "\n")
	rank := make(map[string]int, len(names)+len(namespaceOrder))
	for i, n := range names {
		rank[strings.TrimSpace(n)] = i
	}
	// A name of namespaceOrder that the listing lacks keeps its relative place
	// after the listing's names (the two come from the same pmcd, so none should).
	for i, n := range namespaceOrder {
		if _, ok := rank[n]; !ok {
			rank[n] = len(names) + i
		}
	}
	return rank
})
