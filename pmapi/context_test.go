package pmapi

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/pmapi/pmapitest"
	"github.com/gopcp/gopcp/protocol"
)

// Features of a pmcd 6.0.3 without TLS (0x0e44) and with TLS (0x0e55).
const (
	plainFeatures = 0x0e44
	tlsFeatures   = 0x0e55
)

func cleanEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{"PCP_SECURE_SOCKETS", "PMPROXY_HOST", "PCP_CONTAINER", "PMCD_PORT",
		"PMCD_REQUEST_TIMEOUT", "PMCD_CONNECT_TIMEOUT", "PMCD_SOCKET"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

// greet sends the greeting and reads CREDS, returning the requested flags and the
// CREDS originator field.
func greet(t *testing.T, c *protocol.Conn, features uint16) (flags uint16, from int32, ok bool) {
	if err := c.Write(protocol.Greeting(0, features)); err != nil {
		return 0, 0, false
	}
	b, err := c.ReadRaw()
	if err != nil {
		return 0, 0, false
	}
	p, from, err := protocol.Decode(b)
	if err != nil {
		t.Errorf("CREDS: %v", err)
		return 0, 0, false
	}
	cr, isCreds := p.(*protocol.Creds)
	if !isCreds {
		t.Errorf("first PDU is %T, want CREDS", p)
		return 0, 0, false
	}
	_, flags, _ = cr.Flags()
	return flags, from, true
}

// serve runs a fake pmcd: after the handshake every request goes to handle, which
// returns the replies to send (nil: none).
func serve(t *testing.T, features uint16, handle func(p protocol.PDU) []protocol.PDU) *pmapitest.Server {
	return pmapitest.Serve(t, func(c *protocol.Conn) {
		if _, _, ok := greet(t, c, features); !ok {
			return
		}
		for {
			p, err := c.Read()
			if err != nil {
				return
			}
			for _, r := range handle(p) {
				if c.Write(r) != nil {
					return
				}
			}
		}
	})
}

func connect(t *testing.T, spec string, opts Options) *Context {
	t.Helper()
	c, err := Connect(context.Background(), spec, opts)
	if err != nil {
		t.Fatalf("Connect(%q): %v", spec, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantCode(t *testing.T, err error, code int32) {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("error %v (%T), want %d %q", err, err, code, ErrStr(code))
	}
}

func TestHandshakePlain(t *testing.T) {
	cleanEnv(t)
	got := make(chan [2]int32, 1)
	srv := pmapitest.Serve(t, func(c *protocol.Conn) {
		flags, from, ok := greet(t, c, plainFeatures)
		if ok {
			got <- [2]int32{int32(flags), from}
		}
		c.Read()
	})
	c := connect(t, srv.Addr, Options{})
	r := <-got
	if r[0] != 0 || r[1] != int32(os.Getpid()) {
		t.Errorf("CREDS flags %#x from %d, want 0 from %d", r[0], r[1], os.Getpid())
	}
	if c.Features() != plainFeatures || c.TLS() || c.Host() != "127.0.0.1" {
		t.Errorf("features %#x tls %v host %q", c.Features(), c.TLS(), c.Host())
	}
}

// TestNeedClientCert: pmcd -Q advertises CERT_REQD; a plain client on a non-local
// name must give up before sending CREDS; "localhost" is local and proceeds.
func TestNeedClientCert(t *testing.T) {
	cleanEnv(t)
	creds := make(chan bool, 2)
	srv := pmapitest.Serve(t, func(c *protocol.Conn) {
		_, _, ok := greet(t, c, 0x0ed5)
		creds <- ok
		if ok {
			c.Read()
		}
	})
	_, err := Connect(context.Background(), srv.Addr, Options{})
	wantCode(t, err, protocol.ErrNeedClientCert)
	if Message(err) != "PMCD requires a client certificate" {
		t.Errorf("message %q", Message(err))
	}
	if <-creds {
		t.Error("client sent CREDS to a CERT_REQD pmcd")
	}
	c := connect(t, "localhost:"+strconv.Itoa(srv.Port), Options{})
	if !<-creds || c.CredsFlags() != 0 {
		t.Errorf("localhost: creds flags %#x", c.CredsFlags())
	}
}

func TestSecureModesWithoutTLS(t *testing.T) {
	cleanEnv(t)
	srv := serve(t, plainFeatures, func(protocol.PDU) []protocol.PDU { return nil })
	_, err := Connect(context.Background(), srv.Addr, Options{Secure: SecureEnforce})
	wantCode(t, err, -int32(syscall.EOPNOTSUPP))
	_, err = Connect(context.Background(), "pcps://"+srv.Addr, Options{})
	wantCode(t, err, -int32(syscall.EOPNOTSUPP))
	c := connect(t, srv.Addr, Options{Secure: SecureRelaxed})
	if c.TLS() || c.CredsFlags() != 0 {
		t.Errorf("relaxed: tls %v flags %#x", c.TLS(), c.CredsFlags())
	}
	c = connect(t, "pcps://"+srv.Addr+"?secure=relaxed", Options{})
	if c.TLS() {
		t.Error("pcps relaxed used TLS")
	}
	_, err = Connect(context.Background(), srv.Addr+"?compress", Options{})
	wantCode(t, err, -int32(syscall.EOPNOTSUPP))
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pmcd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSUpgrade runs the secure handshake of PROTOCOL.md 3.4 against a Go TLS
// server on the same socket: CREDS with SECURE|SECURE_ACK, the ack, then TLS, and
// PDUs inside it; and without SECURE_ACK, TLS straight after CREDS.
func TestTLSUpgrade(t *testing.T) {
	cleanEnv(t)
	cert := selfSigned(t)
	for _, features := range []uint16{tlsFeatures, tlsFeatures &^ protocol.FeatureSecureAck} {
		flagsSeen := make(chan uint16, 1)
		srv := pmapitest.Serve(t, func(c *protocol.Conn) {
			flags, _, ok := greet(t, c, features)
			if !ok {
				return
			}
			flagsSeen <- flags
			if flags&protocol.FeatureSecureAck != 0 {
				c.Write(&protocol.ErrorPDU{Code: 0})
			}
			if _, err := c.UpgradeServer(context.Background(), &tls.Config{Certificates: []tls.Certificate{cert}}); err != nil {
				t.Errorf("server TLS: %v", err)
				return
			}
			p, err := c.Read()
			if err != nil {
				return
			}
			if r, ok := p.(*protocol.NameReq); ok {
				c.Write(&protocol.PMNSNames{Names: []string{r.Name + ".x"}})
			}
			c.Read()
		})
		var sni string
		c := connect(t, srv.Addr, Options{Secure: SecureEnforce, TLSConfig: func(name string) (*tls.Config, error) {
			sni = name
			return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, nil
		}})
		want := protocol.FeatureSecure | features&protocol.FeatureSecureAck
		if got := <-flagsSeen; got != want {
			t.Errorf("features %#x: CREDS flags %#x, want %#x", features, got, want)
		}
		if !c.TLS() || sni != "127.0.0.1" {
			t.Errorf("tls %v sni %q", c.TLS(), sni)
		}
		names, err := c.Traverse("kernel")
		if err != nil || len(names) != 1 || names[0] != "kernel.x" {
			t.Errorf("Traverse over TLS: %v %v", names, err)
		}
	}
}

func TestSecureAckError(t *testing.T) {
	cleanEnv(t)
	srv := pmapitest.Serve(t, func(c *protocol.Conn) {
		if _, _, ok := greet(t, c, tlsFeatures); ok {
			c.Write(&protocol.ErrorPDU{Code: protocol.ErrNotConn})
			c.Read()
		}
	})
	_, err := Connect(context.Background(), srv.Addr, Options{Secure: SecureEnforce})
	wantCode(t, err, protocol.ErrNotConn)
}

func TestTLSFailure(t *testing.T) {
	cleanEnv(t)
	srv := pmapitest.Serve(t, func(c *protocol.Conn) {
		if _, _, ok := greet(t, c, tlsFeatures); ok {
			c.Write(&protocol.ErrorPDU{Code: 0})
			c.WriteRaw([]byte("this is not TLS at all, sorry\n"))
			c.Read()
		}
	})
	_, err := Connect(context.Background(), srv.Addr, Options{Secure: SecureEnforce})
	wantCode(t, err, protocol.ErrTLS)
}

func TestContainerAttr(t *testing.T) {
	cleanEnv(t)
	attr := make(chan string, 1)
	srv := pmapitest.Serve(t, func(c *protocol.Conn) {
		flags, _, ok := greet(t, c, plainFeatures)
		if !ok {
			return
		}
		if flags != protocol.FeatureContainer {
			t.Errorf("CREDS flags %#x, want CONTAINER", flags)
		}
		p, err := c.Read()
		if a, ok := p.(*protocol.Attr); err == nil && ok && a.Attr == 15 {
			attr <- string(a.Value)
		}
		c.Read()
	})
	connect(t, srv.Addr+"?container=web", Options{})
	if got := <-attr; got != "web" {
		t.Errorf("container attr %q", got)
	}
	t.Setenv("PCP_CONTAINER", "db")
	connect(t, srv.Addr, Options{})
	if got := <-attr; got != "db" {
		t.Errorf("PCP_CONTAINER attr %q", got)
	}
	noCont := serve(t, plainFeatures&^protocol.FeatureContainer, func(protocol.PDU) []protocol.PDU { return nil })
	_, err := Connect(context.Background(), noCont.Addr, Options{Container: "x"})
	wantCode(t, err, -int32(syscall.EOPNOTSUPP))
}

func TestGreetingFailures(t *testing.T) {
	cleanEnv(t)
	for _, c := range []struct {
		name  string
		write func(*protocol.Conn)
		code  int32
	}{
		{"permission (v1 code)", func(c *protocol.Conn) { c.Write(protocol.Greeting(protocol.ErrPermission, 0)) }, protocol.ErrPermission},
		{"connection limit", func(c *protocol.Conn) { c.Write(protocol.Greeting(protocol.ErrConnLimit, 0)) }, protocol.ErrConnLimit},
		{"short error", func(c *protocol.Conn) { c.Write(&protocol.ErrorPDU{Code: 0}) }, protocol.ErrIPC},
		{"not an error", func(c *protocol.Conn) { c.Write(&protocol.DescReq{PMID: 1}) }, protocol.ErrIPC},
		{"closed", func(c *protocol.Conn) {}, protocol.ErrIPC},
	} {
		srv := pmapitest.Serve(t, func(pc *protocol.Conn) { c.write(pc) })
		_, err := Connect(context.Background(), srv.Addr, Options{})
		if protocol.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, ErrStr(c.code))
		}
	}
}

func TestTimeouts(t *testing.T) {
	cleanEnv(t)
	silent := pmapitest.Serve(t, func(c *protocol.Conn) { c.Read() })
	start := time.Now()
	_, err := Connect(context.Background(), silent.Addr, Options{RequestTimeout: 150 * time.Millisecond})
	wantCode(t, err, protocol.ErrTimeout)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("greeting timeout took %v", d)
	}
	t.Setenv("PMCD_REQUEST_TIMEOUT", "0.15")
	_, err = Connect(context.Background(), silent.Addr, Options{})
	wantCode(t, err, protocol.ErrTimeout)
	os.Unsetenv("PMCD_REQUEST_TIMEOUT")

	mute := serve(t, plainFeatures, func(protocol.PDU) []protocol.PDU { return nil })
	c := connect(t, mute.Addr, Options{RequestTimeout: 150 * time.Millisecond})
	_, err = c.Traverse("kernel")
	wantCode(t, err, protocol.ErrTimeout)
	_, err = c.Traverse("kernel")
	wantCode(t, err, protocol.ErrIPC) // the channel is closed after a timeout, as libpcp does
}

func TestConnectErrors(t *testing.T) {
	cleanEnv(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	_, err := Connect(context.Background(), closed, Options{})
	wantCode(t, err, -int32(syscall.ECONNREFUSED))
	if Message(err) != "Connection refused" {
		t.Errorf("message %q", Message(err))
	}
	dns := func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}}
	}
	_, err = Connect(context.Background(), "x.invalid", Options{Dial: dns})
	wantCode(t, err, -int32(syscall.EHOSTUNREACH))
	slow := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	_, err = Connect(context.Background(), "h", Options{Dial: slow, ConnectTimeout: 50 * time.Millisecond})
	wantCode(t, err, -int32(syscall.ETIMEDOUT))
	_, err = Connect(context.Background(), "", Options{})
	wantCode(t, err, protocol.ErrNotHost)
	_, err = Connect(context.Background(), "host:abc", Options{})
	var he *HostSpecError
	if !errors.As(err, &he) || protocol.CodeOf(err) != protocol.ErrGeneric {
		t.Errorf("bad spec: %v", err)
	}
	_, err = Connect(context.Background(), "unix:/nonexistent/pmcd.socket", Options{})
	wantCode(t, err, -int32(syscall.ENOENT))
}

