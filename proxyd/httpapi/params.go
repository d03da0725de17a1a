package httpapi

import (
	"net/url"
	"strings"
)

// maxFastParams is how many query parameters params parses itself; a longer
// query goes to url.ParseQuery (its own limit on the count included).
const maxFastParams = 32

// params is a request's query parameters, read as url.ParseQuery reads them:
// '&'-separated pairs, a pair holding ';' or an invalid escape left out, the
// first value of a key winning in Get. The API's queries are a handful of
// short pairs, and ParseQuery built a map and a slice for every one on every
// request; params keeps pairs in a slice reused per request and unescapes
// only what has '%' or '+' in it (the rest are substrings of the query).
// FuzzParams checks it against url.ParseQuery.
type params struct {
	kv   []param
	vals url.Values // a query beyond maxFastParams, parsed by net/url
	arr  [8]param   // kv's first backing store, allocated with params
}

type param struct{ key, value string }

// parse replaces p's contents with the parameters of raw (URL.RawQuery).
func (p *params) parse(raw string) {
	if p.kv == nil {
		p.kv = p.arr[:0]
	}
	p.kv, p.vals = p.kv[:0], nil
	if strings.Count(raw, "&") >= maxFastParams {
		p.vals, _ = url.ParseQuery(raw) // what parsed is kept, as URL.Query does
		return
	}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		var ok bool
		if k, ok = unescapeQuery(k); !ok {
			continue
		}
		if v, ok = unescapeQuery(v); !ok {
			continue
		}
		p.kv = append(p.kv, param{k, v})
	}
}

// unescapeQuery is url.QueryUnescape without its allocation for the strings
// that need no unescaping.
func unescapeQuery(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}

// Get returns the first value of key, or "".
func (p *params) Get(key string) string {
	if p.vals != nil {
		return p.vals.Get(key)
	}
	for i := range p.kv {
		if p.kv[i].key == key {
			return p.kv[i].value
		}
	}
	return ""
}

// Has reports whether key is present (with any value, "" included).
func (p *params) Has(key string) bool {
	if p.vals != nil {
		return p.vals.Has(key)
	}
	for i := range p.kv {
		if p.kv[i].key == key {
			return true
		}
	}
	return false
}
