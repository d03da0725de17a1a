package protocol

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

type tracePDU struct {
	file string
	line int
	dir  string
	raw  []byte
}

// loadTraces reads every PDU recorded between the real pminfo/pmval/pmprobe and the
// real pmcd 6.0.3 (the "hex:" lines of testdata/traces).
func loadTraces(t testing.TB) []tracePDU {
	files, _ := filepath.Glob("testdata/traces/*.txt")
	if len(files) == 0 {
		t.Fatal("no traces in testdata/traces")
	}
	var out []tracePDU
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		dir, n := "", 0
		for sc.Scan() {
			n++
			l := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(l, "[") {
				if f := strings.Fields(l); len(f) > 1 {
					dir = f[1]
				}
			}
			if h, ok := strings.CutPrefix(l, "hex: "); ok {
				b, err := hex.DecodeString(h)
				if err != nil {
					t.Fatalf("%s:%d: %v", f, n, err)
				}
				out = append(out, tracePDU{filepath.Base(f), n, dir, b})
			}
		}
		fh.Close()
	}
	return out
}

// TestTraceReplay decodes every recorded PDU and re-encodes it byte for byte.
func TestTraceReplay(t *testing.T) {
	types := map[int32]int{}
	for _, tp := range loadTraces(t) {
		p, from, err := Decode(tp.raw)
		if err != nil {
			t.Errorf("%s:%d %s: decode: %v", tp.file, tp.line, tp.dir, err)
			continue
		}
		types[p.Type()]++
		again := Encode(nil, p, from)
		if !bytes.Equal(again, tp.raw) {
			t.Errorf("%s:%d %s %s: re-encoded differs\n got %x\nwant %x", tp.file, tp.line, tp.dir, TypeName(p.Type()), again, tp.raw)
		}
	}
	// The traces must exercise every PDU type the tools use.
	for _, want := range []int32{TypeError, TypeCreds, TypePMNSTraverse, TypePMNSNames, TypePMNSIDs,
		TypeProfile, TypeHighresFetch, TypeHighresResult, TypeDescReq, TypeDesc, TypeTextReq, TypeText,
		TypeInstanceReq, TypeInstance, TypeLabelReq, TypeLabel, TypeResult} {
		if types[want] == 0 {
			t.Errorf("no %s PDU in the traces", TypeName(want))
		}
	}
}

