package httpapi

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// checkParams compares params with url.ParseQuery, which the API used before:
// every key ParseQuery finds has the same first value, and no other key is
// present.
func checkParams(t *testing.T, raw string) {
	t.Helper()
	var p params
	p.parse(raw)
	want, _ := url.ParseQuery(raw)
	for k, vs := range want {
		if got := p.Get(k); got != vs[0] || !p.Has(k) {
			t.Fatalf("query %q: Get(%q) = %q (Has %v), url.ParseQuery says %q", raw, k, got, p.Has(k), vs[0])
		}
	}
	seen := map[string]bool{}
	for _, kv := range p.kv {
		seen[kv.key] = true
	}
	for k := range seen {
		if _, ok := want[k]; !ok {
			t.Fatalf("query %q: params has %q, url.ParseQuery has not", raw, k)
		}
	}
	// Keys probed directly: the empty key and pieces of the query.
	for _, k := range append(strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == '=' }), "") {
		if p.Has(k) != want.Has(k) || p.Get(k) != want.Get(k) {
			t.Fatalf("query %q: key %q: params (%v, %q), url.ParseQuery (%v, %q)", raw, k, p.Has(k), p.Get(k), want.Has(k), want.Get(k))
		}
	}
}

func TestParams(t *testing.T) {
	for _, raw := range []string{
		"", "names=kernel.all.load", "names=a,b&names=c", "a=1&&b=2&", "=x&y", "k", "k=",
		"names=a%2Cb&client=x+y", "bad=%zz&good=1", "semi=1;2&ok=3", "a%3Db=c", "%=1&a=%",
		"hostspec=pcp%3A%2F%2Fh%3A44321&polltimeout=60", "x=1&x=2&X=3",
		strings.Repeat("p=1&", maxFastParams) + "names=last", // net/url's path
		strings.Repeat("&", maxFastParams-1) + "names=x",
	} {
		checkParams(t, raw)
	}
	var p params
	p.parse("a=1&b=2")
	p.parse("c=3") // reused: nothing of the first query is left
	if p.Has("a") || p.Get("c") != "3" {
		t.Errorf("reuse: %+v", p.kv)
	}
}

func FuzzParams(f *testing.F) {
	for _, s := range []string{"names=kernel.all.load&client=x", "a=%41+b&a=2", "x;y=1&z", "%zz=1", strings.Repeat("q=&", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkParams(t, raw) })
}

func TestReqContext(t *testing.T) {
	// Deadline and Err without anyone asking for Done.
	c := newReqContext(context.Background(), 50*time.Millisecond)
	if dl, ok := c.Deadline(); !ok || time.Until(dl) > 50*time.Millisecond {
		t.Errorf("deadline %v %v", dl, ok)
	}
	if c.Err() != nil {
		t.Fatalf("early Err %v", c.Err())
	}
	time.Sleep(60 * time.Millisecond)
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Errorf("after the deadline: %v", c.Err())
	}
	c.release()
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Errorf("after release the first error stays: %v", c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done asked for after release is not closed")
	}

	// Done fires at the deadline.
	c = newReqContext(context.Background(), 30*time.Millisecond)
	select {
	case <-c.Done():
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err %v", c.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Done never closed")
	}
	c.release()

	// A parent's cancel shows through, with and without Done.
	parent, cancel := context.WithCancel(context.Background())
	c = newReqContext(parent, time.Hour)
	d := c.Done()
	c2 := newReqContext(parent, time.Hour)
	cancel()
	<-d
	if !errors.Is(c.Err(), context.Canceled) || !errors.Is(c2.Err(), context.Canceled) {
		t.Errorf("parent canceled: %v %v", c.Err(), c2.Err())
	}
	c.release()
	c2.release()

	// Release closes a Done handed out, and Err says Canceled.
	c = newReqContext(context.Background(), time.Hour)
	d = c.Done()
	c.release()
	<-d
	if !errors.Is(c.Err(), context.Canceled) {
		t.Errorf("released: %v", c.Err())
	}
	if c.Value("k") != nil {
		t.Error("Value")
	}
}
