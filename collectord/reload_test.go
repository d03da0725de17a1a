package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

// harness is a Reloader serving an in-process server on loopback.
type harness struct {
	rl   *Reloader
	addr string
	port int
	log  *syncBuf
	cfg  string // the configuration file
	ca   *x509.CertPool
	srv  *server.Server
}

// startReloader loads cfgText (written to a file) with extra flags and serves it.
func startReloader(t *testing.T, cfgText string, ca *testcerts.Cert, flags ...string) *harness {
	t.Helper()
	h := &harness{log: &syncBuf{}, cfg: filepath.Join(t.TempDir(), "collectord.toml"), ca: x509.NewCertPool()}
	h.ca.AddCert(ca.Cert)
	writeFile(t, h.cfg, cfgText)
	o, err := parseFlags(append([]string{"--config", h.cfg}, flags...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogControl(h.log, cfg.Log)
	h.rl, err = newReloader(o, cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{TLSConfig: h.rl.TLSConfig, Logger: logs.Logger()}
	srv.Update(serverSettings(cfg)) // as run wires it
	h.rl.OnApply = func(c Config) { srv.Update(serverSettings(c)) }
	h.srv = srv
	reg, err := metrics.New(metrics.Options{Version: "test", Self: srv.Self()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Registry = reg
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.PDUTrace = pduTracer(logs) // as run does
	h.addr = ln.Addr().String()
	h.port = ln.Addr().(*net.TCPAddr).Port
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() { srv.Close(); ln.Close(); wg.Wait() })
	return h
}

// session is a secure client connection that records the server certificate.
type session struct {
	ctx    *pmapi.Context
	served *x509.Certificate
}

func (h *harness) connect(t *testing.T) *session {
	t.Helper()
	s, err := connectTLS(t, h.port, h.ca, nil)
	if err != nil {
		t.Fatalf("connect: %v\nlog:\n%s", err, h.log)
	}
	return s
}

// connectTLS opens a secure session to 127.0.0.1:port trusting roots, presenting
// client if not nil.
func connectTLS(t *testing.T, port int, roots *x509.CertPool, client *testcerts.Cert) (*session, error) {
	s := &session{}
	opts := pmapi.Options{Secure: pmapi.SecureEnforce, Ports: []int{port},
		TLSConfig: func(string) (*tls.Config, error) {
			c := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12,
				VerifyConnection: func(cs tls.ConnectionState) error {
					s.served = cs.PeerCertificates[0]
					return nil
				}}
			if client != nil {
				c.Certificates = []tls.Certificate{{Certificate: [][]byte{client.Cert.Raw}, PrivateKey: client.Key, Leaf: client.Cert}}
			}
			return c, nil
		}}
	c, err := pmapi.Connect(context.Background(), "127.0.0.1", opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	s.ctx = c
	return s, nil
}

func (s *session) fetch(t *testing.T) {
	t.Helper()
	ids, err := s.ctx.LookupNames([]string{"hinv.ncpu"})
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	res, err := s.ctx.Fetch(ids)
	if err != nil || res.VSets[0].NumVal != 1 {
		t.Fatalf("fetch: %v %+v", err, res)
	}
}

// tlsConfFiles is a tls.conf identity on disk.
type tlsConfFiles struct{ conf, cert, key, caFile string }

func writeTLSConf(t *testing.T, dir string, ca, id *testcerts.Cert) tlsConfFiles {
	t.Helper()
	f := tlsConfFiles{conf: filepath.Join(dir, "tls.conf"), cert: filepath.Join(dir, "server.crt"),
		key: filepath.Join(dir, "server.key"), caFile: filepath.Join(dir, "ca.crt")}
	writeFile(t, f.caFile, string(ca.CertPEM()))
	writeFile(t, f.cert, string(id.CertPEM()))
	writeFile(t, f.key, string(id.KeyPEM(t)))
	writeFile(t, f.conf, "tls-cert-file = server.crt\ntls-key-file = server.key\ntls-ca-cert-file = ca.crt\n")
	return f
}

func serverCert(t *testing.T, ca *testcerts.Cert, cn string) *testcerts.Cert {
	return testcerts.New(t, ca, testcerts.Options{CN: cn, DNS: []string{"localhost"}, Server: true})
}

// TestReloadSwapsCertificate: SIGHUP's reload puts a renewed certificate in the
// store into service for new handshakes; a session opened before keeps working.
func TestReloadSwapsCertificate(t *testing.T) {
	p := newPKI(t)
	h := startReloader(t, "[reload]\nwatch_interval = \"0s\"\n", p.ca, "-C", p.serverDir, "-M", serverNick)
	old := h.connect(t)
	old.fetch(t)
	if !old.served.Equal(p.server.Cert) {
		t.Fatal("first session: wrong certificate")
	}
	renewed := testcerts.New(t, p.ca, testcerts.Options{CN: "collector renewed", DNS: []string{"localhost"}, Server: true})
	p.replaceIdentity(t, renewed)
	if err := h.rl.Reload("test"); err != nil {
		t.Fatal(err)
	}
	old.fetch(t) // the session from before the reload is not dropped
	if s := h.connect(t); !s.served.Equal(renewed.Cert) {
		t.Fatalf("new handshake got %s, want the renewed certificate", s.served.Subject)
	}
	st := h.rl.Stats()
	if st.Count() != 1 || st.Failures() != 0 {
		t.Fatalf("stats count %d failures %d", st.Count(), st.Failures())
	}
	if exp, ok := h.certExpiry(t); !ok || exp < 364*86400 || exp > 366*86400 {
		t.Fatalf("expiry seconds %d %v", exp, ok)
	}
	if !strings.Contains(h.log.String(), `msg="configuration reloaded" reason=test`) ||
		!strings.Contains(h.log.String(), "CN=collector renewed") {
		t.Fatalf("log:\n%s", h.log)
	}
}

// TestReloadKeepsLastGood: every broken input is refused with the file and the
// reason in the log, and the server keeps serving the last good certificate.
func TestReloadKeepsLastGood(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Test CA", IsCA: true})
	good := serverCert(t, ca, "good")
	dir := t.TempDir()
	f := writeTLSConf(t, dir, ca, good)
	base := "[reload]\nwatch_interval = \"0s\"\n[tls]\ntls_conf = \"" + f.conf + "\"\n"
	h := startReloader(t, base, ca)
	other := serverCert(t, ca, "other")
	pem := string(other.CertPEM())
	for _, tc := range []struct {
		name   string
		break_ func()
		want   []string // in the log line
	}{
		{"half-written certificate", func() { writeFile(t, f.cert, pem[:len(pem)/2]) }, []string{f.conf, f.cert}},
		{"key that does not match", func() { writeFile(t, f.cert, pem) }, []string{"private key does not match", f.key}},
		{"certificate file gone", func() { os.Remove(f.cert) }, []string{f.cert}},
		{"bad TOML", func() { writeFile(t, h.cfg, base+"[log\n") }, []string{h.cfg, "line 6"}},
		{"unknown key", func() { writeFile(t, h.cfg, base+"colour = 1\n") }, []string{h.cfg, `line 5: unknown key \"tls.colour\"`}},
		{"unusable value", func() { writeFile(t, h.cfg, base+"[log]\nformat = \"xml\"\n") }, []string{`log format \"xml\"`}},
		{"tls.conf with an unknown key", func() { writeFile(t, f.conf, "tls-cert-fil = x\n") }, []string{f.conf + ":1", "unknown key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeTLSConf(t, dir, ca, good)
			writeFile(t, h.cfg, base)
			fails := h.rl.Stats().Failures()
			tc.break_()
			before := len(h.log.String())
			if err := h.rl.Reload("SIGHUP"); err == nil {
				t.Fatal("reload accepted a broken file")
			}
			line := h.log.String()[before:]
			if !strings.Contains(line, "reload failed; keeping the last good configuration") {
				t.Fatalf("log:\n%s", line)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("log line lacks %q:\n%s", w, line)
				}
			}
			if got := h.rl.Stats().Failures(); got != fails+1 {
				t.Errorf("failures %d, want %d", got, fails+1)
			}
			s := h.connect(t)
			if !s.served.Equal(good.Cert) {
				t.Fatalf("serving %s after a failed reload", s.served.Subject)
			}
			s.fetch(t)
		})
	}
	// Fixed again: the next reload succeeds.
	writeTLSConf(t, dir, ca, other)
	writeFile(t, h.cfg, base)
	if err := h.rl.Reload("SIGHUP"); err != nil {
		t.Fatal(err)
	}
	if s := h.connect(t); !s.served.Equal(other.Cert) {
		t.Fatal("fixed files not applied")
	}
}

// TestReloadRestartOnly: a port change is reported as needing a restart and not
// applied; the log level, the limits and -Q, which can change, are.
func TestReloadRestartOnly(t *testing.T) {
	p := newPKI(t)
	h := startReloader(t, "[server]\nport = 5000\n[reload]\nwatch_interval = \"0s\"\n", p.ca, "-C", p.serverDir, "-M", serverNick)
	writeFile(t, h.cfg, "[server]\nport = 5001\naddress = [\"127.0.0.1\"]\nmax_clients = 7\nrequest_timeout = \"3s\"\n[log]\nlevel = \"debug\"\n[reload]\nwatch_interval = \"0s\"\n")
	if err := h.rl.Reload("SIGHUP"); err != nil {
		t.Fatal(err)
	}
	log := h.log.String()
	for _, w := range []string{`setting="server.port (5000 -> 5001)"`, `setting="server.address ([] -> [\"127.0.0.1\"])"`, "needs a restart"} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %s:\n%s", w, log)
		}
	}
	if strings.Contains(log, "max_clients") {
		t.Errorf("a live setting reported as restart-only:\n%s", log)
	}
	c := h.rl.Config()
	if c.Server.Port != 5000 || len(c.Server.Address) != 0 {
		t.Fatalf("restart-only settings applied: %+v", c.Server)
	}
	if c.Log.Level != "debug" || !h.rl.log.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("log level not applied")
	}
	if st := h.srv.Settings(); st.MaxClients != 7 || st.RequestTimeout != 3*time.Second {
		t.Fatalf("limits not applied: %+v", st)
	}
}

