package httpapi_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/pmapi/pmapitest"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
	"github.com/gopcp/gopcp/proxyd/upstream"
)

// start serves the API over httptest against our in-process collector.
func start(t *testing.T, tweak func(*httpapi.Config)) (*httptest.Server, *ptest.Collector, *httpapi.API) {
	t.Helper()
	col := ptest.StartCollector(t, nil)
	policy, _ := upstream.NewPolicy([]string{"127.0.0.1"}, true) // the collectors are on ephemeral ports
	// No global derived metrics unless a test gives them (withDerived): the
	// machine's configuration directory must not change what these tests see.
	cfg := httpapi.Config{Policy: policy, Derived: pmapi.NewDerivedSet()}
	if tweak != nil {
		tweak(&cfg)
	}
	api := httpapi.New(cfg)
	ts := httptest.NewServer(api)
	t.Cleanup(func() { ts.Close(); api.Close() })
	return ts, col, api
}

type reply struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, u string) reply {
	t.Helper()
	return do(t, http.MethodGet, u)
}

func do(t *testing.T, method, u string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// getJSON fetches and decodes a JSON object; want is the expected status.
func getJSON(t *testing.T, u string, want int) map[string]any {
	t.Helper()
	r := get(t, u)
	if r.status != want {
		t.Fatalf("GET %s: status %d, want %d: %s", u, r.status, want, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: content type %q", u, ct)
	}
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("GET %s: no CORS header", u)
	}
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(r.body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("GET %s: not JSON: %v\n%s", u, err, r.body)
	}
	return m
}

// keys checks an object has exactly the given keys.
func keys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: keys %v, want %v", what, got, want)
	}
}

func num(t *testing.T, v any) float64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	f, _ := n.Float64()
	return f
}

var sha1RE = regexp.MustCompile(`^[0-9a-f]{40}$`)

func TestContext(t *testing.T) {
	ts, col, api := start(t, nil)
	u := ts.URL + "/pmapi/context?hostspec=" + col.Addr + "&client=probe%221"
	m := getJSON(t, u, 200)
	keys(t, "context", m, "context", "client", "source", "hostspec", "labels")
	if m["client"] != `probe"1` {
		t.Errorf("client %v", m["client"])
	}
	id := num(t, m["context"])
	if id <= 0 || id > 0x7fffffff {
		t.Errorf("context %v", id)
	}
	labels := m["labels"].(map[string]any)
	if _, ok := labels["hostname"]; !ok {
		t.Errorf("labels %v", labels)
	}
	// source is the SHA-1 of the identifying context labels, as pmproxy computes it.
	raw := get(t, ts.URL+"/pmapi/context?hostspec="+col.Addr).body
	lab := regexp.MustCompile(`"labels":(\{[^}]*\})`).FindStringSubmatch(raw)[1]
	sum := sha1.Sum([]byte(`{"series":"source","labels":` + lab + `}`))
	if src := regexp.MustCompile(`"source":"([0-9a-f]+)"`).FindStringSubmatch(raw)[1]; src != hex.EncodeToString(sum[:]) {
		t.Errorf("source %s, want sha1 of %s", src, lab)
	}
	if m["hostspec"] != labels["hostname"] {
		t.Errorf("hostspec %v, labels %v", m["hostspec"], labels)
	}

	// The context number works in the path and as a parameter, and expires.
	ctx := strconv.FormatFloat(id, 'f', 0, 64)
	f := getJSON(t, ts.URL+"/pmapi/"+ctx+"/fetch?names=hinv.ncpu", 200)
	if num(t, f["context"]) != id {
		t.Errorf("fetch through /pmapi/N: context %v", f["context"])
	}
	getJSON(t, ts.URL+"/pmapi/fetch?context="+ctx+"&names=hinv.ncpu", 200)
	e := getJSON(t, ts.URL+"/pmapi/42/fetch?names=hinv.ncpu", 400)
	keys(t, "unknown context", e, "context", "message", "success")
	if e["message"] != "unknown context identifier: 42" || e["success"] != false {
		t.Errorf("unknown context: %v", e)
	}
	short := getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout=0.1", 200)
	time.Sleep(250 * time.Millisecond)
	getJSON(t, ts.URL+"/pmapi/"+strconv.FormatFloat(num(t, short["context"]), 'f', 0, 64)+"/context", 400)
	getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout=soon", 400)
	if api.Contexts() == 0 {
		t.Error("no live contexts")
	}
}

