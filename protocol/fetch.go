package protocol

import (
	"encoding/binary"
	"math"
)

// Fetch asks for the values of PMIDs (FETCH, or HIGHRES_FETCH when Highres).
type Fetch struct {
	CtxID   int32
	PMIDs   []PMID
	Highres bool
}

func (p *Fetch) Type() int32 {
	if p.Highres {
		return TypeHighresFetch
	}
	return TypeFetch
}

func (p *Fetch) appendBody(b []byte) []byte {
	b = appendI32(b, p.CtxID)
	b = appendI64(b, 0)
	b = appendI32(b, int32(len(p.PMIDs)))
	for _, id := range p.PMIDs {
		b = appendU32(b, uint32(id))
	}
	return b
}

func (p *Fetch) decodeBody(b []byte) error {
	d := dec{b: b}
	p.CtxID = d.i32()
	d.i64()
	n := d.count(4)
	if d.err == nil && n == 0 {
		return ErrCount
	}
	p.PMIDs = make([]PMID, n)
	for i := range p.PMIDs {
		p.PMIDs[i] = PMID(d.u32())
	}
	return d.end()
}

// Value formats in a value set.
const (
	ValFmtInsitu  int32 = 0
	ValFmtDynamic int32 = 1
	ValFmtStatic  int32 = 2
)

// Value is one instance's value. Insitu values (32-bit integers) live in Insitu;
// everything else is a value block of VType with Payload (no block header, no pad).
type Value struct {
	Inst    uint32
	Insitu  uint32
	VType   uint8
	Payload []byte
}

// ValueSet holds the values of one metric. NumVal < 0 is an error code for the
// metric; then Values is empty.
type ValueSet struct {
	PMID   PMID
	NumVal int32
	ValFmt int32
	Values []Value
}

// Result is a fetch reply (RESULT, or HIGHRES_RESULT when Highres) or a pmStore request.
type Result struct {
	Highres bool
	Sec     int64
	Nsec    int64 // nanoseconds (microseconds*1000 for the legacy form)
	VSets   []ValueSet
}

func (p *Result) Type() int32 {
	if p.Highres {
		return TypeHighresResult
	}
	return TypeResult
}

func (p *Result) fixedSize() int {
	if p.Highres {
		return 32
	}
	return 24
}

func (p *Result) appendBody(b []byte) []byte {
	start := len(b) - HeaderSize
	if p.Highres {
		b = appendI32(b, int32(len(p.VSets)))
		b = appendI64(b, p.Sec)
		b = appendI64(b, p.Nsec)
	} else {
		b = appendI32(b, int32(p.Sec))
		b = appendI32(b, int32(p.Nsec/1000))
		b = appendI32(b, int32(len(p.VSets)))
	}
	// Value blocks follow all value sets, back to back, in order of reference.
	off := p.fixedSize()
	for _, vs := range p.VSets {
		off += 8
		if vs.NumVal > 0 {
			off += 4 + 8*len(vs.Values)
		}
	}
	for _, vs := range p.VSets {
		b = appendU32(b, uint32(vs.PMID))
		if vs.NumVal <= 0 {
			b = appendI32(b, vs.NumVal)
			continue
		}
		b = appendI32(b, int32(len(vs.Values)))
		b = appendI32(b, vs.ValFmt)
		for _, v := range vs.Values {
			b = appendU32(b, v.Inst)
			if vs.ValFmt == ValFmtInsitu {
				b = appendU32(b, v.Insitu)
				continue
			}
			b = appendU32(b, uint32(off/4))
			off += pad4(4 + len(v.Payload))
		}
	}
	for _, vs := range p.VSets {
		if vs.NumVal <= 0 || vs.ValFmt == ValFmtInsitu {
			continue
		}
		for _, v := range vs.Values {
			b = appendU32(b, uint32(v.VType)<<24|uint32(4+len(v.Payload)))
			b = append(b, v.Payload...)
			for i := len(v.Payload); i%4 != 0; i++ {
				b = append(b, padByte)
			}
		}
	}
	_ = start
	return b
}

