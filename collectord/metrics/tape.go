package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/gopcp/gopcp/protocol"
)

// The "tape" and "fchost" sources: per-device statistics that sysfs keeps as one
// number per file, for SCSI tape drives in /sys/class/scsi_tape/st<N>/stats/
// (tape.dev.*, hinv.ntape; the nst<N> and st<N>a names are the same drive and are
// skipped, as the linux agent does) and for Fibre Channel hosts in
// /sys/class/fc_host/host<N>/statistics/ (fchost.*, hinv.nfchost; the word counts
// are turned into bytes, four to a word). A device without its statistics
// directory is not an instance. A system without the class directory has no such
// devices: no instances, counts of 0, and no error. A file that is not a number
// fails its metric (fails closed; the device count and other metrics stand); a file the kernel leaves out, or an fc_host
// count of all ones (the driver does not keep it), has no value. procfs reads
// fc_host but gives 0 for a count it cannot read, and has no scsi_tape reader.

var (
	indomTape   = protocol.NewInDom(DomainLinux, 34)
	indomFCHost = protocol.NewInDom(DomainLinux, 39)
)

// sysStatFile is one statistics file of a device.
type sysStatFile struct {
	metric string
	item   uint32
	file   string
	sem    int32
	units  protocol.Units
	shift  uint // the value is multiplied by 1<<shift
	hex    bool // the file is 0x-prefixed hexadecimal
	what   string
}

var tapeFiles = []sysStatFile{
	{"tape.dev.in_flight", 0, "in_flight", semI, uCount, 0, false, "I/O requests outstanding on each tape drive"},
	{"tape.dev.io_ns", 1, "io_ns", semC, uNsec, 0, false, "time each tape drive spent on I/O"},
	{"tape.dev.other_cnt", 2, "other_cnt", semC, uCount, 0, false, "I/O requests other than reads and writes on each tape drive"},
	{"tape.dev.read_byte_cnt", 3, "read_byte_cnt", semC, uByte, 0, false, "bytes read from each tape drive"},
	{"tape.dev.read_cnt", 4, "read_cnt", semC, uCount, 0, false, "reads from each tape drive"},
	{"tape.dev.read_ns", 5, "read_ns", semC, uNsec, 0, false, "time each tape drive spent reading"},
	{"tape.dev.resid_cnt", 6, "resid_cnt", semC, uCount, 0, false, "reads or writes each tape drive left short"},
	{"tape.dev.write_byte_cnt", 7, "write_byte_cnt", semC, uByte, 0, false, "bytes written to each tape drive"},
	{"tape.dev.write_cnt", 8, "write_cnt", semC, uCount, 0, false, "writes to each tape drive"},
	{"tape.dev.write_ns", 9, "write_ns", semC, uNsec, 0, false, "time each tape drive spent writing"},
}

var fchostFiles = []sysStatFile{
	{"fchost.in.frames", 0, "rx_frames", semC, uCount, 0, true, "frames each Fibre Channel host received"},
	{"fchost.out.frames", 1, "tx_frames", semC, uCount, 0, true, "frames each Fibre Channel host sent"},
	{"fchost.in.bytes", 2, "rx_words", semC, uByte, 2, true, "bytes each Fibre Channel host received"},
	{"fchost.out.bytes", 3, "tx_words", semC, uByte, 2, true, "bytes each Fibre Channel host sent"},
	{"fchost.lip_count", 4, "lip_count", semC, uCount, 0, true, "loop initialisations of each Fibre Channel host"},
	{"fchost.nos_count", 5, "nos_count", semC, uCount, 0, true, "not-operational sequences each Fibre Channel host received"},
	{"fchost.error_frames", 6, "error_frames", semC, uCount, 0, true, "frames in error each Fibre Channel host received"},
	{"fchost.dumped_frames", 7, "dumped_frames", semC, uCount, 0, true, "frames each Fibre Channel host dropped"},
}

// sysStatsSpec is one of the two sources.
type sysStatsSpec struct {
	source  string
	indom   protocol.InDom
	class   string // under /sys/class
	statDir string // per device
	files   []sysStatFile
	cluster uint32
	count   string // the hinv.* count metric
	countIt uint32
	device  func(name string) bool
}

var sysStatsSpecs = []sysStatsSpec{
	{"tape", indomTape, "scsi_tape", "stats", tapeFiles, 71, "hinv.ntape", 16, isTapeDrive},
	{"fchost", indomFCHost, "fc_host", "statistics", fchostFiles, 91, "hinv.nfchost", 16, func(string) bool { return true }},
}

// isTapeDrive: st<N> only (nst<N>, st<N>a, ... are other views of one drive).
func isTapeDrive(n string) bool {
	if len(n) < 3 || n[:2] != "st" {
		return false
	}
	_, err := strconv.ParseUint(n[2:], 10, 32)
	return err == nil
}

