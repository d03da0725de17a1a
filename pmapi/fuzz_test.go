package pmapi

import (
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// FuzzParseHostSpec: no spec makes the parser panic, and every error points inside
// the spec.
func FuzzParseHostSpec(f *testing.F) {
	for _, s := range []string{"localhost", "pcp://h:1,2@p:3?container=x&secure", "[::1]:44321", "local:",
		"unix:/x", "host:", "[::1", "a@", "@", "?", "h?a=b=c&d", "pcps://h/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHostSpec(s)
		if err != nil {
			he, ok := err.(*HostSpecError)
			if !ok || he.Offset < 0 || he.Offset > len(s) {
				t.Fatalf("%q: %v", s, err)
			}
			_ = he.Detail()
			return
		}
		for _, host := range h.Hosts {
			if host.Name == "" && !h.Local() {
				t.Fatalf("%q: empty host name in %+v", s, h.Hosts)
			}
		}
	})
}

// FuzzParseLabels: no input makes label parsing or merging panic, and accepted
// sets come out as valid label JSON that parses to the same labels.
func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,{"c":2}]}}`, `{}`, `{"a":"\"}"}`, `{"a":null,"b":true}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := ParseLabels(s)
		if err != nil {
			return
		}
		out := FormatLabels(ls)
		again, err := ParseLabels(out)
		if err != nil || FormatLabels(again) != out {
			t.Fatalf("%q -> %q does not parse back (%v)", s, out, err)
		}
		MergeLabels(s, out)
		set, err := protocol.NewLabelSet(protocol.InNull, out, 1)
		if err == nil {
			MergeLabelSets(&set)
		}
	})
}
