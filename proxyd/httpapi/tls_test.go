package httpapi_test

import (
	"crypto/tls"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	cserver "github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
	"github.com/gopcp/gopcp/proxyd/upstream"
)

// TestCollectorIdentity: proxyd's own connections (REST, /metrics) to a collector
// that requires client certificates (-Q) use the identity configured for it: the
// store's client certificate, and its CAs to verify the collector.
func TestCollectorIdentity(t *testing.T) {
	pki := ptest.NewPKI(t)
	other := ptest.NewPKI(t) // a CA the collector's certificate does not chain to
	col := ptest.StartCollector(t, func(s *cserver.Server) {
		cfg := pki.ServerTLS(t, true)
		s.TLSConfig = func() *tls.Config { return cfg }
		s.RequireClientCert = true
	})
	policy, _ := upstream.NewPolicy([]string{"127.0.0.1"}, true) // the collectors are on ephemeral ports
	identity := func(store string) upstream.Identity {
		return upstream.Identity{Secure: pmapi.SecureEnforce, StoreDir: store}
	}
	clients := &upstream.Clients{
		Default: upstream.Identity{}, // plain
		Collectors: []upstream.CollectorIdentity{
			{Host: "127.0.0.1", Port: col.Port, Identity: identity(pki.ClientStore)},
			{Host: "localhost", Port: col.Port, Identity: identity(pki.TrustStore)},
			{Host: "::1", Port: col.Port, Identity: identity(other.ClientStore)},
		},
	}
	api := httpapi.New(httpapi.Config{Policy: policy, Clients: clients})
	ts := httptest.NewServer(api)
	defer func() { ts.Close(); api.Close() }()
	port := strconv.Itoa(col.Port)

	// The identity for 127.0.0.1 presents the client certificate.
	m := getJSON(t, ts.URL+"/pmapi/fetch?names=hinv.ncpu&hostspec=127.0.0.1:"+port, 200)
	if len(m["values"].([]any)) != 1 {
		t.Fatalf("fetch: %v", m)
	}
	if r := get(t, ts.URL+"/metrics?names=kernel.all.load&hostspec=127.0.0.1:"+port); r.status != 200 || !strings.Contains(r.body, "kernel_all_load{") {
		t.Fatalf("metrics: %d %s", r.status, r.body)
	}
	// TLS, but no client certificate: the collector refuses the session.
	if e := getJSON(t, ts.URL+"/pmapi/context?hostspec=localhost:"+port, 502); !strings.Contains(e["message"].(string), "requires a client certificate") {
		t.Errorf("no certificate: %v", e)
	}
	// Plain (the default identity of another proxy): the collector demands a
	// certificate.
	plain := httpapi.New(httpapi.Config{Policy: policy})
	ps := httptest.NewServer(plain)
	defer func() { ps.Close(); plain.Close() }()
	if e := getJSON(t, ps.URL+"/pmapi/context?hostspec="+col.Addr, 502); !strings.Contains(e["message"].(string), "requires a client certificate") {
		t.Errorf("plain: %v", e)
	}
}

// TestCollectorVerification: a collector whose certificate the identity's store
// does not trust is refused, and the message says why.
func TestCollectorVerification(t *testing.T) {
	pki := ptest.NewPKI(t)
	other := ptest.NewPKI(t)
	col := ptest.StartCollector(t, func(s *cserver.Server) {
		cfg := pki.ServerTLS(t, false)
		s.TLSConfig = func() *tls.Config { return cfg }
	})
	policy, _ := upstream.NewPolicy([]string{"127.0.0.1"}, true) // the collectors are on ephemeral ports
	mk := func(store string) *httptest.Server {
		api := httpapi.New(httpapi.Config{Policy: policy, Clients: &upstream.Clients{
			Default: upstream.Identity{Secure: pmapi.SecureEnforce, StoreDir: store}}})
		ts := httptest.NewServer(api)
		t.Cleanup(func() { ts.Close(); api.Close() })
		return ts
	}
	u := "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	getJSON(t, mk(pki.TrustStore).URL+u, 200)
	e := getJSON(t, mk(other.TrustStore).URL+u, 502)
	if msg := e["message"].(string); !strings.Contains(msg, "TLS protocol failure") || !strings.Contains(msg, "not trusted") {
		t.Errorf("untrusted collector: %v", msg)
	}
}
