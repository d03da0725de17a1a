package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// logControl owns collectord's logging: the format, the level and the -D debug
// classes, all of which a reload may change while loggers made from it are in use.
//
// A class logger (Class("pdu")) logs its debug records when that class is on,
// whatever the level, as PCP's -D does; its records carry class=NAME.
type logControl struct {
	w       io.Writer
	level   slog.LevelVar
	base    atomic.Pointer[slog.Handler] // writes everything it is given
	classes atomic.Pointer[map[string]bool]
}

func newLogControl(w io.Writer, c LogConfig) *logControl {
	lc := &logControl{w: w}
	lc.apply(c)
	return lc
}

// apply switches to c's format, level and classes (c has been validated).
func (lc *logControl) apply(c LogConfig) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil || c.Level == "" {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var h slog.Handler
	if c.Format == "json" {
		h = slog.NewJSONHandler(lc.w, opts)
	} else {
		h = slog.NewTextHandler(lc.w, opts)
	}
	classes, _ := parseDebugClasses(c.Debug)
	lc.level.Set(level)
	lc.base.Store(&h)
	lc.classes.Store(&classes)
}

// Logger is the daemon's main logger.
func (lc *logControl) Logger() *slog.Logger { return slog.New(&dynHandler{lc: lc}) }

// Class is the logger of one debug class.
func (lc *logControl) Class(name string) *slog.Logger {
	return slog.New(&dynHandler{lc: lc, class: name}).With("class", name)
}

// ClassOn reports whether a debug class is on.
func (lc *logControl) ClassOn(name string) bool { return (*lc.classes.Load())[name] }

// dynHandler forwards to the logControl's current handler, re-deriving its
// attributes and groups when the format changes.
type dynHandler struct {
	lc    *logControl
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

// pduTracer logs each PDU's direction, type and length at debug level while the
// pdu class is on (-D pdu), inside TLS sessions too.
func pduTracer(logs *logControl) func(peer net.Addr, out bool, pdu []byte) {
	log := logs.Class("pdu")
	return func(peer net.Addr, out bool, pdu []byte) {
		if !logs.ClassOn("pdu") {
			return
		}
		dir := "in"
		if out {
			dir = "out"
		}
		_, typ, _, _ := protocol.ParseHeader(pdu)
		log.Debug("pdu", "peer", peer.String(), "dir", dir, "type", protocol.TypeName(typ), "len", len(pdu))
	}
}
