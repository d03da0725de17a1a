package httpapi

import "testing"

// hasListItem, which spares a poll the split of its names, agrees with
// splitList on whether there are any.
func TestHasListItem(t *testing.T) {
	for _, v := range []string{"", ",", " , ,", "\t\n\v\f\r ", "\u0085,\u00a0", "a", ",a,", " a ", "\xff", ",\u3000", "\u3000", "kernel.all.load"} {
		if got, want := hasListItem(v), len(splitList(v)) > 0; got != want {
			t.Errorf("hasListItem(%q) = %v, splitList gives %q", v, got, splitList(v))
		}
	}
}
