package stress

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

// limitTimes are the deadlines the limit tests configure and expect. The full mode
// checks the documented defaults of the request and handshake deadlines; the idle
// timeout's default (an hour) is always replaced.
type limitTimes struct {
	request, handshake, idle time.Duration
	config                   string
}

func limits() limitTimes {
	if full() {
		return limitTimes{request: protocol.DefaultRequestTimeout, handshake: protocol.DefaultHandshakeTimeout,
			idle: 3 * time.Second, config: "[server]\nidle_timeout = \"3s\"\n"}
	}
	return limitTimes{request: 2 * time.Second, handshake: 2 * time.Second, idle: 2 * time.Second,
		config: "[server]\nrequest_timeout = \"2s\"\nhandshake_timeout = \"2s\"\nidle_timeout = \"2s\"\n"}
}

// cutMargin is how late after its deadline a cut may come: a loaded 2-core machine
// under the race detector, the daemon's scheduling and our read.
const cutMargin = 1500 * time.Millisecond

// checkCut fails unless elapsed is within [want-100ms, want+cutMargin].
func checkCut(t *testing.T, what string, elapsed, want time.Duration, closed bool) {
	t.Helper()
	if !closed {
		t.Fatalf("%s: still open after %v (deadline %v)", what, elapsed, want)
	}
	if elapsed < want-100*time.Millisecond || elapsed > want+cutMargin {
		t.Fatalf("%s: cut after %v, want %v (+%v)", what, elapsed.Round(time.Millisecond), want, cutMargin)
	}
	figure(t, what, "cut after %v (deadline %v)", elapsed.Round(time.Millisecond), want)
}

// TestConnectionLimit: past max_clients the next connection gets a greeting with
// PM_ERR_CONNLIMIT and is closed; pmapi reports it as "PMCD connection limit for
// this host exceeded"; a slot freed is usable again at once; refused connections
// leave nothing behind.
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	max := pick(1000, 50)
	// All from loopback, one address: the per-address limit is lifted to test max_clients.
	d := startDaemon(t, fmt.Sprintf("[server]\nmax_clients = %d\nmax_clients_per_addr = %d\n", max, 10*max))
	held := make([]*rawClient, 0, max)
	defer func() {
		for _, rc := range held {
			rc.Close()
		}
	}()
	for i := 0; i < max; i++ {
		rc, err := handshake(d.addr(), 10*time.Second)
		if err != nil {
			t.Fatalf("client %d of %d: %v", i+1, max, err)
		}
		held = append(held, rc)
	}
	// Every one admitted is served. A client's CREDS has no reply, so only an
	// answered request proves the server has moved it to a client slot: until
	// then a connection past the limit is still let into the handshake (the
	// limit counts served clients), which under load made this test fail.
	for _, rc := range held {
		rc.c.Write(&protocol.Profile{})
		rc.fetchOK(t, []protocol.PMID{protocol.NewPMID(60, 0, 32)})
	}
	base := d.stats(t)

	extra := pick(500, 100)
	var wg sync.WaitGroup
	var bad atomic.Int64
	var firstBad sync.Once
	var why string
	for i := 0; i < extra; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := dialRaw(d.addr(), 10*time.Second)
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != protocol.ErrConnLimit {
				bad.Add(1)
				firstBad.Do(func() { why = fmt.Sprint(err) })
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d of %d connections past the limit did not get PM_ERR_CONNLIMIT; first: %s", bad.Load(), extra, why)
	}
	// Greeting then close.
	nc, err := net.Dial("tcp", d.addr())
	if err != nil {
		t.Fatal(err)
	}
	c := protocol.NewConn(nc)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	g, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.ParseGreeting(g); !errors.Is(err, &protocol.Error{Code: protocol.ErrConnLimit}) {
		t.Fatalf("greeting error %v", err)
	}
	if el, closed := closedWithin(nc, 3*time.Second); !closed {
		t.Fatalf("refused connection still open after %v", el)
	}
	nc.Close()
	// What a user sees.
	_, err = pmapi.Connect(context.Background(), "127.0.0.1", pmapi.Options{Ports: []int{d.port}})
	if err == nil || protocol.CodeOf(err) != protocol.ErrConnLimit || !strings.Contains(err.Error(), "connection limit") {
		t.Fatalf("pmapi past the limit: %v", err)
	}
	// A slot freed is a slot usable.
	held[0].Close()
	held = held[1:]
	var rc *rawClient
	if !waitFor(5*time.Second, func() bool {
		rc, err = handshake(d.addr(), 5*time.Second)
		return err == nil
	}) {
		t.Fatalf("freed slot not reusable: %v", err)
	}
	held = append(held, rc)
	after := d.stats(t)
	if after.FDs > base.FDs+2 {
		t.Fatalf("collectord holds %d fds after %d refusals, %d before", after.FDs, extra, base.FDs)
	}
	figure(t, "connection limit", "max_clients %d: %d connections past it all got PM_ERR_CONNLIMIT and a close; fds %d before, %d after",
		max, extra, base.FDs, after.FDs)
	d.alive(t)
}