// TestPortList: each port of the spec (or $PMCD_PORT) is tried in turn.
func TestPortList(t *testing.T) {
	cleanEnv(t)
	srv := serve(t, plainFeatures, func(protocol.PDU) []protocol.PDU { return nil })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	connect(t, "127.0.0.1:"+closed+","+strconv.Itoa(srv.Port), Options{})
	t.Setenv("PMCD_PORT", closed+","+strconv.Itoa(srv.Port))
	connect(t, "127.0.0.1", Options{})
	connect(t, "127.0.0.1", Options{Ports: []int{srv.Port}})
}

// recorder is a fake pmcd that logs the requests it gets.
type recorder struct {
	mu   sync.Mutex
	reqs []protocol.PDU
}

func (r *recorder) add(p protocol.PDU) {
	r.mu.Lock()
	r.reqs = append(r.reqs, p)
	r.mu.Unlock()
}

func (r *recorder) types() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, p := range r.reqs {
		s = append(s, protocol.TypeName(p.Type()))
	}
	return strings.Join(s, " ")
}

func TestFetchProfileAndStateChange(t *testing.T) {
	cleanEnv(t)
	for _, highres := range []bool{true, false} {
		rec := &recorder{}
		features := uint16(plainFeatures)
		if !highres {
			features &^= protocol.FeatureHighres
		}
		srv := serve(t, features, func(p protocol.PDU) []protocol.PDU {
			rec.add(p)
			f, ok := p.(*protocol.Fetch)
			if !ok {
				return nil
			}
			r := &protocol.Result{Highres: f.Highres, Sec: 1}
			for _, id := range f.PMIDs {
				r.VSets = append(r.VSets, protocol.ValueSet{PMID: id, NumVal: 1, Values: []protocol.Value{protocol.Insitu32(protocol.InNull, 7)}})
			}
			return []protocol.PDU{&protocol.ErrorPDU{Code: 16}, r}
		})
		c := connect(t, srv.Addr, Options{})
		for i := 0; i < 2; i++ {
			r, err := c.Fetch([]protocol.PMID{0x0f000020})
			if err != nil || len(r.VSets) != 1 || r.VSets[0].Values[0].Insitu != 7 || r.Highres != highres {
				t.Fatalf("Fetch: %+v %v", r, err)
			}
		}
		fetch := "HIGHRES_FETCH"
		if !highres {
			fetch = "FETCH"
		}
		if got, want := rec.types(), "PROFILE "+fetch+" "+fetch; got != want {
			t.Errorf("requests %q, want %q", got, want)
		}
		if c.StateChange() != 16 || c.StateChange() != 0 {
			t.Error("state change bits not reported once")
		}
		prof := rec.reqs[0].(*protocol.Profile)
		if prof.CtxID != 0 || prof.GState != 0 || len(prof.Entries) != 0 {
			t.Errorf("default profile %+v", prof)
		}
		// A changed profile is sent again before the next fetch.
		c.DelProfile(0x0f000002, nil)
		c.AddProfile(0x0f000002, []uint32{5, 15})
		c.Fetch([]protocol.PMID{0x0f000800})
		p := rec.reqs[3].(*protocol.Profile)
		if len(p.Entries) != 1 || p.Entries[0].State != protocol.ProfileExclude || len(p.Entries[0].Insts) != 2 {
			t.Errorf("profile after Del/Add: %+v", p)
		}
	}
}

