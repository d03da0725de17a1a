package metrics

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// The printed forms below are what PCP 6.0.3's pmdaproc reads back in
// hotproc.control.config after `pmstore hotproc.control.config '<in>'`.
var hotPrintCases = []struct{ in, want string }{
	{`fname == "x"`, `(fname == "x")`},
	{`cpuburn > 0.5`, `(cpuburn > 0.500000)`},
	{`uid == 0 || gid != 3 && ! (fname == "a") || psargs ~ /^a.*b$/`,
		`(((uid == 0) || ((gid != 3) && (! (fname == "a")))) || (psargs ~ "^a.*b$"))`},
	{`virtualsize > 123456789012`, `(virtualsize > 123456789012.000000)`},
	{`Version 1.0 uid==0`, `(uid == 0)`},
	{"#pmdahotproc\nVersion 1.0\n\nuname != \"root\" || cpuburn > 0.05\n", `((uname != "root") || (cpuburn > 0.050000))`},
	{`true`, `(true)`},
	{`uid > 1.5 # comment`, `(uid > 1.500000)`},
	{`(((uid == 0)))`, `(uid == 0)`},
	{`1 < 2`, `(1 < 2)`},
	{`"a" == "b"`, `("a" == "b")`},
	{`! ! false && .5 >= iowait`, `((! (! (false))) && (0.500000 >= iowait))`},
	{`virtualsize>.0000000001`, `(virtualsize > 0.000000)`},           // six decimals, as C's %f (found by fuzzing)
	{`2147483647 == 2147483648`, `(2147483647 == 2147483648.000000)`}, // whole numbers print as C ints
	{"fname == \"a\n|| uid == 1", `((fname == "a") || (uid == 1))`},   // a newline ends a string
}

func TestHotPredicatePrint(t *testing.T) {
	for _, c := range hotPrintCases {
		p, err := parseHotPredicate(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := p.String(); got != c.want {
			t.Errorf("%q printed %q, want %q", c.in, got, c.want)
		}
		// The printed form is a fixed point (but for patterns, which print as
		// strings, and numbers that six decimals round).
		if !strings.Contains(c.in, "~") && !strings.Contains(c.in, ".0000000001") {
			q, err := parseHotPredicate(p.String())
			if err != nil || q.String() != p.String() {
				t.Errorf("%q: reparsing %q gave %v, %v", c.in, p.String(), q, err)
			}
		}
	}
}

func TestHotPredicateEmpty(t *testing.T) {
	for _, in := range []string{"", "  \n\t", "# only a comment\n", "# no newline"} {
		if p, err := parseHotPredicate(in); p != nil || err != nil {
			t.Errorf("%q: %v, %v; want no predicate", in, p, err)
		}
	}
}

// Inputs the agent refuses with PM_ERR_BADSTORE (checked against pmdaproc), and
// inputs it takes but we refuse (unknown words it skips, syscalls and patterns that
// make it exit at the next evaluation).
func TestHotPredicateErrors(t *testing.T) {
	deep := strings.Repeat("(", 200) + "uid == 0" + strings.Repeat(")", 200)
	nots := strings.Repeat("! ", 5000) + "true"
	long := strings.Repeat("true || ", 6000) + "true"
	for in, want := range map[string]string{
		`pid == 1`:                            `unknown word "pid"`,
		`ppid == 1`:                           `unknown word "ppid"`,
		`cpuburn > 0.25 && cpuburn < 1e3`:     `unknown word "e"`,
		`Version 2.0 uid==0`:                  `version 2.0 is not supported`,
		`Version 1.0`:                         `a predicate must follow the version`,
		`fname == "unterminated`:              `string not closed`,
		`uid == "a"`:                          `uid is a number but string "a" is not`,
		`uid == 0 && `:                        `found end of predicate`,
		`foo cpuburn > 0.5`:                   `unknown word "foo"`,
		`syscalls > 1`:                        `syscalls has no value on Linux`,
		`fname ~ /[/`:                         `unmatched [`,
		`fname ~ "x"`:                         `must be followed by a /pattern/`,
		`fname ~ /\(a/`:                       `missing closing )`,
		`fname ~ /\<a/`:                       `not supported`,
		`fname ~ /\(a\)\1/`:                   `back-reference`,
		`fname < "a"`:                         `fname is a string`,
		`1 < 2 < 3`:                           `unexpected "<"`,
		`uid = 0`:                             `unexpected character '='`,
		"uid == 0 \x01":                       `unexpected character '\x01'`,
		`uid == 1` + strings.Repeat("9", 400): `too large`,
		deep:                                  `nests deeper`,
		nots:                                  `nests deeper`,
		long:                                  `more than 10000 terms`,
		strings.Repeat(" ", maxHotPredText+1): `more than the 65536 allowed`,
	} {
		p, err := parseHotPredicate(in)
		if err == nil {
			t.Errorf("%.60q: parsed as %.60q, want an error", in, p.String())
			continue
		}
		if !errors.Is(err, errHotPred) || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60q: error %q, want one saying %q", in, err, want)
		}
	}
}

