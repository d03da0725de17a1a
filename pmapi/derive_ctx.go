package pmapi

import (
	"strings"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// The hooks through which Context's namespace, metadata and fetch calls see
// derived metrics, in the places libpcp consults them (__dmtraverse,
// __dmgetpmid, __dmgetname, __dmdesc, __dmhelptext, __dmprefetch/__dmpostfetch).

// anonDesc is the descriptor of libpcp's anonymous event metrics.
func anonDesc(pmid protocol.PMID) protocol.Desc {
	return protocol.Desc{PMID: pmid, Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: protocol.SemDiscrete}
}

// derivedBelow returns the derived names at or below prefix ("" is all) that are
// available in c, in registration order. listed are the collector's names at or
// below prefix: a derived metric of one of those names is hidden.
func (c *Context) derivedBelow(prefix string, listed []string) []string {
	dc := c.derived
	if dc == nil {
		return nil
	}
	seen := make(map[string]bool, len(listed))
	for _, n := range listed {
		seen[n] = true
	}
	var out []string
	for _, d := range dc.currentSet().defs {
		if prefix != "" && d.Name != prefix && !strings.HasPrefix(d.Name, prefix+".") {
			continue
		}
		if seen[d.Name] {
			continue
		}
		if d.anon || dc.bind(c, d, true) != nil {
			out = append(out, d.Name)
		}
	}
	return out
}

// derivedPMID returns the PMID of an available derived metric called name, a
// name the collector's namespace does not have.
func (c *Context) derivedPMID(name string) (protocol.PMID, bool) {
	dc := c.derived
	if dc == nil {
		return protocol.PMIDNull, false
	}
	d := dc.currentSet().byName(name)
	if d == nil || (!d.anon && dc.bind(c, d, true) == nil) {
		return protocol.PMIDNull, false
	}
	return d.PMID, true
}

// derivedDef returns the definition owning pmid (bound or not).
func (c *Context) derivedDef(pmid protocol.PMID) *DerivedDef {
	if c.derived == nil {
		return nil
	}
	return c.derived.currentSet().byPMID(pmid)
}

// derivedDesc returns pmid's descriptor if it is a derived metric: ok false means
// pmid is not one; err PM_ERR_PMID means it is registered but unavailable here.
func (c *Context) derivedDesc(pmid protocol.PMID) (protocol.Desc, bool, error) {
	d := c.derivedDef(pmid)
	if d == nil {
		return protocol.Desc{}, false, nil
	}
	if d.anon {
		return anonDesc(pmid), true, nil
	}
	if bm := c.derived.bind(c, d, false); bm != nil {
		return bm.desc, true, nil
	}
	return protocol.Desc{}, true, pcpErr(protocol.ErrPMID)
}

// derivedText is __dmhelptext: a missing one-line text is PM_ERR_TEXT; long help
// falls back to the one-line text unless direct.
func derivedText(d *DerivedDef, kind int32, direct bool) (string, error) {
	if kind&protocol.TextOneLine != 0 {
		if !d.hasOne {
			return "", pcpErr(protocol.ErrText)
		}
		return d.Oneline, nil
	}
	if d.hasHelp {
		return d.Help, nil
	}
	if !direct && d.hasOne {
		return d.Oneline, nil
	}
	return "", pcpErr(protocol.ErrText)
}

// fetchDerived is Fetch with derived metrics: their operands join the one FETCH
// PDU, and their values are computed from the reply. Definitions are bound
// first, without the lock; the lock is then held across the fetch and the
// evaluation so that rate() and delta() see this context's samples in order.
//
// An operand that is itself a derived metric is not evaluated: libpcp 6.0.3
// sends its PMID (domain 511) to pmcd with the others, pmcd has no agent for
// it, and the metric built on it gets PM_ERR_NOAGENT. That answer is given here
// without asking the collector.
func (c *Context) fetchDerived(pmids []protocol.PMID) (*protocol.Result, error) {
	if len(pmids) == 0 {
		return nil, pcpErr(protocol.ErrTooSmall)
	}
	dc := c.derived
	set := dc.currentSet()
	var send []protocol.PMID
	anyDerived := false
	bms := make([]*boundMetric, len(pmids))
	local := map[protocol.PMID]*protocol.ValueSet{}
	for i, id := range pmids {
		if d := set.byPMID(id); d != nil {
			anyDerived = true
			if bm := dc.bind(c, d, false); bm != nil {
				bms[i] = bm
				for _, op := range bm.pmid {
					if op.Domain() == derivedDomain {
						local[op] = &protocol.ValueSet{PMID: op, NumVal: protocol.ErrNoAgent}
					} else if !containsPMID(send, op) {
						send = append(send, op)
					}
				}
			}
			continue
		}
		send = append(send, id)
	}
	if !anyDerived {
		return c.fetchPMIDs(pmids)
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	out := &protocol.Result{}
	got := local
	if len(send) > 0 {
		r, err := c.fetchPMIDs(send)
		if err != nil {
			return nil, err
		}
		if len(r.VSets) != len(send) {
			return nil, pcpErr(protocol.ErrIPC)
		}
		out.Highres, out.Sec, out.Nsec = r.Highres, r.Sec, r.Nsec
		for i := range r.VSets {
			if _, dup := got[send[i]]; !dup {
				got[send[i]] = &r.VSets[i]
			}
		}
	} else {
		now := time.Now()
		out.Highres, out.Sec, out.Nsec = true, now.Unix(), int64(now.Nanosecond())
	}
	env := &evalEnv{vsets: got, stamp: float64(out.Sec) + float64(out.Nsec)/1e9, c: c}
	for i, id := range pmids {
		switch d := set.byPMID(id); {
		case d == nil:
			out.VSets = append(out.VSets, *got[id])
		case d.anon:
			out.VSets = append(out.VSets, protocol.ValueSet{PMID: id})
		case bms[i] == nil:
			out.VSets = append(out.VSets, protocol.ValueSet{PMID: id, NumVal: protocol.ErrPMID})
		default:
			bm := bms[i]
			n := bm.root.eval(env)
			out.VSets = append(out.VSets, encodeValues(id, bm.desc.Type, n, bm.root.vals))
		}
	}
	return out, nil
}
