package metrics

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gopcp/gopcp/protocol"
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

// The label sets below are facts of the linux and proc agents (PCP 6.0.3), compared
// with the real pmcd by TestRealLabelsMatch in collectord/server. Instance domains
// not listed have no labels of their own (load averages, file systems, pressure
// windows, pmcd's own domains), nor do metrics not named in itemLabels.

// indomLabels: the label set of each instance domain that has one.
var indomLabels = map[protocol.InDom]string{
	indomCPU:       `{"device_type":"cpu","indom_name":"per cpu"}`,
	indomDisk:      `{"device_type":"block","indom_name":"per disk"}`,
	indomPartition: `{"device_type":"block","indom_name":"per partition"}`,
	indomDM:        `{"device_type":"block","indom_name":"per dm device"}`,
	indomMD:        `{"device_type":"block","indom_name":"per md device"}`, // disk.go
	indomSCSI:      `{"device_type":"block","indom_name":"per disk"}`,
	indomNetIf:     `{"device_type":"interface","indom_name":"per interface"}`,
	indomNetAddr:   `{"device_type":"interface","indom_name":"per interface"}`, // netaddr.go
	indomNode:      `{"device_type":"numa_node","indom_name":"per numa_node"}`,
	indomIntrLine:  `{"device_type":"irq","indom_name":"per irq"}`,
	indomSoftirq:   `{"indom_name":"per softirq"}`,
	indomSwapDev:   `{"device_type":["block","memory"],"indom_name":"per swap device"}`,
	// buddyinfo.go, slabinfo.go, zoneinfo.go, interrupts.go (the per-CPU cells).
	indomBuddy:      `{"device_type":["memory","numa_node"],"indom_name":"per buddy per numa_node"}`,
	indomSlab:       `{"device_type":"memory","indom_name":"per slab"}`,
	indomZone:       `{"device_type":["memory","numa_node"],"indom_name":"per zone per numa_node"}`,
	indomIntrCPU:    `{"device_type":["irq","cpu"],"indom_name":"per cpu, per irq"}`,
	indomSoftirqCPU: `{"device_type":"cpu","indom_name":"per cpu, per softirq"}`,
	// The proc agent's cgroup domains (cgroup.go) label the kind of device only.
	indomCgCpuset:   `{"device_type":"cpu"}`,
	indomCgCpuacct:  `{"device_type":"cpu"}`,
	indomCgCpusched: `{"device_type":"cpu"}`,
	indomCgPercpu:   `{"device_type":"cpu"}`,
	indomCgMemory:   `{"device_type":"memory"}`,
	indomCgNetcls:   `{"device_type":"interface"}`,
	indomCgBlkio:    `{"device_type":"block"}`,
	indomCgBlkioDev: `{"device_type":"block"}`,
	indomCgroup2Dev: `{"device_type":"block"}`,
}

// InDomLabels returns the label set of an instance domain as compact JSON, "" when it
// has none; false when the collector serves no such domain. It reads nothing.
func (r *Registry) InDomLabels(in protocol.InDom) (string, bool) {
	if _, ok := r.indoms[in]; !ok {
		return "", false
	}
	return indomLabels[in], true
}

// itemLabels: metric (item) labels, by name prefix. The CPU time totals say they are
// about CPUs although they have no CPU instances; the per-node ones that they are
// about both nodes and CPUs.
var itemLabels = []struct{ prefix, json string }{
	{"kernel.all.cpu.", `{"device_type":"cpu"}`},
	{"kernel.pernode.cpu.", `{"device_type":["numa_node","cpu"]}`},
}

// ItemLabels returns the item label set of a metric, "" when it has none (or the
// metric is unknown).
func (r *Registry) ItemLabels(p protocol.PMID) string {
	m, ok := r.ByPMID(p)
	if !ok {
		return ""
	}
	for _, l := range itemLabels {
		if strings.HasPrefix(m.Name, l.prefix) {
			return l.json
		}
	}
	return ""
}

// InstanceLabels returns the label set of one instance of an instance domain, ""
// when the domain's instances have none. Names come from the kernel (interface
// names may hold any byte but '/' and white space), so they are JSON-escaped.
func (r *Registry) InstanceLabels(in protocol.InDom, inst Instance) string {
	var b strings.Builder
	switch in {
	case indomCPU:
		b.WriteString(`{"cpu":` + strconv.FormatUint(uint64(inst.ID), 10) + `}`)
	case indomNode:
		b.WriteString(`{"numa_node":` + strconv.FormatUint(uint64(inst.ID), 10) + `}`)
	case indomProc:
		b.WriteString(`{"pid":` + strconv.FormatUint(uint64(inst.ID), 10) + `}`)
	case indomDisk:
		b.WriteString(`{"device_name":`)
		writeJSONString(&b, inst.Name)
		b.WriteByte('}')
	case indomNetIf:
		b.WriteString(`{"interface":`)
		writeJSONString(&b, inst.Name)
		b.WriteByte('}')
	case indomCgroup2, indomCgCpuset, indomCgCpuacct, indomCgCpusched, indomCgMemory, indomCgNetcls, indomCgBlkio:
		b.WriteString(`{"cgroup":`)
		writeJSONString(&b, inst.Name)
		b.WriteByte('}')
	case indomCgBlkioDev, indomCgroup2Dev, indomCgPercpu:
		// "<group>::<device>": the agent labels both halves ("cpuN" as "N").
		group, dev := inst.Name, ""
		if i := strings.LastIndex(inst.Name, "::"); i >= 0 {
			group, dev = inst.Name[:i], inst.Name[i+2:]
		}
		b.WriteString(`{"cgroup":`)
		writeJSONString(&b, group)
		if in == indomCgPercpu {
			b.WriteString(`,"cpu":`)
			writeJSONString(&b, strings.TrimPrefix(dev, "cpu"))
		} else {
			b.WriteString(`,"device_name":`)
			writeJSONString(&b, dev)
		}
		b.WriteByte('}')
	case indomBuddy, indomZone, indomZoneProt, indomIntrCPU, indomSoftirqCPU:
		splitNameLabels(&b, in, inst.Name) // zoneinfo.go
	case indomIntrLine:
		b.WriteString(`{"irq":`)
		writeJSONString(&b, inst.Name)
		b.WriteByte('}')
	}
	// A row's description (the agent's "irqtext"), when the source gave one, joins
	// the instance's other labels.
	if inst.Text != "" && b.Len() > 1 {
		s := b.String()
		var t strings.Builder
		t.WriteString(s[:len(s)-1])
		t.WriteString(`,"irqtext":`)
		writeJSONString(&t, inst.Text)
		t.WriteByte('}')
		return t.String()
	}
	return b.String()
}
