package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

// dialFrom connects to addr from the local IP address from ("" for any).
func dialFrom(from, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return d.Dial("tcp", addr)
}

// serveUnix adds a unix-socket listener at path to s.
func serveUnix(t *testing.T, s *Server, path string) {
	t.Helper()
	ln, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go s.Serve(context.Background(), ln)
}

// handshakeOn reads the greeting on nc and sends CREDS with flags.
func handshakeOn(t *testing.T, nc net.Conn, flags uint16) *protocol.Conn {
	t.Helper()
	t.Cleanup(func() { nc.Close() })
	c := protocol.NewConn(nc)
	c.IdleTimeout = 5 * time.Second
	c.RequestTimeout = 5 * time.Second
	g, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.ParseGreeting(g); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	if err := c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(flags)}}); err != nil {
		t.Fatal(err)
	}
	return c
}

// readToEnd reads PDUs until the stream ends and returns them with the error that
// ended it.
func readToEnd(c *protocol.Conn) ([]protocol.PDU, error) {
	var out []protocol.PDU
	for {
		c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		p, err := c.Read()
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
}

// TestUnixSocketExemptUnderQ: under -Q a plaintext client on the unix socket is
// served (and may echo CREDS_REQD, whose credentials are the kernel's), its uid,
// gid and pid are logged, and the socket file is 0666 as pmcd's.
func TestUnixSocketExemptUnderQ(t *testing.T) {
	s, addr, logs, _ := newTLSServer(t, true)
	path := filepath.Join(t.TempDir(), "pmcd.socket")
	serveUnix(t, s, path)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket file: %v %v", fi.Mode(), err)
	}
	for _, flags := range []uint16{0, protocol.FeatureCredsReqd} {
		nc, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c := handshakeOn(t, nc, flags)
		if _, ok := roundTrip(t, c, &protocol.DescReq{PMID: 0x0f000020}).(*protocol.DescPDU); !ok {
			t.Fatalf("unix client (CREDS flags %#x) not served", flags)
		}
	}
	want := fmt.Sprintf(`msg="local client connected" peer=unix:%s uid=%d gid=%d pid=%d`, path, os.Getuid(), os.Getgid(), os.Getpid())
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("log lacks %q:\n%s", want, logs.String())
	}
	// CREDS_REQD over TCP would need SASL, which we do not offer.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := handshakeOn(t, nc, protocol.FeatureCredsReqd)
	c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, r, -95)
}

// TestListenUnixFiles: a stale socket file is replaced; a regular file or a socket
// something answers on is left alone with an error saying so; Close removes the file.
func TestListenUnixFiles(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	os.WriteFile(regular, []byte("keep me"), 0o644)
	if _, err := ListenUnix(regular); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file: %v", err)
	}
	if b, _ := os.ReadFile(regular); string(b) != "keep me" {
		t.Fatal("the regular file was touched")
	}
	stale := filepath.Join(dir, "stale.socket")
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close()
	ln, err := ListenUnix(stale)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	if _, err := ListenUnix(stale); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("live socket: %v", err)
	}
	ln.Close()
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after Close: %v", err)
	}
}

