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
// brackets) for the reply PDU p, read in place: what fetch writes from the
// decoded *protocol.Result, byte for byte, with no allocation. The reply is
// checked as protocol's decoder checks it (counts within the PDU, value
// block offsets and lengths, the blocks ending the PDU), so a reply one
// refuses the other refuses. Value sets are matched with the plan's metrics
// by position; sets past them are checked and left out, as fetch leaves them.
func appendRawResult(b, p []byte, plan *fetchPlan) ([]byte, error) {
	if len(p) < protocol.HeaderSize {
		return b, errRawResult
	}
	body := p[protocol.HeaderSize:]
	var sec, nsec int64
	var n, off, fixed int
	if int32(binary.BigEndian.Uint32(p[4:])) == protocol.TypeHighresResult {
		fixed = 32
		if len(body) < 20 {
			return b, errRawResult
		}
		n = int(int32(binary.BigEndian.Uint32(body)))
		sec = int64(binary.BigEndian.Uint64(body[4:]))
		nsec = int64(binary.BigEndian.Uint64(body[12:]))
		off = 20
	} else {
		fixed = 24
		if len(body) < 12 {
			return b, errRawResult
		}
		sec = int64(int32(binary.BigEndian.Uint32(body)))
		nsec = int64(int32(binary.BigEndian.Uint32(body[4:]))) * 1000
		n = int(int32(binary.BigEndian.Uint32(body[8:])))
		off = 12
	}
	if n < 0 || int64(n)*8 > int64(len(body)-off) {
		return b, errRawResult
	}
	b = appendTimestamp(b, sec, nsec)
	blocks := 0 // padded bytes of all value blocks referenced
	for k := range n {
		if len(body)-off < 8 {
			return b, errRawResult
		}
		numval := int32(binary.BigEndian.Uint32(body[off+4:]))
		off += 8
		show := k < len(plan.pmids)
		var d *protocol.Desc
		if show {
			if k > 0 {
				b = append(b, ',')
			}
			d = &plan.descs[k]
			b = append(b, plan.heads[k]...)
		}
		if numval > 0 {
			if len(body)-off < 4 {
				return b, errRawResult
			}
			valfmt := int32(binary.BigEndian.Uint32(body[off:]))
			off += 4
			if int64(numval)*8 > int64(len(body)-off) || valfmt < protocol.ValFmtInsitu || valfmt > protocol.ValFmtStatic {
				return b, errRawResult
			}
			insitu := valfmt == protocol.ValFmtInsitu
			for j := range int(numval) {
				inst := binary.BigEndian.Uint32(body[off:])
				w := binary.BigEndian.Uint32(body[off+4:])
				off += 8
				var vtype uint8
				var payload []byte
				if !insitu {
					// Offset in words from the start of the PDU, header included.
					boff := int64(w)*4 - protocol.HeaderSize
					if boff < int64(fixed-protocol.HeaderSize) || boff+4 > int64(len(body)) {
						return b, errRawResult
					}
					hdr := binary.BigEndian.Uint32(body[boff:])
					vlen := int64(hdr & 0xffffff)
					if vlen < 4 || boff+vlen > int64(len(body)) {
						return b, errRawResult
					}
					blocks += (int(vlen) + 3) &^ 3
					vtype, payload = uint8(hdr>>24), body[boff+4:boff+vlen]
				}
				if show {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendInstance(b, d, inst, decodeFields(d.Type, insitu, w, vtype, payload))
				}
			}
		}
		if show {
			b = append(b, "]}"...)
		}
	}
	// protocol's rule, libpcp's: the value blocks follow the value sets back
	// to back and the PDU ends after the last one.
	if off+blocks != len(body) {
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
