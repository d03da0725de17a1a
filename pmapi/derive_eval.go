package pmapi

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/gopcp/gopcp/protocol"
)

// Evaluation of derived metrics at fetch time, after libpcp's derive_fetch.c:
// the operands are fetched in the same PDU as the other metrics; each node's
// values are computed bottom up; rate() and delta() keep the previous sample per
// context; an operand's fetch error becomes the derived metric's error; missing
// values give no values, never a panic.

// ival is one instance's value; the field used follows the node's type.
type ival struct {
	inst uint32
	i    int64
	u    uint64
	f    float64
}

// toFloat returns v (of type t) as a float64.
func (v ival) toFloat(t int32) float64 {
	switch t {
	case protocol.Type32, protocol.Type64:
		return float64(v.i)
	case protocol.TypeU32, protocol.TypeU64:
		return float64(v.u)
	}
	return v.f
}

// convert returns v (of type from) as type to, as C's assignments do.
func (v ival) convert(from, to int32) ival {
	out := ival{inst: v.inst}
	switch to {
	case protocol.Type32:
		out.i = int64(int32(v.asInt(from)))
	case protocol.Type64:
		out.i = v.asInt(from)
	case protocol.TypeU32:
		out.u = uint64(uint32(v.asUint(from)))
	case protocol.TypeU64:
		out.u = v.asUint(from)
	case protocol.TypeFloat:
		out.f = float64(float32(v.toFloat(from)))
	default:
		out.f = v.toFloat(from)
	}
	return out
}

func (v ival) asInt(t int32) int64 {
	switch t {
	case protocol.Type32, protocol.Type64:
		return v.i
	case protocol.TypeU32, protocol.TypeU64:
		return int64(v.u)
	}
	return int64(v.f)
}

func (v ival) asUint(t int32) uint64 {
	switch t {
	case protocol.Type32, protocol.Type64:
		return uint64(v.i)
	case protocol.TypeU32, protocol.TypeU64:
		return v.u
	}
	if v.f < 0 {
		return uint64(int64(v.f))
	}
	return uint64(v.f)
}

// evalEnv is what evaluation needs from the fetch: operand value sets, the
// sample time and instance-name lookups (done without the context lock held).
type evalEnv struct {
	vsets map[protocol.PMID]*protocol.ValueSet
	stamp float64
	c     *Context
	names map[protocol.InDom]map[uint32]string
}

func (e *evalEnv) instName(indom protocol.InDom, inst uint32) (string, bool) {
	if e.names == nil {
		e.names = map[protocol.InDom]map[uint32]string{}
	}
	m, ok := e.names[indom]
	if !ok {
		m = map[uint32]string{}
		if e.c == nil {
			return "", false
		}
		if insts, err := e.c.InDom(indom); err == nil {
			for _, in := range insts {
				m[in.ID] = in.Name
			}
		}
		e.names[indom] = m
	}
	s, ok := m[inst]
	return s, ok
}

// eval computes n's values; it returns the number of values or a negative PCP
// error code.
func (n *bnode) eval(e *evalEnv) int32 {
	if n.left != nil {
		if s := n.left.eval(e); s < 0 {
			if n.kind == nCount {
				n.vals, n.numval = []ival{{inst: protocol.InNull}}, 1
				return 1
			}
			n.numval = s
			return s
		}
	}
	if n.right != nil {
		if s := n.right.eval(e); s < 0 {
			n.numval = s
			return s
		}
	}
	if n.kind == nDefined {
		return n.numval // computed at bind time, so its value is kept
	}
	n.vals = n.vals[:0]
	switch n.kind {
	case nInteger, nDouble:
		n.vals = append(n.vals, constValue(n.value, n.desc.Type))
	case nName:
		return n.evalName(e)
	case nDelta, nRate:
		n.evalDelta(e)
	case nNot:
		for _, v := range n.left.vals {
			r := ival{inst: v.inst}
			if n.left.isZero(v) {
				r.u, r.i, r.f = 1, 1, 1
			}
			n.vals = append(n.vals, r.convert(protocol.TypeU32, n.desc.Type))
		}
	case nNeg:
		lt := n.left.desc.Type
		for _, v := range n.left.vals {
			r := ival{inst: v.inst}
			switch lt {
			case protocol.Type32, protocol.Type64:
				r.i = -v.i
			case protocol.TypeU32:
				r.i = int64(-int32(uint32(v.u)))
			case protocol.TypeU64:
				r.i = -int64(v.u)
			default:
				r.f = -v.f
			}
			n.vals = append(n.vals, r)
		}
	case nColon, nScale, nPattern:
		return 0
	case nQuest:
		n.evalQuest()
	case nFilterInst:
		n.evalFilter(e)
	case nCount:
		n.vals = append(n.vals, ival{inst: protocol.InNull, u: uint64(len(n.left.vals))})
	case nSum, nAvg, nMin, nMax:
		n.evalAggregate()
	case nScalar:
		if len(n.left.vals) > 0 {
			v := n.left.vals[0]
			v.inst = protocol.InNull
			n.vals = append(n.vals, v)
		}
	case nInstant:
		n.vals = append(n.vals, n.left.vals...)
	case nRescale:
		f := unitsFactor(unpackUnits(n.left.desc.Units), unpackUnits(n.right.desc.Units))
		lt := n.left.desc.Type
		for _, v := range n.left.vals {
			r := ival{inst: v.inst, f: v.toFloat(lt) * f}
			n.vals = append(n.vals, r.convert(protocol.TypeDouble, n.desc.Type))
		}
	default:
		n.evalBinary()
	}
	n.numval = int32(len(n.vals))
	return n.numval
}

