package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
)

// get fetches u and returns the status and body.
func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// selfMetric reads one of proxyd's own metrics; ok false when absent.
func selfMetric(t *testing.T, p *proxy, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(p.url() + SelfMetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", SelfMetricsPath, err)
	}
	f, ok := fams[name]
	if !ok || len(f.Metric) == 0 {
		return 0, false
	}
	m := f.Metric[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	}
	return 0, false
}

func rewrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadAllowList: SIGHUP applies a new allow list to the REST API and the
// relay; a broken file keeps the last good configuration, says which file and
// line, and is counted; an HTTP limit change is reported as needing a restart.
func TestReloadAllowList(t *testing.T) {
	col := ptest.StartCollector(t, nil)
	p := startConfig(t, "[upstream]\nallow_loopback = false\n[reload]\nwatch_interval = \"0s\"\n")
	u := p.url() + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	if code, body := get(t, http.DefaultClient, u); code != 403 {
		t.Fatalf("before: %d %s", code, body)
	}
	rewrite(t, p.cfg, "[upstream]\nallow = [\"127.0.0.1\"]\nallow_loopback = false\n[reload]\nwatch_interval = \"0s\"\n")
	p.reload(t)
	if code, body := get(t, http.DefaultClient, u); code != 200 || !strings.Contains(body, `"name":"hinv.ncpu"`) {
		t.Fatalf("after allowing: %d %s\n%s", code, body, p.logs)
	}
	if !relayWorks(t, p, col.Port) {
		t.Fatal("relay still refuses the newly allowed collector")
	}

	rewrite(t, p.cfg, "[upstream]\nallow = [\"127.0.0.1\"]\nallow_lopback = false\n")
	p.reload(t)
	logs := p.logs.String()
	if !strings.Contains(logs, "reload failed; keeping the last good configuration") || !strings.Contains(logs, "allow_lopback") ||
		!strings.Contains(logs, "line 3") {
		t.Fatalf("log does not say what is wrong:\n%s", logs)
	}
	if code, _ := get(t, http.DefaultClient, u); code != 200 {
		t.Fatalf("last good configuration not kept: %d", code)
	}
	if n, _ := selfMetric(t, p, "gopcp_proxyd_reload_failures_total"); n != 1 {
		t.Fatalf("failures %v", n)
	}
	if n, _ := selfMetric(t, p, "gopcp_proxyd_reloads_total"); n != 1 {
		t.Fatalf("reloads %v", n)
	}
	if _, ok := selfMetric(t, p, "gopcp_proxyd_certificate_expiry_seconds"); ok {
		t.Fatal("certificate expiry reported without TLS")
	}
	for _, name := range []string{"gopcp_proxyd_connections", "gopcp_proxyd_connections_refused_total", "gopcp_proxyd_relay_sessions",
		"gopcp_proxyd_http_contexts", "gopcp_proxyd_last_reload_success_timestamp_seconds", "gopcp_proxyd_build_info",
		"go_goroutines", "process_open_fds"} {
		if v, ok := selfMetric(t, p, name); !ok || (name == "gopcp_proxyd_connections" && v < 1) {
			t.Errorf("%s: %v %v", name, v, ok)
		}
	}

	// Taking the collector off the list again refuses it.
	rewrite(t, p.cfg, "[server]\nmax_header_bytes = 2048\n[upstream]\nallow_loopback = false\n[reload]\nwatch_interval = \"0s\"\n")
	p.reload(t)
	if code, _ := get(t, http.DefaultClient, u); code != 403 {
		t.Fatalf("collector still reachable after it left the allow list: %d", code)
	}
	if relayWorks(t, p, col.Port) {
		t.Fatal("relay still reaches a collector no longer allowed")
	}
	if !strings.Contains(p.logs.String(), `setting="server.max_header_bytes (0 -> 2048)"`) {
		t.Fatalf("restart-only change not reported:\n%s", p.logs)
	}
	if p.rl.Current().cfg.Server.MaxHeaderBytes != 0 {
		t.Fatal("restart-only change applied")
	}
}

// relayWorks runs the relay prelude to 127.0.0.1:port and reports whether
// proxyd connected (the collector's greeting arrives). It may run in any
// goroutine.
func relayWorks(t *testing.T, p *proxy, port int) bool {
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Errorf("dial proxyd: %v", err)
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "pmproxy-client 1\n")
	buf := make([]byte, len("pmproxy-server 1\n"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pmproxy-server 1\n" {
		t.Errorf("relay prelude: %q %v", buf, err)
		return false
	}
	fmt.Fprintf(c, "127.0.0.1 %d\n", port)
	greeting := make([]byte, 12)
	_, err = io.ReadFull(c, greeting)
	return err == nil
}

// tlsIdentity is proxyd's identity as tls.conf files.
type tlsIdentity struct{ conf, cert, key string }

