package floor

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/collectord/server/servertest"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	pserver "github.com/gopcp/gopcp/proxyd/server"
	"github.com/gopcp/gopcp/proxyd/upstream"
)

// restNames mix a metric with instances, a singular number, a string, a
// 64-bit counter and a name that does not exist (left out by both).
const restNames = "kernel.all.load,nosuch.metric,hinv.ncpu,kernel.uname.release,kernel.all.cpu.user"

// The REST floor answers what proxyd answers to the same fetch through the
// same collector: the same status, the same headers, and JSON of the same
// shape (keys, nesting, instance counts, PMIDs, names, instances and the
// JSON type of every value; the values themselves and the context number
// differ by nature). Both ways of waiting (the poller, Block) answer alike.
func TestRESTAnswersAsProxyd(t *testing.T) {
	coll := startCollectord(t)
	proxy := startProxyd(t)
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()

	var cr struct{ Context uint32 }
	status, _, body := get(t, hc, "http://"+proxy+"/pmapi/context?polltimeout=60&hostspec="+coll)
	if status != 200 || json.Unmarshal(body, &cr) != nil {
		t.Fatalf("proxyd context: %d %s", status, body)
	}
	ctx := strconv.FormatUint(uint64(cr.Context), 10)
	pStatus, pHdr, pBody := get(t, hc, "http://"+proxy+"/pmapi/"+ctx+"/fetch?names="+restNames)
	for _, block := range []bool{false, true} {
		t.Run("block="+strconv.FormatBool(block), func(t *testing.T) {
			checkREST(t, coll, ctx, block, pStatus, pHdr, pBody)
		})
	}
}

// checkREST serves the REST floor and compares its answers with proxyd's.
func checkREST(t *testing.T, coll, ctx string, block bool, pStatus int, pHdr http.Header, pBody []byte) {
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	n, _ := strconv.ParseUint(ctx, 10, 32)
	r, err := DialREST(coll, strings.Split(restNames, ","), uint32(n))
	if err != nil {
		t.Fatal(err)
	}
	r.Block = block
	defer r.Close()
	ln, err := Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Serve(ln) }()
	defer func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	// Twice over one connection: the floor answers every head it reads.
	for range 2 {
		fStatus, fHdr, fBody := get(t, hc, "http://"+ln.Addr().String()+"/pmapi/"+ctx+"/fetch?names="+restNames)
		if fStatus != pStatus || pStatus != 200 {
			t.Fatalf("status: floor %d, proxyd %d", fStatus, pStatus)
		}
		if f, p := headerNames(fHdr), headerNames(pHdr); !slices.Equal(f, p) {
			t.Errorf("headers: floor %q, proxyd %q", f, p)
		}
		if fHdr.Get("Content-Type") != pHdr.Get("Content-Type") {
			t.Errorf("Content-Type: floor %q, proxyd %q", fHdr.Get("Content-Type"), pHdr.Get("Content-Type"))
		}
		var f, p any
		if err := json.Unmarshal(fBody, &f); err != nil {
			t.Fatalf("floor's JSON: %v\n%s", err, fBody)
		}
		if err := json.Unmarshal(pBody, &p); err != nil {
			t.Fatalf("proxyd's JSON: %v\n%s", err, pBody)
		}
		if fs, ps := shape(f, ""), shape(p, ""); !reflect.DeepEqual(fs, ps) {
			t.Errorf("JSON shapes differ:\nfloor  %q\nproxyd %q\nfloor's %s\nproxyd's %s", fs, ps, fBody, pBody)
		}
		r.mu.Lock()
		_, blocked := r.up.(*blockingConn)
		r.mu.Unlock()
		if blocked != block {
			t.Errorf("Block %v, but the collector connection is %T", block, r.up)
		}
		if len(shape(f, "")) < 20 {
			t.Errorf("the floor's answer is too small to have been compared: %s", fBody)
		}
	}
}

