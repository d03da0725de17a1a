package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// The "cpuinfo" source: /proc/cpuinfo, what each CPU says of itself (hinv.cpu.clock,
// vendor, model, model_name, stepping, cache, cache_alignment, bogomips, flags), per
// CPU of indom 60.0. The file is long (a few kilobytes per CPU) and is read only
// when one of these metrics is asked for. Each "processor : N" line starts the block
// of CPU N; the lines after it ("key<tab>: value") describe it. Keys are those of
// x86, with the names arm and others use for the same things (CPU implementer,
// CPU variant, CPU revision, Features, Hardware). Lines before the first processor
// line, or after processor lines with nothing between them (arm64 prints the shared
// description once, at the end), describe every CPU that has no value of its own. A
// value the file does not give has no value (no "unknown", no 0). A processor line
// whose number is not a number, or a CPU number beyond any kernel's, fails the source.
//
// Parsed by hand: procfs's CPUInfo fills absent fields with zero values and splits
// the flags, losing the kernel's own spacing, which the metric keeps as printed.
//
// The "cpufreq" source: per-CPU files under /sys/devices/system/cpu/cpuN
// (hinv.cpu.frequency_scaling.*, hinv.cpu.thermal_throttle.*). A CPU without the
// file (no cpufreq driver, not an Intel CPU, a virtual machine) has no value; a file
// holding something other than the number(s) it should fails that value, and the
// fetch is counted as a partial error.

const (
	selCPUInfoClock = iota
	selCPUInfoVendor
	selCPUInfoModel
	selCPUInfoStepping
	selCPUInfoCache
	selCPUInfoBogomips
	selCPUInfoModelName
	selCPUInfoFlags
	selCPUInfoCacheAlign
	nCPUInfo
)

// cpuInfoKeys: for each cpuinfo key (as printed, before the tab and colon), the
// value it gives. Where two keys give one value, the first of them the file prints
// for a CPU wins.
var cpuInfoKeys = map[string]int{
	"cpu MHz":         selCPUInfoClock,
	"vendor_id":       selCPUInfoVendor,
	"vendor":          selCPUInfoVendor,
	"CPU implementer": selCPUInfoVendor,
	"model":           selCPUInfoModel,
	"cpu model":       selCPUInfoModel,
	"CPU variant":     selCPUInfoModel,
	"stepping":        selCPUInfoStepping,
	"revision":        selCPUInfoStepping,
	"CPU revision":    selCPUInfoStepping,
	"cache size":      selCPUInfoCache,
	"bogomips":        selCPUInfoBogomips,
	"BogoMIPS":        selCPUInfoBogomips,
	"model name":      selCPUInfoModelName,
	"Hardware":        selCPUInfoModelName,
	"flags":           selCPUInfoFlags,
	"Features":        selCPUInfoFlags,
	"cache_alignment": selCPUInfoCacheAlign,
}

var cpuInfoHelp = map[int]helpText{
	selCPUInfoClock: {"clock speed of each CPU",
		"The \"cpu MHz\" line of the CPU's block in /proc/cpuinfo, in MHz. It changes as the\n" +
			"CPU's frequency does."},
	selCPUInfoVendor:   {"maker of each CPU", "The vendor_id line (CPU implementer on arm) of the CPU's block in /proc/cpuinfo."},
	selCPUInfoModel:    {"model number of each CPU", "The model line (CPU variant on arm) of the CPU's block in /proc/cpuinfo, as text."},
	selCPUInfoStepping: {"stepping (revision) of each CPU", "The stepping line (CPU revision on arm) of the CPU's block in /proc/cpuinfo, as text."},
	selCPUInfoCache: {"cache size of each CPU",
		"The \"cache size\" line of the CPU's block in /proc/cpuinfo, in kilobytes."},
	selCPUInfoBogomips: {"BogoMIPS of each CPU",
		"The bogomips line of the CPU's block in /proc/cpuinfo: the kernel's rough\n" +
			"loop-speed measure, not a benchmark."},
	selCPUInfoModelName: {"model name of each CPU", "The \"model name\" line (Hardware on arm) of the CPU's block in /proc/cpuinfo."},
	selCPUInfoFlags: {"feature flags of each CPU",
		"The flags line (Features on arm) of the CPU's block in /proc/cpuinfo, as\n" +
			"printed: the features the CPU and kernel support, separated by spaces."},
	selCPUInfoCacheAlign: {"cache line alignment of each CPU", "The cache_alignment line of the CPU's block in /proc/cpuinfo, in bytes."},
}

