package stress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/protocol"
)

// syncBuf collects output safely across goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inproc is a collectord server running in the test process on 127.0.0.1:0.
type inproc struct {
	srv  *server.Server
	reg  *metrics.Registry
	addr string
	port int
	logs *syncBuf
}

type inprocOptions struct {
	tweak   func(*server.Server)            // set limits, TLS, ...
	metrics metrics.Options                 // roots; Version and Self are filled in
	wrap    func(net.Listener) net.Listener // e.g. a tap
}

// startInproc starts a server the way collectord's main does, minus the flags.
func startInproc(t testing.TB, o inprocOptions) *inproc {
	t.Helper()
	p := &inproc{logs: &syncBuf{}}
	p.srv = &server.Server{Logger: slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if o.tweak != nil {
		o.tweak(p.srv)
	}
	mo := o.metrics
	mo.Version, mo.Self = "stress", p.srv.Self()
	reg, err := metrics.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	p.srv.Registry, p.reg = reg, reg
	var ln net.Listener
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.port = ln.Addr().(*net.TCPAddr).Port
	if o.wrap != nil {
		ln = o.wrap(ln)
	}
	done := make(chan struct{})
	go func() { defer close(done); p.srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		p.srv.Close()
		<-done
	})
	return p
}

// discardLogger drops every line.
func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 1}))
}

// newRegistry is a registry over the machine's /proc for s.
func newRegistry(s *server.Server) (*metrics.Registry, error) {
	return metrics.New(metrics.Options{Version: "stress", Self: s.Self()})
}

// pmid looks a metric up by name in the server's catalogue.
func (p *inproc) pmid(t testing.TB, name string) protocol.PMID {
	t.Helper()
	m, ok := p.reg.ByName(name)
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	return m.Desc.PMID
}

// rawClient is a PCP client speaking the protocol directly, without pmapi's logic,
// so that it can misbehave.
type rawClient struct {
	nc       net.Conn
	c        *protocol.Conn
	features uint16
}

// dialRaw connects and reads the greeting; a greeting with an error code is
// returned as that error.
func dialRaw(addr string, timeout time.Duration) (*rawClient, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	rc := &rawClient{nc: nc, c: protocol.NewConn(nc)}
	nc.SetReadDeadline(time.Now().Add(timeout))
	g, err := rc.c.Read()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	nc.SetReadDeadline(time.Time{})
	f, err := protocol.ParseGreeting(g)
	if err != nil {
		nc.Close()
		return nil, err
	}
	rc.features = f
	return rc, nil
}

// handshake dials and sends a plain CREDS.
func handshake(addr string, timeout time.Duration) (*rawClient, error) {
	rc, err := dialRaw(addr, timeout)
	if err != nil {
		return nil, err
	}
	if err := rc.c.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}); err != nil {
		rc.Close()
		return nil, err
	}
	return rc, nil
}

func (rc *rawClient) Close() error { return rc.nc.Close() }

// call sends one request and reads one reply within timeout.
func (rc *rawClient) call(p protocol.PDU, timeout time.Duration) (protocol.PDU, error) {
	rc.nc.SetDeadline(time.Now().Add(timeout))
	defer rc.nc.SetDeadline(time.Time{})
	if err := rc.c.Write(p); err != nil {
		return nil, err
	}
	return rc.c.Read()
}

// fetchOK fails t unless a fetch of ids is answered with a RESULT of len(ids) sets.
func (rc *rawClient) fetchOK(t testing.TB, ids []protocol.PMID) *protocol.Result {
	t.Helper()
	r, err := rc.call(&protocol.Fetch{Highres: true, PMIDs: ids}, 5*time.Second)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	res, ok := r.(*protocol.Result)
	if !ok || len(res.VSets) != len(ids) {
		t.Fatalf("fetch answered with %#v", r)
	}
	return res
}

// lookup resolves names to PMIDs with a PMNS_NAMES request.
func (rc *rawClient) lookup(names []string) ([]protocol.PMID, error) {
	r, err := rc.call(&protocol.PMNSNames{Names: names}, 10*time.Second)
	if err != nil {
		return nil, err
	}
	ids, ok := r.(*protocol.PMNSIDs)
	if !ok {
		return nil, fmt.Errorf("name lookup answered with %#v", r)
	}
	for i, id := range ids.IDs {
		if id == protocol.PMIDNull {
			return nil, fmt.Errorf("unknown metric %s", names[i])
		}
	}
	return ids.IDs, nil
}

