package stress

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/tlsconfig"
)

// tapConn records every byte the server writes to one client.
type tapConn struct {
	net.Conn
	remote net.Addr // what the server is told the peer is (nil: the truth)
	mu     sync.Mutex
	out    bytes.Buffer
}

func (c *tapConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.out.Write(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *tapConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

func (c *tapConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

// tapListener hands the server tapConns; remote, when set, makes every client look
// like it comes from another host (TEST-NET-1, never dialled).
type tapListener struct {
	net.Listener
	remote net.Addr
	mu     sync.Mutex
	byPeer map[string]*tapConn // by the client's real local address
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &tapConn{Conn: c, remote: l.remote}
	l.mu.Lock()
	if l.byPeer == nil {
		l.byPeer = map[string]*tapConn{}
	}
	l.byPeer[c.RemoteAddr().String()] = tc
	l.mu.Unlock()
	return tc, nil
}

// tapOf returns what the server wrote to the client whose socket is nc.
func (l *tapListener) tapOf(nc net.Conn) []byte {
	l.mu.Lock()
	tc := l.byPeer[nc.LocalAddr().String()]
	l.mu.Unlock()
	if tc == nil {
		return nil
	}
	return tc.written()
}

// serverStream splits what a server wrote into its PCP PDUs (before any TLS) and
// the content types of its TLS records.
func serverStream(b []byte) (pdus []protocol.PDU, records []byte, err error) {
	for len(b) >= 5 {
		if b[0] >= 20 && b[0] <= 23 && b[1] == 3 { // a TLS record: type, version 3.x, length
			n := int(binary.BigEndian.Uint16(b[3:]))
			if len(b) < 5+n {
				return pdus, records, fmt.Errorf("truncated TLS record")
			}
			records = append(records, b[0])
			b = b[5+n:]
			continue
		}
		if len(records) > 0 {
			return pdus, records, fmt.Errorf("plaintext after TLS began: % x", b[:min(len(b), 32)])
		}
		length, _, _, herr := protocol.ParseHeader(b)
		if herr != nil || length < protocol.HeaderSize || int(length) > len(b) {
			return pdus, records, fmt.Errorf("not a PDU: % x", b[:min(len(b), 32)])
		}
		p, _, derr := protocol.Decode(b[:length])
		if derr != nil {
			return pdus, records, derr
		}
		pdus = append(pdus, p)
		b = b[length:]
	}
	if len(b) > 0 {
		return pdus, records, fmt.Errorf("%d stray bytes", len(b))
	}
	return pdus, records, nil
}

// everyRequest is what an eager client sends the moment it thinks it is in:
// one of each request that could yield metric data.
func everyRequest() []byte {
	var b []byte
	for _, p := range []protocol.PDU{
		&protocol.Profile{},
		&protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{protocol.NewPMID(60, 0, 32), protocol.NewPMID(60, 2, 0)}},
		&protocol.DescReq{PMID: protocol.NewPMID(60, 0, 32)},
		&protocol.DescIDs{PMIDs: []protocol.PMID{protocol.NewPMID(60, 0, 32)}},
		&protocol.PMNSNames{Names: []string{"hinv.ncpu"}},
		&protocol.NameReq{Name: "kernel"},
		&protocol.NameReq{Child: true, Subtype: 1, Name: "hinv"},
		&protocol.PMNSIDs{IDs: []protocol.PMID{protocol.NewPMID(60, 0, 32)}},
		&protocol.InstanceReq{InDom: 0x0f000002, Inst: protocol.InNull},
		&protocol.TextReq{Ident: uint32(protocol.NewPMID(60, 0, 32)), Kind: protocol.TextHelp | protocol.TextPMID},
		&protocol.LabelReq{Ident: 60, Kind: protocol.LabelDomain},
		&protocol.LabelReq{Kind: protocol.LabelContext},
	} {
		b = protocol.Encode(b, p, 0)
	}
	return b
}

// tlsAttempt is what one client got from a -Q server.
type tlsAttempt struct {
	handshakeErr error
	appData      []byte // plaintext application bytes the server sent after the handshake
	serverWrote  []byte // everything the server wrote on the socket
}

// attemptTLS connects, asks for TLS, upgrades with cfg and, if the handshake
// completes on its side, sends everyRequest and reads until the server closes.
func attemptTLS(t *testing.T, addr string, tap *tapListener, cfg *tls.Config) tlsAttempt {
	t.Helper()
	var a tlsAttempt
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := protocol.NewConn(nc)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	g, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if f, err := protocol.ParseGreeting(g); err != nil || f&protocol.FeatureSecure == 0 || f&protocol.FeatureCertReqd == 0 {
		t.Fatalf("greeting %#x %v: want SECURE and CERT_REQD", f, err)
	}
	c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(protocol.FeatureSecure | protocol.FeatureSecureAck)}})
	if ack, err := c.Read(); err != nil {
		t.Fatal(err)
	} else if e, ok := ack.(*protocol.ErrorPDU); !ok || e.Code != 0 {
		t.Fatalf("ack %#v", ack)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, a.handshakeErr = c.UpgradeClient(ctx, cfg); a.handshakeErr == nil {
		// TLS 1.3 completes on the client before the server has judged the
		// client's certificate: this is the moment an eager client asks.
		// A refused client is closed at once; the control is served and kept, so
		// its replies are read for a second and a half.
		nc.SetDeadline(time.Now().Add(1500 * time.Millisecond))
		c.Conn.Write(everyRequest())
		a.appData, _ = io.ReadAll(c.Conn)
	}
	// The server may still be writing its alert.
	waitFor(time.Second, func() bool { return len(tap.tapOf(nc)) > 0 })
	time.Sleep(50 * time.Millisecond)
	a.serverWrote = tap.tapOf(nc)
	return a
}

