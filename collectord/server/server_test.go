package server

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/syncbuf"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/protocol"
)

// logBuf is a log sink that goroutines may share.
type logBuf = syncbuf.Buffer

// servedPMID is the PMID s serves name under; t fails when it serves no such metric.
func servedPMID(t testing.TB, s *Server, name string) protocol.PMID {
	t.Helper()
	m, ok := s.Registry.ByName(name)
	if !ok {
		t.Fatalf("%s not served", name)
	}
	return m.Desc.PMID
}

// startServer runs a server over the machine's /proc on 127.0.0.1:0.
func startServer(t testing.TB, tweak func(*Server)) (*Server, string, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	s := &Server{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if tweak != nil {
		tweak(s)
	}
	reg, err := metrics.New(metrics.Options{Version: "test", Self: s.Self()})
	if err != nil {
		t.Fatal(err)
	}
	s.Registry = reg
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background(), ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String(), logs
}

// dial connects and completes a plain handshake.
func dial(t testing.TB, addr string) *protocol.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := protocol.NewConn(nc)
	c.RequestTimeout = 5 * time.Second
	c.IdleTimeout = 5 * time.Second // Conn manages read deadlines itself
	g, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.ParseGreeting(g); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}); err != nil {
		t.Fatal(err)
	}
	return c
}

func roundTrip(t testing.TB, c *protocol.Conn, p protocol.PDU) protocol.PDU {
	t.Helper()
	if err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := c.Read()
	if err != nil {
		t.Fatalf("reply to %s: %v", protocol.TypeName(p.Type()), err)
	}
	return r
}

// steppingClock is a clock for the log limiters that moves on by step at each
// reading.
func steppingClock(step time.Duration) func() time.Time {
	var n atomic.Int64
	start := time.Now()
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * step) }
}

func wantError(t testing.TB, p protocol.PDU, code int32) {
	t.Helper()
	e, ok := p.(*protocol.ErrorPDU)
	if !ok || e.Code != code {
		t.Fatalf("got %#v, want ERROR %d (%s)", p, code, protocol.ErrStr(code))
	}
}

func TestGreetingBytes(t *testing.T) {
	_, addr, _ := startServer(t, nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	buf := make([]byte, 20)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatal(err)
	}
	// As pmcd 6.0.3 without TLS, less AUTH and CONTAINER, which we do not offer.
	if got := hex.EncodeToString(buf); got != "0000001400007000000000000000000002010e00" {
		t.Fatalf("greeting %s", got)
	}
}

