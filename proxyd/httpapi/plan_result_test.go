package httpapi

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// rawPlan is a plan of one metric of each kind fetch writes: insitu and block
// numbers, a string, a metric with instances, and a type no value matches.
func rawPlan() *fetchPlan {
	p := &fetchPlan{}
	for i, d := range []protocol.Desc{
		{Type: protocol.TypeFloat, InDom: protocol.NewInDom(60, 2)},
		{Type: protocol.TypeU64, InDom: protocol.InDomNull},
		{Type: protocol.TypeString, InDom: protocol.InDomNull},
		{Type: protocol.Type32, InDom: protocol.NewInDom(60, 1)},
		{Type: protocol.TypeDouble, InDom: protocol.InDomNull},
		{Type: protocol.TypeEvent, InDom: protocol.InDomNull},
	} {
		d.PMID = protocol.NewPMID(60, 0, uint32(i))
		p.pmids = append(p.pmids, d.PMID)
		p.descs = append(p.descs, d)
		p.heads = append(p.heads, `{"pmid":"`+d.PMID.String()+`","instances":[`)
	}
	return p
}

// rawSeeds are replies of both kinds: every value format, a failed metric,
// mismatched value types, more value sets than the plan has.
func rawSeeds() [][]byte {
	u64 := binary.BigEndian.AppendUint64(nil, 1<<63+5)
	dbl := binary.BigEndian.AppendUint64(nil, math.Float64bits(-2.5e-7))
	var out [][]byte
	for _, highres := range []bool{false, true} {
		r := &protocol.Result{Highres: highres, Sec: 1796612923, Nsec: 948455000, VSets: []protocol.ValueSet{
			{PMID: 1, NumVal: 3, ValFmt: protocol.ValFmtInsitu, Values: []protocol.Value{
				{Inst: 1, Insitu: math.Float32bits(0.25)}, {Inst: 5, Insitu: math.Float32bits(float32(math.NaN()))}, {Inst: 15, Insitu: 7}}},
			{PMID: 2, NumVal: 1, ValFmt: protocol.ValFmtDynamic, Values: []protocol.Value{{Inst: 0xffffffff, VType: uint8(protocol.TypeU64), Payload: u64}}},
			{PMID: 3, NumVal: 2, ValFmt: protocol.ValFmtStatic, Values: []protocol.Value{
				{VType: uint8(protocol.TypeString), Payload: []byte("6.18\"\\\x01é\u2029\xfe\x00pad")},
				{Inst: 2, VType: uint8(protocol.Type64), Payload: u64}}},
			{PMID: 4, NumVal: -12357},
			{PMID: 5, NumVal: 2, ValFmt: protocol.ValFmtDynamic, Values: []protocol.Value{
				{VType: uint8(protocol.TypeDouble), Payload: dbl}, {Inst: 3, VType: 0, Payload: dbl[:4]}}},
			{PMID: 6, NumVal: 1, ValFmt: protocol.ValFmtInsitu, Values: []protocol.Value{{Insitu: 9}}},
			{PMID: 7, NumVal: 1, ValFmt: protocol.ValFmtInsitu, Values: []protocol.Value{{Insitu: 10}}},
		}}
		out = append(out, protocol.Encode(nil, r, 0))
		r.VSets = r.VSets[:2]
		out = append(out, protocol.Encode(nil, r, 0))
		r.VSets = nil
		out = append(out, protocol.Encode(nil, r, 0))
	}
	return out
}

// checkRawResult holds appendRawResult to what fetch writes from protocol's
// decoding of the same reply: the same bytes, and an error exactly when
// protocol's decoder refuses it.
func checkRawResult(t *testing.T, p []byte) {
	t.Helper()
	plan := rawPlan()
	got, gerr := appendRawResult([]byte("head"), p, plan)
	dec, _, derr := protocol.Decode(p)
	res, isResult := dec.(*protocol.Result)
	if derr != nil || !isResult {
		if gerr == nil {
			t.Fatalf("protocol refuses the reply (%v), appendRawResult took it: %x", derr, p)
		}
		return
	}
	if gerr != nil {
		t.Fatalf("appendRawResult refuses a reply protocol decodes (%v): %x", gerr, p)
	}
	want := appendTimestamp([]byte("head"), res.Sec, res.Nsec)
	want = appendValueSets(want, res.VSets, plan, 0, len(plan.pmids), true)
	if !bytes.Equal(got, want) {
		t.Fatalf("reply %x\n got %s\nwant %s", p, got, want)
	}
}

// The seeds read in place write what the decoded path writes, and so does
// every seed with any one byte changed (counts, offsets, block lengths and
// types, formats) or cut short.
func TestRawResultAsDecoded(t *testing.T) {
	for _, seed := range rawSeeds() {
		checkRawResult(t, seed)
		for i := 4; i < len(seed); i++ {
			for _, v := range []byte{0, 1, 2, 0x7f, 0xff, seed[i] + 1, seed[i] - 1} {
				b := bytes.Clone(seed)
				b[i] = v
				if i >= 4 && i < 8 {
					continue // the type word: FetchRaw hands over replies of the fetch's type only
				}
				checkRawResult(t, b)
			}
		}
		for n := protocol.HeaderSize; n < len(seed); n++ {
			b := bytes.Clone(seed[:n])
			binary.BigEndian.PutUint32(b, uint32(n))
			checkRawResult(t, b)
		}
	}
}

// FuzzRawResult: any reply of a fetch's type reads in place as protocol
// decodes it (make fuzz).
func FuzzRawResult(f *testing.F) {
	for _, s := range rawSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) < protocol.HeaderSize {
			return
		}
		typ := protocol.TypeResult
		if p[7]&1 != 0 {
			typ = protocol.TypeHighresResult
		}
		p = bytes.Clone(p)
		binary.BigEndian.PutUint32(p, uint32(len(p)))
		binary.BigEndian.PutUint32(p[4:], uint32(typ))
		checkRawResult(t, p)
	})
}

// BenchmarkFetchJSON is the JSON of one fetch reply (the seed with every kind
// of value) read in place against decoded first, as fetch did before:
//
//	go test -run XXX -bench FetchJSON -benchmem ./proxyd/httpapi/
func BenchmarkFetchJSON(b *testing.B) {
	p := rawSeeds()[3]
	plan := rawPlan()
	buf := make([]byte, 0, 4096)
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := appendRawResult(buf[:0], p, plan); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, _, err := protocol.Decode(p)
			if err != nil {
				b.Fatal(err)
			}
			res := d.(*protocol.Result)
			out := appendTimestamp(buf[:0], res.Sec, res.Nsec)
			appendValueSets(out, res.VSets, plan, 0, len(plan.pmids), true)
		}
	})
}