// TestReloadRequireClientCert: -Q turned on by a reload applies to the next
// client: the greeting says so, a TLS client without a certificate is refused and
// one with a certificate from the trusted CA is served; a session opened before
// goes on.
func TestReloadRequireClientCert(t *testing.T) {
	p := newPKI(t)
	h := startReloader(t, "[reload]\nwatch_interval = \"0s\"\n", p.ca, "-C", p.serverDir, "-M", serverNick)
	before := h.connect(t)
	if h.srv.Features()&protocol.FeatureCertReqd != 0 {
		t.Fatal("CERT_REQD before -Q")
	}
	writeFile(t, h.cfg, "[tls]\nrequire_client_cert = true\n[reload]\nwatch_interval = \"0s\"\n")
	if err := h.rl.Reload("SIGHUP"); err != nil {
		t.Fatal(err)
	}
	if h.srv.Features()&protocol.FeatureCertReqd == 0 || h.rl.TLSConfig().ClientAuth < tls.RequireAnyClientCert {
		t.Fatalf("-Q not applied by the reload: features %#x clientauth %v cfg %+v", h.srv.Features(), h.rl.TLSConfig().ClientAuth, h.rl.Config().TLS)
	}
	// With TLS 1.3 the refusal arrives after the client's side of the handshake.
	if s, err := connectTLS(t, h.port, h.ca, nil); err == nil {
		if _, err := s.ctx.LookupNames([]string{"hinv.ncpu"}); err == nil {
			t.Fatal("a TLS client without a certificate was served after -Q was turned on")
		}
	}
	client := testcerts.New(t, p.ca, testcerts.Options{CN: "client", Client: true})
	s, err := connectTLS(t, h.port, h.ca, client)
	if err != nil {
		t.Fatalf("client with a certificate refused: %v\n%s", err, h.log)
	}
	s.fetch(t)
	before.fetch(t)
}

