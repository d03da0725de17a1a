package stress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/testcerts"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

// seenCert wraps the monitor's TLS hook to record the server certificate of
// each handshake.
func seenCert(hook func(string) (*tls.Config, error), record func(*x509.Certificate)) func(string) (*tls.Config, error) {
	return func(name string) (*tls.Config, error) {
		cfg, err := hook(name)
		if err != nil {
			return nil, err
		}
		verify := cfg.VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				record(cs.PeerCertificates[0])
			}
			if verify != nil {
				return verify(cs)
			}
			return nil
		}
		return cfg, nil
	}
}

// TestReloadUnderLoad: collectord -C -M -Q serving TLS sessions that fetch without
// pause keeps serving every one of them, without an error, while its certificate
// is replaced and reloaded (SIGHUP), while a broken store is refused on reload
// (the last good certificate stays), and after the store is repaired; new
// connections get the new certificate once it is loaded.
func TestReloadUnderLoad(t *testing.T) {
	p := newPKI(t)
	sock := filepath.Join(t.TempDir(), "collectord.socket")
	d := startDaemon(t, "[reload]\nwatch_interval = \"0s\"\n", "-C", p.serverStore, "-M", p.serverNick, "-Q", "-s", sock)
	sessions := pick(100, 20)
	ids := []protocol.PMID{protocol.NewPMID(60, 0, 32), protocol.NewPMID(60, 2, 0)}
	opts := func(record func(*x509.Certificate)) pmapi.Options {
		return pmapi.Options{Secure: pmapi.SecureEnforce, Ports: []int{d.port}, RequestTimeout: 10 * time.Second,
			TLSConfig: seenCert(p.clientHook(), record)}
	}

	var errs atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		if errs.Add(1) == 1 {
			firstErr.Store(err.Error())
		}
	}
	var fetches atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	ctxs := make([]*pmapi.Context, sessions)
	for i := range ctxs {
		c, err := pmapi.Connect(context.Background(), "127.0.0.1", opts(func(*x509.Certificate) {}))
		if err != nil {
			t.Fatalf("session %d: %v\n%s", i, err, d.log)
		}
		ctxs[i] = c
	}
	for _, c := range ctxs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r, err := c.Fetch(ids); err != nil || len(r.VSets) != len(ids) {
					fail(fmt.Errorf("session fetch: %v", err))
					return
				}
				fetches.Add(1)
			}
		}()
	}
	// New connections, one after the other, noting the certificate served.
	var mu sync.Mutex
	var lastSeen *x509.Certificate
	var connects atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := pmapi.Connect(context.Background(), "127.0.0.1", opts(func(c *x509.Certificate) {
				mu.Lock()
				lastSeen = c
				mu.Unlock()
			}))
			if err != nil {
				fail(fmt.Errorf("new connection: %w", err))
				return
			}
			if _, err := c.Fetch(ids); err != nil {
				fail(fmt.Errorf("new connection fetch: %w", err))
			}
			c.Close()
			connects.Add(1)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	served := func() *x509.Certificate {
		mu.Lock()
		defer mu.Unlock()
		return lastSeen
	}
	finish := func() {
		close(stop)
		wg.Wait()
	}
	defer func() {
		select {
		case <-stop:
		default:
			finish()
		}
	}()
	phase := pick(5*time.Second, time.Second)
	time.Sleep(phase)
	waitFor(30*time.Second, func() bool { return served() != nil }) // opening the store is slow under -race
	if c := served(); c == nil || !c.Equal(p.server.Cert) {
		t.Fatalf("served %v before the reload, want the first certificate", c)
	}

	// 1. A new certificate and key in the store, then SIGHUP.
	fresh := testcerts.New(t, p.ca, testcerts.Options{CN: "collector renewed", Server: true,
		IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNS: []string{"localhost"}})
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "new.pem"), filepath.Join(dir, "new.key")
	os.WriteFile(certPath, fresh.CertPEM(), 0o600)
	os.WriteFile(keyPath, fresh.KeyPEM(t), 0o600)
	certdb(t, "delete", "-d", p.serverStore, "-n", p.serverNick, "-F")
	certdb(t, "add", "-d", p.serverStore, "-n", p.serverNick, "-t", "u,u,u", "-i", certPath, "--key", keyPath)
	d.cmd.Process.Signal(syscall.SIGHUP)
	if !waitFor(10*time.Second, func() bool { c := served(); return c != nil && c.Equal(fresh.Cert) }) {
		t.Fatalf("new connections still get the old certificate 10 s after SIGHUP:\n%s", d.log)
	}
	time.Sleep(phase)

	// 2. A broken store: the reload is refused, the renewed certificate stays.
	storeFile := filepath.Join(p.serverStore, store.FileName)
	good, err := os.ReadFile(storeFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(storeFile, []byte("{ this is not a store"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	if !waitFor(10*time.Second, func() bool { return strings.Contains(d.log.String(), "reload failed") }) {
		t.Fatalf("no reload failure logged for a broken store:\n%s", d.log)
	}
	time.Sleep(phase)
	if c := served(); c == nil || !c.Equal(fresh.Cert) {
		t.Fatal("after a refused reload new connections do not get the last good certificate")
	}

	// 3. Repaired.
	os.WriteFile(storeFile, good, 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(phase)
	finish()
	d.alive(t)
	if n := errs.Load(); n > 0 {
		t.Fatalf("%d errors through the reloads; first: %v\n%s", n, firstErr.Load(), d.log)
	}
	reloaded := strings.Count(d.log.String(), "configuration reloaded")
	if reloaded < 2 {
		t.Fatalf("%d successful reloads logged, want 2:\n%s", reloaded, d.log)
	}
	// The daemon reports it itself.
	// Asked on the unix socket, the one place -Q lets a client in without TLS.
	nc, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{nc: nc, c: protocol.NewConn(nc)}
	defer rc.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.c.Read(); err != nil {
		t.Fatalf("greeting on the unix socket: %v", err)
	}
	rc.c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}})
	rc.c.Write(&protocol.Profile{})
	res := rc.fetchOK(t, []protocol.PMID{protocol.NewPMID(2, 40, 1), protocol.NewPMID(2, 40, 2), protocol.NewPMID(2, 40, 3)})
	ok, _ := valueInt(res.VSets[0], protocol.TypeU64)
	failed, _ := valueInt(res.VSets[1], protocol.TypeU64)
	expiry, _ := valueInt(res.VSets[2], protocol.Type64)
	want := int64(time.Until(fresh.Cert.NotAfter).Seconds())
	if ok < 2 || failed < 1 || expiry < want-60 || expiry > want+60 {
		t.Errorf("pmcd.gopcp.reload.count %d (want >= 2), .failures %d (want >= 1), cert.expiry %d (want about %d, the renewed certificate's)",
			ok, failed, expiry, want)
	}
	figure(t, "reload under load", "%d TLS sessions (-Q) fetching without pause through a certificate renewal, a refused reload of a broken store and a repair: %d fetches, %d new connections, 0 errors",
		sessions, fetches.Load(), connects.Load())
}
