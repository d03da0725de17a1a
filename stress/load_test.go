package stress

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/protocol"
)

// loadMetrics is what a monitoring client (pmstat, a dashboard) asks for each time:
// ten metrics from six kernel files.
var loadMetrics = []string{"kernel.all.cpu.user", "kernel.all.cpu.sys", "kernel.all.cpu.idle",
	"kernel.all.pswitch", "kernel.all.intr", "mem.util.free", "mem.util.used", "mem.util.cached",
	"kernel.all.load", "kernel.all.nprocs"}

// loadSize is the number of clients and how long they fetch.
func loadSize() (clients int, d time.Duration) {
	if full() {
		return 1000, 30 * time.Second
	}
	if raceEnabled {
		return 50, 3 * time.Second
	}
	return 200, 5 * time.Second
}

// connectParallel is how many clients connect at once. The real pmcd listens with
// a backlog of 5 (ss -ltn shows it) and drops or resets connections beyond it, so more would
// measure its accept queue rather than its fetches.
var connectParallel = 4

// loadResult is what a load run measured.
type loadResult struct {
	clients  int
	duration time.Duration
	connect  time.Duration // until every client had its greeting and sent CREDS
	fetches  int64
	errs     int64
	firstErr string
	lat      []time.Duration // sorted
}

func (r *loadResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * p)
	return r.lat[i]
}

func (r *loadResult) String() string {
	return fmt.Sprintf("%d clients x %v: %d fetches (%.0f/s), p50 %v p90 %v p99 %v p99.9 %v max %v, connect-all %v, errors %d",
		r.clients, r.duration, r.fetches, float64(r.fetches)/r.duration.Seconds(), r.pct(0.50).Round(time.Microsecond),
		r.pct(0.90).Round(time.Microsecond), r.pct(0.99).Round(time.Microsecond), r.pct(0.999).Round(time.Microsecond),
		r.pct(1).Round(time.Microsecond), r.connect.Round(time.Millisecond), r.errs)
}

// runLoad connects n clients to addr, then has each fetch ids back to back (a new
// fetch as soon as the last reply arrives) for d, and closes them all. Every reply
// must be a RESULT with one value set per PMID; anything else is an error.
func runLoad(t testing.TB, addr string, ids []protocol.PMID, n int, d time.Duration) *loadResult {
	t.Helper()
	res := &loadResult{clients: n, duration: d}
	var errs atomic.Int64
	var firstErr sync.Once
	fail := func(format string, args ...any) {
		errs.Add(1)
		firstErr.Do(func() { res.firstErr = fmt.Sprintf(format, args...) })
	}
	clients := make([]*rawClient, n)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, connectParallel) // a burst, not a SYN flood
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rc, err := handshake(addr, 20*time.Second)
			if err != nil {
				fail("client %d connect: %v", i, err)
				return
			}
			if err := rc.c.Write(&protocol.Profile{}); err != nil {
				fail("client %d profile: %v", i, err)
				rc.Close()
				return
			}
			clients[i] = rc
		}()
	}
	wg.Wait()
	res.connect = time.Since(start)
	defer func() {
		for _, rc := range clients {
			if rc != nil {
				rc.Close()
			}
		}
	}()
	if errs.Load() > 0 {
		res.errs = errs.Load()
		return res
	}

	lats := make([][]time.Duration, n)
	var fetches atomic.Int64
	stop := time.Now().Add(d)
	for i, rc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			highres := rc.features&protocol.FeatureHighres != 0
			req := protocol.Encode(nil, &protocol.Fetch{Highres: highres, PMIDs: ids}, 0)
			wantType, countAt := protocol.TypeResult, protocol.HeaderSize+8
			if highres {
				wantType, countAt = protocol.TypeHighresResult, protocol.HeaderSize
			}
			lat := make([]time.Duration, 0, 4096)
			for time.Now().Before(stop) {
				t0 := time.Now()
				rc.nc.SetDeadline(t0.Add(30 * time.Second))
				if err := rc.c.WriteRaw(req); err != nil {
					fail("client %d write: %v", i, err)
					break
				}
				b, err := rc.c.ReadRaw()
				if err != nil {
					fail("client %d read: %v", i, err)
					break
				}
				lat = append(lat, time.Since(t0))
				_, typ, _, _ := protocol.ParseHeader(b)
				if typ != wantType || len(b) < countAt+4 || int(binary.BigEndian.Uint32(b[countAt:])) != len(ids) {
					p, _, _ := protocol.Decode(b)
					fail("client %d: reply %s %#v", i, protocol.TypeName(typ), p)
					break
				}
			}
			fetches.Add(int64(len(lat)))
			lats[i] = lat
		}()
	}
	wg.Wait()
	for _, l := range lats {
		res.lat = append(res.lat, l...)
	}
	slices.Sort(res.lat)
	res.fetches = fetches.Load()
	res.errs = errs.Load()
	return res
}

