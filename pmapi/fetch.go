package pmapi

import (
	"slices"

	"github.com/gopcp/gopcp/protocol"
)

// profileEntry is the instance profile of one instance domain: with include true
// every instance except insts is fetched, otherwise only insts.
type profileEntry struct {
	indom   protocol.InDom
	include bool
	insts   []int32
}

// AddProfile adds instances to the instance profile (pmAddProfile). With no insts,
// indom's instances are all included again; with indom InDomNull and no insts the
// whole profile returns to "include everything". The profile is sent before the next
// fetch.
func (c *Context) AddProfile(indom protocol.InDom, insts []uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.profileSent = false
	if len(insts) == 0 {
		if indom == protocol.InDomNull {
			c.profileAll, c.profile = true, nil
			return
		}
		e := c.entry(indom)
		e.include, e.insts = true, nil
		return
	}
	e := c.entry(indom)
	for _, in := range insts {
		if e.include {
			e.insts = slices.DeleteFunc(e.insts, func(x int32) bool { return x == int32(in) })
		} else if !slices.Contains(e.insts, int32(in)) {
			e.insts = append(e.insts, int32(in))
		}
	}
}

// DelProfile removes instances from the instance profile (pmDelProfile). With no
// insts, no instance of indom is fetched; with indom InDomNull and no insts, no
// instance of any instance domain is.
func (c *Context) DelProfile(indom protocol.InDom, insts []uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.profileSent = false
	if len(insts) == 0 {
		if indom == protocol.InDomNull {
			c.profileAll, c.profile = false, nil
			return
		}
		e := c.entry(indom)
		e.include, e.insts = false, nil
		return
	}
	e := c.entry(indom)
	for _, in := range insts {
		if !e.include {
			e.insts = slices.DeleteFunc(e.insts, func(x int32) bool { return x == int32(in) })
		} else if !slices.Contains(e.insts, int32(in)) {
			e.insts = append(e.insts, int32(in))
		}
	}
}

func (c *Context) entry(indom protocol.InDom) *profileEntry {
	for i := range c.profile {
		if c.profile[i].indom == indom {
			return &c.profile[i]
		}
	}
	c.profile = append(c.profile, profileEntry{indom: indom, include: true})
	return &c.profile[len(c.profile)-1]
}

// sendProfile sends the instance profile if it changed since it was last sent (a
// PROFILE has no reply). The caller holds c.mu.
func (c *Context) sendProfile() error {
	if c.profileSent {
		return nil
	}
	p := &protocol.Profile{CtxID: 0, GState: protocol.ProfileInclude}
	if !c.profileAll {
		p.GState = protocol.ProfileExclude
	}
	for _, e := range c.profile {
		state := protocol.ProfileInclude
		if !e.include {
			state = protocol.ProfileExclude
		}
		p.Entries = append(p.Entries, protocol.ProfileEntry{InDom: e.indom, State: state, Insts: e.insts})
	}
	if err := c.send(p); err != nil {
		return err
	}
	c.profileSent = true
	return nil
}

// Fetch returns the current values of pmids (pmFetch): the instance profile is sent
// first if needed, then HIGHRES_FETCH when pmcd advertised HIGHRES, else FETCH.
// Value sets come back in the order of pmids; a metric-level failure is a negative
// NumVal in its value set.
func (c *Context) Fetch(pmids []protocol.PMID) (*protocol.Result, error) {
	// Only PMIDs of the derived domain can name derived metrics (byPMID):
	// without one, the fetch is the collector's alone, and the derived path's
	// bookkeeping would only cost.
	if c.derived != nil && slices.ContainsFunc(pmids, func(id protocol.PMID) bool { return id.Domain() == derivedDomain }) {
		return c.fetchDerived(pmids)
	}
	return c.fetchPMIDs(pmids)
}

// fetchPMIDs is one FETCH of pmcd's metrics.
func (c *Context) fetchPMIDs(pmids []protocol.PMID) (*protocol.Result, error) {
	if len(pmids) == 0 {
		return nil, pcpErr(protocol.ErrTooSmall)
	}
	highres := c.features&protocol.FeatureHighres != 0
	want := protocol.TypeResult
	if highres {
		want = protocol.TypeHighresResult
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.sendProfile(); err != nil {
		return nil, err
	}
	if err := c.send(&protocol.Fetch{CtxID: 0, PMIDs: pmids, Highres: highres}); err != nil {
		return nil, err
	}
	p, err := c.recv(want)
	if err != nil {
		return nil, err
	}
	return p.(*protocol.Result), nil
}

// Store asks pmcd to change metric values (pmStore). r is sent as a RESULT PDU;
// pmcd answers with an ERROR whose code 0 means success.
func (c *Context) Store(r *protocol.Result) error {
	req := *r
	req.Highres = false
	_, err := c.call(&req, protocol.TypeError)
	return err
}