// TestNoCertClientsGetOnlyTheError plays a client that ignores CERT_REQD under -Q:
// over TLS without a certificate, and in clear over loopback. Whatever it sends
// right after the handshake (names, fetches, descriptors, help text, labels,
// instances, a store, several at once), it gets one ERROR PM_ERR_NEEDCLIENTCERT and
// then end of file: no name, no value, nothing else.
func TestNoCertClientsGetOnlyTheError(t *testing.T) {
	_, addr, logs, p := newTLSServerWith(t, true, func(s *Server) {
		s.clock = steppingClock(2 * time.Second) // every refusal gets its log line
	})
	load := protocol.PMID(0x0f000800)
	whoami := protocol.NewPMID(2, 6, 0)
	requests := map[string][]protocol.PDU{
		"traverse":      {&protocol.NameReq{Name: "kernel"}},
		"children":      {&protocol.NameReq{Name: "kernel", Child: true, Subtype: 1}},
		"name lookup":   {&protocol.PMNSNames{Names: []string{"kernel.all.load"}}},
		"names of pmid": {&protocol.PMNSIDs{IDs: []protocol.PMID{load}}},
		"fetch":         {&protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{load}}},
		"profile+fetch": {&protocol.Profile{}, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{load}}},
		"desc":          {&protocol.DescReq{PMID: load}},
		"descs":         {&protocol.DescIDs{PMIDs: []protocol.PMID{load}}},
		"text":          {&protocol.TextReq{Ident: uint32(load), Kind: protocol.TextPMID | protocol.TextHelp}},
		"label":         {&protocol.LabelReq{Ident: uint32(load), Kind: protocol.LabelItem}},
		"context label": {&protocol.LabelReq{Kind: protocol.LabelContext}},
		"instances":     {&protocol.InstanceReq{InDom: 0x3c000002, Inst: protocol.InNull}},
		"store": {&protocol.Result{VSets: []protocol.ValueSet{{PMID: whoami, NumVal: 1, ValFmt: protocol.ValFmtDynamic,
			Values: []protocol.Value{{VType: uint8(protocol.TypeString), Payload: []byte("x\x00")}}}}}},
		"burst": {&protocol.Profile{}, &protocol.NameReq{Name: ""}, &protocol.DescReq{PMID: load},
			&protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{load}}, &protocol.TextReq{Ident: uint32(load), Kind: protocol.TextPMID},
			&protocol.LabelReq{Kind: protocol.LabelContext}, &protocol.PMNSNames{Names: []string{"hinv.ncpu"}}},
	}
	for _, secure := range []bool{true, false} {
		for name, reqs := range requests {
			t.Run(fmt.Sprintf("tls=%v/%s", secure, name), func(t *testing.T) {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				var flags uint16 // ignores CERT_REQD in the greeting
				if secure {
					flags = protocol.FeatureSecure // no SECURE_ACK: TLS at once
				}
				c := handshakeOn(t, nc, flags)
				if secure {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					if _, err := c.UpgradeClient(ctx, clientCfg(p, nil)); err != nil {
						t.Fatalf("the TLS handshake without a certificate should complete: %v", err)
					}
				}
				for _, r := range reqs {
					if err := c.Write(r); err != nil {
						t.Fatal(err)
					}
				}
				got, err := readToEnd(c)
				if len(got) != 1 {
					t.Fatalf("got %d PDUs, want only the error: %#v", len(got), got)
				}
				wantError(t, got[0], protocol.ErrNeedClientCert)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("after the error: %v, want end of file", err)
				}
			})
		}
	}
	for _, want := range []string{"TLS without a client certificate", "did not ask for TLS; only unix-socket clients are exempt"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestOurClientNoCert: our pmapi without a client certificate is told
// PM_ERR_NEEDCLIENTCERT by -Q, over TLS and in clear as "localhost" (which the
// client takes for local and so does not refuse itself).
func TestOurClientNoCert(t *testing.T) {
	_, addr, _, p := newTLSServer(t, true)
	_, port, _ := net.SplitHostPort(addr)
	tlsNoCert := pmapi.Options{Secure: pmapi.SecureEnforce,
		TLSConfig: func(string) (*tls.Config, error) { return clientCfg(p, nil), nil }}
	withCert := pmapi.Options{Secure: pmapi.SecureEnforce,
		TLSConfig: func(string) (*tls.Config, error) { return clientCfg(p, p.client), nil }}
	for _, tc := range []struct {
		spec string
		opts pmapi.Options
		want int32
	}{
		{addr, tlsNoCert, protocol.ErrNeedClientCert},
		{"localhost:" + port, tlsNoCert, protocol.ErrNeedClientCert},
		{"localhost:" + port, pmapi.Options{}, protocol.ErrNeedClientCert},
		{addr, withCert, 0},
	} {
		err := lookupNcpu(tc.spec, tc.opts)
		if tc.want == 0 && err != nil {
			t.Errorf("%s with a certificate: %v", tc.spec, err)
		} else if got := protocol.CodeOf(err); tc.want != 0 && got != tc.want {
			t.Errorf("%s secure=%v: %v (code %d), want code %d", tc.spec, tc.opts.Secure, err, got, tc.want)
		}
	}
}

func lookupNcpu(spec string, opts pmapi.Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pmapi.Connect(ctx, spec, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	ids, err := c.LookupNames([]string{"hinv.ncpu"})
	if err != nil {
		return err
	}
	_, err = c.Fetch(ids)
	return err
}

// runPCP runs a real PCP tool with the environment extra.
func runPCP(t *testing.T, extra []string, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = pcptest.Env(extra...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return out.String(), errb.String(), code
}

// TestRealPminfoUnderQ: the real PCP 6 pminfo against our -Q: served over the unix
// socket (unix:PATH and local: with PCP_RUN_DIR) without a certificate; told "PMCD
// requires a client certificate" over TCP loopback without one, in clear or over
// TLS (not "IPC protocol failure"); served over TLS with one.
func TestRealPminfoUnderQ(t *testing.T) {
	pcptest.Require(t, pcptest.PMInfo)
	s, addr, logs, p := newTLSServerWith(t, true, func(s *Server) { s.HandshakeTimeout = 5 * time.Second })
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	serveUnix(t, s, filepath.Join(dir, "pmcd.socket"))
	ncpu := "\nhinv.ncpu\n    value " + strconv.Itoa(runtime.NumCPU()) + "\n"
	for _, spec := range []string{"unix:" + filepath.Join(dir, "pmcd.socket"), "local:"} {
		out, errOut, code := runPCP(t, []string{"PCP_RUN_DIR=" + dir, "PMCD_PORT=1"}, pcptest.PMInfo, "-h", spec, "-f", "hinv.ncpu")
		if code != 0 || out != ncpu {
			t.Fatalf("pminfo -h %s: exit %d\n%s%s", spec, code, out, errOut)
		}
	}
	if n := strings.Count(logs.String(), "local client connected"); n != 2 {
		t.Fatalf("%d unix clients logged, want 2:\n%s", n, logs.String())
	}
	write := func(name, data string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	ca := write("ca.pem", string(p.ca.CertPEM()))
	noCert := write("nocert.conf", "tls-ca-cert-file = "+ca+"\n")
	withCert := write("cert.conf", "tls-client-cert-file = "+write("cli.pem", string(p.client.CertPEM()))+
		"\ntls-client-key-file = "+write("cli.key", string(p.client.KeyPEM(t)))+"\ntls-ca-cert-file = "+ca+"\n")
	for _, tc := range []struct {
		host string
		env  []string
	}{
		{"localhost:" + port, nil}, // the client thinks localhost is local and does not refuse itself
		{addr, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + noCert}},
		{"localhost:" + port, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + noCert}},
	} {
		out, errOut, code := runPCP(t, tc.env, pcptest.PMInfo, "-h", tc.host, "-f", "hinv.ncpu")
		if code != 1 || strings.Contains(out, "value") || !strings.Contains(errOut, "PMCD requires a client certificate") {
			t.Errorf("pminfo -h %s %v: exit %d\nstdout %q\nstderr %q", tc.host, tc.env, code, out, errOut)
		}
	}
	out, errOut, code := runPCP(t, []string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + withCert}, pcptest.PMInfo, "-h", addr, "-f", "hinv.ncpu")
	if code != 0 || out != ncpu {
		t.Fatalf("with a certificate: exit %d\n%s%s", code, out, errOut)
	}
}

// openHalf connects from the IP address from and reads the greeting, then sends
// nothing: a handshake left hanging. It returns whether the greeting accepted it.
func openHalf(t *testing.T, from, addr string) (net.Conn, bool) {
	t.Helper()
	nc, err := dialFrom(from, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := protocol.NewConn(nc)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	g, err := c.Read()
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	_, err = protocol.ParseGreeting(g)
	if err != nil && !errors.Is(err, &protocol.Error{Code: protocol.ErrConnLimit}) {
		t.Fatalf("greeting: %v", err)
	}
	return nc, err == nil
}

// TestHalfOpenFloodFromOneAddress: 300 handshakes left hanging from 127.0.0.1 take
// only that address's slots; a verified client from 127.0.0.2 is served.
func TestHalfOpenFloodFromOneAddress(t *testing.T) {
	_, addr, _, p := newTLSServerWith(t, true, func(s *Server) { s.HandshakeTimeout = time.Minute })
	admitted := 0
	for range 300 {
		if _, ok := openHalf(t, "127.0.0.1", addr); ok {
			admitted++
		}
	}
	if admitted != DefaultMaxClientsPerAddr {
		t.Fatalf("%d half-open handshakes admitted from one address, want %d", admitted, DefaultMaxClientsPerAddr)
	}
	c, err := secureDialFrom(t, "127.0.0.2", addr, clientCfg(p, p.client))
	if err != nil {
		t.Fatalf("verified client from another address: %v", err)
	}
	c.Write(&protocol.Profile{})
	if _, ok := roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{0x0f000020}}).(*protocol.Result); !ok {
		t.Fatal("verified client not served")
	}
}

