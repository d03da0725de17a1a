package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

// ContentTypeMetrics is the /metrics content type: the Prometheus text format
// 0.0.4, which the "# PCP5" lines (plain comments to Prometheus) do not disturb.
const ContentTypeMetrics = "text/plain; version=0.0.4; charset=utf-8"

// promKey names one series' rendered labels in the cache.
type promKey struct {
	pmid protocol.PMID
	inst uint32
}

// scrape: /metrics and /pmapi/metrics. Every numeric metric below the names (or
// prefix, target; all by default) of the chosen collector, as pmproxy writes it:
//
//	# PCP5 kernel.all.load 60.2.0 float 60.2 instant none
//	# HELP kernel_all_load run queue length averaged over 1, 5 and 15 minutes
//	# TYPE kernel_all_load gauge
//	kernel_all_load{domainname="localdomain",hostname="vm",instid="1",instname="1 minute",...} 0.059999999
//
// Names have '.' replaced by '_', counters are counters and everything else a
// gauge, labels are the metric's (context, instance domain, cluster, item and
// instance; not the agent's, as pmproxy leaves them out) plus instname and instid.
// Metrics without values are left out (absent is not zero); times=true adds each
// sample's timestamp in milliseconds.
func (q *request) scrape() *apiError {
	names := q.list("names", "name", "prefix", "target")
	times := q.params.Get("times") == "true"
	if e := q.openContext(); e != nil {
		return e
	}
	s := q.sess
	if len(names) == 0 {
		names = []string{""}
	}
	var leaves []string
	var lastFail string
	ok := 0
	for _, n := range names {
		got, err := s.traverse(n)
		if err != nil {
			if e := s.check(err); e != nil {
				return e
			}
			lastFail = "'" + n + "' - " + pmapi.Message(err)
			continue
		}
		ok++
		leaves = append(leaves, got...)
	}
	if ok == 0 {
		return &apiError{status: http.StatusBadRequest, msg: lastFail}
	}
	var descs []protocol.Desc
	var mnames []string
	if len(leaves) > 0 {
		ids, err := s.lookup(leaves)
		if err != nil {
			return q.pcpError(err, func(m string) string { return "failed to lookup names - " + m })
		}
		all, err := s.descs(ids)
		if err != nil {
			return q.pcpError(err, func(m string) string { return "failed to lookup descriptors - " + m })
		}
		for i, d := range all {
			if d.PMID != protocol.PMIDNull && numericType(d.Type) {
				descs = append(descs, d)
				mnames = append(mnames, leaves[i])
			}
		}
	}

	w := &promWriter{s: s, seen: make(map[string]bool, len(descs)), times: times}
	w.b = make([]byte, 0, 256*len(descs)+1024)
	for start := 0; start < len(descs); start += FetchBatch {
		end := min(start+FetchBatch, len(descs))
		batch := make([]protocol.PMID, 0, end-start)
		for _, d := range descs[start:end] {
			batch = append(batch, d.PMID)
		}
		res, err := s.cn.pc.Fetch(batch)
		if err != nil {
			return q.pcpError(err, func(m string) string { return "fetch failed - " + m })
		}
		w.stamp = res.Sec*1000 + res.Nsec/1e6
		for k := range res.VSets {
			if k >= len(batch) {
				break
			}
			if err := w.metric(mnames[start+k], descs[start+k], &res.VSets[k]); err != nil {
				if e := s.check(err); e != nil {
					return e
				}
				return q.pcpError(err, func(m string) string { return mnames[start+k] + " - " + m })
			}
		}
	}
	writeBody(q.w, q.r, http.StatusOK, ContentTypeMetrics, w.b)
	return nil
}

// promWriter accumulates the /metrics text.
type promWriter struct {
	s     *session
	b     []byte
	seen  map[string]bool // metric names written (a second family of a name would not parse)
	times bool
	stamp int64 // milliseconds
}

