package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

// run is pminfo: it parses args, connects to pmcd and prints what was asked for, in
// the exact format of PCP 6.0.3's pminfo. It returns the exit status: 0, or 1 after
// a usage error, a failed connection, or a name argument that could not be found.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, status, ok := parseArgs(args, stderr)
	if !ok {
		return status
	}
	// stdout is block-buffered like C stdio's for a file, so error lines (written
	// to stderr at once) come first when both go to the same file, as with the
	// real tool.
	out := bufio.NewWriterSize(stdout, 4096)
	defer out.Flush()
	if cfg.showVersion {
		fmt.Fprintf(stderr, "pminfo version %s\n", version)
		return 0
	}

	source := "local:"
	if cfg.hosts > 0 {
		source = cfg.host
	}
	// libpcp reads the derived-metric configuration as the context is made
	derived := pmapi.LoadDerivedFromEnv(os.Getenv, os.LookupEnv, stderr)
	ctx, err := connect(source, cfg.container, stderr)
	if err != nil {
		if reportSetting(err, stderr) {
			return 1
		}
		var he *pmapi.HostSpecError
		if errors.As(err, &he) {
			fmt.Fprintf(stderr, "pmNewContext: bad host specification\n%s", he.Detail())
		}
		fmt.Fprintf(stderr, "pminfo: Cannot connect to PMCD on host \"%s\": %s\n", source, pmapi.Message(err))
		explainTLS(err, stderr)
		return 1
	}
	defer ctx.Close()
	ctx.UseDerived(derived, stderr)

	p := newPminfo(cfg, ctx, out, stderr)
	exit := 0
	if len(cfg.names) == 0 {
		if err := p.traverse(""); err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", pmapi.Message(err))
			exit = 1
		}
	}
	for _, name := range cfg.names {
		var err error
		if name != "" && name[0] >= '0' && name[0] <= '9' {
			err = p.dodigit(name)
		} else {
			err = p.traverse(name)
		}
		if err != nil {
			fmt.Fprintf(stderr, "Error: %s: %s\n", name, pmapi.Message(err))
			exit = 1
		}
	}
	p.report()
	return exit
}

// pdusizeStart is pminfo's estimate of an empty PMNS_NAMES PDU (5 words).
const pdusizeStart = 5 * 4

// pminfo holds the state of one run: the batch of names waiting for report and the
// caches pminfo keeps (they decide which requests go to pmcd, so they mirror the C
// program's).
type pminfo struct {
	cfg    *config
	ctx    *pmapi.Context
	out    *bufio.Writer
	stderr io.Writer

	batch     []string
	batchsize int
	pdusize   int

	// instance domain caches (icache_*)
	nameInDom  protocol.InDom
	numInst    int // instances, or a negative error code
	insts      []protocol.Instance
	labelInDom protocol.InDom
	nLabelSet  int
	instLabels []protocol.LabelSet

	ctxLabelsDone bool
	ctxLabels     *protocol.LabelSet
	domainLast    int64
	domainLabels  *protocol.LabelSet
	indomLast     protocol.InDom
	indomLabels   *protocol.LabelSet
	clusterLast   protocol.PMID
	clusterLabels *protocol.LabelSet
	itemLast      protocol.PMID
	itemLabels    *protocol.LabelSet
}

func newPminfo(cfg *config, ctx *pmapi.Context, out *bufio.Writer, stderr io.Writer) *pminfo {
	return &pminfo{
		cfg: cfg, ctx: ctx, out: out, stderr: stderr,
		batchsize: cfg.batch, pdusize: pdusizeStart,
		nameInDom: protocol.InDomNull, numInst: -1,
		labelInDom: protocol.InDomNull, nLabelSet: -1,
		domainLast: -1, indomLast: protocol.InDomNull,
		clusterLast: protocol.PMIDNull, itemLast: protocol.PMIDNull,
	}
}

func (p *pminfo) printf(format string, a ...any) { fmt.Fprintf(p.out, format, a...) }

