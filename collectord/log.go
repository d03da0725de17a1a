package main

import (
	"io"
	"net"

	"github.com/gopcp/gopcp/internal/logctl"
	"github.com/gopcp/gopcp/protocol"
)

// logControl is collectord's logging: logctl with the LogConfig's -D classes.
type logControl struct{ *logctl.Control }

func newLogControl(w io.Writer, c LogConfig) *logControl {
	lc := &logControl{logctl.New(w)}
	lc.apply(c)
	return lc
}

// apply switches to c's format, level and classes (c has been validated).
func (lc *logControl) apply(c LogConfig) {
	classes, _ := parseDebugClasses(c.Debug)
	lc.Apply(c.Format, c.Level, classes)
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
