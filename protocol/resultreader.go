package protocol

import "encoding/binary"

// ResultReader walks the body of a fetch reply (RESULT or HIGHRES_RESULT) in
// place: value set by value set, value by value, with every check Result's
// decoder makes (Result's decoder is built on it). A caller that turns a reply
// straight into another form (proxyd writes its JSON this way) reads it
// without copying anything and refuses exactly the replies Decode refuses.
//
// Call Set once per value set (N of them) and, after a Set with numval > 0,
// Value numval times; End checks what is left. Sets and values a caller skips
// are still read and checked (by the next Set, or by End), so stopping early
// never lets a malformed reply through.
type ResultReader struct {
	Sec  int64 // seconds
	Nsec int64 // nanoseconds (microseconds*1000 for the legacy form)
	N    int   // value sets in the reply

	d      dec
	fixed  int   // the fixed part of the PDU, header included
	blocks int   // padded bytes of all value blocks referenced so far
	sets   int   // value sets not read yet
	left   int32 // values of the current set not read yet
	insitu bool  // the current set's values are insitu
}

// NewResultReader starts reading body, a RESULT's (highres false) or a
// HIGHRES_RESULT's body: the PDU after its 12-byte header.
func NewResultReader(body []byte, highres bool) (ResultReader, error) {
	r := ResultReader{d: dec{b: body}, fixed: 24}
	var n int32
	if highres {
		r.fixed = 32
		n = r.d.i32()
		r.Sec = r.d.i64()
		r.Nsec = r.d.i64()
	} else {
		r.Sec = int64(r.d.i32())
		r.Nsec = int64(r.d.i32()) * 1000
		n = r.d.i32()
	}
	if r.d.err != nil {
		return r, r.d.err
	}
	// Each value set takes at least 8 bytes.
	if n < 0 || int64(n)*8 > int64(len(body)-r.d.off) {
		return r, ErrCount
	}
	r.N, r.sets = int(n), int(n)
	return r, nil
}

// Set reads the next value set's head: its PMID, its number of values (< 0:
// an error code for the metric, and no values follow) and, when it has values,
// their format.
func (r *ResultReader) Set() (pmid PMID, numval, valfmt int32, err error) {
	if err := r.skipValues(); err != nil {
		return 0, 0, 0, err
	}
	if r.sets == 0 {
		return 0, 0, 0, ErrCount
	}
	r.sets--
	pmid = PMID(r.d.u32())
	numval = r.d.i32()
	if r.d.err != nil {
		return 0, 0, 0, r.d.err
	}
	if numval <= 0 {
		return pmid, numval, 0, nil
	}
	valfmt = r.d.i32()
	if r.d.err != nil {
		return 0, 0, 0, r.d.err
	}
	if int64(numval)*8 > int64(len(r.d.b)-r.d.off) || valfmt < ValFmtInsitu || valfmt > ValFmtStatic {
		return 0, 0, 0, ErrCount
	}
	r.left, r.insitu = numval, valfmt == ValFmtInsitu
	return pmid, numval, valfmt, nil
}

// Value reads the current set's next value. A block value's Payload is a
// slice of the body, valid as long as the body is: copy it to keep it.
func (r *ResultReader) Value() (Value, error) {
	if r.left == 0 {
		return Value{}, ErrCount
	}
	r.left--
	var v Value
	v.Inst = r.d.u32()
	w := r.d.u32()
	if r.d.err != nil {
		return Value{}, r.d.err
	}
	if r.insitu {
		v.Insitu = w
		return v, nil
	}
	b := r.d.b
	// Offset in words from the start of the PDU, header included.
	boff := int64(w)*4 - HeaderSize
	if boff < int64(r.fixed-HeaderSize) || boff+4 > int64(len(b)) {
		return Value{}, ErrBadOffset
	}
	hdr := binary.BigEndian.Uint32(b[boff:])
	vlen := int64(hdr & 0xffffff)
	if vlen < 4 || boff+vlen > int64(len(b)) {
		return Value{}, ErrBadOffset
	}
	r.blocks += pad4(int(vlen))
	v.VType = uint8(hdr >> 24)
	v.Payload = b[boff+4 : boff+vlen : boff+vlen]
	return v, nil
}

// skipValues reads what is left of the current set.
func (r *ResultReader) skipValues() error {
	for r.left > 0 {
		if _, err := r.Value(); err != nil {
			return err
		}
	}
	return nil
}

// End reads and checks whatever sets and values were not read, then libpcp's
// rule: the value blocks follow the value sets back to back and the PDU ends
// after the last one.
func (r *ResultReader) End() error {
	for r.sets > 0 || r.left > 0 {
		if r.left > 0 {
			if err := r.skipValues(); err != nil {
				return err
			}
			continue
		}
		if _, _, _, err := r.Set(); err != nil {
			return err
		}
	}
	if r.d.err != nil {
		return r.d.err
	}
	if r.d.off+r.blocks != len(r.d.b) {
		return ErrLength
	}
	return nil
}
