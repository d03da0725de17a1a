package pmapi

import (
	"github.com/gopcp/gopcp/protocol"
)

// Desc returns the descriptor of pmid (DESC_REQ).
func (c *Context) Desc(pmid protocol.PMID) (protocol.Desc, error) {
	if d, ok, err := c.derivedDesc(pmid); ok {
		return d, err
	}
	p, err := c.call(&protocol.DescReq{PMID: pmid}, protocol.TypeDesc)
	if err != nil {
		return protocol.Desc{}, err
	}
	return p.(*protocol.DescPDU).Desc, nil
}

// Descs returns the descriptors of pmids in order (pmLookupDescs): one DESC_IDS
// request when pmcd advertised DESCS, else one DESC_REQ each. A PMID whose
// descriptor is unavailable gets a Desc with PMID protocol.PMIDNull; with a single
// PMID the failure is returned as the error instead.
func (c *Context) Descs(pmids []protocol.PMID) ([]protocol.Desc, error) {
	if len(pmids) == 0 {
		return nil, pcpErr(protocol.ErrTooSmall)
	}
	if c.derived != nil {
		for _, id := range pmids {
			if c.derivedDef(id) != nil {
				return c.descsOneByOne(pmids)
			}
		}
	}
	if c.features&protocol.FeatureDescs != 0 {
		p, err := c.call(&protocol.DescIDs{PMIDs: pmids}, protocol.TypeDescs)
		if err != nil {
			return nil, err
		}
		d := p.(*protocol.Descs).Descs
		if len(d) != len(pmids) {
			return nil, pcpErr(protocol.ErrIPC)
		}
		if len(d) == 1 && d[0].PMID == protocol.PMIDNull {
			return nil, pcpErr(protocol.ErrPMID)
		}
		return d, nil
	}
	return c.descsOneByOne(pmids)
}

// descsOneByOne is Descs with one Desc call per PMID.
func (c *Context) descsOneByOne(pmids []protocol.PMID) ([]protocol.Desc, error) {
	out := make([]protocol.Desc, len(pmids))
	for i, id := range pmids {
		d, err := c.Desc(id)
		if err != nil {
			if len(pmids) == 1 {
				return nil, err
			}
			if code := protocol.CodeOf(err); code == protocol.ErrIPC || code == protocol.ErrTimeout {
				return nil, err
			}
			d = protocol.Desc{PMID: protocol.PMIDNull}
		}
		out[i] = d
	}
	return out, nil
}

// InDom returns every instance of indom (pmGetInDom; INSTANCE_REQ).
func (c *Context) InDom(indom protocol.InDom) ([]protocol.Instance, error) {
	p, err := c.call(&protocol.InstanceReq{InDom: indom, Inst: protocol.InNull}, protocol.TypeInstance)
	if err != nil {
		return nil, err
	}
	return p.(*protocol.InstancePDU).Instances, nil
}

// InstanceName returns the name of one instance (pmNameInDom).
func (c *Context) InstanceName(indom protocol.InDom, inst uint32) (string, error) {
	p, err := c.call(&protocol.InstanceReq{InDom: indom, Inst: inst}, protocol.TypeInstance)
	if err != nil {
		return "", err
	}
	in := p.(*protocol.InstancePDU).Instances
	if len(in) == 0 {
		return "", pcpErr(protocol.ErrInst)
	}
	return in[0].Name, nil
}

// InstanceID returns the id of the instance called name (pmLookupInDom).
func (c *Context) InstanceID(indom protocol.InDom, name string) (uint32, error) {
	p, err := c.call(&protocol.InstanceReq{InDom: indom, Inst: protocol.InNull, Name: name}, protocol.TypeInstance)
	if err != nil {
		return 0, err
	}
	in := p.(*protocol.InstancePDU).Instances
	if len(in) == 0 {
		return 0, pcpErr(protocol.ErrInst)
	}
	return in[0].ID, nil
}