// startQServer runs an in-process collector under -Q with p's store, behind a tap.
func startQServer(t *testing.T, p *pki, remote net.Addr) (*inproc, *tapListener) {
	t.Helper()
	cfg := p.serverTLS(t, true)
	tap := &tapListener{remote: remote}
	srv := startInproc(t, inprocOptions{
		tweak: func(s *server.Server) {
			s.TLSConfig = func() *tls.Config { return cfg }
			s.RequireClientCert = true
			s.HandshakeTimeout = 3 * time.Second
		},
		wrap: func(ln net.Listener) net.Listener { tap.Listener = ln; return tap },
	})
	return srv, tap
}

// TestNoMetricByteBeforeVerifiedCert: under -Q a client whose certificate is
// missing, untrusted, expired, not yet valid, for the wrong usage or from a CA
// trusted only for servers gets no byte of metric data, however eagerly it asks,
// over TLS 1.2 and 1.3: before TLS the server writes only ERROR PDUs (greeting,
// ack), and after it no application data (checked on the wire for TLS 1.2, where
// application data has its own record type, and after decryption for both). A
// trusted client, the control, gets its replies through the same capture.
func TestNoMetricByteBeforeVerifiedCert(t *testing.T) {
	p := newPKI(t)
	other := testcerts.New(t, nil, testcerts.Options{CN: "other CA", IsCA: true})
	serverOnlyCA := testcerts.New(t, nil, testcerts.Options{CN: "server-only CA", IsCA: true})
	st, err := store.Open(p.serverStore, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, st, "server-only CA", serverOnlyCA, "C,,") // trusted for servers, not clients
	nb, na := expired()
	fb, fa := notYet()
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	cases := []struct {
		name string
		id   *testcerts.Cert
	}{
		{"no certificate", nil},
		{"untrusted CA", testcerts.New(t, other, testcerts.Options{CN: "stranger", Client: true})},
		{"expired", testcerts.New(t, p.ca, testcerts.Options{CN: "old", Client: true, NotBefore: nb, NotAfter: na})},
		{"not yet valid", testcerts.New(t, p.ca, testcerts.Options{CN: "early", Client: true, NotBefore: fb, NotAfter: fa})},
		{"serverAuth only", testcerts.New(t, p.ca, testcerts.Options{CN: "a server", Server: true, IPs: ips})},
		{"CA trusted for servers only", testcerts.New(t, serverOnlyCA, testcerts.Options{CN: "c-only", Client: true})},
		{"self-signed copy of the trusted client", testcerts.New(t, nil, testcerts.Options{CN: "monitor", Client: true})},
	}
	srv, tap := startQServer(t, p, nil)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		vname := tls.VersionName(version)
		// The control: a trusted client's replies are seen by the same capture.
		cfg := p.rawTLS(p.client)
		cfg.MinVersion, cfg.MaxVersion = version, version
		good := attemptTLS(t, srv.addr, tap, cfg)
		if good.handshakeErr != nil || !bytes.Contains(good.appData, []byte{0, 0, 0x70, 0x15}) {
			t.Fatalf("%s control: handshake %v, %d bytes of replies (no HIGHRES_RESULT)", vname, good.handshakeErr, len(good.appData))
		}
		if _, recs, err := serverStream(good.serverWrote); err != nil || (version == tls.VersionTLS12 && bytes.IndexByte(recs, 23) < 0) {
			t.Fatalf("%s control: capture %v, records %v", vname, err, recs)
		}
		for _, tc := range cases {
			t.Run(vname+"/"+tc.name, func(t *testing.T) {
				cfg := p.rawTLS(tc.id)
				cfg.MinVersion, cfg.MaxVersion = version, version
				a := attemptTLS(t, srv.addr, tap, cfg)
				if tc.id == nil {
					// Without a certificate the handshake completes so that the client
					// can be told why: one ERROR PDU PM_ERR_NEEDCLIENTCERT, nothing else.
					if want := protocol.Encode(nil, &protocol.ErrorPDU{Code: protocol.ErrNeedClientCert}, 0); !bytes.Equal(a.appData, want) {
						t.Fatalf("the server sent % x to a client without a certificate, want only % x", a.appData[:min(len(a.appData), 64)], want)
					}
				} else if len(a.appData) > 0 {
					t.Fatalf("the server sent %d bytes of application data to a refused client: % x", len(a.appData), a.appData[:min(len(a.appData), 64)])
				}
				pdus, recs, err := serverStream(a.serverWrote)
				if err != nil {
					t.Fatalf("server stream: %v", err)
				}
				for _, pdu := range pdus {
					if _, ok := pdu.(*protocol.ErrorPDU); !ok {
						t.Fatalf("the server wrote %s in plaintext", protocol.TypeName(pdu.Type()))
					}
				}
				if version == tls.VersionTLS12 && tc.id != nil && bytes.IndexByte(recs, 23) >= 0 {
					t.Fatalf("TLS 1.2: the server wrote application-data records %v", recs)
				}
				if len(recs) == 0 {
					t.Fatal("no TLS record from the server: the capture saw nothing")
				}
			})
		}
	}
	// TLS 1.0 and 1.1, even with a trusted certificate.
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		cfg := p.rawTLS(p.client)
		cfg.MinVersion, cfg.MaxVersion = v, v
		a := attemptTLS(t, srv.addr, tap, cfg)
		if a.handshakeErr == nil || len(a.appData) > 0 {
			t.Fatalf("%s accepted (%d bytes of data)", tls.VersionName(v), len(a.appData))
		}
		_, recs, _ := serverStream(a.serverWrote)
		if bytes.IndexByte(recs, 23) >= 0 || bytes.IndexByte(recs, 22) >= 0 {
			t.Fatalf("%s: the server answered with records %v, want only an alert", tls.VersionName(v), recs)
		}
	}
	figure(t, "TLS policy (-Q), server side", "%d refused client certificates x TLS 1.2/1.3 and TLS 1.0/1.1: 0 bytes of application data (no certificate: only the ERROR PDU PM_ERR_NEEDCLIENTCERT); before TLS only ERROR PDUs",
		len(cases))
}

