package metrics

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ContextLabels returns the context label set as pmcd 6.0.3 builds it:
// {"domainname":…,"hostname":…,"machineid":…}, compact JSON with sorted keys.
// domainname is the kernel's NIS domain name, or "localdomain" when it has none;
// hostname is the short host name; machineid comes from <EtcRoot>/machine-id and is
// left out when that file is missing. It is read on every call, since the host name
// and domain name may change while the daemon runs.
func (r *Registry) ContextLabels() string {
	e := r.env
	set := map[string]string{
		"domainname": domainName(e.procRoot),
		"hostname":   shortHost(e.hostname),
	}
	if b, err := os.ReadFile(filepath.Join(e.etcRoot, "machine-id")); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			set["machineid"] = id
		}
	}
	return labelJSON(set)
}

// DomainLabels returns the label set of an agent domain, {"agent":"<name>"}; false
// for an unknown domain.
func (r *Registry) DomainLabels(domain uint32) (string, bool) {
	name, ok := agentNames[domain]
	if !ok {
		return "", false
	}
	return labelJSON(map[string]string{"agent": name}), true
}

// agentNames are the agents of the real pmcd configuration we stand in for.
var agentNames = map[uint32]string{DomainPMCD: "pmcd", DomainProc: "proc", DomainLinux: "linux"}

func domainName(procRoot string) string {
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/domainname"))
	if err == nil {
		if d := strings.TrimSpace(string(b)); d != "" && d != "(none)" {
			return d
		}
	}
	return "localdomain"
}

func shortHost(h string) string {
	if i := strings.IndexByte(h, '.'); i > 0 {
		return h[:i]
	}
	return h
}

// labelJSON renders a flat string label set as compact JSON with keys in byte order.
func labelJSON(set map[string]string) string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, k)
		b.WriteByte(':')
		writeJSONString(&b, set[k])
	}
	b.WriteByte('}')
	return b.String()
}

// writeJSONString writes s as a JSON string, escaping only what JSON requires (no
// HTML escaping: PCP does not do it either).
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
