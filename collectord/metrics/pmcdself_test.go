package metrics

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// statsSelf is a server that also reports PDU and SIGHUP counts, and may take a
// store into pmcd.control.sighup.
type statsSelf struct {
	*fakeSelf
	in, out [PDUTypes]uint64
	hups    uint64
	hook    func()
}

func (s *statsSelf) PDUCounts() (in, out [PDUTypes]uint64) { return s.in, s.out }
func (s *statsSelf) SIGHUPs() uint64                       { return s.hups }
func (s *statsSelf) SIGHUPHook() func()                    { return s.hook }

func TestPDUCountMetrics(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	names := []string{"pmcd.pdu_in.fetch", "pmcd.pdu_in.highres_fetch", "pmcd.pdu_in.pmns_traverse", "pmcd.pdu_in.total",
		"pmcd.pdu_out.result", "pmcd.pdu_out.error", "pmcd.pdu_out.descs", "pmcd.pdu_out.total", "pmcd.sighups",
		"pmcd.cputime.per_pdu_in"}
	// Without the server's counts: no values, never 0.
	res := fetchByName(t, r, names...)
	for _, n := range names {
		if r := res[n]; r.Err != 0 || len(r.Values) != 0 {
			t.Errorf("%s without counts: %+v", n, r)
		}
	}
	s := &statsSelf{fakeSelf: testSelf(), hups: 3}
	s.in[protocol.TypeFetch-0x7000] = 5
	s.in[protocol.TypeHighresFetch-0x7000] = 7
	s.in[protocol.TypePMNSTraverse-0x7000] = 2
	s.in[protocol.TypeCreds-0x7000] = 1<<32 + 1 // the 32-bit counter wraps
	s.out[protocol.TypeResult-0x7000] = 4
	s.out[protocol.TypeError-0x7000] = 9
	s.out[protocol.TypeDescs-0x7000] = 1
	r.env.self = s
	res = fetchByName(t, r, names...)
	want := map[string]uint64{"pmcd.pdu_in.fetch": 5, "pmcd.pdu_in.highres_fetch": 7, "pmcd.pdu_in.pmns_traverse": 2,
		"pmcd.pdu_in.total": 15, "pmcd.pdu_out.result": 4, "pmcd.pdu_out.error": 9, "pmcd.pdu_out.descs": 1,
		"pmcd.pdu_out.total": 14, "pmcd.sighups": 3}
	for n, w := range want {
		if v := res[n].Values; len(v) != 1 || v[0].U != w || v[0].Inst != protocol.InNull {
			t.Errorf("%s = %+v, want %d", n, v, w)
		}
	}
	if v := res["pmcd.cputime.per_pdu_in"].Values; len(v) != 1 || !(v[0].F > 0) {
		t.Errorf("pmcd.cputime.per_pdu_in = %+v", v)
	}
	// The PMIDs are pmcd's: the type's offset, one more from PMNS_TRAVERSE on.
	for name, id := range map[string]protocol.PMID{"pmcd.pdu_in.error": pmid(2, 1, 0), "pmcd.pdu_in.creds": pmid(2, 1, 12),
		"pmcd.pdu_in.total": pmid(2, 1, 16), "pmcd.pdu_in.pmns_traverse": pmid(2, 1, 17), "pmcd.pdu_out.auth": pmid(2, 2, 18),
		"pmcd.pdu_out.descs": pmid(2, 2, 24)} {
		if m, ok := r.ByName(name); !ok || m.Desc.PMID != id {
			t.Errorf("%s: PMID %v, want %v", name, m.Desc.PMID, id)
		}
	}
}

