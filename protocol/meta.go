package protocol

import "encoding/binary"

// DescReq asks for one metric descriptor.
type DescReq struct{ PMID PMID }

func (*DescReq) Type() int32 { return TypeDescReq }

func (p *DescReq) appendBody(b []byte) []byte { return appendU32(b, uint32(p.PMID)) }

func (p *DescReq) decodeBody(b []byte) error {
	d := dec{b: b}
	p.PMID = PMID(d.u32())
	return d.end()
}

// DescPDU answers a DescReq.
type DescPDU struct{ Desc Desc }

func (*DescPDU) Type() int32 { return TypeDesc }

func appendDesc(b []byte, d Desc) []byte {
	b = appendU32(b, uint32(d.PMID))
	b = appendI32(b, d.Type)
	b = appendU32(b, uint32(d.InDom))
	b = appendI32(b, d.Sem)
	return appendU32(b, uint32(d.Units))
}

func (d *dec) desc() Desc {
	return Desc{PMID: PMID(d.u32()), Type: d.i32(), InDom: InDom(d.u32()), Sem: d.i32(), Units: Units(d.u32())}
}

func (p *DescPDU) appendBody(b []byte) []byte { return appendDesc(b, p.Desc) }

func (p *DescPDU) decodeBody(b []byte) error {
	d := dec{b: b}
	p.Desc = d.desc()
	return d.end()
}

// DescIDs asks for several descriptors at once (sent only when the server has DESCS).
type DescIDs struct{ PMIDs []PMID }

func (*DescIDs) Type() int32 { return TypeDescIDs }

func (p *DescIDs) appendBody(b []byte) []byte { return appendIDList(b, -1, p.PMIDs) }

func (p *DescIDs) decodeBody(b []byte) error {
	sts, ids, err := decodeIDList(b)
	if err == nil && sts != -1 {
		return ErrCount
	}
	p.PMIDs = ids
	return err
}

// Descs answers DescIDs; a failed PMID is a Desc with PMID PMIDNull.
type Descs struct{ Descs []Desc }

func (*Descs) Type() int32 { return TypeDescs }

func (p *Descs) appendBody(b []byte) []byte {
	b = appendI32(b, int32(len(p.Descs)))
	for _, d := range p.Descs {
		b = appendDesc(b, d)
	}
	return b
}

func (p *Descs) decodeBody(b []byte) error {
	d := dec{b: b}
	n := d.count(20)
	p.Descs = make([]Desc, n)
	for i := range p.Descs {
		p.Descs[i] = d.desc()
	}
	return d.end()
}

func appendIDList(b []byte, sts int32, ids []PMID) []byte {
	b = appendI32(b, sts)
	b = appendI32(b, int32(len(ids)))
	for _, id := range ids {
		b = appendU32(b, uint32(id))
	}
	return b
}

func decodeIDList(b []byte) (int32, []PMID, error) {
	d := dec{b: b}
	sts := d.i32()
	n := d.count(4)
	ids := make([]PMID, n)
	for i := range ids {
		ids[i] = PMID(d.u32())
	}
	return sts, ids, d.end()
}

// PMNSIDs carries PMIDs: the reply to a name lookup (Status = number resolved) or a
// request for the names of one PMID (Status 0).
type PMNSIDs struct {
	Status int32
	IDs    []PMID
}

func (*PMNSIDs) Type() int32 { return TypePMNSIDs }

func (p *PMNSIDs) appendBody(b []byte) []byte { return appendIDList(b, p.Status, p.IDs) }

func (p *PMNSIDs) decodeBody(b []byte) (err error) {
	p.Status, p.IDs, err = decodeIDList(b)
	return err
}

// NameReq is PMNS_TRAVERSE (Child false) or PMNS_CHILD (Child true). For CHILD,
// Subtype 1 asks for leaf/non-leaf status.
type NameReq struct {
	Child   bool
	Subtype int32
	Name    string
}

func (p *NameReq) Type() int32 {
	if p.Child {
		return TypePMNSChild
	}
	return TypePMNSTraverse
}

func (p *NameReq) appendBody(b []byte) []byte {
	b = appendI32(b, p.Subtype)
	b = appendI32(b, int32(len(p.Name)))
	return appendPadded(b, p.Name, padByte)
}

func (p *NameReq) decodeBody(b []byte) error {
	d := dec{b: b}
	p.Subtype = d.i32()
	p.Name = string(d.padded(int(d.i32())))
	return d.end()
}

// PMNSNames is a list of names, with optional per-name status (0 leaf, 1 non-leaf).
type PMNSNames struct {
	Names  []string
	Status []int32 // nil, or one per name
}