func writeIdentity(t *testing.T, dir string, ca, id *testcerts.Cert) tlsIdentity {
	t.Helper()
	f := tlsIdentity{conf: filepath.Join(dir, "tls.conf"), cert: filepath.Join(dir, "proxyd.pem"), key: filepath.Join(dir, "proxyd.key")}
	caFile := filepath.Join(dir, "ca.pem")
	rewrite(t, caFile, string(ca.CertPEM()))
	rewrite(t, f.cert, string(id.CertPEM()))
	if err := os.WriteFile(f.key, id.KeyPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	rewrite(t, f.conf, "tls-cert-file = "+f.cert+"\ntls-key-file = "+f.key+"\ntls-ca-cert-file = "+caFile+"\n")
	return f
}

// served is the certificate a new HTTPS connection to proxyd gets.
func served(t *testing.T, p *proxy, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", p.addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS: %v\n%s", err, p.logs)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// TestWatchSwapsCertificate: a renewed certificate written over the files is
// picked up without a signal; an HTTPS connection opened before keeps working;
// a half-written key keeps the last good identity and is counted; the expiry
// metric follows the certificate in use.
func TestWatchSwapsCertificate(t *testing.T) {
	col := ptest.StartCollector(t, nil)
	ca := testcerts.New(t, nil, testcerts.Options{CN: "CA", IsCA: true})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	first := testcerts.New(t, ca, testcerts.Options{CN: "first", DNS: []string{"localhost"}, Server: true,
		NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	dir := t.TempDir()
	id := writeIdentity(t, dir, ca, first)
	p := startConfig(t, "[reload]\nwatch_interval = \"50ms\"\n", "--tls-conf", id.conf, "--allow", "127.0.0.1")
	if !served(t, p, roots).Equal(first.Cert) {
		t.Fatal("first certificate not served")
	}
	if !strings.Contains(p.logs.String(), "certificate expires soon") {
		t.Errorf("no expiry warning for a 10-day certificate:\n%s", p.logs)
	}
	if s, ok := selfMetric(t, p, "gopcp_proxyd_certificate_expiry_seconds"); !ok || s > 10*86400 || s < 10*86400-120 {
		t.Fatalf("expiry %v %v", s, ok)
	}
	// A keep-alive HTTPS client that connected under the first certificate.
	keep := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}}
	u := "https://" + p.addr + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	if code, body := get(t, keep, u); code != 200 {
		t.Fatalf("%d %s", code, body)
	}

	second := testcerts.New(t, ca, testcerts.Options{CN: "second", DNS: []string{"localhost"}, Server: true})
	rewrite(t, id.cert, string(second.CertPEM()))
	os.WriteFile(id.key, second.KeyPEM(t), 0o600)
	waitUntil(t, "the new certificate", func() bool { return served(t, p, roots).Equal(second.Cert) })
	if code, _ := get(t, keep, u); code != 200 {
		t.Fatal("existing HTTPS session broken by the reload")
	}
	if s, _ := selfMetric(t, p, "gopcp_proxyd_certificate_expiry_seconds"); s < 300*86400 {
		t.Fatalf("expiry metric still the old certificate's: %v", s)
	}

	// Half a key: refused, the second certificate stays.
	key := second.KeyPEM(t)
	os.WriteFile(id.key, key[:len(key)/2], 0o600)
	waitUntil(t, "the failure", func() bool { return p.rl.Stats().Failures() == 1 })
	if !served(t, p, roots).Equal(second.Cert) {
		t.Fatal("broken key replaced the identity")
	}
	logs := p.logs.String()
	if !strings.Contains(logs, "reload failed") || !regexp.MustCompile(`err="TLS identity: [^"]*\(read from [^"]*`+regexp.QuoteMeta(id.key)).MatchString(logs) {
		t.Fatalf("log does not name the file:\n%s", logs)
	}
	if n, _ := selfMetric(t, p, "gopcp_proxyd_reload_failures_total"); n != 1 {
		t.Fatalf("failures metric %v", n)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadRequireClientCert: -Q turned on by a reload refuses HTTPS clients
// without a certificate from then on.
func TestReloadRequireClientCert(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, nil)
	p := startConfig(t, "[tls]\ntls_conf = "+strconv.Quote(pki.ServerTLSConf)+"\n[reload]\nwatch_interval = \"0s\"\n", "--allow", "127.0.0.1")
	u := "https://" + p.addr + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	anon := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(false)}}
	}
	if code, body := get(t, anon(), u); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	rewrite(t, p.cfg, "[tls]\ntls_conf = "+strconv.Quote(pki.ServerTLSConf)+"\nrequire_client_cert = true\n[reload]\nwatch_interval = \"0s\"\n")
	p.reload(t)
	if resp, err := anon().Get(u); err == nil {
		resp.Body.Close()
		t.Fatalf("HTTPS without a certificate after -Q: %d", resp.StatusCode)
	}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(true)}}
	if code, body := get(t, withCert, u); code != 200 {
		t.Fatalf("with a certificate: %d %s", code, body)
	}
}

