package metrics

// fieldTable maps the field names of a keyed kernel file (/proc/vmstat,
// /proc/meminfo, /proc/net/snmp) to value slots. The kernel prints its fields in the
// same order on every read, so the table remembers which name it saw at each position
// and a re-read costs one comparison per field instead of a map lookup; a file whose
// order changes (another kernel, a test fixture) just takes the lookup again.
type fieldTable struct {
	slots map[string]int
	seen  []seenField // by position in the file
}

type seenField struct {
	key  string
	slot int // -1: a field no metric uses
}

// maxSeen bounds the position cache, so a hostile or huge file cannot grow it without
// limit (positions beyond it are looked up every time).
const maxSeen = 4096

func newFieldTable(keys []string) *fieldTable {
	t := &fieldTable{slots: make(map[string]int, len(keys))}
	for i, k := range keys {
		t.slots[k] = i
	}
	return t
}

// slot returns the slot of the field called key at position pos of the file, or -1.
func (t *fieldTable) slot(pos int, key []byte) int {
	if pos < len(t.seen) && t.seen[pos].key == string(key) { // no allocation
		return t.seen[pos].slot
	}
	s, ok := t.slots[string(key)]
	if !ok {
		s = -1
	}
	if pos < maxSeen {
		for len(t.seen) <= pos {
			t.seen = append(t.seen, seenField{slot: -1})
		}
		t.seen[pos] = seenField{key: string(key), slot: s}
	}
	return s
}

// optSlots holds one optional value per slot, reset before each parse.
type optSlots []optU

func (o optSlots) reset() {
	for i := range o {
		o[i] = optU{}
	}
}

// sum adds the slots that are present; absent when none is.
func (o optSlots) sum(slots ...int) optU {
	var r optU
	for _, s := range slots {
		if s >= 0 && o[s].ok {
			r.v += o[s].v
			r.ok = true
		}
	}
	return r
}