// TestSession walks the requests of pminfo -f/-d/-t/-T/-l and pmval, as the traces show.
func TestSession(t *testing.T) {
	_, addr, _ := startServer(t, nil)
	c := dial(t, addr)
	names := roundTrip(t, c, &protocol.NameReq{Name: "kernel.all.load"}).(*protocol.PMNSNames)
	if len(names.Names) != 1 || names.Names[0] != "kernel.all.load" {
		t.Fatalf("traverse leaf: %v", names.Names)
	}
	ids := roundTrip(t, c, &protocol.PMNSNames{Names: []string{"kernel.all.load", "hinv.ncpu"}}).(*protocol.PMNSIDs)
	if ids.Status != 2 || ids.IDs[0] != 0x0f000800 || ids.IDs[1] != 0x0f000020 {
		t.Fatalf("lookup: %+v", ids)
	}
	wantError(t, roundTrip(t, c, &protocol.PMNSNames{Names: []string{"no.such"}}), protocol.ErrName)
	two := roundTrip(t, c, &protocol.PMNSNames{Names: []string{"no.such", "nor.this"}}).(*protocol.PMNSIDs)
	if two.Status != 0 || two.IDs[0] != protocol.PMIDNull {
		t.Fatalf("two unknown names: %+v", two)
	}
	wantError(t, roundTrip(t, c, &protocol.NameReq{Name: "no.such"}), protocol.ErrName)
	wantError(t, roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{0x0f000800}}), protocol.ErrNoProfile)
	c.Write(&protocol.Profile{})
	res := roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{0x0f000800, 0x0f000020, protocol.NewPMID(60, 0, 1000), protocol.NewPMID(100, 0, 0)}}).(*protocol.Result)
	if len(res.VSets) != 4 || res.VSets[0].NumVal != 3 || res.VSets[1].NumVal != 1 {
		t.Fatalf("fetch: %+v", res.VSets)
	}
	if n, _ := res.VSets[1].Values[0].Int64(protocol.TypeU32, true); n != int64(runtime.NumCPU()) {
		t.Errorf("hinv.ncpu %d, want %d", n, runtime.NumCPU())
	}
	for _, v := range res.VSets[0].Values {
		if f, ok := v.Float64(protocol.TypeFloat, false); !ok || f < 0 || f > 1000 {
			t.Errorf("load %v %v", f, ok)
		}
	}
	if res.VSets[2].NumVal != protocol.ErrPMID || res.VSets[3].NumVal != protocol.ErrNoAgent {
		t.Errorf("bad pmids: %d %d", res.VSets[2].NumVal, res.VSets[3].NumVal)
	}
	// A profile selecting 5 and 15 minutes (pmval -i 5,15).
	c.Write(&protocol.Profile{Entries: []protocol.ProfileEntry{{InDom: 0x0f000002, State: protocol.ProfileExclude, Insts: []int32{5, 15}}}})
	res = roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{0x0f000800}}).(*protocol.Result)
	if len(res.VSets[0].Values) != 2 || res.VSets[0].Values[0].Inst != 5 {
		t.Fatalf("profile not applied: %+v", res.VSets[0])
	}
	d := roundTrip(t, c, &protocol.DescReq{PMID: 0x0f000800}).(*protocol.DescPDU)
	if d.Desc != (protocol.Desc{PMID: 0x0f000800, Type: protocol.TypeFloat, InDom: 0x0f000002, Sem: protocol.SemInstant}) {
		t.Fatalf("desc %+v", d.Desc)
	}
	wantError(t, roundTrip(t, c, &protocol.DescReq{PMID: 1}), protocol.ErrPMID)
	ds := roundTrip(t, c, &protocol.DescIDs{PMIDs: []protocol.PMID{0x0f000020, 1}}).(*protocol.Descs)
	if ds.Descs[0].PMID != 0x0f000020 || ds.Descs[1].PMID != protocol.PMIDNull {
		t.Fatalf("descs %+v", ds.Descs)
	}
	in := roundTrip(t, c, &protocol.InstanceReq{InDom: 0x0f000002, Inst: protocol.InNull}).(*protocol.InstancePDU)
	if len(in.Instances) != 3 || in.Instances[2] != (protocol.Instance{ID: 15, Name: "15 minute"}) {
		t.Fatalf("instances %+v", in.Instances)
	}
	byName := roundTrip(t, c, &protocol.InstanceReq{InDom: 0x0f000002, Inst: protocol.InNull, Name: "5"}).(*protocol.InstancePDU)
	if byName.Instances[0].ID != 5 {
		t.Fatalf("instance by short name %+v", byName)
	}
	wantError(t, roundTrip(t, c, &protocol.InstanceReq{InDom: 0x0f000002, Inst: 7}), protocol.ErrInst)
	wantError(t, roundTrip(t, c, &protocol.InstanceReq{InDom: 0x0f0000ff, Inst: protocol.InNull}), protocol.ErrInDom)
	txt := roundTrip(t, c, &protocol.TextReq{Ident: 0x0f000800, Kind: protocol.TextOneLine | protocol.TextPMID}).(*protocol.TextPDU)
	if txt.Text != "run queue length averaged over 1, 5 and 15 minutes" {
		t.Fatalf("oneline %q", txt.Text)
	}
	lab := roundTrip(t, c, &protocol.LabelReq{Ident: 60, Kind: protocol.LabelDomain}).(*protocol.LabelPDU)
	if len(lab.Sets) != 1 || lab.Sets[0].JSON != `{"agent":"linux"}` {
		t.Fatalf("domain labels %+v", lab)
	}
	wantError(t, roundTrip(t, c, &protocol.LabelReq{Ident: 61, Kind: protocol.LabelDomain}), protocol.ErrNoAgent)
	ch := roundTrip(t, c, &protocol.NameReq{Child: true, Subtype: 1, Name: "kernel.all"}).(*protocol.PMNSNames)
	if len(ch.Status) != len(ch.Names) || len(ch.Names) == 0 {
		t.Fatalf("children %+v", ch)
	}
	nm := roundTrip(t, c, &protocol.PMNSIDs{IDs: []protocol.PMID{0x0f000020}}).(*protocol.PMNSNames)
	if len(nm.Names) != 1 || nm.Names[0] != "hinv.ncpu" {
		t.Fatalf("names of pmid %+v", nm)
	}
	// pmval's store of pmcd.client.whoami, then something not allowed.
	who := &protocol.Result{VSets: []protocol.ValueSet{{PMID: protocol.NewPMID(2, 6, 0), NumVal: 1, ValFmt: protocol.ValFmtStatic,
		Values: []protocol.Value{protocol.BlockString(protocol.InNull, "host (127.0.0.1) pmval -s 3")}}}}
	wantError(t, roundTrip(t, c, who), 0)
	who.VSets[0].PMID = 0x0f000020
	wantError(t, roundTrip(t, c, who), protocol.ErrPermission)
}