// TestHandshakesDoNotTakeClientSlots: connections in the handshake are held to
// MaxHandshakes and never take one of the MaxClients slots, which only finished
// handshakes take.
func TestHandshakesDoNotTakeClientSlots(t *testing.T) {
	_, addr, _, p := newTLSServerWith(t, true, func(s *Server) {
		s.HandshakeTimeout = time.Minute
		s.MaxClients = 2
		s.MaxClientsPerAddr = 1000
		s.MaxHandshakes = 40
	})
	a, err := secureDialFrom(t, "127.0.0.2", addr, clientCfg(p, p.client))
	if err != nil {
		t.Fatal(err)
	}
	var half []net.Conn
	for range 40 {
		nc, ok := openHalf(t, "127.0.0.1", addr)
		if !ok {
			t.Fatal("a handshake under the cap was refused")
		}
		half = append(half, nc)
	}
	if _, ok := openHalf(t, "127.0.0.3", addr); ok {
		t.Fatal("a handshake over MaxHandshakes was admitted")
	}
	roundTrip(t, a, &protocol.DescReq{PMID: 0x0f000020})
	for _, nc := range half[:5] {
		nc.Close()
	}
	// The server sees the closes at once; give its goroutines a moment.
	var b *protocol.Conn
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err = secureDialFrom(t, "127.0.0.3", addr, clientCfg(p, p.client)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verified client not served with 35 handshakes open and a client slot free: %v", err)
		}
	}
	roundTrip(t, b, &protocol.DescReq{PMID: 0x0f000020})
	// Two served clients: MaxClients is full, and says so in the greeting.
	if _, ok := openHalf(t, "127.0.0.4", addr); ok {
		t.Fatal("admitted past MaxClients")
	}
}

