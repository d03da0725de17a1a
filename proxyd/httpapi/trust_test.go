package httpapi_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cserver "github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/tcpstub"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
	"github.com/gopcp/gopcp/proxyd/upstream"
)

// remote makes every request look as if it came from another host (a
// documentation address): the API decides from the peer address.
func remote(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = "192.0.2.7:40000"
		h.ServeHTTP(w, r)
	})
}

// secureCollector is our collectord with -Q.
func secureCollector(t *testing.T, pki *ptest.PKI) *ptest.Collector {
	return ptest.StartCollector(t, func(s *cserver.Server) {
		cfg := pki.ServerTLS(t, true)
		s.TLSConfig = func() *tls.Config { return cfg }
		s.RequireClientCert = true
	})
}

// call GETs u and returns the status and the JSON message (or the body).
func call(t *testing.T, u string) (int, string) {
	t.Helper()
	r := get(t, u)
	var m struct{ Message string }
	if json.Unmarshal([]byte(r.body), &m) == nil && m.Message != "" {
		return r.status, m.Message
	}
	return r.status, r.body
}

// TestIdentityNotLent: proxyd's client certificate reaches a -Q collector only
// for loopback (or authenticated) HTTP clients. A remote client without a
// certificate gets 403 saying it must authenticate to proxyd, for REST and
// /metrics, and cannot use a context a trusted client made. Before, proxyd
// presented its certificate for anyone and the remote client read the metrics.
func TestIdentityNotLent(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := secureCollector(t, pki)
	policy, _ := upstream.NewPolicy([]string{"127.0.0.1"}, true)
	clients := &upstream.Clients{Default: upstream.Identity{Secure: pmapi.SecureEnforce, StoreDir: pki.ClientStore}}
	api := httpapi.New(httpapi.Config{Policy: policy, Clients: clients})
	defer api.Close()
	local := httptest.NewServer(api)
	defer local.Close()
	far := httptest.NewServer(remote(api))
	defer far.Close()

	fetch := "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	scrape := "/metrics?names=hinv.ncpu&hostspec=" + col.Addr
	if st, msg := call(t, local.URL+fetch); st != 200 {
		t.Fatalf("loopback client: %d %s", st, msg)
	}
	for _, path := range []string{fetch, scrape, "/pmapi/context?hostspec=" + col.Addr} {
		st, msg := call(t, far.URL+path)
		if st != http.StatusForbidden || !strings.Contains(msg, "requires a client certificate") ||
			!strings.Contains(msg, "authenticated to proxyd") || strings.Contains(msg, "hinv") {
			t.Errorf("remote client %s: %d %s", path, st, msg)
		}
	}

	// A context made by the loopback client is unknown to the remote one.
	// The loopback client's /metrics names one metric: a scrape of everything
	// (proc.* of every process on the host, 2-6 MB, a cold metadata cache)
	// proves no more about trust, and on a loaded 2-CPU machine it outlasted
	// proxyd's 10 s request timeout and failed with 504. The remote client is
	// also refused the scrape of everything, before any collector work.
	m := getJSON(t, local.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout=60", 200)
	id := m["context"].(json.Number).String()
	for _, path := range []string{"/pmapi/" + id + "/fetch?names=hinv.ncpu", "/pmapi/fetch?names=hinv.ncpu&context=" + id,
		"/metrics?names=hinv.ncpu&context=" + id, "/metrics?context=" + id} {
		if st, msg := call(t, far.URL+path); st != http.StatusBadRequest || !strings.Contains(msg, "unknown context") {
			t.Errorf("remote client on a trusted context %s: %d %s", path, st, msg)
		}
		if !strings.Contains(path, "names=") {
			continue
		}
		if st, msg := call(t, local.URL+path); st != 200 || !strings.Contains(msg, "hinv") {
			t.Errorf("loopback client on its context %s: %d %s", path, st, msg)
		}
	}

	// lend_identity = "always" lends it to anyone, as documented.
	clients.Default.Lend = upstream.LendAlways
	api.Reconfigure(httpapi.Config{Policy: policy, Clients: clients})
	if st, msg := call(t, far.URL+fetch); st != 200 {
		t.Errorf("lend always: %d %s", st, msg)
	}
	// And "never" to no one.
	clients.Default.Lend = upstream.LendNever
	api.Reconfigure(httpapi.Config{Policy: policy, Clients: clients})
	if st, msg := call(t, local.URL+fetch); st != http.StatusBadGateway || !strings.Contains(msg, "requires a client certificate") {
		t.Errorf("lend never: %d %s", st, msg)
	}
}

// TestIdentityNotLentPlainCollector: a collector that does not ask for client
// certificates serves remote HTTP clients as before (nothing is lent).
func TestIdentityNotLentPlainCollector(t *testing.T) {
	col := ptest.StartCollector(t, nil)
	policy, _ := upstream.NewPolicy([]string{"127.0.0.1"}, true)
	api := httpapi.New(httpapi.Config{Policy: policy})
	defer api.Close()
	far := httptest.NewServer(remote(api))
	defer far.Close()
	if st, msg := call(t, far.URL+"/pmapi/fetch?names=hinv.ncpu&hostspec="+col.Addr); st != 200 {
		t.Fatalf("%d %s", st, msg)
	}
}

// TestHostspecCannotWeaken: against a configured secure = "enforce", a
// hostspec asking for less (pcps:...?secure=none, ?secure=relaxed) or carrying
// any other attribute is refused with 403; asking for as much or more is fine.
// Before, pcps://...?secure=none replaced the configured mode and proxyd
// connected in clear.
func TestHostspecCannotWeaken(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, func(s *cserver.Server) {
		cfg := pki.ServerTLS(t, false)
		s.TLSConfig = func() *tls.Config { return cfg }
	})
	port := strconv.Itoa(col.Port)
	policy, _ := upstream.NewPolicy([]string{"127.0.0.1"}, true)
	mk := func(mode pmapi.SecureMode) *httptest.Server {
		api := httpapi.New(httpapi.Config{Policy: policy, Clients: &upstream.Clients{
			Default: upstream.Identity{Secure: mode, StoreDir: pki.TrustStore}}})
		ts := httptest.NewServer(api)
		t.Cleanup(func() { ts.Close(); api.Close() })
		return ts
	}
	enforce, relaxed := mk(pmapi.SecureEnforce), mk(pmapi.SecureRelaxed)
	q := func(spec string) string { return "/pmapi/fetch?names=hinv.ncpu&hostspec=" + url.QueryEscape(spec) }
	cases := []struct {
		ts     *httptest.Server
		spec   string
		status int
	}{
		{enforce, "pcps://127.0.0.1:" + port + "?secure=none", 403},
		{enforce, "pcps://127.0.0.1:" + port + "?secure=relaxed", 403},
		{enforce, "127.0.0.1:" + port + "?secure=none", 403},
		{enforce, "127.0.0.1:" + port + "?secure=0", 403},
		{enforce, "127.0.0.1:" + port + "?compress", 403},
		{enforce, "127.0.0.1:" + port + "?local", 403},
		{enforce, "127.0.0.1:" + port + "?container=x", 403},
		{enforce, "pcps://127.0.0.1:" + port + "?secure=bogus", 403},
		{relaxed, "pcps://127.0.0.1:" + port + "?secure=none", 403},
		{relaxed, "127.0.0.1:" + port + "?unixsock", 403},
		// As strong or stronger.
		{enforce, "127.0.0.1:" + port, 200},
		{enforce, "pcps://127.0.0.1:" + port, 200},
		{enforce, "127.0.0.1:" + port + "?secure=enforce", 200},
		{relaxed, "pcps://127.0.0.1:" + port, 200},
		{relaxed, "127.0.0.1:" + port + "?secure=enforce", 200},
	}
	for _, c := range cases {
		st, msg := call(t, c.ts.URL+q(c.spec))
		if st != c.status {
			t.Errorf("%s: %d %s, want %d", c.spec, st, msg, c.status)
			continue
		}
		if st == 403 && !strings.Contains(msg, "may not weaken the configured upstream security") {
			t.Errorf("%s: message %q", c.spec, msg)
		}
	}
}

