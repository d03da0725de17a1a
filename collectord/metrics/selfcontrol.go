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

// isControl reports whether sel is one of the pmcd.control.* metrics clients may
// store into (the tracing switches and push buttons; not debug, timeout or
// register, which stay fixed).
func isControl(sel int) bool {
	switch sel {
	case selTraceConn, selTracePDU, selTraceBufs, selTraceNoBuf, selDumpTrace, selDumpConn, selControlSIGHUP:
		return true
	}
	return false
}

// checkStore accepts pmcd.control.* stores from local clients, as pmcd 6.0.3
// with its default access rules does, with pmcd's answers: one 32-bit value, 0
// or 1 for the tracing switches (PM_ERR_BADSTORE otherwise), not negative for
// tracebufs (PM_ERR_SIGN). pmcd.control.sighup, the one store that acts (a
// reload), also needs a client that proved who it is.
func (s *selfSource) checkStore(sel int, vs *protocol.ValueSet, o StoreOpts) int32 {
	if !isControl(sel) || !o.Local || sel == selControlSIGHUP && !o.Trusted {
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

// applyStore applies a store checkStore accepted.
func (s *selfSource) applyStore(sel int, vs *protocol.ValueSet, _ StoreOpts) {
	if len(vs.Values) != 1 {
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