// Name status values in PMNSNames.
const (
	PMNSLeaf    int32 = 0
	PMNSNonLeaf int32 = 1
)

func (*PMNSNames) Type() int32 { return TypePMNSNames }

func (p *PMNSNames) appendBody(b []byte) []byte {
	nstr := 0
	for _, n := range p.Names {
		nstr += len(n) + 1
	}
	b = appendI32(b, int32(nstr))
	b = appendI32(b, int32(len(p.Status)))
	b = appendI32(b, int32(len(p.Names)))
	for i, n := range p.Names {
		if len(p.Status) > 0 {
			b = appendI32(b, p.Status[i])
		}
		b = appendI32(b, int32(len(n)))
		b = appendPadded(b, n, padByte)
	}
	return b
}

func (p *PMNSNames) decodeBody(b []byte) error {
	d := dec{b: b}
	d.i32() // nstrbytes: a sizing hint only
	nstatus := d.i32()
	n := d.count(4)
	if d.err != nil {
		return d.err
	}
	if nstatus != 0 && int(nstatus) != n {
		return ErrCount
	}
	p.Names = make([]string, n)
	if nstatus > 0 {
		p.Status = make([]int32, n)
	}
	for i := range p.Names {
		if nstatus > 0 {
			p.Status[i] = d.i32()
		}
		p.Names[i] = string(d.padded(int(d.i32())))
	}
	return d.end()
}

// InstanceReq asks for all instances (Inst InNull, Name ""), the name of Inst, or the
// id of Name.
type InstanceReq struct {
	InDom InDom
	Inst  uint32
	Name  string
}

func (*InstanceReq) Type() int32 { return TypeInstanceReq }

func (p *InstanceReq) appendBody(b []byte) []byte {
	b = appendU32(b, uint32(p.InDom))
	b = appendI64(b, 0)
	b = appendU32(b, p.Inst)
	b = appendI32(b, int32(len(p.Name)))
	return appendPadded(b, p.Name, padByte)
}

func (p *InstanceReq) decodeBody(b []byte) error {
	d := dec{b: b}
	p.InDom = InDom(d.u32())
	d.i64()
	p.Inst = d.u32()
	p.Name = string(d.padded(int(d.i32())))
	return d.end()
}

// Instance is one instance of an instance domain.
type Instance struct {
	ID   uint32
	Name string
}

// InstancePDU answers an InstanceReq.
type InstancePDU struct {
	InDom     InDom
	Instances []Instance
}

func (*InstancePDU) Type() int32 { return TypeInstance }

func (p *InstancePDU) appendBody(b []byte) []byte {
	b = appendU32(b, uint32(p.InDom))
	b = appendI32(b, int32(len(p.Instances)))
	for _, in := range p.Instances {
		b = appendU32(b, in.ID)
		b = appendI32(b, int32(len(in.Name)))
		b = appendPadded(b, in.Name, padByte)
	}
	return b
}

func (p *InstancePDU) decodeBody(b []byte) error {
	d := dec{b: b}
	p.InDom = InDom(d.u32())
	n := d.count(8)
	p.Instances = make([]Instance, n)
	for i := range p.Instances {
		p.Instances[i].ID = d.u32()
		p.Instances[i].Name = string(d.padded(int(d.i32())))
	}
	return d.end()
}

// Text request kinds (OR'ed).
const (
	TextOneLine int32 = 1
	TextHelp    int32 = 2
	TextPMID    int32 = 4
	TextInDom   int32 = 8
)

// TextReq asks for one-line or long help of a PMID or InDom.
type TextReq struct {
	Ident uint32
	Kind  int32
}

func (*TextReq) Type() int32 { return TypeTextReq }

func (p *TextReq) appendBody(b []byte) []byte {
	return appendI32(appendU32(b, p.Ident), p.Kind)
}

func (p *TextReq) decodeBody(b []byte) error {
	d := dec{b: b}
	p.Ident = d.u32()
	p.Kind = d.i32()
	return d.end()
}

// TextPDU answers a TextReq. pmcd writes Ident in the agent's (little-endian) byte
// order; clients ignore it, and so do we on decode, but we write it the same way.
type TextPDU struct {
	Ident uint32
	Text  string
}

func (*TextPDU) Type() int32 { return TypeText }

func (p *TextPDU) appendBody(b []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, p.Ident)
	b = appendI32(b, int32(len(p.Text)))
	return appendPadded(b, p.Text, padByte)
}

func (p *TextPDU) decodeBody(b []byte) error {
	d := dec{b: b}
	p.Ident = d.u32()
	if d.err == nil {
		p.Ident = binary.LittleEndian.Uint32(b)
	}
	p.Text = string(d.padded(int(d.i32())))
	return d.end()
}