// TestQRemotePlaintextGetsNothing: under -Q a remote client that never asks for
// TLS and sends every request at once gets the greeting, PM_ERR_NEEDCLIENTCERT and
// a close, and nothing else.
func TestQRemotePlaintextGetsNothing(t *testing.T) {
	p := newPKI(t)
	srv, tap := startQServer(t, p, &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 40000})
	nc, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	creds := protocol.Encode(nil, &protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}, 0)
	nc.Write(append(creds, everyRequest()...))
	if _, closed := closedWithin(nc, 5*time.Second); !closed {
		t.Fatal("remote plaintext client not closed")
	}
	pdus, recs, err := serverStream(tap.tapOf(nc))
	if err != nil || len(recs) > 0 {
		t.Fatalf("server stream: %v %v", err, recs)
	}
	var codes []int32
	for _, pdu := range pdus {
		e, ok := pdu.(*protocol.ErrorPDU)
		if !ok {
			t.Fatalf("the server wrote %s to a remote client without a certificate", protocol.TypeName(pdu.Type()))
		}
		codes = append(codes, e.Code)
	}
	if len(codes) != 2 || codes[1] != protocol.ErrNeedClientCert {
		t.Fatalf("server wrote ERRORs %v, want the greeting and PM_ERR_NEEDCLIENTCERT", codes)
	}
}