// TestBadInput: every malformed PDU gets an error or a close and a log line, never a
// panic or a hang, and other clients keep being served.
func TestBadInput(t *testing.T) {
	s, addr, logs := startServer(t, func(s *Server) {
		s.RequestTimeout = 300 * time.Millisecond
		s.HandshakeTimeout = time.Second
		s.clock = steppingClock(2 * time.Second) // every line gets through the rate limit
	})
	good := dial(t, addr)
	good.Write(&protocol.Profile{})
	check := func() {
		t.Helper()
		if _, ok := roundTrip(t, good, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{0x0f000020}}).(*protocol.Result); !ok {
			t.Fatal("the well-behaved client stopped being served")
		}
	}
	hexPDU := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name   string
		send   []byte
		code   int32 // expected ERROR code, 0 = none expected
		closed bool  // every malformed or unexpected PDU closes the client now
	}{
		{"lying fetch count", hexPDU("00000020 00007014 00000000 00000000 00000000 00000000 7fffffff 0f000020"), protocol.ErrIPC, true},
		{"negative fetch count", hexPDU("00000020 00007014 00000000 00000000 00000000 00000000 ffffffff 0f000020"), protocol.ErrIPC, true},
		{"name without room", hexPDU("00000014 00007010 00000000 00000000 7ffffff0"), protocol.ErrIPC, true},
		{"label req short", hexPDU("00000010 00007012 00000000 00000001"), protocol.ErrIPC, true},
		{"unknown type", hexPDU("00000010 0000700b 00000000 00000000"), protocol.ErrIPC, true},
		{"control req", hexPDU("00000010 0000700a 00000000 00000000"), protocol.ErrIPC, true},
		{"creds again", hexPDU("00000014 0000700c 00000000 00000001 01020000"), protocol.ErrIPC, true},
		{"negative type", hexPDU("00000010 80007004 00000000 0f000020"), protocol.ErrIPC, true},
		{"length below header", hexPDU("00000008 00007004 00000000"), protocol.ErrIPC, true},
		{"oversize", hexPDU("7ffffff0 00007004 00000000 0f000020"), protocol.ErrTooBig, true},
		{"just over 64KiB", hexPDU("00010001 00007010 00000000"), protocol.ErrTooBig, true},
		{"truncated then silent", hexPDU("00000020 00007014 00000000 00000000"), 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			c.Conn.Write(tc.send)
			c.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			r, err := c.Read()
			if tc.code != 0 {
				if err != nil {
					t.Fatalf("no error reply: %v", err)
				}
				wantError(t, r, tc.code)
				if tc.closed {
					r, err = c.Read()
				}
			}
			if tc.closed {
				if err == nil {
					t.Fatalf("connection still open, got %#v", r)
				}
				if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset") {
					return
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("server did not close the connection")
				}
			}
			check()
		})
	}
	for _, want := range []string{"malformed PDU", "unexpected PDU", "PDU too large", "bad PDU header", "timed out"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line %q in:\n%s", want, logs.String())
		}
	}
	_ = s
}

// TestFirstPDUMustBeCreds: anything else first gets PM_ERR_IPC and closes the
// connection.
func TestFirstPDUMustBeCreds(t *testing.T) {
	_, addr, _ := startServer(t, nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := protocol.NewConn(nc)
	c.Read()
	c.Write(&protocol.DescReq{PMID: 0x0f000020})
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	r, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, r, protocol.ErrIPC)
	if _, err := c.Read(); err == nil || !(errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset")) {
		t.Fatalf("want close, got %v", err)
	}
}

func TestConnectionLimit(t *testing.T) {
	s, addr, logs := startServer(t, func(s *Server) { s.MaxClients = 2 })
	dial(t, addr)
	c2 := dial(t, addr)
	roundTrip(t, c2, &protocol.DescReq{PMID: 0x0f000020})
	c, err := limitGreeting(t, addr)
	if !errors.Is(err, &protocol.Error{Code: protocol.ErrConnLimit}) {
		t.Fatalf("greeting error %v", err)
	}
	if _, err := c.Read(); err == nil {
		t.Fatal("not closed after the limit greeting")
	}
	if s.NumClients() != 2 || !strings.Contains(logs.String(), "connection limit") {
		t.Fatalf("clients %d, logs %s", s.NumClients(), logs.String())
	}
}

