package main

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gopcp/gopcp/pmapi/pmapitest"
	"github.com/gopcp/gopcp/protocol"
)

// fakeMetric is one metric of the fake pmcd below.
type fakeMetric struct {
	name    string
	desc    protocol.Desc
	descErr int32
	vs      protocol.ValueSet
	oneline string
	help    string
	textErr int32
}

// fakePMCD is a small scripted pmcd for the cases the real pmcd cannot produce
// (missing help, per-metric errors, no label support, huge namespaces).
type fakePMCD struct {
	features  uint16
	metrics   []fakeMetric
	insts     map[protocol.InDom][]protocol.Instance
	fetchErr  int32
	mu        sync.Mutex
	nameSizes []int
}

func (f *fakePMCD) byID(id protocol.PMID) *fakeMetric {
	for i := range f.metrics {
		if f.metrics[i].desc.PMID == id {
			return &f.metrics[i]
		}
	}
	return nil
}

func (f *fakePMCD) reply(p protocol.PDU) protocol.PDU {
	errPDU := func(code int32) protocol.PDU { return &protocol.ErrorPDU{Code: code} }
	switch r := p.(type) {
	case *protocol.NameReq:
		var names []string
		for _, m := range f.metrics {
			if r.Name == "" || m.name == r.Name || strings.HasPrefix(m.name, r.Name+".") {
				names = append(names, m.name)
			}
		}
		if len(names) == 0 {
			return errPDU(protocol.ErrName)
		}
		return &protocol.PMNSNames{Names: names}
	case *protocol.PMNSNames:
		f.mu.Lock()
		f.nameSizes = append(f.nameSizes, len(r.Names))
		f.mu.Unlock()
		ids := &protocol.PMNSIDs{}
		for _, n := range r.Names {
			id := protocol.PMIDNull
			for _, m := range f.metrics {
				if m.name == n {
					id = m.desc.PMID
					ids.Status++
				}
			}
			ids.IDs = append(ids.IDs, id)
		}
		return ids
	case *protocol.DescReq:
		m := f.byID(r.PMID)
		if m == nil {
			return errPDU(protocol.ErrPMID)
		}
		if m.descErr != 0 {
			return errPDU(m.descErr)
		}
		return &protocol.DescPDU{Desc: m.desc}
	case *protocol.Fetch:
		if f.fetchErr != 0 {
			return errPDU(f.fetchErr)
		}
		res := &protocol.Result{Highres: r.Highres}
		for _, id := range r.PMIDs {
			vs := protocol.ValueSet{PMID: id, NumVal: protocol.ErrPMID}
			if m := f.byID(id); m != nil {
				vs = m.vs
				vs.PMID = id
			}
			res.VSets = append(res.VSets, vs)
		}
		return res
	case *protocol.InstanceReq:
		in, ok := f.insts[r.InDom]
		if !ok {
			return errPDU(protocol.ErrInDom)
		}
		return &protocol.InstancePDU{InDom: r.InDom, Instances: in}
	case *protocol.TextReq:
		m := f.byID(protocol.PMID(r.Ident))
		if m == nil || m.textErr != 0 {
			return errPDU(protocol.ErrText)
		}
		if r.Kind&protocol.TextHelp != 0 {
			return &protocol.TextPDU{Ident: r.Ident, Text: m.help}
		}
		return &protocol.TextPDU{Ident: r.Ident, Text: m.oneline}
	case *protocol.LabelReq:
		return &protocol.LabelPDU{Ident: r.Ident, Kind: r.Kind}
	}
	return errPDU(protocol.ErrIPC)
}

func (f *fakePMCD) start(t *testing.T) *pmapitest.Server {
	return pmapitest.Serve(t, func(c *protocol.Conn) {
		c.Write(protocol.Greeting(0, f.features))
		if _, err := c.Read(); err != nil {
			return
		}
		for {
			p, err := c.Read()
			if err != nil {
				return
			}
			if _, ok := p.(*protocol.Profile); ok {
				continue
			}
			if c.Write(f.reply(p)) != nil {
				return
			}
		}
	})
}