// TestClientRefusesBadServerCerts: our client (pmapi with tlsconfig.Client and the
// monitor's store) refuses a server certificate from an untrusted CA, expired, not
// yet valid, without serverAuth, for another host name, or from a CA trusted only
// for clients; it accepts the good one.
func TestClientRefusesBadServerCerts(t *testing.T) {
	p := newPKI(t)
	other := testcerts.New(t, nil, testcerts.Options{CN: "other CA", IsCA: true})
	clientOnlyCA := testcerts.New(t, nil, testcerts.Options{CN: "client-only CA", IsCA: true})
	ct, err := store.Open(p.clientStore, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, ct, "client-only CA", clientOnlyCA, "T,,")
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	nb, na := expired()
	fb, fa := notYet()
	var untrusted *tlsconfig.UntrustedError
	var badDomain *tlsconfig.BadDomainError
	cases := []struct {
		name string
		cert *testcerts.Cert
		want any // nil: accepted
	}{
		{"good", p.server, nil},
		{"untrusted CA", testcerts.New(t, other, testcerts.Options{CN: "evil", Server: true, IPs: ips}), &untrusted},
		{"self-signed", testcerts.New(t, nil, testcerts.Options{CN: "collector", Server: true, IPs: ips}), &untrusted},
		{"expired", testcerts.New(t, p.ca, testcerts.Options{CN: "old", Server: true, IPs: ips, NotBefore: nb, NotAfter: na}), &untrusted},
		{"not yet valid", testcerts.New(t, p.ca, testcerts.Options{CN: "early", Server: true, IPs: ips, NotBefore: fb, NotAfter: fa}), &untrusted},
		{"clientAuth only", testcerts.New(t, p.ca, testcerts.Options{CN: "a client", Client: true, IPs: ips}), &untrusted},
		{"wrong host name", testcerts.New(t, p.ca, testcerts.Options{CN: "elsewhere", Server: true, DNS: []string{"other.example.org"}}), &badDomain},
		{"CA trusted for clients only", testcerts.New(t, clientOnlyCA, testcerts.Options{CN: "t-only", Server: true, IPs: ips}), &untrusted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := leafConfig(tc.cert)
			srv := startInproc(t, inprocOptions{tweak: func(s *server.Server) {
				s.TLSConfig = func() *tls.Config { return cfg }
			}})
			c, err := pmapi.Connect(context.Background(), "127.0.0.1", pmapi.Options{Secure: pmapi.SecureEnforce,
				Ports: []int{srv.port}, TLSConfig: p.clientHook(), RequestTimeout: 5 * time.Second})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("good server refused: %v", err)
				}
				defer c.Close()
				if _, err := c.LookupNames([]string{"hinv.ncpu"}); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("connected to a server with a bad certificate")
			}
			if !errors.As(err, tc.want) || protocol.CodeOf(err) != protocol.ErrTLS {
				t.Fatalf("error %v (%T), want %T and PM_ERR_TLS", err, errors.Unwrap(err), tc.want)
			}
			if !waitFor(3*time.Second, func() bool { return srv.srv.NumClients() == 0 }) {
				t.Fatal("the refused session is still registered on the server")
			}
			if l := srv.logs.String(); bytes.Contains([]byte(l), []byte("malformed PDU")) {
				t.Fatalf("the server received a request after a refused handshake:\n%s", l)
			}
		})
	}
}

// relay is a man in the middle on loopback between a client and a server.
type relay struct {
	ln   net.Listener
	port int
	mu   sync.Mutex
	up   bytes.Buffer // client -> server bytes after the greeting
	wg   sync.WaitGroup
}

// startRelay forwards connections to target; rewrite may change the server's
// greeting (its first 20 bytes) on the way.
func startRelay(t *testing.T, target string, rewrite func(greeting []byte)) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			cc, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer cc.Close()
				sc, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer sc.Close()
				cc.SetDeadline(time.Now().Add(10 * time.Second))
				sc.SetDeadline(time.Now().Add(10 * time.Second))
				g := make([]byte, 20)
				if _, err := io.ReadFull(sc, g); err != nil {
					return
				}
				rewrite(g)
				if _, err := cc.Write(g); err != nil {
					return
				}
				done := make(chan struct{})
				go func() {
					io.Copy(cc, sc)
					cc.(*net.TCPConn).CloseWrite()
					close(done)
				}()
				buf := make([]byte, 4096)
				for {
					n, err := cc.Read(buf)
					if n > 0 {
						r.mu.Lock()
						r.up.Write(buf[:n])
						r.mu.Unlock()
						sc.Write(buf[:n])
					}
					if err != nil {
						break
					}
				}
				sc.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *relay) upstream() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.up.Bytes())
}