func TestErrorRepliesKeepTheChannel(t *testing.T) {
	cleanEnv(t)
	srv := serve(t, plainFeatures, func(p protocol.PDU) []protocol.PDU {
		switch r := p.(type) {
		case *protocol.NameReq:
			if r.Name == "bad" {
				return []protocol.PDU{&protocol.ErrorPDU{Code: protocol.ErrName}}
			}
			return []protocol.PDU{&protocol.PMNSNames{Names: []string{r.Name}}}
		case *protocol.DescReq:
			return []protocol.PDU{&protocol.DescPDU{Desc: protocol.Desc{PMID: r.PMID, Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: 4}}}
		}
		return nil
	})
	c := connect(t, srv.Addr, Options{})
	_, err := c.Traverse("bad")
	wantCode(t, err, protocol.ErrName)
	if names, err := c.Traverse("good"); err != nil || names[0] != "good" {
		t.Fatalf("after an error reply: %v %v", names, err)
	}
	if d, err := c.Desc(0x0f000020); err != nil || d.Type != protocol.TypeU32 {
		t.Fatalf("Desc: %+v %v", d, err)
	}
}

func TestDescs(t *testing.T) {
	cleanEnv(t)
	desc := func(id protocol.PMID) protocol.Desc {
		return protocol.Desc{PMID: id, Type: protocol.TypeU64, InDom: protocol.InDomNull, Sem: 1, Units: protocol.UnitsMillisec}
	}
	for _, descs := range []bool{true, false} {
		rec := &recorder{}
		features := uint16(plainFeatures)
		if !descs {
			features &^= protocol.FeatureDescs
		}
		srv := serve(t, features, func(p protocol.PDU) []protocol.PDU {
			rec.add(p)
			switch r := p.(type) {
			case *protocol.DescIDs:
				out := &protocol.Descs{}
				for _, id := range r.PMIDs {
					if id == 99 {
						out.Descs = append(out.Descs, protocol.Desc{PMID: protocol.PMIDNull})
					} else {
						out.Descs = append(out.Descs, desc(id))
					}
				}
				return []protocol.PDU{out}
			case *protocol.DescReq:
				if r.PMID == 99 {
					return []protocol.PDU{&protocol.ErrorPDU{Code: protocol.ErrPMID}}
				}
				return []protocol.PDU{&protocol.DescPDU{Desc: desc(r.PMID)}}
			}
			return nil
		})
		c := connect(t, srv.Addr, Options{})
		d, err := c.Descs([]protocol.PMID{1, 99, 2})
		if err != nil || len(d) != 3 || d[0].PMID != 1 || d[1].PMID != protocol.PMIDNull || d[2].Units != protocol.UnitsMillisec {
			t.Fatalf("descs=%v: %+v %v", descs, d, err)
		}
		want := "DESC_IDS"
		if !descs {
			want = "DESC_REQ DESC_REQ DESC_REQ"
		}
		if rec.types() != want {
			t.Errorf("requests %q, want %q", rec.types(), want)
		}
		_, err = c.Descs([]protocol.PMID{99})
		wantCode(t, err, protocol.ErrPMID)
	}
}

