package metrics

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

var unitWords = map[string]protocol.Units{
	"none": protocol.UnitsNone, "millisec": protocol.UnitsMillisec, "sec": protocol.UnitsSec,
	"Kbyte": protocol.UnitsKbyte, "Mbyte": protocol.UnitsMbyte, "byte": protocol.UnitsByte,
	"count": protocol.UnitsCount, "count / sec": protocol.UnitsCountSec, "Mbyte / sec": protocol.UnitsMbyteSec,
}

func unitsString(u protocol.Units) string {
	for w, v := range unitWords {
		if v == u {
			return w
		}
	}
	return fmt.Sprintf("0x%08x", uint32(u))
}

var typeAbbrev = map[string]int32{
	"U32": protocol.TypeU32, "U64": protocol.TypeU64, "I32": protocol.Type32, "I64": protocol.Type64,
	"FLT": protocol.TypeFloat, "DBL": protocol.TypeDouble, "STR": protocol.TypeString,
}

var semAbbrev = map[string]int32{"C": protocol.SemCounter, "I": protocol.SemInstant, "D": protocol.SemDiscrete}

func parsePMIDText(s string) (protocol.PMID, error) {
	p := strings.Split(s, ".")
	if len(p) != 3 {
		return 0, fmt.Errorf("bad PMID %q", s)
	}
	var n [3]uint32
	for i := range p {
		v, err := strconv.ParseUint(p[i], 10, 32)
		if err != nil {
			return 0, err
		}
		n[i] = uint32(v)
	}
	return protocol.NewPMID(n[0], n[1], n[2]), nil
}

func parseInDomText(s string) (protocol.InDom, error) {
	if s == "null" || s == "PM_INDOM_NULL" {
		return protocol.InDomNull, nil
	}
	d, sr, ok := strings.Cut(s, ".")
	dn, err1 := strconv.ParseUint(d, 10, 32)
	sn, err2 := strconv.ParseUint(sr, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad indom %q", s)
	}
	return protocol.NewInDom(uint32(dn), uint32(sn)), nil
}

// TestProtocolTable checks every metric of testdata/reference/metric-table.txt (the
// descriptors the real pmcd 6.0.3 serves for the core metrics) against the
// catalogue: name, PMID (and its hex form), type, instance domain, semantics and
// units.
func TestProtocolTable(t *testing.T) {
	b, err := os.ReadFile("testdata/reference/metric-table.txt")
	if err != nil {
		t.Fatal(err)
	}
	r := newFixtureRegistry(t, fixtureDir)
	rows := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) != 7 {
			t.Fatalf("row %q: %d columns, want 7", line, len(cells))
		}
		for k := range cells {
			cells[k] = strings.TrimSpace(cells[k])
		}
		name, pmidText, hexText, typ, indom, sem, units := cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
		rows++
		m, ok := r.ByName(name)
		if !ok {
			t.Errorf("%s: not served", name)
			continue
		}
		d := m.Desc
		wantPMID, err := parsePMIDText(pmidText)
		if err != nil {
			t.Fatal(err)
		}
		hex, err := strconv.ParseUint(hexText, 16, 32)
		if err != nil || protocol.PMID(hex) != wantPMID {
			t.Errorf("%s: table hex %s does not match %s", name, hexText, pmidText)
		}
		if d.PMID != wantPMID {
			t.Errorf("%s: PMID %v, table %v", name, d.PMID, wantPMID)
		}
		if wt, ok := typeAbbrev[typ]; !ok || d.Type != wt {
			t.Errorf("%s: type %d, table %s", name, d.Type, typ)
		}
		if wi, err := parseInDomText(indom); err != nil || d.InDom != wi {
			t.Errorf("%s: indom %v, table %s", name, d.InDom, indom)
		}
		if ws, ok := semAbbrev[sem]; !ok || d.Sem != ws {
			t.Errorf("%s: sem %d, table %s", name, d.Sem, sem)
		}
		word := units
		if k := strings.Index(units, " ("); k >= 0 {
			word = units[:k]
			hexUnits, err := strconv.ParseUint(strings.TrimSuffix(units[k+2:], ")"), 16, 32)
			if err != nil || protocol.Units(hexUnits) != d.Units {
				t.Errorf("%s: units 0x%08x, table %s", name, uint32(d.Units), units)
			}
		}
		if wu, ok := unitWords[word]; !ok || d.Units != wu {
			t.Errorf("%s: units %s, table %s", name, unitsString(d.Units), units)
		}
	}
	if rows < 100 {
		t.Errorf("only %d rows in the table", rows)
	}
	t.Logf("%d metrics checked", rows)
}

