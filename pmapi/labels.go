package pmapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// Label is one name/value pair of a label set; Value is compact JSON text.
type Label struct {
	Name  string
	Value string
}

var errLabels = errors.New("labels: invalid label set")

// ParseLabels parses a JSON object of labels as pmMergeLabels does: whitespace is
// removed, nested objects are flattened to dotted names ({"a":{"b":1}} is the label
// "a.b"), names must start with a letter and contain only letters, digits, '_' and
// '.', and a name may not repeat. An empty string or {} has no
// labels. The result is sorted by name.
func ParseLabels(s string) ([]Label, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return nil, errLabels
	}
	c := buf.String()
	if !strings.HasPrefix(c, "{") {
		return nil, errLabels
	}
	var out []Label
	if _, err := flatten(c, 0, "", &out); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name {
			return nil, errLabels
		}
	}
	return out, nil
}

// flatten reads the compact JSON object at s[i] and appends its labels.
func flatten(s string, i int, prefix string, out *[]Label) (int, error) {
	i++ // '{'
	if i < len(s) && s[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return 0, errLabels
		}
		end := jsonValueEnd(s, i)
		var name string
		if err := json.Unmarshal([]byte(s[i:end]), &name); err != nil || !validLabelName(name) {
			return 0, errLabels
		}
		i = end + 1 // ':'
		full := name
		if prefix != "" {
			full = prefix + "." + name
		}
		if i < len(s) && s[i] == '{' && !(i+1 < len(s) && s[i+1] == '}') {
			if i, _ = flatten(s, i, full, out); i == 0 {
				return 0, errLabels
			}
		} else {
			end = jsonValueEnd(s, i)
			*out = append(*out, Label{Name: full, Value: s[i:end]})
			i = end
		}
		if i >= len(s) {
			return 0, errLabels
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return i + 1, nil
		default:
			return 0, errLabels
		}
	}
}

// jsonValueEnd returns the index just past the (valid, compact) JSON value at s[i].
func jsonValueEnd(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '"':
			for j++; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			if depth == 0 {
				return j + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j
			}
			depth--
			if depth == 0 {
				return j + 1
			}
		case ',', ':':
			if depth == 0 {
				return j
			}
		}
	}
	return len(s)
}

func validLabelName(n string) bool {
	if n == "" || len(n) >= 256 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_'):
		case i > 0 && c == '.':
		default:
			return false
		}
	}
	return true
}

// mergeSorted merges label lists left to right; a later list's value wins.
func mergeSorted(lists [][]Label) []Label {
	m := map[string]string{}
	for _, l := range lists {
		for _, x := range l {
			m[x.Name] = x.Value
		}
	}
	out := make([]Label, 0, len(m))
	for k, v := range m {
		out = append(out, Label{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FormatLabels renders labels as a compact JSON object in the given order.
func FormatLabels(ls []Label) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + l.Name + `":` + l.Value)
	}
	b.WriteByte('}')
	return b.String()
}

// MergeLabels merges JSON label objects left to right as pmMergeLabels does (a later
// object's value wins) and returns the result compact, keys sorted. Sets that are
// not valid label objects (see ParseLabels) are ignored. No labels at all gives "{}".
func MergeLabels(sets ...string) string {
	var lists [][]Label
	for _, s := range sets {
		if l, err := ParseLabels(s); err == nil {
			lists = append(lists, l)
		}
	}
	return FormatLabels(mergeSorted(lists))
}

// SetLabels returns the labels of a label set received from pmcd, read through its
// index (as libpcp does): a label with an empty value is null.
func SetLabels(s *protocol.LabelSet) []Label {
	out := make([]Label, 0, len(s.Labels))
	for _, l := range s.Labels {
		name, value := "", "null"
		if int(l.Name)+int(l.NameLen) <= len(s.JSON) {
			name = s.JSON[l.Name : int(l.Name)+int(l.NameLen)]
		}
		if l.ValueLen > 0 && int(l.Value)+int(l.ValueLen) <= len(s.JSON) {
			value = s.JSON[l.Value : int(l.Value)+int(l.ValueLen)]
		}
		out = append(out, Label{Name: name, Value: value})
	}
	return out
}

// MergeLabelSets merges label sets from the hierarchy (context, domain, indom,
// cluster, item, instance; later wins) as pmMergeLabelSets does. Nil sets are
// skipped; ok is false when every set is nil (pmMergeLabelSets returns 0 and pminfo
// prints nothing). Sets without labels still give "{}".
func MergeLabelSets(sets ...*protocol.LabelSet) (merged string, ok bool) {
	var lists [][]Label
	for _, s := range sets {
		if s == nil {
			continue
		}
		ok = true
		lists = append(lists, SetLabels(s))
	}
	if !ok {
		return "", false
	}
	return FormatLabels(mergeSorted(lists)), true
}
