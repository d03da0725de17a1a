package httpapi

import (
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

// pcpError answers a PCP error about the request (400), or the collector failure
// when err is one.
func (q *request) pcpError(err error, format func(msg string) string) *apiError {
	if e := q.sess.check(err); e != nil {
		return e
	}
	return &apiError{status: http.StatusBadRequest, msg: format(pmapi.Message(err))}
}

// context: {"context":N,"source":"<sha1>","hostspec":"<host>","labels":{...}}.
func (q *request) context() *apiError {
	if e := q.openContext(); e != nil {
		return e
	}
	s := q.sess
	cl, err := s.contextLabels()
	if e := s.check(err); e != nil {
		return e
	}
	host := s.hostName()
	if s.err != nil {
		return s.failure()
	}
	var labels string
	if cl != nil {
		labels = labelsJSON(mergeLabels(true, cl))
	} else {
		// pmproxy's default when a collector has no context labels.
		labels = `{"hostname":` + string(appendJSONString(nil, host)) + `}`
	}
	b := q.appendHead(make([]byte, 0, 256))
	b = append(b, `,"source":"`...)
	b = append(b, sourceHash(labels)...)
	b = append(b, `","hostspec":`...)
	b = appendJSONString(b, host)
	b = append(b, `,"labels":`...)
	b = append(b, labels...)
	b = append(b, "}\r\n"...)
	q.writeJSON(b)
	return nil
}

// leaf is one metric name to describe, or a name that failed.
type leaf struct {
	name string
	fail string // message for a name that could not be described
}

// metric: {"context":N,"metrics":[{"name","series","pmid","indom","type","sem",
// "units","labels","text-oneline","text-help"},...]}. Parameters prefix, names
// or name (comma separated, subtrees expanded); none lists everything. pmids/pmid
// (an extension: pmproxy 6.0.3 ignores them) describe metrics by PMID.
func (q *request) metric() *apiError {
	names := q.list("prefix", "names", "name")
	pmidArgs := q.list("pmids", "pmid")
	if e := q.openContext(); e != nil {
		return e
	}
	s := q.sess
	var leaves []leaf
	var lastFail string
	traversed := 0
	if len(names) == 0 && len(pmidArgs) == 0 {
		names = []string{""}
	}
	for _, n := range names {
		got, err := s.traverse(n)
		if err != nil {
			if e := s.check(err); e != nil {
				return e
			}
			lastFail = n + " traversal failed - " + pmapi.Message(err)
			leaves = append(leaves, leaf{name: n, fail: pmapi.Message(err)})
			continue
		}
		traversed++
		for _, g := range got {
			leaves = append(leaves, leaf{name: g})
		}
	}
	for _, a := range pmidArgs {
		id, ok := parsePMID(a)
		if !ok {
			lastFail = "failed to parse PMID " + a
			leaves = append(leaves, leaf{name: a, fail: "failed to parse PMID"})
			continue
		}
		ns, err := s.namesOf(id)
		if e := s.check(err); e != nil {
			return e
		}
		if len(ns) == 0 {
			lastFail = a + " - " + pmapi.ErrStr(protocol.ErrPMID)
			leaves = append(leaves, leaf{name: a, fail: pmapi.ErrStr(protocol.ErrPMID)})
			continue
		}
		traversed++
		leaves = append(leaves, leaf{name: ns[0]})
	}
	if traversed == 0 && lastFail != "" {
		return &apiError{status: http.StatusBadRequest, msg: lastFail}
	}

	var lookupNames []string
	for _, l := range leaves {
		if l.fail == "" {
			lookupNames = append(lookupNames, l.name)
		}
	}
	var ids []protocol.PMID
	var descs []protocol.Desc
	if len(lookupNames) > 0 {
		var err error
		if ids, err = s.lookup(lookupNames); err != nil {
			return q.pcpError(err, func(m string) string { return "failed to lookup names - " + m })
		}
		if descs, err = s.descs(ids); err != nil {
			return q.pcpError(err, func(m string) string { return "failed to lookup descriptors - " + m })
		}
	}

	b := q.appendHead(make([]byte, 0, 512*len(leaves)+64))
	b = append(b, `,"metrics":[`...)
	k := 0
	for i, l := range leaves {
		if i > 0 {
			b = append(b, ',')
		}
		if l.fail != "" {
			b = appendFailure(b, l.name, l.fail)
			continue
		}
		d := descs[k]
		k++
		if d.PMID == protocol.PMIDNull {
			b = appendFailure(b, l.name, "failed to lookup metric name")
			continue
		}
		var err error
		if b, err = q.appendMetric(b, l.name, d); err != nil {
			if e := s.check(err); e != nil {
				return e
			}
			return q.pcpError(err, func(m string) string { return l.name + " - " + m })
		}
	}
	b = append(b, "]}\r\n"...)
	q.writeJSON(b)
	return nil
}

func appendFailure(b []byte, name, msg string) []byte {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, name)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	return append(b, `,"success":false}`...)
}

