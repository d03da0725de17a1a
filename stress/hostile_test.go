package stress

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

// pduBytes lays out a PDU whose header length is the true length.
func pduBytes(typ int32, body ...[]byte) []byte {
	b := make([]byte, protocol.HeaderSize)
	binary.BigEndian.PutUint32(b[4:], uint32(typ))
	for _, p := range body {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

// lyingPDU is a PDU whose header claims length instead of its size.
func lyingPDU(length uint32, typ int32, body ...[]byte) []byte {
	b := pduBytes(typ, body...)
	binary.BigEndian.PutUint32(b, length)
	return b
}

// w are big-endian words.
func w(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}

// s is a byte string padded to a word with '~'.
func s(str string) []byte {
	b := []byte(str)
	for len(b)%4 != 0 {
		b = append(b, '~')
	}
	return b
}

const neg1 = 0xffffffff

// hostileCase is one malformed input. Every reply to it must be an ERROR with a
// negative code unless anyReply says a real answer is allowed (a valid but extreme
// request); then the server must either still serve on that connection or have
// closed it.
type hostileCase struct {
	name       string
	b          []byte
	anyReply   bool
	validFirst bool // a valid CREDS: as a first PDU it completes the handshake
}

// hostileCorpus is the suite's catalogue of malformed PDUs, sent after a good
// handshake (TestHostilePDUs) and instead of CREDS (TestHostileFirstPDU).
func hostileCorpus() []hostileCase {
	fetchPMID := uint32(protocol.NewPMID(60, 0, 32)) // hinv.ncpu
	whoami := uint32(protocol.NewPMID(2, 6, 0))
	maxNames := make([]byte, 0, 65536)
	maxNames = append(maxNames, w(0, 0, 16000)...)
	for i := 0; i < 16000; i++ {
		maxNames = append(maxNames, w(0)...)
	}
	manyIDs := w(0, 0, 0, 16000)
	for i := 0; i < 16000; i++ {
		manyIDs = append(manyIDs, w(fetchPMID)...)
	}
	// A LABEL PDU whose JSON is fine but whose index points past it.
	json := []byte(`{"a":"b"}`)
	labelOut := pduBytes(protocol.TypeLabel, w(1, 1, 0, 1, neg1, 1, 28, uint32(len(json))),
		[]byte{0, 2, 1, 1, 0, 5, 0, 200}, json)
	labelJSONOut := pduBytes(protocol.TypeLabel, w(1, 1, 0, 1, neg1, 0, 0xfff0, 8), s("{}{}"))
	labelNeg := pduBytes(protocol.TypeLabel, w(1, 1, 0, 1, neg1, 0, 28, neg1))
	labelMany := pduBytes(protocol.TypeLabel, w(1, 1, 0, 1, neg1, 300, 28, 2), s("{}"))
	// Value blocks for a pmStore RESULT (legacy RESULT: sec, usec, numpmid).
	resultHdr := func(numpmid uint32) []byte { return w(0, 0, numpmid) }
	return []hostileCase{
		// Headers.
		{name: "length 0", b: lyingPDU(0, protocol.TypeFetch)},
		{name: "length 4", b: lyingPDU(4, protocol.TypeFetch)},
		{name: "length 11, below the header", b: lyingPDU(11, protocol.TypeFetch, w(0))},
		{name: "length 2^31-1", b: lyingPDU(0x7fffffff, protocol.TypeFetch, w(0, 0, 0, 1, fetchPMID))},
		{name: "length 2^31 (negative)", b: lyingPDU(0x80000000, protocol.TypeFetch, w(0, 0, 0, 1, fetchPMID))},
		{name: "length 2^32-1", b: lyingPDU(neg1, protocol.TypeFetch, w(0, 0, 0, 1, fetchPMID))},
		{name: "length 64 KiB + 1", b: lyingPDU(65537, protocol.TypeFetch, w(0, 0, 0, 1, fetchPMID))},
		{name: "length longer than sent", b: lyingPDU(400, protocol.TypeHighresFetch, w(0, 0, 0, 1, fetchPMID))},
		{name: "negative type -1", b: pduBytes(-1, w(fetchPMID))},
		{name: "negative type 0x80007004", b: pduBytes(int32(-0x7fff8ffc), w(fetchPMID))},
		{name: "type 0", b: pduBytes(0, w(fetchPMID))},
		{name: "type 2^31-1", b: pduBytes(0x7fffffff, w(fetchPMID))},
		{name: "type 0x700b (no such PDU)", b: pduBytes(0x700b, w(0))},
		// Counts that lie.
		{name: "FETCH count 2^31-1", b: pduBytes(protocol.TypeHighresFetch, w(0, 0, 0, 0x7fffffff, fetchPMID))},
		{name: "FETCH count -1", b: pduBytes(protocol.TypeHighresFetch, w(0, 0, 0, neg1, fetchPMID))},
		{name: "FETCH count 2 with 1 PMID", b: pduBytes(protocol.TypeHighresFetch, w(0, 0, 0, 2, fetchPMID))},
		{name: "FETCH count 0", b: pduBytes(protocol.TypeHighresFetch, w(0, 0, 0, 0))},
		{name: "FETCH count 1 with 2 PMIDs", b: pduBytes(protocol.TypeFetch, w(0, 0, 0, 1, fetchPMID, fetchPMID))},
		{name: "FETCH truncated", b: pduBytes(protocol.TypeFetch, w(0, 0))},
		{name: "PROFILE count 2^31-1", b: pduBytes(protocol.TypeProfile, w(0, 0, 0x7fffffff, 0))},
		{name: "PROFILE instance count lies", b: pduBytes(protocol.TypeProfile, w(0, 0, 1, 0, 0x0f000002, 1, 0x7fffffff, 0, 5))},
		{name: "PROFILE instance counts overflow when added", b: pduBytes(protocol.TypeProfile,
			w(0, 0, 2, 0, 1, 1, 0x40000000, 0, 2, 1, 0x40000000, 0, 5, 5))},
		{name: "PROFILE instance count -1", b: pduBytes(protocol.TypeProfile, w(0, 0, 1, 0, 0x0f000002, 1, neg1, 0))},
		{name: "PMNS_NAMES count 2^31-1", b: pduBytes(protocol.TypePMNSNames, w(8, 0, 0x7fffffff, 4), s("abcd"))},
		{name: "PMNS_NAMES status count differs", b: pduBytes(protocol.TypePMNSNames, w(8, 2, 1, 0, 4), s("abcd"))},
		{name: "PMNS_NAMES name length past the end", b: pduBytes(protocol.TypePMNSNames, w(8, 0, 1, 1000), s("hinv"))},
		{name: "PMNS_NAMES name length -1", b: pduBytes(protocol.TypePMNSNames, w(8, 0, 1, neg1), s("hinv"))},
		{name: "PMNS_NAMES name length 2^31-4", b: pduBytes(protocol.TypePMNSNames, w(8, 0, 1, 0x7ffffffc), s("hinv"))},
		{name: "PMNS_NAMES 16000 empty names", b: pduBytes(protocol.TypePMNSNames, maxNames), anyReply: true},
		{name: "PMNS_NAMES name with a NUL inside", b: pduBytes(protocol.TypePMNSNames, w(10, 0, 1, 9), s("hinv\x00ncpu")), anyReply: true},
		{name: "PMNS_TRAVERSE name length 2^31-1", b: pduBytes(protocol.TypePMNSTraverse, w(0, 0x7fffffff), s("kernel"))},
		{name: "PMNS_TRAVERSE name length -2", b: pduBytes(protocol.TypePMNSTraverse, w(0, 0xfffffffe), s("kernel"))},
		{name: "PMNS_TRAVERSE name without its padding", b: pduBytes(protocol.TypePMNSTraverse, w(0, 6), []byte("kernel"))},
		{name: "PMNS_TRAVERSE name without room for it", b: pduBytes(protocol.TypePMNSTraverse, w(0, 7), s("kern"))},
		{name: "PMNS_CHILD name length lies", b: pduBytes(protocol.TypePMNSChild, w(1, 64), s("kernel.all"))},
		{name: "PMNS_CHILD name of 60000 dots", b: pduBytes(protocol.TypePMNSChild, w(1, 60000), bytes.Repeat([]byte("."), 60000)), anyReply: true},
		{name: "PMNS_IDS count lies", b: pduBytes(protocol.TypePMNSIDs, w(0, 1000, fetchPMID))},
		{name: "PMNS_IDS count 0", b: pduBytes(protocol.TypePMNSIDs, w(0, 0))},
		{name: "DESC_IDS count lies", b: pduBytes(protocol.TypeDescIDs, w(neg1, 0x10000000, fetchPMID))},
		{name: "DESC_IDS status not -1", b: pduBytes(protocol.TypeDescIDs, w(7, 1, fetchPMID))},
		{name: "DESC_IDS 16000 PMIDs", b: pduBytes(protocol.TypeDescIDs, append(w(neg1), manyIDs[12:]...)), anyReply: true},
		{name: "FETCH 16000 PMIDs", b: pduBytes(protocol.TypeHighresFetch, manyIDs), anyReply: true},
		{name: "DESC_REQ with trailing bytes", b: pduBytes(protocol.TypeDescReq, w(fetchPMID, 0))},
		{name: "DESC_REQ empty", b: pduBytes(protocol.TypeDescReq)},
		{name: "INSTANCE_REQ name length lies", b: pduBytes(protocol.TypeInstanceReq, w(0x0f000002, 0, 0, neg1, 400), s("1 minute"))},
		{name: "INSTANCE_REQ name length negative", b: pduBytes(protocol.TypeInstanceReq, w(0x0f000002, 0, 0, neg1, 0x80000000))},
		{name: "INSTANCE_REQ unknown indom", b: pduBytes(protocol.TypeInstanceReq, w(0xffffffff, 0, 0, neg1, 0))},
		{name: "TEXT_REQ short", b: pduBytes(protocol.TypeTextReq, w(fetchPMID))},
		{name: "TEXT_REQ kind 0", b: pduBytes(protocol.TypeTextReq, w(fetchPMID, 0))},
		{name: "LABEL_REQ short", b: pduBytes(protocol.TypeLabelReq, w(1))},
		{name: "LABEL_REQ kind -1", b: pduBytes(protocol.TypeLabelReq, w(1, neg1))},
		{name: "LABEL index entry past its JSON", b: labelOut},
		{name: "LABEL JSON offset outside the PDU", b: labelJSONOut},
		{name: "LABEL JSON length -1", b: labelNeg},
		{name: "LABEL 300 labels", b: labelMany},
		// pmStore RESULTs: offsets outside, lying counts, strings without terminators.
		{name: "RESULT numpmid lies", b: pduBytes(protocol.TypeResult, resultHdr(0x7fffffff), w(whoami, 1))},
		{name: "RESULT numval lies", b: pduBytes(protocol.TypeResult, resultHdr(1), w(whoami, 0x7fffffff, 2, neg1, 9))},
		{name: "RESULT valfmt 7", b: pduBytes(protocol.TypeResult, resultHdr(1), w(whoami, 1, 7, neg1, 0))},
		{name: "RESULT value offset into the header", b: pduBytes(protocol.TypeResult, resultHdr(1), w(whoami, 1, 2, neg1, 1), w(0x06000008), s("ab"))},
		{name: "RESULT value offset past the end", b: pduBytes(protocol.TypeResult, resultHdr(1), w(whoami, 1, 2, neg1, 0x3fffffff), w(0x06000008), s("ab"))},
		{name: "RESULT value offset 2^32-1 words", b: pduBytes(protocol.TypeResult, resultHdr(1), w(whoami, 1, 2, neg1, neg1))},
		{name: "RESULT value block length past the end", b: pduBytes(protocol.TypeResult, resultHdr(1), w(whoami, 1, 2, neg1, 11), w(0x06ffffff), s("ab"))},
		{name: "RESULT value block length 0", b: pduBytes(protocol.TypeResult, resultHdr(1), w(whoami, 1, 2, neg1, 11), w(0x06000000), s("ab"))},
		{name: "RESULT value block overlapping the value sets", b: pduBytes(protocol.TypeResult, resultHdr(1), w(whoami, 1, 2, neg1, 6), w(0x06000008), s("ab"))},
		{name: "RESULT store string without a terminator", b: pduBytes(protocol.TypeResult, resultHdr(1), w(whoami, 1, 2, neg1, 11), w(0x06000008), []byte("abcd")), anyReply: true},
		{name: "RESULT store of 16000 value sets", b: pduBytes(protocol.TypeResult, append(resultHdr(8000), bytes.Repeat(w(whoami, 0), 8000)...)), anyReply: true},
		// Everything else a client must not send.
		{name: "CREDS again", b: pduBytes(protocol.TypeCreds, w(1, protocol.VersionCred(0))), validFirst: true},
		{name: "CREDS count 0", b: pduBytes(protocol.TypeCreds, w(0))},
		{name: "CREDS count 2^31-1", b: pduBytes(protocol.TypeCreds, w(0x7fffffff, protocol.VersionCred(0)))},
		{name: "ATTR of 8 KiB", b: pduBytes(protocol.TypeAttr, w(15), bytes.Repeat([]byte("x"), 8192))},
		{name: "ERROR from a client", b: pduBytes(protocol.TypeError, w(0))},
		{name: "HIGHRES_RESULT sent as a request", b: pduBytes(protocol.TypeHighresResult, w(0, 0, 0, 0, 0)), anyReply: true},
		{name: "pmStore to hinv.ncpu", b: pduBytes(protocol.TypeResult, resultHdr(1), w(fetchPMID, 1, 0, neg1, 5))},
		{name: "pmStore of whoami insitu", b: pduBytes(protocol.TypeResult, resultHdr(1), w(whoami, 1, 0, neg1, 5))},
		{name: "CONTROL_REQ", b: pduBytes(protocol.TypeControlReq, w(0, 0))},
		{name: "DESCS (a reply) sent as a request", b: pduBytes(protocol.TypeDescs, w(1, fetchPMID, 3, neg1, 1, 0))},
	}
}

// hostileServer is the in-process collector the hostile inputs are sent to: short
// deadlines so that inputs promising more bytes than they bring end fast.
func hostileServer(t testing.TB) *inproc {
	return startInproc(t, inprocOptions{tweak: func(s *server.Server) {
		s.RequestTimeout = 500 * time.Millisecond
		s.HandshakeTimeout = time.Second
	}})
}

// readReplies reads PDUs until the peer closes or is quiet for quiet.
func readReplies(c *protocol.Conn, quiet time.Duration) (replies []protocol.PDU, closed bool, err error) {
	for {
		c.Conn.SetReadDeadline(time.Now().Add(quiet))
		b, rerr := c.ReadRaw()
		if rerr != nil {
			var ne net.Error
			if errors.As(rerr, &ne) && ne.Timeout() {
				return replies, false, nil
			}
			return replies, true, nil
		}
		p, _, derr := protocol.Decode(b)
		if derr != nil {
			return replies, false, fmt.Errorf("the server sent a malformed PDU % x: %v", b[:min(len(b), 64)], derr)
		}
		replies = append(replies, p)
	}
}

// sendHostile sends one case on c followed at once by a DESC_REQ, and checks
// the replies: ERRORs (or anything, for anyReply) and then either the DESC, which
// shows the stream is still in step, or a close. An input promising more bytes
// than it brings swallows the DESC_REQ and is cut at the request deadline. It
// returns whether the connection is still open.
func sendHostile(t *testing.T, c *protocol.Conn, hc hostileCase, deadline time.Duration) bool {
	t.Helper()
	sync := protocol.Encode(nil, &protocol.DescReq{PMID: protocol.NewPMID(60, 0, 32)}, 0)
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.WriteRaw(append(append([]byte{}, hc.b...), sync...)) // may fail once the server has had enough
	end := time.Now().Add(deadline + 3*time.Second)
	for {
		c.Conn.SetReadDeadline(end)
		b, err := c.ReadRaw()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("%s: neither answered nor closed within %v", hc.name, deadline+3*time.Second)
			}
			return false
		}
		p, _, err := protocol.Decode(b)
		if err != nil {
			t.Fatalf("%s: the server sent a malformed PDU % x: %v", hc.name, b[:min(len(b), 64)], err)
		}
		if _, ok := p.(*protocol.DescPDU); ok {
			return true
		}
		if e, isErr := p.(*protocol.ErrorPDU); !hc.anyReply && (!isErr || e.Code >= 0) {
			t.Fatalf("%s: answered with %s %+v, want an ERROR or a close", hc.name, protocol.TypeName(p.Type()), p)
		}
	}
}

