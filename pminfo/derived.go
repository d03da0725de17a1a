package main

import (
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// derivedMetric is a metric libpcp defines on the client side. pminfo knows only the
// two anonymous ones every libpcp client has (PCP_DERIVED_CONFIG files are not
// read): they appear after pmcd's names in a full listing, have no values and carry
// the context labels only.
type derivedMetric struct {
	name    string
	desc    protocol.Desc
	oneline string
	help    string
}

var derivedMetrics = []derivedMetric{
	{
		name:    "event.flags",
		desc:    protocol.Desc{PMID: protocol.NewPMID(511, 0, 1), Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: protocol.SemDiscrete},
		oneline: "Flags for event records",
		help: "An anonymous derived metric that is used to encode the event flags\n" +
			"associated with event records.   See pmUnpackEventRecords(3).",
	},
	{
		name:    "event.missed",
		desc:    protocol.Desc{PMID: protocol.NewPMID(511, 0, 2), Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: protocol.SemDiscrete},
		oneline: "Count of missed event records",
		help: "An anonymous derived metric that is used to encode the number of\n" +
			"event records missed because either the PMDA could not keep up\n" +
			"or the PMAPI client did not collect the event records fast\n" +
			"enough.  See pmUnpackEventRecords(3).",
	},
}

// derivedByName returns the derived metric called name.
func derivedByName(name string) *derivedMetric {
	for i := range derivedMetrics {
		if derivedMetrics[i].name == name {
			return &derivedMetrics[i]
		}
	}
	return nil
}

// derivedByPMID returns the derived metric with the given PMID.
func derivedByPMID(pmid protocol.PMID) *derivedMetric {
	for i := range derivedMetrics {
		if derivedMetrics[i].desc.PMID == pmid {
			return &derivedMetrics[i]
		}
	}
	return nil
}

// isDerived reports whether pmid is in libpcp's derived-metric domain (511, with a
// non-zero item; item 0 marks dynamic PMNS roots).
func isDerived(pmid protocol.PMID) bool {
	return pmid != protocol.PMIDNull && pmid.Domain() == 511 && pmid.Item() != 0
}

// derivedBelow returns the derived names at or below prefix ("" is everything), in
// libpcp's order.
func derivedBelow(prefix string) []string {
	var out []string
	for _, d := range derivedMetrics {
		if prefix == "" || d.name == prefix || strings.HasPrefix(d.name, prefix+".") {
			out = append(out, d.name)
		}
	}
	return out
}