func (p *Result) decodeBody(b []byte) error {
	r, err := NewResultReader(b, p.Highres)
	if err != nil {
		return err
	}
	p.Sec, p.Nsec = r.Sec, r.Nsec
	p.VSets = make([]ValueSet, r.N)
	for i := range p.VSets {
		vs := &p.VSets[i]
		if vs.PMID, vs.NumVal, vs.ValFmt, err = r.Set(); err != nil {
			return err
		}
		if vs.NumVal <= 0 {
			continue
		}
		vs.Values = make([]Value, vs.NumVal)
		for j := range vs.Values {
			v, err := r.Value()
			if err != nil {
				return err
			}
			if v.Payload != nil {
				v.Payload = append([]byte(nil), v.Payload...)
			}
			vs.Values[j] = v
		}
	}
	return r.End()
}

// Constructors for values of each type, as pmcd encodes them.

// Insitu32 is a 32-bit integer value (PM_TYPE_32 or PM_TYPE_U32).
func Insitu32(inst, v uint32) Value { return Value{Inst: inst, Insitu: v} }

// Block64 is a 64-bit integer value (vtype PM_TYPE_64 or PM_TYPE_U64).
func Block64(inst uint32, vtype int32, v uint64) Value {
	return Value{Inst: inst, VType: uint8(vtype), Payload: binary.BigEndian.AppendUint64(nil, v)}
}

// BlockFloat is a PM_TYPE_FLOAT value.
func BlockFloat(inst uint32, v float32) Value {
	return Value{Inst: inst, VType: uint8(TypeFloat), Payload: binary.BigEndian.AppendUint32(nil, math.Float32bits(v))}
}

// BlockDouble is a PM_TYPE_DOUBLE value.
func BlockDouble(inst uint32, v float64) Value {
	return Value{Inst: inst, VType: uint8(TypeDouble), Payload: binary.BigEndian.AppendUint64(nil, math.Float64bits(v))}
}

// BlockString is a PM_TYPE_STRING value; the payload carries the terminating NUL.
func BlockString(inst uint32, s string) Value {
	p := make([]byte, len(s)+1)
	copy(p, s)
	return Value{Inst: inst, VType: uint8(TypeString), Payload: p}
}

// Typed accessors used by clients. typ is the metric's descriptor type; insitu tells
// whether the value set was insitu.

// Int64 returns an integer value of any integer type as int64 (U64 wraps).
func (v Value) Int64(typ int32, insitu bool) (int64, bool) {
	switch typ {
	case Type32:
		if insitu {
			return int64(int32(v.Insitu)), true
		}
		if len(v.Payload) >= 4 {
			return int64(int32(binary.BigEndian.Uint32(v.Payload))), true
		}
	case TypeU32:
		if insitu {
			return int64(v.Insitu), true
		}
		if len(v.Payload) >= 4 {
			return int64(binary.BigEndian.Uint32(v.Payload)), true
		}
	case Type64, TypeU64:
		if !insitu && len(v.Payload) >= 8 {
			return int64(binary.BigEndian.Uint64(v.Payload)), true
		}
	}
	return 0, false
}

// Float64 returns a FLOAT (widened) or DOUBLE value.
func (v Value) Float64(typ int32, insitu bool) (float64, bool) {
	switch typ {
	case TypeFloat:
		if insitu {
			return float64(math.Float32frombits(v.Insitu)), true
		}
		if len(v.Payload) >= 4 {
			return float64(math.Float32frombits(binary.BigEndian.Uint32(v.Payload))), true
		}
	case TypeDouble:
		if !insitu && len(v.Payload) >= 8 {
			return math.Float64frombits(binary.BigEndian.Uint64(v.Payload)), true
		}
	}
	return 0, false
}

// Str returns a STRING value without its terminating NUL.
func (v Value) Str() string {
	p := v.Payload
	for i, c := range p {
		if c == 0 {
			p = p[:i]
			break
		}
	}
	return string(p)
}
