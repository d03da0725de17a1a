package server

import (
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// The proc agent's newer metrics from the attacker's side, over the wire.
var (
	pmidEnviron     = protocol.NewPMID(3, 8, 47)  // proc.psinfo.environ
	pmidMaps        = protocol.NewPMID(3, 9, 7)   // proc.memory.maps
	pmidSmapsPss    = protocol.NewPMID(3, 33, 1)  // proc.smaps.pss
	pmidNSPid       = protocol.NewPMID(3, 24, 38) // proc.namespaces.pid
	pmidHotPid      = protocol.NewPMID(3, 52, 0)  // hotproc.psinfo.pid
	pmidHotEnviron  = protocol.NewPMID(3, 52, 47) // hotproc.psinfo.environ
	pmidHotCPUBurn  = protocol.NewPMID(3, 61, 7)  // hotproc.predicate.cpuburn
	pmidHotNProcs   = protocol.NewPMID(3, 52, 99) // hotproc.nprocs
	pmidHotConfig   = protocol.NewPMID(3, 60, 8)  // hotproc.control.config
	pmidHotRefresh  = protocol.NewPMID(3, 60, 1)  // hotproc.control.refresh
	pmidRunqSleep   = protocol.NewPMID(3, 13, 2)  // proc.runq.sleeping
	pmidCtlThreads  = protocol.NewPMID(3, 10, 1)  // proc.control.all.threads
	indomHotprocIDs = protocol.NewInDom(3, 39)
)

var hotPrivate = []protocol.PMID{pmidEnviron, pmidMaps, pmidSmapsPss, pmidNSPid, pmidHotPid, pmidHotEnviron, pmidHotCPUBurn}
var hotPublic = []protocol.PMID{pmidHotNProcs, pmidHotConfig, pmidRunqSleep, pmidCtlThreads}

// TestNewProcMetricsNeedTrustedClient: a plain TCP client that names a pid in its
// profile and asks for the environment, the mappings, smaps, namespaces and every
// kind of hotproc metric gets PM_ERR_PERMISSION for each, and for the hotproc
// instance domain; the counts and controls stay public. The same requests over
// the unix socket (trusted) get values, or none for hotproc (no hot process).
func TestNewProcMetricsNeedTrustedClient(t *testing.T) {
	_, addr, _ := startServer(t, nil)
	c := dial(t, addr)
	c.Write(&protocol.Profile{GState: protocol.ProfileInclude, Entries: []protocol.ProfileEntry{
		{InDom: indomProcs, State: protocol.ProfileExclude, Insts: []int32{1}}}})
	res, ok := roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: append(append([]protocol.PMID{}, hotPrivate...), hotPublic...)}).(*protocol.Result)
	if !ok || len(res.VSets) != len(hotPrivate)+len(hotPublic) {
		t.Fatalf("fetch reply %#v", res)
	}
	for i, p := range hotPrivate {
		if n := res.VSets[i].NumVal; n != protocol.ErrPermission {
			t.Errorf("plain TCP %v: numval %d, want PM_ERR_PERMISSION", p, n)
		}
	}
	for i, p := range hotPublic {
		if n := res.VSets[len(hotPrivate)+i].NumVal; n != 1 {
			t.Errorf("plain TCP %v: numval %d, want the public value", p, n)
		}
	}
	wantError(t, roundTrip(t, c, &protocol.InstanceReq{InDom: indomHotprocIDs, Inst: protocol.InNull}), protocol.ErrPermission)

	// The unix socket: trusted.
	uc := unixClient(t)
	uc.Write(&protocol.Profile{GState: protocol.ProfileInclude})
	res, ok = roundTrip(t, uc, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{pmidNSPid, pmidHotPid, pmidHotNProcs}}).(*protocol.Result)
	if !ok || len(res.VSets) != 3 {
		t.Fatalf("fetch reply %#v", res)
	}
	if n := res.VSets[0].NumVal; n < 1 {
		t.Errorf("unix socket: proc.namespaces.pid numval %d, want values", n)
	}
	if n := res.VSets[1].NumVal; n != 0 {
		t.Errorf("unix socket: hotproc.psinfo.pid numval %d, want none (no predicate)", n)
	}
	switch r := roundTrip(t, uc, &protocol.InstanceReq{InDom: indomHotprocIDs, Inst: protocol.InNull}).(type) {
	case *protocol.InstancePDU:
		if len(r.Instances) != 0 {
			t.Errorf("unix socket: %d hot processes, want none", len(r.Instances))
		}
	default:
		t.Errorf("unix socket: hotproc instances %#v", r)
	}

	// A predicate store is never accepted and ignored: refused from either side,
	// and the configuration stays empty.
	pred := &protocol.Result{VSets: []protocol.ValueSet{{PMID: pmidHotConfig, NumVal: 1, ValFmt: protocol.ValFmtStatic,
		Values: []protocol.Value{protocol.BlockString(protocol.InNull, `uname != "root" || cpuburn > 0.05`)}}}}
	wantError(t, roundTrip(t, c, pred), protocol.ErrPermission)
	wantError(t, roundTrip(t, uc, pred), protocol.ErrPermission)
	refresh := &protocol.Result{VSets: []protocol.ValueSet{{PMID: pmidHotRefresh, NumVal: 1, ValFmt: protocol.ValFmtInsitu,
		Values: []protocol.Value{{Inst: protocol.InNull, Insitu: 1}}}}}
	wantError(t, roundTrip(t, uc, refresh), protocol.ErrPermission)
	res, _ = roundTrip(t, uc, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{pmidHotConfig, pmidHotNProcs}}).(*protocol.Result)
	if res == nil || res.VSets[0].NumVal != 1 || res.VSets[0].Values[0].Str() != "" || res.VSets[1].Values[0].Insitu != 0 {
		t.Errorf("after refused stores: %+v", res)
	}
}