func (n *bnode) isZero(v ival) bool { return v.toFloat(n.desc.Type) == 0 && v.i == 0 && v.u == 0 }

func constValue(text string, t int32) ival {
	v := ival{inst: protocol.InNull}
	switch t {
	case protocol.Type32, protocol.Type64:
		v.i, _ = strconv.ParseInt(text, 10, 64)
	case protocol.TypeU32, protocol.TypeU64:
		v.u, _ = strconv.ParseUint(text, 10, 64)
	default:
		v.f, _ = strconv.ParseFloat(text, 64)
		if t == protocol.TypeFloat {
			v.f = float64(float32(v.f))
		}
	}
	return v
}

func (n *bnode) evalName(e *evalEnv) int32 {
	vs, ok := e.vsets[n.pmid]
	if !ok {
		n.numval = protocol.ErrPMID
		return n.numval
	}
	if vs.NumVal < 0 {
		n.numval = vs.NumVal
		return n.numval
	}
	insitu := vs.ValFmt == protocol.ValFmtInsitu
	for _, v := range vs.Values {
		x, ok := extract(n.desc.Type, v, insitu)
		if !ok {
			n.numval = protocol.ErrConv
			return n.numval
		}
		n.vals = append(n.vals, ival{inst: v.Inst, i: x.i, u: x.u, f: x.f})
	}
	n.numval = int32(len(n.vals))
	return n.numval
}

// evalDelta is delta() and rate(): one value per instance present in both this
// and the previous sample. Unsigned counters are subtracted modulo their width,
// so a counter that wrapped once still gives the right difference.
func (n *bnode) evalDelta(e *evalEnv) {
	cur := n.left.vals
	lt := n.left.desc.Type
	if n.lastOK {
		dt := e.stamp - n.lastStamp
		for _, v := range cur {
			var p *ival
			for j := range n.last {
				if n.last[j].inst == v.inst {
					p = &n.last[j]
					break
				}
			}
			if p == nil {
				continue
			}
			r := ival{inst: v.inst}
			var d float64
			switch lt {
			case protocol.Type32:
				d = float64(int32(v.i) - int32(p.i))
				r.i = int64(int32(v.i) - int32(p.i))
			case protocol.TypeU32:
				d = float64(uint32(v.u) - uint32(p.u))
				r.i = int64(v.u) - int64(p.u) // delta of U32 is a signed 64-bit value
			case protocol.Type64:
				d = float64(v.i - p.i)
				r.i = v.i - p.i
			case protocol.TypeU64:
				d = float64(v.u - p.u)
				r.f = float64(v.u) - float64(p.u) // delta of U64 is a double
			default:
				d = v.f - p.f
				r.f = d
				if lt == protocol.TypeFloat {
					r.f = float64(float32(d))
				}
			}
			if n.kind == nRate {
				r = ival{inst: v.inst, f: d / dt}
				if u := unpackUnits(n.left.desc.Units); u.dimTime == 1 {
					r.f *= timeToSec(u.scaleTime)
				}
			}
			n.vals = append(n.vals, r)
		}
	}
	n.last = append(n.last[:0], cur...)
	n.lastStamp, n.lastOK = e.stamp, true
}

// timeToSec is the factor from a time scale to seconds.
func timeToSec(scale int) float64 {
	f := 1.0
	if scale > 3 {
		for s := 3; s < scale; s++ {
			f *= 60
		}
	} else {
		for s := scale; s < 3; s++ {
			f /= 1000
		}
	}
	return f
}

