package httpapi

import (
	"crypto/sha1"
	"encoding/hex"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/gopcp/gopcp/pmapi"
	"github.com/gopcp/gopcp/protocol"
)

const hexDigits = "0123456789ABCDEF"

// appendJSONString appends s as a JSON string escaped as pmproxy escapes text
// (libpcp_web unicode_encode): letters, digits, space and punctuation other than
// '"' and '\' as they are, every other ASCII byte as \u00XX. Unlike pmproxy, which
// replaces all non-ASCII with U+FFFD, valid UTF-8 is kept; invalid bytes become
// U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
				b = append(b, c)
			} else {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\uFFFD`...)
		} else if r == 0x2028 || r == 0x2029 {
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// typeName is pmproxy's lower-case type word (libpcp_web pmwebapi_type_str).
func typeName(t int32) string {
	names := [...]string{"32", "u32", "64", "u64", "float", "double", "string",
		"aggregate", "aggregate_static", "event", "highres_event"}
	switch {
	case t >= 0 && int(t) < len(names):
		return names[t]
	case t == protocol.TypeNoSupport:
		return "unsupported"
	}
	return "unknown"
}

// unitsName is pmUnitsStr, or "none" for dimensionless units.
func unitsName(u protocol.Units) string {
	if s := pmapi.UnitsString(u); s != "" {
		return s
	}
	return "none"
}

// sha1Hex is the hex SHA-1 of s.
func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// sourceHash is pmproxy's "source" identifier of a context: the SHA-1 of its
// identifying (non-optional) context labels.
func sourceHash(labels string) string {
	return sha1Hex(`{"series":"source","labels":` + labels + `}`)
}

// seriesHash is pmproxy's "series" identifier of a metric name: the SHA-1 of the
// name, its merged identifying labels, and its semantics, type and units as
// pmSemStr, pmTypeStr and pmUnitsStr print them.
func seriesHash(name, labels string, d protocol.Desc) string {
	return sha1Hex(`{"series":"metric","name":"` + name + `","labels":` + labels +
		`,"semantics":"` + pmapi.SemString(d.Sem) + `","type":"` + pmapi.TypeString(d.Type) +
		`","units":"` + pmapi.UnitsString(d.Units) + `"}`)
}

// label is one label of a set with its flags.
type label struct {
	name, value string
	optional    bool
}

// setLabels reads a label set through its index: a label with an empty value is
// null, as libpcp reads it.
func setLabels(s *protocol.LabelSet) []label {
	if s == nil {
		return nil
	}
	out := make([]label, 0, len(s.Labels))
	for _, l := range s.Labels {
		name, value := "", "null"
		if int(l.Name)+int(l.NameLen) <= len(s.JSON) {
			name = s.JSON[l.Name : int(l.Name)+int(l.NameLen)]
		}
		if l.ValueLen > 0 && int(l.Value)+int(l.ValueLen) <= len(s.JSON) {
			value = s.JSON[l.Value : int(l.Value)+int(l.ValueLen)]
		}
		if name == "" {
			continue
		}
		out = append(out, label{name: name, value: value, optional: l.Flags&protocol.LabelOptional != 0})
	}
	return out
}

// mergeLabels merges label sets in hierarchy order (a later set wins), skipping
// optional labels when identifying is set, and returns them sorted by name, as
// pmMergeLabelSets does. ok is false when no set was given at all.
func mergeLabels(identifying bool, sets ...*protocol.LabelSet) (out []label, ok bool) {
	idx := map[string]int{}
	for _, s := range sets {
		if s == nil {
			continue
		}
		ok = true
		for _, l := range setLabels(s) {
			if identifying && l.optional {
				continue
			}
			if i, seen := idx[l.name]; seen {
				out[i] = l
				continue
			}
			idx[l.name] = len(out)
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, ok
}

// labelsJSON renders merged labels as a compact JSON object ("null" when no set
// was available, as pmproxy prints it).
func labelsJSON(ls []label, ok bool) string {
	if !ok {
		return "null"
	}
	b := make([]byte, 0, 128)
	b = append(b, '{')
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, l.name...)
		b = append(b, '"', ':')
		b = append(b, l.value...)
	}
	return string(append(b, '}'))
}

// appendFloat formats f as C's %.<prec>g; non-finite values, which JSON cannot
// carry, become null.
func appendJSONFloat(b []byte, f float64, prec int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	// pmapi.FormatG for a finite value, without its string.
	return strconv.AppendFloat(b, f, 'g', prec, 64)
}

// appendUint appends a decimal.
func appendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }
