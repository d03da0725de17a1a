package main

import (
	"github.com/gopcp/gopcp/protocol"
)

// Derived metrics (PCP_DERIVED_CONFIG, the default configuration directory and
// the two anonymous event metrics) are resolved by pmapi, which loads and binds
// them as libpcp does; pminfo only needs to know which PMIDs have no agent.

// isDerived reports whether pmid is in libpcp's derived-metric domain (511, with a
// non-zero item; item 0 marks dynamic PMNS roots).
func isDerived(pmid protocol.PMID) bool {
	return pmid != protocol.PMIDNull && pmid.Domain() == 511 && pmid.Item() != 0
}
