package tlsconfig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// testClock is a clock a test moves; the server configuration reads it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestRememberedClientStillChecked: once a client's chain has been accepted, the
// server remembers it (clientVerifier), and the attacks that memory could open
// all still fail: the same certificate without its private key, the same
// certificate after it expired, the remembered certificate with a distrusted CA
// certificate sent after it, and a stranger's certificate with the same subject.
func TestRememberedClientStillChecked(t *testing.T) {
	p := newPKI(t)
	inter := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Issuing CA 2"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, p.ca)
	addCert(t, p.serverDir, "distrusted issuing CA", inter, "p,,")
	clock := &testClock{t: time.Now()}
	srv, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert", RequireClientCert: true, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	checks := countChecks(srv)
	for i := range 2 {
		if _, se := testcerts.Handshake(t, srv, rawClient(leafConfig(p.client))); se != nil {
			t.Fatalf("handshake %d of the trusted client: %v", i+1, se)
		}
	}
	if n := checks.Load(); n != 2 {
		t.Fatalf("the certificate was checked %d times in two handshakes, want 2 (no resumption)", n)
	}

	// The remembered certificate, presented with another key: refused by the
	// CertificateVerify signature, which no memory skips.
	thief, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stolen := tls.Certificate{Certificate: [][]byte{p.client.Cert.Raw}, PrivateKey: thief}
	if _, se := testcerts.Handshake(t, srv, rawClient(stolen)); se == nil {
		t.Fatal("the remembered certificate was accepted from a client without its private key")
	}

	// The remembered certificate followed by a distrusted CA certificate: other
	// bytes, the full check, refused.
	_, se := testcerts.Handshake(t, srv, rawClient(leafConfig(p.client, inter)))
	wantDistrusted(t, "remembered client with a distrusted CA after it", se, inter.Cert)

	// Same subject, another CA.
	stranger := testcerts.New(t, testcerts.New(t, nil, testcerts.Options{CN: "myCA", IsCA: true}),
		testcerts.Options{CN: p.client.Cert.Subject.CommonName, Client: true})
	if _, se := testcerts.Handshake(t, srv, rawClient(leafConfig(stranger))); se == nil || !strings.Contains(se.Error(), "not a trusted client CA") {
		t.Fatalf("a stranger with the remembered subject: %v", se)
	}

	// After the remembered certificate expires, it is refused as expired.
	clock.set(p.client.Cert.NotAfter.Add(time.Second))
	if _, se := testcerts.Handshake(t, srv, rawClient(leafConfig(p.client))); se == nil || !strings.Contains(se.Error(), "expired") {
		t.Fatalf("the remembered certificate after its expiry: %v", se)
	}
}

// TestNoSessionResumption: the server issues no session ticket, so a client that
// keeps one to resume with (as Go's clients can) gets a full handshake, and its
// certificate is checked again every time.
func TestNoSessionResumption(t *testing.T) {
	p := newPKI(t)
	srv, err := Server(ServerOptions{Store: p.serverDir, Nickname: "pmserver_cert", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	checks := countChecks(srv)
	tickets := &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	var resumed atomic.Bool
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		cli := rawClient(leafConfig(p.client))
		cli.MaxVersion = v
		cli.ClientSessionCache = tickets
		cli.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.DidResume {
				resumed.Store(true)
			}
			return nil
		}
		for i := range 2 {
			if ce, se := testcerts.Handshake(t, srv, cli); ce != nil || se != nil {
				t.Fatalf("%s handshake %d: client %v, server %v", tls.VersionName(v), i+1, ce, se)
			}
		}
	}
	if n := tickets.puts.Load(); n != 0 || resumed.Load() {
		t.Fatalf("server issued %d session tickets (resumed: %v), want none", n, resumed.Load())
	}
	if n := checks.Load(); n != 4 {
		t.Fatalf("client certificate checked %d times in 4 handshakes", n)
	}
}

type countingCache struct {
	tls.ClientSessionCache
	puts atomic.Int32
}

func (c *countingCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.puts.Add(1)
	}
	c.ClientSessionCache.Put(key, cs)
}