func TestHotPredicateEval(t *testing.T) {
	v := &hotVars{uid: 1000, gid: 100, uname: "me", gname: "users", fname: "burn", psargs: "burn -x 3\nsecond",
		cpuburn: 0.75, ctxswitch: 12, iodemand: 4096, iowait: 0.01, schedwait: 0.2, virtualsize: 2048, residentsize: 512}
	for in, want := range map[string]bool{
		`cpuburn > 0.5`:                             true,
		`cpuburn > 0.5 && uname == "root"`:          false,
		`uname == "root" || fname == "burn"`:        true,
		`! (uid == 1000)`:                           false,
		`uid == 0 || gid == 100 && ctxswitch >= 12`: true,
		`! uid == 1000 || false`:                    false, // ! binds tighter than ||
		`iodemand == 4096 && iowait < 0.02 && schedwait <= 0.2 && virtualsize != 0 && residentsize > 511`: true,
		`gname != "users"`:         false,
		`psargs ~ /^burn/`:         true,
		`psargs ~ /^second/`:       true, // ^ also matches after a newline, as re_comp's does
		`psargs !~ /-y/`:           true,
		`fname ~ /b\(u\|x\)rn/`:    true,
		`fname ~ /b(u|x)rn/`:       false, // ( | ) are ordinary characters in this syntax
		`fname ~ /^*burn/`:         false, // a leading * is a literal star
		`fname ~ /bu+rn$/`:         true,
		`psargs ~ /x [0-9]/`:       true,
		`psargs ~ /x [[:digit:]]/`: false, // no character classes in this syntax
		`fname ~ /[\]/`:            false,
		`1 < 2`:                    true,
		`"a" == "a"`:               true,
	} {
		p, err := parseHotPredicate(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := p.eval(v); got != want {
			t.Errorf("%q on %+v: %v, want %v", in, v, got, want)
		}
	}
	// A backslash is an ordinary character inside brackets.
	p, err := parseHotPredicate(`psargs ~ /a[\]b/`)
	if err != nil || !p.eval(&hotVars{psargs: `a\b`}) {
		t.Errorf(`[\] should match a backslash: %v`, err)
	}
}

// FuzzHotPredicate: no input makes the parser panic or take long; whatever parses
// prints to a form that parses to itself (patterns aside) and evaluates.
func FuzzHotPredicate(f *testing.F) {
	for _, c := range hotPrintCases {
		f.Add(c.in)
	}
	f.Add(`fname ~ /[[:alpha:]x\]*\(a\|b\)$/ || psargs !~ /^\` + "`" + `x\'/`)
	f.Add(`Version 1 ((uid == 0) && (! (gname == "x")))`)
	f.Fuzz(func(t *testing.T, in string) {
		p, err := parseHotPredicate(in)
		if err != nil || p == nil {
			return
		}
		out := p.String()
		p.eval(&hotVars{psargs: in})
		if strings.Contains(out, "~") {
			return
		}
		// Six decimals may round a number, so the second print is the fixed point.
		q, err := parseHotPredicate(out)
		if err != nil {
			t.Fatalf("%q printed %q, which does not parse: %v", in, out, err)
		}
		out = q.String()
		if r, err := parseHotPredicate(out); err != nil || r.String() != out {
			t.Fatalf("%q: %q reparses as %v, %v", in, out, r, err)
		}
	})
}

// hotFixture is the fixture tree in a temporary copy, a registry over it with a
// clock the test moves, and the hotproc state.
type hotFixture struct {
	dir string
	r   *Registry
	h   *hotState
	now time.Time
}

func newHotFixture(t *testing.T, conf string) *hotFixture {
	t.Helper()
	dir := copyTree(t, fixtureDir)
	if conf != "" {
		p := filepath.Join(dir, "rootfs", hotprocDefaultPMDAsDir, "proc", "hotproc.conf")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, conf)
	}
	// The clock starts after the start-up sample the file may have caused.
	f := &hotFixture{dir: dir, r: newFixtureRegistry(t, dir)}
	f.now = time.Now().Add(time.Second)
	f.h = source[*processSource](t, f.r, "proc").hot
	f.h.now = func() time.Time { return f.now }
	return f
}

func (f *hotFixture) store(t *testing.T, name string, v protocol.Value, o StoreOpts) int32 {
	t.Helper()
	m, ok := f.r.ByName(name)
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	vs := &protocol.ValueSet{PMID: m.Desc.PMID, NumVal: 1, ValFmt: protocol.ValFmtInsitu, Values: []protocol.Value{v}}
	if v.VType == uint8(protocol.TypeString) {
		vs.ValFmt = protocol.ValFmtDynamic
	}
	if code := f.r.CheckStore(vs, o); code != 0 {
		return code
	}
	f.r.ApplyStore(vs, o)
	return 0
}

// rootOpts is a root client on the unix socket, the one the agent takes stores from.
var rootOpts = StoreOpts{Local: true, Trusted: true, Root: true}

// edit replaces old by new in a fixture file.
func (f *hotFixture) edit(t *testing.T, rel, old, new string) {
	t.Helper()
	p := filepath.Join(f.dir, rel)
	b, err := os.ReadFile(p)
	if err != nil || !strings.Contains(string(b), old) {
		t.Fatalf("%s: %v, or no %q in it", rel, err, old)
	}
	writeFile(t, p, strings.Replace(string(b), old, new, 1))
}

// TestHotprocTwoSamples: a predicate stored by a local trusted client is sampled at
// once; ten seconds later, with pid 1234 having used 2 s of CPU, 100 context
// switches, 10 KiB of I/O, 1 s of block I/O wait and 5 s of run delay, it is the one
// hot process, with the rates the predicate saw and the proc.* values as hotproc.*.
func TestHotprocTwoSamples(t *testing.T) {
	f := newHotFixture(t, "")
	if code := f.store(t, "hotproc.control.config", protocol.BlockString(protocol.InNull,
		`fname == "my (odd) cmd" && cpuburn > 0.1 || uname == "nobody-here"`), rootOpts); code != 0 {
		t.Fatalf("store: %d", code)
	}
	res := fetchByName(t, f.r, "hotproc.control.config", "hotproc.control.config_gen", "hotproc.nprocs")
	if got := res["hotproc.control.config"].Values[0].S; got != `(((fname == "my (odd) cmd") && (cpuburn > 0.100000)) || (uname == "nobody-here"))` {
		t.Errorf("config reads back %q", got)
	}
	if res["hotproc.control.config_gen"].Values[0].U != 1 || res["hotproc.nprocs"].Values[0].U != 0 {
		t.Errorf("right after the store: %+v", res)
	}

	f.edit(t, "proc/1234/stat", " 250 75 ", " 350 175 ")
	f.edit(t, "proc/1234/stat", " 0 0 7 11 13 ", " 0 0 107 11 13 ")
	f.edit(t, "proc/1234/status", "voluntary_ctxt_switches:\t150", "voluntary_ctxt_switches:\t250")
	f.edit(t, "proc/1234/io", "read_bytes: 8192", "read_bytes: 18432")
	f.edit(t, "proc/1234/schedstat", "123456789 2345 42", "123456789 5000002345 42")
	f.edit(t, "proc/stat", "cpu  303700 120 208000 3443600", "cpu  303700 120 208000 3444600")
	f.now = f.now.Add(5 * time.Second)
	if res := fetchByName(t, f.r, "hotproc.nprocs"); res["hotproc.nprocs"].Values[0].U != 0 {
		t.Errorf("evaluated before the refresh interval: %+v", res)
	}
	f.now = f.now.Add(5 * time.Second)

	insts, err := f.r.InstancesFor(indomHotproc, true)
	if err != nil || len(insts) != 1 || insts[0].ID != 1234 {
		t.Fatalf("hot instances %+v, %v; want 1234 alone", insts, err)
	}
	procInsts, _ := f.r.InstancesFor(indomProc, true)
	for _, in := range procInsts {
		if in.ID == 1234 && in.Name != insts[0].Name {
			t.Errorf("hot instance name %q, proc's %q", insts[0].Name, in.Name)
		}
	}
	names := []string{"hotproc.psinfo.pid", "hotproc.psinfo.utime", "hotproc.predicate.cpuburn", "hotproc.predicate.ctxswitch",
		"hotproc.predicate.iodemand", "hotproc.predicate.iowait", "hotproc.predicate.schedwait", "hotproc.predicate.virtualsize",
		"hotproc.predicate.residentsize", "hotproc.nprocs", "hotproc.total.cpuburn", "hotproc.total.cpuidle",
		"hotproc.total.cpuother.not_cpuburn", "proc.psinfo.utime"}
	res = fetchByName(t, f.r, names...)
	one := func(n string) Value {
		t.Helper()
		if len(res[n].Values) != 1 {
			t.Fatalf("%s: %+v, want one value", n, res[n])
		}
		return res[n].Values[0]
	}
	near := func(n string, got, want float64) {
		t.Helper()
		if got < want-1e-9 || got > want+1e-9 {
			t.Errorf("%s = %v, want %v", n, got, want)
		}
	}
	if v := one("hotproc.psinfo.pid"); v.Inst != 1234 || v.U != 1234 {
		t.Errorf("hotproc.psinfo.pid %+v", v)
	}
	var procUtime uint64
	for _, v := range res["proc.psinfo.utime"].Values {
		if v.Inst == 1234 {
			procUtime = v.U
		}
	}
	if v := one("hotproc.psinfo.utime"); v.U != procUtime || procUtime != 3500 {
		t.Errorf("hotproc.psinfo.utime %d, proc.psinfo.utime %d, want 3500 ms", v.U, procUtime)
	}
	near("cpuburn", one("hotproc.predicate.cpuburn").F, 0.2)
	near("ctxswitch", one("hotproc.predicate.ctxswitch").F, 10)
	near("iodemand", one("hotproc.predicate.iodemand").F, 1024)
	near("iowait", one("hotproc.predicate.iowait").F, 0.1)
	near("schedwait", one("hotproc.predicate.schedwait").F, 0.5)
	if v := one("hotproc.predicate.virtualsize"); v.U != 123456789/1024 {
		t.Errorf("virtualsize %d", v.U)
	}
	if v := one("hotproc.predicate.residentsize"); v.U != 2048*4096/1024 {
		t.Errorf("residentsize %d", v.U)
	}
	if v := one("hotproc.nprocs"); v.U != 1 {
		t.Errorf("nprocs %d", v.U)
	}
	near("total.cpuburn", one("hotproc.total.cpuburn").F, 0.2)
	near("total.cpuidle", one("hotproc.total.cpuidle").F, 1)
	near("total.not_cpuburn", one("hotproc.total.cpuother.not_cpuburn").F, 0)

	// A profile naming another pid gets no hot values.
	m, _ := f.r.ByName("hotproc.psinfo.pid")
	out := f.r.FetchFor(nil, []protocol.PMID{m.Desc.PMID}, FetchOpts{Trusted: true, Only: func(protocol.InDom) ([]uint32, bool) {
		return []uint32{1}, true
	}})
	if len(out[0].Values) != 0 {
		t.Errorf("profile of pid 1: %+v", out[0])
	}

	// No CPU used in the next interval: no longer hot.
	f.now = f.now.Add(10 * time.Second)
	if res := fetchByName(t, f.r, "hotproc.nprocs"); res["hotproc.nprocs"].Values[0].U != 0 {
		t.Errorf("an idle process stays hot: %+v", res)
	}
}

// TestHotprocStores: the store rules and what a refused or empty predicate does.
func TestHotprocStores(t *testing.T) {
	f := newHotFixture(t, "")
	good := protocol.BlockString(protocol.InNull, `uid == 0`)
	for _, o := range []StoreOpts{{}, {Local: true}, {Trusted: true}, {Local: true, Trusted: true}} {
		if code := f.store(t, "hotproc.control.config", good, o); code != protocol.ErrPermission {
			t.Errorf("config from %+v: %d, want PM_ERR_PERMISSION", o, code)
		}
		if code := f.store(t, "hotproc.control.refresh", protocol.Value{Insitu: 1}, o); code != protocol.ErrPermission {
			t.Errorf("refresh from %+v: %d, want PM_ERR_PERMISSION", o, code)
		}
	}
	for _, n := range []string{"hotproc.nprocs", "hotproc.control.config_gen", "hotproc.predicate.cpuburn", "hotproc.psinfo.pid"} {
		if code := f.store(t, n, protocol.Value{Insitu: 1}, rootOpts); code != protocol.ErrPermission {
			t.Errorf("%s: %d, want PM_ERR_PERMISSION", n, code)
		}
	}
	if code := f.store(t, "hotproc.control.config", good, rootOpts); code != 0 {
		t.Fatalf("good predicate: %d", code)
	}
	for _, bad := range []string{`pid == 1`, `fname ~ /[/`, strings.Repeat("(", 500), "uid == 0 ||"} {
		if code := f.store(t, "hotproc.control.config", protocol.BlockString(protocol.InNull, bad), rootOpts); code != protocol.ErrBadStore {
			t.Errorf("%.40q: %d, want PM_ERR_BADSTORE", bad, code)
		}
	}
	if code := f.store(t, "hotproc.control.config", protocol.Value{Insitu: 7}, rootOpts); code != protocol.ErrBadStore {
		t.Errorf("a number for the config: %d", code)
	}
	res := fetchByName(t, f.r, "hotproc.control.config", "hotproc.control.config_gen")
	if res["hotproc.control.config"].Values[0].S != "(uid == 0)" || res["hotproc.control.config_gen"].Values[0].U != 1 {
		t.Errorf("the refused stores changed the predicate: %+v", res)
	}
	if code := f.store(t, "hotproc.control.config", protocol.BlockString(protocol.InNull, `uid == 1000`), rootOpts); code != 0 {
		t.Fatal(code)
	}
	if g := fetchByName(t, f.r, "hotproc.control.config_gen")["hotproc.control.config_gen"].Values[0].U; g != 2 {
		t.Errorf("generation %d after the second predicate, want 2", g)
	}
	// A refresh of 2 s: uid 1000 (pid 1234) is hot two seconds later.
	if code := f.store(t, "hotproc.control.refresh", protocol.Value{Insitu: 2}, rootOpts); code != 0 {
		t.Fatal(code)
	}
	f.now = f.now.Add(2 * time.Second)
	insts, _ := f.r.InstancesFor(indomHotproc, true)
	if len(insts) != 1 || insts[0].ID != 1234 {
		t.Errorf("uid 1000: hot %+v", insts)
	}
	// A refresh of 0 is taken and read back, but evaluates at most once a second.
	if code := f.store(t, "hotproc.control.refresh", protocol.Value{Insitu: 0}, rootOpts); code != 0 {
		t.Fatal(code)
	}
	first := f.h.prevAt
	f.now = f.now.Add(500 * time.Millisecond)
	res = fetchByName(t, f.r, "hotproc.control.refresh", "hotproc.nprocs")
	if res["hotproc.control.refresh"].Values[0].U != 0 || !f.h.prevAt.Equal(first) {
		t.Errorf("refresh 0: %+v, sampled again after half a second: %v", res, !f.h.prevAt.Equal(first))
	}
	f.now = f.now.Add(500 * time.Millisecond)
	if fetchByName(t, f.r, "hotproc.nprocs"); f.h.prevAt.Equal(first) {
		t.Error("refresh 0: not sampled again after a second")
	}
	f.store(t, "hotproc.control.refresh", protocol.Value{Insitu: 2}, rootOpts)
	// An empty predicate turns hotproc off.
	if code := f.store(t, "hotproc.control.config", protocol.BlockString(protocol.InNull, " # off\n"), rootOpts); code != 0 {
		t.Fatal(code)
	}
	res = fetchByName(t, f.r, "hotproc.control.config", "hotproc.control.config_gen", "hotproc.nprocs", "hotproc.control.refresh")
	if res["hotproc.control.config"].Values[0].S != "" || res["hotproc.control.config_gen"].Values[0].U != 0 ||
		res["hotproc.nprocs"].Values[0].U != 0 || res["hotproc.control.refresh"].Values[0].U != 2 {
		t.Errorf("after an empty predicate: %+v", res)
	}
}

// TestHotprocConfigFile: the file is read at start and on reload_config; a file
// anyone may write, or one that does not parse, is ignored.
func TestHotprocConfigFile(t *testing.T) {
	f := newHotFixture(t, "#pmdahotproc\nVersion 1.0\nuname == \"me\"\n")
	res := fetchByName(t, f.r, "hotproc.control.config", "hotproc.control.config_gen")
	if res["hotproc.control.config"].Values[0].S != `(uname == "me")` || res["hotproc.control.config_gen"].Values[0].U != 1 {
		t.Fatalf("from the file: %+v", res)
	}
	f.now = f.now.Add(10 * time.Second)
	if insts, _ := f.r.InstancesFor(indomHotproc, true); len(insts) != 1 || insts[0].ID != 1234 {
		t.Errorf(`uname == "me": hot %+v`, insts)
	}
	p := f.h.confPath
	for _, c := range []struct {
		text string
		mode os.FileMode
	}{{"uid == 0\n", 0o666}, {"pid == 3\n", 0o644}} {
		writeFile(t, p, c.text)
		os.Chmod(p, c.mode)
		if code := f.store(t, "hotproc.control.reload_config", protocol.Value{Insitu: 1}, rootOpts); code != 0 {
			t.Fatal(code)
		}
		if got := fetchByName(t, f.r, "hotproc.control.config")["hotproc.control.config"].Values[0].S; got != `(uname == "me")` {
			t.Errorf("%q mode %v: the predicate became %q", c.text, c.mode, got)
		}
	}
	os.Chmod(p, 0o644)
	writeFile(t, p, "uid == 0\n")
	f.store(t, "hotproc.control.reload_config", protocol.Value{Insitu: 1}, rootOpts)
	if got := fetchByName(t, f.r, "hotproc.control.config")["hotproc.control.config"].Values[0].S; got != `(uid == 0)` {
		t.Errorf("after reload: %q", got)
	}
	// A missing file changes nothing, as in the agent.
	os.Remove(p)
	f.store(t, "hotproc.control.reload_config", protocol.Value{Insitu: 1}, rootOpts)
	if got := fetchByName(t, f.r, "hotproc.control.config")["hotproc.control.config"].Values[0].S; got != `(uid == 0)` {
		t.Errorf("after reload of a missing file: %q", got)
	}
}

// TestHotprocConcurrentStores: stores arrive on client goroutines while other
// clients fetch hotproc (under the source's lock); run under -race (make race)
// this shows the state is guarded.
func TestHotprocConcurrentStores(t *testing.T) {
	f := newHotFixture(t, "")
	f.h.now = time.Now
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			f.store(t, "hotproc.control.config", protocol.BlockString(protocol.InNull, `uid >= 0`), rootOpts)
			f.store(t, "hotproc.control.refresh", protocol.Value{Insitu: uint32(i % 2)}, rootOpts)
		}
	}()
	for i := 0; i < 50; i++ {
		fetchByName(t, f.r, "hotproc.psinfo.pid", "hotproc.predicate.cpuburn", "hotproc.nprocs", "hotproc.control.config")
		f.r.InstancesFor(indomHotproc, true)
	}
	<-done
}

