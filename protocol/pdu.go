package protocol

import (
	"encoding/binary"
	"fmt"
)

// PDU type codes.
const (
	TypeError         int32 = 0x7000
	TypeResult        int32 = 0x7001
	TypeProfile       int32 = 0x7002
	TypeFetch         int32 = 0x7003
	TypeDescReq       int32 = 0x7004
	TypeDesc          int32 = 0x7005
	TypeInstanceReq   int32 = 0x7006
	TypeInstance      int32 = 0x7007
	TypeTextReq       int32 = 0x7008
	TypeText          int32 = 0x7009
	TypeControlReq    int32 = 0x700a
	TypeCreds         int32 = 0x700c
	TypePMNSIDs       int32 = 0x700d
	TypePMNSNames     int32 = 0x700e
	TypePMNSChild     int32 = 0x700f
	TypePMNSTraverse  int32 = 0x7010
	TypeAttr          int32 = 0x7011
	TypeLabelReq      int32 = 0x7012
	TypeLabel         int32 = 0x7013
	TypeHighresFetch  int32 = 0x7014
	TypeHighresResult int32 = 0x7015
	TypeDescIDs       int32 = 0x7016
	TypeDescs         int32 = 0x7017
)

// HeaderSize is the size of every PDU header: len, type, from.
const HeaderSize = 12

var typeNames = map[int32]string{
	TypeError: "ERROR", TypeResult: "RESULT", TypeProfile: "PROFILE", TypeFetch: "FETCH",
	TypeDescReq: "DESC_REQ", TypeDesc: "DESC", TypeInstanceReq: "INSTANCE_REQ",
	TypeInstance: "INSTANCE", TypeTextReq: "TEXT_REQ", TypeText: "TEXT",
	TypeControlReq: "CONTROL_REQ", TypeCreds: "CREDS", TypePMNSIDs: "PMNS_IDS",
	TypePMNSNames: "PMNS_NAMES", TypePMNSChild: "PMNS_CHILD", TypePMNSTraverse: "PMNS_TRAVERSE",
	TypeAttr: "ATTR", TypeLabelReq: "LABEL_REQ", TypeLabel: "LABEL",
	TypeHighresFetch: "HIGHRES_FETCH", TypeHighresResult: "HIGHRES_RESULT",
	TypeDescIDs: "DESC_IDS", TypeDescs: "DESCS",
}

// TypeName names a PDU type code as PCP's debug output does.
func TypeName(t int32) string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE-%#x", uint32(t))
}

// PDU is one protocol message. Every type in this package implements it.
type PDU interface {
	// Type is the PDU type code written in the header.
	Type() int32
	appendBody(b []byte) []byte
	decodeBody(b []byte) error
}

// Encode appends the whole PDU (header and body) to dst.
func Encode(dst []byte, p PDU, from int32) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendI32(dst, p.Type())
	dst = appendI32(dst, from)
	dst = p.appendBody(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}

// ParseHeader reads the three header words of b.
func ParseHeader(b []byte) (length, typ, from int32, err error) {
	if len(b) < HeaderSize {
		return 0, 0, 0, ErrShort
	}
	return int32(binary.BigEndian.Uint32(b)), int32(binary.BigEndian.Uint32(b[4:])),
		int32(binary.BigEndian.Uint32(b[8:])), nil
}

// Decode decodes one complete PDU. The length in the header must equal len(b).
// Decoded values never alias b, so b may be reused afterwards.
func Decode(b []byte) (PDU, int32, error) {
	length, typ, from, err := ParseHeader(b)
	if err != nil {
		return nil, 0, err
	}
	if int(length) != len(b) {
		return nil, from, ErrLength
	}
	p := newPDU(typ)
	if p == nil {
		return nil, from, fmt.Errorf("%w: %s", ErrBadType, TypeName(typ))
	}
	if err := p.decodeBody(b[HeaderSize:]); err != nil {
		return nil, from, fmt.Errorf("%s: %w", TypeName(typ), err)
	}
	return p, from, nil
}

func newPDU(t int32) PDU {
	switch t {
	case TypeError:
		return new(ErrorPDU)
	case TypeResult:
		return new(Result)
	case TypeHighresResult:
		return &Result{Highres: true}
	case TypeProfile:
		return new(Profile)
	case TypeFetch:
		return new(Fetch)
	case TypeHighresFetch:
		return &Fetch{Highres: true}
	case TypeDescReq:
		return new(DescReq)
	case TypeDesc:
		return new(DescPDU)
	case TypeInstanceReq:
		return new(InstanceReq)
	case TypeInstance:
		return new(InstancePDU)
	case TypeTextReq:
		return new(TextReq)
	case TypeText:
		return new(TextPDU)
	case TypeCreds:
		return new(Creds)
	case TypePMNSIDs:
		return new(PMNSIDs)
	case TypePMNSNames:
		return new(PMNSNames)
	case TypePMNSChild:
		return &NameReq{Child: true}
	case TypePMNSTraverse:
		return new(NameReq)
	case TypeAttr:
		return new(Attr)
	case TypeLabelReq:
		return new(LabelReq)
	case TypeLabel:
		return new(LabelPDU)
	case TypeDescIDs:
		return new(DescIDs)
	case TypeDescs:
		return new(Descs)
	}
	return nil
}

