package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	cserver "github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/collectord/server/servertest"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/tlsconfig"
)

// fastKDF: the stores these tests make derive their key at the test-only
// scrypt cost; pminfo pays the derivation at every run, which is not what the
// tests are about (certdb's and the store's tests keep the default cost).
var fastKDF = store.CreateOptions{TestOnlyFastKDF: true}

// TestRevokedServerRefused: pminfo refuses a collector whose certificate a CRL
// in the user's store revokes (certdb crl add), though it chains to a trusted
// CA and names the host; without a terminal nothing is prompted, and the error
// names the certificate.
func TestRevokedServerRefused(t *testing.T) {
	cleanEnv(t)
	ca := testcerts.New(t, nil, testcerts.Options{CN: "pminfo CRL CA", IsCA: true})
	srvCert := testcerts.New(t, ca, testcerts.Options{CN: "collector", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	dir := t.TempDir()
	mk := func(name string) *store.Store {
		st, err := store.CreateWith(filepath.Join(dir, name), nil, fastKDF)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddCert("CA", ca.Cert, store.MustParseTrust("CT,,")); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if _, err := mk("server").AddIdentity("collector", srvCert.Cert, srvCert.Key, store.Trust{}); err != nil {
		t.Fatal(err)
	}
	client := mk("client")
	cfg, err := tlsconfig.Server(tlsconfig.ServerOptions{Store: filepath.Join(dir, "server"), Nickname: "collector"})
	if err != nil {
		t.Fatal(err)
	}
	port := serveCollector(t, cfg)

	t.Setenv("PCP_SECURE_SOCKETS", "enforce")
	t.Setenv(tlsconfig.EnvDBPath, filepath.Join(dir, "client"))
	t.Setenv(tlsconfig.EnvTLSConf, "/nonexistent")
	host := "127.0.0.1:" + strconv.Itoa(port)
	if out, errOut, status := runPminfo(t, "-h", host, "-f", "hinv.ncpu"); status != 0 || !strings.Contains(out, "value") {
		t.Fatalf("before the CRL: status %d\n%s%s", status, out, errOut)
	}
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: srvCert.Cert.SerialNumber, RevocationTime: time.Now()}}}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.AddCRL(der); err != nil {
		t.Fatal(err)
	}
	out, errOut, status := runPminfo(t, "-h", host, "-f", "hinv.ncpu")
	if status != 1 || strings.Contains(out, "value") || !strings.Contains(errOut, "is revoked") ||
		!strings.Contains(errOut, tlsconfig.Fingerprint(srvCert.Cert)) || strings.Contains(errOut, "(y/n)") {
		t.Fatalf("revoked server: status %d\nstdout %q\nstderr %q", status, out, errOut)
	}
}

// serveCollector runs our collector's server with cfg on 127.0.0.1 until the
// test ends and returns its port.
func serveCollector(t *testing.T, cfg *tls.Config) int {
	t.Helper()
	_, addr := servertest.Start(t, func(s *cserver.Server) { s.TLSConfig = func() *tls.Config { return cfg } })
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return n
}
