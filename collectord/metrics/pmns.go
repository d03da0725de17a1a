package metrics

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// pmns is the namespace, built once by New and read-only afterwards. It is kept
// flat rather than as a tree of nodes with maps: one small record per name,
// sorted by name for lookup, whose answers are ranges of three shared slices
// (about 0.6 MiB less live heap for the 2,000-odd names than the tree it
// replaced; every request is a binary search of those names, which PMNS
// requests can afford and fetches never make).
type pmns struct {
	nodes   []pnode  // every name ("" is the root), sorted by name
	leaves  []string // every leaf name, in namespace order (depth first)
	childNm []string // each node's child components, node by node, in order
	childLf []bool   // whether each child of childNm is a leaf
}

// pnode is one name: its leaves are leaves[leafLo:leafHi] (a leaf: itself), its
// children childNm[childLo:childHi].
type pnode struct {
	name             string
	leafLo, leafHi   int32
	childLo, childHi int32
}

// treeNode is the tree New builds the namespace in, dropped once it is flat.
type treeNode struct {
	comp     string
	name     string
	children []*treeNode
	metric   *Metric // leaves only
}

// pmnsBuilder assembles the namespace from metrics added in namespace order.
type pmnsBuilder struct {
	root  *treeNode
	nodes map[string]*treeNode // full name -> node ("" is the root)
}

func newPMNS() *pmnsBuilder {
	root := &treeNode{}
	return &pmnsBuilder{root: root, nodes: map[string]*treeNode{"": root}}
}

func (t *pmnsBuilder) add(m *Metric) error {
	comps := strings.Split(m.Name, ".")
	n := t.root
	for i, c := range comps {
		if c == "" {
			return fmt.Errorf("metrics: bad metric name %q", m.Name)
		}
		if n.metric != nil {
			return fmt.Errorf("metrics: %q is below leaf %q", m.Name, strings.Join(comps[:i], "."))
		}
		name := m.Name // a leaf's name is the metric's: no second copy
		if i < len(comps)-1 {
			name = strings.Join(comps[:i+1], ".")
		}
		child, ok := t.nodes[name]
		if !ok {
			child = &treeNode{comp: c, name: name}
			n.children = append(n.children, child)
			t.nodes[name] = child
		}
		n = child
	}
	if n.metric != nil || len(n.children) > 0 {
		return fmt.Errorf("metrics: duplicate or non-leaf metric name %q", m.Name)
	}
	n.metric = m
	return nil
}

// finish flattens the tree and returns the leaves in depth-first order.
func (t *pmnsBuilder) finish() (*pmns, []*Metric) {
	ns := &pmns{nodes: make([]pnode, 0, len(t.nodes))}
	var order []*Metric
	// Leaves below any node are contiguous in depth-first order: one range each.
	var fill func(n *treeNode)
	fill = func(n *treeNode) {
		rec := pnode{name: n.name, leafLo: int32(len(ns.leaves))}
		if n.metric != nil {
			order = append(order, n.metric)
			ns.leaves = append(ns.leaves, n.metric.Name)
		} else {
			rec.childLo = int32(len(ns.childNm))
			for _, c := range n.children {
				ns.childNm = append(ns.childNm, c.comp)
				ns.childLf = append(ns.childLf, c.metric != nil)
			}
			rec.childHi = int32(len(ns.childNm))
			for _, c := range n.children {
				fill(c)
			}
		}
		rec.leafHi = int32(len(ns.leaves))
		ns.nodes = append(ns.nodes, rec)
	}
	fill(t.root)
	slices.SortFunc(ns.nodes, func(a, b pnode) int { return strings.Compare(a.name, b.name) })
	// Exact sizes: append's spare room would stay allocated for the process's life.
	ns.leaves = slices.Clip(ns.leaves)
	ns.childNm = slices.Clip(ns.childNm)
	ns.childLf = slices.Clip(ns.childLf)
	return ns, order
}

// find returns the node of a full name.
func (ns *pmns) find(name string) (*pnode, bool) {
	i, ok := slices.BinarySearchFunc(ns.nodes, name, func(n pnode, name string) int { return strings.Compare(n.name, name) })
	if !ok {
		return nil, false
	}
	return &ns.nodes[i], true
}

// Traverse answers PMNS_TRAVERSE: "" gives every leaf, a leaf gives itself, a
// non-leaf gives all leaves below it, in namespace order. An unknown name gives a
// *protocol.Error with code protocol.ErrName. The returned slice is shared; callers
// must not modify it.
func (r *Registry) Traverse(name string) ([]string, error) {
	n, ok := r.ns.find(name)
	if !ok {
		return nil, &protocol.Error{Code: protocol.ErrName}
	}
	return r.ns.leaves[n.leafLo:n.leafHi:n.leafHi], nil
}

// Children answers PMNS_CHILD: the immediate child components of name ("" is the
// root) and whether each is a leaf. A leaf has no children; an unknown name gives
// protocol.ErrName. The returned slices are shared; callers must not modify them.
func (r *Registry) Children(name string) (names []string, leaf []bool, err error) {
	n, ok := r.ns.find(name)
	if !ok {
		return nil, nil, &protocol.Error{Code: protocol.ErrName}
	}
	if n.childLo == n.childHi {
		return nil, nil, nil
	}
	return r.ns.childNm[n.childLo:n.childHi:n.childHi], r.ns.childLf[n.childLo:n.childHi:n.childHi], nil
}

// NamesOf answers PMNS_IDS: every name of a PMID (there is exactly one for each
// metric served). An unknown PMID gives protocol.ErrPMID.
func (r *Registry) NamesOf(p protocol.PMID) ([]string, error) {
	e, ok := r.byPMID[p]
	if !ok {
		return nil, &protocol.Error{Code: protocol.ErrPMID}
	}
	n, _ := r.ns.find(e.m.Name)
	return r.ns.leaves[n.leafLo:n.leafHi:n.leafHi], nil
}

// realNamespace is the full namespace of the real pmcd 6.0.3 (pmcd, linux and proc
// agents) in the order it lists it, depth first in PMNS file order: a listing of facts
// (names only), kept as the reference tests use it. The generated namespaceOrder
// (helptext.go) holds only the metrics that were served when it was generated, so
// metric families added since take their place from this listing instead.
//
//go:embed testdata/reference/pminfo-names.txt
var realNamespace string

// realNamespaceRank maps each name of realNamespace to its position. New calls it
// once and drops it: kept for the process's life it was 0.1 MiB of heap.
func realNamespaceRank() map[string]int {
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
}
