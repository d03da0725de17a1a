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
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/pmapi/pmapitest"
	"github.com/gopcp/gopcp/protocol"
)

func TestIsLocalHostName(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "localhost.": true,
		"localhost.evil.example": false, "localfoo": false, "evil-localhost": false,
		"mylocalhost": false, "local": false, "": false, "127.0.0.1": false,
	} {
		if got := IsLocalHostName(host); got != want {
			t.Errorf("IsLocalHostName(%q) = %v, want %v", host, got, want)
		}
	}
	me, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	for host, want := range map[string]string{
		"localhost": me, "localfoo": "localfoo", "localhost.evil.example": "localhost.evil.example",
		"collector.example": "collector.example",
	} {
		if got := serverName(host, false); got != want {
			t.Errorf("serverName(%q) = %q, want %q", host, got, want)
		}
	}
	if got := serverName("/run/pcp/pmcd.socket", true); got != me {
		t.Errorf("serverName(unix) = %q", got)
	}
}

// TestLookalikeLocalIsRemote: a pmcd -Q reached by a name that only looks local
// ("localhost.evil.example", "localfoo") is remote: the client must not skip the
// client-certificate requirement as it does for localhost.
func TestLookalikeLocalIsRemote(t *testing.T) {
	cleanEnv(t)
	creds := make(chan bool, 4)
	srv := pmapitest.Serve(t, func(c *protocol.Conn) {
		_, _, ok := greet(t, c, 0x0ed5) // CERT_REQD
		creds <- ok
		if ok {
			c.Read()
		}
	})
	// Every name resolves to the test's server, as DNS would do for an attacker.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr)
	}
	for _, host := range []string{"localhost.evil.example", "localfoo"} {
		_, err := Connect(context.Background(), host+":"+strconv.Itoa(srv.Port), Options{Dial: dial})
		wantCode(t, err, protocol.ErrNeedClientCert)
		if <-creds {
			t.Errorf("%s: the client treated it as local and sent CREDS", host)
		}
	}
	c := connect(t, "localhost:"+strconv.Itoa(srv.Port), Options{Dial: dial})
	if !<-creds || c.CredsFlags() != 0 {
		t.Errorf("localhost is still local: creds flags %#x", c.CredsFlags())
	}
}

// namedCert is a self-signed server certificate that names only host.
func namedCert(t *testing.T, host string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestProxyChecksCollectorName: through a relay (host@proxy and PMPROXY_HOST) TLS
// runs end to end, so the certificate to verify is the collector's and the name
// to verify it against is the collector's, not the relay's.
func TestProxyChecksCollectorName(t *testing.T) {
	cleanEnv(t)
	cert, pool := namedCert(t, "collector.example")
	collector := pmapitest.Serve(t, func(c *protocol.Conn) {
		flags, _, ok := greet(t, c, tlsFeatures)
		if !ok {
			return
		}
		if flags&protocol.FeatureSecureAck != 0 {
			c.Write(&protocol.ErrorPDU{Code: 0})
		}
		if _, err := c.UpgradeServer(context.Background(), &tls.Config{Certificates: []tls.Certificate{cert}}); err != nil {
			return
		}
		c.Read()
	})
	asked := make(chan string, 2)
	// The relay: pmproxy's prelude, then bytes both ways to the collector,
	// whatever name it was asked for (it cannot see inside TLS).
	relay := pmapitest.Serve(t, func(c *protocol.Conn) {
		r := bufio.NewReader(c.Conn)
		if line, _ := r.ReadString('\n'); line != "pmproxy-client 1\n" {
			return
		}
		c.Conn.Write([]byte("pmproxy-server 1\n"))
		target, _ := r.ReadString('\n')
		asked <- strings.TrimSpace(target)
		up, err := net.Dial("tcp", collector.Addr)
		if err != nil {
			return
		}
		defer up.Close()
		go io.Copy(up, r)
		io.Copy(c.Conn, up)
	})
	verifying := func(name string) (*tls.Config, error) {
		// A strict client: the name handed over must be on the certificate.
		return &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}, nil
	}
	spec := "collector.example:4444@127.0.0.1:" + strconv.Itoa(relay.Port)
	c, err := Connect(context.Background(), spec, Options{Secure: SecureEnforce, TLSConfig: verifying})
	if err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	if !c.TLS() || c.Host() != "collector.example" {
		t.Errorf("tls %v host %q", c.TLS(), c.Host())
	}
	c.Close()
	if got := <-asked; got != "collector.example 4444" {
		t.Errorf("relay asked for %q", got)
	}
	t.Setenv("PMPROXY_HOST", "127.0.0.1")
	t.Setenv("PMPROXY_PORT", strconv.Itoa(relay.Port))
	c, err = Connect(context.Background(), "collector.example", Options{Secure: SecureEnforce, TLSConfig: verifying})
	if err != nil {
		t.Fatalf("PMPROXY_HOST: %v", err)
	}
	c.Close()
	<-asked
	// "localhost" through a relay is the relay's machine: the name checked is
	// "localhost" as given (not this machine's name), and the connection is
	// not local, so it does not skip a collector's certificate requirement.
	var got []string
	recording := func(name string) (*tls.Config, error) {
		got = append(got, name)
		return verifying(name)
	}
	Connect(context.Background(), "localhost", Options{Secure: SecureEnforce, TLSConfig: recording})
	<-asked
	if len(got) != 1 || got[0] != "localhost" {
		t.Errorf("localhost through the relay was checked as %q", got)
	}
	// And a collector asked for by another name is refused: the relay's own
	// name, which the collector's certificate does not hold, proves nothing.
	_, err = Connect(context.Background(), "other.example", Options{Secure: SecureEnforce, TLSConfig: verifying})
	var he x509.HostnameError
	if !errors.As(err, &he) {
		t.Fatalf("a certificate for another name was accepted through the relay: %v", err)
	}
}