func init() {
	setOwnInDomHelp(indomTape, "SCSI tape drives", "Each st<N> of /sys/class/scsi_tape with a stats directory.")
	setOwnInDomHelp(indomFCHost, "Fibre Channel hosts", "Each host<N> of /sys/class/fc_host with a statistics directory.")
	for _, sp := range sysStatsSpecs {
		sp := sp
		defs := make([]metricDef, 0, len(sp.files)+1)
		for i, f := range sp.files {
			defs = append(defs, metricDef{f.metric, pmid(60, sp.cluster, f.item), tU64, sp.indom, f.sem, f.units, i})
		}
		defs = append(defs, metricDef{sp.count, pmid(60, sp.cluster, sp.countIt), tU32, null, semD, uNone, len(sp.files)})
		registerSource(&sourceSpec{
			name:   sp.source,
			domain: DomainLinux,
			indoms: []protocol.InDom{sp.indom},
			new: func(e *env) Source {
				return &sysStatsSource{spec: &sp, dir: filepath.Join(e.sysRoot, "class", sp.class)}
			},
			metrics: defs,
			help: func(d metricDef) helpText {
				dir := "/sys/class/" + sp.class + "/<device>/" + sp.statDir + "/"
				if d.sel == len(sp.files) {
					return helpText{"number of " + map[string]string{"tape": "SCSI tape drives", "fchost": "Fibre Channel hosts"}[sp.source],
						"The devices of /sys/class/" + sp.class + " with a " + sp.statDir + " directory."}
				}
				if d.sel < 0 || d.sel > len(sp.files) {
					return helpText{}
				}
				f := sp.files[d.sel]
				long := "The number in " + dir + f.file
				if f.shift == 2 {
					long += ", a count of 4-byte words,\ntimes four"
				}
				return helpText{f.what, long + ". No value when the file is missing."}
			},
		})
	}
}

type sysStatsDevice struct {
	id   uint32
	vals []optU
}

type sysStatsSource struct {
	spec    *sysStatsSpec
	dir     string
	dirBuf  []byte
	buf     []byte
	fileErr []error // per statistics file, from the last read
	partial atomic.Uint64
	ids     idCache
	devices []sysStatsDevice
}

func (s *sysStatsSource) read(values bool) error {
	s.devices = s.devices[:0]
	clear(s.fileErr)
	var names []string
	var err error
	s.dirBuf, err = listDir(s.dir, s.dirBuf, func(_ int, name []byte) {
		if n := string(name); len(names) < 1<<14 && n[0] != '.' && s.spec.device(n) {
			names = append(names, n)
		}
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no such devices on this system
	}
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		stats := filepath.Join(s.dir, n, s.spec.statDir)
		// A device without its statistics directory is not an instance.
		if s.dirBuf, err = listDir(stats, s.dirBuf, func(int, []byte) {}); err != nil {
			continue
		}
		d := sysStatsDevice{id: s.ids.idString(n)}
		if values {
			if s.fileErr == nil {
				s.fileErr = make([]error, len(s.spec.files))
			}
			d.vals = make([]optU, len(s.spec.files))
			for i, f := range s.spec.files {
				d.vals[i], s.fileErr[i] = s.readStat(filepath.Join(stats, f.file), f, s.fileErr[i])
			}
		}
		s.devices = append(s.devices, d)
	}
	return nil
}

// readStat reads one statistics file. A missing file, a count of all ones in an
// fc_host file (the driver does not keep it) and a value that would overflow give
// no value; a file that is not a number fails that metric (prev keeps an earlier
// device's failure): one error per metric, the device count and others stand.
func (s *sysStatsSource) readStat(path string, f sysStatFile, prev error) (optU, error) {
	b, err := readFile(path, s.buf)
	s.buf = b
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return optU{}, prev
	case err != nil:
		return optU{}, err
	}
	v, ok := parseStatNumber(trimSpace(b), f.hex)
	switch {
	case !ok:
		return optU{}, fmt.Errorf("%s: %w: %.40q", path, errParse, b)
	case f.hex && v == 1<<64-1, v > (1<<64-1)>>f.shift:
		return optU{}, prev
	}
	return optU{v << f.shift, true}, prev
}

// parseStatNumber reads a decimal number, or a 0x-prefixed hexadecimal one when
// hex is set (the fc_host statistics; some drivers print them in decimal).
func parseStatNumber(b []byte, hex bool) (uint64, bool) {
	if hex && len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		if len(b) > 18 {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[2:]), 16, 64)
		return v, err == nil
	}
	return parseUint(b)
}

func (s *sysStatsSource) Fetch(reqs []Request) error {
	values := false
	for _, rq := range reqs {
		values = values || rq.Sel < len(s.spec.files)
	}
	if err := s.read(values); err != nil {
		return err
	}
	failed := false
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < len(s.fileErr) && s.fileErr[rq.Sel] != nil {
			failed = true
		}
	}
	if failed {
		s.partial.Add(1)
	}
	for _, rq := range reqs {
		if rq.Sel >= 0 && rq.Sel < len(s.fileErr) && s.fileErr[rq.Sel] != nil {
			rq.Res.Err = errCode(s.fileErr[rq.Sel])
			continue
		}
		if rq.Sel == len(s.spec.files) {
			putU(rq.Res, protocol.InNull, uint64(len(s.devices)))
			continue
		}
		if rq.Sel < 0 || rq.Sel > len(s.spec.files) {
			continue
		}
		for _, d := range s.devices {
			putOptU(rq.Res, d.id, d.vals[rq.Sel])
		}
	}
	return nil
}

// PartialErrors counts fetches in which a statistics file failed its metric.
func (s *sysStatsSource) PartialErrors() uint64 { return s.partial.Load() }

func (s *sysStatsSource) Instances(protocol.InDom) ([]Instance, error) {
	if err := s.read(false); err != nil {
		return nil, err
	}
	out := make([]Instance, len(s.devices))
	for i, d := range s.devices {
		out[i] = Instance{ID: d.id, Name: s.ids.name(d.id)}
	}
	return out, nil
}
