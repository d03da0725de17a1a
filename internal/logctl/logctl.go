// Package logctl is the daemons' logging switchboard: log/slog loggers whose
// format, level and debug classes can change while they are in use (a reload).
package logctl

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
)

// Control owns a daemon's logging: the format, the level and the debug classes
// (-D), all of which a reload may change while loggers made from it are in use.
//
// A class logger (Class("pdu")) logs its debug records when that class is on,
// whatever the level, as PCP's -D does; its records carry class=NAME.
type Control struct {
	w       io.Writer
	level   slog.LevelVar
	base    atomic.Pointer[slog.Handler] // writes everything it is given
	classes atomic.Pointer[map[string]bool]
}

// New returns a Control writing text at level info to w.
func New(w io.Writer) *Control {
	lc := &Control{w: w}
	lc.Apply("text", "info", nil)
	return lc
}

// Apply switches to a format ("json", else text), a level (debug, info, warn,
// error; else info) and the debug classes that are on.
func (lc *Control) Apply(format, level string, classes map[string]bool) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil || level == "" {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(lc.w, opts)
	} else {
		h = slog.NewTextHandler(lc.w, opts)
	}
	if classes == nil {
		classes = map[string]bool{}
	}
	lc.level.Set(lv)
	lc.base.Store(&h)
	lc.classes.Store(&classes)
}

// Logger is the daemon's main logger.
func (lc *Control) Logger() *slog.Logger { return slog.New(&dynHandler{lc: lc}) }

// Class is the logger of one debug class.
func (lc *Control) Class(name string) *slog.Logger {
	return slog.New(&dynHandler{lc: lc, class: name}).With("class", name)
}

// ClassOn reports whether a debug class is on.
func (lc *Control) ClassOn(name string) bool { return (*lc.classes.Load())[name] }

// dynHandler forwards to the logControl's current handler, re-deriving its
// attributes and groups when the format changes.
type dynHandler struct {
	lc    *Control
	class string
	ops   []func(slog.Handler) slog.Handler
	cache atomic.Pointer[derived]
}

type derived struct {
	base *slog.Handler
	h    slog.Handler
}

func (d *dynHandler) Enabled(_ context.Context, l slog.Level) bool {
	if d.class != "" && l == slog.LevelDebug && d.lc.ClassOn(d.class) {
		return true
	}
	return l >= d.lc.level.Level()
}

func (d *dynHandler) handler() slog.Handler {
	base := d.lc.base.Load()
	if c := d.cache.Load(); c != nil && c.base == base {
		return c.h
	}
	h := *base
	for _, op := range d.ops {
		h = op(h)
	}
	d.cache.Store(&derived{base: base, h: h})
	return h
}

func (d *dynHandler) Handle(ctx context.Context, r slog.Record) error {
	return d.handler().Handle(ctx, r)
}

func (d *dynHandler) with(op func(slog.Handler) slog.Handler) *dynHandler {
	ops := append(append([]func(slog.Handler) slog.Handler{}, d.ops...), op)
	return &dynHandler{lc: d.lc, class: d.class, ops: ops}
}

func (d *dynHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return d.with(func(h slog.Handler) slog.Handler { return h.WithAttrs(as) })
}

func (d *dynHandler) WithGroup(name string) slog.Handler {
	return d.with(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

// ParseClasses checks debug class names (-D, log.debug) against the known ones:
// each may be a known class, "all" or "none" (case and spaces ignored).
func ParseClasses(list, known []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, c := range list {
		switch c = strings.ToLower(strings.TrimSpace(c)); c {
		case "", "none":
		case "all":
			for _, d := range known {
				out[d] = true
			}
		default:
			if !slices.Contains(known, c) {
				return nil, fmt.Errorf("unknown debug class %q (-D): want %s or all", c, strings.Join(known, ", "))
			}
			out[c] = true
		}
	}
	return out, nil
}
