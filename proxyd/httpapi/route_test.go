package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/proxyd/httpapi"
)

// Routed answers every request as the ServeMux behind it would: the API's
// clean paths directly, the rest (redirects, other handlers, CONNECT)
// through the mux.
func TestRoutedAsMux(t *testing.T) {
	api := httpapi.New(httpapi.Config{Derived: pmapi.NewDerivedSet()})
	t.Cleanup(api.Close)
	mux := http.NewServeMux()
	mux.Handle("/proxyd/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "self") }))
	mux.Handle("/", api)
	routed := api.Routed(mux)
	for _, c := range []struct{ method, target string }{
		{"GET", "/pmapi/nothing"}, {"GET", "/pmapi/12x/fetch"}, {"GET", "/pmapi/_fetch?names=x"},
		{"GET", "/pmapi//nothing"}, {"GET", "/pmapi/../proxyd/metrics"}, {"GET", "/pmapi/./store"},
		{"GET", "/pmapi/%2e%2e/proxyd/metrics"}, {"GET", "/pmapi/a%2Fb/fetch"}, {"GET", "/pmapi/"},
		{"GET", "/pmapi/store/"}, {"GET", "/metrics/"}, {"GET", "/metrics/.."}, {"GET", "/proxyd/metrics"},
		{"GET", "/proxyd/metrics/"}, {"DELETE", "/pmapi/context"}, {"CONNECT", "/pmapi/context"},
		{"GET", "/pmapi"}, {"GET", "/"}, {"OPTIONS", "/pmapi/fetch"},
	} {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		mux.ServeHTTP(want, httptest.NewRequest(c.method, c.target, nil))
		routed.ServeHTTP(got, httptest.NewRequest(c.method, c.target, nil))
		if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Header().Get("Location") != want.Header().Get("Location") {
			t.Errorf("%s %s: routed %d %q (Location %q), mux %d %q (Location %q)", c.method, c.target,
				got.Code, got.Body, got.Header().Get("Location"), want.Code, want.Body, want.Header().Get("Location"))
		}
	}
}