// TestPerAddressLimit: the N+1th connection from one address gets PM_ERR_CONNLIMIT
// in its greeting; other addresses and unix-socket clients are not affected, and a
// slot freed is reused.
func TestPerAddressLimit(t *testing.T) {
	s, addr, logs := startServer(t, func(s *Server) { s.MaxClientsPerAddr = 3 })
	path := filepath.Join(t.TempDir(), "pmcd.socket")
	serveUnix(t, s, path)
	var first *protocol.Conn
	for i := range 3 {
		nc, err := dialFrom("127.0.0.1", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := handshakeOn(t, nc, 0)
		roundTrip(t, c, &protocol.DescReq{PMID: 0x0f000020})
		if i == 0 {
			first = c
		}
	}
	if _, ok := openHalf(t, "127.0.0.1", addr); ok {
		t.Fatal("fourth connection from one address admitted")
	}
	if !strings.Contains(logs.String(), "per-address connection limit reached") {
		t.Fatalf("log:\n%s", logs.String())
	}
	nc, err := dialFrom("127.0.0.2", addr)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, handshakeOn(t, nc, 0), &protocol.DescReq{PMID: 0x0f000020})
	for range 5 {
		nc, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, handshakeOn(t, nc, 0), &protocol.DescReq{PMID: 0x0f000020})
	}
	first.Conn.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ok := openHalf(t, "127.0.0.1", addr); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the freed slot was not given back")
		}
	}
}

