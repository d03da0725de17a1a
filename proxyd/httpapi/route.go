package httpapi

import (
	"net/http"
	"path"
	"strings"
)

// Routed returns a handler that gives the API's own requests to a directly
// and everything else to mux, which must route every path to a other than
// the ones it names itself outside /pmapi/ and /metrics (proxyd's mux: its
// self metrics, and a for "/"). On a REST poll, ServeMux's lookup (the path
// cleaned, matched against its tree, the request's pattern set) was a few
// per cent of proxyd's CPU. A path ServeMux would redirect (not clean), or a
// CONNECT, still goes to mux, so the answers are ServeMux's answers.
func (a *API) Routed(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect && ownPath(r.URL) {
			a.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// ownPath reports whether ServeMux would serve u's path as it is (clean, no
// redirect) and the path is the API's.
func ownPath(u interface{ EscapedPath() string }) bool {
	p := u.EscapedPath()
	if p != "/metrics" && !strings.HasPrefix(p, "/pmapi/") {
		return false
	}
	return muxClean(p) == p
}

// muxClean is ServeMux's cleaning of a path (net/http cleanPath): path.Clean,
// a trailing slash kept.
func muxClean(p string) string {
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			return p
		}
		return np + "/"
	}
	return np
}
