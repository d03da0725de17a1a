package server

import (
	"sync/atomic"
	"time"
)

// ReloadStats counts configuration reloads (SIGHUP and certificate-file changes) and
// remembers when the server certificate in use expires. collectord's reloader
// updates it; the self metrics read it:
//
//	pmcd.reload.count        counter  successful reloads since start
//	pmcd.reload.failures     counter  reloads refused (the last good configuration kept)
//	pmcd.cert.expiry_seconds instant  seconds until the served certificate expires
//	                                  (negative once expired; no value without TLS)
//
// The zero value is ready to use; every method is safe for concurrent use.
type ReloadStats struct {
	count    atomic.Uint64
	failures atomic.Uint64
	notAfter atomic.Int64 // Unix seconds; 0 = no certificate
	last     atomic.Int64 // Unix nanoseconds of the last successful reload; 0 = none
}

// SetCertificate records the expiry of the certificate now served; a zero time means
// TLS is off.
func (s *ReloadStats) SetCertificate(notAfter time.Time) {
	if notAfter.IsZero() {
		s.notAfter.Store(0)
		return
	}
	s.notAfter.Store(notAfter.Unix())
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

// CertNotAfter is the expiry of the certificate served; ok is false without TLS.
func (s *ReloadStats) CertNotAfter() (t time.Time, ok bool) {
	if n := s.notAfter.Load(); n != 0 {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// CertExpirySeconds is pmcd.cert.expiry_seconds at now: whole seconds until the
// served certificate expires, negative once it has; ok is false without TLS.
func (s *ReloadStats) CertExpirySeconds(now time.Time) (secs int64, ok bool) {
	n := s.notAfter.Load()
	if n == 0 {
		return 0, false
	}
	return n - now.Unix(), true
}
