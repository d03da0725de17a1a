package metrics

import "github.com/gopcp/gopcp/protocol"

// ownInDomHelp lists the instance domains added since the first catalogue, whose
// help text (helpInDom, set by the source that owns the domain) is in our own words
// rather than generated from PCP's help files. It is filled by init functions only
// and read-only afterwards.
var ownInDomHelp = map[protocol.InDom]bool{}

// setOwnInDomHelp records our own help for an instance domain; called from init.
func setOwnInDomHelp(in protocol.InDom, oneline, help string) {
	helpInDom[in] = helpText{oneline, help}
	ownInDomHelp[in] = true
}