func TestLabelsAndText(t *testing.T) {
	cleanEnv(t)
	rec := &recorder{}
	srv := serve(t, plainFeatures, func(p protocol.PDU) []protocol.PDU {
		rec.add(p)
		switch r := p.(type) {
		case *protocol.LabelReq:
			s, _ := protocol.NewLabelSet(protocol.InNull, `{"hostname":"vm"}`, 1)
			return []protocol.PDU{&protocol.LabelPDU{Ident: r.Ident, Kind: r.Kind, Sets: []protocol.LabelSet{s}}}
		case *protocol.TextReq:
			if r.Kind&protocol.TextHelp != 0 {
				return []protocol.PDU{&protocol.TextPDU{Ident: r.Ident}}
			}
			return []protocol.PDU{&protocol.TextPDU{Ident: r.Ident, Text: "one line"}}
		}
		return nil
	})
	c := connect(t, srv.Addr, Options{})
	sets, err := c.InstancesLabels(0x0f000002)
	if err != nil || len(sets) != 1 || sets[0].JSON != `{"hostname":"vm"}` {
		t.Fatalf("InstancesLabels: %v %v", sets, err)
	}
	if _, err := c.ContextLabels(); err != nil {
		t.Fatal(err)
	}
	if s, err := c.Text(0x0f000800, protocol.TextHelp); err != nil || s != "one line" {
		t.Errorf("help with fallback: %q %v", s, err)
	}
	if s, err := c.Text(0x0f000002, protocol.TextHelp|protocol.TextInDom|TextDirect); err != nil || s != "" {
		t.Errorf("direct help: %q %v", s, err)
	}
	if got, want := rec.types(), "PROFILE LABEL_REQ LABEL_REQ TEXT_REQ TEXT_REQ TEXT_REQ"; got != want {
		t.Errorf("requests %q, want %q", got, want)
	}
	kinds := []int32{rec.reqs[3].(*protocol.TextReq).Kind, rec.reqs[4].(*protocol.TextReq).Kind, rec.reqs[5].(*protocol.TextReq).Kind}
	if kinds[0] != 6 || kinds[1] != 5 || kinds[2] != 10 {
		t.Errorf("text kinds %v, want [6 5 10]", kinds)
	}

	noLabels := serve(t, plainFeatures&^protocol.FeatureLabels, func(protocol.PDU) []protocol.PDU { return nil })
	c2 := connect(t, noLabels.Addr, Options{})
	_, err = c2.ContextLabels()
	wantCode(t, err, protocol.ErrNoLabels)
}

