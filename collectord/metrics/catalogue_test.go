package metrics

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
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

// TestReferencePminfo compares the catalogue with `pminfo -dmtT` output of the real
// pmcd 6.0.3 (testdata/reference/pminfo-dmtTf.txt): the header line with PMID and
// one-line help, the descriptor lines, and the long help as pminfo prints it
// (trailing newlines dropped; the one-line text when the long help is empty).
func TestReferencePminfo(t *testing.T) {
	b, err := os.ReadFile("testdata/reference/pminfo-dmtTf.txt")
	if err != nil {
		t.Fatal(err)
	}
	r := newFixtureRegistry(t, fixtureDir)
	checked := 0
	all := strings.Split(string(b), "\n")
	for h := range all {
		if h+3 >= len(all) || !strings.Contains(all[h], " PMID: ") || !strings.HasPrefix(all[h+1], "    Data Type: ") {
			continue
		}
		lines := all[h:]
		name := lines[0][:strings.Index(lines[0], " PMID: ")]
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
			fmt.Sprintf("%s PMID: %v [%s]", m.Name, d.PMID, m.OneLine),
			fmt.Sprintf("    Data Type: %s  InDom: %s", typeNames[d.Type], indom),
			fmt.Sprintf("    Semantics: %s  Units: %s", semNames[d.Sem], unitsString(d.Units)),
			"Help:",
		}
		for k, w := range want {
			if lines[k] != w {
				t.Errorf("%s line %d:\n got: %s\nwant: %s", name, k+1, w, lines[k])
			}
		}
		// The help runs up to the value lines ("    value", "    inst [", or a
		// no-values/error line).
		var help []string
		for _, l := range lines[4:] {
			if strings.HasPrefix(l, "    value ") || strings.HasPrefix(l, "    inst [") ||
				l == "No value(s) available!" || strings.HasPrefix(l, "Error: ") {
				break
			}
			help = append(help, l)
		}
		shown := strings.TrimRight(m.Help, "\n")
		if shown == "" {
			shown = m.OneLine
		}
		if got := strings.Join(help, "\n"); got != shown {
			t.Errorf("%s help:\n got: %q\nwant: %q", name, shown, got)
		}
		checked++
	}
	if checked < 100 {
		t.Errorf("only %d metrics found in the reference", checked)
	}
}

// TestHelpMatchesInstalledPCP compares every help text, byte for byte, with the help
// databases of an installed PCP (skipped where PCP is not installed).
func TestHelpMatchesInstalledPCP(t *testing.T) {
	dir := "/var/lib/pcp/pmdas"
	if _, err := os.Stat(filepath.Join(dir, "linux/help.dir")); err != nil {
		t.Skip("PCP is not installed here")
	}
	pmids, indoms := map[uint32][2]string{}, map[uint32][2]string{}
	for _, agent := range []string{"pmcd", "linux", "proc"} {
		loadHelpDB(t, filepath.Join(dir, agent, "help"), pmids, indoms)
	}
	r := newFixtureRegistry(t, fixtureDir)
	own := ownHelp()
	nOwn := 0
	for _, m := range r.Metrics() {
		if strings.HasPrefix(m.Name, "pmcd.gopcp.") {
			continue // ours: PCP has no such metric
		}
		h, ok := pmids[uint32(m.Desc.PMID)]
		if oh, isOwn := own[m.Name]; isOwn {
			// Help in our own words: served as written, and never PCP's text.
			nOwn++
			if m.OneLine != oh.oneline || m.Help != oh.help {
				t.Errorf("%s: serves other help than its source's own", m.Name)
			}
			if ok && (h[0] == m.OneLine || (h[1] != "" && h[1] == m.Help)) {
				t.Errorf("%s: own help text is PCP's", m.Name)
			}
			continue
		}
		if !ok || h[0] != m.OneLine || h[1] != m.Help {
			t.Errorf("%s: help differs from PCP's", m.Name)
		}
	}
	t.Logf("%d metrics with PCP's help, %d with our own", len(r.Metrics())-nOwn, nOwn)
	for _, in := range r.InDoms() {
		if in == indomSources {
			continue
		}
		one, ok1 := r.InDomText(in, false)
		long, ok2 := r.InDomText(in, true)
		h, ok := indoms[uint32(in)]
		if ownInDomHelp[in] {
			// Added with our own words: served, and never PCP's text.
			if !ok1 || !ok2 || one == "" || (ok && (h[0] == one || h[1] == long)) {
				t.Errorf("indom %v: own help missing or PCP's", in)
			}
			continue
		}
		if !ok || !ok1 || !ok2 || h[0] != one || h[1] != long {
			t.Errorf("indom %v: help differs from PCP's", in)
		}
	}
}

func loadHelpDB(t *testing.T, base string, pmids, indoms map[uint32][2]string) {
	t.Helper()
	dir, err := os.ReadFile(base + ".dir")
	if err != nil {
		t.Fatal(err)
	}
	pag, err := os.ReadFile(base + ".pag")
	if err != nil {
		t.Fatal(err)
	}
	str := func(off uint32) string {
		end := bytes.IndexByte(pag[off:], 0)
		return string(pag[off : int(off)+end])
	}
	n := int(binary.LittleEndian.Uint32(dir[8:]))
	for i := 0; i < n; i++ {
		e := dir[12+12*i:]
		id := binary.LittleEndian.Uint32(e)
		h := [2]string{str(binary.LittleEndian.Uint32(e[4:])), str(binary.LittleEndian.Uint32(e[8:]))}
		if id&0x80000000 != 0 {
			indoms[id&^0x80000000] = h
		} else {
			pmids[id] = h
		}
	}
}

// TestInDomText checks the instance domain help the catalogue serves.
func TestInDomText(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	if s, ok := r.InDomText(indomLoad, false); !ok || s != "load averages for 1, 5, and 15 minutes" {
		t.Errorf("60.2 one-line: %q %v", s, ok)
	}
	if s, ok := r.InDomText(indomLoad, true); !ok || s != "" {
		t.Errorf("60.2 help: %q %v (the linux agent has none)", s, ok)
	}
	if s, ok := r.InDomText(indomClients, true); !ok || !strings.HasPrefix(s, "One instance per identified") {
		t.Errorf("2.6 help: %q %v", s, ok)
	}
	for _, in := range []protocol.InDom{protocol.NewInDom(60, 4), protocol.InDomNull, protocol.NewInDom(5, 0)} {
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
		if m.OneLine == "" {
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
	// Every metric of the generated order is served (families added since are
	// served too, each with help of its own: TestHelpMatchesInstalledPCP).
	for _, n := range namespaceOrder {
		if _, ok := r.ByName(n); !ok {
			t.Errorf("%s: in the generated namespace order but not served", n)
		}
	}
	for _, m := range r.Metrics() {
		if m.Help == "" && m.OneLine == "" {
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
		if !strings.Contains(h.help, "/proc/") && !strings.Contains(h.help, "utmp") {
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
