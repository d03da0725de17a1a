package pmapi

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gopcp/gopcp/protocol"
)

// TypeString is pmTypeStr: "32", "U32", "64", "U64", "FLOAT", "DOUBLE", "STRING",
// "AGGREGATE", "AGGREGATE_STATIC", "EVENT", "HIGHRES_EVENT", "NO_SUPPORT", "UNKNOWN"
// or "???".
func TypeString(t int32) string {
	names := [...]string{"32", "U32", "64", "U64", "FLOAT", "DOUBLE", "STRING",
		"AGGREGATE", "AGGREGATE_STATIC", "EVENT", "HIGHRES_EVENT"}
	switch {
	case t >= 0 && int(t) < len(names):
		return names[t]
	case t == protocol.TypeNoSupport:
		return "NO_SUPPORT"
	case t == protocol.TypeUnknown:
		return "UNKNOWN"
	}
	return "???"
}

// TypeDescription is the wording pminfo -d uses for a type ("32-bit int", "float",
// ...; "???" for unknown types, "Not Supported" for PM_TYPE_NOSUPPORT).
func TypeDescription(t int32) string {
	switch t {
	case protocol.Type32:
		return "32-bit int"
	case protocol.TypeU32:
		return "32-bit unsigned int"
	case protocol.Type64:
		return "64-bit int"
	case protocol.TypeU64:
		return "64-bit unsigned int"
	case protocol.TypeFloat:
		return "float"
	case protocol.TypeDouble:
		return "double"
	case protocol.TypeString:
		return "string"
	case protocol.TypeAggregate:
		return "aggregate"
	case protocol.TypeAggStatic:
		return "static aggregate"
	case protocol.TypeEvent:
		return "event record array"
	case protocol.TypeHREvent:
		return "highres event record array"
	case protocol.TypeNoSupport:
		return "Not Supported"
	}
	return "???"
}

// SemString is pmSemStr: "counter", "instant", "discrete" or "???".
func SemString(s int32) string {
	switch s {
	case protocol.SemCounter:
		return "counter"
	case protocol.SemInstant:
		return "instant"
	case protocol.SemDiscrete:
		return "discrete"
	}
	return "???"
}

// InDomString renders an instance domain as pminfo prints it: "60.2 0xf000002",
// "PM_INDOM_NULL 0xffffffff".
func InDomString(indom protocol.InDom) string {
	return indom.String() + " 0x" + strconv.FormatUint(uint64(indom), 16)
}

// UnitsFields unpacks a pmUnits word: the three signed dimensions and the scales
// (scaleCount signed).
func UnitsFields(u protocol.Units) (dimSpace, dimTime, dimCount, scaleSpace, scaleTime, scaleCount int) {
	s4 := func(v uint32) int { return int(int8(uint8(v&0xf)<<4) >> 4) }
	w := uint32(u)
	return s4(w >> 28), s4(w >> 24), s4(w >> 20), int(w >> 16 & 0xf), int(w >> 12 & 0xf), s4(w >> 8)
}

// UnitsString is pmUnitsStr: e.g. "Kbyte", "count / sec", "millisec", "" for no
// units at all, "x 10^3" for a dimensionless scale.
func UnitsString(u protocol.Units) string {
	ds, dt, dc, ss, st, sc := UnitsFields(u)
	var space, tim, count string
	if ds != 0 {
		names := [...]string{"byte", "Kbyte", "Mbyte", "Gbyte", "Tbyte", "Pbyte", "Ebyte", "Zbyte", "Ybyte"}
		if ss < len(names) {
			space = names[ss]
		} else {
			space = "space-" + strconv.Itoa(ss)
		}
	}
	if dt != 0 {
		names := [...]string{"nanosec", "microsec", "millisec", "sec", "min", "hour"}
		if st < len(names) {
			tim = names[st]
		} else {
			tim = "time-" + strconv.Itoa(st)
		}
	}
	if dc != 0 {
		switch sc {
		case 0:
			count = "count"
		case 1:
			count = "count x 10"
		default:
			count = "count x 10^" + strconv.Itoa(sc)
		}
	}
	var parts []string
	add := func(name string, dim int) {
		if dim == 1 || dim == -1 {
			parts = append(parts, name)
		} else {
			parts = append(parts, name+"^"+strconv.Itoa(abs(dim)))
		}
	}
	if ds > 0 {
		add(space, ds)
	}
	if dt > 0 {
		add(tim, dt)
	}
	if dc > 0 {
		add(count, dc)
	}
	if ds < 0 || dt < 0 || dc < 0 {
		parts = append(parts, "/")
		if ds < 0 {
			add(space, ds)
		}
		if dt < 0 {
			add(tim, dt)
		}
		if dc < 0 {
			add(count, dc)
		}
	}
	if len(parts) == 0 {
		switch sc {
		case 0:
			return ""
		case 1:
			return "x 10"
		}
		return "x 10^" + strconv.Itoa(sc)
	}
	return strings.Join(parts, " ")
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// FormatG formats f as C's printf("%.<prec>g") does (glibc: "inf", "-inf", "nan").
func FormatG(f float64, prec int) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		if math.Signbit(f) {
			return "-nan"
		}
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', prec, 64)
}