func runPminfo(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	status := run(args, &o, &e)
	return o.String(), e.String(), status
}

func u32(name string, id protocol.PMID, v uint32) fakeMetric {
	return fakeMetric{name: name, oneline: "one " + name, help: "help for " + name,
		desc: protocol.Desc{PMID: id, Type: protocol.TypeU32, InDom: protocol.InDomNull, Sem: protocol.SemDiscrete},
		vs:   protocol.ValueSet{NumVal: 1, Values: []protocol.Value{protocol.Insitu32(protocol.InNull, v)}}}
}

// TestFormatsTheRealPmcdDoesNotShow checks, against a scripted pmcd, the lines
// pminfo prints for failures and odd metrics (PROTOCOL.md 8.3; pminfo.c).
func TestFormatsTheRealPmcdDoesNotShow(t *testing.T) {
	cleanEnv(t)
	noText := u32("a.notext", protocol.NewPMID(30, 0, 1), 1)
	noText.textErr = protocol.ErrText
	empty := u32("a.emptyhelp", protocol.NewPMID(30, 0, 2), 2)
	empty.oneline, empty.help = "", ""
	noVal := u32("a.novalue", protocol.NewPMID(30, 0, 3), 0)
	noVal.vs = protocol.ValueSet{NumVal: 0}
	badVal := u32("a.error", protocol.NewPMID(30, 0, 4), 0)
	badVal.vs = protocol.ValueSet{NumVal: protocol.ErrAppVersion}
	noDesc := u32("a.nodesc", protocol.NewPMID(30, 0, 5), 0)
	noDesc.descErr = protocol.ErrPMID
	lost := u32("a.lostinst", protocol.NewPMID(30, 0, 6), 0)
	lost.desc.InDom = protocol.NewInDom(30, 1)
	lost.vs = protocol.ValueSet{NumVal: 2, Values: []protocol.Value{protocol.Insitu32(1, 10), protocol.Insitu32(9, 90)}}
	nosup := u32("a.nosupport", protocol.NewPMID(30, 0, 7), 0)
	nosup.desc.Type = protocol.TypeNoSupport
	odd := u32("a.odd", protocol.NewPMID(30, 0, 8), 0)
	odd.desc.Type, odd.desc.Sem, odd.desc.Units = 42, 2, protocol.UnitsCountSec
	f := &fakePMCD{features: 0x0e44, metrics: []fakeMetric{noText, empty, noVal, badVal, noDesc, lost, nosup, odd},
		insts: map[protocol.InDom][]protocol.Instance{protocol.NewInDom(30, 1): {{ID: 1, Name: "one"}}}}
	srv := f.start(t)
	host := "127.0.0.1:" + strconv.Itoa(srv.Port)

	out, errOut, status := runPminfo(t, "-h", host, "-dtTf", "a")
	want := `
a.notext One-line Help: Error: One-line or help text is not available
    Data Type: 32-bit unsigned int  InDom: PM_INDOM_NULL 0xffffffff
    Semantics: discrete  Units: none
Full Help: Error: One-line or help text is not available
    value 1

a.emptyhelp []
    Data Type: 32-bit unsigned int  InDom: PM_INDOM_NULL 0xffffffff
    Semantics: discrete  Units: none
Help: <empty entry>
    value 2

a.novalue [one a.novalue]
    Data Type: 32-bit unsigned int  InDom: PM_INDOM_NULL 0xffffffff
    Semantics: discrete  Units: none
Help:
help for a.novalue
No value(s) available!

a.error [one a.error]
    Data Type: 32-bit unsigned int  InDom: PM_INDOM_NULL 0xffffffff
    Semantics: discrete  Units: none
Help:
help for a.error
Error: Metric not supported by this version of monitored application
a.nodesc: pmLookupDesc: Unknown or illegal metric identifier

a.lostinst [one a.lostinst]
    Data Type: 32-bit unsigned int  InDom: 30.1 0x7800001
    Semantics: discrete  Units: none
Help:
help for a.lostinst
    inst [1 or "one"] value 10
pmNameIndom: indom=30.1 inst=9: Unknown or illegal instance identifier
    inst [9] value 90

a.nosupport [one a.nosupport]
    Data Type: Not Supported  InDom: PM_INDOM_NULL 0xffffffff
    Semantics: discrete  Units: none
Help:
help for a.nosupport
    value 0 0 0x0

a.odd [one a.odd]
    Data Type: ??? (42)  InDom: PM_INDOM_NULL 0xffffffff
    Semantics: ??? (2)  Units: count / sec
Help:
help for a.odd
    value 0 0 0x0
`
	if out != want || errOut != "" || status != 0 {
		t.Errorf("status %d stderr %q stdout:\n%s\nwant:\n%s", status, errOut, out, want)
	}

	out, _, _ = runPminfo(t, "-h", host, "-v", "a")
	if want := "a.novalue: No value(s) available\na.error: Metric not supported by this version of monitored application\n" +
		"a.nodesc: pmLookupDesc: Unknown or illegal metric identifier\na.nosupport: Not Supported\n"; out != want {
		t.Errorf("-v:\n%s\nwant:\n%s", out, want)
	}

	f.fetchErr = protocol.ErrPermission
	out, _, _ = runPminfo(t, "-h", host, "-f", "a.notext", "a.novalue")
	if want := "a.notext: pmFetch: No permission to perform requested operation\n" +
		"a.novalue: pmFetch: No permission to perform requested operation\n"; out != want {
		t.Errorf("fetch failure:\n%s\nwant:\n%s", out, want)
	}
}

