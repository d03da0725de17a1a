package server

import (
	"sync/atomic"
	"time"
)

// ReloadStats counts configuration reloads (SIGHUP and certificate-file changes).
// collectord's reloader updates it; Server.ReloadStats hands it to the self metrics
// pmcd.gopcp.reload.count and pmcd.gopcp.reload.failures. (The certificate's expiry,
// pmcd.gopcp.cert.expiry, is read from the TLS configuration in use.)
//
// The zero value is ready to use; every method is safe for concurrent use.
type ReloadStats struct {
	count    atomic.Uint64
	failures atomic.Uint64
	last     atomic.Int64 // Unix nanoseconds of the last successful reload; 0 = none
}

// Succeeded counts a reload that was applied.
func (s *ReloadStats) Succeeded(now time.Time) {
	s.count.Add(1)
	s.last.Store(now.UnixNano())
}

// Failed counts a reload that was refused.
func (s *ReloadStats) Failed() { s.failures.Add(1) }

// Count is the number of successful reloads (pmcd.reload.count).
func (s *ReloadStats) Count() uint64 { return s.count.Load() }

// Failures is the number of refused reloads (pmcd.reload.failures).
func (s *ReloadStats) Failures() uint64 { return s.failures.Load() }

// LastReload is when the last successful reload happened (zero: never).
func (s *ReloadStats) LastReload() time.Time {
	if n := s.last.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}
