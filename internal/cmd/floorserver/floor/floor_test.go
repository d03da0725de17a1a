package floor

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/leaktest"
	"github.com/gopcp/gopcp/protocol"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

var (
	lookup = &protocol.PMNSNames{Names: []string{"kernel.all.load", "mem.util.free", "hinv.ncpu"}}
	asked  = []protocol.PMID{protocol.NewPMID(60, 0, 2), protocol.NewPMID(60, 0, 0), protocol.NewPMID(3, 7, 9)}
)

// exchange is what a libpcp client sends on a connect + lookup + fetch, with the
// legacy and the high-resolution fetch and a request the floor does not know.
func exchange() []byte {
	var b []byte
	b = protocol.Encode(b, &protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}, 0)
	b = protocol.Encode(b, lookup, 0)
	b = protocol.Encode(b, &protocol.Profile{}, 0)
	b = protocol.Encode(b, &protocol.Fetch{PMIDs: asked}, 0)
	b = protocol.Encode(b, &protocol.Fetch{PMIDs: asked, Highres: true}, 0)
	b = protocol.Encode(b, &protocol.TextReq{Ident: 1, Kind: protocol.TextPMID}, 0)
	return b
}

// The replies decode with the protocol package's own decoder as what the floor
// says it answers.
func TestRespondDecodes(t *testing.T) {
	out, used, err := Respond(Greeting(), exchange())
	if err != nil || used != len(exchange()) {
		t.Fatalf("Respond: used %d of %d, %v", used, len(exchange()), err)
	}
	var got []protocol.PDU
	for len(out) > 0 {
		n := int(binary.BigEndian.Uint32(out))
		p, _, err := protocol.Decode(out[:n])
		if err != nil {
			t.Fatalf("reply %d does not decode: %v", len(got), err)
		}
		got = append(got, p)
		out = out[n:]
	}
	ids := []protocol.PMID{protocol.PMID(60 << 22), protocol.PMID(60<<22 + 1), protocol.PMID(60<<22 + 2)}
	vsets := make([]protocol.ValueSet, len(asked))
	for i, id := range asked {
		vsets[i] = protocol.ValueSet{PMID: id, NumVal: 1, Values: []protocol.Value{{Inst: 0xffffffff, Insitu: 1}}}
	}
	want := []protocol.PDU{
		protocol.Greeting(0, protocol.FeatureHighres|protocol.FeatureDescs|protocol.FeatureLabels),
		&protocol.PMNSIDs{Status: 3, IDs: ids},
		&protocol.Result{VSets: vsets},
		&protocol.Result{VSets: vsets, Highres: true},
		&protocol.ErrorPDU{Code: protocol.ErrIPC},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replies\n got %#v\nwant %#v", got, want)
	}
}

func pdu(typ uint32, body ...uint32) []byte {
	return be32(nil, append([]uint32{uint32(12 + 4*len(body)), typ, 0}, body...)...)
}

// oddFetch is a FETCH of one PMID with one byte more than its PMIDs need.
func oddFetch() []byte {
	b := pdu(typeFetch, 0, 0, 0, 1, 7, 0)[:33]
	b[3] = 33
	return b
}

// Hostile and broken input: no panic, replies bounded by the input, lengths out
// of range refused, counts that do not fit answered with PM_ERR_IPC.
func TestRespondHostile(t *testing.T) {
	ipc := pdu(typeError, errIPC)
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte
		used int
		err  error
	}{
		{"empty", nil, nil, 0, nil},
		{"three bytes", []byte{0, 0, 0}, nil, 0, nil},
		{"partial PDU kept", pdu(typeFetch, 0, 0, 0, 1, 7)[:20], nil, 0, nil},
		{"length below the header", []byte{0, 0, 0, 11, 0, 0, 0x70, 3, 0, 0, 0, 0}, nil, 0, ErrFrame},
		{"length zero", make([]byte, 16), nil, 0, ErrFrame},
		{"length above MaxPDU", []byte{0, 1, 0, 1}, nil, 0, ErrFrame},
		{"length -1", []byte{0xff, 0xff, 0xff, 0xff}, nil, 0, ErrFrame},
		{"replies before a bad frame are kept", append(pdu(0x7008, 1, 4), 0, 0, 0, 1), ipc, 20, ErrFrame},
		{"names: 2^30 claimed", pdu(typePMNSNames, 0, 0, 1<<30, 3, 0), ipc, 32, nil},
		{"names: negative", pdu(typePMNSNames, 0, 0, 0xffffffff), ipc, 24, nil},
		{"names: zero", pdu(typePMNSNames, 0, 0, 0), ipc, 24, nil},
		{"names: short body", pdu(typePMNSNames, 0, 0), ipc, 20, nil},
		{"fetch: count above the PMIDs sent", pdu(typeFetch, 0, 0, 0, 5, 7), ipc, 32, nil},
		{"fetch: count below the PMIDs sent", pdu(typeFetch, 0, 0, 0, 1, 7, 8), ipc, 36, nil},
		{"fetch: 2^31-1 claimed", pdu(typeHighresFetch, 0, 0, 0, 0x7fffffff), ipc, 28, nil},
		{"fetch: no PMIDs", pdu(typeFetch, 0, 0, 0, 0), ipc, 28, nil},
		{"fetch: short body", pdu(typeFetch, 0, 0), ipc, 20, nil},
		{"fetch: length not a word multiple", oddFetch(), ipc, 33, nil},
		{"type 0", pdu(0), ipc, 12, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, used, err := Respond(nil, tc.in)
			if !bytes.Equal(out, tc.want) || used != tc.used || !errors.Is(err, tc.err) {
				t.Fatalf("Respond = %v, %d, %v; want %v, %d, %v", out, used, err, tc.want, tc.used, tc.err)
			}
		})
	}
}