// TestDebugClasses: -D tls logs the handshake, -D http one line per request;
// neither is on by default, a reload can turn them on, and an unknown class is a
// usage error.
func TestDebugClasses(t *testing.T) {
	pki := ptest.NewPKI(t)
	col := ptest.StartCollector(t, nil)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(false)}}
	p := startConfig(t, "[reload]\nwatch_interval = \"0s\"\n", "--tls-conf", pki.ServerTLSConf, "--allow", "127.0.0.1")
	u := "https://" + p.addr + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	if code, _ := get(t, client, u); code != 200 {
		t.Fatal(code)
	}
	if l := p.logs.String(); strings.Contains(l, "class=tls") || strings.Contains(l, "class=http") {
		t.Fatalf("debug lines without -D:\n%s", l)
	}
	rewrite(t, p.cfg, "[log]\ndebug = [\"http\"]\n[reload]\nwatch_interval = \"0s\"\n")
	p.reload(t)
	get(t, client, u+"&after=reload")
	if l := p.logs.String(); !strings.Contains(l, `after=reload" status=200`) || !strings.Contains(l, "class=http") {
		t.Fatalf("reload did not turn on -D http:\n%s", l)
	}

	p2 := startConfig(t, "", "--tls-conf", pki.ServerTLSConf, "-D", "tls,http", "--allow", "127.0.0.1")
	c2 := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(false)}}
	if code, _ := get(t, c2, "https://"+p2.addr+"/pmapi/fetch?names=hinv.ncpu&hostspec="+col.Addr); code != 200 {
		t.Fatal(code)
	}
	l := p2.logs.String()
	for _, want := range []string{"tls: ClientHello", "tls: handshake complete", "class=tls",
		`msg=http`, "method=GET", "uri=\"/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr + "\"", "tls=true", "status=200"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s:\n%s", want, l)
		}
	}
	if _, errOut, code := runCLI("-D", "pdus", "--check-config"); code != 2 || !strings.Contains(errOut, `unknown debug class "pdus"`) {
		t.Fatalf("-D pdus: %d %s", code, errOut)
	}
}

// TestReloadUnderLoad: clients fetching through proxyd (HTTPS, new and reused
// connections, and the relay) see no error while the configuration and the
// certificate are reloaded again and again.
func TestReloadUnderLoad(t *testing.T) {
	col := ptest.StartCollector(t, nil)
	ca := testcerts.New(t, nil, testcerts.Options{CN: "CA", IsCA: true})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	certs := []*testcerts.Cert{
		testcerts.New(t, ca, testcerts.Options{CN: "a", DNS: []string{"localhost"}, Server: true}),
		testcerts.New(t, ca, testcerts.Options{CN: "b", DNS: []string{"localhost"}, Server: true}),
	}
	dirs := []string{t.TempDir(), t.TempDir()}
	confs := []string{writeIdentity(t, dirs[0], ca, certs[0]).conf, writeIdentity(t, dirs[1], ca, certs[1]).conf}
	cfgText := func(i int) string {
		return fmt.Sprintf("[tls]\ntls_conf = %q\n[upstream]\nallow = [\"127.0.0.1\"]\nmetadata_ttl = \"%ds\"\n[reload]\nwatch_interval = \"0s\"\n", confs[i%2], 10+i)
	}
	p := startConfig(t, cfgText(0))
	u := "https://" + p.addr + "/pmapi/fetch?names=hinv.ncpu,kernel.all.load&hostspec=" + col.Addr
	stop := make(chan struct{})
	errs := make(chan error, 100)
	var requests [9]int
	var wg sync.WaitGroup
	for w := 0; w < 9; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}, DisableKeepAlives: w%3 == 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if w%3 == 2 {
					if !relayWorks(t, p, col.Port) {
						errs <- fmt.Errorf("relay failed")
						return
					}
				} else {
					resp, err := c.Get(u)
					if err != nil {
						errs <- err
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.Contains(string(b), "kernel.all.load") {
						errs <- fmt.Errorf("status %d: %s", resp.StatusCode, b)
						return
					}
				}
				requests[w]++
			}
		}(w)
	}
	for i := 1; i <= 20; i++ {
		rewrite(t, p.cfg, cfgText(i))
		p.reload(t)
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for _, n := range requests {
		total += n
	}
	if p.rl.Stats().Count() != 20 || p.rl.Stats().Failures() != 0 {
		t.Fatalf("reloads %d failures %d\n%s", p.rl.Stats().Count(), p.rl.Stats().Failures(), p.logs)
	}
	if total < 20 {
		t.Fatalf("only %d requests during the reloads", total)
	}
	t.Logf("%d requests and relay sessions across 20 reloads, 0 errors", total)
}