// extracted is a value after pmExtractValue to its own type.
type extracted struct {
	i   int64
	u   uint64
	f   float64
	s   string
	typ int32
}

// extract is pmExtractValue(valfmt, v, typ, &out, typ); ok false is PM_ERR_CONV.
func extract(typ int32, v protocol.Value, insitu bool) (extracted, bool) {
	e := extracted{typ: typ}
	if insitu {
		switch typ {
		case protocol.Type32:
			e.i = int64(int32(v.Insitu))
		case protocol.TypeU32:
			e.u = uint64(v.Insitu)
		case protocol.TypeFloat:
			e.f = float64(math.Float32frombits(v.Insitu))
		default:
			return e, false
		}
		return e, true
	}
	p, vt := v.Payload, int32(v.VType)
	okType := func(want int32) bool { return vt == want || vt == 0 }
	switch typ {
	case protocol.Type64:
		if len(p) != 8 || !okType(protocol.Type64) {
			return e, false
		}
		e.i = int64(binary.BigEndian.Uint64(p))
	case protocol.TypeU64:
		if len(p) != 8 || !okType(protocol.TypeU64) {
			return e, false
		}
		e.u = binary.BigEndian.Uint64(p)
	case protocol.TypeDouble:
		if len(p) != 8 || !okType(protocol.TypeDouble) {
			return e, false
		}
		e.f = math.Float64frombits(binary.BigEndian.Uint64(p))
	case protocol.TypeFloat:
		if len(p) != 4 || !okType(protocol.TypeFloat) {
			return e, false
		}
		e.f = float64(math.Float32frombits(binary.BigEndian.Uint32(p)))
	case protocol.TypeString:
		if !okType(protocol.TypeString) {
			return e, false
		}
		e.s = string(p)
		if i := strings.IndexByte(e.s, 0); i >= 0 {
			e.s = e.s[:i]
		}
	case protocol.TypeAggregate:
		if !okType(protocol.TypeAggregate) {
			return e, false
		}
	default:
		return e, false
	}
	return e, true
}

// nativeBytes is the value block payload as libpcp holds it in memory on a
// little-endian host: FLOAT, DOUBLE and 64-bit blocks were byte-swapped on receipt
// (__ntohpmValueBlock), other blocks are kept as received.
func nativeBytes(v protocol.Value) []byte {
	b := append([]byte(nil), v.Payload...)
	n := 0
	switch int32(v.VType) {
	case protocol.TypeFloat:
		n = 4
	case protocol.Type64, protocol.TypeU64, protocol.TypeDouble:
		n = 8
	}
	if n > 0 && len(b) >= n {
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	}
	return b
}

// FormatValue renders one value as pmPrintValue(f, valfmt, desc.Type, v, 1) prints
// it (pminfo -f, pmprobe -v): integers in decimal, FLOAT widened to double with
// %.8g, DOUBLE with %.16g, strings in double quotes. Values that do not match the
// type are dumped as libpcp dumps PM_TYPE_UNKNOWN values. insitu tells whether the
// value set's valfmt was PM_VAL_INSITU.
func FormatValue(desc protocol.Desc, v protocol.Value, insitu bool) string {
	typ := desc.Type
	var e extracted
	if typ != protocol.TypeUnknown && typ != protocol.TypeEvent && typ != protocol.TypeHREvent {
		var ok bool
		if e, ok = extract(typ, v, insitu); !ok {
			typ = protocol.TypeUnknown
		}
	}
	switch typ {
	case protocol.Type32, protocol.Type64:
		return strconv.FormatInt(e.i, 10)
	case protocol.TypeU32, protocol.TypeU64:
		return strconv.FormatUint(e.u, 10)
	case protocol.TypeFloat:
		return FormatG(e.f, 8)
	case protocol.TypeDouble:
		return FormatG(e.f, 16)
	case protocol.TypeString:
		return `"` + e.s + `"`
	case protocol.TypeAggregate, protocol.TypeUnknown:
		return dumpValue(v, insitu)
	case protocol.TypeEvent, protocol.TypeHREvent:
		if insitu {
			return pmlcControl(v.Insitu)
		}
		return eventSummary(v, typ == protocol.TypeHREvent)
	case protocol.TypeNoSupport:
		return "pmPrintValue: bogus value, metric Not Supported\n"
	}
	return fmt.Sprintf("pmPrintValue: unknown value type=%d\n", typ)
}