// lookupIDs resolves loadMetrics on the server at addr.
func lookupIDs(t testing.TB, addr string) []protocol.PMID {
	t.Helper()
	rc, err := handshake(addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ids, err := rc.lookup(loadMetrics)
	if err != nil {
		t.Fatal(err)
	}
	rc.c.Write(&protocol.Profile{})
	rc.fetchOK(t, ids) // warm up: the sources open their files
	return ids
}

// TestLoadCollectord: N clients fetching for D against an in-process collectord:
// no error, and goroutines, file descriptors and heap return to their baseline
// once the clients have left. Default 200 clients for 5 s; full 1,000 for 30 s.
func TestLoadCollectord(t *testing.T) {
	n, d := loadSize()
	if need := uint64(2*n + 100); nofile < need {
		t.Fatalf("RLIMIT_NOFILE %d, need %d for %d clients and their server in one process", nofile, need, n)
	}
	// Every client comes from loopback, one address: lift the per-address limit.
	p := startInproc(t, inprocOptions{tweak: func(s *server.Server) { s.MaxClientsPerAddr = 1 << 20 }})
	ids := lookupIDs(t, p.addr)
	if !waitFor(5*time.Second, func() bool { return p.srv.NumClients() == 0 }) {
		t.Fatal("warm-up client not gone")
	}
	base := measureSelf()

	res := runLoad(t, p.addr, ids, n, d)
	t.Log(res)
	if res.errs > 0 {
		t.Fatalf("%d errors under load; first: %s", res.errs, res.firstErr)
	}
	figure(t, "load collectord (in-process)", "%s", res)
	res.lat = nil

	if !waitFor(15*time.Second, func() bool { return p.srv.NumClients() == 0 }) {
		t.Fatalf("%d clients still registered 15 s after all left", p.srv.NumClients())
	}
	after, ok := waitBaseline(base, 15*time.Second)
	figure(t, "load collectord leak check", "baseline goroutines %d fds %d heap %.1f MiB; after %d clients left: goroutines %d fds %d heap %.1f MiB",
		base.Goroutines, base.FDs, mib(base.HeapInuse), n, after.Goroutines, after.FDs, mib(after.HeapInuse))
	if !ok {
		t.Fatalf("resources did not return to baseline (slack %d goroutines, %d fds, %d MiB heap): before %+v after %+v\n%s",
			goroutineSlack, fdSlack, heapSlack>>20, base, after, summarizeGoroutines())
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// TestLoadCollectordBinary: the same against collectord as its own process, which
// is how it runs and how the real pmcd runs: no error, its file descriptors return
// to their baseline, and its RSS is reported.
func TestLoadCollectordBinary(t *testing.T) {
	n, d := loadSize()
	dm := startDaemon(t, "[server]\nmax_clients = 4096\nmax_clients_per_addr = 4096\n") // all from loopback
	ids := lookupIDs(t, dm.addr())
	waitFor(5*time.Second, func() bool { return numClients(t, dm.addr()) == 1 })
	base := dm.stats(t)

	var peakRSS atomic.Int64
	stopSample := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if s, err := readProcStats(dm.pid()); err == nil && s.RSSKB > peakRSS.Load() {
				peakRSS.Store(s.RSSKB)
			}
			select {
			case <-stopSample:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	res := runLoad(t, dm.addr(), ids, n, d)
	close(stopSample)
	<-sampled
	t.Log(res)
	dm.alive(t)
	if res.errs > 0 {
		t.Fatalf("%d errors under load; first: %s", res.errs, res.firstErr)
	}
	figure(t, "load collectord (binary)", "%s", res)
	if !waitFor(15*time.Second, func() bool { return numClients(t, dm.addr()) == 1 }) {
		t.Fatalf("pmcd.numclients still %d 15 s after the clients left", numClients(t, dm.addr()))
	}
	var after procStats
	ok := waitFor(10*time.Second, func() bool { after = dm.stats(t); return after.FDs <= base.FDs+2 })
	figure(t, "load collectord (binary) resources", "fds %d before, %d after; RSS %.1f MiB before, %.1f MiB peak, %.1f MiB after",
		base.FDs, after.FDs, float64(base.RSSKB)/1024, float64(peakRSS.Load())/1024, float64(after.RSSKB)/1024)
	if !ok {
		t.Fatalf("collectord holds %d file descriptors after the clients left, %d before", after.FDs, base.FDs)
	}
}

// TestLoadRealPMCD: the same load against the real pmcd, for comparison. Its
// figures are reported; its errors are reported, not failed on: the real pmcd is the
// yardstick, not the subject.
func TestLoadRealPMCD(t *testing.T) {
	if _, err := os.Stat(pcptest.PMCD); err != nil {
		t.Skip(pcptest.InstallHint)
	}
	n, d := loadSize()
	port := pcptest.StartPMCD(t, "")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ids := lookupIDs(t, addr)
	pid := findPMCD(port)
	var base procStats
	if pid > 0 {
		base, _ = readProcStats(pid)
	}
	res := runLoad(t, addr, ids, n, d)
	t.Log(res)
	if res.fetches == 0 {
		t.Fatalf("no fetch answered; first error: %s", res.firstErr)
	}
	if res.errs > 0 {
		t.Logf("the real pmcd: %d errors; first: %s", res.errs, res.firstErr)
	}
	figure(t, "load real pmcd", "%s", res)
	if pid > 0 {
		time.Sleep(time.Second)
		after, _ := readProcStats(pid)
		figure(t, "load real pmcd resources", "fds %d before, %d after; RSS %.1f MiB before, %.1f MiB peak (VmHWM), %.1f MiB after",
			base.FDs, after.FDs, float64(base.RSSKB)/1024, float64(after.HWMKB)/1024, float64(after.RSSKB)/1024)
	}
}

// findPMCD finds the pid of the real pmcd listening on port (started by
// reference-pcp with -p PORT), or 0.
func findPMCD(port int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "pmcd" {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-p" && args[i+1] == strconv.Itoa(port) {
				return pid
			}
		}
	}
	return 0
}
