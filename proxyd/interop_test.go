package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopcp/gopcp/certdb/store"
	"github.com/gopcp/gopcp/collectord/server"
	"github.com/gopcp/gopcp/internal/leaktest"
	"github.com/gopcp/gopcp/internal/pcptest"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
)

// toolEnv is the environment for PCP clients: their default derived metrics, no
// system tls.conf, no proxy unless the test asks for one, plus extra.
func toolEnv(extra ...string) []string {
	var env []string
	for _, kv := range pcptest.Env() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "PMPROXY_HOST", "PMPROXY_PORT", "PCP_SECURE_SOCKETS", "PCP_TLSCONF_PATH", "PCP_SECURE_DB_PATH":
			continue
		}
		env = append(env, kv)
	}
	// Our tools read no tls.conf unless told; the real ones read /etc/pcp/tls.conf.
	return append(append(env, "PCP_SECURE_DB_PATH=/nonexistent"), extra...)
}

type toolResult struct {
	stdout, stderr string
	code           int
}

func runTool(t *testing.T, bin string, env []string, args ...string) toolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return toolResult{o.String(), e.String(), code}
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

// build compiles a program of this module once per test run.
func build(t *testing.T, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "proxyd-test-bin")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	buildCache[pkg] = out
	return out
}

func TestMain(m *testing.M) {
	leaktest.Main(m, func() {
		for _, p := range buildCache {
			os.RemoveAll(filepath.Dir(p))
		}
	})
}

var valueRE = regexp.MustCompile(`(?m)^(\s*(?:inst \[[^\]]*\] )?value ).*$`)

// mask replaces metric values, which change between two runs.
func mask(s string) string { return valueRE.ReplaceAllString(s, "${1}<value>") }

// comparePaths runs a pminfo directly and through the proxy (as host@proxy and
// with PMPROXY_HOST) and requires the same output.
func comparePaths(t *testing.T, bin string, env []string, px *proxy, port int, args ...string) {
	t.Helper()
	direct := runTool(t, bin, env, append([]string{"-h", "127.0.0.1:" + strconv.Itoa(port)}, args...)...)
	if direct.code != 0 {
		t.Fatalf("direct %v: exit %d: %s", args, direct.code, direct.stderr)
	}
	via := runTool(t, bin, env, append([]string{"-h", px.spec(port)}, args...)...)
	viaEnv := runTool(t, bin, append(env, "PMPROXY_HOST=127.0.0.1", "PMPROXY_PORT="+strconv.Itoa(px.port)),
		append([]string{"-h", "127.0.0.1:" + strconv.Itoa(port)}, args...)...)
	for name, r := range map[string]toolResult{"host@proxy": via, "PMPROXY_HOST": viaEnv} {
		if r.code != direct.code || r.stderr != direct.stderr || mask(r.stdout) != mask(direct.stdout) {
			t.Errorf("%s %s %v differs from the direct connection:\nexit %d/%d\nstderr %q\n%s", filepath.Base(bin), name, args,
				r.code, direct.code, r.stderr, firstDiff(mask(r.stdout), mask(direct.stdout)))
		}
	}
}

func firstDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(x) || i < len(y); i++ {
		var p, q string
		if i < len(x) {
			p = x[i]
		}
		if i < len(y) {
			q = y[i]
		}
		if p != q {
			return fmt.Sprintf("line %d:\n  via proxy: %q\n  direct:    %q", i+1, p, q)
		}
	}
	return "(same)"
}

var pminfoArgs = [][]string{
	{"-f", "kernel.all.load", "hinv.ncpu", "kernel.uname.release", "kernel.all.cpu"},
	{"-dmtT", "kernel.all.load", "mem.util.used", "disk.dev.read_bytes"},
	{"-l", "kernel.all.load", "hinv.ncpu"},
	{"kernel"},
}

