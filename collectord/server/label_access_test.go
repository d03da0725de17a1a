package server

import (
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// instanceLabels asks for the labels of every instance of indom over c: the error
// code (0 for a list) and how many instance label sets came back.
func instanceLabels(t *testing.T, c *protocol.Conn, indom protocol.InDom) (int32, int) {
	t.Helper()
	switch r := roundTrip(t, c, &protocol.LabelReq{Ident: uint32(indom), Kind: protocol.LabelInstances}).(type) {
	case *protocol.ErrorPDU:
		return r.Code, 0
	case *protocol.LabelPDU:
		return 0, len(r.Sets)
	default:
		t.Fatalf("label reply %#v", r)
		return 0, 0
	}
}

// TestProcInstanceLabelsNeedTrustedClient: the labels of the process instances
// ({"pid":N} each) are the process list, so a plain TCP client (which asks for them
// directly, ignoring everything else) and a TLS client without a certificate get
// PM_ERR_PERMISSION, as for the instance request; a client with a verified
// certificate gets them. Other domains' instance labels stay public, and an unknown
// domain is PM_ERR_INDOM.
func TestProcInstanceLabelsNeedTrustedClient(t *testing.T) {
	_, addr, _ := startServer(t, nil)
	c := dial(t, addr)
	if code, n := instanceLabels(t, c, indomProcs); code != protocol.ErrPermission || n != 0 {
		t.Errorf("plain TCP: code %d, %d process label sets; want PM_ERR_PERMISSION", code, n)
	}
	if code, n := instanceLabels(t, c, protocol.NewInDom(60, 0)); code != 0 || n == 0 {
		t.Errorf("plain TCP, CPU instance labels: code %d, %d sets", code, n)
	}
	if code, _ := instanceLabels(t, c, protocol.NewInDom(60, 999)); code != protocol.ErrInDom {
		t.Errorf("unknown domain: code %d, want PM_ERR_INDOM", code)
	}
	if r, ok := roundTrip(t, c, &protocol.LabelReq{Ident: uint32(protocol.NewInDom(60, 999)), Kind: protocol.LabelInDom}).(*protocol.ErrorPDU); !ok || r.Code != protocol.ErrInDom {
		t.Errorf("labels of an unknown domain: %#v", r)
	}

	_, taddr, _, p := newTLSServer(t, false)
	tc, err := secureDial(t, taddr, clientCfg(p, nil))
	if err != nil {
		t.Fatal(err)
	}
	if code, n := instanceLabels(t, tc, indomProcs); code != protocol.ErrPermission || n != 0 {
		t.Errorf("TLS without a certificate: code %d, %d sets", code, n)
	}
	tc, err = secureDial(t, taddr, clientCfg(p, p.client))
	if err != nil {
		t.Fatal(err)
	}
	if code, n := instanceLabels(t, tc, indomProcs); code != 0 || n == 0 {
		t.Errorf("TLS with a verified certificate: code %d, %d sets", code, n)
	}
}