func TestPMCDAgentAndControlMetrics(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	res := fetchByName(t, r, "pmcd.agent.name", "pmcd.agent.fenced", "pmcd.control.tracebufs", "pmcd.control.traceconn",
		"pmcd.control.sighup", "pmcd.buf.alloc", "pmcd.buf.free", "pmcd.version", "pmcd.build")
	if got := formatResult(mustMetric(t, r, "pmcd.agent.name"), res["pmcd.agent.name"]); got != `pmcd.agent.name [2]="pmcd" [3]="proc" [60]="linux"` {
		t.Errorf("got %s", got)
	}
	if got := formatResult(mustMetric(t, r, "pmcd.agent.fenced"), res["pmcd.agent.fenced"]); got != `pmcd.agent.fenced [2]=0 [3]=0 [60]=0` {
		t.Errorf("got %s", got)
	}
	if v := res["pmcd.control.tracebufs"].Values; len(v) != 1 || v[0].U != 20 {
		t.Errorf("tracebufs = %+v, want pmcd's 20", v)
	}
	for _, n := range []string{"pmcd.buf.alloc", "pmcd.buf.free"} {
		if len(res[n].Values) != 0 {
			t.Errorf("%s has values, but the collector has no buffer pool", n)
		}
	}
	if v := res["pmcd.version"].Values; len(v) != 1 || v[0].S != "6.0.3" {
		t.Errorf("pmcd.version = %+v", v)
	}
	if v := res["pmcd.build"].Values; len(v) != 1 || v[0].S != "1.2.3" {
		t.Errorf("pmcd.build = %+v", v)
	}
	insts, err := r.Instances(indomBufs)
	if err != nil || formatInstances(insts) != `12 "0012", 20 "0020", 1024 "1024", 2048 "2048", 4196 "4196", 8192 "8192", 8193 "8192+"` {
		t.Errorf("Instances(2.5) = %s, %v", formatInstances(insts), err)
	}
}

func mustMetric(t *testing.T, r *Registry, name string) *Metric {
	t.Helper()
	m, ok := r.ByName(name)
	if !ok {
		t.Fatalf("%s not served", name)
	}
	return m
}

func insitu(p protocol.PMID, v int32) *protocol.ValueSet {
	return &protocol.ValueSet{PMID: p, NumVal: 1, ValFmt: protocol.ValFmtInsitu,
		Values: []protocol.Value{{Inst: protocol.InNull, Insitu: uint32(v)}}}
}

// TestControlStore: the stores pmcd 6.0.3 takes into pmcd.control.*, with its
// answers for bad values, and what reads back.
func TestControlStore(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	id := func(n string) protocol.PMID { return mustMetric(t, r, n).Desc.PMID }
	local := StoreOpts{Local: true, Trusted: true}
	cases := []struct {
		name string
		v    int32
		want int32
	}{
		{"pmcd.control.traceconn", 1, 0},
		{"pmcd.control.traceconn", 2, protocol.ErrBadStore},
		{"pmcd.control.tracepdu", -1, protocol.ErrBadStore},
		{"pmcd.control.tracenobuf", 1, 0},
		{"pmcd.control.tracebufs", -5, protocol.ErrSign},
		{"pmcd.control.tracebufs", 64, 0},
		{"pmcd.control.dumpconn", 1, 0},
		{"pmcd.control.dumptrace", 7, 0},
		{"pmcd.control.sighup", 1, protocol.ErrNYI}, // no daemon to reload
		{"pmcd.control.debug", -1, 0},
		{"pmcd.control.timeout", 7, 0},
		{"pmcd.control.timeout", -1, protocol.ErrSign},
		{"pmcd.control.register", 1, protocol.ErrInst}, // PM_IN_NULL is no register
		{"kernel.all.load", 1, protocol.ErrPermission},
	}
	for _, c := range cases {
		vs := insitu(id(c.name), c.v)
		if got := r.CheckStore(vs, local); got != c.want {
			t.Errorf("store %s %d: %d, want %d", c.name, c.v, got, c.want)
		}
		if c.want == 0 {
			r.ApplyStore(vs, local)
		}
	}
	res := fetchByName(t, r, "pmcd.control.traceconn", "pmcd.control.tracepdu", "pmcd.control.tracenobuf",
		"pmcd.control.tracebufs", "pmcd.control.dumpconn", "pmcd.control.dumptrace", "pmcd.control.debug", "pmcd.control.timeout")
	for n, w := range map[string]int64{"pmcd.control.traceconn": 1, "pmcd.control.tracepdu": 0, "pmcd.control.tracenobuf": 1,
		"pmcd.control.tracebufs": 64, "pmcd.control.dumpconn": 0, "pmcd.control.dumptrace": 0,
		"pmcd.control.debug": 1342177279, "pmcd.control.timeout": 7} {
		if v := res[n].Values; len(v) != 1 || int64(v[0].U) != w {
			t.Errorf("%s = %+v, want %d", n, v, w)
		}
	}
	// A value that is not one insitu 32-bit integer is a bad store.
	bad := insitu(id("pmcd.control.traceconn"), 1)
	bad.ValFmt = protocol.ValFmtDynamic
	if got := r.CheckStore(bad, local); got != protocol.ErrBadStore {
		t.Errorf("dynamic value: %d", got)
	}
	two := insitu(id("pmcd.control.traceconn"), 1)
	two.NumVal, two.Values = 2, append(two.Values, two.Values[0])
	if got := r.CheckStore(two, local); got != protocol.ErrBadStore {
		t.Errorf("two values: %d", got)
	}
	// With a daemon behind the server, sighup calls its hook.
	hups := 0
	r.env.self = &statsSelf{fakeSelf: testSelf(), hook: func() { hups++ }}
	vs := insitu(id("pmcd.control.sighup"), 0)
	if got := r.CheckStore(vs, local); got != 0 {
		t.Fatalf("sighup with a hook: %d", got)
	}
	// Who may store: a remote client nothing, a loopback TCP client that proved
	// nothing (perhaps proxyd relaying a remote one) no reload.
	if got := r.CheckStore(vs, StoreOpts{Local: true}); got != protocol.ErrPermission {
		t.Errorf("sighup from an unproven loopback client: %d", got)
	}
	if got := r.CheckStore(insitu(id("pmcd.control.traceconn"), 1), StoreOpts{Trusted: true}); got != protocol.ErrPermission {
		t.Errorf("traceconn from a remote client: %d", got)
	}
	r.ApplyStore(vs, local)
	if hups != 1 {
		t.Errorf("hook called %d times", hups)
	}
}