var typeNames = map[int32]string{
	protocol.Type32: "32-bit int", protocol.TypeU32: "32-bit unsigned int", protocol.Type64: "64-bit int",
	protocol.TypeU64: "64-bit unsigned int", protocol.TypeFloat: "float", protocol.TypeDouble: "double",
	protocol.TypeString: "string",
}

var semNames = map[int32]string{protocol.SemCounter: "counter", protocol.SemInstant: "instant", protocol.SemDiscrete: "discrete"}

// TestReferencePminfo compares the catalogue's descriptors with `pminfo -dm` output of
// the real pmcd 6.0.3 (testdata/reference/pminfo-dm.txt): the header line with name
// and PMID, then the type, instance domain, semantics and units lines.
func TestReferencePminfo(t *testing.T) {
	b, err := os.ReadFile("testdata/reference/pminfo-dm.txt")
	if err != nil {
		t.Fatal(err)
	}
	r := newFixtureRegistry(t, fixtureDir)
	checked := 0
	all := strings.Split(string(b), "\n")
	for h := range all {
		if h+2 >= len(all) || !strings.Contains(all[h], " PMID: ") || !strings.HasPrefix(all[h+1], "    Data Type: ") {
			continue
		}
		name := all[h][:strings.Index(all[h], " PMID: ")]
		m, ok := r.ByName(name)
		if !ok {
			t.Errorf("%s: not served", name)
			continue
		}
		d := m.Desc
		indom := "PM_INDOM_NULL 0xffffffff"
		if d.InDom != protocol.InDomNull {
			indom = fmt.Sprintf("%v 0x%x", d.InDom, uint32(d.InDom))
		}
		want := []string{
			fmt.Sprintf("%s PMID: %v", m.Name, d.PMID),
			fmt.Sprintf("    Data Type: %s  InDom: %s", typeNames[d.Type], indom),
			fmt.Sprintf("    Semantics: %s  Units: %s", semNames[d.Sem], unitsString(d.Units)),
		}
		for k, w := range want {
			if all[h+k] != w {
				t.Errorf("%s line %d:\n ours: %s\n real: %s", name, k+1, w, all[h+k])
			}
		}
		checked++
	}
	if checked < 100 {
		t.Errorf("only %d metrics found in the reference", checked)
	}
}

// pcpHelpDir is where PCP installs its agents' help databases (<agent>/help.{dir,pag}).
const pcpHelpDir = "/var/lib/pcp/pmdas"

// pcpHelp is one entry of a PCP help database.
type pcpHelp struct{ oneline, help string }