// appendMetric appends one metric's description.
func (q *request) appendMetric(b []byte, name string, d protocol.Desc) ([]byte, error) {
	s := q.sess
	sets, err := s.metricLabelSets(d, true)
	if err != nil {
		return b, err
	}
	labels := labelsJSON(mergeLabels(true, sets...))
	oneline, hasOne, err := s.text(uint32(d.PMID), protocol.TextOneLine|protocol.TextPMID)
	if err != nil {
		return b, err
	}
	help, hasHelp, err := s.text(uint32(d.PMID), protocol.TextHelp|protocol.TextPMID)
	if err != nil {
		return b, err
	}
	b = append(b, `{"name":`...)
	b = appendJSONString(b, name)
	b = append(b, `,"series":"`...)
	b = append(b, seriesHash(name, labels, d)...)
	b = append(b, `","pmid":"`...)
	b = append(b, d.PMID.String()...)
	b = append(b, '"')
	if d.InDom != protocol.InDomNull {
		b = append(b, `,"indom":"`...)
		b = append(b, d.InDom.String()...)
		b = append(b, '"')
	}
	b = append(b, `,"type":"`...)
	b = append(b, typeName(d.Type)...)
	b = append(b, `","sem":"`...)
	b = append(b, pmapi.SemString(d.Sem)...)
	b = append(b, `","units":"`...)
	b = append(b, unitsName(d.Units)...)
	b = append(b, `","labels":`...)
	b = append(b, labels...)
	if hasOne {
		b = append(b, `,"text-oneline":`...)
		b = appendJSONString(b, oneline)
	}
	if hasHelp && help != "" {
		b = append(b, `,"text-help":`...)
		b = appendJSONString(b, help)
	} else if hasOne {
		b = append(b, `,"text-help":`...)
		b = appendJSONString(b, oneline)
	}
	return append(b, '}'), nil
}