func TestSecureValues(t *testing.T) {
	for _, c := range []struct {
		set  bool
		val  string
		want SecureMode
		bad  bool
	}{{false, "", SecureNone, false}, {true, "", SecureEnforce, false}, {true, "1", SecureEnforce, false},
		{true, "enforce", SecureEnforce, false}, {true, "relaxed", SecureRelaxed, false},
		{true, "0", SecureNone, false}, {true, "none", SecureNone, false},
		{true, "enforced", SecureNone, true}, {true, "Enforce", SecureNone, true}, {true, "yes", SecureNone, true},
		{true, "relaxed\x1b[2J", SecureNone, true}} {
		t.Setenv("PCP_SECURE_SOCKETS", c.val)
		if !c.set {
			os.Unsetenv("PCP_SECURE_SOCKETS")
		}
		got, err := SecureFromEnv()
		switch {
		case c.bad && (err == nil || !strings.Contains(err.Error(), "PCP_SECURE_SOCKETS") || !strings.Contains(err.Error(), `"relaxed"`)):
			t.Errorf("PCP_SECURE_SOCKETS=%q: %v, want an error naming the variable and the accepted values", c.val, err)
		case c.bad && strings.ContainsRune(err.Error(), 0x1b):
			t.Errorf("error shows the value raw: %q", err)
		case !c.bad && (err != nil || got != c.want):
			t.Errorf("PCP_SECURE_SOCKETS=%q: %v %v, want %v", c.val, got, err, c.want)
		}
	}
	// ?secure= with an unknown value fails before any connection, never plaintext.
	cleanEnv(t)
	dialed := false
	_, err := Connect(context.Background(), "pcps://h?secure=enforced", Options{Dial: func(context.Context, string, string) (net.Conn, error) {
		dialed = true
		return nil, errors.New("no")
	}})
	var hse *HostSpecError
	if !errors.As(err, &hse) || dialed || !strings.Contains(hse.Reason, "relaxed") {
		t.Fatalf("pcps://h?secure=enforced: %v (dialed %v)", err, dialed)
	}
}

// TestProxiedLocalhostIsRemote: "localhost@proxy" is the relay's localhost; a
// collector there that requires client certificates is not skipped as local.
func TestProxiedLocalhostIsRemote(t *testing.T) {
	cleanEnv(t)
	creds := make(chan bool, 1)
	relay := pmapitest.Serve(t, func(c *protocol.Conn) {
		r := bufio.NewReader(c.Conn)
		if line, _ := r.ReadString('\n'); line != "pmproxy-client 1\n" {
			return
		}
		c.Conn.Write([]byte("pmproxy-server 1\n"))
		r.ReadString('\n')
		// Acts as the collector behind it, with -Q (CERT_REQD).
		_, _, ok := greet(t, protocol.NewConn(&prereadConn{Conn: c.Conn, r: r}), 0x0ed5)
		creds <- ok
	})
	_, err := Connect(context.Background(), "localhost@127.0.0.1:"+strconv.Itoa(relay.Port), Options{})
	wantCode(t, err, protocol.ErrNeedClientCert)
	if <-creds {
		t.Error("the client sent CREDS as if the relay's localhost were local")
	}
}

// prereadConn reads through the buffered reader that consumed the prelude.
type prereadConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *prereadConn) Read(b []byte) (int, error) { return p.r.Read(b) }
