package server

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/protocol"
)

// selfStats is what the server counts about itself for the pmcd.* metrics: the
// PDUs of each type read from and written to clients (pmcd.pdu_in.*,
// pmcd.pdu_out.*), the SIGHUPs the daemon acted on (pmcd.sighups), and the
// daemon's hook for a store into pmcd.control.sighup. The counting sits on the
// path of every request, so it is one atomic add into a fixed array per PDU:
// no lock, no allocation, no map. Go's atomics are lock-free words; two CPUs
// adding to the same counter contend on its cache line, which costs less than
// anything else a request does.
type selfStats struct {
	in, out [metrics.PDUTypes]atomic.Uint64
	sighups atomic.Uint64
	hook    atomic.Pointer[func()]
}

// countIn counts a PDU read, from the type in its header. A type outside
// 0x7000..0x7017 is not counted (pmcd counts only the types it knows).
func (s *selfStats) countIn(raw []byte) {
	if len(raw) >= protocol.HeaderSize {
		if i := binary.BigEndian.Uint32(raw[4:8]) - 0x7000; i < metrics.PDUTypes {
			s.in[i].Add(1)
		}
	}
}

// countOut counts a PDU written.
func (s *selfStats) countOut(typ int32) {
	if i := uint32(typ) - 0x7000; i < metrics.PDUTypes {
		s.out[i].Add(1)
	}
}

// CountSIGHUP records that the daemon received SIGHUP and is acting on it
// (pmcd.sighups). The daemon calls it from its signal loop.
func (s *Server) CountSIGHUP() { s.own.sighups.Add(1) }

// SetSIGHUPHook gives the server the daemon's way to act as on SIGHUP, for a
// store into pmcd.control.sighup (pmcd raises SIGHUP on itself). Without one
// such a store is refused with PM_ERR_NYI: there is nothing to reload.
func (s *Server) SetSIGHUPHook(f func()) {
	if f == nil {
		s.own.hook.Store(nil)
		return
	}
	s.own.hook.Store(&f)
}

// PDUCounts implements metrics.PMCDStats.
func (v selfView) PDUCounts() (in, out [metrics.PDUTypes]uint64) {
	for i := range in {
		in[i] = v.s.own.in[i].Load()
		out[i] = v.s.own.out[i].Load()
	}
	return in, out
}

// SIGHUPs implements metrics.PMCDStats.
func (v selfView) SIGHUPs() uint64 { return v.s.own.sighups.Load() }

// SIGHUPHook implements metrics.SIGHUPHook.
func (v selfView) SIGHUPHook() func() {
	if f := v.s.own.hook.Load(); f != nil {
		return *f
	}
	return nil
}