// unitsFactor is the multiplier from units a to units b of the same dimension.
func unitsFactor(a, b units) float64 {
	f := 1.0
	pow := func(base float64, d int) float64 { return math.Pow(base, float64(d)) }
	if a.dimSpace != 0 {
		f *= pow(1024, (a.scaleSpace-b.scaleSpace)*a.dimSpace)
	}
	if a.dimTime != 0 {
		f *= math.Pow(timeToSec(a.scaleTime)/timeToSec(b.scaleTime), float64(a.dimTime))
	}
	if a.dimCount != 0 {
		f *= pow(10, (a.scaleCount-b.scaleCount)*a.dimCount)
	}
	return f
}

func (n *bnode) evalQuest() {
	guard := n.left
	t, f := n.right.left, n.right.right
	pick := func(x *bnode, inst uint32, scalarGuard bool) []ival {
		if scalarGuard {
			return x.vals
		}
		if x.desc.InDom == protocol.InDomNull {
			if len(x.vals) == 0 {
				return nil
			}
			v := x.vals[0]
			v.inst = inst
			return []ival{v}
		}
		for _, v := range x.vals {
			if v.inst == inst {
				return []ival{v}
			}
		}
		return nil
	}
	if guard.desc.InDom == protocol.InDomNull {
		if len(guard.vals) == 0 {
			return
		}
		chosen, other := t, f
		if guard.isZero(guard.vals[0]) {
			chosen, other = f, t
		}
		if chosen.desc.InDom == protocol.InDomNull && other.desc.InDom != protocol.InDomNull {
			// a scalar chosen over a set: the same value for each of the set's instances
			if len(chosen.vals) > 0 {
				for _, o := range other.vals {
					v := chosen.vals[0]
					v.inst = o.inst
					n.vals = append(n.vals, v)
				}
			}
			return
		}
		n.vals = append(n.vals, chosen.vals...)
		return
	}
	for _, g := range guard.vals {
		x := t
		if guard.isZero(g) {
			x = f
		}
		n.vals = append(n.vals, pick(x, g.inst, false)...)
	}
}