// TestTrickleCutAtRequestDeadline: a client sending a PDU one byte a second is cut
// at the request deadline counted from the PDU's first byte; during the handshake
// (its CREDS trickled) at the handshake deadline counted from the connection.
func TestTrickleCutAtRequestDeadline(t *testing.T) {
	t.Parallel()
	lt := limits()
	d := startDaemon(t, lt.config)
	ids := []protocol.PMID{protocol.NewPMID(60, 0, 32)}
	fetch := protocol.Encode(nil, &protocol.Fetch{Highres: true, PMIDs: ids}, 0)
	// After the handshake.
	rc, err := handshake(d.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rc.c.Write(&protocol.Profile{})
	rc.fetchOK(t, ids)
	first := make(chan time.Time, 1)
	go trickle(rc.nc, append(fetch, fetch...), first)
	start := <-first
	_, closed := closedWithin(rc.nc, lt.request+10*time.Second)
	checkCut(t, "trickled PDU", time.Since(start), lt.request, closed)

	// During the handshake: CREDS one byte a second.
	nc, err := net.Dial("tcp", d.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	connected := time.Now()
	c := protocol.NewConn(nc)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(); err != nil {
		t.Fatal(err)
	}
	creds := protocol.Encode(nil, &protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}, 0)
	go trickle(nc, creds, make(chan time.Time, 1))
	_, closed = closedWithin(nc, lt.handshake+10*time.Second)
	checkCut(t, "trickled CREDS", time.Since(connected), lt.handshake, closed)
	d.alive(t)
}

// trickle writes b one byte a second until the connection fails or b is sent,
// reporting when the first byte went.
func trickle(nc net.Conn, b []byte, first chan<- time.Time) {
	for i := range b {
		if _, err := nc.Write(b[i : i+1]); err != nil {
			return
		}
		if i == 0 {
			first <- time.Now()
		}
		time.Sleep(time.Second)
	}
}

// TestIdleCut: a client that sends nothing after its last reply is closed at the
// idle timeout.
func TestIdleCut(t *testing.T) {
	t.Parallel()
	lt := limits()
	d := startDaemon(t, lt.config)
	rc, err := handshake(d.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rc.c.Write(&protocol.Profile{})
	rc.fetchOK(t, []protocol.PMID{protocol.NewPMID(60, 0, 32)})
	el, closed := closedWithin(rc.nc, lt.idle+10*time.Second)
	checkCut(t, "idle client", el, lt.idle, closed)
}

// TestSilentClientCutAtHandshake: a client that connects and never sends CREDS is
// closed at the handshake deadline.
func TestSilentClientCutAtHandshake(t *testing.T) {
	t.Parallel()
	lt := limits()
	d := startDaemon(t, lt.config)
	nc, err := net.Dial("tcp", d.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	el, closed := closedWithin(nc, lt.handshake+10*time.Second)
	checkCut(t, "client silent after connect", el, lt.handshake, closed)
}

// TestTLSNeverStartedCut: a client that asks for TLS and never starts its
// handshake, or stops in the middle of its ClientHello, is closed at the
// handshake deadline counted from the connection.
func TestTLSNeverStartedCut(t *testing.T) {
	t.Parallel()
	lt := limits()
	p := newPKI(t)
	d := startDaemon(t, lt.config, "-C", p.serverStore, "-M", p.serverNick)
	for _, partial := range []bool{false, true} {
		name := "TLS handshake never started"
		if partial {
			name = "TLS ClientHello stopped half-way"
		}
		nc, err := net.Dial("tcp", d.addr())
		if err != nil {
			t.Fatal(err)
		}
		connected := time.Now()
		c := protocol.NewConn(nc)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		g, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := protocol.ParseGreeting(g); f&protocol.FeatureSecure == 0 {
			t.Fatalf("greeting without SECURE: %#x", f)
		}
		c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(protocol.FeatureSecure | protocol.FeatureSecureAck)}})
		if ack, err := c.Read(); err != nil {
			t.Fatal(err)
		} else if e, ok := ack.(*protocol.ErrorPDU); !ok || e.Code != 0 {
			t.Fatalf("ack %#v", ack)
		}
		if partial {
			// A TLS record header promising 512 bytes of ClientHello, and 10 of them.
			nc.Write([]byte{22, 3, 1, 2, 0, 1, 0, 1, 252, 3})
		}
		_, closed := closedWithin(nc, lt.handshake+10*time.Second)
		checkCut(t, name, time.Since(connected), lt.handshake, closed)
		nc.Close()
	}
	if !strings.Contains(d.log.String(), "TLS handshake failed") {
		t.Errorf("no log line for the cut handshakes:\n%s", d.log)
	}
}