// samples is one valid PDU of every type, for round trips and prefix checks.
func samples() []PDU {
	ls, _ := NewLabelSet(InNull, `{"agent":"linux","n":[1,{"a":"}"}],"x":true}`, uint8(LabelDomain))
	return []PDU{
		&ErrorPDU{Code: ErrPMID},
		Greeting(0, 0x0e55),
		&Creds{Creds: []uint32{VersionCred(FeatureSecure | FeatureSecureAck)}},
		&Attr{Attr: 15, Value: []byte("container-name")},
		&Profile{CtxID: 0, GState: 0, Entries: []ProfileEntry{{InDom: 0x0f000002, State: 1, Insts: []int32{5, 15}}, {InDom: 3, State: 0}}},
		&Fetch{CtxID: 0, PMIDs: []PMID{0x0f000800, 0x0f000020}},
		&Fetch{Highres: true, PMIDs: []PMID{0x0f000800}},
		&Result{Highres: true, Sec: 1795388149, Nsec: 204001499, VSets: []ValueSet{
			{PMID: 0x0f000800, NumVal: 3, ValFmt: ValFmtDynamic, Values: []Value{BlockFloat(1, 0.62), BlockFloat(5, 0.53), BlockFloat(15, 0.29)}},
			{PMID: 0x0f000020, NumVal: 1, ValFmt: ValFmtInsitu, Values: []Value{Insitu32(InNull, 2)}},
			{PMID: 0x00c02063, NumVal: ErrNoAgent},
			{PMID: 0x0f003000, NumVal: 1, ValFmt: ValFmtDynamic, Values: []Value{BlockString(InNull, "6.18.44-fc-v595")}},
			{PMID: 0x0f000014, NumVal: 1, ValFmt: ValFmtDynamic, Values: []Value{Block64(InNull, TypeU64, 215570)}},
			{PMID: 0x0f006800, NumVal: 1, ValFmt: ValFmtDynamic, Values: []Value{BlockDouble(InNull, 5426.83)}},
		}},
		&Result{Sec: 10, Nsec: 5000, VSets: []ValueSet{{PMID: 1, NumVal: 0}}},
		&DescReq{PMID: 0x0f000800},
		&DescPDU{Desc: Desc{PMID: 0x0f000800, Type: TypeFloat, InDom: 0x0f000002, Sem: SemInstant}},
		&DescIDs{PMIDs: []PMID{0x0f000020, 0x0f000800}},
		&Descs{Descs: []Desc{{PMID: 0x0f000020, Type: TypeU32, InDom: InDomNull, Sem: SemDiscrete}, {PMID: PMIDNull}}},
		&InstanceReq{InDom: 0x0f000002, Inst: InNull, Name: "5 minute"},
		&InstancePDU{InDom: 0x0f000002, Instances: []Instance{{1, "1 minute"}, {5, "5 minute"}, {15, "15 minute"}}},
		&TextReq{Ident: 0x0f000800, Kind: TextOneLine | TextPMID},
		&TextPDU{Ident: 0x0f000800, Text: "1, 5 and 15 minute load average"},
		&TextPDU{Ident: 0x0f000800, Text: ""},
		&NameReq{Name: "hinv.ncpu"},
		&NameReq{Child: true, Subtype: 1, Name: "kernel"},
		&PMNSNames{Names: []string{"hinv.ncpu", "kernel.all.load"}},
		&PMNSNames{Names: []string{"all", "percpu"}, Status: []int32{1, 1}},
		&PMNSNames{},
		&PMNSIDs{Status: 1, IDs: []PMID{0x0f000020, PMIDNull}},
		&LabelReq{Ident: 60, Kind: LabelDomain},
		&LabelPDU{Ident: 60, Kind: LabelDomain, Sets: []LabelSet{ls}},
		&LabelPDU{Ident: 0x0f000002, Kind: LabelInstances, Sets: []LabelSet{{Inst: 1}, {Inst: 5}}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, p := range samples() {
		b := Encode(nil, p, 7)
		q, from, err := Decode(b)
		if err != nil {
			t.Errorf("%s: %v", TypeName(p.Type()), err)
			continue
		}
		if from != 7 {
			t.Errorf("%s: from %d", TypeName(p.Type()), from)
		}
		if again := Encode(nil, q, 7); !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoding differs", TypeName(p.Type()))
		}
		if !reflect.DeepEqual(normalise(p), normalise(q)) {
			t.Errorf("%s: round trip\n got %#v\nwant %#v", TypeName(p.Type()), q, p)
		}
	}
}

// normalise maps nil and empty slices alike for comparison.
func normalise(p PDU) PDU {
	b := Encode(nil, p, 0)
	q, _, _ := Decode(b)
	return q
}

// TestNoPrefixDecodes: no strict prefix of a valid PDU (with its length patched to
// match, so only the body is short) decodes.
func TestNoPrefixDecodes(t *testing.T) {
	all := samples()
	for _, tp := range loadTraces(t) {
		p, _, err := Decode(tp.raw)
		if err == nil {
			all = append(all, p)
		}
	}
	for _, p := range all {
		b := Encode(nil, p, 0)
		for n := 0; n < len(b); n++ {
			pre := append([]byte(nil), b[:n]...)
			if n >= 4 {
				pre[0], pre[1], pre[2], pre[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
			}
			if q, _, err := Decode(pre); err == nil {
				// An ERROR of 16 bytes is a valid prefix of a 20-byte greeting only in
				// length; a LABEL/ATTR tail may be empty legitimately. Those are
				// different PDUs, not the same one truncated.
				if reflect.DeepEqual(normalise(q), normalise(p)) {
					t.Errorf("%s: prefix of %d/%d bytes decodes to the same PDU", TypeName(p.Type()), n, len(b))
				}
				if !allowedPrefix(p.Type()) {
					t.Errorf("%s: prefix of %d/%d bytes decodes", TypeName(p.Type()), n, len(b))
				}
			}
		}
	}
}

// allowedPrefix lists types whose format has no trailing count: a shorter ATTR is a
// shorter value, and the two ERROR forms differ only in length.
func allowedPrefix(t int32) bool { return t == TypeAttr || t == TypeError }

func TestDecodeRejects(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		want error
	}{
		{"short header", "000000", ErrShort},
		{"length lies", "0000002000007004000000000f000020", ErrLength},
		{"desc req long", "0000001400007004000000000f00002000000000", ErrTrailing},
		{"unknown type", "000000100000700b0000000000000000", ErrBadType},
		{"fetch zero pmids", "0000001c000070140000000000000000000000000000000000000000", ErrCount},
		{"fetch count lies", "000000200000701400000000000000000000000000000000000f42400f000020", ErrCount},
		{"fetch negative count", "0000002000007014000000000000000000000000000000ffffffffff0f000020", ErrCount},
		{"names count lies", "000000180000700e000000000000000a0000000000ffffff", ErrCount},
		{"name len past end", "000000200000701000000000000000007fffffff68696e762e6e6370757e7e7e", ErrShort},
		{"name len negative", "0000002000007010000000000000000080000000686696e762e6e63707e7e7e7e"[:64], ErrCount},
		{"creds zero", "000000100000700c0000000000000000", ErrCount},
		{"creds too many", "000000140000700c000000000000040101020000", ErrCount},
		{"result offset outside", "00000034000070150000000000000001000000006b0372f5000000000c28d0db0f0000200000000100000001ffffffff000000ff", ErrBadOffset},
		{"result offset into header", "00000034000070150000000000000001000000006b0372f5000000000c28d0db0f0000200000000100000001ffffffff00000001", ErrBadOffset},
		{"label json outside", "0000002c0000701300000000" + "0000003c000000020000000000000001ffffffff00000000000000ff00000004", ErrBadOffset},
	}
	for _, c := range cases {
		b, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatalf("%s: bad hex: %v", c.name, err)
		}
		if _, _, err := Decode(b); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestErrStr(t *testing.T) {
	if ErrStr(ErrNeedClientCert) != "PMCD requires a client certificate" {
		t.Error(ErrStr(ErrNeedClientCert))
	}
	if ErrStr(-111) != "Connection refused" || ErrStr(-95) != "Operation not supported" {
		t.Error(ErrStr(-111), ErrStr(-95))
	}
	if ToV1(ErrPermission) != -1042 || FromV1(-1042) != ErrPermission || FromV1(0) != 0 {
		t.Error("v1 mapping")
	}
}

func TestPMIDString(t *testing.T) {
	if s := PMID(0x0f000800).String(); s != "60.2.0" {
		t.Error(s)
	}
	if s := NewPMID(3, 8, 99); s != 0x00c02063 {
		t.Errorf("%x", uint32(s))
	}
	if s := InDom(0x0f000002).String(); s != "60.2" {
		t.Error(s)
	}
}

// TestResultShortValFmt: a value set whose valfmt word is missing must not size an
// allocation from its numval (found by FuzzResult; the bytes are its input).
func TestResultShortValFmt(t *testing.T) {
	b := Encode(nil, &Result{}, 0)[:HeaderSize]
	b = append(b, []byte("00000000\x00\x00\x00\x0100000\x00\x01\x00")...)
	b[0], b[1], b[2], b[3] = 0, 0, 0, byte(len(b))
	b[4], b[5], b[6], b[7] = 0, 0, 0x70, 0x01
	if _, _, err := Decode(b); err == nil {
		t.Fatal("decoded")
	}
}

// TestReadGrowsWithData: a header claiming a huge PDU costs a bounded allocation
// when no size limit is set and the bytes never come.
func TestReadGrowsWithData(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		a.Write([]byte{0x7f, 0xff, 0xff, 0xf0, 0, 0, 0x70, 0, 0, 0, 0, 0, 1, 2, 3})
		a.Close()
	}()
	c := NewConn(b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := c.ReadRaw(); err == nil {
		t.Fatal("read a PDU that never came")
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("allocated %d bytes for a 2 GiB header", alloc)
	}
}
