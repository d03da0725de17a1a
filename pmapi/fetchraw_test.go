package pmapi

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// FetchRaw sends what Fetch sends (the profile first, then the fetch of the
// context's kind) and hands over the reply PDU as it came, after skipping a
// state-change notice, which is recorded as Fetch records it.
func TestFetchRawAsFetch(t *testing.T) {
	cleanEnv(t)
	for _, highres := range []bool{true, false} {
		rec := &recorder{}
		features := uint16(plainFeatures)
		if !highres {
			features &^= protocol.FeatureHighres
		}
		result := func(f *protocol.Fetch) *protocol.Result {
			r := &protocol.Result{Highres: f.Highres, Sec: 1, Nsec: 2000}
			for _, id := range f.PMIDs {
				r.VSets = append(r.VSets, protocol.ValueSet{PMID: id, NumVal: 1, ValFmt: protocol.ValFmtDynamic,
					Values: []protocol.Value{protocol.Block64(protocol.InNull, protocol.TypeU64, 1<<40)}})
			}
			return r
		}
		srv := serve(t, features, func(p protocol.PDU) []protocol.PDU {
			rec.add(p)
			if f, ok := p.(*protocol.Fetch); ok {
				return []protocol.PDU{&protocol.ErrorPDU{Code: 16}, result(f)}
			}
			return nil
		})
		c := connect(t, srv.Addr, Options{})
		ids := []protocol.PMID{0x0f000020, 0x0f000021}
		req := c.AppendFetch(nil, ids)
		want := protocol.Encode(nil, result(&protocol.Fetch{PMIDs: ids, Highres: highres}), 0)
		for range 2 {
			var got []byte
			ok, err := c.FetchRaw(req, func(b []byte) error { got = append(got[:0], b...); return nil })
			if !ok || err != nil || !bytes.Equal(got, want) {
				t.Fatalf("highres %v: FetchRaw: %v %v\n got %x\nwant %x", highres, ok, err, got, want)
			}
		}
		fetch := "HIGHRES_FETCH"
		if !highres {
			fetch = "FETCH"
		}
		if got, want := rec.types(), "PROFILE "+fetch+" "+fetch; got != want {
			t.Errorf("requests %q, want %q", got, want)
		}
		if f := rec.reqs[1].(*protocol.Fetch); len(f.PMIDs) != 2 || f.PMIDs[1] != ids[1] {
			t.Errorf("fetch sent %+v", f)
		}
		if c.StateChange() != 16 {
			t.Error("state change bit not recorded")
		}
	}
}

// A request FetchRaw cannot send as this context's fetch is refused with ok
// false and nothing sent: Fetch's kind for another feature set, a truncated
// PDU, a count that disagrees with the length, a derived metric.
func TestFetchRawRefuses(t *testing.T) {
	cleanEnv(t)
	rec := &recorder{}
	srv := serve(t, plainFeatures, func(p protocol.PDU) []protocol.PDU { rec.add(p); return nil })
	c := connect(t, srv.Addr, Options{})
	set := NewDerivedSet()
	if err := set.Register("my.derived", "hinv.ncpu * 2"); err != nil {
		t.Fatal(err)
	}
	c.UseDerived(set, nil)
	good := c.AppendFetch(nil, []protocol.PMID{0x0f000020})
	badCount := bytes.Clone(good)
	badCount[protocol.HeaderSize+15] = 2
	for name, req := range map[string][]byte{
		"legacy fetch on a HIGHRES context": protocol.Encode(nil, &protocol.Fetch{PMIDs: []protocol.PMID{1}}, 0),
		"truncated":                         good[:len(good)-1],
		"two PDUs":                          append(bytes.Clone(good), good...),
		"count":                             badCount,
		"derived":                           c.AppendFetch(nil, []protocol.PMID{0x0f000020, protocol.NewPMID(derivedDomain, 0, 1)}),
		"not a fetch":                       protocol.Encode(nil, &protocol.DescReq{PMID: 1}, 0),
	} {
		ok, err := c.FetchRaw(req, func([]byte) error { t.Errorf("%s: read called", name); return nil })
		if ok || err != nil {
			t.Errorf("%s: FetchRaw = %v, %v; want false, nil", name, ok, err)
		}
	}
	if got := rec.types(); got != "" {
		t.Errorf("requests sent %q, want none", got)
	}
}

// An ERROR reply is the PCP error, the channel intact; a reply read refuses
// (malformed) leaves the channel unusable with PM_ERR_IPC, as a malformed PDU
// does for Fetch.
func TestFetchRawErrors(t *testing.T) {
	cleanEnv(t)
	n := 0
	srv := serve(t, plainFeatures, func(p protocol.PDU) []protocol.PDU {
		f, ok := p.(*protocol.Fetch)
		if !ok {
			return nil
		}
		if n++; n == 1 {
			return []protocol.PDU{&protocol.ErrorPDU{Code: protocol.ErrPMID}}
		}
		return []protocol.PDU{&protocol.Result{Highres: f.Highres}}
	})
	c := connect(t, srv.Addr, Options{})
	req := c.AppendFetch(nil, []protocol.PMID{0x0f000020})
	_, err := c.FetchRaw(req, func([]byte) error { return nil })
	wantCode(t, err, protocol.ErrPMID)
	bad := errors.New("malformed")
	_, err = c.FetchRaw(req, func([]byte) error { return bad })
	wantCode(t, err, protocol.ErrIPC)
	if _, err := c.Fetch([]protocol.PMID{0x0f000020}); err == nil {
		t.Error("Fetch after a refused reply succeeded; the channel should be unusable")
	}
}

// A collector that does not answer, or sends a state-change notice and then
// nothing, ends FetchRaw with PM_ERR_TIMEOUT, and the channel with it, as
// for Fetch.
func TestFetchRawTimeout(t *testing.T) {
	cleanEnv(t)
	for _, notice := range []bool{false, true} {
		srv := serve(t, plainFeatures, func(p protocol.PDU) []protocol.PDU {
			if _, ok := p.(*protocol.Fetch); ok && notice {
				return []protocol.PDU{&protocol.ErrorPDU{Code: 16}}
			}
			return nil
		})
		c := connect(t, srv.Addr, Options{RequestTimeout: 150 * time.Millisecond})
		req := c.AppendFetch(nil, []protocol.PMID{0x0f000020})
		_, err := c.FetchRaw(req, func([]byte) error { t.Error("read called"); return nil })
		wantCode(t, err, protocol.ErrTimeout)
		_, err = c.FetchRaw(req, func([]byte) error { return nil })
		wantCode(t, err, protocol.ErrIPC)
	}
}