// readPCPHelp reads one agent's help database: <base>.dir is an index of
// little-endian uint32s, a header {magic 0x50635068, version, count} then count
// entries {ident, offset of the one-line text, offset of the long text}, where an
// ident with bit 31 set is an instance domain; the offsets point at NUL-terminated
// strings in <base>.pag. A file that breaks these rules is an error, never a panic.
func readPCPHelp(base string, pmids, indoms map[uint32]pcpHelp) error {
	dir, err := os.ReadFile(base + ".dir")
	if err != nil {
		return err
	}
	pag, err := os.ReadFile(base + ".pag")
	if err != nil {
		return err
	}
	if len(dir) < 12 || binary.LittleEndian.Uint32(dir) != 0x50635068 {
		return fmt.Errorf("%s.dir: not a PCP help index", base)
	}
	n := uint64(binary.LittleEndian.Uint32(dir[8:]))
	if uint64(len(dir)) < 12+12*n {
		return fmt.Errorf("%s.dir: %d entries announced, the file holds %d", base, n, (len(dir)-12)/12)
	}
	str := func(off uint32) (string, error) {
		if uint64(off) >= uint64(len(pag)) {
			return "", fmt.Errorf("%s.pag: offset %d beyond the end (%d bytes)", base, off, len(pag))
		}
		end := bytes.IndexByte(pag[off:], 0)
		if end < 0 {
			return "", fmt.Errorf("%s.pag: text at %d has no terminating NUL", base, off)
		}
		return string(pag[off : int(off)+end]), nil
	}
	for i := uint64(0); i < n; i++ {
		e := dir[12+12*i:]
		one, err := str(binary.LittleEndian.Uint32(e[4:]))
		if err != nil {
			return err
		}
		long, err := str(binary.LittleEndian.Uint32(e[8:]))
		if err != nil {
			return err
		}
		if id := binary.LittleEndian.Uint32(e); id&0x80000000 != 0 {
			indoms[id&^0x80000000] = pcpHelp{one, long}
		} else {
			pmids[id] = pcpHelp{one, long}
		}
	}
	return nil
}