// server is one way of running the floor, started for a test.
type server struct {
	name string
	addr string
}

func goroutineServer(t *testing.T) server {
	ln, err := Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeConns(ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("ServeConns: %v", err)
		}
	})
	return server{"goroutine", ln.Addr().String()}
}

func rawServer(t *testing.T) server {
	l, err := ListenRaw(0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve() }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("RawLoop.Serve: %v", err)
		}
	})
	return server{"raw", l.Addr().String()}
}

// cServer builds and starts bench/floorserver.c: a C compiler run, so not under
// -short, and skipped without cc.
func cServer(t *testing.T) (server, bool) {
	if testing.Short() {
		t.Log("the C floor is not built under -short")
		return server{}, false
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Log("no cc on PATH: the C floor is not compared")
		return server{}, false
	}
	bin := filepath.Join(t.TempDir(), "floorserver")
	if out, err := exec.Command(cc, "-O2", "-Wall", "-Werror", "-o", bin, "../../../../bench/floorserver.c").CombinedOutput(); err != nil {
		t.Fatalf("cc bench/floorserver.c: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "port "))
	if err != nil || perr != nil {
		t.Fatalf("the C floor's first line %q: %v %v", line, err, perr)
	}
	return server{"C", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, true
}

func servers(t *testing.T) []server {
	s := []server{goroutineServer(t), rawServer(t)}
	if c, ok := cServer(t); ok {
		s = append(s, c)
	}
	return s
}

// talk connects, sends the chunks (pausing between them so that the server
// reads them apart), half-closes and returns all the server wrote until it
// closed.
func talk(t *testing.T, addr string, chunks ...[]byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for i, b := range chunks {
		if i > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatalf("%s: write: %v", addr, err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%s: read: %v", addr, err)
	}
	return got
}

// Every floor answers the same bytes: to a whole exchange in one write, to the
// same exchange a byte at a time (every PDU split across reads), and to a
// length word out of range (the greeting, the replies before it, then the close).
func TestModesAnswerAlike(t *testing.T) {
	ex := exchange()
	want, _, _ := Respond(Greeting(), ex)
	var split [][]byte
	for i := 0; i < len(ex); i += 37 {
		split = append(split, ex[i:min(i+37, len(ex))])
	}
	bad := append(protocol.Encode(nil, lookup, 0), 0, 1, 0, 1, 0, 0, 0x70, 3) // 65537: one over MaxPDU
	wantBad, _, _ := Respond(Greeting(), bad)
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			if got := talk(t, s.addr, ex); !bytes.Equal(got, want) {
				t.Errorf("whole exchange:\n got %x\nwant %x", got, want)
			}
			if got := talk(t, s.addr, split...); !bytes.Equal(got, want) {
				t.Errorf("exchange in %d pieces:\n got %x\nwant %x", len(split), got, want)
			}
			// The server closes without waiting for the client's end.
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(bad); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, wantBad) {
				t.Errorf("bad length: got %x, %v; want %x then the close", got, err, wantBad)
			}
		})
	}
}

// Closing a raw loop ends Serve and closes its connections; a second Serve is
// refused.
func TestRawLoopClose(t *testing.T) {
	l, err := ListenRaw(0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve() }()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	g := make([]byte, 20)
	if _, err := io.ReadFull(c, g); err != nil || !bytes.Equal(g, Greeting()) {
		t.Fatalf("greeting %x, %v", g, err)
	}
	l.Close()
	if err := <-done; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if n, err := c.Read(g); err != io.EOF {
		t.Fatalf("connection after Close: read %d, %v; want EOF", n, err)
	}
	if err := l.Serve(); err == nil {
		t.Fatal("Serve after Close returned nil")
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("the listener is still open after Close")
	}
}

// Closing a loop that never served closes its listener.
func TestRawLoopCloseIdle(t *testing.T) {
	l, err := ListenRaw(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("the listener is still open after Close")
	}
	if _, err := ListenRaw(70000); err == nil {
		t.Fatal("port 70000 accepted")
	}
}

// A client that sends fetches and never reads the replies is dropped by the event
// loops (they keep no output queue) once its socket's buffers are full, rather
// than holding the loop or growing its memory: the client's writes then fail.
func TestEventLoopsDropNonReader(t *testing.T) {
	ids := make([]protocol.PMID, 1000)
	for i := range ids {
		ids[i] = protocol.PMID(i)
	}
	fetch := protocol.Encode(nil, &protocol.Fetch{PMIDs: ids}, 0) // a 20 KB reply each
	var batch []byte
	for range 16 {
		batch = append(batch, fetch...)
	}
	var loops []server
	for _, s := range servers(t) {
		if s.name != "goroutine" { // a goroutine just blocks in its write
			loops = append(loops, s)
		}
	}
	for _, s := range loops {
		t.Run(s.name, func(t *testing.T) {
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			// 1 GiB of replies asked for (320 KB a batch), far beyond any
			// socket buffer.
			for range 1 << 30 / (16 * 20_000) {
				if _, err := c.Write(batch); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatalf("the server neither read nor closed: %v", err)
					}
					return // reset by the server's close: dropped
				}
			}
			t.Fatal("the server took every request without its replies being read")
		})
	}
}
