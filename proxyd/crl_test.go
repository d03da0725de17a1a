package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
)

// crlOf is a PEM CRL of ca (number n) listing revoked.
func crlOf(t *testing.T, ca *testcerts.Cert, n int64, revoked ...*testcerts.Cert) string {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(n), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
	for _, r := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: r.Cert.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

// TestReloadCRLRefusesHTTPSClient: [tls] crl_files; an HTTPS client served
// before is refused after a reload brings a CRL listing its certificate.
func TestReloadCRLRefusesHTTPSClient(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, nil)
	crl := filepath.Join(t.TempDir(), "ca.crl")
	rewrite(t, crl, crlOf(t, pki.CA, 1))
	// The collector is listed: only loopback port 44321 may be reached unlisted.
	p := startConfig(t, "[upstream]\nallow = ["+strconv.Quote(col.Addr)+"]\n[tls]\ntls_conf = "+strconv.Quote(pki.ServerTLSConf)+"\nrequire_client_cert = true\ncrl_files = ["+
		strconv.Quote(crl)+"]\n[reload]\nwatch_interval = \"0s\"\n")
	u := "https://" + p.addr + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	client := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(true)}}
	}
	if code, body := get(t, client(), u); code != 200 {
		t.Fatalf("before the CRL: %d %s", code, body)
	}
	rewrite(t, crl, crlOf(t, pki.CA, 2, pki.Client))
	p.reload(t)
	if resp, err := client().Get(u); err == nil {
		resp.Body.Close()
		t.Fatalf("revoked client served: %d\n%s", resp.StatusCode, p.logs)
	}
}

// TestUpstreamCRLRefusesCollector: proxyd's own requests refuse a collector
// whose certificate [upstream.client] crl_files revokes; without it the same
// collector is served.
func TestUpstreamCRLRefusesCollector(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, func(s *server.Server) {
		cfg := pki.ServerTLS(t, false)
		s.TLSConfig = func() *tls.Config { return cfg }
	})
	crl := filepath.Join(t.TempDir(), "ca.crl")
	rewrite(t, crl, crlOf(t, pki.CA, 1, pki.Server))
	conf := func(extra string) string {
		return fmt.Sprintf("[upstream]\nallow = [%q]\n[upstream.client]\nsecure = \"enforce\"\ncert_db = %q\n%s[reload]\nwatch_interval = \"0s\"\n",
			col.Addr, pki.TrustStore, extra)
	}
	plain := startConfig(t, conf(""))
	if code, body := get(t, http.DefaultClient, plain.url()+"/pmapi/fetch?names=hinv.ncpu&hostspec="+col.Addr); code != 200 {
		t.Fatalf("without the CRL: %d %s", code, body)
	}
	p := startConfig(t, conf("crl_files = ["+strconv.Quote(crl)+"]\n"))
	code, body := get(t, http.DefaultClient, p.url()+"/pmapi/fetch?names=hinv.ncpu&hostspec="+col.Addr)
	if code == 200 || !strings.Contains(body, "revoked") {
		t.Fatalf("revoked collector: %d %s", code, body)
	}
}