// words splits a text into lower-case words without surrounding punctuation, so
// that re-wrapping, re-capitalising or re-punctuating a copied text changes nothing.
func words(s string) []string {
	var out []string
	for _, w := range strings.Fields(strings.ToLower(s)) {
		if w = strings.Trim(w, ".,;:()\"'`[]"); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// copyRun is how many consecutive words of one of PCP's texts ours may not repeat.
// Six is long enough that shared technical names ("/proc/meminfo", "per network
// interface") do not trigger it, and short enough to catch a copied clause (over the
// whole catalogue the longest run shared with PCP is otherwise 5 words).
const copyRun = 6

// factRun reports whether a run of words is mostly a list of numbers ("10 seconds 1
// minute and 5"): both texts must state such facts, so a shared one is no copy, while
// a copied sentence still shares runs of plain words around its numbers.
func factRun(run []string) bool {
	n := 0
	for _, w := range run {
		if w[0] >= '0' && w[0] <= '9' {
			n++
		}
	}
	return n >= 2
}

// copiedFrom says how our help of one metric or instance domain copies PCP's help of
// the same one: "" when it does not. Equal texts (after normalising case, spacing
// and punctuation) and any run of copyRun words of PCP's texts inside ours count.
func copiedFrom(oneline, help string, pcp pcpHelp) string {
	ours := [2][]string{words(oneline), words(help)}
	theirs := [2][]string{words(pcp.oneline), words(pcp.help)}
	kind := [2]string{"one-line", "long"}
	for i, o := range ours {
		for j, th := range theirs {
			if len(th) > 0 && slices.Equal(o, th) {
				return fmt.Sprintf("our %s help is PCP's %s help", kind[i], kind[j])
			}
			for k := 0; k+copyRun <= len(th); k++ {
				run := th[k : k+copyRun]
				if factRun(run) {
					continue
				}
				for l := 0; l+copyRun <= len(o); l++ {
					if slices.Equal(o[l:l+copyRun], run) {
						return fmt.Sprintf("our %s help repeats PCP's %s help: %q", kind[i], kind[j], strings.Join(run, " "))
					}
				}
			}
		}
	}
	return ""
}

// TestHelpIsOurOwn compares every help text served with the help databases of an
// installed PCP, read at test time: none may equal PCP's text for the same metric or
// instance domain, or repeat a run of its words (copiedFrom).
func TestHelpIsOurOwn(t *testing.T) {
	pmids, indoms := map[uint32]pcpHelp{}, map[uint32]pcpHelp{}
	for _, agent := range []string{"pmcd", "linux", "proc"} {
		err := readPCPHelp(filepath.Join(pcpHelpDir, agent, "help"), pmids, indoms)
		if errors.Is(err, fs.ErrNotExist) {
			t.Skipf("PCP's help databases are not installed (%v); run scripts/reference-pcp install to compare our help with PCP's", err)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	r := newFixtureRegistry(t, fixtureDir)
	compared := 0
	for _, m := range r.Metrics() {
		h, ok := pmids[uint32(m.Desc.PMID)]
		if !ok {
			continue // a metric of ours that PCP does not have (pmcd.gopcp.*)
		}
		compared++
		if why := copiedFrom(m.OneLine(), m.Help(), h); why != "" {
			t.Errorf("%s (%v): %s", m.Name, m.Desc.PMID, why)
		}
	}
	for _, in := range r.InDoms() {
		one, _ := r.InDomText(in, false)
		long, _ := r.InDomText(in, true)
		h, ok := indoms[uint32(in)]
		if !ok {
			continue
		}
		compared++
		if why := copiedFrom(one, long, h); why != "" {
			t.Errorf("indom %v: %s", in, why)
		}
	}
	// Guard against comparing with nothing (an index read as empty, say).
	if compared < 100 {
		t.Errorf("only %d metrics and instance domains compared with PCP's help", compared)
	}
	t.Logf("%d metrics and instance domains compared with PCP's help", compared)
}

// TestCopiedFromDetects: the copy check catches a copied text however it is re-wrapped
// or re-cased, and a copied clause inside a longer text; it lets our own words pass.
// The "PCP" texts here are made up for the test.
func TestCopiedFromDetects(t *testing.T) {
	pcp := pcpHelp{"widgets frobbed since the system started", "Count of widgets frobbed by the kernel since the system was\nstarted, as reported in the frob file."}
	for _, c := range []struct {
		oneline, help string
		copied        bool
	}{
		{"frob operations since boot", "Column 3 of /proc/frob, counted since boot.", false},
		{"widgets frobbed since the system started", "ours", true},
		{"Widgets frobbed since  the system started.", "ours", true},
		{"ours", "Count of widgets frobbed by the kernel since the system was started, as reported in the frob file.", true},
		{"ours", "count of widgets frobbed\nby the kernel", true},
		{"ours", "From /proc/frob: widgets frobbed by the kernel since the system was up.", true},
		{"ours", "widgets frobbed since the system started, per CPU", true},
		{"ours", "widgets frobbed since the system", false}, // shorter than copyRun
	} {
		if got := copiedFrom(c.oneline, c.help, pcp) != ""; got != c.copied {
			t.Errorf("copiedFrom(%q, %q) = %v, want %v", c.oneline, c.help, got, c.copied)
		}
	}
	// Shared lists of numbers are facts; the prose around them is not.
	periods := pcpHelp{"frob averages over 10 seconds, 1 minute and 5 minutes", "The frob rate is averaged over\n10 seconds, 1 minute and 5 minutes by the kernel."}
	for _, c := range []struct {
		oneline, help string
		copied        bool
	}{
		{"frob averaging windows", "The kernel averages frobs over 10 seconds, 1 minute and 5 minutes.", false},
		{"ours", "The frob rate is averaged over 10 seconds, 1 minute and 5 minutes.", true},
		{"frob averages over 10 seconds, 1 minute and 5 minutes", "ours", true},
		{"ours", "widgets frobbed since boot by the kernel", false},
	} {
		if got := copiedFrom(c.oneline, c.help, periods) != ""; got != c.copied {
			t.Errorf("copiedFrom(%q, %q) = %v, want %v", c.oneline, c.help, got, c.copied)
		}
	}
	if why := copiedFrom("", "", pcpHelp{}); why != "" {
		t.Errorf("empty texts: %s", why)
	}
}

// TestReadPCPHelpHostile: damaged help databases give an error naming the file, not a
// panic or a silent partial read.
func TestReadPCPHelpHostile(t *testing.T) {
	le := func(v ...uint32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], x)
		}
		return b
	}
	pag := []byte("one\x00long\x00")
	for name, c := range map[string]struct{ dir, pag []byte }{
		"empty index":        {nil, pag},
		"bad magic":          {le(0x12345678, 2, 1, 1, 0, 4), pag},
		"count past the end": {le(0x50635068, 2, 1000, 1, 0, 4), pag},
		"huge count":         {le(0x50635068, 2, 0xffffffff), pag},
		"offset past end":    {le(0x50635068, 2, 1, 1, 0, 1<<31), pag},
		"no NUL":             {le(0x50635068, 2, 1, 1, 0, 4), []byte("one\x00long")},
	} {
		base := filepath.Join(t.TempDir(), "help")
		if err := os.WriteFile(base+".dir", c.dir, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(base+".pag", c.pag, 0o600); err != nil {
			t.Fatal(err)
		}
		err := readPCPHelp(base, map[uint32]pcpHelp{}, map[uint32]pcpHelp{})
		if err == nil || !strings.Contains(err.Error(), base) {
			t.Errorf("%s: error %v", name, err)
		}
	}
	// And a good one reads.
	base := filepath.Join(t.TempDir(), "help")
	_ = os.WriteFile(base+".dir", le(0x50635068, 2, 2, 7, 0, 4, 0x80000009, 4, 0), 0o600)
	_ = os.WriteFile(base+".pag", pag, 0o600)
	pmids, indoms := map[uint32]pcpHelp{}, map[uint32]pcpHelp{}
	if err := readPCPHelp(base, pmids, indoms); err != nil || pmids[7] != (pcpHelp{"one", "long"}) || indoms[9] != (pcpHelp{"long", "one"}) {
		t.Errorf("good database: %v %v %v", err, pmids, indoms)
	}
}

// TestEveryMetricHasHelp: every metric and instance domain served has a one-line text
// (one line, no final full stop) and a long text that is more than the one-line one.
func TestEveryMetricHasHelp(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	check := func(what, one, long string) {
		t.Helper()
		if one == "" || strings.ContainsAny(one, "\n\t") || strings.HasSuffix(one, ".") {
			t.Errorf("%s: one-line help %q", what, one)
		}
		if long == "" || long == one {
			t.Errorf("%s: long help %q", what, long)
		}
	}
	for _, m := range r.Metrics() {
		check(m.Name, m.OneLine(), m.Help())
	}
	for _, in := range r.InDoms() {
		one, ok1 := r.InDomText(in, false)
		long, ok2 := r.InDomText(in, true)
		if !ok1 || !ok2 {
			t.Errorf("indom %v: no help", in)
		}
		check("indom "+in.String(), one, long)
	}
}

// namesSource reports whether a long help text says where a kernel metric's value
// comes from: a file under /proc, /sys or /etc, the login records, or a system call.
func namesSource(help string) bool {
	for _, src := range []string{"/proc/", "/sys/", "/etc/", "utmp", "statfs(2)", "uname(2)", "shmctl(2)", "msgctl(2)", "semctl(2)", "netlink(7)", "USER_HZ", "Getpagesize"} {
		if strings.Contains(help, src) {
			return true
		}
	}
	return false
}

// TestHelpTable: every entry of the hand-maintained table names a metric or instance
// domain that is served (no stale entries), and each kernel metric's long help says
// where its value comes from.
func TestHelpTable(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	for p, h := range helpPMID {
		m, ok := r.ByPMID(p)
		if !ok {
			t.Errorf("helpPMID %v: no such metric served", p)
			continue
		}
		if p.Domain() == DomainPMCD {
			continue // the daemon describing itself: no file to name
		}
		if !namesSource(h.help) {
			t.Errorf("%s: long help does not say where the value comes from: %q", m.Name, h.help)
		}
	}
	served := map[protocol.InDom]bool{}
	for _, in := range r.InDoms() {
		served[in] = true
	}
	for in := range helpInDom {
		if !served[in] {
			t.Errorf("helpInDom %v: no such instance domain served", in)
		}
	}
}

// TestNamespaceOrderMatchesReference: namespaceOrder lists names in the order of the
// real pmcd's listing (testdata/reference/pminfo-names.txt).
func TestNamespaceOrderMatchesReference(t *testing.T) {
	b, err := os.ReadFile("testdata/reference/pminfo-names.txt")
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, n := range strings.Fields(string(b)) {
		pos[n] = i
	}
	last := -1
	for _, n := range namespaceOrder {
		p, ok := pos[n]
		if !ok || p <= last {
			t.Errorf("%s: not in the reference listing, or out of its order", n)
		}
		last = p
	}
}

// TestInDomText checks the instance domain help the catalogue serves.
func TestInDomText(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	if s, ok := r.InDomText(indomLoad, false); !ok || s != "the averaging periods of the load average" {
		t.Errorf("60.2 one-line: %q %v", s, ok)
	}
	if s, ok := r.InDomText(indomLoad, true); !ok || !strings.HasPrefix(s, "Three instances, numbered by their period") {
		t.Errorf("60.2 help: %q %v", s, ok)
	}
	if s, ok := r.InDomText(indomClients, true); !ok || !strings.HasPrefix(s, "One instance per client connection") {
		t.Errorf("2.6 help: %q %v", s, ok)
	}
	for _, in := range []protocol.InDom{protocol.NewInDom(60, 999), protocol.InDomNull, protocol.NewInDom(5, 0)} {
		if _, ok := r.InDomText(in, false); ok {
			t.Errorf("InDomText(%v) answered for an instance domain not served", in)
		}
	}
	for _, in := range r.InDoms() {
		if s, ok := r.InDomText(in, false); !ok || s == "" {
			t.Errorf("InDomText(%v): no one-line text", in)
		}
	}
}

// TestCatalogue checks the catalogue's own consistency.
func TestCatalogue(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	for _, m := range r.Metrics() {
		if m.OneLine() == "" {
			t.Errorf("%s: no one-line help", m.Name)
		}
		if got, ok := r.ByPMID(m.Desc.PMID); !ok || got != m {
			t.Errorf("%s: ByPMID", m.Name)
		}
		if got, ok := r.ByName(m.Name); !ok || got != m {
			t.Errorf("%s: ByName", m.Name)
		}
		if !r.KnownDomain(m.Desc.PMID.Domain()) {
			t.Errorf("%s: domain %d unknown", m.Name, m.Desc.PMID.Domain())
		}
	}
	if _, ok := r.ByName("kernel.all"); ok {
		t.Error("ByName found a non-leaf")
	}
	if _, ok := r.ByPMID(protocol.NewPMID(60, 0, 999)); ok {
		t.Error("ByPMID found an unknown PMID")
	}
	for _, d := range []uint32{0, 1, 4, 59, 61, 511} {
		if r.KnownDomain(d) {
			t.Errorf("KnownDomain(%d)", d)
		}
	}
	// Every metric of the first catalogue's namespace order is served (families
	// added since are served too; their help: TestEveryMetricHasHelp).
	for _, n := range namespaceOrder {
		if _, ok := r.ByName(n); !ok {
			t.Errorf("%s: in namespaceOrder but not served", n)
		}
	}
	for _, m := range r.Metrics() {
		if m.Help() == "" && m.OneLine() == "" {
			t.Errorf("%s: no help", m.Name)
		}
	}
}

// ownHelp returns, by metric name, the help each source writes in its own words.
func ownHelp() map[string]helpText {
	out := map[string]helpText{}
	for _, spec := range sourceSpecs {
		if spec.help == nil {
			continue
		}
		for _, d := range spec.metrics {
			if h := spec.help(d); h.oneline != "" {
				out[d.name] = h
			}
		}
	}
	return out
}

// TestOwnHelp: every metric added with our own help has a one-line text and a long
// one that names the kernel file it comes from.
func TestOwnHelp(t *testing.T) {
	own := ownHelp()
	if len(own) < 100 {
		t.Fatalf("only %d metrics with our own help", len(own))
	}
	for name, h := range own {
		if h.help == "" || strings.HasSuffix(h.oneline, ".") || strings.Contains(h.oneline, "\n") {
			t.Errorf("%s: help %q / %q", name, h.oneline, h.help)
		}
		if !namesSource(h.help) {
			t.Errorf("%s: long help does not say where the value comes from: %q", name, h.help)
		}
	}
}

func healthPMIDs(r *Registry) []protocol.PMID {
	var out []protocol.PMID
	for _, m := range r.Metrics() {
		if strings.HasPrefix(m.Name, "pmcd.gopcp.") {
			out = append(out, m.Desc.PMID)
		}
	}
	return out
}
