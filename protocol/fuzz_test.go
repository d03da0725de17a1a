package protocol

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// seedBodies adds the bodies of every sample and recorded PDU of type typ.
func seedBodies(f *testing.F, typ int32) {
	for _, p := range samples() {
		if p.Type() == typ {
			f.Add(Encode(nil, p, 0)[HeaderSize:])
		}
	}
	for _, tp := range loadTraces(f) {
		if _, t, _, _ := ParseHeader(tp.raw); t == typ {
			f.Add(tp.raw[HeaderSize:])
		}
	}
}

// fuzzBody checks one decoder: no panic, and whatever decodes re-encodes to a PDU
// that decodes to the same value.
func fuzzBody(f *testing.F, typ int32) {
	seedBodies(f, typ)
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<20 {
			return
		}
		b := make([]byte, HeaderSize, HeaderSize+len(body))
		b = append(b, body...)
		b[0], b[1], b[2], b[3] = byte(len(b)>>24), byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
		b[4], b[5], b[6], b[7] = byte(typ>>24), byte(typ>>16), byte(typ>>8), byte(typ)
		p, _, err := Decode(b)
		if err != nil {
			return
		}
		again := Encode(nil, p, 0)
		q, _, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", TypeName(typ), err)
		}
		if !bytes.Equal(Encode(nil, q, 0), again) {
			t.Fatalf("%s: encoding not stable", TypeName(typ))
		}
	})
}

func FuzzError(f *testing.F)         { fuzzBody(f, TypeError) }
func FuzzCreds(f *testing.F)         { fuzzBody(f, TypeCreds) }
func FuzzAttr(f *testing.F)          { fuzzBody(f, TypeAttr) }
func FuzzProfile(f *testing.F)       { fuzzBody(f, TypeProfile) }
func FuzzFetch(f *testing.F)         { fuzzBody(f, TypeFetch) }
func FuzzHighresFetch(f *testing.F)  { fuzzBody(f, TypeHighresFetch) }
func FuzzResult(f *testing.F)        { fuzzBody(f, TypeResult) }
func FuzzHighresResult(f *testing.F) { fuzzBody(f, TypeHighresResult) }
func FuzzDescReq(f *testing.F)       { fuzzBody(f, TypeDescReq) }
func FuzzDesc(f *testing.F)          { fuzzBody(f, TypeDesc) }
func FuzzDescIDs(f *testing.F)       { fuzzBody(f, TypeDescIDs) }
func FuzzDescs(f *testing.F)         { fuzzBody(f, TypeDescs) }
func FuzzInstanceReq(f *testing.F)   { fuzzBody(f, TypeInstanceReq) }
func FuzzInstance(f *testing.F)      { fuzzBody(f, TypeInstance) }
func FuzzTextReq(f *testing.F)       { fuzzBody(f, TypeTextReq) }
func FuzzText(f *testing.F)          { fuzzBody(f, TypeText) }
func FuzzPMNSTraverse(f *testing.F)  { fuzzBody(f, TypePMNSTraverse) }
func FuzzPMNSChild(f *testing.F)     { fuzzBody(f, TypePMNSChild) }
func FuzzPMNSNames(f *testing.F)     { fuzzBody(f, TypePMNSNames) }
func FuzzPMNSIDs(f *testing.F)       { fuzzBody(f, TypePMNSIDs) }
func FuzzLabelReq(f *testing.F)      { fuzzBody(f, TypeLabelReq) }
func FuzzLabel(f *testing.F)         { fuzzBody(f, TypeLabel) }

// FuzzDecode feeds whole PDUs of any type, header included.
func FuzzDecode(f *testing.F) {
	for _, tp := range loadTraces(f) {
		f.Add(tp.raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		Decode(b)
	})
}

// FuzzLabelSet indexes arbitrary JSON-ish strings.
func FuzzLabelSet(f *testing.F) {
	f.Add(`{"a":"b","c":[1,2],"d":{"e":null}}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		set, err := NewLabelSet(InNull, s, 1)
		if err != nil {
			return
		}
		for _, l := range set.Labels {
			if int(l.Name)+int(l.NameLen) > len(s) || int(l.Value)+int(l.ValueLen) > len(s) {
				t.Fatalf("index outside the JSON: %+v in %q", l, s)
			}
		}
	})
}

// FuzzReader feeds a stream in two pieces, with a pause between them, through Conn:
// every PDU read back must be exactly the bytes framed by its header, and the reader
// must neither panic nor accept more than the limit.
func FuzzReader(f *testing.F) {
	var stream []byte
	for i, tp := range loadTraces(f) {
		if i > 40 {
			break
		}
		stream = append(stream, tp.raw...)
	}
	f.Add(stream, uint16(7))
	f.Add([]byte("\x00\x00\x00\x14\x00\x00\x70\x0c\x00\x00\x00\x00\x00\x00\x00\x01\x01\x02\x00\x00"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		split := int(cut)
		if split > len(data) {
			split = len(data)
		}
		a, b := net.Pipe()
		defer a.Close()
		go func() {
			a.Write(data[:split])
			time.Sleep(time.Millisecond)
			a.Write(data[split:])
			a.Close()
		}()
		c := NewConn(b)
		c.MaxSize = 4096
		c.RequestTimeout = time.Second
		off := 0
		for {
			raw, err := c.ReadRaw()
			if err != nil {
				if errors.Is(err, io.EOF) && off != len(data) {
					t.Fatalf("EOF at %d of %d", off, len(data))
				}
				return
			}
			if len(raw) > 4096 {
				t.Fatalf("read %d bytes past the limit", len(raw))
			}
			if !bytes.Equal(raw, data[off:off+len(raw)]) {
				t.Fatalf("framing drifted at %d", off)
			}
			off += len(raw)
			Decode(raw)
		}
	})
}
