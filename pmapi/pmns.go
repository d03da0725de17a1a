package pmapi

import (
	"github.com/gopcp/gopcp/protocol"
)

// MaxNamesRequest is the largest PMNS_NAMES request LookupNames sends: pmcd drops
// clients whose PDUs exceed 64 KiB, so longer name lists are split (libpcp itself
// never splits; its callers such as pminfo keep their batches below 63 KiB).
const MaxNamesRequest = protocol.DefaultMaxPDUSize

// Traverse returns every leaf name at or below name ("" is the whole namespace), in
// the order pmcd sends them (PMNS_TRAVERSE). An unknown name is PM_ERR_NAME.
//
// Derived metrics available in the context follow pmcd's names, as in libpcp.
func (c *Context) Traverse(name string) ([]string, error) {
	p, err := c.call(&protocol.NameReq{Name: name}, protocol.TypePMNSNames)
	if c.derived == nil {
		if err != nil {
			return nil, err
		}
		return p.(*protocol.PMNSNames).Names, nil
	}
	var names []string
	if err != nil {
		if protocol.CodeOf(err) != protocol.ErrName {
			return nil, err
		}
	} else {
		names = p.(*protocol.PMNSNames).Names
	}
	derived := c.derivedBelow(name, names)
	if err != nil && len(derived) == 0 {
		return nil, err
	}
	return append(names, derived...), nil
}

// Children returns the immediate child components of name and whether each is a
// non-leaf (PMNS_CHILD with status). A leaf has no children.
func (c *Context) Children(name string) (names []string, nonleaf []bool, err error) {
	p, err := c.call(&protocol.NameReq{Child: true, Subtype: 1, Name: name}, protocol.TypePMNSNames)
	if err != nil {
		return nil, nil, err
	}
	r := p.(*protocol.PMNSNames)
	nonleaf = make([]bool, len(r.Names))
	for i := range r.Names {
		if i < len(r.Status) {
			nonleaf[i] = r.Status[i] == protocol.PMNSNonLeaf
		}
	}
	return r.Names, nonleaf, nil
}

// LookupNames maps names to PMIDs (pmLookupName). With one name, failure is an
// error (PM_ERR_NAME for an unknown name). With several, unknown names get
// protocol.PMIDNull in place and the error is nil. Lists whose request would exceed
// MaxNamesRequest are sent in several PDUs.
func (c *Context) LookupNames(names []string) ([]protocol.PMID, error) {
	if len(names) == 0 {
		return nil, pcpErr(protocol.ErrTooSmall)
	}
	if c.derived != nil {
		return c.lookupWithDerived(names)
	}
	return c.lookupNames(names)
}

// lookupWithDerived resolves names as libpcp's pmLookupName does with derived
// metrics: at pmcd first, then the names pmcd does not know among the derived
// metrics available in the context (a namespace name hides a derived one).
func (c *Context) lookupWithDerived(names []string) ([]protocol.PMID, error) {
	ids, err := c.lookupNames(names)
	if err != nil {
		if len(names) != 1 || !isNameError(err) {
			return nil, err
		}
		if id, ok := c.derivedPMID(names[0]); ok {
			return []protocol.PMID{id}, nil
		}
		return nil, err
	}
	for i, id := range ids {
		if id == protocol.PMIDNull {
			if did, ok := c.derivedPMID(names[i]); ok {
				ids[i] = did
			}
		}
	}
	return ids, nil
}

// lookupNames is LookupNames at pmcd.
func (c *Context) lookupNames(names []string) ([]protocol.PMID, error) {
	ids := make([]protocol.PMID, 0, len(names))
	for start := 0; start < len(names); {
		end, size := start, 24
		for end < len(names) {
			n := 4 + (len(names[end])+3)&^3
			if end > start && size+n > MaxNamesRequest {
				break
			}
			size += n
			end++
		}
		batch := names[start:end]
		p, err := c.call(&protocol.PMNSNames{Names: batch}, protocol.TypePMNSIDs)
		if err != nil {
			if len(names) == 1 {
				return nil, err
			}
			if pe, ok := err.(*protocol.Error); ok && (pe.Code == protocol.ErrName || pe.Code == protocol.ErrNonLeaf) {
				// A one-name batch inside a longer list: report in place.
				for range batch {
					ids = append(ids, protocol.PMIDNull)
				}
				start = end
				continue
			}
			return nil, err
		}
		r := p.(*protocol.PMNSIDs)
		if len(r.IDs) != len(batch) {
			return nil, pcpErr(protocol.ErrIPC)
		}
		ids = append(ids, r.IDs...)
		start = end
	}
	if len(names) == 1 && ids[0] == protocol.PMIDNull {
		return nil, pcpErr(protocol.ErrName)
	}
	return ids, nil
}

// NameAll returns every name of pmid (pmNameAll; PMNS_IDS). An unknown PMID is
// PM_ERR_PMID.
func (c *Context) NameAll(pmid protocol.PMID) ([]string, error) {
	if d := c.derivedDef(pmid); d != nil {
		return []string{d.Name}, nil
	}
	p, err := c.call(&protocol.PMNSIDs{Status: 0, IDs: []protocol.PMID{pmid}}, protocol.TypePMNSNames)
	if err != nil {
		return nil, err
	}
	names := p.(*protocol.PMNSNames).Names
	if len(names) == 0 {
		return nil, pcpErr(protocol.ErrPMID)
	}
	return names, nil
}

// NameID returns the first name of pmid (pmNameID).
func (c *Context) NameID(pmid protocol.PMID) (string, error) {
	names, err := c.NameAll(pmid)
	if err != nil {
		return "", err
	}
	return names[0], nil
}