func init() {
	registerSource(&sourceSpec{
		name:   "cpuinfo",
		domain: DomainLinux,
		new:    func(e *env) Source { return &cpuInfoSource{file: newKfile(filepath.Join(e.procRoot, "cpuinfo"))} },
		metrics: []metricDef{
			{"hinv.cpu.clock", pmid(60, 18, 0), tFLT, indomCPU, semD, uPerUsec, selCPUInfoClock},
			{"hinv.cpu.vendor", pmid(60, 18, 1), tSTR, indomCPU, semD, uNone, selCPUInfoVendor},
			{"hinv.cpu.model", pmid(60, 18, 2), tSTR, indomCPU, semD, uNone, selCPUInfoModel},
			{"hinv.cpu.stepping", pmid(60, 18, 3), tSTR, indomCPU, semD, uNone, selCPUInfoStepping},
			{"hinv.cpu.cache", pmid(60, 18, 4), tU32, indomCPU, semD, uKB, selCPUInfoCache},
			{"hinv.cpu.bogomips", pmid(60, 18, 5), tFLT, indomCPU, semD, uNone, selCPUInfoBogomips},
			{"hinv.cpu.model_name", pmid(60, 18, 9), tSTR, indomCPU, semD, uNone, selCPUInfoModelName},
			{"hinv.cpu.flags", pmid(60, 18, 10), tSTR, indomCPU, semD, uNone, selCPUInfoFlags},
			{"hinv.cpu.cache_alignment", pmid(60, 18, 11), tU32, indomCPU, semD, uNone, selCPUInfoCacheAlign},
		},
		help: func(d metricDef) helpText { return cpuInfoHelp[d.sel] },
	})
	registerSource(&sourceSpec{
		name:   "cpufreq",
		domain: DomainLinux,
		new: func(e *env) Source {
			return &cpuFreqSource{dir: filepath.Join(e.sysRoot, "devices", "system", "cpu"), files: map[cpuFreqKey]*kfile{}}
		},
		metrics: []metricDef{
			{"hinv.cpu.thermal_throttle.core.count", pmid(60, 55, 2), tU64, indomCPU, semC, uCount, selThrottleCoreCount},
			{"hinv.cpu.thermal_throttle.core.time", pmid(60, 55, 3), tU64, indomCPU, semC, uMsec, selThrottleCoreTime},
			{"hinv.cpu.thermal_throttle.package.count", pmid(60, 55, 4), tU64, indomCPU, semC, uCount, selThrottlePkgCount},
			// The linux agent gives this one the units of a count, not of time.
			{"hinv.cpu.thermal_throttle.package.time", pmid(60, 55, 5), tU64, indomCPU, semC, uCount, selThrottlePkgTime},
			{"hinv.cpu.frequency_scaling.count", pmid(60, 55, 6), tU64, indomCPU, semC, uCount, selFreqCount},
			{"hinv.cpu.frequency_scaling.time", pmid(60, 55, 7), tU64, indomCPU, semC, uUsec, selFreqTime},
			{"hinv.cpu.frequency_scaling.max", pmid(60, 55, 8), tU32, indomCPU, semI, uPerUsec, selFreqMax},
			{"hinv.cpu.frequency_scaling.min", pmid(60, 55, 9), tU32, indomCPU, semI, uPerUsec, selFreqMin},
		},
		help: func(d metricDef) helpText { return cpuFreqHelp[d.sel] },
	})
}

// cpuInfoVal is one value of one CPU: the text after "key<tab>: ", and whether the
// file gave it.
type cpuInfoVal struct {
	s  string
	ok bool
}

type cpuInfoSource struct {
	file   *kfile
	buf    []byte
	cpus   []uint32               // CPU numbers, in file order
	vals   [][nCPUInfo]cpuInfoVal // by position in cpus
	shared [nCPUInfo]cpuInfoVal   // lines outside any CPU's block
}

