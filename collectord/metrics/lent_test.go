package metrics

import (
	"strings"
	"sync"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// resultsText formats results for comparison, with the metric of each PMID.
func resultsText(t *testing.T, r *Registry, res []Result) string {
	t.Helper()
	var b strings.Builder
	for _, x := range res {
		m, ok := r.ByPMID(x.PMID)
		if !ok {
			b.WriteString(x.PMID.String())
			b.WriteString(" unknown\n")
			continue
		}
		b.WriteString(formatResult(m, x))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestFetchLentMatchesFetch: lent results are what Fetch gives, for the whole
// catalogue and then for smaller and different sets on the same (returned and
// reused) scratch: nothing of an earlier fetch is left in a later one.
func TestFetchLentMatchesFetch(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	all := allPMIDs(r)
	unknown := protocol.NewPMID(60, 4095, 1023)
	sets := [][]protocol.PMID{
		all,
		all[:1],
		{unknown, all[len(all)-1], all[0]},
		all[len(all)/2:],
		nil,
		all,
	}
	for i, pmids := range sets {
		want := resultsText(t, r, r.Fetch(nil, pmids))
		got, lent := r.FetchLent(pmids, FetchOpts{Trusted: true})
		if len(got) != len(pmids) {
			t.Fatalf("set %d: %d results for %d PMIDs", i, len(got), len(pmids))
		}
		if s := resultsText(t, r, got); s != want {
			t.Errorf("set %d: lent results differ from Fetch:\n%s\nwant\n%s", i, s, want)
		}
		r.Return(&lent)
		if lent.sc != nil {
			t.Fatal("Return left the Lent set: a second Return would pool its scratch twice")
		}
		r.Return(&lent) // a second Return does nothing
	}
	r.Return(&Lent{}) // nor does a zero Lent
}

// TestFetchLentUntrusted: a lent fetch applies the client's trust like FetchFor
// (the per-process details are refused to an untrusted client).
func TestFetchLentUntrusted(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	all := allPMIDs(r)
	want := resultsText(t, r, r.FetchFor(nil, all, FetchOpts{}))
	got, lent := r.FetchLent(all, FetchOpts{})
	defer r.Return(&lent)
	if s := resultsText(t, r, got); s != want {
		t.Errorf("untrusted lent fetch differs from FetchFor")
	}
	refused := 0
	for _, x := range got {
		if x.Err == protocol.ErrPermission {
			refused++
		}
	}
	if refused == 0 {
		t.Error("an untrusted lent fetch was given the per-process metrics")
	}
}

// TestFetchLentConcurrent: goroutines fetching different sets at once, each
// through the shared pool, always get their own set's values (run with -race).
func TestFetchLentConcurrent(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	all := allPMIDs(r)
	sets := [][]protocol.PMID{all, all[:len(all)/3], all[len(all)/3:], {all[5], all[1], all[5]}}
	wants := make([]string, len(sets))
	for i, s := range sets {
		wants[i] = resultsText(t, r, r.Fetch(nil, s))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				k := (g + i) % len(sets)
				got, lent := r.FetchLent(sets[k], FetchOpts{Trusted: true})
				s := resultsText(t, r, got)
				r.Return(&lent)
				if s != wants[k] {
					errs <- "a lent fetch gave another set's results"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