// TestRealPminfoThroughRelay: the real PCP 6 pminfo reaches our collectord and a
// real pmcd through proxyd, with host@proxy and with PMPROXY_HOST, and sees what
// it sees directly.
func TestRealPminfoThroughRelay(t *testing.T) {
	pcptest.Require(t, pcptest.PMInfo)
	px := startMain(t)
	ours := ptest.StartCollector(t, nil)
	ports := map[string]int{"collectord": ours.Port}
	if _, err := os.Stat(pcptest.PMCD); err == nil {
		ports["real pmcd"] = pcptest.StartPMCD(t, "")
	} else {
		t.Logf("real pmcd not tested: %s", pcptest.InstallHint)
	}
	for name, port := range ports {
		t.Run(name, func(t *testing.T) {
			for _, args := range pminfoArgs {
				comparePaths(t, pcptest.PMInfo, toolEnv(), px, port, args...)
			}
		})
	}
	checkRelayRefusals(t, pcptest.PMInfo, px)
}

// TestOurPminfoThroughRelay: gopcp's pminfo does the same.
func TestOurPminfoThroughRelay(t *testing.T) {
	bin := build(t, "github.com/gopcp/gopcp/pminfo")
	px := startMain(t)
	ours := ptest.StartCollector(t, nil)
	ports := map[string]int{"collectord": ours.Port}
	if _, err := os.Stat(pcptest.PMCD); err == nil {
		ports["real pmcd"] = pcptest.StartPMCD(t, "")
	}
	for name, port := range ports {
		t.Run(name, func(t *testing.T) {
			for _, args := range pminfoArgs {
				comparePaths(t, bin, toolEnv(), px, port, args...)
			}
		})
	}
	checkRelayRefusals(t, bin, px)
}

// checkRelayRefusals: a collector that is down, or not allowed, fails the client
// quickly with libpcp's connection error.
func checkRelayRefusals(t *testing.T, bin string, px *proxy) {
	t.Helper()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for _, spec := range []string{"127.0.0.1:" + strconv.Itoa(down) + "@127.0.0.1:" + strconv.Itoa(px.port),
		"192.0.2.1:44321@127.0.0.1:" + strconv.Itoa(px.port)} {
		start := time.Now()
		r := runTool(t, bin, toolEnv(), "-h", spec, "hinv.ncpu")
		if r.code == 0 || !strings.Contains(r.stderr, "Cannot connect to PMCD") {
			t.Errorf("%s -h %s: exit %d %q", filepath.Base(bin), spec, r.code, r.stderr)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("%s -h %s: took %v", filepath.Base(bin), spec, d)
		}
	}
	if !strings.Contains(px.logs.String(), "refused by policy") {
		t.Errorf("the policy refusal is not logged:\n%s", px.logs)
	}
}