// traverse is pmTraversePMNS(name, dometric): pmcd's names at or below name, then
// the derived names (pmapi appends them).
func (p *pminfo) traverse(name string) error {
	names, err := p.ctx.Traverse(name)
	if err != nil {
		return err
	}
	for _, n := range names {
		p.dometric(n)
	}
	return nil
}

// dometric adds a name to the batch, reporting when the batch is full or the names
// would make too large a PMNS_NAMES request (the limit then stays lowered).
func (p *pminfo) dometric(name string) {
	if name == "" {
		p.printf("PMNS appears to be empty!\n")
		return
	}
	p.batch = append(p.batch, name)
	p.pdusize += 4 + (len(name)+3)&^3
	if p.pdusize > 63*1024 {
		p.batchsize = len(p.batch)
	}
	if len(p.batch) >= p.batchsize {
		p.report()
	}
}

// scanUint is one sscanf %u conversion: optional white space and sign, then digits.
func scanUint(s string) (uint32, string, bool) {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	j := i
	var v uint64
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		if v < 1<<40 {
			v = v*10 + uint64(s[j]-'0')
		}
		j++
	}
	if j == i {
		return 0, s, false
	}
	if v > 0xffffffff {
		v = 0xffffffff
	}
	u := uint32(v)
	if neg {
		u = -u
	}
	return u, s[j:], true
}

// dodigit handles an argument starting with a digit: "D.C.I" is a PMID (reported
// under its first name), "D.S" an instance domain (reported at once).
func (p *pminfo) dodigit(arg string) error {
	a, rest, ok := scanUint(arg)
	if !ok || !strings.HasPrefix(rest, ".") {
		return &protocol.Error{Code: protocol.ErrName}
	}
	b, rest, ok := scanUint(rest[1:])
	if !ok {
		return &protocol.Error{Code: protocol.ErrName}
	}
	if strings.HasPrefix(rest, ".") {
		if c, _, ok := scanUint(rest[1:]); ok {
			return p.dopmid(protocol.NewPMID(a, b, c))
		}
	}
	return p.doindom(protocol.NewInDom(a, b))
}

func (p *pminfo) dopmid(pmid protocol.PMID) error {
	name, err := p.ctx.NameID(pmid)
	if err != nil {
		return err
	}
	return p.traverse(name)
}

func (p *pminfo) doindom(indom protocol.InDom) error {
	if p.cfg.verify {
		return nil
	}
	p.printf("\nInDom: %s", indom)
	if p.cfg.pFullIID {
		p.printf(" = %d =", uint32(indom))
	}
	p.printf(" 0x%x", uint32(indom))
	if p.cfg.pOneline {
		p.oneline(uint32(indom), false)
	}
	p.printf("\n")
	if p.cfg.pLabel {
		p.printLabels("    labels %s\n", p.contextLabels(), p.domainLabelsOf(indom.Domain()), p.indomLabelsOf(indom))
	}
	if p.cfg.pHelp {
		p.helptext(uint32(indom), false)
	}
	return nil
}

// lookup is pmLookupName over the batch. An error is fatal for the batch (every
// name then has PMIDNull).
func (p *pminfo) lookup(names []string) ([]protocol.PMID, error) {
	ids, err := p.ctx.LookupNames(names)
	if err != nil {
		out := make([]protocol.PMID, len(names))
		for i := range out {
			out[i] = protocol.PMIDNull
		}
		return out, err
	}
	return ids, nil
}

// fetch is pmFetch over the batch.
func (p *pminfo) fetch(ids []protocol.PMID) ([]protocol.ValueSet, error) {
	r, err := p.ctx.Fetch(ids)
	if err != nil {
		return nil, err
	}
	if len(r.VSets) != len(ids) {
		return nil, &protocol.Error{Code: protocol.ErrIPC}
	}
	return r.VSets, nil
}

func (p *pminfo) fetchOne(id protocol.PMID) (protocol.ValueSet, error) {
	v, err := p.fetch([]protocol.PMID{id})
	if err != nil {
		return protocol.ValueSet{}, err
	}
	return v[0], nil
}

