package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcp/gopcp/pmapi/pmapitest"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/tlsconfig"
)

// TestUnknownSecureSockets: a misspelt PCP_SECURE_SOCKETS stops pminfo with the
// accepted values before it connects, instead of connecting in the clear.
func TestUnknownSecureSockets(t *testing.T) {
	cleanEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Setenv("PCP_SECURE_SOCKETS", "enforced")
	_, errOut, status := runPminfo(t, "-h", ln.Addr().String(), "hinv.ncpu")
	if status != 1 || !strings.Contains(errOut, `PCP_SECURE_SOCKETS="enforced"`) || !strings.Contains(errOut, `"enforce"`) || !strings.Contains(errOut, `"relaxed"`) {
		t.Errorf("status %d stderr %q", status, errOut)
	}
	if strings.Contains(errOut, "Cannot connect") {
		t.Errorf("reported as a connection failure: %q", errOut)
	}
	time.Sleep(50 * time.Millisecond) // let a connection that should not exist arrive
	if n := accepted.Load(); n != 0 {
		t.Errorf("pminfo connected %d times", n)
	}
}

// hostileServer is a pmcd with TLS whose certificate's subject and names hold
// terminal control sequences.
func hostileServer(t *testing.T) *pmapitest.Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7),
		Subject:   pkix.Name{CommonName: "evil\x1b[2J\a\rFAKE\nline"},
		DNSNames:  []string{"x\x1b]0;pwned\a.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return pmapitest.Serve(t, func(c *protocol.Conn) {
		if err := c.Write(protocol.Greeting(0, 0x0e55)); err != nil {
			return
		}
		if _, err := c.ReadRaw(); err != nil {
			return
		}
		c.Write(&protocol.ErrorPDU{Code: 0})
		if _, err := c.UpgradeServer(context.Background(), &tls.Config{Certificates: []tls.Certificate{cert}}); err != nil {
			return
		}
		c.Read()
	})
}

// TestHostileCertificateLines: what pminfo prints about a refused certificate
// shows its names escaped; no control character reaches the terminal.
func TestHostileCertificateLines(t *testing.T) {
	cleanEnv(t)
	srv := hostileServer(t)
	addr := "127.0.0.1:" + strconv.Itoa(srv.Port)
	t.Setenv("PCP_SECURE_SOCKETS", "enforce")
	t.Setenv(tlsconfig.EnvDBPath, filepath.Join(t.TempDir(), "none"))
	t.Setenv(tlsconfig.EnvAllowSelfCert, "")
	os.Unsetenv(tlsconfig.EnvAllowSelfCert)
	inert := func(what, s string) {
		t.Helper()
		for _, bad := range []string{"\x1b", "\a", "\r", "FAKE\n"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s: stderr holds %q raw: %q", what, bad, s)
			}
		}
	}
	// Untrusted: the x509 reason quotes the certificate's subject.
	_, errOut, status := runPminfo(t, "-h", addr, "hinv.ncpu")
	if status != 1 || !strings.Contains(errOut, "pminfo: server certificate for 127.0.0.1 is not trusted") {
		t.Fatalf("status %d stderr %q", status, errOut)
	}
	inert("untrusted", errOut)
	// With the untrusted certificate allowed, the name mismatch lists the
	// certificate's names, escaped, and the warning names the host.
	t.Setenv(tlsconfig.EnvAllowSelfCert, "1")
	_, errOut, _ = runPminfo(t, "-h", addr, "hinv.ncpu")
	if !strings.Contains(errOut, `x\x1b]0;pwned\a.example`) {
		t.Errorf("bad-domain line does not show the escaped name: %q", errOut)
	}
	inert("bad domain", errOut)
}
