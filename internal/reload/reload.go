// Package reload holds what collectord and proxyd share to reload their
// configuration while running: counters for the self metrics, and a watch that
// notices changed certificate files.
//
// Each daemon builds a complete new configuration, checks it, and swaps it in
// with one atomic store; on any error the last good one stays. This package does
// not decide what a configuration is, only when to try again and what to count.
package reload

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Stats counts configuration reloads (SIGHUP and certificate-file changes). The
// zero value is ready to use; every method is safe for concurrent use.
type Stats struct {
	count    atomic.Uint64
	failures atomic.Uint64
	last     atomic.Int64 // Unix nanoseconds of the last successful reload; 0 = none
}

// Succeeded counts a reload that was applied.
func (s *Stats) Succeeded(now time.Time) {
	s.count.Add(1)
	s.last.Store(now.UnixNano())
}

// Failed counts a reload that was refused.
func (s *Stats) Failed() { s.failures.Add(1) }

// Count is the number of successful reloads.
func (s *Stats) Count() uint64 { return s.count.Load() }

// Failures is the number of refused reloads.
func (s *Stats) Failures() uint64 { return s.failures.Load() }

// LastReload is when the last successful reload happened (zero: never).
func (s *Stats) LastReload() time.Time {
	if n := s.last.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// MaxHashedBytes bounds how much of each watched file is hashed.
const MaxHashedBytes = 16 << 20

// Files is the state of some files: existence, size, mtime and content hash. The
// hash catches a same-size rewrite within the file system's mtime granularity.
type Files map[string]fileState

type fileState struct {
	exists bool
	size   int64
	mtime  int64 // UnixNano
	sum    [32]byte
}

// Snapshot records the state of paths now.
func Snapshot(paths []string) Files {
	fs := Files{}
	for _, p := range paths {
		var st fileState
		if fi, err := os.Stat(p); err == nil {
			st = fileState{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
			if fi.Mode().IsRegular() {
				if f, err := os.Open(p); err == nil {
					h := sha256.New()
					io.Copy(h, io.LimitReader(f, MaxHashedBytes))
					f.Close()
					copy(st.sum[:], h.Sum(nil))
				}
			}
		}
		fs[p] = st
	}
	return fs
}

// Equal reports whether a and b describe the same files in the same state.
func (a Files) Equal(b Files) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Changed names the files that differ from old, for the log.
func (a Files) Changed(old Files) string {
	var names []string
	for k, v := range a {
		if w, ok := old[k]; !ok || w != v {
			names = append(names, k)
		}
	}
	for k := range old {
		if _, ok := a[k]; !ok {
			names = append(names, k+" (gone)")
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Current describes the configuration in service for Watch: Token identifies it
// (it changes whenever a new configuration is swapped in), Loaded is the state of
// its files when it was built, Paths the files to watch (none: nothing to watch).
type Current struct {
	Token  any
	Loaded Files
	Paths  []string
}

// Watch checks the files of the configuration in service every interval until ctx
// ends, and calls apply when they changed. A change is applied once the files
// have stayed the same for one interval, so a certificate and a key written one
// after the other are read together; a file still broken then is tried once
// (apply reports it) and again at its next change, not at every tick.
func Watch(ctx context.Context, interval time.Duration, current func() Current, apply func(reason string)) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var (
		seen    any   // token whose files 'applied' starts from
		applied Files // files as last loaded or last tried
		pending Files // a change seen at the previous tick
		started bool
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := current()
		if !started || cur.Token != seen {
			started, seen, applied, pending = true, cur.Token, cur.Loaded, nil
		}
		if len(cur.Paths) == 0 {
			continue
		}
		now := Snapshot(cur.Paths)
		switch {
		case now.Equal(applied):
			pending = nil
		case pending != nil && now.Equal(pending):
			applied, pending = now, nil
			apply("certificate files changed: " + now.Changed(cur.Loaded))
		default:
			pending = now
		}
	}
}

// Changed compares two values of one struct type whose fields are tagged with the
// configuration key they hold (`key:"server.port"`), and lists the fields that
// differ as "key (old -> new)", sorted: the settings a reload found changed but
// cannot apply while running.
func Changed(old, cur any) []string {
	a, b := reflect.ValueOf(old), reflect.ValueOf(cur)
	var out []string
	for i := 0; i < a.NumField(); i++ {
		x, y := a.Field(i).Interface(), b.Field(i).Interface()
		if !reflect.DeepEqual(x, y) {
			out = append(out, fmt.Sprintf("%s (%s -> %s)", a.Type().Field(i).Tag.Get("key"), show(x), show(y)))
		}
	}
	sort.Strings(out)
	return out
}

// show writes a setting's value as the log shows it: strings quoted.
func show(v any) string {
	switch v := v.(type) {
	case string, []string:
		return fmt.Sprintf("%q", v)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

// NameFiles adds to err the files a configuration was read from, so that the log
// says which file is to blame along with why; nil stays nil.
func NameFiles(err error, files []string) error {
	if err == nil || len(files) == 0 {
		return err
	}
	return fmt.Errorf("%w (read from %s)", err, strings.Join(files, " "))
}

// WarnRestartOnly logs each setting Changed found, saying that the running value
// stays until a restart, and reports whether there was any.
func WarnRestartOnly(log *slog.Logger, reason string, changed []string) bool {
	for _, c := range changed {
		log.Warn("setting changed but needs a restart; keeping the running value", "reason", reason, "setting", c)
	}
	return len(changed) > 0
}