// TestRememberedClientCRL: with CRLs, an acceptance is remembered only until the
// first CRL's next update, after which the full check runs again and logs that
// the CRL is stale, as it does without the memory; a CRL revoking the client in
// a reloaded configuration refuses the client accepted by the old one.
func TestRememberedClientCRL(t *testing.T) {
	ca := testcerts.New(t, nil, testcerts.Options{CN: "crl CA", IsCA: true})
	server := testcerts.New(t, ca, testcerts.Options{CN: "srv", Server: true})
	client := testcerts.New(t, ca, testcerts.Options{CN: "cli", Client: true})
	start := time.Now()
	next := start.Add(time.Hour)
	dir, conf := crlConf(t, ca, server, "tls-crl-file = ca.crl\n")
	writeTestFile(t, filepath.Join(dir, "ca.crl"), crlPEM(makeCRL(t, ca, 1, next)))
	clock := &testClock{t: start}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	srv, err := Server(ServerOptions{TLSConf: conf, Now: clock.now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, se := testcerts.Handshake(t, srv, rawClient(leafConfig(client))); se != nil {
			t.Fatal(se)
		}
	}
	if strings.Contains(logs.String(), "past its next update") {
		t.Fatalf("fresh CRL called stale:\n%s", logs.String())
	}
	clock.set(next.Add(time.Minute))
	if _, se := testcerts.Handshake(t, srv, rawClient(leafConfig(client))); se != nil {
		t.Fatal(se)
	}
	if !strings.Contains(logs.String(), "past its next update") {
		t.Fatalf("the remembered acceptance outlived the CRL's next update: no stale warning:\n%s", logs.String())
	}

	writeTestFile(t, filepath.Join(dir, "ca.crl"), crlPEM(makeCRL(t, ca, 2, start.Add(24*time.Hour), client)))
	clock.set(start)
	reloaded, err := Server(ServerOptions{TLSConf: conf, Now: clock.now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	var re *RevokedError
	if _, se := testcerts.Handshake(t, reloaded, rawClient(leafConfig(client))); !errors.As(se, &re) {
		t.Fatalf("revoked client after the reload: %v", se)
	}
}

// TestAcceptedFor: how long an acceptance is remembered.
func TestAcceptedFor(t *testing.T) {
	now := time.Now()
	ca := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(90 * 24 * time.Hour)})
	leaf := testcerts.New(t, ca, testcerts.Options{CN: "cli", Client: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)})
	chain := []*x509.Certificate{leaf.Cert, ca.Cert}
	w := acceptedFor(chain, chain[:1], nil, now)
	if !w.notBefore.Equal(leaf.Cert.NotBefore) || !w.notAfter.Equal(leaf.Cert.NotAfter) || !w.until.IsZero() {
		t.Fatalf("without CRLs: %+v, want the chain's common validity", w)
	}
	if w.holds(leaf.Cert.NotBefore.Add(-time.Second)) || w.holds(leaf.Cert.NotAfter.Add(time.Second)) || !w.holds(now) {
		t.Fatal("holds outside the chain's validity, or not inside it")
	}
	// A CA the CRLs' configuration knows that becomes valid tomorrow could add
	// a chain holding a revoked certificate: the acceptance ends then.
	later := testcerts.New(t, nil, testcerts.Options{CN: "ca", IsCA: true, NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(60 * 24 * time.Hour)})
	set := &CRLSet{cas: []*x509.Certificate{ca.Cert, later.Cert}}
	set.add("x.crl", makeCRL(t, ca, 1, now.Add(7*24*time.Hour)), ca.Cert)
	w = acceptedFor(chain, chain[:1], set, now)
	if !w.until.Equal(later.Cert.NotBefore) {
		t.Fatalf("with CRLs: until %v, want %v (a CA becoming valid)", w.until, later.Cert.NotBefore)
	}
	if w.holds(later.Cert.NotBefore) {
		t.Fatal("holds at the moment the other CA becomes valid")
	}
}