// TestRelayTLSEndToEnd: collectors requiring client certificates (-Q) see the
// relayed client's certificate, because the TLS upgrade runs end to end through
// proxyd: the real pminfo (tls.conf) and ours (certificate store), against a real
// pmcd -Q and our collectord -Q.
func TestRelayTLSEndToEnd(t *testing.T) {
	pki := ptest.NewPKI(t)
	px := startMain(t)
	ours := ptest.StartCollector(t, func(s *server.Server) {
		cfg := pki.ServerTLS(t, true)
		s.TLSConfig = func() *tls.Config { return cfg }
		s.RequireClientCert = true
	})
	ports := map[string]int{"collectord -Q": ours.Port}
	if _, err := os.Stat(pcptest.PMCD); err == nil {
		ports["real pmcd -Q"] = pcptest.StartPMCD(t, pki.ServerTLSConf, "-Q")
	} else {
		t.Logf("real pmcd not tested: %s", pcptest.InstallHint)
	}
	type client struct {
		name string
		bin  string
		// env with a client certificate, and with none
		cert, noCert []string
	}
	var clients []client
	if _, err := os.Stat(pcptest.PMInfo); err == nil {
		clients = append(clients, client{"real pminfo", pcptest.PMInfo,
			[]string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + pki.ClientTLSConf},
			[]string{"PCP_SECURE_SOCKETS=enforce", "PCP_TLSCONF_PATH=" + pki.NoCertTLSConf}})
	} else {
		t.Logf("real pminfo not tested: %s", pcptest.InstallHint)
	}
	clients = append(clients, client{"gopcp pminfo", build(t, "github.com/gopcp/gopcp/pminfo"),
		[]string{"PCP_SECURE_SOCKETS=enforce", "PCP_SECURE_DB_PATH=" + pki.ClientStore},
		[]string{"PCP_SECURE_SOCKETS=enforce", "PCP_SECURE_DB_PATH=" + pki.TrustStore}})
	for server, port := range ports {
		for _, c := range clients {
			t.Run(c.name+" to "+server, func(t *testing.T) {
				spec := px.spec(port)
				r := runTool(t, c.bin, toolEnv(c.cert...), "-h", spec, "-f", "hinv.ncpu")
				if r.code != 0 || !strings.Contains(r.stdout, "value "+strconv.Itoa(runtime.NumCPU())) {
					t.Fatalf("with a client certificate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
				}
				r = runTool(t, c.bin, toolEnv(c.noCert...), "-h", spec, "-f", "hinv.ncpu")
				if r.code == 0 || strings.Contains(r.stdout, "value ") {
					t.Errorf("without a client certificate the collector answered:\n%s%s", r.stdout, r.stderr)
				}
				r = runTool(t, c.bin, toolEnv(), "-h", spec, "-f", "hinv.ncpu")
				if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "requires a client certificate") {
					t.Errorf("plain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
				}
			})
		}
	}
}

// startRealPmproxy runs the real pmproxy (REST only: no Redis) on a free port.
func startRealPmproxy(t *testing.T) int {
	t.Helper()
	const bin = "/usr/lib/pcp/bin/pmproxy"
	pcptest.Require(t, bin)
	dir := t.TempDir()
	conf := filepath.Join(dir, "pmproxy.conf")
	os.WriteFile(conf, []byte("[pmproxy]\npcp.enabled = true\nhttp.enabled = true\nredis.enabled = false\nsecure.enabled = false\n"+
		"[redis]\nenabled = false\n[discover]\nenabled = false\n[pmsearch]\nenabled = false\n[pmseries]\nenabled = false\n"), 0o644)
	port := pcptest.FreePort(t)
	u, _ := user.Current()
	cmd := exec.Command(bin, "-f", "-A", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-c", conf,
		"-s", filepath.Join(dir, "pmproxy.socket"), "-l", filepath.Join(dir, "pmproxy.log"), "-U", u.Username)
	cmd.Env = append(toolEnv(), "PCP_RUN_DIR="+dir, "PCP_LOG_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return port
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "pmproxy.log"))
	t.Fatalf("real pmproxy did not start:\n%s", log)
	return 0
}

// normalizeJSON masks what differs between two answers to the same request
// (context numbers, timestamps, values) and orders instance lists (pmproxy lists
// them in hash order).
func normalizeJSON(t *testing.T, body string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				switch k {
				case "context", "timestamp":
					x[k] = "<" + k + ">"
				case "value":
					x[k] = fmt.Sprintf("<%T>", e)
				default:
					x[k] = walk(e)
				}
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
			slices.SortStableFunc(x, func(a, b any) int {
				ma, ok1 := a.(map[string]any)
				mb, ok2 := b.(map[string]any)
				if !ok1 || !ok2 || ma["instance"] == nil || mb["instance"] == nil || ma["pmid"] != nil {
					return 0
				}
				fa, _ := ma["instance"].(float64)
				fb, _ := mb["instance"].(float64)
				return int(fa - fb)
			})
			return x
		}
		return v
	}
	b, _ := json.Marshal(walk(v))
	return string(b)
}

