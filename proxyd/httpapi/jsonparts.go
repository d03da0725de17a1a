package httpapi

import "github.com/gopcp/gopcp/protocol"

// The pieces of a REST fetch's JSON, exported for the REST floor
// (internal/cmd/floorserver -loop rest): a relay that does nothing but a
// fetch, measured beside proxyd, answers with proxyd's bytes because it
// writes them with proxyd's own code, and no second encoder is kept in step
// by hand.

// AppendJSONString appends s as a JSON string, escaped as proxyd escapes text.
func AppendJSONString(b []byte, s string) []byte { return appendJSONString(b, s) }

// AppendTimestamp appends `,"timestamp":S.N,"values":[`, a fetch's time and
// the opening of its values.
func AppendTimestamp(b []byte, sec, nsec int64) []byte { return appendTimestamp(b, sec, nsec) }

// AppendValueJSON appends one value of a metric of type typ as a fetch writes
// it: numbers as numbers, strings as JSON strings, anything else null. insitu
// says whether the value set's format was insitu.
func AppendValueJSON(b []byte, typ int32, insitu bool, v protocol.Value) []byte {
	return decodeFields(typ, insitu, v.Insitu, v.VType, v.Payload).appendJSON(b)
}
