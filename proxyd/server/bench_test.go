package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/proxyd/internal/ptest"
)

// latencies records one duration per iteration and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B, unit string, scale time.Duration) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	at := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))]) / float64(scale) }
	b.ReportMetric(at(0.50), "p50-"+unit)
	b.ReportMetric(at(0.90), "p90-"+unit)
	b.ReportMetric(at(0.99), "p99-"+unit)
}

// benchFetch fetches names over one context, timing each fetch.
func benchFetch(b *testing.B, spec string, names ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pmapi.Connect(ctx, spec, pmapi.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ids, err := c.LookupNames(names)
	if err != nil {
		b.Fatal(err)
	}
	var r *protocol.Result
	for range 100 { // warm up: profile sent, files open, caches hot
		if r, err = c.Fetch(ids); err != nil {
			b.Fatal(err)
		}
	}
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		r, err = c.Fetch(ids)
		lat = append(lat, time.Since(t))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if len(r.VSets) != len(ids) || r.VSets[0].NumVal <= 0 {
		b.Fatalf("fetch result %+v", r)
	}
	lat.report(b, "µs", time.Microsecond)
}

// BenchmarkFetch compares the same client fetching from the same collector
// (collectord, in-process) directly and through proxyd's relay. The difference
// of the p50 figures is the relay's cost per request/reply exchange.
//
//	go test -run XXX -bench Fetch -benchtime 20000x ./proxyd/server/
func BenchmarkFetch(b *testing.B) {
	col := ptest.StartCollector(b, nil)
	px := ptest.StartProxy(b, ptest.ProxyOptions{})
	for _, m := range []struct {
		name  string
		names []string
	}{
		{"pagesize", []string{"hinv.pagesize"}},
		{"load", []string{"kernel.all.load"}},
	} {
		b.Run(m.name+"/direct", func(b *testing.B) { benchFetch(b, col.Addr, m.names...) })
		b.Run(m.name+"/proxyd", func(b *testing.B) { benchFetch(b, px.Spec(col.Port), m.names...) })
	}
}

// BenchmarkMetrics scrapes /metrics for the collector's full metric set through
// proxyd over one keep-alive HTTP connection (metadata cached, values fetched
// fresh each time).
//
//	go test -run XXX -bench Metrics -benchtime 2000x ./proxyd/server/
func BenchmarkMetrics(b *testing.B) {
	col := ptest.StartCollector(b, nil)
	px := ptest.StartProxy(b, ptest.ProxyOptions{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	u := px.URL() + "/metrics?hostspec=" + col.Addr
	get := func() int {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return int(n)
	}
	cold := time.Now()
	size := get()
	coldMs := float64(time.Since(cold)) / float64(time.Millisecond)
	for range 20 {
		get()
	}
	lat := make(latencies, 0, b.N)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		get()
		lat = append(lat, time.Since(t))
	}
	b.StopTimer()
	lat.report(b, "ms", time.Millisecond)
	b.ReportMetric(coldMs, "first-scrape-ms")
}

// BenchmarkREST fetches one metric through proxyd's REST API over one
// keep-alive HTTP connection, in one context, as a dashboard polls. Run with
// -cpuprofile to see where proxyd's share goes (client and collector are in the
// same process, so the profile holds all three).
//
//	go test -run XXX -bench REST -benchtime 20000x ./proxyd/server/
func BenchmarkREST(b *testing.B) {
	col := ptest.StartCollector(b, nil)
	px := ptest.StartProxy(b, ptest.ProxyOptions{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	get := func(u string) []byte {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		return body
	}
	var cr struct{ Context uint32 }
	if err := json.Unmarshal(get(px.URL()+"/pmapi/context?polltimeout=600&hostspec="+col.Addr), &cr); err != nil {
		b.Fatal(err)
	}
	u := px.URL() + "/pmapi/" + strconv.FormatUint(uint64(cr.Context), 10) + "/fetch?names=kernel.all.load"
	for range 100 {
		get(u)
	}
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		get(u)
		lat = append(lat, time.Since(t))
	}
	b.StopTimer()
	lat.report(b, "µs", time.Microsecond)
}