func TestLookupNamesSplitsLargeRequests(t *testing.T) {
	cleanEnv(t)
	var sizes []int
	var mu sync.Mutex
	srv := serve(t, plainFeatures, func(p protocol.PDU) []protocol.PDU {
		r, ok := p.(*protocol.PMNSNames)
		if !ok {
			return nil
		}
		mu.Lock()
		sizes = append(sizes, len(protocol.Encode(nil, r, 0)))
		mu.Unlock()
		ids := &protocol.PMNSIDs{}
		for _, n := range r.Names {
			if strings.HasPrefix(n, "bad") {
				ids.IDs = append(ids.IDs, protocol.PMIDNull)
			} else {
				ids.IDs = append(ids.IDs, protocol.PMID(len(n)))
				ids.Status++
			}
		}
		if len(r.Names) == 1 && ids.Status == 0 {
			return []protocol.PDU{&protocol.ErrorPDU{Code: protocol.ErrName}}
		}
		return []protocol.PDU{ids}
	})
	c := connect(t, srv.Addr, Options{})
	var names []string
	for i := 0; i < 3000; i++ {
		names = append(names, strings.Repeat("m", 40)+strconv.Itoa(i))
	}
	names[5] = "bad.name"
	ids, err := c.LookupNames(names)
	if err != nil || len(ids) != len(names) || ids[5] != protocol.PMIDNull || ids[6] != protocol.PMID(len(names[6])) {
		t.Fatalf("LookupNames: %d ids, %v", len(ids), err)
	}
	if len(sizes) < 2 {
		t.Errorf("one request of %v bytes for %d names", sizes, len(names))
	}
	for _, s := range sizes {
		if s > MaxNamesRequest {
			t.Errorf("request of %d bytes", s)
		}
	}
	_, err = c.LookupNames([]string{"bad"})
	wantCode(t, err, protocol.ErrName)
}