// parsePMID reads "D.C.I" or a decimal PMID.
func parsePMID(s string) (protocol.PMID, bool) {
	if parts := strings.Split(s, "."); len(parts) == 3 {
		d, e1 := strconv.ParseUint(parts[0], 10, 9)
		c, e2 := strconv.ParseUint(parts[1], 10, 12)
		i, e3 := strconv.ParseUint(parts[2], 10, 10)
		if e1 != nil || e2 != nil || e3 != nil {
			return 0, false
		}
		return protocol.NewPMID(uint32(d), uint32(c), uint32(i)), true
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return protocol.PMID(n), err == nil && protocol.PMID(n) != protocol.PMIDNull
}

// parseInDom reads "D.S" or a decimal InDom.
func parseInDom(s string) (protocol.InDom, bool) {
	if parts := strings.Split(s, "."); len(parts) == 2 {
		d, e1 := strconv.ParseUint(parts[0], 10, 9)
		n, e2 := strconv.ParseUint(parts[1], 10, 22)
		if e1 != nil || e2 != nil {
			return 0, false
		}
		return protocol.NewInDom(uint32(d), uint32(n)), true
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return protocol.InDom(n), err == nil && protocol.InDom(n) != protocol.InDomNull
}

// fetchPlan is what a fetch of names needs from the collector's metadata,
// kept by the context for its next fetch of the same names (a dashboard polls
// one list): the metrics that exist, in request order, their descriptors and
// the start of each one's JSON. It is good while the metadata cache it came
// from has not been reset (meta.gen): the TTL, a state change or a broken
// connection reset it, so a collector that restarted with another namespace
// is asked again before its answers are read with old PMIDs or types.
type fetchPlan struct {
	names string // the names parameter, as given
	gen   uint64
	pmids []protocol.PMID
	descs []protocol.Desc
	heads []string // {"pmid":"D.C.I","name":"...","instances":[

	// The fetch PDU for pmids (pmapi's AppendFetch), made at the first fetch,
	// and noRaw once FetchRaw would not send it (derived metrics among pmids,
	// or a reconnection changed the fetch's kind): then Fetch is used.
	req   []byte
	noRaw bool
}

// fetch: {"context":N,"timestamp":S.N,"values":[{"pmid","name","instances":
// [{"instance":N|null,"value":V},...]},...]}. Unknown names are left out.
func (q *request) fetch() *apiError {
	rawNames := q.params.Get("names")
	if rawNames == "" {
		rawNames = q.params.Get("name")
	}
	// The names are split only to make a plan: a poll with the plan's names
	// needs only to know there are some.
	hasNames := hasListItem(rawNames)
	var pmidArgs []string
	if !hasNames {
		pmidArgs = q.list("pmids", "pmid")
	}
	if !hasNames && len(pmidArgs) == 0 {
		return &apiError{status: http.StatusBadRequest, msg: "bad parameters passed: give names, name, pmids or pmid"}
	}
	if e := q.openContext(); e != nil {
		return e
	}
	s := q.sess
	// Requests of one context take turns (session), so its plan needs no lock
	// of its own. A context with derived metrics of its own bypasses the
	// metadata cache, and so the plan.
	usePlan := hasNames && !s.private
	var gen uint64
	plan := q.wc.plan
	if usePlan {
		gen = s.col.meta.generation()
	}
	if !usePlan || plan == nil || plan.names != rawNames || plan.gen != gen {
		var names []string
		if hasNames {
			names = splitList(rawNames)
		}
		var e *apiError
		if plan, e = q.makeFetchPlan(names, pmidArgs); e != nil {
			return e
		}
		if usePlan {
			plan.names, plan.gen = rawNames, gen
			q.wc.plan = plan
		}
	}
	// The context's buffer from its last fetch (requests of a context take
	// turns); the writer copies what it is given.
	b := q.wc.buf[:0]
	if b == nil {
		b = make([]byte, 0, 128+64*len(plan.descs))
	}
	b = q.appendHead(b)
	if len(plan.pmids) > 0 && len(plan.pmids) <= FetchBatch && !plan.noRaw {
		// One fetch, its reply read in place into the JSON (appendRawResult):
		// no decoded *protocol.Result.
		pc := s.cn.pc
		if plan.req == nil {
			plan.req = pc.AppendFetch(nil, plan.pmids)
		}
		ok, err := pc.FetchRaw(plan.req, func(p []byte) error {
			var rerr error
			b, rerr = appendRawResult(b, p, plan)
			return rerr
		})
		if err != nil {
			return q.pcpError(err, func(m string) string { return "fetch failed - " + m })
		}
		if ok {
			return q.finishFetch(b)
		}
		plan.noRaw = true
	}
	first := true
	for start := 0; start < len(plan.pmids) || first; start += FetchBatch {
		end := min(start+FetchBatch, len(plan.pmids))
		batch := plan.pmids[start:end]
		var res *protocol.Result
		if len(batch) > 0 {
			var err error
			if res, err = s.cn.pc.Fetch(batch); err != nil {
				return q.pcpError(err, func(m string) string { return "fetch failed - " + m })
			}
		}
		if first {
			if res != nil {
				b = appendTimestamp(b, res.Sec, res.Nsec)
			} else {
				now := time.Now()
				b = appendTimestamp(b, now.Unix(), int64(now.Nanosecond()))
			}
		}
		if res == nil {
			break
		}
		b = appendValueSets(b, res.VSets, plan, start, len(batch), first)
		first = false
	}
	return q.finishFetch(b)
}

// appendTimestamp appends `,"timestamp":S.N,"values":[`.
func appendTimestamp(b []byte, sec, nsec int64) []byte {
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	b = appendNsec(b, nsec)
	return append(b, `,"values":[`...)
}

// appendValueSets appends the JSON of a decoded fetch reply's value sets, the
// plan's metrics from start on, at most n of them; first says whether they
// open the values array (no comma before the first).
func appendValueSets(b []byte, vsets []protocol.ValueSet, plan *fetchPlan, start, n int, first bool) []byte {
	for k, vs := range vsets {
		if k >= n {
			break
		}
		if !first || k > 0 {
			b = append(b, ',')
		}
		d := &plan.descs[start+k]
		b = append(b, plan.heads[start+k]...)
		insitu := vs.ValFmt == protocol.ValFmtInsitu
		for j := range vs.Values {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendInstance(b, d, vs.Values[j].Inst, decodeValue(d.Type, &vs.Values[j], insitu))
		}
		b = append(b, "]}"...)
	}
	return b
}

// finishFetch closes the fetch's JSON, writes it and keeps the buffer for
// the context's next fetch.
func (q *request) finishFetch(b []byte) *apiError {
	b = append(b, "]}\r\n"...)
	q.writeJSON(b)
	if cap(b) <= maxKeptFetchBuf {
		q.wc.buf = b[:0]
	}
	return nil
}

// hasListItem reports whether splitList(v) has an element: v holds a byte
// that is neither a comma nor space strings.TrimSpace trims.
func hasListItem(v string) bool {
	for _, r := range v {
		if r != ',' && !unicode.IsSpace(r) {
			return true
		}
	}
	return false
}

// maxKeptFetchBuf is the largest fetch response buffer a context keeps.
const maxKeptFetchBuf = 16 << 10

// makeFetchPlan looks up names (or, with none, the PMIDs pmidArgs) and
// their descriptors.
func (q *request) makeFetchPlan(names, pmidArgs []string) (*fetchPlan, *apiError) {
	s := q.sess
	var ids []protocol.PMID
	if len(names) > 0 {
		var err error
		if ids, err = s.lookup(names); err != nil {
			return nil, q.pcpError(err, func(m string) string { return "failed to lookup names - " + m })
		}
	} else {
		for _, a := range pmidArgs {
			id, ok := parsePMID(a)
			if !ok {
				continue
			}
			ns, err := s.namesOf(id)
			if e := s.check(err); e != nil {
				return nil, e
			}
			if len(ns) == 0 {
				continue
			}
			names = append(names, ns[0])
			ids = append(ids, id)
		}
	}
	descs, err := s.descs(ids)
	if err != nil {
		return nil, q.pcpError(err, func(m string) string { return "failed to lookup descriptors - " + m })
	}
	// Keep the metrics that exist, in request order.
	p := &fetchPlan{}
	for i, d := range descs {
		if d.PMID == protocol.PMIDNull {
			continue
		}
		h := append([]byte(`{"pmid":"`), d.PMID.String()...)
		h = append(h, `","name":`...)
		h = appendJSONString(h, names[i])
		h = append(h, `,"instances":[`...)
		p.pmids = append(p.pmids, d.PMID)
		p.descs = append(p.descs, d)
		p.heads = append(p.heads, string(h))
	}
	return p, nil
}

// appendNsec appends nanoseconds as nine digits (pmproxy prints them unpadded,
// which misstates timestamps whose nanoseconds have fewer digits).
func appendNsec(b []byte, ns int64) []byte {
	var d [9]byte
	for i := 8; i >= 0; i-- {
		d[i] = byte('0' + ns%10)
		ns /= 10
	}
	return append(b, d[:]...)
}

// indom: {"context":N,"indom":"D.S","labels":{...},"text-oneline","text-help",
// "instances":[{"instance":N,"name":"...","labels":{...}},...]}. Parameters indom
// or name (a metric), and to select instances: instance (ids) or iname (names,
// matched per match=exact|glob|regex).
func (q *request) indom() *apiError {
	match := q.params.Get("match")
	switch match {
	case "", "exact", "glob", "regex":
	default:
		return &apiError{status: http.StatusBadRequest, msg: match + " - invalid 'match' parameter value"}
	}
	metricName := q.params.Get("name")
	indomArg := q.params.Get("indom")
	var inames []string
	var regs []*regexp.Regexp
	if v := q.params.Get("iname"); v != "" {
		inames = strings.Split(v, ",")
		if match == "regex" {
			for _, n := range inames {
				re, err := regexp.Compile(n)
				if err != nil {
					return &apiError{status: http.StatusBadRequest, msg: n + " - invalid regular expression"}
				}
				regs = append(regs, re)
			}
		}
	}
	var instIDs []uint64
	if v := q.params.Get("instance"); v != "" && inames == nil {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 32)
			if err != nil {
				return &apiError{status: http.StatusBadRequest, msg: f + " - invalid instance identifier"}
			}
			instIDs = append(instIDs, n)
		}
	}
	if metricName == "" && indomArg == "" {
		return &apiError{status: http.StatusBadRequest, msg: "bad indom parameters: give indom or name"}
	}
	if e := q.openContext(); e != nil {
		return e
	}
	s := q.sess
	var indom protocol.InDom
	if metricName != "" {
		ids, err := s.lookup([]string{metricName})
		if err != nil {
			return q.pcpError(err, func(m string) string { return metricName + " - failed to lookup metric" })
		}
		ds, err := s.descs(ids)
		if err != nil {
			return q.pcpError(err, func(m string) string { return metricName + " - failed to lookup metric" })
		}
		if ds[0].PMID == protocol.PMIDNull {
			return &apiError{status: http.StatusBadRequest, msg: metricName + " - failed to lookup metric"}
		}
		if ds[0].InDom == protocol.InDomNull {
			return &apiError{status: http.StatusBadRequest, msg: metricName + " - metric has null indom"}
		}
		indom = ds[0].InDom
	} else {
		var ok bool
		if indom, ok = parseInDom(indomArg); !ok {
			return &apiError{status: http.StatusBadRequest, msg: "failed to lookup indom " + indomArg}
		}
	}
	ctxLabels, err := s.contextLabels()
	if e := s.check(err); e != nil {
		return e
	}
	indomLabels, err := s.labelSet(uint32(indom), protocol.LabelInDom)
	if e := s.check(err); e != nil {
		return e
	}
	oneline, hasOne, err := s.text(uint32(indom), protocol.TextOneLine|protocol.TextInDom)
	if e := s.check(err); e != nil {
		return e
	}
	help, hasHelp, err := s.text(uint32(indom), protocol.TextHelp|protocol.TextInDom)
	if e := s.check(err); e != nil {
		return e
	}
	is, err := s.instances(indom, true)
	if e := s.check(err); e != nil {
		return e
	}

	b := q.appendHead(make([]byte, 0, 256+160*len(is.list)))
	b = append(b, `,"indom":"`...)
	b = append(b, indom.String()...)
	b = append(b, `","labels":`...)
	b = append(b, labelsJSON(mergeLabels(true, ctxLabels, indomLabels))...)
	if hasOne {
		b = append(b, `,"text-oneline":`...)
		b = appendJSONString(b, oneline)
	}
	if hasHelp && help != "" {
		b = append(b, `,"text-help":`...)
		b = appendJSONString(b, help)
	} else if hasOne {
		b = append(b, `,"text-help":`...)
		b = appendJSONString(b, oneline)
	}
	b = append(b, `,"instances":[`...)
	n := 0
	for _, in := range is.list {
		if !selected(in, inames, match, regs, instIDs) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"instance":`...)
		b = appendUint(b, uint64(in.ID))
		b = append(b, `,"name":`...)
		b = appendJSONString(b, in.Name)
		b = append(b, `,"labels":`...)
		b = append(b, labelsJSON(mergeLabels(true, ctxLabels, indomLabels, is.labels[in.ID]))...)
		b = append(b, '}')
	}
	b = append(b, "]}\r\n"...)
	q.writeJSON(b)
	return nil
}

// selected applies the indom endpoint's instance filters.
func selected(in protocol.Instance, inames []string, match string, regs []*regexp.Regexp, ids []uint64) bool {
	if inames != nil {
		for i, n := range inames {
			switch match {
			case "glob":
				if ok, _ := path.Match(n, in.Name); ok {
					return true
				}
			case "regex":
				if regs[i].MatchString(in.Name) {
					return true
				}
			default:
				if n == in.Name {
					return true
				}
			}
		}
		return false
	}
	if ids != nil {
		for _, id := range ids {
			if uint64(in.ID) == id {
				return true
			}
		}
		return false
	}
	return true
}

// children: {"context":N,"name":"prefix","leaf":[...],"nonleaf":[...]}.
func (q *request) children() *apiError {
	prefix := q.params.Get("prefix")
	if prefix == "" {
		prefix = q.params.Get("name")
	}
	if e := q.openContext(); e != nil {
		return e
	}
	names, nonleaf, err := q.sess.cn.pc.Children(prefix)
	// Derived names follow the collector's, as libpcp adds them to
	// pmGetChildrenStatus; a prefix may exist only among them.
	dnames, dnonleaf := q.sess.cn.pc.DerivedChildren(prefix)
	if err != nil && (len(dnames) == 0 || transport(err)) {
		return q.pcpError(err, func(m string) string { return "child traversal failed - " + m })
	}
	for i, n := range dnames {
		if k := slices.Index(names, n); k >= 0 {
			nonleaf[k] = nonleaf[k] || dnonleaf[i]
			continue
		}
		names, nonleaf = append(names, n), append(nonleaf, dnonleaf[i])
	}
	b := q.appendHead(make([]byte, 0, 128+16*len(names)))
	b = append(b, `,"name":`...)
	b = appendJSONString(b, prefix)
	for _, want := range []bool{false, true} {
		if want {
			b = append(b, `],"nonleaf":[`...)
		} else {
			b = append(b, `,"leaf":[`...)
		}
		n := 0
		for i, name := range names {
			if nonleaf[i] != want {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendJSONString(b, name)
		}
	}
	b = append(b, "]}\r\n"...)
	q.writeJSON(b)
	return nil
}
