package metrics

import "github.com/gopcp/gopcp/protocol"

// The pmcd.pdu_in.* and pmcd.pdu_out.* counters (clusters 1 and 2 of domain 2):
// how many PDUs of each type the collector has read from and written to its
// clients. The server counts them (collectord/server/pducount.go) and reports
// them through PMCDStats; this file only names them.

// PDUTypes is how many PDU types are counted: 0x7000 (ERROR) to 0x7017 (DESCS),
// indexed by type - 0x7000.
const PDUTypes = 24

// PMCDStats is optionally implemented by Self: the server's PDU and SIGHUP counts.
type PMCDStats interface {
	// PDUCounts returns the PDUs read from (in) and written to (out) clients
	// since the server started, by type - 0x7000.
	PDUCounts() (in, out [PDUTypes]uint64)
	// SIGHUPs returns how many SIGHUP signals the daemon has acted on.
	SIGHUPs() uint64
}

// pduMetric is one counter of each direction: slot is type - 0x7000, or -1 for
// the total.
type pduMetric struct {
	name string
	item uint32
	slot int
}

// pduNames are the counters in PMID item order, as pmcd numbers them: the item is
// the type's offset from 0x7000, one more from PMNS_TRAVERSE on, because item 16
// is the total (and 0x700b, unused, has no counter of its own).
var pduNames = func() []pduMetric {
	names := []string{"error", "result", "profile", "fetch", "desc_req", "desc", "instance_req",
		"instance", "text_req", "text", "control_req", "", "creds", "pmns_ids", "pmns_names",
		"pmns_child", "pmns_traverse", "auth", "label_req", "label", "highres_fetch",
		"highres_result", "desc_ids", "descs"}
	var out []pduMetric
	for slot, n := range names {
		item := uint32(slot)
		if slot >= 16 {
			item++
		}
		if slot == 16 {
			out = append(out, pduMetric{"total", 16, -1})
		}
		if n != "" {
			out = append(out, pduMetric{n, item, slot})
		}
	}
	return out
}()

func pduMetricDefs() []metricDef {
	var defs []metricDef
	for dir, cluster := range []uint32{1, 2} {
		prefix := [...]string{"pmcd.pdu_in.", "pmcd.pdu_out."}[dir]
		base := [...]int{selPDUIn, selPDUOut}[dir]
		for i, p := range pduNames {
			defs = append(defs, metricDef{prefix + p.name, pmid(2, cluster, p.item), tU32, null, semC, uCount, base + i})
		}
	}
	return defs
}

// pduCount is counter i of pduNames from counts: the 32-bit counters wrap as
// pmcd's do, and the total is the sum of every type, as pmcd sums its table.
func pduCount(counts *[PDUTypes]uint64, i int) uint32 {
	if p := pduNames[i]; p.slot >= 0 {
		return uint32(counts[p.slot])
	}
	var sum uint64
	for _, n := range counts {
		sum += n
	}
	return uint32(sum)
}

// pduHelp is our own help for one counter.
func pduHelp(in bool, p pduMetric) helpText {
	dir, verb := "received from", "read from"
	if !in {
		dir, verb = "sent to", "written to"
	}
	if p.slot < 0 {
		return helpText{"PDUs of every type " + dir + " clients",
			"Count of every PDU the collector has " + verb + " its client connections since\n" +
				"it started, the sum of the other pmcd.pdu_" + map[bool]string{true: "in", false: "out"}[in] + ".* counters. A 32-bit\n" +
				"counter that wraps, as pmcd's does."}
	}
	typ := protocol.TypeName(0x7000 + int32(p.slot))
	return helpText{p.name + " PDUs " + dir + " clients",
		"Count of " + typ + " PDUs the collector has " + verb + " its client connections\n" +
			"since it started, including the greeting and CREDS exchange. The agents\n" +
			"run inside the collector, so unlike pmcd no PDUs pass between daemon and\n" +
			"agents and none are counted for them. A 32-bit counter that wraps."}
}

func init() {
	if len(pduNames) != numPDUMetrics {
		panic("metrics: pduNames and numPDUMetrics disagree")
	}
}
