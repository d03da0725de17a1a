package httpapi

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// The identifiers below were served by the real pmproxy 6.0.3 (against a real
// pmcd 6.0.3 on host "vm") for the same labels and descriptors.
const vmLabels = `{"domainname":"localdomain","hostname":"vm","machineid":"3d1219c7c4c5404aaa1f6d2a48adfda4"}`

func TestSourceHash(t *testing.T) {
	if got := sourceHash(vmLabels); got != "81540769f309cae4b59d5d434d6bb15a19c0e014" {
		t.Fatalf("source %s", got)
	}
}

func TestSeriesHash(t *testing.T) {
	labels := `{"agent":"linux","domainname":"localdomain","hostname":"vm","machineid":"3d1219c7c4c5404aaa1f6d2a48adfda4"}`
	cases := []struct {
		name string
		desc protocol.Desc
		want string
	}{
		{"hinv.ncpu", protocol.Desc{PMID: protocol.NewPMID(60, 0, 32), Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: protocol.SemDiscrete}, "7684cafcc92e880b399615d227c4bebf68df359c"},
		{"kernel.all.load", protocol.Desc{PMID: protocol.NewPMID(60, 2, 0), Type: protocol.TypeFloat, InDom: protocol.NewInDom(60, 2), Sem: protocol.SemInstant}, "8e183fa35f854031788fa180d0132ff054c97029"},
		{"mem.util.used", protocol.Desc{PMID: protocol.NewPMID(60, 1, 1), Type: protocol.TypeU64, InDom: protocol.InDomNull, Sem: protocol.SemInstant, Units: protocol.UnitsKbyte}, "a8f91efb5bac759bcea947c6810860871c991da0"},
	}
	for _, c := range cases {
		if got := seriesHash(c.name, labels, c.desc); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestJSONString(t *testing.T) {
	cases := map[string]string{
		"plain text, (ok)!":   `"plain text, (ok)!"`,
		"two\nlines":          `"two\u000Alines"`,
		`say "hard"`:          `"say \u0022hard\u0022"`,
		`back\slash`:          `"back\u005Cslash"`,
		"tab\there":           `"tab\u0009here"`,
		"caf\u00e9":           "\"caf\u00e9\"",
		"bad \xff byte":       `"bad \uFFFD byte"`,
		"line\u2028sep":       `"line\u2028sep"`,
		"\x00\x1f\x7f":        `"\u0000\u001F\u007F"`,
		"{\"json\":[1,2]}":    `"{\u0022json\u0022:[1,2]}"`,
		"<html> & 'quotes'":   `"<html> & 'quotes'"`,
		"the end of a line\r": `"the end of a line\u000D"`,
	}
	for in, want := range cases {
		got := string(appendJSONString(nil, in))
		if got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("%q: %s is not JSON: %v", in, got, err)
		}
	}
}

func TestMergeLabels(t *testing.T) {
	ctx, _ := protocol.NewLabelSet(protocol.InNull, `{"hostname":"vm","userid":0}`, 0)
	ctx.Labels[1].Flags |= protocol.LabelOptional
	dom, _ := protocol.NewLabelSet(protocol.InNull, `{"agent":"linux","hostname":"other"}`, 0)
	ls, ok := mergeLabels(true, &ctx, nil, &dom)
	if got := labelsJSON(ls, ok); got != `{"agent":"linux","hostname":"other"}` {
		t.Errorf("identifying: %s", got)
	}
	ls, ok = mergeLabels(false, &ctx, &dom)
	if got := labelsJSON(ls, ok); got != `{"agent":"linux","hostname":"other","userid":0}` {
		t.Errorf("all: %s", got)
	}
	if got := labelsJSON(mergeLabels(true)); got != "null" {
		t.Errorf("no sets: %s", got)
	}
}

func TestPromLabels(t *testing.T) {
	ls := []label{{name: "a.b", value: `"x\"y\\z\nw"`}, {name: "a_b", value: `"dup"`}, {name: "n", value: "42"}, {name: "t", value: "true"}}
	ls = setLabel(ls, "instname", `"1 minute"`)
	got := renderPromLabels(ls)
	want := `{a_b="x\"y\\z\nw",instname="1 minute",n="42",t="true"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if renderPromLabels(nil) != "" {
		t.Error("no labels: want no braces")
	}
}

func TestValues(t *testing.T) {
	f32 := func(f float32) *protocol.Value { return &protocol.Value{Insitu: math.Float32bits(f)} }
	cases := []struct {
		typ    int32
		v      *protocol.Value
		insitu bool
		json   string
		prom   string
	}{
		{protocol.Type32, &protocol.Value{Insitu: 0xffffffff}, true, "-1", "-1"},
		{protocol.TypeU32, &protocol.Value{Insitu: 0xffffffff}, true, "4294967295", "4294967295"},
		{protocol.TypeFloat, f32(0.45), true, "0.44999999", "0.44999999"},
		{protocol.TypeFloat, f32(float32(math.Inf(1))), true, "null", "+Inf"},
		{protocol.TypeU64, &protocol.Value{VType: uint8(protocol.TypeU64), Payload: []byte{0, 0, 0, 1, 0, 0, 0, 0}}, false, "4294967296", "4294967296"},
		{protocol.TypeDouble, &protocol.Value{VType: uint8(protocol.TypeDouble), Payload: []byte{0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a}}, false, "0.1", "0.1"},
		{protocol.TypeString, &protocol.Value{VType: uint8(protocol.TypeString), Payload: []byte("a\"b\x00~~")}, false, `"a\u0022b"`, ""},
		{protocol.TypeU64, &protocol.Value{VType: uint8(protocol.TypeDouble), Payload: make([]byte, 8)}, false, "null", ""},
	}
	for i, c := range cases {
		v := decodeValue(c.typ, c.v, c.insitu)
		if got := string(v.appendJSON(nil)); got != c.json {
			t.Errorf("%d: json %s, want %s", i, got, c.json)
		}
		got, ok := v.appendProm(nil)
		if string(got) != c.prom || ok != (c.prom != "") {
			t.Errorf("%d: prom %q %v, want %q", i, got, ok, c.prom)
		}
	}
}

func TestParseIDs(t *testing.T) {
	if p, ok := parsePMID("60.0.32"); !ok || p != protocol.NewPMID(60, 0, 32) {
		t.Error("dotted PMID")
	}
	if p, ok := parsePMID("251658272"); !ok || p != protocol.NewPMID(60, 0, 32) {
		t.Error("decimal PMID")
	}
	for _, s := range []string{"", "60.0", "600.0.1", "a.b.c", "4294967295"} {
		if _, ok := parsePMID(s); ok {
			t.Errorf("PMID %q accepted", s)
		}
	}
	if i, ok := parseInDom("60.2"); !ok || i != protocol.NewInDom(60, 2) {
		t.Error("dotted InDom")
	}
	if _, ok := parseInDom("60.x"); ok {
		t.Error("bad InDom accepted")
	}
}
