package httpapi_test

import (
	"crypto/md5"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopcp/gopcp/internal/syncbuf"
	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/proxyd/httpapi"
)

// withDerived gives the API a global derived set from config text (as the
// default configuration directory would), independent of the machine's files.
func withDerived(t *testing.T, config string) func(*httpapi.Config) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "derived.conf")
	if err := os.WriteFile(f, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	set := pmapi.NewDerivedSet()
	set.LoadConfig(f, nil)
	return func(c *httpapi.Config) { c.Derived = set }
}

func ctxID(t *testing.T, m map[string]any) string {
	t.Helper()
	return strconv.FormatFloat(num(t, m["context"]), 'f', 0, 64)
}

// fetchValues returns name -> values (nil when the metric has no instances).
func fetchValues(t *testing.T, m map[string]any) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	for _, v := range m["values"].([]any) {
		vs := v.(map[string]any)
		var vals []any
		for _, in := range vs["instances"].([]any) {
			vals = append(vals, in.(map[string]any)["value"])
		}
		out[vs["name"].(string)] = vals
	}
	return out
}

// TestDeriveGrafanaVector plays grafana-pcp's Vector data source: a context,
// every expression that is not a plain metric name defined through
// /pmapi/derive under a generated name, the name described, then fetched at
// each refresh (rate() has a value from the second fetch on).
func TestDeriveGrafanaVector(t *testing.T) {
	ts, col, _ := start(t, withDerived(t, ""))
	ctx := getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout=30", 200)
	id := ctxID(t, ctx)
	expr := "rate(kernel.all.cpu.user) / hinv.ncpu"
	sum := md5.Sum([]byte(expr))
	name := "derived_" + hex.EncodeToString(sum[:])
	d := getJSON(t, ts.URL+"/pmapi/derive?context="+id+"&expr="+url.QueryEscape(expr)+"&name="+name, 200)
	if d["success"] != true || ctxID(t, d) != id {
		t.Fatalf("derive: %v", d)
	}
	// The dashboard refreshes: the same definition again is refused, the
	// earlier one stays.
	if e := getJSON(t, ts.URL+"/pmapi/derive?context="+id+"&expr="+url.QueryEscape(expr)+"&name="+name, 400); !strings.Contains(e["message"].(string), "Duplicate per-context derived metric name") {
		t.Errorf("second derive: %v", e)
	}
	m := getJSON(t, ts.URL+"/pmapi/"+id+"/metric?names="+name, 200)
	md := m["metrics"].([]any)[0].(map[string]any)
	if md["name"] != name || md["pmid"] != "511.2047.1023" || md["type"] != "double" || md["sem"] != "instant" ||
		md["text-oneline"] != "" || md["text-help"] != "" {
		t.Errorf("metric: %v", md)
	}
	first := fetchValues(t, getJSON(t, ts.URL+"/pmapi/"+id+"/fetch?names="+name+",hinv.ncpu", 200))
	if vals, ok := first[name]; !ok || len(vals) != 0 || len(first["hinv.ncpu"]) != 1 {
		t.Errorf("first fetch: rate() has no value yet: %v", first)
	}
	second := fetchValues(t, getJSON(t, ts.URL+"/pmapi/"+id+"/fetch?names="+name, 200))
	if vals := second[name]; len(vals) != 1 {
		t.Fatalf("second fetch: %v", second)
	} else if f := num(t, vals[0]); f < 0 {
		t.Errorf("second fetch: value %v", f)
	}
	// Another context does not see the name; it is this context's.
	other := getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr, 200)
	if e := getJSON(t, ts.URL+"/pmapi/"+ctxID(t, other)+"/metric?names="+name, 400); !strings.Contains(e["message"].(string), "Unknown metric name") {
		t.Errorf("other context: %v", e)
	}
	if f := fetchValues(t, getJSON(t, ts.URL+"/pmapi/"+ctxID(t, other)+"/fetch?names="+name, 200)); len(f) != 0 {
		t.Errorf("other context fetched %v", f)
	}
}

