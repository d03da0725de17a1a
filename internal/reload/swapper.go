package reload

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Swapper holds a daemon's configuration in service, one complete generation G,
// and replaces it whole: a reload builds the next generation from scratch and
// checks it, and only then puts it in service with one atomic store. Readers
// (each new connection, each handshake) take Current without locking, so
// existing sessions keep the generation they started with.
type Swapper[G any] struct {
	log   *slog.Logger
	now   func() time.Time
	mu    sync.Mutex // one reload at a time
	cur   atomic.Pointer[G]
	stats Stats
}

// NewSwapper puts first in service; log gets one line per reload.
func NewSwapper[G any](first *G, log *slog.Logger) *Swapper[G] {
	s := &Swapper[G]{log: log, now: time.Now}
	s.cur.Store(first)
	return s
}

// Current is the generation in service.
func (s *Swapper[G]) Current() *G { return s.cur.Load() }

// Stats counts the reloads applied and refused.
func (s *Swapper[G]) Stats() *Stats { return &s.stats }

// Swap runs one reload: next builds the new generation from the one in service.
// If it fails, the generation in service stays, and the failure is logged with
// the reason and counted; the error is returned. Otherwise the new generation
// goes in service, applied (if not nil) runs with the old and the new one, and
// the reload is logged and counted.
func (s *Swapper[G]) Swap(reason string, next func(old *G) (*G, error), applied func(old, cur *G)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	g, err := next(old)
	if err != nil {
		s.stats.Failed()
		s.log.Error("reload failed; keeping the last good configuration", "reason", reason, "err", err,
			"failures", s.stats.Failures())
		return err
	}
	s.cur.Store(g)
	if applied != nil {
		applied(old, g)
	}
	s.stats.Succeeded(s.now())
	s.log.Info("configuration reloaded", "reason", reason, "reloads", s.stats.Count())
	return nil
}