// BenchmarkHotprocEvaluate: one evaluation of a predicate over 1000 processes
// (what a hotproc fetch costs once per refresh interval).
func BenchmarkHotprocEvaluate(b *testing.B) {
	dir := copyTree(b, fixtureDir)
	procs := makeProcTree(b, 1000)
	r := newFixtureRegistry(b, dir)
	h := source[*processSource](b, r, "proc").hot
	h.rd.root, h.procRoot = procs, filepath.Join(dir, "proc")
	pred, err := parseHotPredicate(`fname ~ /^worker-10/ && cpuburn > 0.1 || uname == "root"`)
	if err != nil {
		b.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.set(pred)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.evaluate(time.Now(), true)
	}
}

// reCompC is a C helper around glibc's re_comp and re_exec, the functions the
// agent matches patterns with: it prints E for a pattern they refuse, else one
// digit (1 match, 0 none) per subject.
const reCompC = `#define _REGEX_RE_COMP
#include <sys/types.h>
#include <regex.h>
#include <stdio.h>
int main(int argc, char **argv) {
	if (re_comp(argv[1]) != NULL) { puts("E"); return 0; }
	for (int i = 2; i < argc; i++) putchar(re_exec(argv[i]) ? '1' : '0');
	putchar('\n');
	return 0;
}
`

