package server

import (
	"net"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// pmcdValues fetches names in-process from the server's own registry.
func pmcdValues(t *testing.T, s *Server, names ...string) map[string]uint64 {
	t.Helper()
	var ids []protocol.PMID
	for _, n := range names {
		ids = append(ids, servedPMID(t, s, n))
	}
	out := map[string]uint64{}
	for i, r := range s.Registry.Fetch(nil, ids) {
		if len(r.Values) != 1 {
			t.Fatalf("%s: %+v", names[i], r)
		}
		out[names[i]] = r.Values[0].U
	}
	return out
}

// TestPDUCountsMove: a client's handshake and fetches move pmcd.pdu_in.creds,
// pdu_in.fetch/highres_fetch and pdu_out.result/highres_result by exactly what it
// sent and received; the greeting counts as an ERROR out.
func TestPDUCountsMove(t *testing.T) {
	s, addr, _ := startServer(t, nil)
	names := []string{"pmcd.pdu_in.creds", "pmcd.pdu_in.fetch", "pmcd.pdu_in.highres_fetch", "pmcd.pdu_in.profile",
		"pmcd.pdu_in.total", "pmcd.pdu_out.error", "pmcd.pdu_out.result", "pmcd.pdu_out.highres_result", "pmcd.pdu_out.total"}
	before := pmcdValues(t, s, names...)
	c := dial(t, addr)
	c.Write(&protocol.Profile{})
	for i := 0; i < 3; i++ {
		if _, ok := roundTrip(t, c, &protocol.Fetch{PMIDs: []protocol.PMID{0x0f000020}}).(*protocol.Result); !ok {
			t.Fatal("no result")
		}
	}
	roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{0x0f000020}})
	after := pmcdValues(t, s, names...)
	want := map[string]uint64{"pmcd.pdu_in.creds": 1, "pmcd.pdu_in.fetch": 3, "pmcd.pdu_in.highres_fetch": 1,
		"pmcd.pdu_in.profile": 1, "pmcd.pdu_in.total": 6, "pmcd.pdu_out.error": 1, "pmcd.pdu_out.result": 3,
		"pmcd.pdu_out.highres_result": 1, "pmcd.pdu_out.total": 5}
	for n, w := range want {
		if got := after[n] - before[n]; got != w {
			t.Errorf("%s moved by %d, want %d", n, got, w)
		}
	}
	// A malformed PDU is counted in (by its header's type) and its ERROR out.
	before = pmcdValues(t, s, "pmcd.pdu_in.fetch", "pmcd.pdu_out.error")
	c.Conn.Write([]byte{0, 0, 0, 16, 0, 0, 0x70, 0x03, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	readToEnd(c)
	after = pmcdValues(t, s, "pmcd.pdu_in.fetch", "pmcd.pdu_out.error")
	if after["pmcd.pdu_in.fetch"]-before["pmcd.pdu_in.fetch"] != 1 || after["pmcd.pdu_out.error"]-before["pmcd.pdu_out.error"] != 1 {
		t.Errorf("malformed fetch: %v -> %v", before, after)
	}
}

// TestCountPDUTypeBounds: types outside the counted range, and headers too short
// to have one, are not counted and do not panic.
func TestCountPDUTypeBounds(t *testing.T) {
	srv := &Server{}
	st := &srv.own
	st.countIn(nil)
	st.countIn([]byte{0, 0, 0, 12, 0, 0, 0x70, 0x18, 0, 0, 0, 0})
	st.countIn([]byte{0, 0, 0, 12, 0, 0, 0x6f, 0xff, 0, 0, 0, 0})
	st.countOut(0x7018)
	st.countOut(-1)
	st.countIn([]byte{0, 0, 0, 12, 0, 0, 0x70, 0x17, 0, 0, 0, 0})
	in, out := selfView{srv}.PDUCounts()
	var n uint64
	for i := range in {
		n += in[i] + out[i]
	}
	if n != 1 || in[0x17] != 1 {
		t.Errorf("counted %d PDUs: in %v out %v", n, in, out)
	}
}

func controlStore(p protocol.PMID, v int32) *protocol.Result {
	return &protocol.Result{VSets: []protocol.ValueSet{{PMID: p, NumVal: 1, ValFmt: protocol.ValFmtInsitu,
		Values: []protocol.Value{{Inst: protocol.InNull, Insitu: uint32(v)}}}}}
}

// TestControlStoreTrust: stores into pmcd.control.* from the attacker's side. A
// loopback client may set the tracing switches (pmcd's default access) but not
// ask for a reload; a client at any other address may store nothing but its own
// whoami; a unix-socket client may reload, which reaches the daemon's hook.
func TestControlStoreTrust(t *testing.T) {
	var hups atomic.Int32
	s, addr, _ := startServer(t, func(s *Server) { s.SetSIGHUPHook(func() { hups.Add(1) }) })
	reg := s.Registry
	id := func(n string) protocol.PMID {
		m, ok := reg.ByName(n)
		if !ok {
			t.Fatalf("%s not served", n)
		}
		return m.Desc.PMID
	}
	traceconn, sighup, tracebufs := id("pmcd.control.traceconn"), id("pmcd.control.sighup"), id("pmcd.control.tracebufs")

	c := dial(t, addr)
	wantError(t, roundTrip(t, c, controlStore(traceconn, 1)), 0)
	if v := pmcdValues(t, s, "pmcd.control.traceconn")["pmcd.control.traceconn"]; v != 1 {
		t.Errorf("traceconn after a loopback store: %d", v)
	}
	wantError(t, roundTrip(t, c, controlStore(traceconn, 2)), protocol.ErrBadStore)
	wantError(t, roundTrip(t, c, controlStore(tracebufs, -1)), protocol.ErrSign)
	wantError(t, roundTrip(t, c, controlStore(sighup, 1)), protocol.ErrPermission)
	// A good store together with a refused one applies neither.
	both := controlStore(traceconn, 0)
	both.VSets = append(both.VSets, controlStore(sighup, 1).VSets[0])
	wantError(t, roundTrip(t, c, both), protocol.ErrPermission)
	if v := pmcdValues(t, s, "pmcd.control.traceconn")["pmcd.control.traceconn"]; v != 1 || hups.Load() != 0 {
		t.Errorf("a refused store changed something: traceconn %d, reloads %d", v, hups.Load())
	}

	// The unix socket: the daemon's hook runs.
	sock := filepath.Join(t.TempDir(), "pmcd.socket")
	serveUnix(t, s, sock)
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	uc := handshakeOn(t, nc, 0)
	wantError(t, roundTrip(t, uc, controlStore(sighup, 1)), 0)
	if hups.Load() != 1 {
		t.Errorf("reload hook ran %d times", hups.Load())
	}

	// Without a hook there is nothing to reload.
	s.SetSIGHUPHook(nil)
	wantError(t, roundTrip(t, uc, controlStore(sighup, 1)), protocol.ErrNYI)

	// A client at a non-loopback address (the session as the server keeps it;
	// TestControlStoreFromAnotherHost does it across a real network namespace).
	for _, a := range []string{"10.1.2.3", "::ffff:10.1.2.3", "192.168.0.9", "2001:db8::1"} {
		remote := &client{srv: s, addr: netip.MustParseAddr(a).Unmap()}
		for _, p := range []protocol.PMID{traceconn, sighup, tracebufs} {
			wantError(t, remote.store(controlStore(p, 0)), protocol.ErrPermission)
		}
		remote.certAuth = true // a verified certificate does not make it local
		wantError(t, remote.store(controlStore(traceconn, 0)), protocol.ErrPermission)
	}
	if v := pmcdValues(t, s, "pmcd.control.traceconn")["pmcd.control.traceconn"]; v != 1 {
		t.Errorf("a remote store changed traceconn to %d", v)
	}
}

// TestSIGHUPCount: pmcd.sighups counts what the daemon reports.
func TestSIGHUPCount(t *testing.T) {
	s, _, _ := startServer(t, nil)
	s.CountSIGHUP()
	s.CountSIGHUP()
	if v := pmcdValues(t, s, "pmcd.sighups")["pmcd.sighups"]; v != 2 {
		t.Errorf("pmcd.sighups = %d", v)
	}
}

// BenchmarkCountPDU is the counting one request costs: one PDU in, one out.
func BenchmarkCountPDU(b *testing.B) {
	s := &Server{}
	raw := []byte{0, 0, 0, 16, 0, 0, 0x70, 0x14, 0, 0, 0, 0, 0, 0, 0, 0}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.own.countIn(raw)
			s.own.countOut(protocol.TypeHighresResult)
		}
	})
}
