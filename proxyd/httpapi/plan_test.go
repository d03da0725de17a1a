package httpapi_test

import (
	"encoding/binary"
	"math"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
	"github.com/gopcp/gopcp/proxyd/httpapi"
	"github.com/gopcp/gopcp/proxyd/upstream"
)

// versionedCollector is a PCP collector with one metric, test.m, whose PMID
// and type depend on its version: 1 serves 29.0.1, a U32 (7); 2 serves
// 29.0.2, a DOUBLE (2.5), and knows no 29.0.1. It counts the lookups of
// test.m.
type versionedCollector struct {
	version int
	lookups *atomic.Int64
	ln      net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

const (
	pmidV1 = protocol.PMID(29<<22 | 1)
	pmidV2 = protocol.PMID(29<<22 | 2)
)

func startVersioned(t *testing.T, addr string, version int, lookups *atomic.Int64) *versionedCollector {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	v := &versionedCollector{version: version, lookups: lookups, ln: ln}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			v.mu.Lock()
			v.conns = append(v.conns, c)
			v.mu.Unlock()
			v.wg.Add(1)
			go func() {
				defer v.wg.Done()
				defer c.Close()
				v.serve(protocol.NewConn(c))
			}()
		}
	}()
	t.Cleanup(v.stop)
	return v
}

// stop closes the listener and every connection: a collector restart as its
// clients see it.
func (v *versionedCollector) stop() {
	v.ln.Close()
	v.mu.Lock()
	for _, c := range v.conns {
		c.Close()
	}
	v.mu.Unlock()
	v.wg.Wait()
}

func (v *versionedCollector) serve(c *protocol.Conn) {
	c.Conn.SetDeadline(time.Now().Add(30 * time.Second))
	if c.Write(protocol.Greeting(0, 0)) != nil {
		return
	}
	if _, err := c.Read(); err != nil { // CREDS
		return
	}
	pmid := pmidV1
	if v.version == 2 {
		pmid = pmidV2
	}
	for {
		p, err := c.Read()
		if err != nil {
			return
		}
		var reply protocol.PDU
		switch r := p.(type) {
		case *protocol.PMNSNames:
			out := &protocol.PMNSIDs{}
			for _, n := range r.Names {
				if n == "test.m" {
					v.lookups.Add(1)
					out.IDs = append(out.IDs, pmid)
					out.Status++
				} else {
					out.IDs = append(out.IDs, protocol.PMIDNull)
				}
			}
			reply = out
			if out.Status == 0 {
				reply = &protocol.ErrorPDU{Code: protocol.ErrName}
			}
		case *protocol.DescReq:
			switch {
			case r.PMID != pmid:
				reply = &protocol.ErrorPDU{Code: protocol.ErrPMID}
			case v.version == 1:
				reply = &protocol.DescPDU{Desc: protocol.Desc{PMID: pmid, Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: protocol.SemInstant}}
			default:
				reply = &protocol.DescPDU{Desc: protocol.Desc{PMID: pmid, Type: protocol.TypeDouble, InDom: protocol.InDomNull, Sem: protocol.SemInstant}}
			}
		case *protocol.Fetch:
			res := &protocol.Result{Highres: r.Highres, Sec: 1}
			for _, id := range r.PMIDs {
				switch {
				case id != pmid:
					res.VSets = append(res.VSets, protocol.ValueSet{PMID: id, NumVal: protocol.ErrPMID})
				case v.version == 1:
					res.VSets = append(res.VSets, protocol.ValueSet{PMID: id, NumVal: 1, Values: []protocol.Value{protocol.Insitu32(protocol.InNull, 7)}})
				default:
					res.VSets = append(res.VSets, protocol.ValueSet{PMID: id, NumVal: 1, ValFmt: protocol.ValFmtDynamic, Values: []protocol.Value{{
						Inst: protocol.InNull, VType: uint8(protocol.TypeDouble), Payload: binary.BigEndian.AppendUint64(nil, math.Float64bits(2.5))}}})
				}
			}
			reply = res
		case *protocol.Profile:
			continue // no reply
		default:
			reply = &protocol.ErrorPDU{Code: protocol.ErrPMID}
		}
		if c.Write(reply) != nil {
			return
		}
	}
}

