package protocol

import (
	"encoding/binary"
	"errors"
)

// Sentinel decode errors. Every decoder returns one of these (wrapped at most once);
// none of them panics or allocates more than the PDU it was given.
var (
	ErrShort     = errors.New("pdu: truncated")
	ErrLength    = errors.New("pdu: length field does not match the data")
	ErrCount     = errors.New("pdu: count out of range")
	ErrBadType   = errors.New("pdu: unexpected pdu type")
	ErrTooLarge  = errors.New("pdu: exceeds the size limit")
	ErrTrailing  = errors.New("pdu: trailing bytes")
	ErrBadOffset = errors.New("pdu: offset outside the pdu")
)

// padByte is what pmcd writes into padding; receivers ignore it.
const padByte = '~'

// pad4 rounds n up to a multiple of 4.
func pad4(n int) int { return (n + 3) &^ 3 }

// dec is a bounds-checked cursor over a PDU body.
type dec struct {
	b   []byte
	off int
	err error
}

func (d *dec) u32() uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b)-d.off < 4 {
		d.err = ErrShort
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *dec) i32() int32 { return int32(d.u32()) }

func (d *dec) i64() int64 {
	hi := d.u32()
	lo := d.u32()
	return int64(uint64(hi)<<32 | uint64(lo))
}

// bytes returns the next n bytes and skips the padding to the next word.
func (d *dec) padded(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 {
		d.err = ErrCount
		return nil
	}
	p := pad4(n)
	if p < n || len(d.b)-d.off < p {
		d.err = ErrShort
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += p
	return v
}

// raw returns the next n bytes without padding.
func (d *dec) raw(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.err = ErrShort
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

// count reads a count and checks that count*each more bytes can still follow, so a
// lying count can never make us allocate beyond the PDU.
func (d *dec) count(each int) int {
	n := d.i32()
	if d.err != nil {
		return 0
	}
	if n < 0 || int64(n)*int64(each) > int64(len(d.b)-d.off) {
		d.err = ErrCount
		return 0
	}
	return int(n)
}

// end reports an error when bytes remain.
func (d *dec) end() error {
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return ErrTrailing
	}
	return nil
}

func appendU32(b []byte, v uint32) []byte {
	return binary.BigEndian.AppendUint32(b, v)
}

func appendI32(b []byte, v int32) []byte { return appendU32(b, uint32(v)) }

func appendI64(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }

// appendPadded appends s and pad bytes up to the next word.
func appendPadded(b []byte, s string, padWith byte) []byte {
	b = append(b, s...)
	for i := len(s); i%4 != 0; i++ {
		b = append(b, padWith)
	}
	return b
}
