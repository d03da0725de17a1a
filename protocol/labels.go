package protocol

import (
	"encoding/binary"
	"errors"
)

// Label types (classes); the same bits are used in label index flags.
const (
	LabelContext   int32 = 1
	LabelDomain    int32 = 2
	LabelInDom     int32 = 4
	LabelCluster   int32 = 8
	LabelItem      int32 = 16
	LabelInstances int32 = 32
	// Flag bits in LabelIndex.Flags beyond the class.
	LabelCompound uint8 = 0x40
	LabelOptional uint8 = 0x80
)

// Limits on label sets.
const (
	MaxLabels    = 255
	MaxLabelJSON = 65535
)

// LabelReq asks for the labels of a context, domain, indom, cluster, item or the
// instances of an indom.
type LabelReq struct {
	Ident uint32
	Kind  int32
}

func (*LabelReq) Type() int32 { return TypeLabelReq }

func (p *LabelReq) appendBody(b []byte) []byte {
	return appendI32(appendU32(b, p.Ident), p.Kind)
}

func (p *LabelReq) decodeBody(b []byte) error {
	d := dec{b: b}
	p.Ident = d.u32()
	p.Kind = d.i32()
	return d.end()
}

// LabelIndex locates one label inside its set's JSON: Name points past the key's
// opening quote, Value at the first byte of the value.
type LabelIndex struct {
	Name     uint16
	NameLen  uint8
	Flags    uint8
	Value    uint16
	ValueLen uint16
}

// LabelSet is one JSON object with its index.
type LabelSet struct {
	Inst   uint32
	JSON   string
	Labels []LabelIndex
}

// LabelPDU answers a LabelReq.
type LabelPDU struct {
	Ident uint32
	Kind  int32
	Sets  []LabelSet
}

func (*LabelPDU) Type() int32 { return TypeLabel }

func (p *LabelPDU) appendBody(b []byte) []byte {
	b = appendU32(b, p.Ident)
	b = appendI32(b, p.Kind)
	b = appendI32(b, 0)
	b = appendI32(b, int32(len(p.Sets)))
	json := HeaderSize + 16
	for _, s := range p.Sets {
		json += 16 + 8*len(s.Labels)
	}
	for _, s := range p.Sets {
		b = appendU32(b, s.Inst)
		b = appendI32(b, int32(len(s.Labels)))
		b = appendI32(b, int32(json))
		b = appendI32(b, int32(len(s.JSON)))
		json += len(s.JSON)
		for _, l := range s.Labels {
			b = binary.BigEndian.AppendUint16(b, l.Name)
			b = append(b, l.NameLen, l.Flags)
			b = binary.BigEndian.AppendUint16(b, l.Value)
			b = binary.BigEndian.AppendUint16(b, l.ValueLen)
		}
	}
	for _, s := range p.Sets {
		b = append(b, s.JSON...)
	}
	return b
}

func (p *LabelPDU) decodeBody(b []byte) error {
	d := dec{b: b}
	p.Ident = d.u32()
	p.Kind = d.i32()
	d.i32()
	n := d.count(16)
	if d.err != nil {
		return d.err
	}
	p.Sets = make([]LabelSet, n)
	for i := range p.Sets {
		s := &p.Sets[i]
		s.Inst = d.u32()
		nl := d.count(8)
		off := int64(d.i32()) - HeaderSize
		jl := int64(d.i32())
		if d.err != nil {
			return d.err
		}
		if nl > MaxLabels {
			return ErrCount
		}
		if off < 0 || jl < 0 || off+jl > int64(len(b)) {
			return ErrBadOffset
		}
		s.JSON = string(b[off : off+jl])
		s.Labels = make([]LabelIndex, nl)
		for j := range s.Labels {
			e := d.raw(8)
			if e == nil {
				return d.err
			}
			l := LabelIndex{Name: binary.BigEndian.Uint16(e), NameLen: e[2], Flags: e[3],
				Value: binary.BigEndian.Uint16(e[4:]), ValueLen: binary.BigEndian.Uint16(e[6:])}
			if int(l.Name)+int(l.NameLen) > len(s.JSON) || int(l.Value)+int(l.ValueLen) > len(s.JSON) {
				return ErrBadOffset
			}
			s.Labels[j] = l
		}
	}
	return d.err
}

var errLabelJSON = errors.New("labels: not a flat compact JSON object")

// NewLabelSet indexes a compact JSON object; every label gets the given flags.
func NewLabelSet(inst uint32, json string, flags uint8) (LabelSet, error) {
	s := LabelSet{Inst: inst, JSON: json}
	if len(json) > MaxLabelJSON {
		return s, errLabelJSON
	}
	i := 0
	if i >= len(json) || json[i] != '{' {
		return s, errLabelJSON
	}
	i++
	if i < len(json) && json[i] == '}' {
		if i+1 != len(json) {
			return s, errLabelJSON
		}
		return s, nil
	}
	for {
		if i >= len(json) || json[i] != '"' {
			return s, errLabelJSON
		}
		end := skipString(json, i)
		if end < 0 || end >= len(json) || json[end] != ':' {
			return s, errLabelJSON
		}
		name, nameLen := i+1, end-i-2
		v := end + 1
		vend := skipValue(json, v)
		if vend < 0 || nameLen > 255 {
			return s, errLabelJSON
		}
		s.Labels = append(s.Labels, LabelIndex{Name: uint16(name), NameLen: uint8(nameLen),
			Flags: flags, Value: uint16(v), ValueLen: uint16(vend - v)})
		if len(s.Labels) > MaxLabels {
			return s, errLabelJSON
		}
		if vend >= len(json) {
			return s, errLabelJSON
		}
		switch json[vend] {
		case ',':
			i = vend + 1
		case '}':
			if vend+1 != len(json) {
				return s, errLabelJSON
			}
			return s, nil
		default:
			return s, errLabelJSON
		}
	}
}

// skipString returns the index just past the string starting at s[i] == '"', or -1.
func skipString(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index just past the JSON value starting at s[i], or -1.
func skipValue(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				k := skipString(s, j)
				if k < 0 {
					return -1
				}
				j = k - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != '}' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