// TestLabelsWithoutLabelSupport: a pmcd without LABELS gets {"hostname":...} from
// pmcd.hostname, else from the host name given (PROTOCOL.md 2.12).
func TestLabelsWithoutLabelSupport(t *testing.T) {
	cleanEnv(t)
	m := u32("hinv.ncpu", protocol.NewPMID(60, 0, 32), 2)
	f := &fakePMCD{features: 0x0e44 &^ protocol.FeatureLabels, metrics: []fakeMetric{m}}
	srv := f.start(t)
	out, _, _ := runPminfo(t, "-h", "127.0.0.1:"+strconv.Itoa(srv.Port), "-l", "hinv.ncpu")
	if want := "\nhinv.ncpu\n    labels {\"hostname\":\"127.0.0.1\"}\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	host := protocol.Value{Inst: protocol.InNull, VType: uint8(protocol.TypeString), Payload: []byte("vm\x00")}
	f.metrics = append(f.metrics, fakeMetric{name: "pmcd.hostname",
		desc: protocol.Desc{PMID: protocol.NewPMID(2, 0, 21), Type: protocol.TypeString, InDom: protocol.InDomNull},
		vs:   protocol.ValueSet{NumVal: 1, ValFmt: protocol.ValFmtDynamic, Values: []protocol.Value{host}}})
	out, _, _ = runPminfo(t, "-h", "127.0.0.1:"+strconv.Itoa(srv.Port), "-l", "hinv.ncpu")
	if want := "\nhinv.ncpu\n    labels {\"hostname\":\"vm\"}\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

// TestBatchLimitByRequestSize: with a large -b, pminfo cuts a batch when its
// PMNS_NAMES request would pass 63 KiB, and keeps the smaller batch size after.
func TestBatchLimitByRequestSize(t *testing.T) {
	// The fake pmcd serves only the traced exchange, recorded with PCP_DERIVED_CONFIG=
	// (derived metrics would add their operand lookups to it).
	t.Setenv("PCP_DERIVED_CONFIG", "")
	cleanEnv(t)
	f := &fakePMCD{features: 0x0e44}
	for i := 0; i < 2500; i++ {
		f.metrics = append(f.metrics, u32("m."+strings.Repeat("x", 52)+strconv.Itoa(1000+i), protocol.NewPMID(30, 0, uint32(i)), 1))
	}
	srv := f.start(t)
	out, _, status := runPminfo(t, "-h", "127.0.0.1:"+strconv.Itoa(srv.Port), "-b", "5000", "-m")
	if status != 0 || strings.Count(out, "\n") != 2502 {
		t.Fatalf("status %d, %d lines", status, strings.Count(out, "\n"))
	}
	// Each name costs 4+60 bytes after 20 bytes of header: the 1008th name passes
	// 63*1024, so batches hold 1008 names (the last is what remains, with the
	// derived event.flags and event.missed: libpcp asks pmcd for every name
	// first, as strace of PCP 6.0.3's pminfo shows).
	if got := f.nameSizes; len(got) != 3 || got[0] != 1008 || got[1] != 1008 || got[2] != 486 {
		t.Errorf("PMNS_NAMES batches %v, want [1008 1008 486]", got)
	}
}

func TestUsageErrors(t *testing.T) {
	cleanEnv(t)
	for _, c := range []struct {
		args  []string
		first string
	}{
		{[]string{"-q"}, "pminfo: invalid option -- 'q'\n"},
		{[]string{"-h"}, "pminfo: option requires an argument -- 'h'\n"},
		{[]string{"--fe"}, "pminfo: option '--fe' is ambiguous; possibilities: '--fetch' '--fetchall'\n"},
		{[]string{"--fetch=1"}, "pminfo: option '--fetch' doesn't allow an argument\n"},
		{[]string{"--nope"}, "pminfo: unrecognized option '--nope'\n"},
		{[]string{"--batch"}, "pminfo: option '--batch' requires an argument\n"},
		{[]string{"-b", "2x"}, "pminfo: -b requires numeric argument\n"},
		{[]string{"-h", "a", "-h", "b"}, "pminfo: too many hosts requested: b\n"},
		{[]string{"-z"}, "pminfo: use of timezone from metric source requires a source\n"},
		{[]string{"-?"}, ""},
	} {
		out, errOut, status := runPminfo(t, c.args...)
		if status != 1 || out != "" || errOut != c.first+usage {
			t.Errorf("%v: status %d stdout %q stderr %q", c.args, status, out, errOut)
		}
	}
	out, errOut, status := runPminfo(t, "-V")
	if status != 0 || out != "" || errOut != "pminfo version 6.0.3\n" {
		t.Errorf("-V: %d %q %q", status, out, errOut)
	}
}

func TestGetoptPermutesAndClusters(t *testing.T) {
	opts, operands, ok := getopt([]string{"a", "-fdh", "host", "b", "--batch=3", "-b4", "--", "-x"}, &bytes.Buffer{})
	if !ok || len(opts) != 5 || strings.Join(operands, " ") != "a b -x" {
		t.Fatalf("opts %+v operands %q ok %v", opts, operands, ok)
	}
	if opts[2].short != 'h' || opts[2].arg != "host" || opts[3].arg != "3" || opts[4].arg != "4" {
		t.Errorf("opts %+v", opts)
	}
}

func TestConnectFailureMessage(t *testing.T) {
	cleanEnv(t)
	_, errOut, status := runPminfo(t, "-h", "host:abc", "hinv.ncpu")
	want := "pmNewContext: bad host specification\nhost:abc\n     ^ -- non-numeric port\n" +
		"pminfo: Cannot connect to PMCD on host \"host:abc\": Generic error, already reported above\n"
	if status != 1 || errOut != want {
		t.Errorf("status %d stderr %q", status, errOut)
	}
}
