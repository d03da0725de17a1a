package protocol

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/testcerts"
)

// upgradePKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, all ECDSA P-256 as certdb quickstart makes them.
type upgradePKI struct {
	srv, cli *tls.Config
}

func newUpgradePKI(t *testing.T) upgradePKI {
	t.Helper()
	ca := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true})
	srv := testcerts.New(t, ca, testcerts.Options{CN: "srv", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	cli := testcerts.New(t, ca, testcerts.Options{CN: "cli", Client: true})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return upgradePKI{
		srv: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{srv.Cert.Raw}, PrivateKey: srv.Key}},
			ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool,
			SessionTicketsDisabled: true,
		},
		cli: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{cli.Cert.Raw}, PrivateKey: cli.Key}},
			RootCAs:      pool, ServerName: "127.0.0.1",
			// libpcp's ClientHello carries a key share for X25519 only.
			CurvePreferences: []tls.CurveID{tls.X25519},
		},
	}
}

// readCounter counts the reads that reach the stream under the server.
type readCounter struct {
	net.Conn
	mu    sync.Mutex
	reads int
}

func (c *readCounter) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.Conn.Read(p)
}

func (c *readCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// TestUpgradeServerByOneReadPerFlight: the server handshake reads each flight
// the client writes with one read of the stream. A pipe hands a read at most
// what one write wrote, and the Go client, like libpcp, writes its ClientHello
// and then its certificate, CertificateVerify and Finished with one write
// each; crypto/tls alone reads a record in pieces of about 576 bytes, so the
// second flight (about 1 KB with a P-256 certificate) took two reads.
func TestUpgradeServerByOneReadPerFlight(t *testing.T) {
	p := newUpgradePKI(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cc := &readCounter{Conn: a}
	srv := NewConnSize(cc, 2048)
	errc := make(chan error, 1)
	go func() {
		c := tls.Client(b, p.cli)
		if err := c.Handshake(); err != nil {
			errc <- err
			return
		}
		// The client's first PDU follows its Finished.
		_, err := c.Write(Encode(nil, &Creds{Creds: []uint32{VersionCred(0)}}, 0))
		errc <- err
	}()
	if _, err := srv.UpgradeServerBy(time.Now().Add(5*time.Second), p.srv); err != nil {
		t.Fatal(err)
	}
	if n := cc.count(); n != 2 {
		t.Errorf("%d reads for the client's two flights, want 2", n)
	}
	if _, err := srv.Read(); err != nil {
		t.Fatalf("PDU after the handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// slowConn delays every read, so that whatever the client writes meanwhile is
// in the socket when the server reads: its Finished and its first PDU come in
// one read.
type slowConn struct{ net.Conn }

func (c slowConn) Read(p []byte) (int, error) {
	time.Sleep(50 * time.Millisecond)
	return c.Conn.Read(p)
}

// TestUpgradeServerByKeepsBytesAfterHandshake: bytes that arrive in the same
// read as the end of the handshake (the client's first PDUs) are read after it,
// in order, whether crypto/tls took them all from the plaintext buffer (a few
// PDUs) or some were still there when the handshake ended (many); so are bytes
// buffered before it (a PDU and the ClientHello in one read of the stream).
func TestUpgradeServerByKeepsBytesAfterHandshake(t *testing.T) {
	p := newUpgradePKI(t)
	for _, n := range []int{3, 150} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var reqs []PDU
		for i := range n {
			reqs = append(reqs, &DescReq{PMID: PMID(i + 1)})
		}
		errc := make(chan error, 1)
		go func() {
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				errc <- err
				return
			}
			defer nc.Close()
			// CREDS and the ClientHello in one read: the server reads both at once.
			tc := tls.Client(nc, p.cli)
			if _, err := nc.Write(Encode(nil, &Creds{Creds: []uint32{VersionCred(FeatureSecure)}}, 0)); err != nil {
				errc <- err
				return
			}
			if err := tc.Handshake(); err != nil {
				errc <- err
				return
			}
			var out []byte
			for _, q := range reqs {
				out = Encode(out, q, 0)
			}
			_, err = tc.Write(out)
			errc <- err
			// Hold the connection until the server has read everything.
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			nc.Read(make([]byte, 1))
		}()
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		srv := NewConnSize(slowConn{nc}, 2048)
		if got, err := srv.Read(); err != nil || got.Type() != TypeCreds {
			t.Fatalf("first PDU %v, %v", got, err)
		}
		if _, err := srv.UpgradeServerBy(time.Now().Add(5*time.Second), p.srv); err != nil {
			t.Fatal(err)
		}
		for i, want := range reqs {
			got, err := srv.Read()
			if err != nil {
				t.Fatalf("%d PDUs: PDU %d: %v", n, i+1, err)
			}
			if d, ok := got.(*DescReq); !ok || d.PMID != want.(*DescReq).PMID {
				t.Fatalf("%d PDUs: PDU %d: %#v, want %#v", n, i+1, got, want)
			}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpgradeServerByDeadline: a client that asks for TLS and then says nothing
// is cut at the deadline; after a handshake that succeeded no deadline is left
// on the connection; and no handshake runs without a deadline.
func TestUpgradeServerByDeadline(t *testing.T) {
	p := newUpgradePKI(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := NewConn(a)
	start := time.Now()
	_, err := srv.UpgradeServerBy(time.Now().Add(200*time.Millisecond), p.srv)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent client: %v, want the deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cut after %v", d)
	}
	if !srv.rdl.IsZero() || !srv.wdl.IsZero() {
		t.Errorf("deadlines left after a failed handshake: %v %v", srv.rdl, srv.wdl)
	}

	a, b = net.Pipe()
	defer a.Close()
	defer b.Close()
	srv = NewConn(a)
	go func() {
		c := tls.Client(b, p.cli)
		if c.Handshake() == nil {
			c.Write(Encode(nil, &DescReq{PMID: 7}, 0))
		}
	}()
	if _, err := srv.UpgradeServerBy(time.Now().Add(5*time.Second), p.srv); err != nil {
		t.Fatal(err)
	}
	if !srv.rdl.IsZero() || !srv.wdl.IsZero() {
		t.Errorf("deadlines left after the handshake: %v %v", srv.rdl, srv.wdl)
	}
	// The deadline really is gone from the socket, not only from the record:
	// a read that outlives the old deadline still succeeds.
	time.Sleep(50 * time.Millisecond)
	if _, err := srv.Read(); err != nil {
		t.Fatal(err)
	}

	c, d := net.Pipe()
	defer c.Close()
	defer d.Close()
	if _, err := NewConn(c).UpgradeServerBy(time.Time{}, p.srv); err == nil {
		t.Fatal("a handshake without a deadline ran")
	}
}

// TestUpgradeServerByClose: closing the connection (a server's Close) ends a
// handshake in flight at once, long before its deadline.
func TestUpgradeServerByClose(t *testing.T) {
	p := newUpgradePKI(t)
	a, b := net.Pipe()
	defer b.Close()
	srv := NewConn(a)
	time.AfterFunc(100*time.Millisecond, func() { a.Close() })
	start := time.Now()
	if _, err := srv.UpgradeServerBy(time.Now().Add(time.Minute), p.srv); err == nil {
		t.Fatal("handshake on a closed connection succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("ended after %v", d)
	}
}