func TestPMDAUname(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	res := fetchByName(t, r, "pmda.uname", "pmda.version")
	want := "Linux fixturehost 6.1.0-21-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.90-1 (2024-05-03) x86_64"
	if v := res["pmda.uname"].Values; len(v) != 1 || v[0].S != want {
		t.Errorf("pmda.uname = %+v, want %q", v, want)
	}
	if v := res["pmda.version"].Values; len(v) != 1 || v[0].S != PCPVersion {
		t.Errorf("pmda.version = %+v", v)
	}
	// One field missing: no value, not a line with a hole.
	dir := copyTree(t, fixtureDir)
	if err := os.Remove(filepath.Join(dir, "proc/sys/kernel/version")); err != nil {
		t.Fatal(err)
	}
	r = newFixtureRegistry(t, dir)
	if v := fetchByName(t, r, "pmda.uname")["pmda.uname"]; len(v.Values) != 0 {
		t.Errorf("pmda.uname without /proc/sys/kernel/version: %+v", v)
	}
}

// TestPMToolsFixture: the pmie statistics and pmlogger port files of the
// fixture, the stale ones (no such process) left out, the primaries listed as 0.
func TestPMToolsFixture(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	for in, want := range map[protocol.InDom]string{
		indomPmies:     `0 "primary", 42 "42", 1234 "1234"`,
		indomPMLoggers: `0 "primary", 42 "42", 1234 "1234"`,
	} {
		insts, err := r.Instances(in)
		if err != nil || formatInstances(insts) != want {
			t.Errorf("Instances(%v) = %s, %v; want %s", in, formatInstances(insts), err, want)
		}
	}
	names := []string{"pmcd.pmie.configfile", "pmcd.pmie.logfile", "pmcd.pmie.pmcd_host", "pmcd.pmie.numrules",
		"pmcd.pmie.actions", "pmcd.pmie.eval.true", "pmcd.pmie.eval.false", "pmcd.pmie.eval.unknown",
		"pmcd.pmie.eval.expected", "pmcd.pmie.eval.actual", "pmcd.pmlogger.port", "pmcd.pmlogger.pmcd_host",
		"pmcd.pmlogger.archive", "pmcd.pmlogger.host"}
	res := fetchByName(t, r, names...)
	want := []string{
		`pmcd.pmie.configfile [0]="/etc/pcp/pmie/config.default" [42]="/tmp/rules" [1234]="/etc/pcp/pmie/config.default"`,
		`pmcd.pmie.logfile [0]="/var/log/pcp/pmie/fixturehost/pmie.log" [42]="/tmp/pmie.log" [1234]="/var/log/pcp/pmie/fixturehost/pmie.log"`,
		`pmcd.pmie.pmcd_host [0]="fixturehost.example.org" [42]="localhost" [1234]="fixturehost.example.org"`,
		`pmcd.pmie.numrules [0]=12 [42]=1 [1234]=12`,
		`pmcd.pmie.actions [0]=3 [42]=0 [1234]=3`,
		`pmcd.pmie.eval.true [0]=40 [42]=7 [1234]=40`,
		`pmcd.pmie.eval.false [0]=200 [42]=0 [1234]=200`,
		`pmcd.pmie.eval.unknown [0]=5 [42]=1 [1234]=5`,
		`pmcd.pmie.eval.expected [0]=0.25 [42]=1.5 [1234]=0.25`,
		`pmcd.pmie.eval.actual [0]=245 [42]=8 [1234]=245`,
		`pmcd.pmlogger.port [0]=4330 [42]=40123 [1234]=4330`,
		`pmcd.pmlogger.pmcd_host [0]="local:" [42]="remote.example.org" [1234]="local:"`,
		`pmcd.pmlogger.archive [0]="/var/log/pcp/pmlogger/fixturehost/20261206.00.10" [42]="" [1234]="/var/log/pcp/pmlogger/fixturehost/20261206.00.10"`,
		`pmcd.pmlogger.host [0]="fixturehost.example.org" [42]="fixturehost.example.org" [1234]="fixturehost.example.org"`,
	}
	for i, n := range names {
		if got := formatResult(mustMetric(t, r, n), res[n]); got != want[i] {
			t.Errorf("got  %s\nwant %s", got, want[i])
		}
	}
	if n := source[*pmtoolsSource](t, r, "pmtools").PartialErrors(); n != 0 {
		t.Errorf("%d errors counted on the good fixture", n)
	}
}