func TestStoreAndHostName(t *testing.T) {
	cleanEnv(t)
	srv := serve(t, plainFeatures, func(p protocol.PDU) []protocol.PDU {
		switch r := p.(type) {
		case *protocol.Result:
			if r.VSets[0].PMID == 1 {
				return []protocol.PDU{&protocol.ErrorPDU{Code: 0}}
			}
			return []protocol.PDU{&protocol.ErrorPDU{Code: protocol.ErrPermission}}
		case *protocol.PMNSNames:
			return []protocol.PDU{&protocol.PMNSIDs{Status: 1, IDs: []protocol.PMID{0x00800015}}}
		case *protocol.Fetch:
			return []protocol.PDU{&protocol.Result{Highres: true, VSets: []protocol.ValueSet{{PMID: 0x00800015, NumVal: 1,
				ValFmt: protocol.ValFmtDynamic, Values: []protocol.Value{protocol.BlockString(protocol.InNull, "vm")}}}}}
		}
		return nil
	})
	c := connect(t, srv.Addr, Options{})
	store := func(id protocol.PMID) error {
		return c.Store(&protocol.Result{VSets: []protocol.ValueSet{{PMID: id, NumVal: 1, Values: []protocol.Value{protocol.Insitu32(protocol.InNull, 1)}}}})
	}
	if err := store(1); err != nil {
		t.Errorf("Store: %v", err)
	}
	wantCode(t, store(2), protocol.ErrPermission)
	if h := c.HostName(); h != "vm" {
		t.Errorf("HostName %q", h)
	}
	other := serve(t, plainFeatures, func(p protocol.PDU) []protocol.PDU {
		return []protocol.PDU{&protocol.ErrorPDU{Code: protocol.ErrName}}
	})
	if h := connect(t, other.Addr, Options{}).HostName(); h != "127.0.0.1" {
		t.Errorf("fallback HostName %q", h)
	}
}

