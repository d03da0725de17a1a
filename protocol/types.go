// Package protocol implements the PCP (Performance Co-Pilot) binary PDU protocol as
// spoken by pmcd 6: PDU types with encode and decode, a bounded stream reader, error
// codes with their messages, and the connection handshake including the same-socket
// TLS upgrade. It knows nothing of /proc, files or certificates.
package protocol

import (
	"fmt"
	"strconv"
)

// PMID identifies a metric: domain (9 bits), cluster (12 bits), item (10 bits).
type PMID uint32

// InDom identifies an instance domain: domain (9 bits), serial (22 bits).
type InDom uint32

// Null values for identifiers (PM_ID_NULL, PM_INDOM_NULL, PM_IN_NULL).
const (
	PMIDNull  PMID   = 0xFFFFFFFF
	InDomNull InDom  = 0xFFFFFFFF
	InNull    uint32 = 0xFFFFFFFF
)

// NewPMID packs a PMID from its parts.
func NewPMID(domain, cluster, item uint32) PMID {
	return PMID((domain&0x1ff)<<22 | (cluster&0xfff)<<10 | item&0x3ff)
}

// Domain returns the PMID's domain number.
func (p PMID) Domain() uint32 { return uint32(p) >> 22 & 0x1ff }

// Cluster returns the PMID's cluster number.
func (p PMID) Cluster() uint32 { return uint32(p) >> 10 & 0xfff }

// Item returns the PMID's item number.
func (p PMID) Item() uint32 { return uint32(p) & 0x3ff }

// String renders D.C.I as pmIDStr does.
func (p PMID) String() string {
	if p == PMIDNull {
		return "PM_ID_NULL"
	}
	if p.Domain() == 511 && p.Item() == 0 {
		return strconv.Itoa(int(p.Cluster())) + ".*.*"
	}
	return fmt.Sprintf("%d.%d.%d", p.Domain(), p.Cluster(), p.Item())
}

// NewInDom packs an instance domain from its parts.
func NewInDom(domain, serial uint32) InDom { return InDom((domain&0x1ff)<<22 | serial&0x3fffff) }

// Domain returns the instance domain's domain number.
func (i InDom) Domain() uint32 { return uint32(i) >> 22 & 0x1ff }

// Serial returns the instance domain's serial number.
func (i InDom) Serial() uint32 { return uint32(i) & 0x3fffff }

// String renders D.S as pmInDomStr does.
func (i InDom) String() string {
	if i == InDomNull {
		return "PM_INDOM_NULL"
	}
	return fmt.Sprintf("%d.%d", i.Domain(), i.Serial())
}

// Metric value types (pmDesc.type).
const (
	TypeNoSupport int32 = -1
	Type32        int32 = 0
	TypeU32       int32 = 1
	Type64        int32 = 2
	TypeU64       int32 = 3
	TypeFloat     int32 = 4
	TypeDouble    int32 = 5
	TypeString    int32 = 6
	TypeAggregate int32 = 7
	TypeAggStatic int32 = 8
	TypeEvent     int32 = 9
	TypeHREvent   int32 = 10
	TypeUnknown   int32 = 255
)

// Semantics (pmDesc.sem).
const (
	SemCounter  int32 = 1
	SemInstant  int32 = 3
	SemDiscrete int32 = 4
)

// Units is the packed pmUnits word exactly as it appears on the wire.
type Units uint32

// Common unit words.
const (
	UnitsNone     Units = 0x00000000
	UnitsMillisec Units = 0x01002000
	UnitsSec      Units = 0x01003000
	UnitsKbyte    Units = 0x10010000
	UnitsMbyte    Units = 0x10020000
	UnitsByte     Units = 0x10000000
	UnitsCount    Units = 0x00100000
	UnitsCountSec Units = 0x0f103000
	UnitsMbyteSec Units = 0x1f023000
)

// Desc is a metric descriptor (pmDesc).
type Desc struct {
	PMID  PMID
	Type  int32
	InDom InDom
	Sem   int32
	Units Units
}