// maxCPUNumber bounds the CPU numbers a file may name (the kernel's NR_CPUS limit is
// 8192 today); it keeps a hostile file from making huge instance ids.
const maxCPUNumber = 1 << 16

func (s *cpuInfoSource) read() error {
	b, err := s.file.read(s.buf)
	s.buf = b
	if err != nil {
		return err
	}
	s.cpus, s.vals = s.cpus[:0], s.vals[:0]
	s.shared = [nCPUInfo]cpuInfoVal{}
	cur := -1              // index in s.cpus of the block being read; -1: shared
	lastProcessor := false // the previous keyed line was a processor line
	shared := false
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue // blank lines between blocks
		}
		key := trimSpace(line[:colon])
		val := line[colon+1:]
		if len(val) > 0 && val[0] == ' ' {
			val = val[1:]
		}
		if string(key) == "processor" {
			n, ok := parseUint(trimSpace(val))
			if !ok || n >= maxCPUNumber {
				return fmt.Errorf("%s: %w: processor line %q", s.file.path, errParse, line)
			}
			if lastProcessor {
				shared = true // processor lines back to back: what follows is for all
			}
			if len(s.cpus) >= maxCPUNumber {
				return fmt.Errorf("%s: %w: more CPUs than any kernel has", s.file.path, errParse)
			}
			s.cpus = append(s.cpus, uint32(n))
			s.vals = append(s.vals, [nCPUInfo]cpuInfoVal{})
			cur = len(s.cpus) - 1
			if shared {
				cur = -1
			}
			lastProcessor = true
			continue
		}
		lastProcessor = false
		sel, ok := cpuInfoKeys[string(key)]
		if !ok {
			continue
		}
		dst := &s.shared
		if cur >= 0 {
			dst = &s.vals[cur]
		}
		if !dst[sel].ok {
			dst[sel] = cpuInfoVal{string(bytes.TrimRight(val, " \t\r")), true}
		}
	}
	return nil
}

func (s *cpuInfoSource) Fetch(reqs []Request) error {
	if err := s.read(); err != nil {
		return err
	}
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= nCPUInfo {
			continue
		}
		for i, cpu := range s.cpus {
			v := s.vals[i][rq.Sel]
			if !v.ok {
				v = s.shared[rq.Sel]
			}
			if !v.ok {
				continue
			}
			putCPUInfo(rq.Res, cpu, rq.Sel, v.s)
		}
	}
	return nil
}

// putCPUInfo adds one CPU's value, converted to the metric's type; a number that
// does not parse gives no value.
func putCPUInfo(res *Result, cpu uint32, sel int, s string) {
	switch sel {
	case selCPUInfoClock, selCPUInfoBogomips:
		if f, err := strconv.ParseFloat(s, 32); err == nil && f >= 0 {
			putF(res, cpu, f)
		}
	case selCPUInfoCache:
		// "1024 KB"
		num, unit := nextField([]byte(s))
		u, _ := nextField(unit)
		if v, ok := parseUint(num); ok && v <= 1<<32-1 && (len(u) == 0 || string(u) == "KB") {
			putU(res, cpu, v)
		}
	case selCPUInfoCacheAlign:
		if v, ok := parseUint([]byte(s)); ok && v <= 1<<32-1 {
			putU(res, cpu, v)
		}
	default:
		putS(res, cpu, s)
	}
}

// The cpufreq source.

const (
	selThrottleCoreCount = iota
	selThrottleCoreTime
	selThrottlePkgCount
	selThrottlePkgTime
	selFreqCount
	selFreqTime
	selFreqMax
	selFreqMin
)