// closedWithin reads (discarding) until the peer closes the connection, for at most
// d, and reports how long that took. ok is false when the connection was still open
// after d.
func closedWithin(nc net.Conn, d time.Duration) (elapsed time.Duration, ok bool) {
	start := time.Now()
	nc.SetReadDeadline(start.Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return time.Since(start), false
		}
		return time.Since(start), true
	}
}

// isClosedErr reports an error that means the peer closed or reset the connection.
func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// daemon is a collectord binary started by a test.
type daemon struct {
	port   int
	cmd    *exec.Cmd
	log    *syncBuf
	exited chan struct{}
}

func (d *daemon) addr() string { return "127.0.0.1:" + strconv.Itoa(d.port) }
func (d *daemon) pid() int     { return d.cmd.Process.Pid }

// writeConfig writes a collectord TOML configuration and returns its path.
func writeConfig(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "collectord.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startDaemon runs collectord on a free loopback port with the given configuration
// text and arguments and waits until it accepts.
func startDaemon(t testing.TB, config string, args ...string) *daemon {
	t.Helper()
	d := &daemon{port: pcptest.FreePort(t), log: &syncBuf{}, exited: make(chan struct{})}
	args = append([]string{"-i", "127.0.0.1", "-p", strconv.Itoa(d.port), "--config", writeConfig(t, config)}, args...)
	d.cmd = exec.Command(program(t, "collectord"), args...)
	d.cmd.Env = cleanEnv()
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
	})
	ok := waitFor(15*time.Second, func() bool {
		select {
		case <-d.exited:
			return true
		default:
		}
		c, err := net.Dial("tcp", d.addr())
		if err == nil {
			c.Close()
			return true
		}
		return false
	})
	select {
	case <-d.exited:
		t.Fatalf("collectord exited: %s", d.log)
	default:
	}
	if !ok {
		t.Fatalf("collectord did not accept within 15s: %s", d.log)
	}
	return d
}

// stats reads the daemon's /proc figures.
func (d *daemon) stats(t testing.TB) procStats {
	t.Helper()
	s, err := readProcStats(d.pid())
	if err != nil {
		t.Fatalf("collectord stats: %v\n%s", err, d.log)
	}
	return s
}

// alive fails t if the daemon has exited.
func (d *daemon) alive(t testing.TB) {
	t.Helper()
	select {
	case <-d.exited:
		t.Fatalf("collectord exited: %s", d.log)
	default:
	}
}

// numClients asks the daemon itself for pmcd.numclients (the asking client included).
func numClients(t testing.TB, addr string) int {
	t.Helper()
	rc, err := handshake(addr, 5*time.Second)
	if err != nil {
		t.Fatalf("numclients: %v", err)
	}
	defer rc.Close()
	rc.c.Write(&protocol.Profile{})
	res := rc.fetchOK(t, []protocol.PMID{protocol.NewPMID(2, 0, 3)})
	if len(res.VSets[0].Values) != 1 {
		t.Fatalf("pmcd.numclients: %+v", res.VSets[0])
	}
	return int(res.VSets[0].Values[0].Insitu)
}

// valueInt is the single value of a value set as an integer of type typ.
func valueInt(vs protocol.ValueSet, typ int32) (int64, bool) {
	if vs.NumVal != 1 || len(vs.Values) != 1 {
		return 0, false
	}
	return vs.Values[0].Int64(typ, vs.ValFmt == protocol.ValFmtInsitu)
}

// cleanEnv drops PCP variables of the caller's environment.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "PCP_") || strings.HasPrefix(e, "PMCD_") || strings.HasPrefix(e, "PMPROXY_") {
			continue
		}
		env = append(env, e)
	}
	// PCP_DERIVED_CONFIG stays unset: the default derived metrics load, as for users.
	return append(env, extra...)
}

// runCmd runs a program to completion (at most 60 s) and returns its output and
// exit code.
func runCmd(t testing.TB, env []string, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v: did not finish in 60 s", name, args)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}
