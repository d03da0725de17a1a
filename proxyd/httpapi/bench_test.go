package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
	"github.com/gopcp/gopcp/proxyd/upstream"
)

// discardWriter is a ResponseWriter that keeps its header map between requests
// (cleared each time), so that the benchmark counts the handler's allocations,
// not the recorder's.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// BenchmarkServeFetch is the handler's share of a REST fetch of one metric in
// an existing context (metadata cached), without net/http's server: its
// allocations per request are what -benchmem reports.
//
//	go test -run XXX -bench ServeFetch -benchmem ./proxyd/httpapi/
func BenchmarkServeFetch(b *testing.B) {
	col := ptest.StartCollector(b, nil)
	policy, _ := upstream.NewPolicy([]string{"127.0.0.1"}, true)
	api := httpapi.New(httpapi.Config{Policy: policy, Derived: pmapi.NewDerivedSet()})
	b.Cleanup(api.Close)
	w := &discardWriter{h: http.Header{}}
	r := httptest.NewRequest(http.MethodGet, "/pmapi/context?polltimeout=600&hostspec="+col.Addr, nil)
	r.RemoteAddr = "127.0.0.1:1234"
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, r)
	var cr struct{ Context uint32 }
	if err := json.Unmarshal(rec.Body.Bytes(), &cr); err != nil || rec.Code != 200 {
		b.Fatalf("context: %d %s", rec.Code, rec.Body)
	}
	r = httptest.NewRequest(http.MethodGet, "/pmapi/"+strconv.FormatUint(uint64(cr.Context), 10)+"/fetch?names=kernel.all.load", nil)
	r.RemoteAddr = "127.0.0.1:1234"
	serve := func() {
		clear(w.h)
		w.status = 0
		api.ServeHTTP(w, r)
		if w.status != 200 {
			b.Fatalf("fetch: status %d", w.status)
		}
	}
	for range 100 {
		serve()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
}
