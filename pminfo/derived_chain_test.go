package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// chainConfig is a derived-metric configuration whose definitions use other
// derived metrics: forward references, units and scale carried through a
// chain, counters, rate(), defined() and the ternary over a derived operand, a
// semantic error met through a chain, a derived name that the namespace has
// (hinv.ncpu: the namespace's metric wins), an anonymous operand, and a chain
// 300 deep. PCP 6.0.3 binds all of these (descriptors follow the chain) and
// fetches the derived operand's PMID from pmcd, which has no agent for it.
// Cycles are not here: PCP's pminfo dies of a stack overflow on them (see
// pmapi's TestDeriveCycle).
func chainConfig() string {
	var b strings.Builder
	b.WriteString(`ch.fwd = ch.free * 2
ch.free = mem.util.free
ch.free_mb = rescale(ch.free, "Mbyte")
ch.free_frac = ch.free / mem.physmem
ch.user = kernel.all.cpu.user
ch.busy = ch.user + kernel.all.cpu.sys
ch.busy(oneline) = user and system time
ch.busy(helptext) = 'two counters
added'
ch.rate = rate(kernel.all.cpu.user)
ch.rate_pct = 100 * ch.rate / hinv.ncpu
ch.inst = instant(ch.user)
ch.load = kernel.all.load
ch.load1 = ch.load[1]
ch.loadmax = max(ch.load)
ch.has = defined(ch.load) ? 1 : 0
ch.hasnot = defined(ch.nothing) ? 1 : 0
ch.pick = hinv.ncpu > 0 ? ch.load : kernel.all.load
ch.bad = ch.user * ch.user
ch.onbad = ch.bad + 1
ch.missing = ch.nothing + 1
hinv.ncpu = 42
ch.ncpu = hinv.ncpu + 1
ch.ev = event.missed + 1
deep.l0 = hinv.ncpu
`)
	for i := 1; i < 300; i++ {
		fmt.Fprintf(&b, "deep.l%d = deep.l%d + 1\n", i, i-1)
	}
	return b.String()
}

// TestInteropDerivedChains compares this pminfo with PCP 6.0.3's, both against
// one real pmcd with the same PCP_DERIVED_CONFIG, for derived metrics defined
// in terms of other derived metrics, over every flag pminfo has for them.
func TestInteropDerivedChains(t *testing.T) {
	port, _ := startRealPmcd(t)
	cleanEnv(t)
	host := "127.0.0.1:" + strconv.Itoa(port)
	conf := filepath.Join(t.TempDir(), "chain.conf")
	if err := os.WriteFile(conf, []byte(chainConfig()), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PCP_DERIVED_CONFIG=" + conf}
	names := []string{"ch", "deep.l299", "deep.l0", "hinv.ncpu", "511.0.5", "511.0.23", "ch.onbad", "event"}
	for _, flags := range []string{"", "-m", "-d", "-t", "-T", "-f", "-l", "-s", "-dmtT", "-fd", "-fdmtTls", "-b1 -fd", "-M", "-I"} {
		args := append(append([]string{"-h", host}, strings.Fields(flags)...), names...)
		t.Run(flags+"/names", func(t *testing.T) { compare(t, env, args...) })
	}
	// the whole namespace with the chain's definitions added
	for _, flags := range []string{"", "-m", "-d"} {
		args := append([]string{"-h", host}, strings.Fields(flags)...)
		t.Run(flags+"/all", func(t *testing.T) { compare(t, env, args...) })
	}
}
