package server

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// TestRepliesNeverMix: clients fetching at once, each its own metrics with its
// own instance profile, through the shared reply scratch and the registry's lent
// results, always get exactly their own answer: the PMIDs they asked for, in
// their order, the strings of their metrics and only the instances their profile
// keeps. A scratch handed to two requests at once, or given back while its reply
// was still being written, would show here as another client's values (and
// under -race as a data race).
func TestRepliesNeverMix(t *testing.T) {
	s, addr, _ := startServer(t, nil)
	pmid := func(name string) protocol.PMID { return servedPMID(t, s, name) }
	// Values that stay put during the test, distinct between the clients.
	strs := []string{"kernel.uname.release", "kernel.uname.sysname", "kernel.uname.machine", "kernel.uname.version"}
	want := map[protocol.PMID]string{}
	for _, n := range strs {
		res := s.Registry.Fetch(nil, []protocol.PMID{pmid(n)})
		if res[0].Err != 0 || len(res[0].Values) != 1 {
			t.Skipf("%s has no value here: %+v", n, res[0])
		}
		want[pmid(n)] = res[0].Values[0].S
	}
	load, ncpu := pmid("kernel.all.load"), pmid("hinv.ncpu")
	loadInsts := []int32{1, 5, 15}

	const clients, rounds = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for k := range clients {
		c := dial(t, addr)
		wg.Go(func() {
			errs <- oneClient(c, k, pmid(strs[k%len(strs)]), load, ncpu, loadInsts[k%3], want, rounds)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// oneClient is one of TestRepliesNeverMix's clients: a profile keeping one load
// average, then rounds fetches of its string metric, the load and hinv.ncpu, in
// an order of its own.
func oneClient(c *protocol.Conn, k int, str, load, ncpu protocol.PMID, inst int32, want map[protocol.PMID]string, rounds int) error {
	if err := c.Write(&protocol.Profile{Entries: []protocol.ProfileEntry{{InDom: 0x0f000002, State: protocol.ProfileExclude, Insts: []int32{inst}}}}); err != nil {
		return err
	}
	pmids := []protocol.PMID{str, load, ncpu}
	if k%2 == 1 {
		pmids = []protocol.PMID{ncpu, load, str}
	}
	for i := range rounds {
		if err := c.Write(&protocol.Fetch{Highres: true, PMIDs: pmids}); err != nil {
			return err
		}
		c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		p, err := c.Read()
		if err != nil {
			return fmt.Errorf("client %d fetch %d: %w", k, i, err)
		}
		res, ok := p.(*protocol.Result)
		if !ok || len(res.VSets) != len(pmids) {
			return fmt.Errorf("client %d fetch %d: reply %#v", k, i, p)
		}
		for j, vs := range res.VSets {
			if vs.PMID != pmids[j] {
				return fmt.Errorf("client %d fetch %d: value set %d is for %v, asked %v", k, i, j, vs.PMID, pmids[j])
			}
			switch vs.PMID {
			case str:
				if vs.NumVal != 1 || vs.Values[0].Str() != want[str] {
					return fmt.Errorf("client %d fetch %d: %v = %+v, want %q", k, i, str, vs.Values, want[str])
				}
			case load:
				if vs.NumVal != 1 || int32(vs.Values[0].Inst) != inst {
					return fmt.Errorf("client %d fetch %d: load %+v, want instance %d only", k, i, vs.Values, inst)
				}
			case ncpu:
				if vs.NumVal != 1 {
					return fmt.Errorf("client %d fetch %d: hinv.ncpu %+v", k, i, vs.Values)
				}
			}
		}
	}
	return nil
}
