package server

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

var (
	pmidPsargs = protocol.NewPMID(3, 8, 41) // proc.psinfo.psargs
	pmidNProcs = protocol.NewPMID(3, 8, 99) // proc.nprocs
	indomProcs = protocol.NewInDom(3, 9)
)

// procAccess fetches a process's command line, proc.nprocs and the process list
// over c, and reports what came back: the error code of psargs (0 with values),
// whether nprocs had a value, and the error of the instance request (0 with a list).
func procAccess(t *testing.T, c *protocol.Conn) (psargsErr int32, nprocs bool, indomErr int32) {
	t.Helper()
	pid := int32(os.Getpid())
	c.Write(&protocol.Profile{GState: protocol.ProfileInclude, Entries: []protocol.ProfileEntry{
		{InDom: indomProcs, State: protocol.ProfileExclude, Insts: []int32{pid}}}})
	res, ok := roundTrip(t, c, &protocol.Fetch{Highres: true, PMIDs: []protocol.PMID{pmidPsargs, pmidNProcs}}).(*protocol.Result)
	if !ok || len(res.VSets) != 2 {
		t.Fatalf("fetch reply %#v", res)
	}
	switch ps := res.VSets[0]; {
	case ps.NumVal < 0:
		psargsErr = ps.NumVal
	case ps.NumVal != 1 || ps.Values[0].Inst != uint32(pid):
		t.Fatalf("psargs: %+v, want only pid %d (the profile)", ps, pid)
	}
	nprocs = res.VSets[1].NumVal == 1
	switch r := roundTrip(t, c, &protocol.InstanceReq{InDom: indomProcs, Inst: protocol.InNull}).(type) {
	case *protocol.ErrorPDU:
		indomErr = r.Code
	case *protocol.InstancePDU:
		if len(r.Instances) == 0 {
			t.Fatal("empty process list")
		}
	default:
		t.Fatalf("instance reply %#v", r)
	}
	return
}

// TestProcMetricsNeedTrustedClient: other processes' command lines, users and
// working directories go only to a local client (unix socket) or one that proved
// who it is with a verified certificate, as PCP's proc agent decides. A plain TCP
// client (even one that asks for nothing else and ignores every flag) and a TLS
// client without a certificate get PM_ERR_PERMISSION for them and for the process
// list; proc.nprocs stays public.
func TestProcMetricsNeedTrustedClient(t *testing.T) {
	_, addr, _ := startServer(t, nil)
	if e, n, ie := procAccess(t, dial(t, addr)); e != protocol.ErrPermission || !n || ie != protocol.ErrPermission {
		t.Errorf("plain TCP: psargs %d, nprocs %v, indom %d; want permission errors and nprocs", e, n, ie)
	}

	_, taddr, _, p := newTLSServer(t, false)
	c, err := secureDial(t, taddr, clientCfg(p, nil))
	if err != nil {
		t.Fatal(err)
	}
	if e, n, ie := procAccess(t, c); e != protocol.ErrPermission || !n || ie != protocol.ErrPermission {
		t.Errorf("TLS without a certificate: psargs %d, nprocs %v, indom %d", e, n, ie)
	}
	c, err = secureDial(t, taddr, clientCfg(p, p.client))
	if err != nil {
		t.Fatal(err)
	}
	if e, n, ie := procAccess(t, c); e != 0 || !n || ie != 0 {
		t.Errorf("TLS with a verified certificate: psargs %d, nprocs %v, indom %d", e, n, ie)
	}
	// A certificate from a CA the server does not trust gets no session at all.
	if _, err := secureDial(t, taddr, clientCfg(p, p.stranger)); err == nil {
		t.Error("a stranger's certificate was accepted")
	}

	// The unix socket: local, trusted.
	uc := unixClient(t)
	if e, n, ie := procAccess(t, uc); e != 0 || !n || ie != 0 {
		t.Errorf("unix socket: psargs %d, nprocs %v, indom %d", e, n, ie)
	}
}

// TestRequestedCertIsNotAuthentication: a TLS configuration that only requests a
// client certificate (no verification hook, no chain check) does not make a client
// that sends a self-made one trusted.
func TestRequestedCertIsNotAuthentication(t *testing.T) {
	_, _, _, p := newTLSServer(t, false)
	weak := p.cfg.Clone()
	weak.VerifyPeerCertificate = nil
	weak.ClientAuth = tls.RequestClientCert
	_, addr, _ := startServer(t, func(s *Server) {
		s.TLSConfig = func() *tls.Config { return weak }
		s.HandshakeTimeout = 500 * time.Millisecond
	})
	c, err := secureDial(t, addr, clientCfg(p, p.stranger))
	if err != nil {
		t.Fatal(err)
	}
	if e, _, ie := procAccess(t, c); e != protocol.ErrPermission || ie != protocol.ErrPermission {
		t.Errorf("unverified certificate: psargs %d, indom %d; want permission errors", e, ie)
	}
}

// unixClient starts a server listening on a unix-domain socket and returns a client
// connected there, past the greeting and its credentials: a local, trusted client.
func unixClient(t *testing.T) *protocol.Conn {
	t.Helper()
	s, _, _ := startServer(t, nil)
	sock := filepath.Join(t.TempDir(), "pmcd.socket")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background(), ln)
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	uc := protocol.NewConn(nc)
	uc.IdleTimeout = 5 * time.Second
	if g, err := uc.Read(); err != nil {
		t.Fatal(err)
	} else if _, err := protocol.ParseGreeting(g); err != nil {
		t.Fatal(err)
	}
	uc.Write(&protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}})
	return uc
}
