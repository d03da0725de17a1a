package pmapitest

import (
	"net"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

const miniTrace = `# Command : pminfo -h localhost -m hinv.ncpu
## TCP connection 127.0.0.1:1 -> 127.0.0.1:44321
[01] S->C  PDU_ERROR (0x7000)  len=20
     hex: 0000001400007000000000000000000002010e44
[02] C->S  PDU_CREDS (0x700c)  len=20
     hex: 000000140000700c000045f40000000101020000
[03] C->S  PDU_PMNS_TRAVERSE (0x7010)  len=32
     hex: 000000200000701000000000000000000000000968696e762e6e6370757e7e7e
[04] S->C  PDU_PMNS_NAMES (0x700e)  len=40
     hex: 000000280000700e000000000000000a00000000000000010000000968696e762e6e6370757e7e7e
# ---- exact output of the command (stdout+stderr) ----
# | hinv.ncpu
# | [exit status: 0]
`

func TestParseTrace(t *testing.T) {
	tr, err := ParseTrace("mini", []byte(miniTrace))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Records) != 4 || !tr.Records[1].ToServer || tr.Records[0].ToServer || len(tr.Records[3].Bytes) != 40 {
		t.Fatalf("records %+v", tr.Records)
	}
	if tr.Command != "pminfo -h localhost -m hinv.ncpu" || tr.Output != "hinv.ncpu\n" || tr.Exit != 0 || !tr.HasOutput {
		t.Errorf("command %q output %q exit %d", tr.Command, tr.Output, tr.Exit)
	}
}

// client runs the handshake and sends one TRAVERSE for name.
func client(t *testing.T, addr, name string) (protocol.PDU, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := protocol.NewConn(nc)
	if _, err := c.Read(); err != nil {
		return nil, err
	}
	c.WriteRaw(protocol.Encode(nil, &protocol.Creds{Creds: []uint32{protocol.VersionCred(0)}}, 99))
	c.Write(&protocol.NameReq{Name: name})
	return c.Read()
}

func TestReplayStrictMatches(t *testing.T) {
	tr, _ := ParseTrace("mini", []byte(miniTrace))
	s := Replay(t, tr, Strict)
	p, err := client(t, s.Addr, "hinv.ncpu")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := p.(*protocol.PMNSNames); !ok || n.Names[0] != "hinv.ncpu" {
		t.Errorf("reply %#v", p)
	}
}

func TestReplayStrictReportsMismatch(t *testing.T) {
	tr, _ := ParseTrace("mini", []byte(miniTrace))
	s := newServer(t)
	s.serve(func(n int, c net.Conn) {
		s.replay("mini", protocol.NewConn(c), tr.Records, Strict)
	})
	client(t, s.Addr, "hinv.ndisk")
	s.Close()
	errs := s.Errors()
	if len(errs) != 1 || !strings.Contains(errs[0], "request differs") {
		t.Errorf("errors %q", errs)
	}
}

func TestReplayLookupRejectsUnknownRequests(t *testing.T) {
	tr, _ := ParseTrace("mini", []byte(miniTrace))
	s := newServer(t)
	s.serve(func(n int, c net.Conn) {
		s.replay("mini", protocol.NewConn(c), tr.Records, Lookup)
	})
	client(t, s.Addr, "kernel")
	s.Close()
	if errs := s.Errors(); len(errs) != 1 || !strings.Contains(errs[0], "not in the trace") {
		t.Errorf("errors %q", errs)
	}
}