// TestWatchReloadsChangedCertificate: the watch notices new certificate files,
// waits for a half-written pair to be finished, and applies it.
func TestWatchReloadsChangedCertificate(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Test CA", IsCA: true})
	dir := t.TempDir()
	f := writeTLSConf(t, dir, ca, serverCert(t, ca, "first"))
	h := startReloader(t, "[tls]\ntls_conf = \""+f.conf+"\"\n", ca)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.rl.Watch(ctx, 30*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	next := serverCert(t, ca, "second")
	// A renewal tool writing the certificate, then (a little later) the key: the
	// change is applied once both are there and stable.
	writeFile(t, f.cert, string(next.CertPEM()))
	time.Sleep(10 * time.Millisecond)
	writeFile(t, f.key, string(next.KeyPEM(t)))
	waitFor(t, 3*time.Second, "the watch to apply the new certificate", func() bool {
		return h.rl.TLSConfig().Certificates[0].Leaf.Equal(next.Cert)
	})
	if s := h.connect(t); !s.served.Equal(next.Cert) {
		t.Fatal("new handshake did not get the new certificate")
	}
	if !strings.Contains(h.log.String(), "certificate files changed: "+f.cert) {
		t.Fatalf("log:\n%s", h.log)
	}

	// A broken key is reported once and not retried until the files change again.
	writeFile(t, f.key, "-----BEGIN PRIVATE KEY-----\nAAAA\n")
	waitFor(t, 3*time.Second, "the failure", func() bool { return h.rl.Stats().Failures() == 1 })
	time.Sleep(200 * time.Millisecond)
	if n := h.rl.Stats().Failures(); n != 1 {
		t.Fatalf("a broken file was retried: %d failures", n)
	}
	if !h.rl.TLSConfig().Certificates[0].Leaf.Equal(next.Cert) {
		t.Fatal("broken key replaced the last good certificate")
	}
	writeFile(t, f.key, string(next.KeyPEM(t)))
	waitFor(t, 3*time.Second, "recovery", func() bool { return h.rl.Stats().Count() == 2 })
}

// TestWatchStore: a change to the store file is picked up.
func TestWatchStore(t *testing.T) {
	p := newPKI(t)
	h := startReloader(t, "", p.ca, "-C", p.serverDir, "-M", serverNick)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.rl.Watch(ctx, 30*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	renewed := serverCert(t, p.ca, "renewed")
	p.replaceIdentity(t, renewed)
	waitFor(t, 3*time.Second, "the store change", func() bool {
		return h.rl.TLSConfig().Certificates[0].Leaf.Equal(renewed.Cert)
	})
}

// TestExpiringCertificateWarned: a certificate near its end is logged as such.
func TestExpiringCertificateWarned(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "Test CA", IsCA: true})
	soon := testcerts.New(t, ca, testcerts.Options{CN: "soon", DNS: []string{"localhost"}, Server: true,
		NotAfter: time.Now().Add(5 * 24 * time.Hour)})
	f := writeTLSConf(t, t.TempDir(), ca, soon)
	h := startReloader(t, "", ca, "--tls-conf", f.conf)
	if !strings.Contains(h.log.String(), "server certificate expires soon") || !strings.Contains(h.log.String(), "days_left=4") {
		t.Fatalf("log:\n%s", h.log)
	}
	if s, ok := h.certExpiry(t); !ok || s > 5*86400 || s < 5*86400-60 {
		t.Fatalf("expiry %d %v", s, ok)
	}
}