func (p *pminfo) desc(id protocol.PMID) (protocol.Desc, error) {
	return p.ctx.Desc(id)
}

// text is pmLookupText / pmLookupInDomText.
func (p *pminfo) text(ident uint32, help, isPMID bool) (string, error) {
	kind := protocol.TextOneLine
	if help {
		kind = protocol.TextHelp
	}
	if isPMID {
		return p.ctx.Text(ident, kind|protocol.TextPMID)
	}
	return p.ctx.Text(ident, kind|protocol.TextInDom)
}

func (p *pminfo) oneline(ident uint32, isPMID bool) {
	s, err := p.text(ident, false, isPMID)
	if err != nil {
		p.printf(" One-line Help: Error: %s", pmapi.Message(err))
		return
	}
	if (p.cfg.pFullMid && isPMID) || (p.cfg.pFullIID && !isPMID) {
		p.printf("\n    ")
	} else {
		p.printf(" ")
	}
	p.printf("[%s]", s)
}

func (p *pminfo) helptext(ident uint32, isPMID bool) {
	s, err := p.text(ident, true, isPMID)
	if err != nil {
		p.printf("Full Help: Error: %s\n", pmapi.Message(err))
		return
	}
	s = strings.TrimRight(s, "\n")
	if s == "" {
		p.printf("Help: <empty entry>\n")
		return
	}
	p.printf("Help:\n%s\n", s)
}

// report looks up, fetches and prints the batch of names.
func (p *pminfo) report() {
	names := p.batch
	if len(names) == 0 {
		return
	}
	defer func() {
		p.batch = nil
		p.pdusize = pdusizeStart
	}()
	cfg := p.cfg
	ids := make([]protocol.PMID, len(names))
	if cfg.needPmid {
		var err error
		ids, err = p.lookup(names)
		if err != nil {
			var keepN []string
			var keepI []protocol.PMID
			for i, id := range ids {
				if id == protocol.PMIDNull {
					p.printf("%s: pmLookupName: %s\n", names[i], pmapi.Message(err))
					continue
				}
				keepN, keepI = append(keepN, names[i]), append(keepI, id)
			}
			names, ids = keepN, keepI
		}
	}
	var vsets []protocol.ValueSet
	if (cfg.pValue || cfg.pLabel || cfg.verify) && len(names) > 0 {
		var err error
		if vsets, err = p.fetch(ids); err != nil {
			for _, n := range names {
				p.printf("%s: pmFetch: %s\n", n, pmapi.Message(err))
			}
			return
		}
	}
	for i, name := range names {
		var desc protocol.Desc
		if cfg.pDesc || cfg.pValue || cfg.pLabel || cfg.pSeries || cfg.verify {
			var err error
			if desc, err = p.desc(ids[i]); err != nil {
				p.printf("%s: pmLookupDesc: %s\n", name, pmapi.Message(err))
				continue
			}
		}
		if cfg.pDesc || cfg.pHelp || cfg.pValue || cfg.pLabel {
			p.printf("\n")
		}
		var vs protocol.ValueSet
		if cfg.pValue || cfg.verify {
			vs = vsets[i]
			if cfg.pForce && vs.NumVal == protocol.ErrProfile {
				var ok bool
				if vs, ok = p.fetchAll(name, ids[i], desc.InDom); !ok {
					continue
				}
			}
		}
		if cfg.verify {
			switch {
			case desc.Type == protocol.TypeNoSupport:
				p.printf("%s: Not Supported\n", name)
			case vs.NumVal < 0:
				p.printf("%s: %s\n", name, pmapi.ErrStr(vs.NumVal))
			case vs.NumVal == 0:
				p.printf("%s: No value(s) available\n", name)
			}
			continue
		}
		p.printf("%s", name)
		if cfg.pMid {
			p.printf(" PMID: %s", ids[i])
		}
		if cfg.pFullMid {
			p.printf(" = %d = 0x%x", uint32(ids[i]), uint32(ids[i]))
		}
		if cfg.pOneline {
			p.oneline(uint32(ids[i]), true)
		}
		p.printf("\n")
		if cfg.pDesc {
			p.printDesc(desc)
		}
		if cfg.pSeries {
			p.metricSeries(name, desc)
		}
		if cfg.pLabel {
			p.metricLabels(desc)
		}
		if cfg.pHelp {
			p.helptext(uint32(ids[i]), true)
		}
		if cfg.pValue {
			p.dump(desc, vs)
		}
		if cfg.pSeries {
			p.instanceSeries(desc.InDom)
		}
		if cfg.pLabel {
			p.instanceLabels(desc)
		}
	}
}

