package httpapi

import (
	"encoding/binary"
	"errors"

	"github.com/gopcp/gopcp/protocol"
)

// errRawResult is a fetch reply appendRawResult refuses: one protocol's
// decoder refuses too (FetchRaw then reports PM_ERR_IPC, as Fetch does).
var errRawResult = errors.New("httpapi: malformed fetch reply")

// appendRawResult appends the fetch's JSON from its timestamp on
// (`,"timestamp":S.N,"values":[` and the value sets, without the closing
// brackets) for the reply PDU p, read in place through protocol's
// ResultReader: what fetch writes from the decoded *protocol.Result, byte for
// byte, with no allocation, and refusing what protocol's decoder refuses (the
// decoder reads through the same reader). Value sets are matched with the
// plan's metrics by position; sets past them are checked and left out, as
// fetch leaves them.
func appendRawResult(b, p []byte, plan *fetchPlan) ([]byte, error) {
	return AppendResultJSON(b, p, plan.heads, plan.descs)
}

// AppendResultJSON is appendRawResult for metrics given as heads[k] (the
// start of metric k's object, up to and including `"instances":[`) and
// descs[k]; sets past len(heads) are checked and left out. Exported for the
// REST floor (internal/cmd/floorserver -loop rest), whose answers are then
// proxyd's by construction.
func AppendResultJSON(b, p []byte, heads []string, descs []protocol.Desc) ([]byte, error) {
	if len(p) < protocol.HeaderSize {
		return b, errRawResult
	}
	highres := int32(binary.BigEndian.Uint32(p[4:])) == protocol.TypeHighresResult
	r, err := protocol.NewResultReader(p[protocol.HeaderSize:], highres)
	if err != nil {
		return b, errRawResult
	}
	b = appendTimestamp(b, r.Sec, r.Nsec)
	for k := range min(r.N, len(heads)) {
		_, numval, valfmt, err := r.Set()
		if err != nil {
			return b, errRawResult
		}
		if k > 0 {
			b = append(b, ',')
		}
		d := &descs[k]
		b = append(b, heads[k]...)
		for j := range max(numval, 0) {
			v, err := r.Value()
			if err != nil {
				return b, errRawResult
			}
			if j > 0 {
				b = append(b, ',')
			}
			b = appendInstance(b, d, v.Inst, decodeFields(d.Type, valfmt == protocol.ValFmtInsitu, v.Insitu, v.VType, v.Payload))
		}
		b = append(b, "]}"...)
	}
	if r.End() != nil {
		return b, errRawResult
	}
	return b, nil
}

// appendInstance appends one instance's {"instance":N|null,"value":V}.
func appendInstance(b []byte, d *protocol.Desc, inst uint32, v value) []byte {
	b = append(b, `{"instance":`...)
	if d.InDom == protocol.InDomNull {
		b = append(b, "null"...)
	} else {
		b = appendUint(b, uint64(inst))
	}
	b = append(b, `,"value":`...)
	b = v.appendJSON(b)
	return append(b, '}')
}