var cpuFreqHelp = map[int]helpText{
	selThrottleCoreCount: {"times each CPU's core was throttled for heat",
		"thermal_throttle/core_throttle_count under /sys/devices/system/cpu/cpuN (Intel\n" +
			"CPUs); no value where the file is missing."},
	selThrottleCoreTime: {"time each CPU's core spent throttled for heat",
		"thermal_throttle/core_throttle_total_time_ms under /sys/devices/system/cpu/cpuN,\n" +
			"in milliseconds; no value where the file is missing."},
	selThrottlePkgCount: {"times each CPU's package was throttled for heat",
		"thermal_throttle/package_throttle_count under /sys/devices/system/cpu/cpuN; no\n" +
			"value where the file is missing."},
	selThrottlePkgTime: {"time each CPU's package spent throttled for heat",
		"thermal_throttle/package_throttle_total_time_ms under /sys/devices/system/cpu/cpuN\n" +
			"(milliseconds, though the metric's units are those of a count, as the linux\n" +
			"agent has them); no value where the file is missing."},
	selFreqCount: {"frequency-weighted time of each CPU",
		"Over the lines \"kHz time\" of cpufreq/stats/time_in_state under\n" +
			"/sys/devices/system/cpu/cpuN: the sum of MHz times time, the time in the\n" +
			"file's own units (10 ms). No value without that file, or when it does not\n" +
			"list exactly the frequencies of cpufreq/scaling_available_frequencies."},
	selFreqTime: {"time each CPU's frequency statistics cover",
		"The sum of the time column of cpufreq/stats/time_in_state under\n" +
			"/sys/devices/system/cpu/cpuN, in the file's own units (10 ms). No value\n" +
			"without that file, or when it does not list exactly the frequencies of\n" +
			"cpufreq/scaling_available_frequencies."},
	selFreqMax: {"highest frequency of each CPU",
		"cpufreq/cpuinfo_max_freq under /sys/devices/system/cpu/cpuN, in MHz; no value\n" +
			"without a cpufreq driver."},
	selFreqMin: {"lowest frequency of each CPU",
		"cpufreq/cpuinfo_min_freq under /sys/devices/system/cpu/cpuN, in MHz; no value\n" +
			"without a cpufreq driver."},
}

// cpuFreqFiles: the file each metric reads, under cpuN.
var cpuFreqFiles = [...]string{
	selThrottleCoreCount: "thermal_throttle/core_throttle_count",
	selThrottleCoreTime:  "thermal_throttle/core_throttle_total_time_ms",
	selThrottlePkgCount:  "thermal_throttle/package_throttle_count",
	selThrottlePkgTime:   "thermal_throttle/package_throttle_total_time_ms",
	selFreqCount:         "cpufreq/stats/time_in_state",
	selFreqTime:          "cpufreq/stats/time_in_state",
	selFreqMax:           "cpufreq/cpuinfo_max_freq",
	selFreqMin:           "cpufreq/cpuinfo_min_freq",
}

type cpuFreqKey struct {
	cpu  uint32
	file string
}

type cpuFreqSource struct {
	dir     string
	dirBuf  []byte
	buf     []byte
	cpus    []uint32
	vals    [][len(cpuFreqFiles)]optU // by position in cpus
	freqs   []uint64                  // scratch: a CPU's available frequencies
	files   map[cpuFreqKey]*kfile
	partial atomic.Uint64
}

// PartialErrors counts fetches in which some CPU's file held garbage.
func (s *cpuFreqSource) PartialErrors() uint64 { return s.partial.Load() }

func (s *cpuFreqSource) listCPUs() error {
	s.cpus = s.cpus[:0]
	var err error
	s.dirBuf, err = listDir(s.dir, s.dirBuf, func(_ int, name []byte) {
		if len(name) > 3 && string(name[:3]) == "cpu" {
			if n, ok := parseUint(name[3:]); ok && n < maxCPUNumber && len(s.cpus) < maxCPUNumber {
				s.cpus = append(s.cpus, uint32(n))
			}
		}
	})
	return err
}