func TestMetric(t *testing.T) {
	ts, col, _ := start(t, nil)
	base := ts.URL + "/pmapi/metric?hostspec=" + col.Addr
	m := getJSON(t, base+"&names=kernel.all.load,hinv.ncpu", 200)
	keys(t, "metric", m, "context", "metrics")
	ms := m["metrics"].([]any)
	if len(ms) != 2 {
		t.Fatalf("metrics: %v", ms)
	}
	load, ncpu := ms[0].(map[string]any), ms[1].(map[string]any)
	keys(t, "kernel.all.load", load, "name", "series", "pmid", "indom", "type", "sem", "units", "labels", "text-oneline", "text-help")
	keys(t, "hinv.ncpu", ncpu, "name", "series", "pmid", "type", "sem", "units", "labels", "text-oneline", "text-help")
	want := map[string]string{"name": "kernel.all.load", "pmid": "60.2.0", "indom": "60.2", "type": "float", "sem": "instant", "units": "none",
		"text-oneline": "run queue length averaged over 1, 5 and 15 minutes"}
	for k, v := range want {
		if load[k] != v {
			t.Errorf("kernel.all.load %s = %v, want %q", k, load[k], v)
		}
	}
	if ncpu["type"] != "u32" || ncpu["sem"] != "discrete" || ncpu["pmid"] != "60.0.32" {
		t.Errorf("hinv.ncpu: %v", ncpu)
	}
	if !sha1RE.MatchString(load["series"].(string)) {
		t.Errorf("series %v", load["series"])
	}
	if l := load["labels"].(map[string]any); l["agent"] != "linux" || l["hostname"] == nil {
		t.Errorf("labels %v", l)
	}

	// A prefix expands to its leaves; units print as pmUnitsStr does.
	m = getJSON(t, base+"&prefix=kernel.all.cpu", 200)
	ms = m["metrics"].([]any)
	if len(ms) < 5 {
		t.Fatalf("prefix: %d metrics", len(ms))
	}
	for _, x := range ms {
		x := x.(map[string]any)
		if !strings.HasPrefix(x["name"].(string), "kernel.all.cpu.") || x["units"] != "millisec" || x["sem"] != "counter" {
			t.Errorf("prefix member %v", x)
		}
	}
	// Everything, when nothing is named.
	if all := getJSON(t, base, 200)["metrics"].([]any); len(all) < 50 {
		t.Errorf("whole namespace: %d metrics", len(all))
	}

	e := getJSON(t, base+"&names=nonexist.foo", 400)
	if e["message"] != "nonexist.foo traversal failed - Unknown metric name" {
		t.Errorf("unknown: %v", e)
	}
	m = getJSON(t, base+"&names=hinv.ncpu,nonexist.foo", 200)
	ms = m["metrics"].([]any)
	if len(ms) != 2 {
		t.Fatalf("mixed: %v", ms)
	}
	keys(t, "failed name", ms[1].(map[string]any), "name", "message", "success")
	m = getJSON(t, base+"&pmids=60.0.32", 200)
	if ms = m["metrics"].([]any); len(ms) != 1 || ms[0].(map[string]any)["name"] != "hinv.ncpu" {
		t.Errorf("by pmid: %v", ms)
	}
	// An empty element is not the whole namespace.
	if ms = getJSON(t, base+"&names=hinv.ncpu,,", 200)["metrics"].([]any); len(ms) != 1 {
		t.Errorf("trailing commas: %d metrics", len(ms))
	}
}