// metric writes one metric's header and samples.
func (w *promWriter) metric(name string, d protocol.Desc, vs *protocol.ValueSet) error {
	if vs.NumVal <= 0 || len(vs.Values) == 0 {
		return nil
	}
	pname := strings.ReplaceAll(name, ".", "_")
	if w.seen[pname] {
		return nil
	}
	w.seen[pname] = true
	s := w.s
	oneline, hasOne, err := s.text(uint32(d.PMID), protocol.TextOneLine|protocol.TextPMID)
	if err != nil {
		return err
	}
	var is *instSet
	if d.InDom != protocol.InDomNull {
		if is, err = s.instances(d.InDom, false); err != nil {
			return err
		}
		for _, v := range vs.Values {
			if _, known := is.names[v.Inst]; !known {
				if is, err = s.instances(d.InDom, true); err != nil {
					return err
				}
				break
			}
		}
	}

	b := w.b
	b = append(b, "# PCP5 "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, d.PMID.String()...)
	b = append(b, ' ')
	b = append(b, typeName(d.Type)...)
	b = append(b, ' ')
	b = append(b, d.InDom.String()...)
	b = append(b, ' ')
	b = append(b, pmapi.SemString(d.Sem)...)
	b = append(b, ' ')
	b = append(b, unitsName(d.Units)...)
	b = append(b, '\n')
	if hasOne {
		b = append(b, "# HELP "...)
		b = append(b, pname...)
		b = append(b, ' ')
		b = appendHelp(b, oneline)
		b = append(b, '\n')
	}
	b = append(b, "# TYPE "...)
	b = append(b, pname...)
	if d.Sem == protocol.SemCounter {
		b = append(b, " counter\n"...)
	} else {
		b = append(b, " gauge\n"...)
	}
	insitu := vs.ValFmt == protocol.ValFmtInsitu
	for i := range vs.Values {
		v := &vs.Values[i]
		inst := protocol.InNull
		if is != nil {
			if _, known := is.names[v.Inst]; !known {
				continue // as pmproxy: only instances it can name
			}
			inst = v.Inst
		}
		labels, err := w.labels(d, inst, is)
		if err != nil {
			return err
		}
		start := len(b)
		b = append(b, pname...)
		b = append(b, labels...)
		b = append(b, ' ')
		var num bool
		if b, num = decodeValue(d.Type, v, insitu).appendProm(b); !num {
			b = b[:start]
			continue
		}
		if w.times {
			b = append(b, ' ')
			b = strconv.AppendInt(b, w.stamp, 10)
		}
		b = append(b, '\n')
	}
	w.b = b
	return nil
}

// labels renders (and caches) the {...} of one series.
func (w *promWriter) labels(d protocol.Desc, inst uint32, is *instSet) (string, error) {
	s := w.s
	m := &s.col.meta
	key := promKey{d.PMID, inst}
	// A context's own derived PMIDs mean other metrics (other instance
	// domains) elsewhere: their labels are not shared through the cache.
	private := s.privateID(uint32(d.PMID))
	m.lock()
	if m.prom == nil {
		m.prom = map[promKey]string{}
	}
	r, ok := m.prom[key]
	m.mu.Unlock()
	if ok && !private {
		return r, nil
	}
	sets, err := s.metricLabelSets(d, false)
	if err != nil {
		return "", err
	}
	if is != nil {
		sets = append(sets, is.labels[inst])
	}
	ls, _ := mergeLabels(false, sets...)
	if is != nil {
		ls = setLabel(ls, "instname", string(appendJSONString(nil, is.names[inst])))
		ls = setLabel(ls, "instid", `"`+strconv.FormatUint(uint64(inst), 10)+`"`)
	}
	r = renderPromLabels(ls)
	if private {
		return r, nil
	}
	m.lock()
	if m.prom == nil {
		m.prom = map[promKey]string{}
	}
	m.prom[key] = r
	m.mu.Unlock()
	return r, nil
}

// setLabel sets (or replaces) a label, keeping the list sorted by name.
func setLabel(ls []label, name, value string) []label {
	for i := range ls {
		if ls[i].name == name {
			ls[i].value = value
			return ls
		}
		if ls[i].name > name {
			ls = append(ls, label{})
			copy(ls[i+1:], ls[i:])
			ls[i] = label{name: name, value: value}
			return ls
		}
	}
	return append(ls, label{name: name, value: value})
}

// renderPromLabels writes {name="value",...}: PCP's dotted (compound) label names
// with '_' for '.', JSON strings unquoted, other JSON values as their text.
func renderPromLabels(ls []label) string {
	if len(ls) == 0 {
		return ""
	}
	b := make([]byte, 0, 32*len(ls))
	b = append(b, '{')
	seen := make(map[string]bool, len(ls))
	for _, l := range ls {
		n := promLabelName(l.name)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, n...)
		b = append(b, '=', '"')
		v := l.value
		if strings.HasPrefix(v, `"`) {
			var str string
			if json.Unmarshal([]byte(v), &str) == nil {
				v = str
			}
		}
		b = appendLabelValue(b, v)
		b = append(b, '"')
	}
	return string(append(b, '}'))
}

// promLabelName maps a PCP label name to a Prometheus one ("" if impossible).
func promLabelName(n string) string {
	if n == "" {
		return ""
	}
	out := []byte(n)
	for i, c := range out {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			out[i] = '_'
		}
	}
	return string(out)
}

// appendLabelValue escapes a label value: backslash, double quote, newline.
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendHelp escapes HELP text: backslash and newline.
func appendHelp(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}
