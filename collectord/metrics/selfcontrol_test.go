package metrics

import (
	"encoding/binary"
	"strconv"
	"sync"
	"testing"

	"github.com/gopcp/gopcp/protocol"
)

// controlVS is a value set of insitu values, one per instance given.
func controlVS(p protocol.PMID, insts []uint32, vals ...int32) *protocol.ValueSet {
	vs := &protocol.ValueSet{PMID: p, NumVal: int32(len(vals)), ValFmt: protocol.ValFmtInsitu}
	for i, v := range vals {
		vs.Values = append(vs.Values, protocol.Value{Inst: insts[i], Insitu: uint32(v)})
	}
	return vs
}

// storeOK checks and applies vs as a local client, failing t if it is refused.
func storeOK(t *testing.T, r *Registry, vs *protocol.ValueSet) {
	t.Helper()
	o := StoreOpts{Local: true}
	if got := r.CheckStore(vs, o); got != 0 {
		t.Fatalf("store %v: %d (%s)", vs.PMID, got, protocol.ErrStr(got))
	}
	r.ApplyStore(vs, o)
}

func controlString(t *testing.T, r *Registry, name string) string {
	t.Helper()
	return formatResult(mustMetric(t, r, name), fetchByName(t, r, name)[name])
}

// TestControlDebugStore: a store into pmcd.control.debug reads back as pmcd
// 6.0.3 reads it back (measured against it): the 29 bits of the old debug
// bit-field kept, the others dropped.
func TestControlDebugStore(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	p := mustMetric(t, r, "pmcd.control.debug").Desc.PMID
	if got := controlString(t, r, "pmcd.control.debug"); got != "pmcd.control.debug 0" {
		t.Errorf("before any store: %s", got)
	}
	null := []uint32{protocol.InNull}
	for _, c := range []struct{ in, want int32 }{
		{1, 1}, {2048, 2048}, {12345678, 12345678}, {0, 0},
		{-1, 1342177279}, {2147483647, 1342177279}, {-2147483648, 0},
		{1 << 28, 0}, {1 << 29, 0}, {1 << 30, 1 << 30}, {1 << 27, 1 << 27},
	} {
		storeOK(t, r, controlVS(p, null, c.in))
		if v := fetchByName(t, r, "pmcd.control.debug")["pmcd.control.debug"].Values; len(v) != 1 || int32(v[0].U) != c.want {
			t.Errorf("stored %d, read %+v, want %d", c.in, v, c.want)
		}
	}
}