// fetchTestM fetches test.m in context ctx and returns its PMID and value.
func fetchTestM(t *testing.T, base, ctx string) (pmid string, value any) {
	t.Helper()
	m := getJSON(t, base+"/pmapi/"+ctx+"/fetch?names=test.m", 200)
	vs, _ := m["values"].([]any)
	if len(vs) != 1 {
		t.Fatalf("fetch: %v", m)
	}
	v := vs[0].(map[string]any)
	ins, _ := v["instances"].([]any)
	if len(ins) != 1 {
		return v["pmid"].(string), nil
	}
	return v["pmid"].(string), ins[0].(map[string]any)["value"]
}

// A context's fetches reuse what they looked up, until the collector restarts
// with another namespace: then the new PMID and type are asked for before any
// value is read, in the same context, on the first request after the restart.
func TestFetchPlanCollectorRestart(t *testing.T) {
	var lookups atomic.Int64
	v1 := startVersioned(t, "127.0.0.1:0", 1, &lookups)
	addr := v1.ln.Addr().String()
	policy, _ := upstream.NewPolicy([]string{"127.0.0.1"}, true)
	api := httpapi.New(httpapi.Config{Policy: policy, Derived: pmapi.NewDerivedSet()})
	ts := httptest.NewServer(api)
	t.Cleanup(func() { ts.Close(); api.Close() })

	m := getJSON(t, ts.URL+"/pmapi/context?polltimeout=60&hostspec="+addr, 200)
	ctx := m["context"].(interface{ String() string }).String()
	for i := range 3 {
		pmid, val := fetchTestM(t, ts.URL, ctx)
		if pmid != "29.0.1" || val == nil || val.(interface{ String() string }).String() != "7" {
			t.Fatalf("fetch %d before the restart: %s %v", i, pmid, val)
		}
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("%d name lookups for three fetches of one name, want 1", n)
	}

	v1.stop()
	startVersioned(t, addr, 2, &lookups)
	pmid, val := fetchTestM(t, ts.URL, ctx)
	if pmid != "29.0.2" || val == nil || val.(interface{ String() string }).String() != "2.5" {
		t.Fatalf("after the restart with a new namespace: pmid %s value %v, want 29.0.2 and 2.5", pmid, val)
	}
	if n := lookups.Load(); n != 2 {
		t.Errorf("%d name lookups, want 2 (one after the restart)", n)
	}
	if pmid, _ := fetchTestM(t, ts.URL, ctx); pmid != "29.0.2" {
		t.Errorf("second fetch after the restart: %s", pmid)
	}
}

// A collector reached again after all its connections closed (the pool's
// idle timeout) may be another instance: its names are looked up again.
func TestFetchPlanColdReconnect(t *testing.T) {
	var lookups atomic.Int64
	v1 := startVersioned(t, "127.0.0.1:0", 1, &lookups)
	addr := v1.ln.Addr().String()
	policy, _ := upstream.NewPolicy([]string{"127.0.0.1"}, true)
	api := httpapi.New(httpapi.Config{Policy: policy, Derived: pmapi.NewDerivedSet(),
		PoolIdleTimeout: 50 * time.Millisecond, MetadataTTL: time.Hour})
	ts := httptest.NewServer(api)
	t.Cleanup(func() { ts.Close(); api.Close() })
	m := getJSON(t, ts.URL+"/pmapi/context?polltimeout=60&hostspec="+addr, 200)
	ctx := m["context"].(interface{ String() string }).String()
	if pmid, _ := fetchTestM(t, ts.URL, ctx); pmid != "29.0.1" {
		t.Fatalf("first fetch: %s", pmid)
	}
	// The collector restarts as version 2 while proxyd's pooled connection
	// sits idle, and the connection is dropped for idleness before it is
	// used again: no failure is ever seen on it.
	time.Sleep(100 * time.Millisecond)
	v1.stop()
	startVersioned(t, addr, 2, &lookups)
	pmid, val := fetchTestM(t, ts.URL, ctx)
	if pmid != "29.0.2" || val == nil || !strings.HasPrefix(val.(interface{ String() string }).String(), "2.5") {
		t.Fatalf("after a cold reconnect: pmid %s value %v, want 29.0.2 and 2.5", pmid, val)
	}
}