// TestNotCollectorIndistinguishable: for anything that is not a PCP collector
// (a closed port, one that closes at once, a silent one, garbage, a web server,
// a banner) the REST answer is the same status and message, so proxyd cannot be
// used to map the open ports behind it; and the web server serves nothing.
func TestNotCollectorIndistinguishable(t *testing.T) {
	ts, _, _ := start(t, func(c *httpapi.Config) {
		c.ConnectTimeout = 300 * time.Millisecond
		c.RequestTimeout = 2 * time.Second
	})
	var hits atomic.Int32
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "secret")
	}))
	defer web.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	raw := func(send string, closeAtOnce bool) int {
		return tcpstub.Serve(t, func(c net.Conn) {
			c.Write([]byte(send))
			if closeAtOnce {
				return
			}
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			io.Copy(io.Discard, c)
		})
	}
	bad16 := string(protocol.Encode(nil, &protocol.ErrorPDU{Code: 0}, 0))
	ports := map[string]int{
		"closed port":     closedPort,
		"closes at once":  raw("", true),
		"silent":          raw("", false),
		"garbage":         raw("\xde\xad\xbe\xef garbage garbage garbage", false),
		"16-byte ERROR":   raw(bad16, false),
		"ssh banner":      raw("SSH-2.0-OpenSSH_9.6\r\n", false),
		"web server":      web.Listener.Addr().(*net.TCPAddr).Port,
		"greeting halves": raw(string(protocol.Encode(nil, protocol.Greeting(0, 0), 0))[:10], true),
	}
	var first string
	for name, port := range ports {
		spec := "127.0.0.1:" + strconv.Itoa(port)
		for _, path := range []string{"/pmapi/context?hostspec=", "/metrics?hostspec="} {
			st, msg := call(t, ts.URL+path+spec)
			got := strconv.Itoa(st) + " " + strings.ReplaceAll(msg, spec, "SPEC")
			if first == "" {
				first = got
				if st != http.StatusBadGateway || !strings.HasSuffix(msg, ": not a PCP collector") {
					t.Errorf("%s: %s", name, got)
				}
			} else if got != first {
				t.Errorf("%s%s: %q, others %q", name, path, got, first)
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the web server served %d requests through proxyd", n)
	}
}