// certExpiry reads the pmcd.gopcp.cert.expiry metric from a server using the
// reloader's TLS configuration, as run wires it.
func (h *harness) certExpiry(t *testing.T) (int64, bool) {
	t.Helper()
	srv := &server.Server{TLSConfig: h.rl.TLSConfig}
	reg, err := metrics.New(metrics.Options{Self: srv.Self()})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := reg.ByName("pmcd.gopcp.cert.expiry")
	res := reg.Fetch(nil, []protocol.PMID{m.Desc.PMID})
	if len(res[0].Values) != 1 {
		return 0, false
	}
	return int64(res[0].Values[0].U), true
}

// BenchmarkReload is one SIGHUP reload: the file read and validated, the
// certificate store opened and the TLS configuration rebuilt and swapped in.
func BenchmarkReload(b *testing.B) {
	for _, kind := range []string{"store", "tls.conf"} {
		b.Run(kind, func(b *testing.B) {
			ca := testcerts.New(b, nil, testcerts.Options{CN: "CA", IsCA: true})
			id := testcerts.New(b, ca, testcerts.Options{CN: "collector", DNS: []string{"localhost"}, Server: true})
			dir := b.TempDir()
			cfgPath := filepath.Join(dir, "collectord.toml")
			os.WriteFile(cfgPath, []byte("[reload]\nwatch_interval = \"0s\"\n"), 0o644)
			args := []string{"--config", cfgPath}
			if kind == "store" {
				st, err := store.CreateWith(filepath.Join(dir, "db"), nil, store.CreateOptions{TestOnlyFastKDF: true})
				if err != nil {
					b.Fatal(err)
				}
				st.AddCert("CA", ca.Cert, store.MustParseTrust("CT,,"))
				st.AddIdentity(serverNick, id.Cert, id.Key, store.Trust{})
				args = append(args, "-C", filepath.Join(dir, "db"), "-M", serverNick)
			} else {
				os.WriteFile(filepath.Join(dir, "c.pem"), id.CertPEM(), 0o644)
				os.WriteFile(filepath.Join(dir, "k.pem"), id.KeyPEM(b), 0o600)
				os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM(), 0o644)
				os.WriteFile(filepath.Join(dir, "tls.conf"), []byte("tls-cert-file = "+filepath.Join(dir, "c.pem")+
					"\ntls-key-file = "+filepath.Join(dir, "k.pem")+"\ntls-ca-cert-file = "+filepath.Join(dir, "ca.pem")+"\n"), 0o644)
				args = append(args, "--tls-conf", filepath.Join(dir, "tls.conf"))
			}
			o, err := parseFlags(args, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			cfg, err := loadConfig(o)
			if err != nil {
				b.Fatal(err)
			}
			rl, err := newReloader(o, cfg, newLogControl(io.Discard, cfg.Log))
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := rl.Reload("bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestReloadTurnsTLSOn: a collector started without an identity offers TLS to
// the clients that connect after a reload adds one, and stops offering it when a
// reload removes it.
func TestReloadTurnsTLSOn(t *testing.T) {
	p := newPKI(t)
	h := startReloader(t, "[reload]\nwatch_interval = \"0s\"\n", p.ca)
	if _, err := connectTLS(t, h.port, h.ca, nil); err == nil {
		t.Fatal("TLS without an identity")
	}
	writeFile(t, h.cfg, "[tls]\ncert_db = \""+p.serverDir+"\"\nnickname = \""+serverNick+"\"\n[reload]\nwatch_interval = \"0s\"\n")
	if err := h.rl.Reload("SIGHUP"); err != nil {
		t.Fatal(err)
	}
	h.connect(t).fetch(t)
	writeFile(t, h.cfg, "[reload]\nwatch_interval = \"0s\"\n")
	if err := h.rl.Reload("SIGHUP"); err != nil {
		t.Fatal(err)
	}
	if h.srv.Features()&protocol.FeatureSecure != 0 {
		t.Fatal("SECURE still offered after the identity was removed")
	}
	if !strings.Contains(h.log.String(), "TLS turned off by the reload") {
		t.Fatalf("no warning:\n%s", h.log)
	}
}