// pmieRecord builds a pmiestats_t as pmie writes it.
func pmieRecord(config, logfile, host string, version uint32) []byte {
	b := make([]byte, pmieStatsSize)
	copy(b, config)
	copy(b[pmieLogOff:], logfile)
	copy(b[pmieHostOff:], host)
	binary.NativeEndian.PutUint32(b[pmieNumOff:], math.Float32bits(2))
	for i := 1; i <= 6; i++ {
		binary.NativeEndian.PutUint32(b[pmieNumOff+4*i:], uint32(i))
	}
	binary.NativeEndian.PutUint32(b[pmieNumOff+28:], version)
	return b
}

// TestPMToolsHostile: files a forger or a crash could leave in the PCP temporary
// folders give no instance and a counted error, never a wrong value or a panic,
// and are never followed out of their folder.
func TestPMToolsHostile(t *testing.T) {
	root := t.TempDir()
	proc := filepath.Join(root, "proc")
	tmp := filepath.Join(root, "fs/var/lib/pcp/tmp")
	for _, d := range []string{"proc/100", "proc/101", "proc/102", "proc/103", "proc/104", "proc/105", "proc/106", "proc/107", "proc/200",
		"fs/var/lib/pcp/tmp/pmie", "fs/var/lib/pcp/tmp/pmlogger", "outside"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	good := pmieRecord("/etc/pcp/pmie/config.default", "/var/log/pmie.log", "host", 1)
	noNUL := pmieRecord("", "/var/log/pmie.log", "host", 1)
	for i := 0; i < pmiePathLen; i++ {
		noNUL[i] = 'A'
	}
	secret := filepath.Join(root, "outside/secret")
	writeFile(t, secret, string(good))
	files := map[string][]byte{
		"pmie/100":     good[:100],                                   // truncated
		"pmie/101":     pmieRecord("/c", "/l", "h", 2),               // another version
		"pmie/102":     noNUL,                                        // a string without its end
		"pmie/103":     append(append([]byte{}, good...), 'x'),       // too long
		"pmie/200":     good,                                         // the one good file
		"pmlogger/100": []byte("4330x\nlocal:\n/a\n"),                // not a port
		"pmlogger/101": []byte("99999\nlocal:\n/a\n"),                // out of range
		"pmlogger/102": []byte("4330"),                               // no newline
		"pmlogger/103": []byte("4330\n" + strings.Repeat("h", 5000)), // a line longer than pmcd reads
		"pmlogger/104": []byte("4330\nlocal:\n/a\nmore\n" + strings.Repeat("x", loggerMaxBytes)),
		"pmlogger/200": []byte("4330\nlocal:\n/var/log/pcp/pmlogger/a\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A link for a pid file (never followed), and "primary" leading out of the folder.
	for _, l := range [][2]string{{secret, "pmie/105"}, {secret, "pmlogger/105"}, {secret, "pmlogger/primary"}} {
		if err := os.Symlink(l[0], filepath.Join(tmp, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	// A FIFO must not block the fetch.
	if err := syscall.Mkfifo(filepath.Join(tmp, "pmie/106"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(tmp, "pmlogger/106"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory in place of a file.
	if err := os.Mkdir(filepath.Join(tmp, "pmie/107"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := newFixtureRegistry(t, fixtureDir)
	r.env.procRoot = proc
	r.env.rootFS = filepath.Join(root, "fs")
	src := source[*pmtoolsSource](t, r, "pmtools")
	for in, want := range map[protocol.InDom]string{indomPmies: `200 "200"`, indomPMLoggers: `200 "200"`} {
		insts, err := r.Instances(in)
		if err != nil || formatInstances(insts) != want {
			t.Errorf("Instances(%v) = %s, %v; want %s", in, formatInstances(insts), err, want)
		}
	}
	before := src.PartialErrors()
	if before < 14 {
		t.Errorf("%d hostile files counted, want at least 14", before)
	}
	res := fetchByName(t, r, "pmcd.pmie.numrules", "pmcd.pmie.configfile", "pmcd.pmlogger.port", "pmcd.pmlogger.archive")
	for n, want := range map[string]string{
		"pmcd.pmie.numrules":    `pmcd.pmie.numrules [200]=1`,
		"pmcd.pmie.configfile":  `pmcd.pmie.configfile [200]="/etc/pcp/pmie/config.default"`,
		"pmcd.pmlogger.port":    `pmcd.pmlogger.port [200]=4330`,
		"pmcd.pmlogger.archive": `pmcd.pmlogger.archive [200]="/var/log/pcp/pmlogger/a"`,
	} {
		if got := formatResult(mustMetric(t, r, n), res[n]); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
	if src.PartialErrors() <= before {
		t.Error("a fetch over hostile files counted no error")
	}
	if e := r.SourceErrors()["pmtools"]; e < before {
		t.Errorf("pmcd.gopcp.source.errors for pmtools = %d", e)
	}
}

// TestPMToolsDirs: no folders means no instances and no error; PCP_TMP_DIR comes
// from the environment first, then pcp.conf.
func TestPMToolsDirs(t *testing.T) {
	root := t.TempDir()
	r := newFixtureRegistry(t, fixtureDir)
	r.env.rootFS = root
	for _, in := range []protocol.InDom{indomPmies, indomPMLoggers} {
		if insts, err := r.Instances(in); err != nil || len(insts) != 0 {
			t.Errorf("Instances(%v) without folders: %v, %v", in, insts, err)
		}
	}
	if res := fetchByName(t, r, "pmcd.pmie.numrules")["pmcd.pmie.numrules"]; res.Err != 0 || len(res.Values) != 0 {
		t.Errorf("pmie without a folder: %+v", res)
	}

	etc := t.TempDir()
	writeFile(t, filepath.Join(etc, "pcp.conf"), "# PCP\nPCP_TMP_DIR=/conf/tmp\nPCP_RUN_DIR=/conf/run\n")
	r = newFixtureRegistry(t, fixtureDir)
	r.env.etcRoot = etc
	src := source[*pmtoolsSource](t, r, "pmtools")
	src.pcpDirs()
	if src.tmpDir != filepath.Join(r.env.rootFS, "/conf/tmp") || src.runDir != filepath.Join(r.env.rootFS, "/conf/run") {
		t.Errorf("from pcp.conf: %s %s", src.tmpDir, src.runDir)
	}
	r = newFixtureRegistry(t, fixtureDir)
	r.env.etcRoot = etc
	r.env.getenv = func(k string) string {
		if k == "PCP_TMP_DIR" {
			return "/env/tmp"
		}
		return ""
	}
	src = source[*pmtoolsSource](t, r, "pmtools")
	src.pcpDirs()
	if src.tmpDir != filepath.Join(r.env.rootFS, "/env/tmp") || src.runDir != filepath.Join(r.env.rootFS, "/conf/run") {
		t.Errorf("from the environment: %s %s", src.tmpDir, src.runDir)
	}
}
