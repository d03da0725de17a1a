package httpapi

import (
	"container/list"
	"math/rand/v2"
	"sync"
	"time"
)

// webContext is a REST context: the number a client gets back and may pass again
// (/pmapi/N/... or context=N) within its poll timeout, and the collector it names.
// Connections are pooled per collector, not held per context.
type webContext struct {
	key     ctxKey
	id      uint32
	col     *collector
	timeout time.Duration
	expires time.Time
	elem    *list.Element
	// dv is the context's derived metrics (global and its own, with their
	// rate() state), lent to each connection that serves it.
	dv *ctxDerived
	// plan is its last fetch's metadata (fetchPlan) and buf that fetch's
	// response buffer, both used under dv.mu.
	plan *fetchPlan
	buf  []byte
}

// ctxKey finds a context: its number and the standing of the client that made
// it (trustedClient). A context whose connections carry proxyd's client
// certificate is invisible to a client that may not use it, and the other way
// round, whatever number it sends.
type ctxKey struct {
	id      uint32
	trusted bool
}

// contexts numbers and expires web contexts. The least recently used are dropped
// beyond max.
type contexts struct {
	mu  sync.Mutex
	m   map[ctxKey]*webContext
	lru list.List // front = least recently used
	max int
}

// add registers a new context for col, made by a client of standing trusted.
func (cs *contexts) add(col *collector, timeout time.Duration, trusted bool, dv *ctxDerived) *webContext {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil {
		cs.m = map[ctxKey]*webContext{}
	}
	now := time.Now()
	cs.expire(now)
	for cs.lru.Len() >= cs.max && cs.lru.Len() > 0 {
		cs.remove(cs.lru.Front().Value.(*webContext))
	}
	var id uint32
	for {
		// pmproxy numbers contexts with random(): positive 31-bit numbers.
		id = rand.Uint32() & 0x7fffffff
		_, dup1 := cs.m[ctxKey{id, true}]
		_, dup2 := cs.m[ctxKey{id, false}]
		if id != 0 && !dup1 && !dup2 {
			break
		}
	}
	wc := &webContext{key: ctxKey{id, trusted}, id: id, col: col, timeout: timeout, expires: now.Add(timeout), dv: dv}
	wc.elem = cs.lru.PushBack(wc)
	cs.m[wc.key] = wc
	return wc
}

// use finds a live context made by a client of the same standing, and restarts
// its timer.
func (cs *contexts) use(id uint32, trusted bool) (*webContext, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := time.Now()
	cs.expire(now)
	wc, ok := cs.m[ctxKey{id, trusted}]
	if !ok {
		return nil, false
	}
	wc.expires = now.Add(wc.timeout)
	cs.lru.MoveToBack(wc.elem)
	return wc, true
}

// expire drops contexts whose time is up. Contexts are kept in order of last use,
// but timeouts differ, so the whole list is walked while it is short and only its
// front otherwise.
func (cs *contexts) expire(now time.Time) {
	for e := cs.lru.Front(); e != nil; {
		next := e.Next()
		wc := e.Value.(*webContext)
		if now.After(wc.expires) {
			cs.remove(wc)
		} else if cs.lru.Len() > 64 {
			break
		}
		e = next
	}
}

func (cs *contexts) remove(wc *webContext) {
	cs.lru.Remove(wc.elem)
	delete(cs.m, wc.key)
	if wc.dv != nil {
		wc.dv.release()
	}
}

// len reports the live contexts.
func (cs *contexts) len() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.expire(time.Now())
	return len(cs.m)
}