func TestFetch(t *testing.T) {
	ts, col, _ := start(t, nil)
	base := ts.URL + "/pmapi/fetch?hostspec=" + col.Addr
	before := time.Now()
	m := getJSON(t, base+"&names=kernel.all.load,hinv.ncpu,nonexist.foo,kernel.uname.release", 200)
	keys(t, "fetch", m, "context", "timestamp", "values")
	if ts := num(t, m["timestamp"]); ts < float64(before.Unix()-1) || ts > float64(time.Now().Unix()+1) {
		t.Errorf("timestamp %v", ts)
	}
	vs := m["values"].([]any)
	if len(vs) != 3 {
		t.Fatalf("values (unknown names are left out): %v", vs)
	}
	load := vs[0].(map[string]any)
	keys(t, "value set", load, "pmid", "name", "instances")
	if load["pmid"] != "60.2.0" || load["name"] != "kernel.all.load" {
		t.Errorf("load %v", load)
	}
	var ids []float64
	for _, in := range load["instances"].([]any) {
		in := in.(map[string]any)
		keys(t, "instance", in, "instance", "value")
		ids = append(ids, num(t, in["instance"]))
		num(t, in["value"])
	}
	if !slices.Equal(ids, []float64{1, 5, 15}) {
		t.Errorf("load instances %v", ids)
	}
	ncpu := vs[1].(map[string]any)["instances"].([]any)[0].(map[string]any)
	if ncpu["instance"] != nil || num(t, ncpu["value"]) != float64(runtime.NumCPU()) {
		t.Errorf("hinv.ncpu %v", ncpu)
	}
	if rel := vs[2].(map[string]any)["instances"].([]any)[0].(map[string]any)["value"]; rel == "" || rel == nil {
		t.Errorf("kernel.uname.release %v", rel)
	} else if _, ok := rel.(string); !ok {
		t.Errorf("kernel.uname.release is not a string: %T", rel)
	}
	m = getJSON(t, base+"&pmids=60.0.32,60.2.0", 200)
	if vs = m["values"].([]any); len(vs) != 2 || vs[0].(map[string]any)["name"] != "hinv.ncpu" {
		t.Errorf("by pmid: %v", vs)
	}
	m = getJSON(t, base+"&names=nonexist.foo", 200)
	if vs = m["values"].([]any); len(vs) != 0 {
		t.Errorf("unknown only: %v", vs)
	}
	getJSON(t, base, 400)
}

func TestInDom(t *testing.T) {
	ts, col, _ := start(t, nil)
	base := ts.URL + "/pmapi/indom?hostspec=" + col.Addr
	m := getJSON(t, base+"&name=kernel.all.load", 200)
	keys(t, "indom", m, "context", "indom", "labels", "text-oneline", "text-help", "instances")
	if m["indom"] != "60.2" {
		t.Errorf("indom %v", m["indom"])
	}
	names := func(m map[string]any) []string {
		var n []string
		for _, in := range m["instances"].([]any) {
			in := in.(map[string]any)
			keys(t, "instance", in, "instance", "name", "labels")
			n = append(n, in["name"].(string))
		}
		return n
	}
	if got := names(m); !slices.Equal(got, []string{"1 minute", "5 minute", "15 minute"}) {
		t.Errorf("instances %v", got)
	}
	if got := names(getJSON(t, base+"&indom=60.2&instance=15,1", 200)); !slices.Equal(got, []string{"1 minute", "15 minute"}) {
		t.Errorf("by id: %v", got)
	}
	if got := names(getJSON(t, base+"&indom=60.2&iname="+url.QueryEscape("5 minute"), 200)); !slices.Equal(got, []string{"5 minute"}) {
		t.Errorf("by name: %v", got)
	}
	if got := names(getJSON(t, base+"&indom=60.2&match=glob&iname=1*", 200)); !slices.Equal(got, []string{"1 minute", "15 minute"}) {
		t.Errorf("glob: %v", got)
	}
	if got := names(getJSON(t, base+"&indom=60.2&match=regex&iname=^5", 200)); !slices.Equal(got, []string{"5 minute"}) {
		t.Errorf("regex: %v", got)
	}
	if e := getJSON(t, base+"&indom=60.2&match=fuzzy", 400); e["message"] != "fuzzy - invalid 'match' parameter value" {
		t.Errorf("bad match: %v", e)
	}
	if e := getJSON(t, base+"&name=hinv.ncpu", 400); e["message"] != "hinv.ncpu - metric has null indom" {
		t.Errorf("null indom: %v", e)
	}
	if e := getJSON(t, base+"&name=nonexist.x", 400); e["message"] != "nonexist.x - failed to lookup metric" {
		t.Errorf("unknown metric: %v", e)
	}
	if got := getJSON(t, base+"&indom=60.999", 200)["instances"].([]any); len(got) != 0 {
		t.Errorf("unknown indom: %v", got)
	}
	getJSON(t, base, 400)
}