// TestHostilePDUs: every malformed PDU of the corpus, sent after a good handshake,
// is answered with an ERROR or a close, never a panic, and a well-behaved client
// on another connection is served after each one.
func TestHostilePDUs(t *testing.T) {
	p := hostileServer(t)
	good, err := handshake(p.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	good.c.Write(&protocol.Profile{})
	ids := []protocol.PMID{protocol.NewPMID(60, 0, 32)}
	base := measureSelf()
	var kept, closed int
	for _, hc := range hostileCorpus() {
		t.Run(hc.name, func(t *testing.T) {
			rc, err := handshake(p.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if sendHostile(t, rc.c, hc, p.srv.RequestTimeout) {
				kept++
			} else {
				closed++
			}
			good.fetchOK(t, ids)
		})
	}
	figure(t, "hostile PDUs after the handshake", "%d cases: %d answered with ERROR and the connection kept in step, %d closed; no panic, the good client served after each",
		kept+closed, kept, closed)
	if !waitFor(5*time.Second, func() bool { return p.srv.NumClients() == 1 }) {
		t.Fatalf("%d clients registered, want the good one", p.srv.NumClients())
	}
	if after, ok := waitBaseline(base, 10*time.Second); !ok {
		t.Fatalf("resources not back to baseline: before %+v after %+v\n%s", base, after, summarizeGoroutines())
	}
}

// TestHostileFirstPDU: the same corpus instead of CREDS closes the connection,
// with at most an ERROR first.
func TestHostileFirstPDU(t *testing.T) {
	p := hostileServer(t)
	corpus := append(hostileCorpus(),
		hostileCase{name: "a valid FETCH first", b: protocol.Encode(nil, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{protocol.NewPMID(60, 0, 32)}}, 0)},
		hostileCase{name: "CREDS with unknown flags", b: pduBytes(protocol.TypeCreds, w(1, protocol.VersionCred(0)|0x8000))},
		hostileCase{name: "CREDS asking for compression", b: pduBytes(protocol.TypeCreds, w(1, protocol.VersionCred(protocol.FeatureCompress)))},
		hostileCase{name: "CREDS asking for SASL", b: pduBytes(protocol.TypeCreds, w(1, protocol.VersionCred(protocol.FeatureAuth)))},
		hostileCase{name: "CREDS asking for TLS from a server without it", b: pduBytes(protocol.TypeCreds, w(1, protocol.VersionCred(protocol.FeatureSecure)))},
		hostileCase{name: "CREDS without a version", b: pduBytes(protocol.TypeCreds, w(1, 2<<24|5))},
		hostileCase{name: "CREDS 1024 words", b: pduBytes(protocol.TypeCreds, append(w(1024), bytes.Repeat(w(protocol.VersionCred(0)), 1024)...)), validFirst: true},
	)
	for _, hc := range corpus {
		t.Run(hc.name, func(t *testing.T) {
			rc, err := dialRaw(p.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			rc.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			rc.c.WriteRaw(hc.b)
			replies, closed, err := readReplies(rc.c, 1500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range replies {
				if e, ok := r.(*protocol.ErrorPDU); !ok || e.Code >= 0 {
					t.Fatalf("answered with %s %+v before a handshake", protocol.TypeName(r.Type()), r)
				}
			}
			if !closed {
				if hc.validFirst {
					return
				}
				t.Fatal("connection still open 1.5 s after a bad first PDU (handshake deadline 1 s)")
			}
		})
	}
	good, err := handshake(p.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	good.c.Write(&protocol.Profile{})
	good.fetchOK(t, []protocol.PMID{protocol.NewPMID(60, 0, 32)})
}

// fakePMCD is a hostile server for the client side: it greets with greeting,
// reads CREDS, then answers every request with reply (nil: no answer, just wait).
type fakePMCD struct {
	ln   net.Listener
	port int
	wg   sync.WaitGroup
}

func startFakePMCD(t *testing.T, greeting, reply []byte) *fakePMCD {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePMCD{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := nc.Write(greeting); err != nil {
					return
				}
				c := protocol.NewConn(nc)
				for {
					if _, err := c.ReadRaw(); err != nil {
						return
					}
					if reply != nil {
						if _, err := nc.Write(reply); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

var goodGreeting = protocol.Encode(nil, protocol.Greeting(0, protocol.FeatureLabels|protocol.FeatureHighres|protocol.FeatureDescs), 0)

// TestHostileServer: a server that answers with malformed PDUs makes pmapi
// return an error, never panic or hang beyond its request timeout.
func TestHostileServer(t *testing.T) {
	json := []byte(`{"a":"b"}`)
	cases := []struct {
		name            string
		greeting, reply []byte
		call            func(*pmapi.Context) error
	}{
		{"greeting length 4", lyingPDU(4, protocol.TypeError, w(0, 0)), nil, nil},
		{"greeting negative type", pduBytes(-1, w(0, 0x02010000)), nil, nil},
		{"greeting of type RESULT", pduBytes(protocol.TypeResult, w(0, 0, 0)), nil, nil},
		{"greeting 8 bytes short", goodGreeting[:12], nil, nil},
		{"RESULT numpmid lies", goodGreeting, pduBytes(protocol.TypeHighresResult, w(0x7fffffff, 0, 0, 0, 0)), fetch},
		{"RESULT value offset outside", goodGreeting, pduBytes(protocol.TypeHighresResult, w(1, 0, 0, 0, 0, 1, 1, 1, neg1, 0x7fff0000)), fetch},
		{"RESULT value block length past the end", goodGreeting, pduBytes(protocol.TypeHighresResult, w(1, 0, 0, 0, 0, 1, 1, 1, neg1, 11, 0x03ffffff)), fetch},
		{"RESULT to a name lookup", goodGreeting, pduBytes(protocol.TypeHighresResult, w(0, 0, 0, 0, 0)), lookup},
		{"PMNS_IDS count lies", goodGreeting, pduBytes(protocol.TypePMNSIDs, w(1, 0x7fffffff, 5)), lookup},
		{"PMNS_IDS with fewer ids than names", goodGreeting, pduBytes(protocol.TypePMNSIDs, w(0, 0)), lookup},
		{"DESCS count lies", goodGreeting, pduBytes(protocol.TypeDescs, w(0x10000000, 1, 2, 3, 4, 5)), descs},
		{"DESCS with fewer descriptors than asked", goodGreeting, pduBytes(protocol.TypeDescs, w(0)), descs},
		{"INSTANCE name length past the end", goodGreeting, pduBytes(protocol.TypeInstance, w(1, 1, 0, 1000), s("a")), indom},
		{"INSTANCE count lies", goodGreeting, pduBytes(protocol.TypeInstance, w(1, 0x7fffffff)), indom},
		{"TEXT length -1", goodGreeting, pduBytes(protocol.TypeText, w(1, neg1)), text},
		{"TEXT length past the end", goodGreeting, pduBytes(protocol.TypeText, w(1, 100), s("help")), text},
		{"PMNS_NAMES name without room", goodGreeting, pduBytes(protocol.TypePMNSNames, w(4, 0, 1, 0x7ffffff0)), traverse},
		{"LABEL index entry past its JSON", goodGreeting, pduBytes(protocol.TypeLabel, w(1, 2, 0, 1, neg1, 1, 28, uint32(len(json))),
			[]byte{0, 2, 1, 1, 0, 5, 0, 200}, json), labels},
		{"LABEL JSON offset outside the PDU", goodGreeting, pduBytes(protocol.TypeLabel, w(1, 2, 0, 1, neg1, 0, 0x7ffffff0, 8), s("{}")), labels},
		{"LABEL JSON that is not JSON", goodGreeting, pduBytes(protocol.TypeLabel, w(1, 2, 0, 1, neg1, 1, 28, 4), []byte{0, 1, 1, 1, 0, 2, 0, 1}, s("{\"a")), labels},
		{"ERROR with the length of a greeting", goodGreeting, pduBytes(protocol.TypeError, w(0, 0)), fetch},
		{"reply of an unknown type", goodGreeting, pduBytes(0x7123, w(0)), fetch},
		{"no reply at all", goodGreeting, nil, fetch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakePMCD(t, tc.greeting, tc.reply)
			start := time.Now()
			ctx, err := pmapi.Connect(context.Background(), "127.0.0.1", pmapi.Options{Ports: []int{f.port}, RequestTimeout: time.Second})
			if tc.call == nil {
				if err == nil {
					ctx.Close()
					t.Fatal("connected through a malformed greeting")
				}
				return
			}
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer ctx.Close()
			if err := tc.call(ctx); err == nil {
				t.Fatal("no error from a malformed reply")
			} else if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("error after %v: %v", el, err)
			}
		})
	}
}

func fetch(c *pmapi.Context) error {
	_, err := c.Fetch([]protocol.PMID{protocol.NewPMID(60, 0, 32)})
	return err
}

func lookup(c *pmapi.Context) error {
	_, err := c.LookupNames([]string{"hinv.ncpu", "kernel.all.load"})
	return err
}

func descs(c *pmapi.Context) error {
	_, err := c.Descs([]protocol.PMID{protocol.NewPMID(60, 0, 32), protocol.NewPMID(60, 2, 0)})
	return err
}

func indom(c *pmapi.Context) error {
	_, err := c.InDom(protocol.InDom(0x0f000002))
	return err
}

func text(c *pmapi.Context) error {
	_, err := c.Text(uint32(protocol.NewPMID(60, 0, 32)), protocol.TextOneLine|protocol.TextPMID)
	return err
}

func traverse(c *pmapi.Context) error {
	_, err := c.Traverse("kernel")
	return err
}

func labels(c *pmapi.Context) error {
	_, err := c.DomainLabels(60)
	return err
}

// TestClientBoundsLyingLength: a server (or a man in the middle, before TLS) that
// sends a header claiming a huge PDU must not make the client allocate it before
// the bytes arrive. The header here claims 256 MiB; any length up to 2 GiB can be
// claimed, once per PDU read.
func TestClientBoundsLyingLength(t *testing.T) {
	greeting := lyingPDU(256<<20, protocol.TypeError, w(0, 0))
	f := startFakePMCD(t, greeting, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := pmapi.Connect(context.Background(), "127.0.0.1", pmapi.Options{Ports: []int{f.port}, RequestTimeout: 500 * time.Millisecond})
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("connected through a 2 GiB greeting")
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	figure(t, "client reading a header claiming 256 MiB", "allocated %.1f MiB before failing (%v)", mib(alloc), err)
	if alloc > 64<<20 {
		t.Skipf("needs: protocol.Conn.ReadRaw to stop allocating the header's length up front when MaxSize is 0 "+
			"(grow the buffer as the bytes arrive, e.g. in 1 MiB steps) or pmapi to set Conn.MaxSize on its connections; "+
			"allocated %d MiB for a greeting that never came", alloc>>20)
	}
}

// fuzzTarget is one in-process server shared by the fuzz inputs of a process.
var fuzzTarget struct {
	once sync.Once
	addr string
	good *rawClient
	err  error
	mu   sync.Mutex
	n    int
}

// FuzzServerSession feeds arbitrary bytes, after a good handshake, to a real
// collectord server in this process: it must never panic or exhaust memory, every
// reply must be a well-formed PDU, the connection must end once the client stops
// sending, and a well-behaved client must still be served.
func FuzzServerSession(f *testing.F) {
	seeds := map[string]bool{}
	add := func(b []byte) {
		seeds[string(b)] = true
		f.Add(b)
	}
	for _, hc := range hostileCorpus() {
		if len(hc.b) < 4096 {
			add(hc.b)
		}
	}
	for _, r := range fuzzRegressions {
		if r.needs == "" {
			add(r.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<17 {
			return
		}
		if !fuzzing() && !seeds[string(data)] {
			// An input from testdata/fuzz (a crasher a fuzz run saved) runs in a
			// child process, so that one that kills the server fails this test,
			// not the whole test binary.
			out, code := runChild(t, "session", data)
			if code != 0 {
				if n := knownCrash(out); n != "" {
					t.Skipf("needs: %s", n)
				}
				t.Fatalf("exit %d:\n%s", code, out)
			}
			return
		}
		if err := sessionCheck(data); err != nil {
			t.Fatal(err)
		}
	})
}

// fuzzing reports whether the test binary runs with -fuzz (go test -fuzz).
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// knownCrash recognises, in a dead child's output, a crash whose fix is known.
func knownCrash(out string) string {
	if strings.Contains(out, "out of memory") && strings.Contains(out, "protocol.(*Result).decodeBody") {
		return needsResultValFmt
	}
	return ""
}

// sessionCheck runs one input against the shared server.
func sessionCheck(data []byte) error {
	ft := &fuzzTarget
	ft.once.Do(func() {
		// A server of its own, kept for the life of the process: fuzzing runs
		// thousands of inputs, a server each would cost more than the inputs.
		s := &server.Server{RequestTimeout: 200 * time.Millisecond, HandshakeTimeout: time.Second, Logger: discardLogger()}
		reg, err := newRegistry(s)
		if err != nil {
			ft.err = err
			return
		}
		s.Registry = reg
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			ft.err = err
			return
		}
		ft.addr = ln.Addr().String()
		go s.Serve(context.Background(), ln)
		ft.good, ft.err = handshake(ft.addr, 5*time.Second)
		if ft.err == nil {
			ft.good.c.Write(&protocol.Profile{})
		}
	})
	if ft.err != nil {
		return ft.err
	}
	rc, err := handshake(ft.addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	defer rc.Close()
	rc.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	rc.nc.Write(data)
	rc.nc.(*net.TCPConn).CloseWrite()
	// The server sees the end of the input: it must answer what it has and close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rc.nc.SetReadDeadline(deadline)
		b, err := rc.c.ReadRaw()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return errors.New("the server did not close within 5 s of the end of the input")
			}
			break
		}
		if _, _, err := protocol.Decode(b); err != nil {
			return fmt.Errorf("the server sent a malformed PDU: %v\n% x", err, b[:min(len(b), 128)])
		}
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.n++
	if ft.n%64 == 1 {
		r, err := ft.good.call(&protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{protocol.NewPMID(60, 0, 32)}}, 5*time.Second)
		if _, ok := r.(*protocol.Result); !ok || err != nil {
			return fmt.Errorf("the well-behaved client is no longer served: %v %#v", err, r)
		}
	}
	return nil
}

// fuzzRegressions are inputs fuzzing found, kept with their bytes. Each runs in a
// child process (an input that kills the server would kill the test binary).
// needs says what change of another package the input is waiting for; until it
// is made, the entry is skipped with that note.
var fuzzRegressions = []struct {
	name, needs string
	data        []byte
}{
	{name: "empty"},
	{name: "profile then fetch pipelined", data: append(protocol.Encode(nil, &protocol.Profile{}, 0),
		protocol.Encode(nil, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{protocol.NewPMID(60, 0, 32)}}, 0)...)},
	{
		// A 33-byte RESULT (a pmStore) whose value set claims 0x30ffffe7 values and
		// ends before its valfmt word: the count check is skipped because the
		// valfmt read failed, and make([]Value, 0x30ffffe7) asks for 30 GiB. The
		// daemon dies with "fatal error: runtime: out of memory" (found by
		// FuzzServerSession in seconds).
		name:  "RESULT value count with its valfmt cut off",
		needs: needsResultValFmt,
		data:  resultValFmtCrasher,
	},
	{
		// The same found again by make fuzz FUZZTIME=10s: a RESULT of two value sets,
		// the first an error code, the second 0x30303030 values and no valfmt.
		name:  "RESULT second value set with its valfmt cut off",
		needs: needsResultValFmt,
		data:  []byte("\x00\x00\x00(\x00\x00p\x01000000000000\x00\x00\x00\x020000\x80000000000000000"),
	},
}

// resultValFmtCrasher is FuzzServerSession's first find, as it found it: a 33-byte
// RESULT and 11 bytes more.
var resultValFmtCrasher = []byte("\x00\x00\x00!\x00\x00p\x01000000000000\x00\x00\x00\x0100000\xff\xff\xe7\x00\x00\x00\a\xff\xff\xff\xff\x00\x00\x00\x00")

// needsResultValFmt is the fix the RESULT crasher waits for.
const needsResultValFmt = "protocol/fetch.go (*Result).decodeBody: return d.err when reading ValFmt fails " +
	"(after `vs.ValFmt = d.i32()` add `if d.err != nil { return d.err }`), so that the NumVal bound check " +
	"always runs before make([]Value, vs.NumVal)"

// TestFuzzRegressions replays the inputs fuzzing found, each in a child process
// so that one that kills the server fails the test instead of the test binary.
func TestFuzzRegressions(t *testing.T) {
	for _, tc := range fuzzRegressions {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runChild(t, "session", tc.data)
			if code != 0 {
				if tc.needs != "" || knownCrash(out) != "" {
					t.Skipf("needs: %s (the server died: %s)", tc.needs, firstLine(out))
				}
				t.Fatalf("exit %d:\n%s", code, out)
			}
			if tc.needs != "" {
				t.Logf("fixed: %s", tc.needs)
			}
		})
	}
}

// decodeCrashers are single PDUs that must decode (or fail) within a bounded
// allocation, client side (pmapi reading a hostile server) as server side.
var decodeCrashers = []struct {
	name, needs string
	data        []byte
}{
	{"HIGHRES_RESULT value count with its valfmt cut off", needsResultValFmt,
		pduBytes(protocol.TypeHighresResult, w(1, 0, 0, 0, 0, 1, 0x7fffffff), []byte{0})},
	{"RESULT value count with its valfmt cut off", needsResultValFmt, resultValFmtCrasher[:33]},
	{"RESULT value count 2^31-1 with no values", "", pduBytes(protocol.TypeResult, w(0, 0, 1, 1, 0x7fffffff, 0))},
	// protocol's FuzzResult and FuzzHighresResult found the same in under 2 s.
	{"FuzzResult 37e602cf8275fcd6", needsResultValFmt, pduBytes(protocol.TypeResult, []byte("00000000\x00\x00\x00\x0100000\x00\x01\x00"))},
	{"FuzzHighresResult 2376b70122743f3e", needsResultValFmt, pduBytes(protocol.TypeHighresResult,
		[]byte("\x00\x00\x00\x01(\xd0\xdb\x0f\x00\x00 \x00\x00\x00\x01\x00\x00\x00\x00\xff\xff\xff\xff\x00k\x00\x00\x00"))},
}

// TestDecodeBoundedAllocation: no PDU makes protocol.Decode allocate more than a
// few times its own size (checked in a child process, where running out of memory
// kills only the child).
func TestDecodeBoundedAllocation(t *testing.T) {
	for _, tc := range decodeCrashers {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runChild(t, "decode", tc.data)
			var alloc uint64
			fmt.Sscanf(lastLine(out), "alloc %d", &alloc)
			ok := code == 0 && alloc <= 1<<20
			if !ok && tc.needs != "" {
				t.Skipf("needs: %s (exit %d, %s)", tc.needs, code, firstLine(out))
			}
			if !ok {
				t.Fatalf("exit %d, allocated %d bytes decoding %d:\n%s", code, alloc, len(tc.data), out)
			}
		})
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}