// shape lists a JSON value's paths with the JSON type of each leaf, and the
// value itself for the fields that do not change between two fetches.
func shape(v any, path string) []string {
	switch v := v.(type) {
	case map[string]any:
		var out []string
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, shape(v[k], path+"."+k)...)
		}
		return out
	case []any:
		out := []string{path + " [" + strconv.Itoa(len(v)) + "]"}
		for i, e := range v {
			out = append(out, shape(e, path+"["+strconv.Itoa(i)+"]")...)
		}
		return out
	}
	leaf := path + " null"
	if v != nil {
		leaf = path + " " + reflect.TypeOf(v).String()
	}
	switch path[strings.LastIndexByte(path, '.')+1:] {
	case "pmid", "name", "instance":
		leaf += " " + strings.TrimSpace(strings.ReplaceAll(strconv.Quote(toString(v)), "\n", " "))
	}
	return []string{leaf}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func headerNames(h http.Header) []string {
	var out []string
	for k := range h {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func get(t *testing.T, hc *http.Client, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// startCollectord runs our collectord on 127.0.0.1 until the test ends.
func startCollectord(t *testing.T) string {
	t.Helper()
	_, addr := servertest.Start(t, nil)
	return addr
}

// startProxyd runs proxyd's server and REST API on 127.0.0.1 until the test
// ends.
func startProxyd(t *testing.T) string {
	t.Helper()
	policy, err := upstream.NewPolicy([]string{"127.0.0.1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{Policy: policy, Logger: slog.New(slog.DiscardHandler)})
	srv := &pserver.Server{HTTP: api, Logger: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		api.Close()
	})
	return ln.Addr().String()
}

// restForTest is a REST prepared by hand (no collector) for appendResult.
func restForTest(highres bool) *REST {
	r := &REST{ctx: 7, want: protocol.TypeResult}
	if highres {
		r.want = protocol.TypeHighresResult
	}
	for _, m := range []struct {
		name     string
		typ      int32
		singular bool
	}{{"a", protocol.TypeFloat, false}, {"b", protocol.TypeU64, true}, {"c", protocol.TypeString, true}, {"d", protocol.TypeDouble, true}, {"e", protocol.TypeDouble, true}} {
		d := protocol.Desc{Type: m.typ, InDom: protocol.InDomNull}
		if !m.singular {
			d.InDom = 1
		}
		r.heads = append(r.heads, `{"name":"`+m.name+`","instances":[`)
		r.descs = append(r.descs, d)
	}
	return r
}

func testResult(highres bool) *protocol.Result {
	u64 := binary.BigEndian.AppendUint64(nil, 1<<40+3)
	dbl := binary.BigEndian.AppendUint64(nil, math.Float64bits(0.1))
	return &protocol.Result{Highres: highres, Sec: 1700000000, Nsec: 5000, VSets: []protocol.ValueSet{
		{PMID: 1, NumVal: 2, ValFmt: protocol.ValFmtInsitu, Values: []protocol.Value{
			{Inst: 1, Insitu: math.Float32bits(1.5)}, {Inst: 5, Insitu: math.Float32bits(float32(math.Inf(1)))}}},
		{PMID: 2, NumVal: 1, ValFmt: protocol.ValFmtDynamic, Values: []protocol.Value{{Inst: uint32(protocol.InDomNull), VType: uint8(protocol.TypeU64), Payload: u64}}},
		{PMID: 3, NumVal: 1, ValFmt: protocol.ValFmtDynamic, Values: []protocol.Value{{VType: uint8(protocol.TypeString), Payload: []byte("x\"\n\u2028\xff\x00")}}},
		{PMID: 4, NumVal: -12357},
		{PMID: 5, NumVal: 1, ValFmt: protocol.ValFmtDynamic, Values: []protocol.Value{{VType: uint8(protocol.TypeDouble), Payload: dbl}}},
	}}
}

// A reply is read in place into proxyd's JSON, both result forms, a failed
// metric as no instances.
func TestRESTAppendResult(t *testing.T) {
	for _, highres := range []bool{false, true} {
		r := restForTest(highres)
		p := protocol.Encode(nil, testResult(highres), 0)
		got, err := r.appendResult(nil, p)
		if err != nil {
			t.Fatalf("highres %v: %v", highres, err)
		}
		want := `{"context":7,"timestamp":1700000000.000005000,"values":[` +
			`{"name":"a","instances":[{"instance":1,"value":1.5},{"instance":5,"value":null}]},` +
			`{"name":"b","instances":[{"instance":null,"value":1099511627779}]},` +
			`{"name":"c","instances":[{"instance":null,"value":"x\u0022\u000A\u2028\uFFFD"}]},` +
			`{"name":"d","instances":[]},` +
			`{"name":"e","instances":[{"instance":null,"value":0.1}]}]}` + "\r\n"
		if string(got) != want {
			t.Errorf("highres %v:\n got %s\nwant %s", highres, got, want)
		}
	}
}

// A hostile or broken collector's reply (any truncation, a value block's
// offset or length out of range, a count past the end, another PDU type) is
// refused with an error, never a panic or a read outside the PDU.
func TestRESTAppendResultHostile(t *testing.T) {
	r := restForTest(true)
	good := protocol.Encode(nil, testResult(true), 0)
	var bad [][]byte
	for n := 12; n < len(good); n++ {
		b := slices.Clone(good[:n])
		binary.BigEndian.PutUint32(b, uint32(n))
		bad = append(bad, b)
	}
	for _, m := range []struct {
		at  int
		val uint32
	}{
		{12, 1 << 30}, // numpmid
		{36, 1 << 30}, // first numval
		{76, 1000},    // the U64's offset word, past the end
		{76, 1},       // ... pointing into the header
		{4, uint32(protocol.TypeResult)},
	} {
		b := slices.Clone(good)
		binary.BigEndian.PutUint32(b[m.at:], m.val)
		bad = append(bad, b)
	}
	// The U64's value block says it is longer than the PDU.
	b := slices.Clone(good)
	at := 4 * int(binary.BigEndian.Uint32(b[76:]))
	binary.BigEndian.PutUint32(b[at:], uint32(protocol.TypeU64)<<24|0xffff)
	bad = append(bad, b)
	for i, p := range bad {
		if _, err := r.appendResult(nil, p); !errors.Is(err, errReply) {
			t.Errorf("case %d (%d bytes): err %v, want errReply", i, len(p), err)
		}
	}
}
