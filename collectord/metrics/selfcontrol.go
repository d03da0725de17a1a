package metrics

import (
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// pmcd.control.*: the switches pmcd 6.0.3 lets local clients store into, and
// what the collector does with each. The tracing switches are recorded and read
// back, as pmcd's are, but turn no tracing on: the collector's PDU trace is its
// -D pdu option. The push buttons (dumptrace, dumpconn, sighup) always read 0.
// Which clients may store is the server's decision (collectord/server, store).

// SIGHUPHook is optionally implemented by Self: the daemon's way to act on a
// store into pmcd.control.sighup as on a SIGHUP. A nil func means the server has
// no daemon behind it, and the store is refused.
type SIGHUPHook interface {
	SIGHUPHook() func()
}

// defaultTraceBufs is what pmcd 6.0.3 reports in pmcd.control.tracebufs before
// any store.
const defaultTraceBufs = 20

// controlState holds the stored switches; the zero values are pmcd's defaults
// but for tracebufs.
type controlState struct {
	traceConn, tracePDU, traceNoBuf, traceBufs atomic.Int32
}

func newControlState() *controlState {
	c := &controlState{}
	c.traceBufs.Store(defaultTraceBufs)
	return c
}

func (c *controlState) slot(sel int) *atomic.Int32 {
	switch sel {
	case selTraceConn:
		return &c.traceConn
	case selTracePDU:
		return &c.tracePDU
	case selTraceNoBuf:
		return &c.traceNoBuf
	case selTraceBufs:
		return &c.traceBufs
	}
	return nil
}

func (c *controlState) get(sel int) int32 {
	if s := c.slot(sel); s != nil {
		return s.Load()
	}
	return 0
}

// control finds the pmcd source and the selector of a storable control metric.
func (r *Registry) control(p protocol.PMID) (*selfSource, int, bool) {
	ent, ok := r.byPMID[p]
	if !ok {
		return nil, 0, false
	}
	s, ok := r.sources[ent.src].src.(*selfSource)
	if !ok {
		return nil, 0, false
	}
	switch ent.sel {
	case selTraceConn, selTracePDU, selTraceBufs, selTraceNoBuf, selDumpTrace, selDumpConn, selControlSIGHUP:
		return s, ent.sel, true
	}
	return nil, 0, false
}

// IsControl reports whether p is one of the pmcd.control.* metrics clients may
// store into (the tracing switches and push buttons; not debug, timeout or
// register, which stay fixed).
func (r *Registry) IsControl(p protocol.PMID) bool {
	_, _, ok := r.control(p)
	return ok
}

// IsSIGHUP reports whether p is pmcd.control.sighup, the one store that acts.
func (r *Registry) IsSIGHUP(p protocol.PMID) bool {
	_, sel, ok := r.control(p)
	return ok && sel == selControlSIGHUP
}

// CheckControl checks a store into a pmcd.control.* metric without applying it,
// with pmcd's answers: one 32-bit value, 0 or 1 for the tracing switches
// (PM_ERR_BADSTORE otherwise), not negative for tracebufs (PM_ERR_SIGN). It
// returns 0 or the PCP error code; a metric that is not storable gives
// PM_ERR_PERMISSION.
func (r *Registry) CheckControl(vs *protocol.ValueSet) int32 {
	s, sel, ok := r.control(vs.PMID)
	if !ok {
		return protocol.ErrPermission
	}
	if vs.NumVal != 1 || len(vs.Values) != 1 || vs.ValFmt != protocol.ValFmtInsitu {
		return protocol.ErrBadStore
	}
	v := int32(vs.Values[0].Insitu)
	switch sel {
	case selTraceConn, selTracePDU, selTraceNoBuf:
		if v != 0 && v != 1 {
			return protocol.ErrBadStore
		}
	case selTraceBufs:
		if v < 0 {
			return protocol.ErrSign
		}
	case selControlSIGHUP:
		if h, ok := s.env.self.(SIGHUPHook); !ok || h.SIGHUPHook() == nil {
			return protocol.ErrNYI
		}
	}
	return 0
}

// ApplyControl applies a store CheckControl accepted.
func (r *Registry) ApplyControl(vs *protocol.ValueSet) {
	s, sel, ok := r.control(vs.PMID)
	if !ok || len(vs.Values) != 1 {
		return
	}
	if sel == selControlSIGHUP {
		if h, ok := s.env.self.(SIGHUPHook); ok {
			if f := h.SIGHUPHook(); f != nil {
				f()
			}
		}
		return
	}
	if slot := s.control.slot(sel); slot != nil {
		slot.Store(int32(vs.Values[0].Insitu))
	}
}
