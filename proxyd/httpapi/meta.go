package httpapi

import (
	"sync"
	"time"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

// meta caches what a collector says about its metrics, as pmproxy keeps it per
// context: names, descriptors, help text, labels and instance names. Values are
// never cached. Everything is forgotten after the TTL and whenever the collector
// signals a change (the state-change notices before a fetch reply).
type meta struct {
	mu      sync.Mutex
	ttl     time.Duration
	expires time.Time
	// gen counts the resets: what was derived from the cache (a context's
	// fetchPlan) is good while gen has not moved.
	gen uint64

	traversals map[string][]string
	pmids      map[string]protocol.PMID // PMIDNull: no such leaf
	names      map[protocol.PMID][]string
	descs      map[protocol.PMID]protocol.Desc
	texts      map[textKey]textEntry
	labels     map[labelKey]labelEntry
	insts      map[protocol.InDom]*instSet
	prom       map[promKey]string // rendered /metrics labels per series
	hostname   string
}

type textKey struct {
	ident uint32
	kind  int32
}

type textEntry struct {
	text string
	ok   bool
}

type labelKey struct {
	ident uint32
	kind  int32
}

type labelEntry struct {
	sets []protocol.LabelSet
}

// instSet is an instance domain's instances and their labels.
type instSet struct {
	list   []protocol.Instance
	names  map[uint32]string
	labels map[uint32]*protocol.LabelSet
}

// maxTraversals bounds the cached traversal results (one per prefix asked for).
const maxTraversals = 256

func (m *meta) invalidate() {
	m.mu.Lock()
	m.expires = time.Time{}
	m.mu.Unlock()
}

// lock takes the cache, resetting it when it has expired.
func (m *meta) lock() {
	m.mu.Lock()
	now := time.Now()
	if now.After(m.expires) || m.descs == nil {
		m.traversals = map[string][]string{}
		m.pmids = map[string]protocol.PMID{}
		m.names = map[protocol.PMID][]string{}
		m.descs = map[protocol.PMID]protocol.Desc{}
		m.texts = map[textKey]textEntry{}
		m.labels = map[labelKey]labelEntry{}
		m.insts = map[protocol.InDom]*instSet{}
		m.prom = map[promKey]string{}
		m.hostname = ""
		m.expires = now.Add(m.ttl)
		m.gen++
	}
}

// generation is the cache's generation now (after any reset that is due).
func (m *meta) generation() uint64 {
	m.lock()
	g := m.gen
	m.mu.Unlock()
	return g
}

// traverse returns the leaf names at or below name.
func (s *session) traverse(name string) ([]string, error) {
	if s.private {
		return s.cn.pc.Traverse(name)
	}
	m := &s.col.meta
	m.lock()
	names, ok := m.traversals[name]
	m.mu.Unlock()
	if ok {
		return names, nil
	}
	names, err := s.cn.pc.Traverse(name)
	if err != nil {
		return nil, err
	}
	m.lock()
	if len(m.traversals) < maxTraversals {
		m.traversals[name] = names
	}
	m.mu.Unlock()
	return names, nil
}

// lookup maps names to PMIDs; unknown names (and non-leaves) get PMIDNull.
func (s *session) lookup(names []string) ([]protocol.PMID, error) {
	m := &s.col.meta
	out := make([]protocol.PMID, len(names))
	var missing []string
	var where []int
	m.lock()
	for i, n := range names {
		if id, ok := m.pmids[n]; ok && !s.private {
			out[i] = id
		} else {
			missing = append(missing, n)
			where = append(where, i)
		}
	}
	m.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	ids, err := s.cn.pc.LookupNames(missing)
	if err != nil {
		if len(missing) == 1 && (protocol.CodeOf(err) == protocol.ErrName || protocol.CodeOf(err) == protocol.ErrNonLeaf) {
			ids, err = []protocol.PMID{protocol.PMIDNull}, nil
		} else {
			return nil, err
		}
	}
	m.lock()
	for k, id := range ids {
		out[where[k]] = id
		if !s.private {
			m.pmids[missing[k]] = id
		}
	}
	m.mu.Unlock()
	return out, nil
}

// descs returns the descriptors of pmids; unavailable ones have PMID PMIDNull.
func (s *session) descs(pmids []protocol.PMID) ([]protocol.Desc, error) {
	m := &s.col.meta
	out := make([]protocol.Desc, len(pmids))
	var missing []protocol.PMID
	var where []int
	m.lock()
	for i, id := range pmids {
		if id == protocol.PMIDNull {
			out[i] = protocol.Desc{PMID: protocol.PMIDNull}
			continue
		}
		if d, ok := m.descs[id]; ok && !s.privateID(uint32(id)) {
			out[i] = d
		} else {
			missing = append(missing, id)
			where = append(where, i)
		}
	}
	m.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	ds, err := s.cn.pc.Descs(missing)
	if err != nil {
		if len(missing) != 1 || transport(err) {
			return nil, err
		}
		ds = []protocol.Desc{{PMID: protocol.PMIDNull}}
	}
	m.lock()
	for k, d := range ds {
		out[where[k]] = d
		if !s.privateID(uint32(missing[k])) {
			m.descs[missing[k]] = d
		}
	}
	m.mu.Unlock()
	return out, nil
}

// text returns one-line or long help (kind as for pmapi's Text, TextDirect
// implied); ok is false when there is none.
func (s *session) text(ident uint32, kind int32) (string, bool, error) {
	m := &s.col.meta
	key := textKey{ident, kind}
	private := kind&protocol.TextPMID != 0 && s.privateID(ident)
	m.lock()
	e, ok := m.texts[key]
	m.mu.Unlock()
	if ok && !private {
		return e.text, e.ok, nil
	}
	t, err := s.cn.pc.Text(ident, kind|pmapi.TextDirect)
	if err != nil {
		if transport(err) {
			return "", false, err
		}
		e = textEntry{}
	} else {
		e = textEntry{text: t, ok: true}
	}
	if !private {
		m.lock()
		m.texts[key] = e
		m.mu.Unlock()
	}
	return e.text, e.ok, nil
}

// labelSets returns the label sets of one object (nil when it has none or the
// collector does not do labels).
func (s *session) labelSets(ident uint32, kind int32) ([]protocol.LabelSet, error) {
	m := &s.col.meta
	key := labelKey{ident, kind}
	if kind == protocol.LabelCluster {
		// One request per cluster, whichever of its metrics asks.
		p := protocol.PMID(ident)
		key.ident = uint32(protocol.NewPMID(p.Domain(), p.Cluster(), 0))
	}
	m.lock()
	e, ok := m.labels[key]
	m.mu.Unlock()
	if ok {
		return e.sets, nil
	}
	sets, err := s.cn.pc.Labels(ident, kind)
	if err != nil {
		if transport(err) {
			return nil, err
		}
		sets = nil
	}
	m.lock()
	m.labels[key] = labelEntry{sets: sets}
	m.mu.Unlock()
	return sets, nil
}

// labelSet returns the first label set of an object, or nil.
func (s *session) labelSet(ident uint32, kind int32) (*protocol.LabelSet, error) {
	sets, err := s.labelSets(ident, kind)
	if err != nil || len(sets) == 0 {
		return nil, err
	}
	return &sets[0], nil
}

// contextLabels, domainLabels ... are the levels of the label hierarchy.
func (s *session) contextLabels() (*protocol.LabelSet, error) {
	return s.labelSet(0xFFFFFFFF, protocol.LabelContext)
}

// metricLabelSets returns the context, domain, indom, cluster and item sets of a
// metric (nil where absent); withDomain false leaves the domain's out, as
// pmproxy's scrape and instance listings do.
func (s *session) metricLabelSets(d protocol.Desc, withDomain bool) ([]*protocol.LabelSet, error) {
	var sets []*protocol.LabelSet
	add := func(ident uint32, kind int32) error {
		l, err := s.labelSet(ident, kind)
		if err != nil {
			return err
		}
		sets = append(sets, l)
		return nil
	}
	if err := add(0xFFFFFFFF, protocol.LabelContext); err != nil {
		return nil, err
	}
	if withDomain {
		if err := add(d.PMID.Domain(), protocol.LabelDomain); err != nil {
			return nil, err
		}
	}
	if d.InDom != protocol.InDomNull {
		if err := add(uint32(d.InDom), protocol.LabelInDom); err != nil {
			return nil, err
		}
	}
	if err := add(uint32(d.PMID), protocol.LabelCluster); err != nil {
		return nil, err
	}
	if err := add(uint32(d.PMID), protocol.LabelItem); err != nil {
		return nil, err
	}
	return sets, nil
}

// instances returns an instance domain's instances and labels; refresh reloads
// them (an instance appeared that the cache does not know).
func (s *session) instances(indom protocol.InDom, refresh bool) (*instSet, error) {
	m := &s.col.meta
	m.lock()
	is, ok := m.insts[indom]
	m.mu.Unlock()
	if ok && !refresh {
		return is, nil
	}
	list, err := s.cn.pc.InDom(indom)
	if err != nil {
		if transport(err) {
			return nil, err
		}
		list = nil
	}
	is = &instSet{list: list, names: make(map[uint32]string, len(list)), labels: map[uint32]*protocol.LabelSet{}}
	for _, in := range list {
		is.names[in.ID] = in.Name
	}
	if len(list) > 0 {
		sets, err := s.cn.pc.InstancesLabels(indom)
		if err != nil && transport(err) {
			return nil, err
		}
		for i := range sets {
			is.labels[sets[i].Inst] = &sets[i]
		}
	}
	m.lock()
	m.insts[indom] = is
	if refresh {
		m.prom = map[promKey]string{} // instance names or labels may have changed
	}
	m.mu.Unlock()
	return is, nil
}

// namesOf returns the names of a PMID (nil when it has none).
func (s *session) namesOf(pmid protocol.PMID) ([]string, error) {
	m := &s.col.meta
	private := s.privateID(uint32(pmid))
	m.lock()
	names, ok := m.names[pmid]
	m.mu.Unlock()
	if ok && !private {
		return names, nil
	}
	names, err := s.cn.pc.NameAll(pmid)
	if err != nil {
		if transport(err) {
			return nil, err
		}
		names = nil
	}
	if !private {
		m.lock()
		m.names[pmid] = names
		m.mu.Unlock()
	}
	return names, nil
}

// hostName is pmGetContextHostName.
func (s *session) hostName() string {
	m := &s.col.meta
	m.lock()
	h := m.hostname
	m.mu.Unlock()
	if h != "" {
		return h
	}
	h = s.cn.pc.HostName()
	m.lock()
	m.hostname = h
	m.mu.Unlock()
	return h
}

// derivedDomain is the PMID domain of derived metrics.
const derivedDomain = 511

// privateID reports whether a PMID may name one of the context's own derived
// metrics, whose metadata must not be shared through the collector's cache.
func (s *session) privateID(id uint32) bool {
	return s.private && protocol.PMID(id).Domain() == derivedDomain
}
