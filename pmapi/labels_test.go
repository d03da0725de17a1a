package pmapi

import (
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// TestMergeLabelsGolden checks MergeLabels against libpcp's pmMergeLabels for the
// inputs of testdata/mergelabels.golden ("-" is an empty set). Where libpcp rejects
// the whole merge, ParseLabels must reject one of the sets.
func TestMergeLabelsGolden(t *testing.T) {
	for _, l := range goldenLines(t, "mergelabels.golden") {
		in, res, _ := strings.Cut(strings.TrimPrefix(l[0]+"\t"+l[1], "L "), "\t=> ")
		var sets []string
		for _, s := range strings.Split(in, "\t") {
			if s == "-" {
				s = ""
			}
			sets = append(sets, s)
		}
		if strings.HasPrefix(res, "ERR") {
			bad := false
			for _, s := range sets {
				if _, err := ParseLabels(s); err != nil {
					bad = true
				}
			}
			if !bad {
				t.Errorf("%q: libpcp rejects it, ParseLabels accepts every set", in)
			}
			continue
		}
		_, want, _ := strings.Cut(res, " ")
		if want == "" {
			want = "{}"
		}
		if got := MergeLabels(sets...); got != want {
			t.Errorf("MergeLabels(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMergeLabelSets(t *testing.T) {
	ctx, err := protocol.NewLabelSet(protocol.InNull,
		`{"domainname":"localdomain","hostname":"vm","machineid":"3d12"}`, 1)
	if err != nil {
		t.Fatal(err)
	}
	dom, _ := protocol.NewLabelSet(protocol.InNull, `{"agent":"linux","hostname":"other"}`, 2)
	empty := protocol.LabelSet{Inst: 5}
	got, ok := MergeLabelSets(&ctx, &dom, nil, &empty)
	want := `{"agent":"linux","domainname":"localdomain","hostname":"other","machineid":"3d12"}`
	if !ok || got != want {
		t.Errorf("merge = %q %v, want %q", got, ok, want)
	}
	if got, ok := MergeLabelSets(&empty); !ok || got != "{}" {
		t.Errorf("empty set merge = %q %v, want {} true", got, ok)
	}
	if _, ok := MergeLabelSets(nil, nil); ok {
		t.Error("all-nil merge reported ok")
	}
	// A null value is indexed with length 0 by some agents.
	n := protocol.LabelSet{JSON: `{"a":null}`, Labels: []protocol.LabelIndex{{Name: 2, NameLen: 1, Value: 5}}}
	if got, _ := MergeLabelSets(&n); got != `{"a":null}` {
		t.Errorf("null label = %q", got)
	}
}