// fetchAll is -F for an instance domain the agent will not enumerate: fetch again
// with every instance named in the profile, then restore the profile.
func (p *pminfo) fetchAll(name string, id protocol.PMID, indom protocol.InDom) (protocol.ValueSet, bool) {
	insts, err := p.ctx.InDom(indom)
	switch {
	case err != nil:
		p.printf("%s: pmGetIndom: %s\n", name, pmapi.Message(err))
		return protocol.ValueSet{}, false
	case len(insts) == 0:
		p.printf("%s: pmGetIndom: No instances?\n", name)
		return protocol.ValueSet{}, false
	}
	all := make([]uint32, len(insts))
	for i, in := range insts {
		all[i] = in.ID
	}
	p.ctx.DelProfile(indom, nil)
	p.ctx.AddProfile(indom, all)
	vs, err := p.fetchOne(id)
	if err != nil {
		p.printf("%s: pmFetch: %s\n", name, pmapi.Message(err))
		return protocol.ValueSet{}, false
	}
	p.ctx.DelProfile(indom, nil)
	p.ctx.AddProfile(indom, nil)
	return vs, true
}

func (p *pminfo) printDesc(d protocol.Desc) {
	t := pmapi.TypeDescription(d.Type)
	p.printf("    Data Type: %s", t)
	if t == "???" {
		p.printf(" (%d)", d.Type)
	}
	p.printf("  InDom: %s", d.InDom)
	if p.cfg.pFullIID {
		p.printf(" = %d =", uint32(d.InDom))
	}
	p.printf(" 0x%x\n", uint32(d.InDom))
	s := pmapi.SemString(d.Sem)
	p.printf("    Semantics: %s", s)
	if s == "???" {
		p.printf(" (%d)", d.Sem)
	}
	u := pmapi.UnitsString(d.Units)
	if u == "" {
		u = "none"
	}
	p.printf("  Units: %s\n", u)
}

// dump prints the values of one metric (pminfo's mydump).
func (p *pminfo) dump(d protocol.Desc, vs protocol.ValueSet) {
	if vs.NumVal == 0 {
		p.printf("No value(s) available!\n")
		return
	}
	if vs.NumVal < 0 {
		p.printf("Error: %s\n", pmapi.ErrStr(vs.NumVal))
		return
	}
	insitu := vs.ValFmt == protocol.ValFmtInsitu
	for _, v := range vs.Values {
		if d.InDom != protocol.InDomNull {
			if name, ok := p.instanceName(d.InDom, v.Inst); ok {
				p.printf("    inst [%d or \"%s\"]", int32(v.Inst), name)
			} else if p.cfg.pForce {
				p.printf("    inst [%d \"%s\"]\n", int32(v.Inst), "DISAPPEARED")
				continue
			} else {
				p.printf("pmNameIndom: indom=%s inst=%d: %s\n", d.InDom, int32(v.Inst), pmapi.ErrStr(protocol.ErrInst))
				p.printf("    inst [%d]", int32(v.Inst))
			}
		} else {
			p.printf("   ")
		}
		p.printf(" value %s\n", pmapi.FormatValue(d, v, insitu))
	}
}

// updateNames fills the instance-name cache for indom (icache_update_name).
func (p *pminfo) updateNames(indom protocol.InDom) {
	if indom == p.nameInDom {
		return
	}
	insts, err := p.ctx.InDom(indom)
	if err != nil {
		p.insts, p.numInst = nil, int(protocol.CodeOf(err))
	} else {
		p.insts, p.numInst = insts, len(insts)
	}
	p.nameInDom = indom
}

