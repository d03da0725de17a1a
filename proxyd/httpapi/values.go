package httpapi

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/gopcp/gopcp/protocol"
)

// value is one decoded metric value.
type value struct {
	kind int // kindInt, kindUint, kindFloat, kindString, kindOther
	i    int64
	u    uint64
	f    float64
	prec int // %g precision for floats: 8 (FLOAT) or 16 (DOUBLE)
	s    []byte
}

const (
	kindOther = iota
	kindInt
	kindUint
	kindFloat
	kindString
)

// decodeValue is pmExtractValue to the metric's own type. Values that do not match
// the type, aggregates and events are kindOther.
func decodeValue(typ int32, v *protocol.Value, insitu bool) value {
	return decodeFields(typ, insitu, v.Insitu, v.VType, v.Payload)
}

// decodeFields is decodeValue from a value's fields: the insitu word, or the
// value block's type and payload (for a reply read in place, appendRawResult).
func decodeFields(typ int32, insitu bool, word uint32, vtype uint8, p []byte) value {
	if insitu {
		switch typ {
		case protocol.Type32:
			return value{kind: kindInt, i: int64(int32(word))}
		case protocol.TypeU32:
			return value{kind: kindUint, u: uint64(word)}
		case protocol.TypeFloat:
			return value{kind: kindFloat, f: float64(math.Float32frombits(word)), prec: 8}
		}
		return value{}
	}
	if vt := int32(vtype); vt != 0 && vt != typ {
		return value{}
	}
	switch typ {
	case protocol.Type64:
		if len(p) == 8 {
			return value{kind: kindInt, i: int64(binary.BigEndian.Uint64(p))}
		}
	case protocol.TypeU64:
		if len(p) == 8 {
			return value{kind: kindUint, u: binary.BigEndian.Uint64(p)}
		}
	case protocol.TypeDouble:
		if len(p) == 8 {
			return value{kind: kindFloat, f: math.Float64frombits(binary.BigEndian.Uint64(p)), prec: 16}
		}
	case protocol.TypeFloat:
		if len(p) == 4 {
			return value{kind: kindFloat, f: float64(math.Float32frombits(binary.BigEndian.Uint32(p))), prec: 8}
		}
	case protocol.TypeString:
		if i := bytes.IndexByte(p, 0); i >= 0 {
			p = p[:i]
		}
		return value{kind: kindString, s: p}
	}
	return value{}
}

// appendJSON appends the value as pmproxy's fetch does: numbers as numbers (%.8g
// for FLOAT, %.16g for DOUBLE), strings as JSON strings; anything else (and
// non-finite floats, which JSON cannot carry) is null.
func (v value) appendJSON(b []byte) []byte {
	switch v.kind {
	case kindInt:
		return strconv.AppendInt(b, v.i, 10)
	case kindUint:
		return strconv.AppendUint(b, v.u, 10)
	case kindFloat:
		return appendJSONFloat(b, v.f, v.prec)
	case kindString:
		return appendJSONString(b, string(v.s))
	}
	return append(b, "null"...)
}

// appendProm appends a numeric value in the Prometheus text format; ok is false
// for values that are not numbers.
func (v value) appendProm(b []byte) ([]byte, bool) {
	switch v.kind {
	case kindInt:
		return strconv.AppendInt(b, v.i, 10), true
	case kindUint:
		return strconv.AppendUint(b, v.u, 10), true
	case kindFloat:
		switch {
		case math.IsNaN(v.f):
			return append(b, "NaN"...), true
		case math.IsInf(v.f, 1):
			return append(b, "+Inf"...), true
		case math.IsInf(v.f, -1):
			return append(b, "-Inf"...), true
		}
		return strconv.AppendFloat(b, v.f, 'g', v.prec, 64), true
	}
	return b, false
}

// numericType reports whether a metric type has an OpenMetrics form.
func numericType(t int32) bool {
	switch t {
	case protocol.Type32, protocol.TypeU32, protocol.Type64, protocol.TypeU64, protocol.TypeFloat, protocol.TypeDouble:
		return true
	}
	return false
}