func TestChildren(t *testing.T) {
	ts, col, _ := start(t, nil)
	base := ts.URL + "/pmapi/children?hostspec=" + col.Addr
	m := getJSON(t, base+"&prefix=kernel.all", 200)
	keys(t, "children", m, "context", "name", "leaf", "nonleaf")
	has := func(list any, s string) bool {
		for _, x := range list.([]any) {
			if x == s {
				return true
			}
		}
		return false
	}
	if m["name"] != "kernel.all" || !has(m["leaf"], "load") || !has(m["nonleaf"], "cpu") || has(m["leaf"], "cpu") {
		t.Errorf("children %v", m)
	}
	root := getJSON(t, base, 200)
	if root["name"] != "" || !has(root["nonleaf"], "kernel") || !has(root["nonleaf"], "hinv") {
		t.Errorf("root %v", root)
	}
	leaf := getJSON(t, base+"&name=hinv.ncpu", 200)
	if len(leaf["leaf"].([]any))+len(leaf["nonleaf"].([]any)) != 0 {
		t.Errorf("a leaf has no children: %v", leaf)
	}
	if e := getJSON(t, base+"&prefix=nonexist", 400); e["message"] != "child traversal failed - Unknown metric name" {
		t.Errorf("unknown: %v", e)
	}
}

// parseMetrics checks the text parses as Prometheus text with expfmt.
func parseMetrics(t *testing.T, body string) map[string]*familyView {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("expfmt: %v", err)
	}
	out := map[string]*familyView{}
	for name, f := range fams {
		fv := &familyView{typ: f.GetType().String(), help: f.GetHelp()}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			fv.labels = append(fv.labels, l)
			fv.stamps = append(fv.stamps, m.GetTimestampMs())
		}
		out[name] = fv
	}
	return out
}

type familyView struct {
	typ, help string
	labels    []map[string]string
	stamps    []int64
}

func TestMetrics(t *testing.T) {
	// This test is about what a scrape of everything (no names) holds, so it
	// makes one: cold, with proc.* for every process on the host, 2-6 MB. Its
	// cost follows the host's process count and load, which the test does not
	// control; under -race on a loaded 2-CPU machine it took 9.5 s of the
	// default 10 s request timeout. The timeout is raised so that the test
	// stays one of content, not of speed; TestCollectorFailures checks the 504
	// of a scrape that outlasts it.
	ts, col, _ := start(t, func(c *httpapi.Config) { c.RequestTimeout = 2 * time.Minute })
	r := get(t, ts.URL+"/metrics?hostspec="+col.Addr)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d %q: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	fams := parseMetrics(t, r.body)
	if len(fams) < 50 {
		t.Fatalf("%d families", len(fams))
	}
	load := fams["kernel_all_load"]
	if load == nil || load.typ != "GAUGE" || load.help != "run queue length averaged over 1, 5 and 15 minutes" || len(load.labels) != 3 {
		t.Fatalf("kernel_all_load %+v", load)
	}
	for _, l := range load.labels {
		if l["instname"] == "" || l["instid"] == "" || l["hostname"] == "" || l["agent"] != "" {
			t.Errorf("load labels %v", l)
		}
	}
	if f := fams["kernel_all_cpu_user"]; f == nil || f.typ != "COUNTER" {
		t.Errorf("kernel_all_cpu_user %+v", f)
	}
	if fams["kernel_uname_release"] != nil {
		t.Error("string metrics have no OpenMetrics form")
	}
	for name := range fams {
		if !model.LegacyValidation.IsValidMetricName(name) {
			t.Errorf("metric name %q", name)
		}
	}
	if !strings.Contains(r.body, "# PCP5 kernel.all.load 60.2.0 float 60.2 instant none\n# HELP kernel_all_load ") {
		t.Errorf("no PCP5 line:\n%.500s", r.body)
	}

	// Narrowed, through /pmapi/metrics, with timestamps.
	r = get(t, ts.URL+"/pmapi/metrics?hostspec="+col.Addr+"&names=kernel.all.load,hinv.ncpu&times=true")
	fams = parseMetrics(t, r.body)
	if len(fams) != 2 || fams["hinv_ncpu"] == nil || fams["hinv_ncpu"].stamps[0] < time.Now().Add(-time.Minute).UnixMilli() {
		t.Errorf("narrowed: %v\n%s", fams, r.body)
	}
	if r := get(t, ts.URL+"/metrics?hostspec="+col.Addr+"&names=nonexist"); r.status != 400 {
		t.Errorf("unknown name: %d %s", r.status, r.body)
	}
}

