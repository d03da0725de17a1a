package protocol

import (
	"bytes"
	"errors"
	"testing"
)

// readerSample is a reply with an insitu set, a block set and an error code.
func readerSample(highres bool) (*Result, []byte) {
	r := &Result{Highres: highres, Sec: 1700000000, Nsec: 250000000, VSets: []ValueSet{
		{PMID: NewPMID(60, 0, 1), NumVal: 2, ValFmt: ValFmtInsitu, Values: []Value{Insitu32(0, 7), Insitu32(1, 9)}},
		{PMID: NewPMID(60, 0, 2), NumVal: 1, ValFmt: ValFmtDynamic, Values: []Value{BlockString(4, "on")}},
		{PMID: NewPMID(60, 0, 3), NumVal: -12357},
	}}
	return r, Encode(nil, r, 0)[HeaderSize:]
}

// TestResultReaderWalks: the reader gives what Decode gives, in place (a
// block's payload is the body's bytes, not a copy).
func TestResultReaderWalks(t *testing.T) {
	for _, hr := range []bool{false, true} {
		want, body := readerSample(hr)
		r, err := NewResultReader(body, hr)
		if err != nil || r.N != 3 || r.Sec != want.Sec || r.Nsec != want.Nsec {
			t.Fatalf("highres %v: %+v, %v", hr, r, err)
		}
		for _, vs := range want.VSets {
			pmid, numval, valfmt, err := r.Set()
			if err != nil || pmid != vs.PMID || numval != vs.NumVal || valfmt != vs.ValFmt {
				t.Fatalf("set %v: %v %d %d %v", vs.PMID, pmid, numval, valfmt, err)
			}
			for _, wv := range vs.Values {
				v, err := r.Value()
				if err != nil || v.Inst != wv.Inst || v.Insitu != wv.Insitu || v.VType != wv.VType || !bytes.Equal(v.Payload, wv.Payload) {
					t.Fatalf("value %+v: %+v %v", wv, v, err)
				}
				if len(v.Payload) > 0 && &v.Payload[0] != &body[bytes.Index(body, wv.Payload)] {
					t.Errorf("payload copied, want a slice of the body")
				}
			}
			if _, err := r.Value(); !errors.Is(err, ErrCount) {
				t.Errorf("a value past the set's count: %v, want ErrCount", err)
			}
		}
		if _, _, _, err := r.Set(); !errors.Is(err, ErrCount) {
			t.Errorf("a set past the reply's count: %v, want ErrCount", err)
		}
		if err := r.End(); err != nil {
			t.Errorf("End: %v", err)
		}
	}
}

// TestResultReaderChecksWhatIsSkipped: a caller that reads only the first set
// still has a malformed later set (or trailing bytes) refused by End, as
// Decode refuses the whole reply.
func TestResultReaderChecksWhatIsSkipped(t *testing.T) {
	_, good := readerSample(false)
	// The block set's value offset (the word after its instance) pointed
	// outside the PDU.
	bad := append([]byte(nil), good...)
	off := 12 + 8 + 4 + 16 + 8 + 4 + 4 // header fields, set 1 (head, valfmt, two values), set 2's head, valfmt, instance
	bad[off], bad[off+1], bad[off+2], bad[off+3] = 0, 0, 0xff, 0xff
	long := append(append([]byte(nil), good...), 0, 0, 0, 0)
	for name, tc := range map[string]struct {
		body []byte
		want error
	}{"bad offset in an unread set": {bad, ErrBadOffset}, "trailing bytes": {long, ErrLength}} {
		if err := (&Result{}).decodeBody(tc.body); !errors.Is(err, tc.want) {
			t.Fatalf("%s: Decode says %v, want %v", name, err, tc.want)
		}
		r, err := NewResultReader(tc.body, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := r.Set(); err != nil {
			t.Fatal(err)
		}
		if err := r.End(); !errors.Is(err, tc.want) {
			t.Errorf("%s: End after one set: %v, want %v", name, err, tc.want)
		}
	}
}
