package httpapi

import (
	"context"
	"sync"
	"time"
)

// reqContext is a request's context: its parent with the request timeout's
// deadline. context.WithTimeout would arm a runtime timer and register the
// child with its parent on every request, and stop and unregister both
// afterwards; on the REST polling path nothing ever waits on Done (the
// collector connection is bounded by the deadline itself, boundConn), so the
// derived context behind Done is made only when something asks for the
// channel (connecting to a collector, say). Err needs no channel: it is the
// parent's error, or DeadlineExceeded once the deadline has passed, as the
// timer's context would say.
type reqContext struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	done   context.Context // made by the first Done before release
	cancel context.CancelFunc
	ended  error // from release on: Err's answer then, or Canceled
}

// closedDone is the Done of a context asked for it only after its request
// ended. Never written after initialisation.
var closedDone = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func newReqContext(parent context.Context, timeout time.Duration) *reqContext {
	c := &reqContext{}
	c.init(parent, timeout)
	return c
}

// init starts a zero reqContext (one inside a request).
func (c *reqContext) init(parent context.Context, timeout time.Duration) {
	c.parent, c.deadline = parent, time.Now().Add(timeout)
}

func (c *reqContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *reqContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.ended != nil {
			return closedDone
		}
		c.done, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	return c.done.Done()
}

func (c *reqContext) Err() error {
	c.mu.Lock()
	ended, done := c.ended, c.done
	c.mu.Unlock()
	switch {
	case ended != nil:
		return ended // the first error a context reports is the one it keeps
	case done != nil:
		return done.Err() // nil until its Done is closed
	}
	return c.liveErr()
}

func (c *reqContext) liveErr() error {
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *reqContext) Value(key any) any { return c.parent.Value(key) }

// release ends the context when its request is answered (the cancel of
// context.WithTimeout): a Done channel handed out is closed, and one asked
// for later is closed already.
func (c *reqContext) release() {
	err := c.Err()
	if err == nil {
		err = context.Canceled
	}
	c.mu.Lock()
	c.ended = err
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}