// TestControlTimeoutStore: any timeout that is not negative as a 32-bit integer
// is recorded and read back; pmcd's PM_ERR_SIGN for the others, which change
// nothing.
func TestControlTimeoutStore(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	p := mustMetric(t, r, "pmcd.control.timeout").Desc.PMID
	null := []uint32{protocol.InNull}
	if got := controlString(t, r, "pmcd.control.timeout"); got != "pmcd.control.timeout 0" {
		t.Errorf("before any store: %s", got)
	}
	for _, v := range []int32{7, 0, 100000, 2147483647} {
		storeOK(t, r, controlVS(p, null, v))
		if got, want := controlString(t, r, "pmcd.control.timeout"), "pmcd.control.timeout "+strconv.Itoa(int(v)); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	for _, v := range []int32{-1, -2147483648} { // 4294967295 and 2147483648 as pmstore sends them
		if got := r.CheckStore(controlVS(p, null, v), StoreOpts{Local: true}); got != protocol.ErrSign {
			t.Errorf("timeout %d: %d, want PM_ERR_SIGN", uint32(v), got)
		}
	}
	if got := controlString(t, r, "pmcd.control.timeout"); got != "pmcd.control.timeout 2147483647" {
		t.Errorf("after refused stores: %s", got)
	}
}

// TestControlRegisterStore: the sixteen registers are stored per instance, several
// in one value set, the last value for an instance kept; the state is the
// process's, so what one client stores another reads.
func TestControlRegisterStore(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	p := mustMetric(t, r, "pmcd.control.register").Desc.PMID
	zero := "pmcd.control.register [0]=0 [1]=0 [2]=0 [3]=0 [4]=0 [5]=0 [6]=0 [7]=0 [8]=0 [9]=0 [10]=0 [11]=0 [12]=0 [13]=0 [14]=0 [15]=0"
	if got := controlString(t, r, "pmcd.control.register"); got != zero {
		t.Errorf("before any store: %s", got)
	}
	storeOK(t, r, controlVS(p, []uint32{3}, 42))
	storeOK(t, r, controlVS(p, []uint32{5, 15, 0}, 9, -7, 2147483647))
	storeOK(t, r, controlVS(p, []uint32{6, 6}, 1, 2))
	want := "pmcd.control.register [0]=2147483647 [1]=0 [2]=0 [3]=42 [4]=0 [5]=9 [6]=2 [7]=0 [8]=0 [9]=0 [10]=0 [11]=0 [12]=0 [13]=0 [14]=0 [15]=-7"
	if got := controlString(t, r, "pmcd.control.register"); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Another client (here one that proved who it is) reads the same registers.
	other := StoreOpts{Local: true, Trusted: true}
	vs := controlVS(p, []uint32{3}, 43)
	if got := r.CheckStore(vs, other); got != 0 {
		t.Fatal(got)
	}
	r.ApplyStore(vs, other)
	if got := fetchByName(t, r, "pmcd.control.register")["pmcd.control.register"].Values[3]; got.Inst != 3 || got.U != 43 {
		t.Errorf("register 3 = %+v", got)
	}
}

// TestControlStoreRefused: from the attacker's side, value sets pmstore never
// sends, and stores from clients that are not local, are refused whole and
// change nothing.
func TestControlStoreRefused(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	id := func(n string) protocol.PMID { return mustMetric(t, r, n).Desc.PMID }
	debug, timeout, register, traceconn := id("pmcd.control.debug"), id("pmcd.control.timeout"), id("pmcd.control.register"), id("pmcd.control.traceconn")
	null := []uint32{protocol.InNull}
	local := StoreOpts{Local: true, Trusted: true}
	block := func(vs *protocol.ValueSet, fmt int32, vtype uint8, n int) *protocol.ValueSet {
		vs.ValFmt = fmt
		for i := range vs.Values {
			vs.Values[i].VType, vs.Values[i].Payload = vtype, make([]byte, n)
			binary.BigEndian.PutUint32(vs.Values[i].Payload, 5)
		}
		return vs
	}
	cases := []struct {
		name string
		vs   *protocol.ValueSet
		o    StoreOpts
		want int32
	}{
		{"debug from another host", controlVS(debug, null, 1), StoreOpts{Trusted: true}, protocol.ErrPermission},
		{"timeout from another host", controlVS(timeout, null, 9), StoreOpts{}, protocol.ErrPermission},
		{"register from another host", controlVS(register, []uint32{1}, 9), StoreOpts{Trusted: true}, protocol.ErrPermission},
		{"debug as a dynamic 32-bit block", block(controlVS(debug, null, 0), protocol.ValFmtDynamic, uint8(protocol.Type32), 4), local, protocol.ErrBadStore},
		{"timeout as a 64-bit block", block(controlVS(timeout, null, 0), protocol.ValFmtDynamic, uint8(protocol.Type64), 8), local, protocol.ErrBadStore},
		{"register as a static block", block(controlVS(register, []uint32{1}, 0), protocol.ValFmtStatic, uint8(protocol.Type32), 4), local, protocol.ErrBadStore},
		{"unknown value format", &protocol.ValueSet{PMID: debug, NumVal: 1, ValFmt: 7, Values: []protocol.Value{{Inst: protocol.InNull, Insitu: 1}}}, local, protocol.ErrBadStore},
		{"debug with no value", controlVS(debug, nil), local, protocol.ErrBadStore},
		{"register with no value", controlVS(register, nil), local, protocol.ErrBadStore},
		{"an error code for a value set", &protocol.ValueSet{PMID: timeout, NumVal: protocol.ErrPMID}, local, protocol.ErrBadStore},
		{"numval beyond the values", &protocol.ValueSet{PMID: register, NumVal: 3, Values: controlVS(register, []uint32{1}, 1).Values}, local, protocol.ErrBadStore},
		{"numval short of the values", &protocol.ValueSet{PMID: debug, NumVal: 1, Values: controlVS(debug, []uint32{protocol.InNull, protocol.InNull}, 1, 2).Values}, local, protocol.ErrBadStore},
		{"two values for debug", controlVS(debug, []uint32{protocol.InNull, protocol.InNull}, 1, 2), local, protocol.ErrBadStore},
		{"two values for timeout", controlVS(timeout, []uint32{protocol.InNull, protocol.InNull}, 1, 2), local, protocol.ErrBadStore},
		{"two values for traceconn", controlVS(traceconn, []uint32{protocol.InNull, protocol.InNull}, 1, 1), local, protocol.ErrBadStore},
		{"an instance of singular debug", controlVS(debug, []uint32{0}, 1), local, protocol.ErrInst},
		{"an instance of singular timeout", controlVS(timeout, []uint32{7}, 1), local, protocol.ErrInst},
		{"register PM_IN_NULL", controlVS(register, null, 1), local, protocol.ErrInst},
		{"register 16", controlVS(register, []uint32{16}, 1), local, protocol.ErrInst},
		{"register 0x80000000", controlVS(register, []uint32{0x80000000}, 1), local, protocol.ErrInst},
		{"a good register before a bad one", controlVS(register, []uint32{4, 16}, 5, 1), local, protocol.ErrInst},
		{"a bad register before a good one", controlVS(register, []uint32{99, 4}, 1, 5), local, protocol.ErrInst},
	}
	for _, c := range cases {
		if got := r.CheckStore(c.vs, c.o); got != c.want {
			t.Errorf("%s: %d (%s), want %d (%s)", c.name, got, protocol.ErrStr(got), c.want, protocol.ErrStr(c.want))
		}
	}
	want := map[string]string{
		"pmcd.control.debug":     "pmcd.control.debug 0",
		"pmcd.control.timeout":   "pmcd.control.timeout 0",
		"pmcd.control.traceconn": "pmcd.control.traceconn 0",
		"pmcd.control.register":  "pmcd.control.register [0]=0 [1]=0 [2]=0 [3]=0 [4]=0 [5]=0 [6]=0 [7]=0 [8]=0 [9]=0 [10]=0 [11]=0 [12]=0 [13]=0 [14]=0 [15]=0",
	}
	for n, w := range want {
		if got := controlString(t, r, n); got != w {
			t.Errorf("refused stores changed %s", got)
		}
	}
	// applyStore meeting a value set it never checked (a caller's bug) neither
	// panics nor writes outside the registers.
	r.ApplyStore(controlVS(register, []uint32{16, 1 << 31}, 1, 1), local)
	r.ApplyStore(&protocol.ValueSet{PMID: debug}, local)
	if got := controlString(t, r, "pmcd.control.register"); got != want["pmcd.control.register"] {
		t.Errorf("an unchecked store changed %s", got)
	}
}

// TestControlRegisterStoreWhole: a fetch running beside stores of all sixteen
// registers at once sees each store whole, never half of one and half of
// another (run with -race, this also checks the locking).
func TestControlRegisterStoreWhole(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	p := mustMetric(t, r, "pmcd.control.register").Desc.PMID
	insts := make([]uint32, numRegisters)
	for i := range insts {
		insts[i] = uint32(i)
	}
	all := func(v int32) *protocol.ValueSet {
		vals := make([]int32, numRegisters)
		for i := range vals {
			vals[i] = v
		}
		return controlVS(p, insts, vals...)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			r.ApplyStore(all(int32(i)), StoreOpts{Local: true})
		}
	}()
	for range 200 {
		v := fetchByName(t, r, "pmcd.control.register")["pmcd.control.register"].Values
		if len(v) != numRegisters {
			t.Fatalf("%d values", len(v))
		}
		for _, x := range v[1:] {
			if x.U != v[0].U {
				t.Fatalf("a fetch saw half a store: %+v", v)
			}
		}
	}
	wg.Wait()
}
