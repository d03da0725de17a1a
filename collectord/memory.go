package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is the Go runtime's soft memory limit (debug.SetMemoryLimit)
// when neither the configuration (server.memory_limit, --memory-limit) nor the
// GOMEMLIMIT variable sets one. It bounds the memory the runtime manages (heap,
// goroutine stacks, its own structures), not the program file's pages, which
// count in RSS too (about 10 MiB of collectord's RSS). Without a limit the heap
// may grow to twice its live size between collections, and it did under 200
// busy clients (peak RSS 32-33 MiB). 16 MiB doubled the CPU per fetch under 200
// clients while they kept more live (a reply scratch each, held while waiting
// for a source); since they wait holding less and the catalogue is smaller, 16
// MiB costs no measurable CPU there nor on a fetch of 1,000 processes' details,
// and lowers the peak by 1-3 MiB; 12 MiB made the 200-client fetch dearer again
// (BENCHMARKS.md, "Memory").
const DefaultMemoryLimit = 16 << 20

// ByteSize is a size in bytes written with a binary unit in TOML and on the
// command line: "20MiB", "512KiB", "1GiB", or a plain number of bytes. "0" and
// "off" mean no limit.
type ByteSize int64

// UnmarshalText parses a size for the TOML decoder.
func (b *ByteSize) UnmarshalText(t []byte) error {
	v, err := parseByteSize(string(t))
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

// MarshalText writes the size back in the form parseByteSize reads.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(formatByteSize(int64(b))), nil }

// byteUnits are the suffixes accepted, longest first so "MiB" is not read as "B".
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

// parseByteSize reads "20MiB" and the like (units are binary: M is MiB, as
// GOMEMLIMIT reads them).
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return 0, nil
	}
	num, mult := s, int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit (KiB, MiB, GiB), e.g. \"20MiB\", or \"off\"", s)
	}
	return n * mult, nil
}

// formatByteSize writes a size in the largest unit that divides it.
func formatByteSize(n int64) string {
	if n == 0 {
		return "off"
	}
	for _, u := range byteUnits[:3] {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// envLimit is what GOMEMLIMIT asked for: the variable's text, and the limit the
// runtime took from it at start (read before collectord sets its own).
type envLimit struct {
	text  string
	limit int64
}

// startLimit reads GOMEMLIMIT and the limit the runtime applied from it; call it
// once, before the first applyMemoryLimit.
func startLimit(gomemlimit string) envLimit {
	return envLimit{text: gomemlimit, limit: debug.SetMemoryLimit(-1)}
}

// memoryLimit decides the soft memory limit: the configuration's (file or flag)
// when it sets one, else GOMEMLIMIT's, else DefaultMemoryLimit. A limit of 0 is
// none (math.MaxInt64 to the runtime).
func memoryLimit(c ServerConfig, env envLimit) (limit int64, source string) {
	switch {
	case c.memoryLimitSet:
		if c.MemoryLimit == 0 {
			return math.MaxInt64, "configuration"
		}
		return int64(c.MemoryLimit), "configuration"
	case env.text != "":
		return env.limit, "GOMEMLIMIT"
	}
	return DefaultMemoryLimit, "default"
}

// applyMemoryLimit sets the runtime's soft memory limit from the configuration
// (at start and on every reload: a limit taken out of the file goes back to
// GOMEMLIMIT's or the default) and returns it for the log.
func applyMemoryLimit(c ServerConfig, env envLimit) (limit int64, source string) {
	limit, source = memoryLimit(c, env)
	debug.SetMemoryLimit(limit)
	return limit, source
}

// describeLimit is a limit for a person: "16MiB (default)", "off (configuration)".
func describeLimit(limit int64, source string) string {
	if limit == math.MaxInt64 {
		return "off (" + source + ")"
	}
	return formatByteSize(limit) + " (" + source + ")"
}