// TestHotPatternsMatchGlibc: our translation of each pattern matches the same
// subjects as glibc's re_comp/re_exec (compiled here; skipped without a C
// compiler). Patterns we refuse on purpose (\< \> back-references, empty
// ranges) are listed apart; every other pattern glibc refuses, we refuse too.
func TestHotPatternsMatchGlibc(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build the glibc re_comp helper")
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "re.c"), filepath.Join(dir, "re")
	writeFile(t, src, reCompC)
	if out, err := exec.Command(cc, "-o", bin, src).CombinedOutput(); err != nil {
		t.Skipf("cannot build the re_comp helper (not glibc?): %v\n%s", err, out)
	}
	subjects := []string{"a\nb", "a$b", "b", "a", "1", "]", "foo bar", "aaa", "+a", "*b", "bx", ".", "n", "\u00e9", "x",
		"a|b", "bc", "ac", "*x", "buurn", "aa", "a{2}", `\`, "a ", "(a)", "ab", "a?b", ":", "[", "digit", "x1", ""}
	patterns := []string{"a|b", `\(a\|b\)c`, "^*x", "bu+rn$", "^b", "a{2}", `[\]`, `\w\s`, `a\{2\}`, "(a)", "a?b",
		"a.b", "a$b", `a\|^b`, `\(^a\)`, "[[:digit:]]+", "[^a]", "[]a]", "\\`a", `a\'`, `\bfoo\b`, "a**", "a+?", "a?+",
		"a++", "+a", `a\|*b`, `\(*a\)`, `a$\|b`, "[a-c]x", `\.`, `\n`, "\u00e9", "[[:alpha:]", `a\`, `\(a`, `a\)`,
		"^$", "x*", `\W`, `\S+`, "[^]a]", "[a-]", "a^b", `\B`, "[", "]", "*"}
	refused := map[string]bool{"[z-a]": true, `x\<y`: true, `\(a\)\1`: true}
	for _, pat := range append(patterns, "[z-a]", `x\<y`, `\(a\)\1`) {
		out, err := exec.Command(bin, append([]string{pat}, subjects...)...).Output()
		if err != nil {
			t.Fatalf("re_comp helper: %v", err)
		}
		want := strings.TrimSpace(string(out))
		re, err := compileGNUPattern(pat)
		if refused[pat] {
			if err == nil {
				t.Errorf("%q: compiled, want it refused", pat)
			}
			continue
		}
		if want == "E" || err != nil {
			if want != "E" || err == nil {
				t.Errorf("%q: glibc says %s, we say %v", pat, want, err)
			}
			continue
		}
		var got strings.Builder
		for _, s := range subjects {
			if re.MatchString(s) {
				got.WriteByte('1')
			} else {
				got.WriteByte('0')
			}
		}
		if got.String() != want {
			t.Errorf("%q (as %s): matches %s, glibc %s", pat, re, got.String(), want)
		}
	}
}