// Text kinds for Context.Text: one of TextOneLine or TextHelp (from package
// protocol), OR'ed with protocol.TextPMID (the default) or protocol.TextInDom, and
// optionally TextDirect.
const (
	// TextDirect disables the HELP -> ONELINE fallback (libpcp's PM_TEXT_DIRECT);
	// it is never sent to pmcd.
	TextDirect int32 = 16
)

// Text returns the one-line or long help text of a PMID or InDom (pmLookupText /
// pmLookupInDomText). As libpcp does, an empty long help is re-asked as one-line
// text unless kind has TextDirect. No text is PM_ERR_TEXT.
func (c *Context) Text(ident uint32, kind int32) (string, error) {
	direct := kind&TextDirect != 0
	kind &^= TextDirect
	if kind&(protocol.TextPMID|protocol.TextInDom) == 0 {
		kind |= protocol.TextPMID
	}
	if kind&protocol.TextPMID != 0 {
		if d := c.derivedDef(protocol.PMID(ident)); d != nil {
			return derivedText(d, kind, direct)
		}
	}
	for {
		p, err := c.call(&protocol.TextReq{Ident: ident, Kind: kind}, protocol.TypeText)
		if err != nil {
			return "", err
		}
		text := p.(*protocol.TextPDU).Text
		if text == "" && !direct && kind&protocol.TextHelp != 0 {
			kind = kind&^protocol.TextHelp | protocol.TextOneLine
			continue
		}
		return text, nil
	}
}

// Labels returns the label sets of one object (LABEL_REQ): kind is a protocol.Label*
// class; ident is 0xFFFFFFFF for the context, the domain number for a domain, the
// InDom for indom and instances, the PMID for cluster and item. Without LABELS in
// pmcd's features the answer is PM_ERR_NOLABELS, as libpcp gives.
func (c *Context) Labels(ident uint32, kind int32) ([]protocol.LabelSet, error) {
	if c.features&protocol.FeatureLabels == 0 {
		return nil, pcpErr(protocol.ErrNoLabels)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if kind == protocol.LabelInstances {
		if err := c.sendProfile(); err != nil {
			return nil, err
		}
	}
	if err := c.send(&protocol.LabelReq{Ident: ident, Kind: kind}); err != nil {
		return nil, err
	}
	p, err := c.recv(protocol.TypeLabel)
	if err != nil {
		return nil, err
	}
	l := p.(*protocol.LabelPDU)
	if l.Ident != ident || l.Kind != kind {
		c.broken = true
		return nil, pcpErr(protocol.ErrIPC)
	}
	return l.Sets, nil
}

// ContextLabels returns the context's label set(s) (pmGetContextLabels).
func (c *Context) ContextLabels() ([]protocol.LabelSet, error) {
	return c.Labels(uint32(protocol.InNull), protocol.LabelContext)
}

// DomainLabels returns a PMDA's labels (pmGetDomainLabels).
func (c *Context) DomainLabels(domain uint32) ([]protocol.LabelSet, error) {
	return c.Labels(domain, protocol.LabelDomain)
}

// InDomLabels returns an instance domain's labels (pmGetInDomLabels).
func (c *Context) InDomLabels(indom protocol.InDom) ([]protocol.LabelSet, error) {
	return c.Labels(uint32(indom), protocol.LabelInDom)
}

// ClusterLabels returns the labels of pmid's cluster (pmGetClusterLabels).
func (c *Context) ClusterLabels(pmid protocol.PMID) ([]protocol.LabelSet, error) {
	return c.Labels(uint32(pmid), protocol.LabelCluster)
}

// ItemLabels returns pmid's own labels (pmGetItemLabels).
func (c *Context) ItemLabels(pmid protocol.PMID) ([]protocol.LabelSet, error) {
	return c.Labels(uint32(pmid), protocol.LabelItem)
}

// InstancesLabels returns one label set per instance of indom
// (pmGetInstancesLabels).
func (c *Context) InstancesLabels(indom protocol.InDom) ([]protocol.LabelSet, error) {
	return c.Labels(uint32(indom), protocol.LabelInstances)
}