// TestProxy connects through a pmproxy that speaks the text prelude of
// PROTOCOL.md 7.1 and then relays to (here: acts as) pmcd.
func TestProxy(t *testing.T) {
	cleanEnv(t)
	asked := make(chan string, 1)
	srv := pmapitest.Serve(t, func(c *protocol.Conn) {
		r := bufio.NewReader(c.Conn)
		line, _ := r.ReadString('\n')
		if line != "pmproxy-client 1\n" {
			t.Errorf("prelude %q", line)
			return
		}
		c.Conn.Write([]byte("pmproxy-server 1\n"))
		target, _ := r.ReadString('\n')
		asked <- target
		pc := protocol.NewConn(c.Conn)
		greet(t, pc, plainFeatures)
		pc.Read()
	})
	connect(t, "pmcdhost:4444@127.0.0.1:"+strconv.Itoa(srv.Port), Options{})
	if got := <-asked; got != "pmcdhost 4444\n" {
		t.Errorf("proxy asked for %q", got)
	}
	t.Setenv("PMPROXY_HOST", "127.0.0.1")
	t.Setenv("PMPROXY_PORT", strconv.Itoa(srv.Port))
	connect(t, "otherhost", Options{})
	if got := <-asked; got != "otherhost 44321\n" {
		t.Errorf("PMPROXY_HOST asked for %q", got)
	}
}

// TestReplayPmprobe performs pmprobe -v's calls against the recorded conversation
// (strictly: the same requests, byte for byte) and prints values as pmprobe does.
func TestReplayPmprobe(t *testing.T) {
	cleanEnv(t)
	tr, err := pmapitest.LoadTrace("testdata/pmprobe_v.txt")
	if err != nil {
		t.Fatal(err)
	}
	srv := pmapitest.Replay(t, tr, pmapitest.Strict)
	c := connect(t, "localhost:"+strconv.Itoa(srv.Port), Options{})
	var names []string
	for _, arg := range []string{"kernel.all.load", "kernel.uname.nodename", "hinv.ncpu"} {
		n, err := c.Traverse(arg)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n...)
	}
	ids, err := c.LookupNames(names)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Fetch(ids)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for i, vs := range res.VSets {
		d, err := c.Desc(ids[i])
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(names[i] + " " + strconv.Itoa(int(vs.NumVal)))
		for _, v := range vs.Values {
			out.WriteString(" " + FormatValue(d, v, vs.ValFmt == protocol.ValFmtInsitu))
		}
		out.WriteString("\n")
	}
	c.Close()
	if out.String() != tr.Output {
		t.Errorf("output\n%s\nwant\n%s", out.String(), tr.Output)
	}
}

func TestCredsFromField(t *testing.T) {
	b := protocol.Encode(nil, &protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}, 1234)
	if binary.BigEndian.Uint32(b[8:]) != 1234 {
		t.Fatal("Encode does not write from")
	}
}