// dumpValue is pmPrintValue's PM_TYPE_AGGREGATE / PM_TYPE_UNKNOWN branch.
func dumpValue(v protocol.Value, insitu bool) string {
	var b strings.Builder
	if insitu {
		b.WriteString(strconv.FormatUint(uint64(v.Insitu), 10))
		if f := math.Float32frombits(v.Insitu); !math.IsNaN(float64(f)) {
			b.WriteString(" " + FormatG(float64(f), 8))
		}
		b.WriteString(" 0x" + strconv.FormatUint(uint64(v.Insitu), 16))
		return b.String()
	}
	p := nativeBytes(v)
	done := false
	sep := func() {
		if done {
			b.WriteByte(' ')
		}
		done = true
	}
	if len(p) == 8 {
		b.WriteString(strconv.FormatUint(binary.LittleEndian.Uint64(p), 10))
		done = true
		if d := math.Float64frombits(binary.LittleEndian.Uint64(p)); !math.IsNaN(d) {
			sep()
			b.WriteString(FormatG(d, 16))
		}
	}
	if len(p) == 4 {
		if f := math.Float32frombits(binary.LittleEndian.Uint32(p)); !math.IsNaN(float64(f)) {
			sep()
			b.WriteString(FormatG(float64(f), 8))
		}
	}
	printable := true
	for _, c := range p {
		if c < 0x20 || c > 0x7e {
			printable = false
			break
		}
	}
	if printable {
		sep()
		b.WriteString(`"` + string(p) + `"`)
	}
	sep()
	b.WriteByte('[')
	for _, c := range p {
		fmt.Fprintf(&b, "%02x", c)
	}
	b.WriteByte(']')
	return b.String()
}

// pmlcControl renders an insitu event value as pmPrintValue does for pmlc/pmlogger
// control requests (PMLC_GET_ON 0x1, _MAND 0x2, _AVAIL 0x4, _INLOG 0x8, delta >> 4).
func pmlcControl(v uint32) string {
	var b strings.Builder
	b.WriteString("[pmlc control ")
	if v&0x2 != 0 {
		b.WriteString("mand ")
	} else {
		b.WriteString("adv ")
	}
	if v&0x1 != 0 {
		b.WriteString("on ")
	} else {
		b.WriteString("off ")
	}
	if v&0x8 != 0 {
		if v&0x4 != 0 {
			b.WriteString(" ")
		} else {
			b.WriteString("na ")
		}
	} else {
		b.WriteString("nl ")
	}
	fmt.Fprintf(&b, "%d]", (v&^0xf)>>4&0x7fffffff)
	return b.String()
}

// eventSummary is pmPrintValue's summary of a packed event record array: the
// record count, missed records, and the first and last timestamps in local time
// (HH:MM:SS.mmm, or nanoseconds for highres arrays). It walks the records as
// libpcp does, including its habit of not advancing past "missed" records.
func eventSummary(v protocol.Value, highres bool) string {
	p := v.Payload
	u32 := func(off int) (uint32, bool) {
		if off < 0 || off+4 > len(p) {
			return 0, false
		}
		return binary.BigEndian.Uint32(p[off:]), true
	}
	u64 := func(off int) (uint64, bool) {
		if off < 0 || off+8 > len(p) {
			return 0, false
		}
		return binary.BigEndian.Uint64(p[off:]), true
	}
	n32, _ := u32(0)
	nrecords := int32(n32)
	stamp := func(off int) string {
		if highres {
			sec, _ := u64(off)
			nsec, _ := u64(off + 8)
			t := time.Unix(int64(sec), 0)
			return fmt.Sprintf("%02d:%02d:%02d.%09d", t.Hour(), t.Minute(), t.Second(), int32(nsec))
		}
		sec, _ := u32(off)
		usec, _ := u32(off + 4)
		t := time.Unix(int64(int32(sec)), 0)
		return fmt.Sprintf("%02d:%02d:%02d.%03d", t.Hour(), t.Minute(), t.Second(), int32(usec)/1000)
	}
	tsSize := 8
	if highres {
		tsSize = 16
	}
	base := 4
	first := stamp(base)
	nmissed := int32(0)
	for r := int32(0); r < nrecords-1; r++ {
		flags, ok1 := u32(base + tsSize)
		np, ok2 := u32(base + tsSize + 4)
		if !ok1 || !ok2 {
			break
		}
		if flags&0x80000000 != 0 { // PM_EVENT_FLAG_MISSED
			nmissed += int32(np)
			continue
		}
		base += tsSize + 8
		for i := int32(0); i < int32(np); i++ {
			w, ok := u32(base + 4)
			if !ok {
				break
			}
			base += 4 + (int(w&0xffffff)+3)&^3
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%d event record", nrecords)
	if nrecords != 1 {
		b.WriteByte('s')
	}
	if nmissed > 0 {
		fmt.Fprintf(&b, " (%d missed)", nmissed)
	}
	if nrecords > 0 {
		b.WriteString(" timestamp")
		if nrecords > 1 {
			b.WriteByte('s')
		}
		b.WriteString(" " + first)
		if nrecords > 1 {
			b.WriteString("..." + stamp(base))
		}
	}
	b.WriteByte(']')
	return b.String()
}