// TestNonReadingClientCut: a client that sends requests and never reads the
// replies is cut once the server has been unable to write a reply for the request
// deadline, and holds no slot afterwards.
func TestNonReadingClientCut(t *testing.T) {
	t.Parallel()
	lt := limits()
	d := startDaemon(t, lt.config)
	rc, err := handshake(d.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rc.nc.(*net.TCPConn).SetReadBuffer(4096)
	rc.c.Write(&protocol.Profile{})
	// A client's CREDS has no reply, so only an answered request proves the
	// server counts it: before, the count below could read 1 while this client
	// was still in its handshake, and the test ended at once under load with
	// no cut at all.
	rc.fetchOK(t, []protocol.PMID{protocol.NewPMID(60, 0, 32)})
	// A fetch of every per-CPU and per-disk metric makes large replies.
	req := protocol.Encode(nil, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{
		protocol.NewPMID(60, 0, 0), protocol.NewPMID(60, 0, 1), protocol.NewPMID(60, 0, 3),
		protocol.NewPMID(2, 0, 7), protocol.NewPMID(2, 0, 21), protocol.NewPMID(60, 0, 32)}}, 0)
	batch := make([]byte, 0, 64*len(req))
	for i := 0; i < 64; i++ {
		batch = append(batch, req...)
	}
	// Whole PDUs only, each batch written to the end or until the socket fails.
	go func() {
		for {
			if _, err := rc.nc.Write(batch); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	// The client cannot see the cut reliably: its send buffer is full against a
	// zero window, and the server's reset may not be acceptable to it. The server
	// tells: its client count drops to the one asking.
	if !waitFor(lt.request+20*time.Second, func() bool { return numClients(t, d.addr()) == 1 }) {
		t.Fatalf("client that never reads still connected after %v:\n%s", time.Since(start), d.log)
	}
	el := time.Since(start)
	if !strings.Contains(d.log.String(), "i/o timeout") {
		t.Errorf("no timeout logged for the cut:\n%s", d.log)
	}
	figure(t, "client that never reads", "cut %v after it started sending (request deadline %v; the rest is filling the socket buffers)",
		el.Round(time.Millisecond), lt.request)
}

// TestGarbageMemoryBounded: 100 connections each sending 1 MiB of garbage raise
// collectord's RSS by a bounded amount, and leave it serving.
//
// The bound: each connection holds at most one PDU buffer of max_pdu_size (64 KiB),
// its 16 KiB read buffer and a goroutine stack (8 KiB); the Go heap may grow to
// twice what is live before it collects (GOGC=100); plus 8 MiB for the runtime's
// own growth. For 100 connections: 2*100*88 KiB + 8 MiB = 25.2 MiB.
func TestGarbageMemoryBounded(t *testing.T) {
	const conns, each = 100, 1 << 20
	const bound = 2*conns*(64+16+8)<<10 + 8<<20
	d := startDaemon(t, "[server]\nrequest_timeout = \"2s\"\nhandshake_timeout = \"2s\"\nmax_clients_per_addr = 1000\n") // all from loopback
	// Warm up: a client with a fetch, so the baseline has the metric sources loaded.
	lookupIDs(t, d.addr())
	time.Sleep(200 * time.Millisecond)
	base := d.stats(t)

	random := make([]byte, each)
	rand.Read(random)
	// Largest PDUs of a type nobody serves: read whole, answered with PM_ERR_IPC, kept.
	framed := make([]byte, 0, each)
	for len(framed)+protocol.DefaultMaxPDUSize <= each {
		pdu := make([]byte, protocol.DefaultMaxPDUSize)
		binary.BigEndian.PutUint32(pdu, uint32(len(pdu)))
		binary.BigEndian.PutUint32(pdu[4:], 0x7fff)
		copy(pdu[12:], random[len(framed):])
		framed = append(framed, pdu...)
	}
	// A FETCH whose count claims the whole PDU and lies.
	lying := make([]byte, 0, each)
	for len(lying)+protocol.DefaultMaxPDUSize <= each {
		pdu := make([]byte, protocol.DefaultMaxPDUSize)
		binary.BigEndian.PutUint32(pdu, uint32(len(pdu)))
		binary.BigEndian.PutUint32(pdu[4:], uint32(protocol.TypeHighresFetch))
		binary.BigEndian.PutUint32(pdu[24:], 0x7fffffff)
		lying = append(lying, pdu...)
	}
	kinds := []struct {
		name      string
		handshake bool
		data      []byte
	}{
		{"random bytes instead of CREDS", false, random},
		{"random bytes after the handshake", true, random},
		{"64 KiB PDUs of an unknown type", true, framed},
		{"64 KiB FETCHes with lying counts", true, lying},
	}

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if s, err := readProcStats(d.pid()); err == nil && s.RSSKB > peak.Load() {
				peak.Store(s.RSSKB)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	var sent, lastWrite atomic.Int64
	start := time.Now()
	for i := 0; i < conns; i++ {
		k := kinds[i%len(kinds)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", d.addr())
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer nc.Close()
			if k.handshake {
				c := protocol.NewConn(nc)
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				c.Read()
				c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}})
			}
			// Drain the replies so that only the server's reading is measured.
			go func() {
				buf := make([]byte, 4096)
				for {
					nc.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, err := nc.Read(buf); err != nil {
						return
					}
				}
			}()
			nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
			n, _ := nc.Write(k.data)
			sent.Add(int64(n))
			if el := int64(time.Since(start)); el > lastWrite.Load() {
				lastWrite.Store(el) // racy max, good enough for a figure
			}
			closedWithin(nc, 5*time.Second)
		}()
	}
	wg.Wait()
	el := time.Duration(lastWrite.Load())
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-sampled
	d.alive(t)
	// VmHWM catches a peak between two samples.
	if s := d.stats(t); s.HWMKB > peak.Load() {
		peak.Store(s.HWMKB)
	}
	rise := (peak.Load() - base.RSSKB) << 10
	figure(t, "garbage memory", "%d connections x 1 MiB of garbage (%d MiB written, the last byte %v after the first): RSS %.1f MiB before, peak %.1f MiB, rise %.1f MiB (bound %.1f MiB)",
		conns, sent.Load()>>20, el.Round(time.Millisecond), float64(base.RSSKB)/1024, float64(peak.Load())/1024,
		float64(rise)/(1<<20), float64(bound)/(1<<20))
	if rise > bound {
		t.Fatalf("RSS rose by %d MiB, bound %d MiB", rise>>20, bound>>20)
	}
	// Still serving, and nobody left behind.
	if !waitFor(10*time.Second, func() bool { return numClients(t, d.addr()) == 1 }) {
		t.Fatalf("pmcd.numclients %d after the garbage connections closed", numClients(t, d.addr()))
	}
	if s := d.stats(t); s.FDs > base.FDs+2 {
		t.Fatalf("fds %d after, %d before", s.FDs, base.FDs)
	}
	// Bad-PDU lines are rate-limited: at least one, whichever garbage came first.
	if l := d.log.String(); !strings.Contains(l, "bad PDU") && !strings.Contains(l, "PDU too large") &&
		!strings.Contains(l, "malformed PDU") && !strings.Contains(l, "unexpected PDU") {
		t.Errorf("no log line for the garbage")
	}
}