func (p *pminfo) instanceName(indom protocol.InDom, inst uint32) (string, bool) {
	p.updateNames(indom)
	for _, in := range p.insts {
		if in.ID == inst {
			return in.Name, true
		}
	}
	return "", false
}

// updateInstLabels fills the instance-label cache for indom (icache_update_label).
func (p *pminfo) updateInstLabels(indom protocol.InDom) {
	p.updateNames(indom)
	if indom == p.labelInDom {
		return
	}
	sets, err := p.ctx.InstancesLabels(indom)
	if err != nil {
		p.instLabels, p.nLabelSet = nil, int(protocol.CodeOf(err))
	} else {
		p.instLabels, p.nLabelSet = sets, len(sets)
	}
	p.labelInDom = indom
}

// contextLabels is lookup_context_labels: pmcd's context labels, or when it has
// none a {"hostname":...} set made from the context's host name.
func (p *pminfo) contextLabels() *protocol.LabelSet {
	if p.ctxLabelsDone {
		return p.ctxLabels
	}
	p.ctxLabelsDone = true
	if sets, err := p.ctx.ContextLabels(); err == nil && len(sets) > 0 {
		p.ctxLabels = &sets[0]
		return p.ctxLabels
	}
	host := p.ctx.HostName()
	if s, err := protocol.NewLabelSet(protocol.InNull, `{"hostname":"`+host+`"}`, uint8(protocol.LabelContext)); err == nil {
		p.ctxLabels = &s
	}
	return p.ctxLabels
}

func first(sets []protocol.LabelSet, err error) *protocol.LabelSet {
	if err != nil || len(sets) == 0 {
		return nil
	}
	return &sets[0]
}

func (p *pminfo) domainLabelsOf(domain uint32) *protocol.LabelSet {
	if int64(domain) != p.domainLast {
		p.domainLabels = nil
		if domain != 511 { // derived metrics have no agent
			p.domainLabels = first(p.ctx.DomainLabels(domain))
		}
		p.domainLast = int64(domain)
	}
	return p.domainLabels
}

func (p *pminfo) indomLabelsOf(indom protocol.InDom) *protocol.LabelSet {
	if indom != p.indomLast {
		p.indomLabels = first(p.ctx.InDomLabels(indom))
		p.indomLast = indom
	}
	return p.indomLabels
}

func (p *pminfo) clusterLabelsOf(pmid protocol.PMID) *protocol.LabelSet {
	if pmid.Domain() != p.clusterLast.Domain() || pmid.Cluster() != p.clusterLast.Cluster() {
		p.clusterLabels = nil
		if !isDerived(pmid) {
			p.clusterLabels = first(p.ctx.ClusterLabels(pmid))
		}
		p.clusterLast = pmid
	}
	return p.clusterLabels
}

func (p *pminfo) itemLabelsOf(pmid protocol.PMID) *protocol.LabelSet {
	if pmid != p.itemLast {
		p.itemLabels = nil
		if !isDerived(pmid) {
			p.itemLabels = first(p.ctx.ItemLabels(pmid))
		}
		p.itemLast = pmid
	}
	return p.itemLabels
}

func (p *pminfo) printLabels(format string, sets ...*protocol.LabelSet) {
	if s, ok := pmapi.MergeLabelSets(sets...); ok {
		p.printf(format, s)
	}
}

func (p *pminfo) metricLabels(d protocol.Desc) {
	sets := []*protocol.LabelSet{p.contextLabels(), p.domainLabelsOf(d.PMID.Domain())}
	if d.InDom != protocol.InDomNull {
		sets = append(sets, p.indomLabelsOf(d.InDom))
	}
	sets = append(sets, p.clusterLabelsOf(d.PMID), p.itemLabelsOf(d.PMID))
	p.printLabels("    labels %s\n", sets...)
}