// ErrorPDU carries a status code. The 20-byte extended form (Extended true) with a
// Datum word is used only for the connection greeting.
type ErrorPDU struct {
	Code     int32
	Extended bool
	Datum    uint32
}

func (*ErrorPDU) Type() int32 { return TypeError }

func (p *ErrorPDU) appendBody(b []byte) []byte {
	b = appendI32(b, p.Code)
	if p.Extended {
		b = appendU32(b, p.Datum)
	}
	return b
}

func (p *ErrorPDU) decodeBody(b []byte) error {
	switch len(b) {
	case 4, 8:
	default:
		return ErrLength
	}
	d := dec{b: b}
	p.Code = d.i32()
	if len(b) == 8 {
		p.Extended = true
		p.Datum = d.u32()
	}
	return d.end()
}

// Creds is the client's first PDU: credential words, of which only CVERSION exists.
type Creds struct {
	Creds []uint32
}

// Credential word layout.
const (
	CredVersion  = 1 // c_type of the version credential
	PDUVersion   = 2 // protocol version spoken here
	maxCreds     = 1024
	credTypeMask = 0xff000000
)

// VersionCred builds the CVERSION credential word for the given feature flags.
func VersionCred(flags uint16) uint32 {
	return CredVersion<<24 | PDUVersion<<16 | uint32(flags)
}

// Flags returns the requested feature flags from the first version credential and
// whether one was present.
func (p *Creds) Flags() (version uint8, flags uint16, ok bool) {
	for _, c := range p.Creds {
		if c>>24 == CredVersion {
			return uint8(c >> 16), uint16(c), true
		}
	}
	return 0, 0, false
}

func (*Creds) Type() int32 { return TypeCreds }

func (p *Creds) appendBody(b []byte) []byte {
	b = appendI32(b, int32(len(p.Creds)))
	for _, c := range p.Creds {
		b = appendU32(b, c)
	}
	return b
}

func (p *Creds) decodeBody(b []byte) error {
	d := dec{b: b}
	n := d.count(4)
	if d.err == nil && (n < 1 || n > maxCreds) {
		return ErrCount
	}
	p.Creds = make([]uint32, n)
	for i := range p.Creds {
		p.Creds[i] = d.u32()
	}
	return d.end()
}

// Attr is an attribute (or SASL payload) PDU; the value is neither terminated nor padded.
type Attr struct {
	Attr  int32
	Value []byte
}

// MaxAttrValue is the largest attribute payload pmcd accepts.
const MaxAttrValue = 4096

func (*Attr) Type() int32 { return TypeAttr }

func (p *Attr) appendBody(b []byte) []byte {
	b = appendI32(b, p.Attr)
	return append(b, p.Value...)
}

func (p *Attr) decodeBody(b []byte) error {
	d := dec{b: b}
	p.Attr = d.i32()
	if d.err != nil {
		return d.err
	}
	if len(b)-4 >= MaxAttrValue {
		return ErrTooLarge
	}
	p.Value = append([]byte(nil), b[4:]...)
	return nil
}

// Profile is the client's instance profile for one context.
type Profile struct {
	CtxID   int32
	GState  int32
	Entries []ProfileEntry
}

// ProfileEntry restricts one instance domain: State 1 keeps only Insts, 0 drops them.
type ProfileEntry struct {
	InDom InDom
	State int32
	Insts []int32
}

// Profile states.
const (
	ProfileInclude int32 = 0
	ProfileExclude int32 = 1
)

func (*Profile) Type() int32 { return TypeProfile }

func (p *Profile) appendBody(b []byte) []byte {
	b = appendI32(b, p.CtxID)
	b = appendI32(b, p.GState)
	b = appendI32(b, int32(len(p.Entries)))
	b = appendI32(b, 0)
	for _, e := range p.Entries {
		b = appendU32(b, uint32(e.InDom))
		b = appendI32(b, e.State)
		b = appendI32(b, int32(len(e.Insts)))
		b = appendI32(b, 0)
	}
	for _, e := range p.Entries {
		for _, in := range e.Insts {
			b = appendI32(b, in)
		}
	}
	return b
}

func (p *Profile) decodeBody(b []byte) error {
	d := dec{b: b}
	p.CtxID = d.i32()
	p.GState = d.i32()
	n := d.count(16)
	d.u32()
	if d.err != nil {
		return d.err
	}
	p.Entries = make([]ProfileEntry, n)
	counts := make([]int, n)
	total := 0
	for i := range p.Entries {
		p.Entries[i].InDom = InDom(d.u32())
		p.Entries[i].State = d.i32()
		counts[i] = d.count(4)
		d.u32()
		total += counts[i]
		if d.err == nil && total*4 > len(b)-d.off {
			return ErrCount
		}
	}
	if d.err != nil {
		return d.err
	}
	for i := range p.Entries {
		p.Entries[i].Insts = make([]int32, counts[i])
		for j := range p.Entries[i].Insts {
			p.Entries[i].Insts[j] = d.i32()
		}
	}
	return d.end()
}