// TestRESTMatchesRealPmproxy sends the same REST requests to the real pmproxy and
// to proxyd, both in front of the same real pmcd, and compares the JSON.
func TestRESTMatchesRealPmproxy(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD)
	pmcd := pcptest.StartPMCD(t, "")
	real := startRealPmproxy(t)
	px := startMain(t)
	h := "hostspec=127.0.0.1:" + strconv.Itoa(pmcd)
	queries := []string{
		"context?" + h,
		"context?" + h + "&client=dashboard%221",
		"metric?" + h + "&names=kernel.all.load,hinv.ncpu,kernel.uname.release,mem.util.used,kernel.all.cpu.user,disk.dev.read_bytes",
		"metric?" + h + "&prefix=kernel.all.cpu",
		"metric?" + h + "&names=hinv.ncpu,nonexist.foo",
		"metric?" + h + "&names=nonexist.foo",
		"fetch?" + h + "&names=kernel.all.load,hinv.ncpu,kernel.uname.release,nonexist.foo",
		"fetch?" + h + "&pmids=60.0.32,60.2.0",
		"fetch?" + h + "&names=nonexist.foo",
		"indom?" + h + "&name=kernel.all.load",
		"indom?" + h + "&indom=60.2&iname=1%20minute",
		"indom?" + h + "&indom=60.999",
		"indom?" + h + "&name=hinv.ncpu",
		"indom?" + h + "&name=nonexist.x",
		"indom?" + h + "&indom=60.2&match=fuzzy",
		"children?" + h + "&prefix=kernel.all",
		"children?" + h + "&prefix=hinv.ncpu",
		"children?" + h + "&prefix=nonexist",
		"1234/fetch?names=hinv.ncpu",
	}
	for _, q := range queries {
		rr, err := http.Get("http://127.0.0.1:" + strconv.Itoa(real) + "/pmapi/" + q)
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := io.ReadAll(rr.Body)
		rr.Body.Close()
		or, err := http.Get(px.url() + "/pmapi/" + q)
		if err != nil {
			t.Fatal(err)
		}
		ob, _ := io.ReadAll(or.Body)
		or.Body.Close()
		if rr.StatusCode != or.StatusCode {
			t.Errorf("%s: status real %d, ours %d", q, rr.StatusCode, or.StatusCode)
		}
		if rn, on := normalizeJSON(t, string(rb)), normalizeJSON(t, string(ob)); rn != on {
			t.Errorf("%s:\n real: %.600s\n ours: %.600s", q, rn, on)
		}
	}
	// /metrics: the same families, samples and labels (pmproxy orders labels by hash).
	get := func(base string) map[string]bool {
		resp, err := http.Get(base + "/metrics?" + h + "&names=kernel.all.load,hinv.ncpu,kernel.all.cpu,disk.dev.read_bytes,mem.util")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		set := map[string]bool{}
		sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} \S+$`)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			l := sc.Text()
			if m := sample.FindStringSubmatch(l); m != nil {
				labels := regexp.MustCompile(`\w+="(?:[^"\\]|\\.)*"`).FindAllString(m[2], -1)
				slices.Sort(labels)
				l = m[1] + strings.Join(labels, ",")
			}
			set[l] = true
		}
		return set
	}
	// The root's children: both add the derived namespaces ("event" for libpcp's
	// anonymous event.flags and event.missed, and those of the default
	// configuration directory) after the collector's.
	rootReal := getBody(t, "http://127.0.0.1:"+strconv.Itoa(real)+"/pmapi/children?"+h)
	rootOurs := getBody(t, px.url()+"/pmapi/children?"+h)
	if normalizeJSON(t, rootReal) != normalizeJSON(t, rootOurs) {
		t.Errorf("root children:\n real: %s\n ours: %s", rootReal, rootOurs)
	}
	rs, os := get("http://127.0.0.1:"+strconv.Itoa(real)), get(px.url())
	if len(rs) < 20 {
		t.Errorf("/metrics from the real pmproxy: %d lines", len(rs))
	}
	for l := range rs {
		if !os[l] {
			t.Errorf("/metrics: real pmproxy has %q, proxyd not", l)
		}
	}
	for l := range os {
		if !rs[l] {
			t.Errorf("/metrics: proxyd has %q, real pmproxy not", l)
		}
	}
}