// TestDeriveErrors: refusals carry libpcp's messages with pmproxy's statuses,
// bad values never break the server, and the context still works after.
func TestDeriveErrors(t *testing.T) {
	ts, col, _ := start(t, withDerived(t, ""))
	id := ctxID(t, getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout=30", 200))
	base := ts.URL + "/pmapi/" + id + "/derive?"
	for _, c := range []struct{ query, msg string }{
		{"name=a.b&expr=" + url.QueryEscape("hinv.ncpu+"),
			"Syntax Error: pmAddDerivedMetric(\"a.b\", ...)\nhinv.ncpu+\n         ^\nArithmetic expression expected to follow PLUS\n"},
		{"name=a.b&expr=", "Syntax Error: pmAddDerivedMetric(\"a.b\", ...)\n\n ^\n"},
		{"name=a.c&expr=" + url.QueryEscape("(hinv.ncpu"),
			"Syntax Error: pmAddDerivedMetric(\"a.c\", ...)\n(hinv.ncpu\n         ^\nUnexpected initial '('\n"},
		{"name=a.d&expr=" + url.QueryEscape("hinv.ncpu + kernel.all.cpu.user"),
			"Semantic Error: pmAddDerivedMetric(\"a.d\", ...)\nhinv.ncpu + kernel.all.cpu.user\n^\nIllegal operator for non-counter and counter\n"},
		// a semantic error keeps the name
		{"name=a.d&expr=hinv.ncpu", "Error: pmAddDerivedMetric(\"a.d\", ...): returns -12409\nDuplicate per-context derived metric name\n"},
		{"name=x", "invalid derive parameters"},
		{"", "invalid derive parameters"},
		{"expr=" + url.QueryEscape("q.a = hinv.ncpu"), "failed to parse derived metric \"q.a\" on line 0 - incomplete expression\n"},
		{"expr=" + url.QueryEscape("# c\nq.b = hinv.ncpu\nq.c = hinv.ncpu @\n"),
			"failed to create derived metric \"q.c\" on line 2 from: hinv.ncpu @\nSyntax Error: pmAddDerivedMetric(\"q.c\", ...)\nhinv.ncpu @\n          ^\nIllegal character\n"},
	} {
		e := getJSON(t, base+c.query, 400)
		if e["message"] != c.msg || ctxID(t, e) != id {
			t.Errorf("%s:\n got %q\nwant %q", c.query, e["message"], c.msg)
		}
	}
	// Missing operands and division by zero are defined without complaint; the
	// first is then unknown, the second has no finite value (JSON null:
	// pmproxy writes a bare inf, which no JSON parser accepts).
	for _, q := range []string{"name=z.missing&expr=nonexist.foo*2", "name=z.div&expr=hinv.ncpu/0", "name=z.nan&expr=0/0",
		"name=z.self&expr=z.self*2", "name=hinv.ncpu&expr=hinv.ncpu*7"} {
		getJSON(t, base+q, 200)
	}
	m := getJSON(t, ts.URL+"/pmapi/"+id+"/metric?names=z.missing,z.div,q.b,hinv.ncpu", 200)["metrics"].([]any)
	if m[0].(map[string]any)["message"] != "Unknown metric name" || m[1].(map[string]any)["pmid"] == nil ||
		m[2].(map[string]any)["pmid"] == nil || m[3].(map[string]any)["pmid"] != "60.0.32" {
		t.Errorf("metric: %v", m)
	}
	f := fetchValues(t, getJSON(t, ts.URL+"/pmapi/"+id+"/fetch?names=z.div,z.nan,z.missing,hinv.ncpu", 200))
	if len(f["z.div"]) != 1 || f["z.div"][0] != nil || len(f["z.nan"]) != 1 || len(f["hinv.ncpu"]) != 1 {
		t.Errorf("fetch: %v", f)
	}
	if _, ok := f["z.missing"]; ok {
		t.Errorf("fetch of an unknown name: %v", f)
	}
	// The context's own names are in its children.
	ch := getJSON(t, ts.URL+"/pmapi/"+id+"/children?prefix=z", 200)
	if leaf := ch["leaf"].([]any); len(leaf) != 2 || leaf[0] != "div" || leaf[1] != "nan" {
		t.Errorf("children: %v", ch)
	}
}

// TestDerivePost: a POST body is the expression (configuration mode without a
// name), and hostile bodies get an answer, not a crash.
func TestDerivePost(t *testing.T) {
	ts, col, _ := start(t, withDerived(t, ""))
	id := ctxID(t, getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout=30", 200))
	post := func(query, body string) (int, string) {
		resp, err := http.Post(ts.URL+"/pmapi/"+id+"/derive"+query, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 4096)
		n, _ := resp.Body.Read(b)
		return resp.StatusCode, string(b[:n])
	}
	if st, b := post("", "p.a = hinv.ncpu * 4\np.b=hinv.ncpu;p.c = hinv.ncpu&"); st != 200 {
		t.Fatalf("POST: %d %s", st, b)
	}
	if st, b := post("?name=p.d", "hinv.ncpu*2"); st != 200 {
		t.Fatalf("POST with name: %d %s", st, b)
	}
	f := fetchValues(t, getJSON(t, ts.URL+"/pmapi/"+id+"/fetch?names=p.a,p.b,p.c,p.d,hinv.ncpu", 200))
	n := num(t, f["hinv.ncpu"][0])
	if num(t, f["p.a"][0]) != 4*n || num(t, f["p.b"][0]) != n || num(t, f["p.c"][0]) != n || num(t, f["p.d"][0]) != 2*n {
		t.Errorf("values: %v", f)
	}
	for _, body := range []string{"=\n", "\x00\xff = \x1b[31m\n", strings.Repeat("(", 5000) + "\n", "a=b=c=;", "#", "   \n\n"} {
		if st, b := post("", body); st != 200 && st != 400 {
			t.Errorf("body %q: %d %s", body, st, b)
		}
	}
}

// TestDeriveGlobal: the global set (the default configuration directory in
// proxyd) is in every context, with its help text, in /pmapi/metric,
// /pmapi/children and /metrics; a context's own definition hides a global one
// of the same name in that context only.
func TestDeriveGlobal(t *testing.T) {
	ts, col, _ := start(t, withDerived(t, "g.ncpu2 = hinv.ncpu * 2\ng.ncpu2(oneline) = twice the CPUs\n"+
		"g.rate = rate(kernel.all.cpu.user)\ng.none = nonexist.foo\n"))
	h := "hostspec=" + col.Addr
	md := getJSON(t, ts.URL+"/pmapi/metric?"+h+"&names=g.ncpu2", 200)["metrics"].([]any)[0].(map[string]any)
	if md["pmid"] != "511.0.3" || md["text-oneline"] != "twice the CPUs" {
		t.Errorf("global metric: %v", md)
	}
	root := getJSON(t, ts.URL+"/pmapi/children?"+h, 200)
	if nl := root["nonleaf"].([]any); len(nl) < 3 || nl[len(nl)-2] != "event" || nl[len(nl)-1] != "g" {
		t.Errorf("root children: %v", nl)
	}
	r := get(t, ts.URL+"/metrics?"+h+"&names=g")
	if r.status != 200 || !strings.Contains(r.body, "# PCP5 g.ncpu2 511.0.3 u32 PM_INDOM_NULL discrete none\n") ||
		strings.Contains(r.body, "g_rate{") || strings.Contains(r.body, "g_none") {
		t.Errorf("/metrics:\n%s", r.body)
	}
	id := ctxID(t, getJSON(t, ts.URL+"/pmapi/context?"+h+"&polltimeout=30", 200))
	getJSON(t, ts.URL+"/pmapi/"+id+"/derive?name=g.ncpu2&expr=hinv.ncpu*3", 200)
	mine := fetchValues(t, getJSON(t, ts.URL+"/pmapi/"+id+"/fetch?names=g.ncpu2,hinv.ncpu", 200))
	other := fetchValues(t, getJSON(t, ts.URL+"/pmapi/fetch?"+h+"&names=g.ncpu2,hinv.ncpu", 200))
	n := num(t, mine["hinv.ncpu"][0])
	if num(t, mine["g.ncpu2"][0]) != 3*n || num(t, other["g.ncpu2"][0]) != 2*n {
		t.Errorf("hidden global: mine %v, other %v", mine, other)
	}
	// and the cached metadata of the collector still describes the global one
	md = getJSON(t, ts.URL+"/pmapi/metric?"+h+"&names=g.ncpu2", 200)["metrics"].([]any)[0].(map[string]any)
	if md["pmid"] != "511.0.3" {
		t.Errorf("after a private definition, another context sees %v", md)
	}
}

// TestDeriveConcurrent: requests of one context and of many contexts at once,
// each context defining its own metrics (run with -race).
func TestDeriveConcurrent(t *testing.T) {
	ts, col, _ := start(t, withDerived(t, "g.a = hinv.ncpu + 1\n"))
	var wg sync.WaitGroup
	shared := ctxID(t, getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout=30", 200))
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "c.m" + strconv.Itoa(i)
			for _, id := range []string{shared, ""} {
				u := ts.URL + "/pmapi/"
				if id != "" {
					u += id + "/"
				}
				r := get(t, u+"derive?hostspec="+col.Addr+"&name="+name+"&expr=hinv.ncpu*"+strconv.Itoa(i+1))
				if r.status != 200 {
					t.Errorf("%s: %d %s", name, r.status, r.body)
				}
				if id != "" {
					if r := get(t, u+"fetch?names="+name+",g.a"); r.status != 200 || !strings.Contains(r.body, name) {
						t.Errorf("fetch %s: %d %s", name, r.status, r.body)
					}
				}
			}
		}()
	}
	wg.Wait()
	ch := getJSON(t, ts.URL+"/pmapi/"+shared+"/children?prefix=c", 200)
	if len(ch["leaf"].([]any)) != 8 {
		t.Errorf("children: %v", ch)
	}
}

// TestDeriveOnDerived: a definition whose operand is another derived metric
// (global, or a context's own) is answered at once, as libpcp 6.0.3 answers it:
// it is defined, with the descriptor it derives from its operand, and it has no
// values (pmcd has no agent for the operand's PMID). It used to bind the
// operand under the lock it held, and the request hung.
func TestDeriveOnDerived(t *testing.T) {
	ts, col, _ := start(t, withDerived(t, "g.a = hinv.ncpu\ng.b = g.a * 2\n"))
	id := ctxID(t, getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout=30", 200))
	getJSON(t, ts.URL+"/pmapi/"+id+"/derive?name=c.a&expr=g.a*3", 200)
	f := fetchValues(t, getJSON(t, ts.URL+"/pmapi/"+id+"/fetch?names=g.b,g.a,c.a", 200))
	if b, ok := f["g.b"]; !ok || len(b) != 0 || len(f["g.a"]) != 1 {
		t.Errorf("fetch: %v", f)
	}
	if a, ok := f["c.a"]; !ok || len(a) != 0 {
		t.Errorf("fetch: %v", f)
	}
	m := getJSON(t, ts.URL+"/pmapi/"+id+"/metric?names=g.b,c.a", 200)
	if n := len(m["metrics"].([]any)); n != 2 {
		t.Errorf("metric: %v", m)
	}
}

// TestDeriveLimits: a client cannot make proxyd hold or parse without bound:
// one expression, one context's definitions and all contexts' together are
// limited, and an expired context gives its share back.
func TestDeriveLimits(t *testing.T) {
	ts, col, _ := start(t, func(c *httpapi.Config) {
		c.MaxDerivedBytes = 100 << 10
		withDerived(t, "")(c)
	})
	newCtx := func(poll string) string {
		return ctxID(t, getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout="+poll, 200))
	}
	post := func(id, body string) (int, string) {
		resp, err := http.Post(ts.URL+"/pmapi/"+id+"/derive", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	id := newCtx("30")
	// deep nesting: refused by size before the parser recurses
	deep := strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000)
	if st, b := post(id, "d.a = "+deep+"\n"); st != 400 || !strings.Contains(b, "exceeds proxyd's limit of 4096") {
		t.Errorf("deep: %d %.200s", st, b)
	}
	// one context: 1024 definitions, then a refusal naming the limit
	var cfg strings.Builder
	for i := range httpapi.MaxDerivedPerContext + 1 {
		cfg.WriteString("n.m" + strconv.Itoa(i) + " = 1;")
	}
	if st, b := post(id, cfg.String()); st != 400 || !strings.Contains(b, "already holds 1024 derived metrics") {
		t.Errorf("per context: %d %.300s", st, b)
	}
	if f := fetchValues(t, getJSON(t, ts.URL+"/pmapi/"+id+"/fetch?names=n.m1023", 200)); len(f["n.m1023"]) != 1 {
		t.Errorf("the first 1024 stay defined: %v", f)
	}
	// all contexts: big definitions until the budget is spent
	big := strings.Repeat("1+", 100) + "1" // 201 bytes
	body := func(prefix string, n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(prefix + strconv.Itoa(i) + " = " + big + "\n")
		}
		return b.String()
	}
	short := newCtx("2")
	if st, b := post(short, body("s.m", 300)); st != 200 {
		t.Fatalf("first 60 kB: %d %.300s", st, b)
	}
	other := newCtx("30")
	if st, b := post(other, body("o.m", 300)); st != 503 || !strings.Contains(b, "try again when contexts expire") {
		t.Errorf("over the budget: %d %.300s", st, b)
	}
	time.Sleep(2500 * time.Millisecond) // the first context expires
	third := newCtx("30")
	if st, b := post(third, body("t.m", 250)); st != 200 {
		t.Errorf("after expiry: %d %.300s", st, b)
	}
}

// TestDerivePrivateMetadata: two contexts give the same per-context PMID to
// different metrics; neither sees the other's names, help or labels through
// the collector's metadata cache (/pmapi/metric, /metrics).
func TestDerivePrivateMetadata(t *testing.T) {
	ts, col, _ := start(t, withDerived(t, ""))
	a := ctxID(t, getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout=30", 200))
	b := ctxID(t, getJSON(t, ts.URL+"/pmapi/context?hostspec="+col.Addr+"&polltimeout=30", 200))
	getJSON(t, ts.URL+"/pmapi/"+a+"/derive?name=x.y&expr=kernel.percpu.cpu.user", 200)
	getJSON(t, ts.URL+"/pmapi/"+b+"/derive?name=x.y&expr=network.interface.in.bytes", 200)
	ra := get(t, ts.URL+"/pmapi/"+a+"/metrics?names=x.y")
	rb := get(t, ts.URL+"/pmapi/"+b+"/metrics?names=x.y")
	if ra.status != 200 || rb.status != 200 || !strings.Contains(ra.body, `instname="cpu0"`) ||
		strings.Contains(rb.body, `instname="cpu`) || !strings.Contains(rb.body, `instname="lo"`) {
		t.Errorf("/metrics:\nA: %s\nB: %s", ra.body, rb.body)
	}
	ma := getJSON(t, ts.URL+"/pmapi/"+a+"/metric?names=x.y", 200)["metrics"].([]any)[0].(map[string]any)
	mb := getJSON(t, ts.URL+"/pmapi/"+b+"/metric?names=x.y", 200)["metrics"].([]any)[0].(map[string]any)
	if ma["pmid"] != "511.2047.1023" || mb["pmid"] != "511.2047.1023" || ma["indom"] == mb["indom"] || ma["units"] == mb["units"] {
		t.Errorf("metric:\nA: %v\nB: %v", ma, mb)
	}
}

// TestDeriveFromEnvironment: with no set given, the API loads the global set as
// libpcp does (PCP_DERIVED_CONFIG here), and a broken definition in it is one
// log record, not a failure.
func TestDeriveFromEnvironment(t *testing.T) {
	f := filepath.Join(t.TempDir(), "derived.conf")
	os.WriteFile(f, []byte("e.good = hinv.ncpu * 5\ne.bad = hinv.ncpu +\n"), 0o644)
	t.Setenv("PCP_DERIVED_CONFIG", f)
	var logs syncbuf.Buffer
	ts, col, _ := start(t, func(c *httpapi.Config) {
		c.Derived = nil
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	v := fetchValues(t, getJSON(t, ts.URL+"/pmapi/fetch?hostspec="+col.Addr+"&names=e.good,e.bad,hinv.ncpu", 200))
	if len(v["e.good"]) != 1 || num(t, v["e.good"][0]) != 5*num(t, v["hinv.ncpu"][0]) {
		t.Errorf("fetch: %v", v)
	}
	if _, ok := v["e.bad"]; ok {
		t.Errorf("e.bad defined: %v", v)
	}
	if out := logs.String(); strings.Count(out, "derived metric configuration has errors") != 1 || !strings.Contains(out, "e.bad") {
		t.Errorf("log:\n%s", out)
	}
}
