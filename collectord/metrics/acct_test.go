package metrics

import (
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// TestAcctDisabled: process accounting is never switched on, so the exited processes
// have no instances and no values, enable_acct is 0, the file settings have no
// value, and an untrusted client gets the same (no values, no permission error), as
// the real agent answers an unauthenticated client.
func TestAcctDisabled(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	res := fetchByName(t, r, "acct.control.enable_acct", "acct.control.refresh", "acct.psinfo.pid", "acct.id.uid_nm")
	wantValues(t, "enable_acct", res["acct.control.enable_acct"], 0, one(0))
	wantValues(t, "refresh", res["acct.control.refresh"], 0, nil)
	wantValues(t, "psinfo.pid", res["acct.psinfo.pid"], 0, nil)
	wantValues(t, "uid_nm", res["acct.id.uid_nm"], 0, nil)
	if in, err := r.Instances(indomAcct); err != nil || len(in) != 0 {
		t.Errorf("acct instances %v %v", in, err)
	}
	if in, err := r.InstancesFor(indomAcct, false); err != nil || len(in) != 0 {
		t.Errorf("untrusted acct instances %v %v", in, err)
	}
	out := r.FetchFor(nil, []protocol.PMID{pmidOf(t, r, "acct.control.enable_acct"), pmidOf(t, r, "acct.psinfo.pid")}, FetchOpts{})
	wantValues(t, "enable_acct untrusted", out[0], 0, one(0))
	wantValues(t, "psinfo.pid untrusted", out[1], 0, nil)
}
