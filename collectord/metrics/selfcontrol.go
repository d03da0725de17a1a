package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// pmcd.control.*: the switches pmcd 6.0.3 lets local clients store into, and
// what the collector does with each. Every stored value is process-wide, as in
// pmcd (a store by one client is what every client reads), and reads back as
// pmcd would show it:
//
//   - traceconn, tracepdu, tracenobuf, tracebufs: recorded, but they turn no
//     tracing on: the collector's PDU trace is its -D pdu option.
//   - debug: recorded only, and read back as pmcd reads it back, masked to the
//     29 bits of PCP's old debug bit-field (pmdbg -o -l). pmcd's bits switch on
//     libpcp's internal tracing, which the collector does not have; and raising
//     the log level would let any loopback client (perhaps proxyd relaying a
//     remote one, see sighup) fill the log, so the level stays the operator's
//     (-D, the configuration) and nothing here changes it.
//   - timeout: recorded only. pmcd's agent timeout guards against a separate
//     agent process that stops answering; the collector's agents run in its own
//     process, so there is nothing to time out. It reads 0 (no timeout in use)
//     until a client stores something; a value that would be negative as a
//     32-bit integer gives PM_ERR_SIGN, as in pmcd.
//   - register: sixteen integers kept for clients, used by nothing, one per
//     instance 0..15; any other instance gives PM_ERR_INST.
//   - dumptrace, dumpconn, sighup: push buttons that always read 0; only
//     sighup acts (a reload, through the daemon's SIGHUPHook).
//
// The value sets are checked more strictly than pmcd checks them: pmcd takes
// the first of several values, ignores the instance of a singular metric,
// answers success for an empty value set, and reads a value that is not an
// insitu integer as whatever bits its pointer has. Here a value set that is not
// exactly what pmstore sends (insitu 32-bit integers, PM_IN_NULL for a singular
// metric, at least one value, known register instances) is refused whole, with
// PM_ERR_BADSTORE or PM_ERR_INST, and changes nothing.

// SIGHUPHook is optionally implemented by Self: the daemon's way to act on a
// store into pmcd.control.sighup as on a SIGHUP. A nil func means the server has
// no daemon behind it, and the store is refused.
type SIGHUPHook interface {
	SIGHUPHook() func()
}

// defaultTraceBufs is what pmcd 6.0.3 reports in pmcd.control.tracebufs before
// any store.
const defaultTraceBufs = 20

// debugKnownBits are the bits of PCP's old debug bit-field (DBG_TRACE_PDU 1 to
// DBG_TRACE_HTTP 1<<27, and DBG_TRACE_DESPERATE 1<<30). pmcd keeps only these
// of a value stored into pmcd.control.debug: storing -1 reads back 1342177279.
const debugKnownBits = 1<<28 - 1 | 1<<30

// controlState holds the stored switches. The zero values are pmcd's defaults
// but for tracebufs (set to pmcd's 20) and timeout (pmcd starts at its -t, 5 by
// default; the collector at agentTimeout, 0, since it uses no timeout).
type controlState struct {
	traceConn, tracePDU, traceNoBuf, traceBufs, debug atomic.Int32
	timeout                                           atomic.Uint32

	// regMu keeps a store into several registers whole to a concurrent fetch.
	regMu     sync.Mutex
	registers [numRegisters]int32
}

func newControlState() *controlState {
	c := &controlState{}
	c.traceBufs.Store(defaultTraceBufs)
	c.timeout.Store(agentTimeout)
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
	case selDebug:
		return &c.debug
	}
	return nil
}

func (c *controlState) get(sel int) int32 {
	if s := c.slot(sel); s != nil {
		return s.Load()
	}
	return 0
}

// putRegisters appends the sixteen registers to res, instance by instance.
func (c *controlState) putRegisters(res *Result) {
	c.regMu.Lock()
	regs := c.registers
	c.regMu.Unlock()
	for i, v := range regs {
		putI(res, uint32(i), int64(v))
	}
}

// isControl reports whether sel is one of the pmcd.control.* metrics clients may
// store into (all of them).
func isControl(sel int) bool {
	switch sel {
	case selTraceConn, selTracePDU, selTraceBufs, selTraceNoBuf, selDumpTrace, selDumpConn, selControlSIGHUP,
		selDebug, selTimeout, selRegister:
		return true
	}
	return false
}

// checkStore accepts pmcd.control.* stores from local clients, as pmcd 6.0.3
// with its default access rules ("local:*" may store, everyone else not) does,
// with pmcd's answers for bad values: 0 or 1 for the tracing switches
// (PM_ERR_BADSTORE otherwise), not negative for tracebufs and timeout
// (PM_ERR_SIGN), a register instance 0..15 (PM_ERR_INST). pmcd.control.sighup,
// the one store that acts (a reload), also needs a client that proved who it is.
func (s *selfSource) checkStore(sel int, vs *protocol.ValueSet, o StoreOpts) int32 {
	if !isControl(sel) || !o.Local || sel == selControlSIGHUP && !o.Trusted {
		return protocol.ErrPermission
	}
	if code := checkControlShape(sel, vs); code != 0 {
		return code
	}
	v := int32(vs.Values[0].Insitu)
	switch sel {
	case selTraceConn, selTracePDU, selTraceNoBuf:
		if v != 0 && v != 1 {
			return protocol.ErrBadStore
		}
	case selTraceBufs, selTimeout:
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

// checkControlShape checks that vs is what pmstore sends for the metric sel:
// insitu values (every pmcd.control metric is a 32-bit integer), one value for
// PM_IN_NULL when the metric is singular, one or more for known instances of
// pmcd.control.register (several for one instance: the last is kept, as in pmcd).
func checkControlShape(sel int, vs *protocol.ValueSet) int32 {
	if vs.NumVal < 1 || int(vs.NumVal) != len(vs.Values) || vs.ValFmt != protocol.ValFmtInsitu {
		return protocol.ErrBadStore
	}
	if sel != selRegister {
		if len(vs.Values) != 1 {
			return protocol.ErrBadStore
		}
		if vs.Values[0].Inst != protocol.InNull {
			return protocol.ErrInst
		}
		return 0
	}
	for _, v := range vs.Values {
		if v.Inst >= numRegisters {
			return protocol.ErrInst
		}
	}
	return 0
}

// applyStore applies a store checkStore accepted.
func (s *selfSource) applyStore(sel int, vs *protocol.ValueSet, _ StoreOpts) {
	if len(vs.Values) == 0 {
		return
	}
	v := int32(vs.Values[0].Insitu)
	switch sel {
	case selControlSIGHUP:
		if h, ok := s.env.self.(SIGHUPHook); ok {
			if f := h.SIGHUPHook(); f != nil {
				f()
			}
		}
	case selDebug:
		s.control.debug.Store(v & debugKnownBits)
	case selTimeout:
		s.control.timeout.Store(uint32(v))
	case selRegister:
		s.control.regMu.Lock()
		for _, r := range vs.Values {
			if r.Inst < numRegisters {
				s.control.registers[r.Inst] = int32(r.Insitu)
			}
		}
		s.control.regMu.Unlock()
	default:
		if slot := s.control.slot(sel); slot != nil {
			slot.Store(v)
		}
	}
}