// silentCollector greets (or not) and then never answers.
func silentCollector(t *testing.T, greet bool) int {
	t.Helper()
	s := pmapitest.Serve(t, func(c *protocol.Conn) {
		if greet {
			c.Write(protocol.Greeting(0, protocol.FeatureHighres|protocol.FeatureDescs|protocol.FeatureLabels))
		}
		io.Copy(io.Discard, c.Conn)
	})
	return s.Port
}

func TestCollectorFailures(t *testing.T) {
	ts, col, _ := start(t, func(c *httpapi.Config) {
		c.RequestTimeout = 400 * time.Millisecond
		c.ConnectTimeout = 400 * time.Millisecond
	})
	down, _ := net.Listen("tcp", "127.0.0.1:0")
	downPort := down.Addr().(*net.TCPAddr).Port
	down.Close()
	cases := []struct {
		name, path string
		status     int
		message    string
	}{
		// Before a valid greeting, every failure is the same answer (see
		// TestNotCollectorIndistinguishable).
		{"down", "/pmapi/fetch?names=hinv.ncpu&hostspec=127.0.0.1:" + strconv.Itoa(downPort), 502, "not a PCP collector"},
		{"never greets", "/pmapi/context?hostspec=127.0.0.1:" + strconv.Itoa(silentCollector(t, false)), 502, "not a PCP collector"},
		{"never answers", "/pmapi/fetch?names=hinv.ncpu&hostspec=127.0.0.1:" + strconv.Itoa(silentCollector(t, true)), 504, "timeout waiting for PMCD"},
		{"scrape never answers", "/metrics?hostspec=127.0.0.1:" + strconv.Itoa(silentCollector(t, true)), 504, "timeout waiting for PMCD"},
		{"not allowed", "/pmapi/context?hostspec=192.0.2.1:44321", 403, "not allowed by proxyd's allow list"},
		{"local socket", "/pmapi/context?hostspec=local:", 400, "unix socket"},
		{"through a proxy", "/pmapi/context?hostspec=" + col.Addr + "@127.0.0.1:44322", 400, "names a proxy"},
		{"bad spec", "/pmapi/context?hostspec=host:port", 400, "invalid host spec"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			m := getJSON(t, ts.URL+c.path, c.status)
			delete(m, "context") // present once a context exists
			keys(t, "error", m, "message", "success")
			if !strings.Contains(m["message"].(string), c.message) || m["success"] != false {
				t.Errorf("got %v, want message containing %q", m, c.message)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	ts, col, _ := start(t, func(c *httpapi.Config) { c.MaxBodyBytes = 100 })
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/", 404}, {"GET", "/pmapi/nothing", 404}, {"GET", "/pmapi/_fetch?names=x", 501},
		{"GET", "/pmapi/store?name=x&value=1", 501}, {"GET", "/pmapi/12x/fetch", 404},
		{"DELETE", "/pmapi/context", 405}, {"PUT", "/metrics", 405},
	} {
		r := do(t, c.method, ts.URL+c.path)
		if r.status != c.status || !strings.Contains(r.body, `"success":false`) {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	r := do(t, "OPTIONS", ts.URL+"/pmapi/fetch")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Methods") == "" {
		t.Errorf("OPTIONS: %d %v", r.status, r.header)
	}
	r = do(t, "HEAD", ts.URL+"/pmapi/context?hostspec="+col.Addr)
	if r.status != 200 || r.body != "" || r.header.Get("Content-Length") == "" {
		t.Errorf("HEAD: %d %q", r.status, r.body)
	}
	resp, err := http.Post(ts.URL+"/pmapi/fetch?names=hinv.ncpu&hostspec="+col.Addr, "text/plain", strings.NewReader(strings.Repeat("x", 200)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("big body: %d", resp.StatusCode)
	}
}

func TestPoolAndRestart(t *testing.T) {
	ts, col, _ := start(t, nil)
	u := ts.URL + "/pmapi/fetch?names=hinv.ncpu&hostspec=" + col.Addr
	for range 20 {
		getJSON(t, u, 200)
	}
	if n := col.Server.NumClients(); n > httpapi.DefaultMaxIdlePerCollector {
		t.Errorf("%d connections to the collector after 20 sequential requests", n)
	}
	// The collector restarts: the pooled connections are dead, requests still work.
	col.Server.Close()
	ptest.StartCollectorAt(t, col.Addr, nil)
	getJSON(t, u, 200)
	if r := get(t, ts.URL+"/metrics?names=hinv.ncpu&hostspec="+col.Addr); r.status != 200 {
		t.Errorf("metrics after restart: %d %s", r.status, r.body)
	}
}

// TestBounds: contexts and collectors are bounded, least recently used first out.
func TestBounds(t *testing.T) {
	ts, col, api := start(t, func(c *httpapi.Config) { c.MaxContexts = 2; c.MaxCollectors = 2 })
	port := strconv.Itoa(col.Port)
	var ids []string
	for _, spec := range []string{"127.0.0.1:" + port, "localhost:" + port, "pcp://127.0.0.1:" + port} {
		m := getJSON(t, ts.URL+"/pmapi/context?polltimeout=60&hostspec="+url.QueryEscape(spec), 200)
		ids = append(ids, strconv.FormatFloat(num(t, m["context"]), 'f', 0, 64))
	}
	if n := api.Contexts(); n != 2 {
		t.Errorf("%d contexts, want 2", n)
	}
	getJSON(t, ts.URL+"/pmapi/"+ids[0]+"/fetch?names=hinv.ncpu", 400) // evicted
	for _, id := range ids[1:] {
		// Still usable, though the first one's collector was dropped meanwhile.
		getJSON(t, ts.URL+"/pmapi/"+id+"/fetch?names=hinv.ncpu", 200)
	}
}

// TestConcurrent: requests of every kind at once share the pool and the caches.
func TestConcurrent(t *testing.T) {
	// The request timeout is raised so that this stays a test of sharing, not of
	// speed: with the metadata expiring at once every scrape is a cold one, and
	// cold scrapes of collectord's whole namespace (thousands of descriptor,
	// help and label requests) outlasted the default 10 s under -race on a
	// loaded machine. /metrics asks for a few subtrees, which still span several
	// domains and instance domains, to keep the run short.
	ts, col, _ := start(t, func(c *httpapi.Config) {
		c.MetadataTTL = 20 * time.Millisecond
		c.RequestTimeout = 2 * time.Minute
	})
	paths := []string{"/metrics?names=kernel,hinv,mem,disk", "/pmapi/fetch?names=kernel.all.load,hinv.ncpu", "/pmapi/metric?prefix=kernel.all",
		"/pmapi/indom?name=kernel.all.load", "/pmapi/children?prefix=kernel", "/pmapi/context"}
	errs := make(chan string, 64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				p := paths[(g+i)%len(paths)]
				sep := "?"
				if strings.Contains(p, "?") {
					sep = "&"
				}
				resp, err := http.Get(ts.URL + p + sep + "hostspec=" + col.Addr)
				if err != nil {
					errs <- err.Error()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- p + ": " + resp.Status
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