func (n *bnode) evalFilter(e *evalEnv) {
	pat, src := n.left.src, n.right
	if pat.exact {
		if n.instID < 0 {
			if e.c == nil {
				return
			}
			id, err := e.c.InstanceID(src.desc.InDom, pat.value)
			if err != nil {
				return
			}
			n.instID = int64(id)
		}
		for _, v := range src.vals {
			if int64(v.inst) == n.instID {
				n.vals = append(n.vals, v)
				return
			}
		}
		return
	}
	for _, v := range src.vals {
		name, ok := e.instName(src.desc.InDom, v.inst)
		if !ok {
			continue
		}
		// classic external instance names end at the first space
		if i := indexByte(name, ' '); i >= 0 {
			name = name[:i]
		}
		if pat.re.MatchString(name) != pat.invert {
			n.vals = append(n.vals, v)
		}
	}
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func (n *bnode) evalAggregate() {
	lt := n.left.desc.Type
	if len(n.left.vals) == 0 {
		return
	}
	acc := n.left.vals[0]
	sumF := 0.0
	for i, v := range n.left.vals {
		sumF += v.toFloat(lt)
		if i == 0 {
			continue
		}
		switch n.kind {
		case nSum:
			acc.i += v.i
			acc.u += v.u
			acc.f += v.f
		case nMin:
			if v.toFloat(lt) < acc.toFloat(lt) {
				acc = v
			}
		case nMax:
			if v.toFloat(lt) > acc.toFloat(lt) {
				acc = v
			}
		}
	}
	acc.inst = protocol.InNull
	if n.kind == nAvg {
		acc = ival{inst: protocol.InNull, f: float64(float32(sumF / float64(len(n.left.vals))))}
	} else if n.kind == nSum && lt == protocol.Type32 {
		acc.i = int64(int32(acc.i))
	} else if n.kind == nSum && lt == protocol.TypeU32 {
		acc.u = uint64(uint32(acc.u))
	}
	n.vals = append(n.vals, acc)
}

// evalBinary is an arithmetic, relational or boolean operator over two value
// lists: scalar op set applies the scalar to every instance; set op set pairs
// equal instances.
func (n *bnode) evalBinary() {
	L, R := n.left, n.right
	if len(L.vals) == 0 || len(R.vals) == 0 {
		return
	}
	pair := func(a, b ival, inst uint32) {
		n.vals = append(n.vals, n.binOp(a, b, inst))
	}
	switch {
	case L.desc.InDom == protocol.InDomNull:
		for _, b := range R.vals {
			pair(L.vals[0], b, b.inst)
		}
	case R.desc.InDom == protocol.InDomNull:
		for _, a := range L.vals {
			pair(a, R.vals[0], a.inst)
		}
	default:
		for _, a := range L.vals {
			for _, b := range R.vals {
				if a.inst == b.inst {
					pair(a, b, a.inst)
					break
				}
			}
		}
	}
}

func (n *bnode) binOp(a, b ival, inst uint32) ival {
	L, R := n.left, n.right
	rt := n.desc.Type
	opType := rt
	if isRel(n.kind) || n.kind == nAnd || n.kind == nOr {
		opType = promote[L.desc.Type][R.desc.Type]
	}
	scaled := L.mul != 1 || L.div != 1 || R.mul != 1 || R.div != 1
	if scaled || opType == protocol.TypeDouble || opType == protocol.TypeFloat {
		x := a.toFloat(L.desc.Type) * L.mul / L.div
		y := b.toFloat(R.desc.Type) * R.mul / R.div
		var r float64
		switch n.kind {
		case nPlus:
			r = x + y
		case nMinus:
			r = x - y
		case nStar:
			r = x * y
		case nSlash:
			if x == 0 {
				r = 0 // libpcp: 0/anything is 0, so 0/0 is not NaN
			} else {
				r = x / y
			}
		default:
			return boolResult(n.kind, x, y, inst)
		}
		if opType == protocol.TypeFloat && rt == protocol.TypeFloat {
			r = float64(float32(r))
		}
		return ival{inst: inst, f: r}.convert(protocol.TypeDouble, rt)
	}
	x, y := a.convert(L.desc.Type, opType), b.convert(R.desc.Type, opType)
	signed := opType == protocol.Type32 || opType == protocol.Type64
	if isRel(n.kind) || n.kind == nAnd || n.kind == nOr {
		if signed {
			return boolResult(n.kind, float64(x.i), float64(y.i), inst)
		}
		return boolResult(n.kind, x.u, y.u, inst)
	}
	r := ival{inst: inst}
	switch n.kind {
	case nPlus:
		r.i, r.u = x.i+y.i, x.u+y.u
	case nMinus:
		r.i, r.u = x.i-y.i, x.u-y.u
	case nStar:
		r.i, r.u = x.i*y.i, x.u*y.u
	}
	if opType == protocol.Type32 {
		r.i = int64(int32(r.i))
	} else if opType == protocol.TypeU32 {
		r.u = uint64(uint32(r.u))
	}
	return r
}

// boolResult is a relational or boolean operator's result, 1 or 0: doubles and
// signed values are compared as float64, unsigned ones as uint64 so values
// above 2^53 keep their order.
func boolResult[T float64 | uint64](k nodeKind, x, y T, inst uint32) ival {
	var b bool
	switch k {
	case nLT:
		b = x < y
	case nLEQ:
		b = x <= y
	case nEQ:
		b = x == y
	case nGEQ:
		b = x >= y
	case nGT:
		b = x > y
	case nNEQ:
		b = x != y
	case nAnd:
		b = x != 0 && y != 0
	case nOr:
		b = x != 0 || y != 0
	}
	if b {
		return ival{inst: inst, u: 1}
	}
	return ival{inst: inst}
}

// encode turns a bound metric's values into a value set as pmcd would send it.
func encodeValues(pmid protocol.PMID, t int32, numval int32, vals []ival) protocol.ValueSet {
	vs := protocol.ValueSet{PMID: pmid, NumVal: numval}
	if numval <= 0 {
		return vs
	}
	switch t {
	case protocol.Type32, protocol.TypeU32:
		vs.ValFmt = protocol.ValFmtInsitu
		for _, v := range vals {
			w := uint32(v.u)
			if t == protocol.Type32 {
				w = uint32(int32(v.i))
			}
			vs.Values = append(vs.Values, protocol.Value{Inst: v.inst, Insitu: w})
		}
		return vs
	}
	vs.ValFmt = protocol.ValFmtDynamic
	for _, v := range vals {
		var p []byte
		switch t {
		case protocol.Type64:
			p = binary.BigEndian.AppendUint64(nil, uint64(v.i))
		case protocol.TypeU64:
			p = binary.BigEndian.AppendUint64(nil, v.u)
		case protocol.TypeFloat:
			p = binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(v.f)))
		default:
			p = binary.BigEndian.AppendUint64(nil, math.Float64bits(v.f))
		}
		vs.Values = append(vs.Values, protocol.Value{Inst: v.inst, VType: uint8(t), Payload: p})
	}
	return vs
}