// storeVerifier is the client-certificate check of p's server store, a client
// certificate required.
func storeVerifier(t *testing.T, p *pki) *clientVerifier {
	t.Helper()
	st, err := store.Open(p.serverDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &clientVerifier{anchors: storeAnchors(st, true), required: true, now: time.Now}
}

// TestVerifierRemembersAcceptancesOnly: a refused chain leaves nothing behind
// (an attacker cannot fill the memory), an accepted one is found again by its
// bytes, and the memory is bounded.
func TestVerifierRemembersAcceptancesOnly(t *testing.T) {
	p := newPKI(t)
	v := storeVerifier(t, p)
	other := testcerts.New(t, nil, testcerts.Options{CN: "otherCA", IsCA: true})
	for i := range 3 {
		bad := testcerts.New(t, other, testcerts.Options{CN: "x", Client: true})
		if v.verifyPeer([][]byte{bad.Cert.Raw}, nil) == nil {
			t.Fatalf("stranger %d accepted", i)
		}
	}
	if v.verifyPeer([][]byte{[]byte("not a certificate")}, nil) == nil || v.verifyPeer(nil, nil) == nil {
		t.Fatal("garbage or nothing accepted under -Q")
	}
	if len(v.accepted) != 0 {
		t.Fatalf("%d refusals remembered", len(v.accepted))
	}
	good := [][]byte{p.client.Cert.Raw}
	if err := v.verifyPeer(good, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.accepted[chainKey(good)]; !ok || len(v.accepted) != 1 {
		t.Fatalf("acceptance not remembered: %d entries", len(v.accepted))
	}
	// The key covers every certificate sent and where one ends.
	a, b := [][]byte{{1, 2}, {3}}, [][]byte{{1}, {2, 3}}
	if chainKey(a) == chainKey(b) || chainKey(good) == chainKey(append(good, p.ca.Cert.Raw)) {
		t.Fatal("different certificate lists share a key")
	}
	for i := range maxAccepted {
		v.accepted[[32]byte{byte(i), byte(i >> 8), 1}] = validity{}
	}
	if err := v.verifyPeer([][]byte{p.client.Cert.Raw, p.ca.Cert.Raw}, nil); err != nil {
		t.Fatal(err)
	}
	if len(v.accepted) != 1 {
		t.Fatalf("memory holds %d entries after filling up, want 1 (emptied, then this one)", len(v.accepted))
	}
}

// BenchmarkClientCheck: the server's decision on a client's chain (ECDSA P-256
// client certificate from a store CA), the first time (full: parse and verify
// the chain, as every handshake did before the memory) and again (remembered).
func BenchmarkClientCheck(b *testing.B) {
	ca := testcerts.New(b, nil, testcerts.Options{CN: "ca", IsCA: true})
	client := testcerts.New(b, ca, testcerts.Options{CN: "cli", Client: true})
	dir := filepath.Join(b.TempDir(), "db")
	st, err := store.CreateWith(dir, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.AddCert("ca", ca.Cert, store.MustParseTrust("CT,,")); err != nil {
		b.Fatal(err)
	}
	a := storeAnchors(st, true)
	raw := [][]byte{client.Cert.Raw}
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := VerifyClient(raw, a, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		v := &clientVerifier{anchors: a, required: true, now: time.Now}
		b.ReportAllocs()
		for b.Loop() {
			if err := v.verifyPeer(raw, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestVerifierConcurrent: handshakes run in parallel and share the memory (run
// under -race by make race).
func TestVerifierConcurrent(t *testing.T) {
	p := newPKI(t)
	v := storeVerifier(t, p)
	other := testcerts.New(t, nil, testcerts.Options{CN: "otherCA", IsCA: true})
	bad := testcerts.New(t, other, testcerts.Options{CN: "x", Client: true})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if err := v.verifyPeer([][]byte{p.client.Cert.Raw}, nil); err != nil {
					errs <- err
				}
				if v.verifyPeer([][]byte{bad.Cert.Raw}, nil) == nil {
					errs <- errors.New("stranger accepted")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// countChecks counts the calls of srv's client-certificate check (remembered or
// not), so a test can see that every handshake went through it.
func countChecks(srv *tls.Config) *atomic.Int32 {
	checks := new(atomic.Int32)
	verify := srv.VerifyPeerCertificate
	srv.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
		checks.Add(1)
		return verify(raw, chains)
	}
	return checks
}