// instanceRows returns how many instance rows -l and -s print for indom: one per
// instance label set, else one per instance.
func (p *pminfo) instanceRows(indom protocol.InDom) int {
	p.updateInstLabels(indom)
	if p.nLabelSet > 0 {
		return p.nLabelSet
	}
	return p.numInst
}

// instanceRow returns the label set (nil if none) and instance id of row j.
func (p *pminfo) instanceRow(j int) (*protocol.LabelSet, uint32) {
	if j < p.nLabelSet {
		return &p.instLabels[j], p.instLabels[j].Inst
	}
	if j < len(p.insts) {
		return nil, p.insts[j].ID
	}
	return nil, protocol.InNull
}

func (p *pminfo) instanceLabels(d protocol.Desc) {
	indom := d.InDom
	if indom == protocol.InDomNull {
		return
	}
	n := p.instanceRows(indom)
	base := []*protocol.LabelSet{p.contextLabels(), p.domainLabelsOf(indom.Domain()),
		p.indomLabelsOf(indom), p.clusterLabelsOf(d.PMID), p.itemLabelsOf(d.PMID)}
	for j := 0; j < n; j++ {
		ls, inst := p.instanceRow(j)
		sets := base
		if ls != nil {
			sets = append(append([]*protocol.LabelSet(nil), base...), ls)
		}
		s, ok := pmapi.MergeLabelSets(sets...)
		if !ok {
			continue
		}
		name, found := p.instanceName(indom, inst)
		if !found {
			name = "DISAPPEARED"
		}
		p.printf("    inst [%d or \"%s\"] labels %s\n", int32(inst), name, s)
	}
}

// intrinsic drops optional labels, as pminfo -s does before hashing.
func intrinsic(sets ...*protocol.LabelSet) (string, bool) {
	var kept []*protocol.LabelSet
	for _, s := range sets {
		if s == nil {
			kept = append(kept, nil)
			continue
		}
		c := *s
		c.Labels = nil
		for _, l := range s.Labels {
			if l.Flags&protocol.LabelOptional == 0 {
				c.Labels = append(c.Labels, l)
			}
		}
		kept = append(kept, &c)
	}
	return pmapi.MergeLabelSets(kept...)
}

func sha1hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func (p *pminfo) metricSeries(name string, d protocol.Desc) {
	if s, ok := intrinsic(p.contextLabels()); ok {
		p.printf("    Source: %s\n", sha1hex(`{"series":"source","labels":`+s+`}`))
	}
	s, ok := intrinsic(p.contextLabels(), p.domainLabelsOf(d.PMID.Domain()), p.indomLabelsOf(d.InDom),
		p.clusterLabelsOf(d.PMID), p.itemLabelsOf(d.PMID))
	if ok {
		p.printf("    Series: %s\n", sha1hex(fmt.Sprintf(
			`{"series":"metric","name":"%s","labels":%s,"semantics":"%s","type":"%s","units":"%s"}`,
			name, s, pmapi.SemString(d.Sem), pmapi.TypeString(d.Type), pmapi.UnitsString(d.Units))))
	}
}

func (p *pminfo) instanceSeries(indom protocol.InDom) {
	if indom == protocol.InDomNull {
		return
	}
	base := []*protocol.LabelSet{p.contextLabels(), p.domainLabelsOf(indom.Domain()), p.indomLabelsOf(indom)}
	n := p.instanceRows(indom)
	for j := 0; j < n; j++ {
		ls, inst := p.instanceRow(j)
		sets := base
		if ls != nil {
			sets = append(append([]*protocol.LabelSet(nil), base...), ls)
		}
		s, ok := pmapi.MergeLabelSets(sets...)
		if !ok {
			continue
		}
		name, found := p.instanceName(indom, inst)
		hashName := name
		if !found {
			name, hashName = "DISAPPEARED", "???"
		}
		p.printf("    inst [%d or \"%s\"] series %s\n", int32(inst), name,
			sha1hex(`{"series":"instance","name":"`+hashName+`","labels":`+s+`}`))
	}
}