func (s *cpuFreqSource) Fetch(reqs []Request) error {
	if err := s.listCPUs(); err != nil {
		return err
	}
	var need [len(cpuFreqFiles)]bool
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < len(need) {
			need[rq.Sel] = true
		}
	}
	need[selFreqCount] = need[selFreqCount] || need[selFreqTime] // one file
	// Each needed file of each CPU is read once, whatever the requests.
	s.vals = s.vals[:0]
	bad := false
	for _, cpu := range s.cpus {
		var v [len(cpuFreqFiles)]optU
		for sel, ok := range need {
			if !ok || sel == selFreqTime {
				continue
			}
			if sel == selFreqCount {
				// The frequencies time_in_state must list, read first (the
				// buffer is reused): without them no sum can be trusted.
				b, err := s.readFile(cpu, "cpufreq/scaling_available_frequencies")
				if err != nil {
					bad = bad || !errors.Is(err, fs.ErrNotExist)
					continue
				}
				if s.freqs, err = parseFreqList(b, s.freqs[:0]); err != nil {
					bad = true
					continue
				}
			}
			b, err := s.readFile(cpu, cpuFreqFiles[sel])
			if errors.Is(err, fs.ErrNotExist) {
				continue // no such driver or feature: no value
			}
			if err != nil {
				bad = true
				continue
			}
			if sel == selFreqCount {
				c, t, err := parseTimeInState(b, s.freqs)
				if err != nil {
					bad = true
				}
				v[selFreqCount], v[selFreqTime] = c, t
				continue
			}
			u, ok := parseUint(trimSpace(b))
			if !ok {
				bad = true
				continue
			}
			if sel == selFreqMax || sel == selFreqMin {
				u /= 1000 // kHz to MHz
				if u > 1<<32-1 {
					bad = true
					continue
				}
			}
			v[sel] = optU{u, true}
		}
		s.vals = append(s.vals, v)
	}
	if bad {
		s.partial.Add(1)
	}
	for _, rq := range reqs {
		if rq.Sel < 0 || rq.Sel >= len(cpuFreqFiles) {
			continue
		}
		for i, cpu := range s.cpus {
			putOptU(rq.Res, cpu, s.vals[i][rq.Sel])
		}
	}
	return nil
}

func (s *cpuFreqSource) readFile(cpu uint32, name string) ([]byte, error) {
	k := cpuFreqKey{cpu, name}
	f := s.files[k]
	if f == nil {
		if len(s.files) >= 8*maxCPUNumber {
			return nil, fmt.Errorf("%s: %w: too many CPUs", s.dir, errParse)
		}
		f = newKfile(filepath.Join(s.dir, "cpu"+strconv.FormatUint(uint64(cpu), 10), name))
		s.files[k] = f
	}
	b, err := f.read(s.buf)
	s.buf = b
	return b, err
}

// parseFreqList parses scaling_available_frequencies, kHz values separated by spaces.
func parseFreqList(b []byte, out []uint64) ([]uint64, error) {
	for r := b; ; {
		var f []byte
		f, r = nextField(r)
		if len(f) == 0 {
			break
		}
		v, ok := parseUint(f)
		if !ok || len(out) >= 1024 {
			return out, fmt.Errorf("%w: available frequencies %q", errParse, b)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return out, fmt.Errorf("%w: no available frequencies", errParse)
	}
	return out, nil
}

// parseTimeInState sums the "kHz time" lines of cpufreq/stats/time_in_state: count is
// the sum of MHz times time, time the sum of the times. The file must list each of
// the CPU's available frequencies (avail) once and no other: a file that lost lines
// would give smaller sums, wrong numbers rather than missing ones.
func parseTimeInState(b []byte, avail []uint64) (count, time optU, err error) {
	lines := 0
	var seen [1024]bool
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		f1, r := nextField(line)
		if len(f1) == 0 {
			continue
		}
		f2, r := nextField(r)
		extra, _ := nextField(r)
		khz, ok1 := parseUint(f1)
		t, ok2 := parseUint(f2)
		if !ok1 || !ok2 || len(extra) > 0 {
			return optU{}, optU{}, fmt.Errorf("%w: time_in_state line %q", errParse, line)
		}
		i := slices.Index(avail, khz)
		if i < 0 || seen[i] {
			return optU{}, optU{}, fmt.Errorf("%w: time_in_state line %q: not an available frequency, or twice", errParse, line)
		}
		seen[i] = true
		mhz := khz / 1000
		if mhz != 0 && t > (1<<64-1-count.v)/mhz || time.v > 1<<64-1-t {
			return optU{}, optU{}, fmt.Errorf("%w: time_in_state overflows", errParse)
		}
		count.v += mhz * t
		time.v += t
		lines++
	}
	if lines != len(avail) {
		return optU{}, optU{}, fmt.Errorf("%w: time_in_state lists %d of %d available frequencies", errParse, lines, len(avail))
	}
	count.ok, time.ok = true, true
	return count, time, nil
}

// uPerUsec is "per microsecond" (MHz, as the linux agent gives frequencies): time
// dimension -1, time scale PM_TIME_USEC.
const uPerUsec = protocol.Units(0x0f001000)