// TestGarbageFloodLogsBounded: 1,000 connections sending garbage (in place of
// CREDS, a bad header, a PDU that is not a request, a body that does not decode)
// are each closed, and with the clock standing still they cost one log line; the
// next line, a second later, counts the others.
func TestGarbageFloodLogsBounded(t *testing.T) {
	var offset atomic.Int64
	base := time.Now()
	_, addr, logs := startServer(t, func(s *Server) {
		s.clock = func() time.Time { return base.Add(time.Duration(offset.Load())) }
	})
	good := dial(t, addr)
	creds := protocol.Encode(nil, &protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}, 0)
	garbage := [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),                                                                                                                      // in place of CREDS: far too long
		append(creds[:len(creds):len(creds)], 0xff, 0xff, 0xff, 0xff, 0, 0, 0x70, 0x04, 0, 0, 0, 0),                                                                      // negative length
		append(creds[:len(creds):len(creds)], protocol.Encode(nil, &protocol.Creds{Creds: []uint32{1}}, 0)...),                                                           // CREDS again
		append(creds[:len(creds):len(creds)], 0, 0, 0, 0x20, 0, 0, 0x70, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0x20), // lying count
	}
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs <- garbageOnce(addr, garbage[i%len(garbage)])
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	lines := notDebug(logs.String())
	if len(lines) != 1 || !strings.Contains(lines[0], "client dropped") {
		t.Fatalf("%d log lines for %d garbage connections, want 1:\n%s", len(lines), n, strings.Join(lines, "\n"))
	}
	offset.Store(int64(2 * time.Second))
	if err := garbageOnce(addr, garbage[0]); err != nil {
		t.Fatal(err)
	}
	lines = notDebug(logs.String())
	if len(lines) != 2 || !strings.Contains(lines[1], fmt.Sprintf("suppressed_since_last=%d", n-1)) {
		t.Fatalf("second line does not count the suppressed ones:\n%s", strings.Join(lines, "\n"))
	}
	roundTrip(t, good, &protocol.DescReq{PMID: 0x0f000020})
}

// garbageOnce connects, sends b after the greeting and expects the server to close.
func garbageOnce(addr string, b []byte) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var greeting [20]byte
	if _, err := io.ReadFull(nc, greeting[:]); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if _, err := nc.Write(b); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("server kept a connection open after garbage %q", b)
	}
	return nil
}

var logLevel = regexp.MustCompile(`level=(\w+)`)

// notDebug returns the log lines above debug level.
func notDebug(log string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if m := logLevel.FindStringSubmatch(l); m != nil && m[1] != "DEBUG" {
			out = append(out, l)
		}
	}
	return out
}

func TestLogLimiter(t *testing.T) {
	l := newLogLimiter(2, 1)
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for i, tc := range []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0}, {0, true, 0}, {0, false, 0}, {500 * time.Millisecond, false, 0},
		{time.Second, true, 2}, {time.Second, false, 0}, {time.Hour, true, 1}, {time.Hour, true, 0}, {time.Hour, false, 0},
	} {
		ok, n := l.allow(at(tc.at))
		if ok != tc.ok || n != tc.suppressed {
			t.Fatalf("step %d at %v: allow %v %d, want %v %d", i, tc.at, ok, n, tc.ok, tc.suppressed)
		}
	}
}
