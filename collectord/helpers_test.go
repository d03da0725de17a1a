package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/syncbuf"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/internal/leaktest"
	"github.com/gopcp/gopcp/internal/testcerts"
)

// binDir holds the collectord binary built once for the tests that run it.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

// TestMain fails the run if goroutines of this module outlive the tests, and
// removes the binary built for the process tests.
func TestMain(m *testing.M) {
	leaktest.Main(m, func() {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
	})
}

// collectordBin builds the real collectord once, with a version and commit.
func collectordBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binError = os.MkdirTemp("", "collectord-test-")
		if binError != nil {
			return
		}
		binPath = filepath.Join(binDir, "collectord")
		cmd := exec.Command("go", "build", "-ldflags", "-X main.Version=9.8.7 -X main.Commit=abc1234", "-o", binPath, ".")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out.String())
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// pki is a CA, a collector store and a client store, made by the test.
type pki struct {
	dir                  string
	ca                   *testcerts.Cert
	serverDir, clientDir string
	server, client       *testcerts.Cert
}

const serverNick = "PCP Collector certificate"

// localNames are the names a test server certificate holds: this host's names as
// verify --secure looks for them.
func localNames() []string { return hostNames() }

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.ca = testcerts.New(t, nil, testcerts.Options{CN: "Test CA", IsCA: true})
	p.server = testcerts.New(t, p.ca, testcerts.Options{CN: "collector", DNS: localNames(),
		IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, Server: true})
	p.client = testcerts.New(t, p.ca, testcerts.Options{CN: "client", Client: true})
	p.serverDir = filepath.Join(p.dir, "server")
	p.clientDir = filepath.Join(p.dir, "client")
	p.store(t, p.serverDir, serverNick, p.server)
	p.store(t, p.clientDir, "client", p.client)
	return p
}

// store creates a store holding the CA (CT,,) and an identity.
func (p *pki) store(t *testing.T, dir, nick string, id *testcerts.Cert) {
	t.Helper()
	st, err := store.CreateWith(dir, nil, store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddCert("Test CA", p.ca.Cert, store.MustParseTrust("CT,,")); err != nil {
		t.Fatal(err)
	}
	if id != nil {
		if _, err := st.AddIdentity(nick, id.Cert, id.Key, store.Trust{}); err != nil {
			t.Fatal(err)
		}
	}
}

// replaceIdentity puts a new certificate under the server nickname, as a renewal
// would, by writing a fresh store into the folder.
func (p *pki) replaceIdentity(t *testing.T, id *testcerts.Cert) {
	t.Helper()
	tmp := p.serverDir + ".new"
	p.store(t, tmp, serverNick, id)
	if err := os.Rename(filepath.Join(tmp, store.FileName), filepath.Join(p.serverDir, store.FileName)); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(tmp)
}

// freePort finds a loopback TCP port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuf is a log sink that goroutines may share.
type syncBuf = syncbuf.Buffer

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