// limitGreeting connects and returns the connection and the greeting's error
// (nil: accepted).
func limitGreeting(t *testing.T, addr string) (*protocol.Conn, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := protocol.NewConn(nc)
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	g, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	_, err = protocol.ParseGreeting(g)
	return c, err
}

// TestUpdateSettings: a reload's new limits apply to the next client while the
// connected ones keep theirs; the idle timeout of a client is the one in force
// when it connected.
func TestUpdateSettings(t *testing.T) {
	s, addr, _ := startServer(t, nil)
	c1 := dial(t, addr)
	roundTrip(t, c1, &protocol.DescReq{PMID: 0x0f000020})
	s.Update(Settings{MaxClients: 1, IdleTimeout: 150 * time.Millisecond})
	if st := s.Settings(); st.MaxClients != 1 || st.MaxPDUSize != protocol.DefaultMaxPDUSize || st.RequestTimeout != protocol.DefaultRequestTimeout {
		t.Fatalf("settings with defaults: %+v", st)
	}
	if _, err := limitGreeting(t, addr); !errors.Is(err, &protocol.Error{Code: protocol.ErrConnLimit}) {
		t.Fatalf("new limit not applied: greeting error %v", err)
	}
	s.Update(Settings{MaxClients: 2, IdleTimeout: 150 * time.Millisecond})
	c2 := dial(t, addr)
	roundTrip(t, c2, &protocol.DescReq{PMID: 0x0f000020})
	time.Sleep(400 * time.Millisecond)
	// c1 connected under the default idle timeout (1 h) and is still served; c2
	// under 150 ms and is gone.
	roundTrip(t, c1, &protocol.DescReq{PMID: 0x0f000020})
	c2.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c2.Read(); err == nil {
		t.Fatal("the client that connected under the new idle timeout was not closed")
	}
}

func TestIdleTimeout(t *testing.T) {
	_, addr, _ := startServer(t, func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	c := dial(t, addr)
	roundTrip(t, c, &protocol.DescReq{PMID: 0x0f000020})
	c.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(); err == nil || errors.Is(err, errors.ErrUnsupported) {
		t.Fatal("idle client not closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server did not close the idle client")
	}
}

// TestShutdownWaits: Shutdown returns once clients are gone and leaves no goroutine.
func TestShutdownWaits(t *testing.T) {
	before := runtime.NumGoroutine()
	s, addr, _ := startServer(t, nil)
	for i := 0; i < 5; i++ {
		c := dial(t, addr)
		roundTrip(t, c, &protocol.DescReq{PMID: 0x0f000020})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("goroutines %d, before %d", n, before)
	}
}

// benchFetch measures one request/reply fetch over loopback with our own client
// framing (the libpcp comparison is scripts/bench.sh).
func benchFetch(b *testing.B, names []string) {
	s, addr, _ := startServer(b, nil)
	c := dial(b, addr)
	c.Write(&protocol.Profile{})
	var ids []protocol.PMID
	for _, n := range names {
		m, ok := s.Registry.ByName(n)
		if !ok {
			b.Fatalf("no metric %s", n)
		}
		ids = append(ids, m.Desc.PMID)
	}
	req := &protocol.Fetch{Highres: true, PMIDs: ids}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ReadRaw(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFetch1(b *testing.B) { benchFetch(b, []string{"kernel.all.load"}) }

func BenchmarkFetch10(b *testing.B) {
	benchFetch(b, []string{"kernel.all.cpu.user", "kernel.all.cpu.sys", "kernel.all.cpu.idle", "kernel.all.pswitch",
		"kernel.all.intr", "mem.util.free", "mem.util.used", "mem.util.cached", "kernel.all.load", "kernel.all.nprocs"})
}

func BenchmarkFetch30(b *testing.B) {
	benchFetch(b, []string{"kernel.percpu.cpu.user", "kernel.percpu.cpu.sys", "kernel.percpu.cpu.idle",
		"network.interface.in.bytes", "network.interface.out.bytes", "network.interface.in.packets",
		"network.interface.out.packets", "disk.dev.read", "disk.dev.write", "disk.dev.read_bytes",
		"disk.dev.write_bytes", "mem.util.free", "mem.util.used", "mem.util.cached", "mem.util.bufmem",
		"kernel.all.load", "kernel.all.pswitch", "kernel.all.intr", "kernel.all.nprocs", "swap.used",
		"filesys.free", "filesys.used", "kernel.all.cpu.nice", "kernel.all.cpu.steal",
		"mem.util.available", "mem.util.slab", "kernel.all.running", "kernel.all.blocked",
		"kernel.all.uptime", "hinv.ncpu"})
}