// TestMITMStripsSecure: a man in the middle that clears SECURE from the greeting
// makes a client in enforce mode abort with "Operation not supported" before it
// sends anything, CREDS included; pminfo, black-box, fails the same way.
func TestMITMStripsSecure(t *testing.T) {
	p := newPKI(t)
	cfg := p.serverTLS(t, true)
	srv := startInproc(t, inprocOptions{tweak: func(s *server.Server) {
		s.TLSConfig = func() *tls.Config { return cfg }
		s.RequireClientCert = true
	}})
	strip := func(g []byte) {
		f := binary.BigEndian.Uint16(g[18:])
		f &^= protocol.FeatureSecure | protocol.FeatureSecureAck | protocol.FeatureCertReqd
		binary.BigEndian.PutUint16(g[18:], f)
	}
	r := startRelay(t, srv.addr, strip)
	// Without the relay the client gets in: the set-up is right.
	c, err := pmapi.Connect(context.Background(), "127.0.0.1", pmapi.Options{Secure: pmapi.SecureEnforce,
		Ports: []int{srv.port}, TLSConfig: p.clientHook()})
	if err != nil {
		t.Fatalf("direct: %v", err)
	}
	if !c.TLS() {
		t.Fatal("direct connection not over TLS")
	}
	c.Close()

	_, err = pmapi.Connect(context.Background(), "127.0.0.1", pmapi.Options{Secure: pmapi.SecureEnforce,
		Ports: []int{r.port}, TLSConfig: p.clientHook()})
	if err == nil || !errors.Is(err, syscall.EOPNOTSUPP) && protocol.CodeOf(err) != -int32(syscall.EOPNOTSUPP) {
		t.Fatalf("enforce through a SECURE-stripping relay: %v, want Operation not supported", err)
	}
	time.Sleep(100 * time.Millisecond)
	if up := r.upstream(); len(up) > 0 {
		t.Fatalf("the client sent %d bytes after a downgraded greeting: % x", len(up), up[:min(len(up), 64)])
	}
	// pminfo, as a user runs it.
	stdout, stderr, code := runCmd(t, cleanEnv("PCP_SECURE_SOCKETS=enforce", "PCP_SECURE_DB_PATH="+p.clientStore),
		program(t, "pminfo"), "-h", fmt.Sprintf("127.0.0.1:%d", r.port), "-f", "hinv.ncpu")
	if code == 0 || bytes.Contains([]byte(stdout), []byte("value")) {
		t.Fatalf("pminfo through the relay: exit %d\n%s%s", code, stdout, stderr)
	}
	if up := r.upstream(); len(up) > 0 {
		t.Fatalf("pminfo sent %d bytes after a downgraded greeting", len(up))
	}
	figure(t, "MITM strips SECURE", "enforce-mode pmapi and pminfo abort before CREDS (pminfo: %s)", firstLine(stderr+stdout))
}

// TestMITMOwnCertificate: a man in the middle that answers the TLS upgrade itself,
// with a certificate of its own for the right address, is refused by the client,
// which sends it no request.
func TestMITMOwnCertificate(t *testing.T) {
	p := newPKI(t)
	evil := testcerts.New(t, nil, testcerts.Options{CN: "collector", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		c := protocol.NewConn(nc)
		c.Write(protocol.Greeting(0, protocol.FeatureSecure|protocol.FeatureSecureAck|protocol.FeatureCertReqd|protocol.FeatureLabels|protocol.FeatureHighres))
		c.ReadRaw() // CREDS
		c.Write(&protocol.ErrorPDU{Code: 0})
		tc, err := c.UpgradeServer(context.Background(), leafConfig(evil))
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(tc)
		got <- b
	}()
	_, err = pmapi.Connect(context.Background(), "127.0.0.1", pmapi.Options{Secure: pmapi.SecureEnforce,
		Ports: []int{ln.Addr().(*net.TCPAddr).Port}, TLSConfig: p.clientHook()})
	var untrusted *tlsconfig.UntrustedError
	if !errors.As(err, &untrusted) {
		t.Fatalf("client through an impostor: %v, want an untrusted-certificate error", err)
	}
	if b := <-got; len(b) > 0 {
		t.Fatalf("the client sent the impostor %d bytes of requests", len(b))
	}
}
