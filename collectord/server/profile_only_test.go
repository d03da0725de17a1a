package server

import (
	"slices"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// TestProfileOnly: a profile that keeps only some instances of a domain hands
// exactly those to the registry; one that drops some, or none, leaves it reading
// all; a profile excluding everything by default wants nothing of other domains.
func TestProfileOnly(t *testing.T) {
	a, b := protocol.NewInDom(3, 9), protocol.NewInDom(60, 1)
	if profileOnly(&protocol.Profile{GState: protocol.ProfileInclude}) != nil {
		t.Error("an all-instances profile restricts the reads")
	}
	only := profileOnly(&protocol.Profile{GState: protocol.ProfileInclude, Entries: []protocol.ProfileEntry{
		{InDom: a, State: protocol.ProfileExclude, Insts: []int32{1, 4242}},
		{InDom: b, State: protocol.ProfileInclude, Insts: []int32{7}},
	}})
	if got, ok := only(a); !ok || !slices.Equal(got, []uint32{1, 4242}) {
		t.Errorf("kept list: %v %v", got, ok)
	}
	if _, ok := only(b); ok {
		t.Error("a list of dropped instances restricts the reads")
	}
	if _, ok := only(protocol.NewInDom(60, 0)); ok {
		t.Error("a domain the profile does not name is restricted")
	}
	none := profileOnly(&protocol.Profile{GState: protocol.ProfileExclude})
	if got, ok := none(a); !ok || len(got) != 0 {
		t.Errorf("exclude-all: %v %v", got, ok)
	}
}