// TestDeriveMatchesRealPmproxy: /pmapi/derive and the derived names that follow,
// request by request, against the real pmproxy and proxyd in front of the same
// real pmcd, both with the default derived-metric configuration.
func TestDeriveMatchesRealPmproxy(t *testing.T) {
	pcptest.Require(t, pcptest.PMCD)
	pmcd := pcptest.StartPMCD(t, "")
	real := startRealPmproxy(t)
	px := startMain(t)
	h := "hostspec=127.0.0.1:" + strconv.Itoa(pmcd)
	type step struct {
		method, query, body string
		// skipValue: pmproxy writes a non-finite double as a bare inf, which is
		// not JSON; proxyd writes null. Only the status is compared.
		skipValue bool
	}
	steps := []step{
		// the global set from the default configuration directory
		// (not kernel.cpu.util.user: pmproxy would keep its global PMID in the
		// context's name cache after the context redefines it below)
		{query: "metric?names=kernel.cpu.util.sys,kernel.cpu.util.nice"},
		{query: "children?prefix=kernel.cpu.util"},
		{query: "derive?expr=hinv.ncpu*2&name=my.ncpu2"},
		{query: "derive?expr=hinv.ncpu*2&name=my.ncpu2"},
		{query: "derive?expr=hinv.ncpu%2B&name=my.bad"},
		{query: "derive?expr=nonexist.foo*2&name=my.missing"},
		{query: "derive?expr=nonexist.foo*3&name=my.missing"},
		{query: "derive?expr=hinv.ncpu/0&name=my.div0"},
		{query: "derive?expr=0/0&name=my.nan"},
		{query: "derive?expr=hinv.ncpu%2Bkernel.all.cpu.user&name=my.sem"},
		{query: "derive?expr=hinv.ncpu&name=my.sem"},
		{query: "derive?expr=(hinv.ncpu&name=my.s1"},
		{query: "derive?expr=hinv.ncpu%20%40%202&name=my.s2"},
		{query: "derive?expr=rate(3)&name=my.s3"},
		{query: "derive?expr=%20%20*3&name=my.s4"},
		{query: "derive?expr=&name=my.s5"},
		{query: "derive?name=x"},
		{query: "derive?expr=1"},
		{query: "derive?expr=my.x%3Dhinv.ncpu"},
		{query: "derive?expr=c.a%20%3D%20hinv.ncpu*3%0Ac.b%3Dhinv.ncpu%2B1"},
		{query: "derive?expr=%23%20comment%0Ac.c%20%3D%20hinv.ncpu%2B%0A"},
		{query: "derive?expr=c.d%3Dhinv.ncpu%3Bc.e%3Dkernel.all.load%26"},
		{method: "POST", query: "derive", body: "p.a = hinv.ncpu * 4\np.b=hinv.ncpu\n"},
		{method: "POST", query: "derive", body: "expr=hinv.ncpu*4&name=p.c"},
		{query: "derive?expr=hinv.ncpu&name=kernel.cpu.util.user"},
		{query: "derive?expr=hinv.ncpu*7&name=hinv.ncpu"},
		{query: "derive?expr=rate(kernel.all.cpu.user)&name=my.rate"},
		{query: "metric?names=my.ncpu2,my.missing,my.div0,my.sem,c.a,c.b,c.d,c.e,p.a,p.b,p.c,kernel.cpu.util.user,hinv.ncpu,my.rate"},
		{query: "metric?prefix=my"},
		{query: "fetch?names=my.ncpu2,my.missing,c.a,c.e,p.a,kernel.cpu.util.user,hinv.ncpu"},
		{query: "fetch?names=my.div0", skipValue: true},
		// rate() has no value at the first fetch: pmproxy writes the zero of its
		// empty value cell for a singular metric, proxyd no instance (absent is
		// not zero), so only the status is compared.
		{query: "fetch?names=my.rate", skipValue: true},
		{query: "children?prefix=my"},
		{query: "children?prefix=kernel.cpu.util"},
		{query: "children?prefix=c"},
		{query: "children"},
	}
	ctx := func(base string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(getBody(t, base+"/pmapi/context?"+h+"&polltimeout=60")), &m); err != nil {
			t.Fatal(err)
		}
		return strconv.FormatFloat(m["context"].(float64), 'f', 0, 64)
	}
	realBase, oursBase := "http://127.0.0.1:"+strconv.Itoa(real), px.url()
	realCtx, oursCtx := ctx(realBase), ctx(oursBase)
	send := func(base, id string, s step) (int, string) {
		method := s.method
		if method == "" {
			method = http.MethodGet
		}
		req, err := http.NewRequest(method, base+"/pmapi/"+id+"/"+s.query, strings.NewReader(s.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, s := range steps {
		rs, rb := send(realBase, realCtx, s)
		ours, ob := send(oursBase, oursCtx, s)
		what := s.method + " " + s.query
		if rs != ours {
			t.Errorf("%s: status real %d, ours %d\n real: %s\n ours: %s", what, rs, ours, rb, ob)
			continue
		}
		if s.query == "fetch?names=my.rate" {
			if !strings.Contains(rb, `"value":0}`) || !strings.Contains(ob, `"instances":[]`) {
				t.Errorf("%s: first fetch of rate():\n real: %s\n ours: %s", what, rb, ob)
			}
			continue
		}
		if s.skipValue {
			if !strings.Contains(rb, `"value":inf}`) || !strings.Contains(ob, `"value":null}`) {
				t.Errorf("%s: x/0:\n real: %s\n ours: %s", what, rb, ob)
			}
			continue
		}
		if rn, on := normalizeJSON(t, rb), normalizeJSON(t, ob); rn != on {
			t.Errorf("%s:\n real: %s\n ours: %s", what, rn, on)
		}
	}
	// rate() through a second fetch: both now have a value.
	for _, c := range []struct{ base, id string }{{realBase, realCtx}, {oursBase, oursCtx}} {
		time.Sleep(100 * time.Millisecond)
		if st, b := send(c.base, c.id, step{query: "fetch?names=my.rate"}); st != 200 || !strings.Contains(b, `"instances":[{"instance":null,"value":`) {
			t.Errorf("%s: second fetch of rate(): %d %s", c.base, st, b)
		}
	}
	// /metrics: the global derived metrics as pmproxy shows them (rate-based
	// ones have no value in a new context, so neither lists them).
	q := "/metrics?" + h + "&names=kernel.cpu.util,hinv.ncpu"
	if r, o := getBody(t, realBase+q), getBody(t, oursBase+q); promNames(r) != promNames(o) {
		t.Errorf("/metrics:\n real: %s\n ours: %s", r, o)
	}
}

// promNames lists the # PCP5 lines of a /metrics answer.
func promNames(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "# PCP5 ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func getBody(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestPrometheusScrape: a real Prometheus scrapes /metrics through proxyd and
// stores the collector's series.
func TestPrometheusScrape(t *testing.T) {
	const bin = "/usr/bin/prometheus"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("Prometheus not installed: apt-get install -y prometheus")
	}
	col := ptest.StartCollector(t, nil)
	px := startMain(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: proxyd
    metrics_path: /metrics
    params:
      hostspec: ['%s']
    static_configs:
      - targets: ['%s']
`, col.Addr, px.addr)), 0o644)
	port := pcptest.FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--log.level=warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	query := func(q string) []any {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/api/v1/query?query=" + q)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var r struct {
			Status string
			Data   struct{ Result []any }
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil || r.Status != "success" {
			return nil
		}
		return r.Data.Result
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if res := query("hinv_ncpu"); len(res) == 1 {
			v := res[0].(map[string]any)["value"].([]any)[1]
			if v != strconv.Itoa(runtime.NumCPU()) {
				t.Fatalf("hinv_ncpu = %v", v)
			}
			if load := query("kernel_all_load"); len(load) != 3 {
				t.Fatalf("kernel_all_load: %v", load)
			}
			if up := query(`up{job="proxyd"}`); len(up) != 1 || up[0].(map[string]any)["value"].([]any)[1] != "1" {
				t.Fatalf("up: %v", up)
			}
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("Prometheus did not store hinv_ncpu within 60s; its log:\n%s\nproxyd:\n%s", logs.String(), px.logs)
}

// TestSIGTERM: the built daemon finishes an in-flight request and exits 0 on
// SIGTERM.
func TestSIGTERM(t *testing.T) {
	bin := build(t, "github.com/gopcp/gopcp/proxyd")
	col := ptest.StartCollector(t, nil)
	slow := ptest.SlowForwarder(t, col.Addr, 100*time.Millisecond)
	cfg := writeFile(t, "empty.toml", "")
	cmd := exec.Command(bin, "--config", cfg, "-p", "0", "-i", "127.0.0.1", "--allow", "127.0.0.1")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var logs syncBuffer
	addrc := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`msg="proxyd listening" addr=(\S+)`)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(10 * time.Second):
		t.Fatalf("no listening line:\n%s", logs.String())
	}
	status := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/pmapi/fetch?names=hinv.ncpu,kernel.all.load&hostspec=127.0.0.1:" + strconv.Itoa(slow))
		if err != nil {
			status <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	time.Sleep(150 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	if s := <-status; s != 200 {
		t.Errorf("in-flight request: status %d", s)
	}
	done := make(chan error, 1)
	// Wait closes stderr: read it to the end (the process's exit) first, or
	// the last lines ("proxyd stopped") may be lost.
	go func() { <-scanned; done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("did not exit:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "proxyd stopped") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

// TestTLSFromFlagsAndConfig drives the TLS options end to end: proxyd's identity
// from a password-protected store (-C -M -P) with -Q for HTTPS clients, and its
// client identity towards a collector that requires certificates, from a
// [[collector]] entry of the configuration file.
func TestTLSFromFlagsAndConfig(t *testing.T) {
	pki := ptest.NewPKI(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "proxyd-db")
	st, err := store.CreateWith(db, []byte("s3cret"), store.CreateOptions{TestOnlyFastKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddCert("test CA", pki.CA.Cert, store.MustParseTrust("CT,,")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddIdentity("proxyd", pki.Server.Cert, pki.Server.Key, store.Trust{}); err != nil {
		t.Fatal(err)
	}
	pass := writeFile(t, "pass", "s3cret\n")
	col := ptest.StartCollector(t, func(s *server.Server) {
		cfg := pki.ServerTLS(t, true)
		s.TLSConfig = func() *tls.Config { return cfg }
		s.RequireClientCert = true
	})
	cfg := writeFile(t, "proxyd.toml", fmt.Sprintf(`
[[collector]]
host = "127.0.0.1"
port = %d
secure = "enforce"
cert_db = %q
nickname = %q
`, col.Port, pki.ClientStore, ptest.ClientNick))
	if _, errOut, code := runCLI("--config", cfg, "-C", db, "-M", "proxyd", "-P", writeFile(t, "wrong", "nope"), "--check-config"); code != 2 || !strings.Contains(errOut, "TLS identity") {
		t.Fatalf("wrong password: exit %d %q", code, errOut)
	}
	px := startMain(t, "--config", cfg, "-C", db, "-M", "proxyd", "-P", pass, "-Q")
	u := "https://" + px.addr + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(true)}}
	resp, err := withCert.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"name":"hinv.ncpu"`) {
		t.Fatalf("HTTPS to a -Q collector: %d %s", resp.StatusCode, body)
	}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(false)}}
	if resp, err := anon.Get(u); err == nil {
		resp.Body.Close()
		t.Fatalf("HTTPS without a client certificate: %d", resp.StatusCode)
	}
	if !strings.Contains(px.logs.String(), "TLS identity loaded") {
		t.Errorf("logs:\n%s", px.logs)
	}
}
