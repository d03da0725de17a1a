package metrics

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gopcp/gopcp/protocol"
)

// The "pmtools" source: the PCP tools running beside the collector, found where
// pmcd finds them. pmcd.pmlogger.* (cluster 3, instance domain 2.1) come from
// pmlogger's control-port files in $PCP_TMP_DIR/pmlogger: one file per running
// pmlogger, named by its process id (and "primary", a symbolic link to the
// primary logger's file), holding three lines: the control port, the host of
// the pmcd it logs and the archive's base name. pmcd.pmie.* (cluster 5,
// instance domain 2.4) come from the statistics files pmie keeps in
// $PCP_TMP_DIR/pmie: one per running pmie, named by its process id, a fixed
// binary record (pmie's pmiestats_t: three NUL-terminated strings of 4097,
// 4097 and 65 bytes, a float and seven unsigned 32-bit words in the machine's
// byte order, version 1, 8292 bytes in all); the primary pmie, named in
// $PCP_RUN_DIR/pmie.pid, is listed again as instance 0 "primary", as pmcd does.
//
// A file whose process has gone (no <ProcRoot>/<pid>) is stale, not an error, and
// is skipped. A file that is not a regular file, has the wrong size or version,
// a string without its NUL, a port that is not a number in 0..65535 or a line
// longer than pmcd reads is skipped too and counted as a partial source error:
// a forged or truncated file gives no instance rather than a wrong value. Only
// "primary" may be a symbolic link, and only to a file in the same folder.
//
// PCP_TMP_DIR and PCP_RUN_DIR come from the environment, else from
// <EtcRoot>/pcp.conf, else Debian's defaults; they are looked up under RootFS
// (the host's root), so tests point the source at a fixture. These files are
// hand-parsed: procfs knows nothing of PCP's files.

const (
	selLoggerPort = iota
	selLoggerPMCDHost
	selLoggerArchive
	selLoggerHost
	selPmieConfig
	selPmieLogfile
	selPmieHost
	selPmieNumRules
	selPmieActions
	selPmieTrue
	selPmieFalse
	selPmieUnknown
	selPmieExpected
	selPmieActual
)

var indomPmies = protocol.NewInDom(DomainPMCD, 4)

// The layout of pmie's pmiestats_t (Linux: MAXPATHLEN 4096, MAXHOSTNAMELEN 64).
const (
	pmieStatsSize  = 8292
	pmiePathLen    = 4097
	pmieHostLen    = 65
	pmieLogOff     = pmiePathLen
	pmieHostOff    = 2 * pmiePathLen
	pmieNumOff     = 8260 // eval_expected, then the seven words
	pmieVersion    = 1
	loggerMaxLine  = 4095 // what pmcd's fgets into a MAXPATHLEN buffer reads whole
	loggerMaxBytes = 3 * (loggerMaxLine + 1)
)

func init() {
	setOwnInDomHelp(indomPMLoggers, "archive loggers running on this machine",
		"One instance per running pmlogger found in $PCP_TMP_DIR/pmlogger, numbered\n"+
			"by its process id and named by its control file's name; the primary\n"+
			"logger also appears as instance 0 \"primary\". Empty when none runs.")
	setOwnInDomHelp(indomPmies, "inference engines running on this machine",
		"One instance per running pmie whose statistics file is in $PCP_TMP_DIR/pmie,\n"+
			"numbered by its process id and named by it; the primary pmie (the one\n"+
			"$PCP_RUN_DIR/pmie.pid names) also appears as instance 0 \"primary\".")
	for _, h := range []struct {
		p             protocol.PMID
		oneline, help string
	}{
		{pmid(2, 3, 0), "control port of each running archive logger",
			"The first line of the logger's file in $PCP_TMP_DIR/pmlogger: the TCP port\n" +
				"on which it takes pmlc's requests."},
		{pmid(2, 3, 1), "host of the pmcd each archive logger records",
			"The second line of the logger's file in $PCP_TMP_DIR/pmlogger; empty when\n" +
				"the file has no second line."},
		{pmid(2, 3, 2), "archive base name of each running logger",
			"The third line of the logger's file in $PCP_TMP_DIR/pmlogger: the archive\n" +
				"it writes, without the .0/.meta/.index suffix; empty when absent."},
		{pmid(2, 5, 0), "rules file of each running pmie",
			"The configuration file named in the pmie's statistics file in\n" +
				"$PCP_TMP_DIR/pmie."},
		{pmid(2, 5, 1), "log file of each running pmie",
			"The log file named in the pmie's statistics file in $PCP_TMP_DIR/pmie."},
		{pmid(2, 5, 2), "default host each running pmie evaluates",
			"The fully qualified name of the pmie's default host, from its statistics\n" +
				"file in $PCP_TMP_DIR/pmie."},
		{pmid(2, 5, 3), "rules loaded by each running pmie",
			"The number of rules in the pmie's configuration, from its statistics file\n" +
				"in $PCP_TMP_DIR/pmie."},
		{pmid(2, 5, 4), "actions each running pmie has fired",
			"Count of rule actions the pmie has run, from its statistics file in\n" +
				"$PCP_TMP_DIR/pmie."},
		{pmid(2, 5, 5), "rule evaluations that were true",
			"Count of the pmie's rule evaluations with a true result, from its\n" +
				"statistics file in $PCP_TMP_DIR/pmie."},
		{pmid(2, 5, 6), "rule evaluations that were false",
			"Count of the pmie's rule evaluations with a false result, from its\n" +
				"statistics file in $PCP_TMP_DIR/pmie."},
		{pmid(2, 5, 7), "rule evaluations without a result",
			"Count of the pmie's rule evaluations whose truth could not be decided\n" +
				"(missing values), from its statistics file in $PCP_TMP_DIR/pmie."},
		{pmid(2, 5, 8), "rule evaluations each pmie is meant to make per second",
			"The evaluation rate the pmie's rules ask for, from its statistics file in\n" +
				"$PCP_TMP_DIR/pmie."},
		{pmid(2, 5, 9), "rule evaluations each pmie has made",
			"Count of rule evaluations the pmie has made, from its statistics file in\n" +
				"$PCP_TMP_DIR/pmie."},
	} {
		helpPMID[h.p] = helpText{h.oneline, h.help}
	}
	registerSource(&sourceSpec{
		name:   "pmtools",
		domain: DomainPMCD,
		indoms: []protocol.InDom{indomPMLoggers, indomPmies},
		new:    func(e *env) Source { return &pmtoolsSource{env: e} },
		metrics: []metricDef{
			{"pmcd.pmlogger.port", pmid(2, 3, 0), tU32, indomPMLoggers, semD, uNone, selLoggerPort},
			{"pmcd.pmlogger.pmcd_host", pmid(2, 3, 1), tSTR, indomPMLoggers, semD, uNone, selLoggerPMCDHost},
			{"pmcd.pmlogger.archive", pmid(2, 3, 2), tSTR, indomPMLoggers, semD, uNone, selLoggerArchive},
			{"pmcd.pmlogger.host", pmid(2, 3, 3), tSTR, indomPMLoggers, semD, uNone, selLoggerHost},
			{"pmcd.pmie.configfile", pmid(2, 5, 0), tSTR, indomPmies, semD, uNone, selPmieConfig},
			{"pmcd.pmie.logfile", pmid(2, 5, 1), tSTR, indomPmies, semD, uNone, selPmieLogfile},
			{"pmcd.pmie.pmcd_host", pmid(2, 5, 2), tSTR, indomPmies, semD, uNone, selPmieHost},
			{"pmcd.pmie.numrules", pmid(2, 5, 3), tU32, indomPmies, semD, uNone, selPmieNumRules},
			{"pmcd.pmie.actions", pmid(2, 5, 4), tU32, indomPmies, semC, uCount, selPmieActions},
			{"pmcd.pmie.eval.true", pmid(2, 5, 5), tU32, indomPmies, semC, uCount, selPmieTrue},
			{"pmcd.pmie.eval.false", pmid(2, 5, 6), tU32, indomPmies, semC, uCount, selPmieFalse},
			{"pmcd.pmie.eval.unknown", pmid(2, 5, 7), tU32, indomPmies, semC, uCount, selPmieUnknown},
			{"pmcd.pmie.eval.expected", pmid(2, 5, 8), tFLT, indomPmies, semD, uCPS, selPmieExpected},
			{"pmcd.pmie.eval.actual", pmid(2, 5, 9), tU32, indomPmies, semC, uCount, selPmieActual},
		},
	})
}

type pmtoolsSource struct {
	env     *env
	dirs    bool // tmpDir and runDir worked out
	tmpDir  string
	runDir  string
	buf     []byte
	partial atomic.Uint64
}

// PartialErrors counts files skipped as malformed or forged.
func (s *pmtoolsSource) PartialErrors() uint64 { return s.partial.Load() }

// pmLogger is one running pmlogger's control file.
type pmLogger struct {
	id             uint32
	name           string
	port           uint32
	pmcdHost, arch string
}

// pmie is one running pmie's statistics.
type pmie struct {
	id                                 uint32
	name                               string
	config, logfile, host              string
	expected                           float32
	numRules, actions, evTrue, evFalse uint32
	evUnknown, evActual                uint32
}

// pcpDirs works out PCP_TMP_DIR and PCP_RUN_DIR once, under RootFS.
func (s *pmtoolsSource) pcpDirs() {
	if s.dirs {
		return
	}
	s.dirs = true
	conf := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(s.env.etcRoot, "pcp.conf")); err == nil && len(b) < 1<<20 {
		for rest := b; len(rest) > 0; {
			var line []byte
			line, rest = nextLine(rest)
			if k, v, ok := bytes.Cut(trimSpace(line), []byte("=")); ok && len(k) > 0 && k[0] != '#' {
				conf[string(k)] = string(v)
			}
		}
	}
	dir := func(key, def string) string {
		v := s.env.getenv(key)
		if v == "" {
			v = conf[key]
		}
		if v == "" || !filepath.IsAbs(v) {
			v = def
		}
		return filepath.Join(s.env.rootFS, v)
	}
	s.tmpDir = dir("PCP_TMP_DIR", "/var/lib/pcp/tmp")
	s.runDir = dir("PCP_RUN_DIR", "/run/pcp")
}

// alive reports whether process pid exists: whether <ProcRoot>/<pid> opens as a
// directory. It is opened rather than stat'ed so that the reading shows like any
// other (the /proc fault matrix learns from inotify which metrics read what).
func (s *pmtoolsSource) alive(pid uint64) bool {
	fd, err := unix.Open(filepath.Join(s.env.procRoot, strconv.FormatUint(pid, 10)), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// pidName parses a file name that is a process id above 1 (pmcd's rule for
// port files; a pmie is never process 1 either).
func pidName(name string) (uint64, bool) {
	v, ok := parseUint([]byte(name))
	return v, ok && v > 1 && v <= math.MaxInt32
}

// readBounded reads a regular file of at most max bytes, refusing to follow a
// symbolic link, in one buffer reused across calls. It returns errTooBig when
// the file holds more than max bytes.
func (s *pmtoolsSource) readBounded(path string, max int) ([]byte, error) {
	if fileHook != nil {
		fileHook(path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file", path, errParse)
	}
	if cap(s.buf) < max+1 {
		s.buf = make([]byte, max+1)
	}
	n, err := io.ReadFull(f, s.buf[:max+1])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("%s: %w: longer than %d bytes", path, errParse, max)
	}
	return s.buf[:n], nil
}

// loggers lists the running pmloggers, by file name order.
func (s *pmtoolsSource) loggers() ([]pmLogger, error) {
	s.pcpDirs()
	dir := filepath.Join(s.tmpDir, "pmlogger")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no logger has ever run here
	}
	if err != nil {
		return nil, err
	}
	var out []pmLogger
	primary := false
	for _, de := range ents {
		name := de.Name()
		if name == "primary" {
			primary = true
			continue
		}
		pid, ok := pidName(name)
		if !ok || !s.alive(pid) {
			continue
		}
		b, err := s.readBounded(filepath.Join(dir, name), loggerMaxBytes)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the logger exited meanwhile
		}
		l, ok := parseLoggerFile(b)
		if err != nil || !ok {
			s.partial.Add(1)
			continue
		}
		l.id, l.name = uint32(pid), name
		out = append(out, l)
	}
	if primary {
		// The one link allowed: pmlogger points "primary" at its own file here.
		// It is not read again: it repeats the entry of the file it names.
		if l, ok := s.primaryLogger(dir, out); ok {
			out = append(out, l)
		}
	}
	return out, nil
}

// primaryLogger is the entry of the logger "primary" links to, as instance 0.
// A link that leads out of the folder is counted as an error; one to a logger
// that has gone is not.
func (s *pmtoolsSource) primaryLogger(dir string, ls []pmLogger) (pmLogger, bool) {
	target, err := filepath.EvalSymlinks(filepath.Join(dir, "primary"))
	if err != nil {
		return pmLogger{}, false // dangling: the primary logger has gone
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil || filepath.Dir(target) != realDir {
		s.partial.Add(1)
		return pmLogger{}, false
	}
	for _, l := range ls {
		if l.name == filepath.Base(target) {
			l.id, l.name = 0, "primary"
			return l, true
		}
	}
	return pmLogger{}, false
}

// parseLoggerFile reads the port line (digits, then a newline) and the optional
// pmcd host and archive lines.
func parseLoggerFile(b []byte) (pmLogger, bool) {
	var l pmLogger
	line, rest := nextLine(b)
	if len(rest) == 0 && (len(b) == 0 || b[len(b)-1] != '\n') {
		return l, false // no newline after the port: pmcd refuses it too
	}
	port, ok := parseUint(line)
	if !ok || port > 65535 || len(line) > loggerMaxLine {
		return l, false
	}
	l.port = uint32(port)
	lines := [2]*string{&l.pmcdHost, &l.arch}
	for _, dst := range lines {
		if len(rest) == 0 {
			break
		}
		line, rest = nextLine(rest)
		if len(line) > loggerMaxLine || bytes.IndexByte(line, 0) >= 0 {
			return l, false
		}
		*dst = string(line)
	}
	return l, true
}

// pmies lists the running pmies by process id, then "primary".
func (s *pmtoolsSource) pmies() ([]pmie, error) {
	s.pcpDirs()
	dir := filepath.Join(s.tmpDir, "pmie")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []pmie
	for _, de := range ents {
		pid, ok := pidName(de.Name())
		if !ok || !s.alive(pid) {
			continue
		}
		b, err := s.readBounded(filepath.Join(dir, de.Name()), pmieStatsSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		p, ok := parsePmieStats(b)
		if err != nil || !ok {
			s.partial.Add(1)
			continue
		}
		p.id, p.name = uint32(pid), de.Name()
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	if primary, ok := s.primaryPmie(); ok {
		for _, p := range out {
			if p.id == uint32(primary) {
				p.id, p.name = 0, "primary"
				out = append([]pmie{p}, out...)
				break
			}
		}
	}
	return out, nil
}

// primaryPmie is the process id in $PCP_RUN_DIR/pmie.pid.
func (s *pmtoolsSource) primaryPmie() (uint64, bool) {
	b, err := s.readBounded(filepath.Join(s.runDir, "pmie.pid"), 64)
	if err != nil {
		return 0, false
	}
	f, _ := nextField(b)
	return pidName(string(f))
}

// parsePmieStats decodes one pmiestats_t; ok is false for anything but a whole
// version-1 record whose strings end inside their fields.
func parsePmieStats(b []byte) (pmie, bool) {
	var p pmie
	if len(b) != pmieStatsSize {
		return p, false
	}
	str := func(off, n int) (string, bool) {
		f := b[off : off+n]
		i := bytes.IndexByte(f, 0)
		if i < 0 {
			return "", false
		}
		return string(f[:i]), true
	}
	var ok1, ok2, ok3 bool
	p.config, ok1 = str(0, pmiePathLen)
	p.logfile, ok2 = str(pmieLogOff, pmiePathLen)
	p.host, ok3 = str(pmieHostOff, pmieHostLen)
	w := func(i int) uint32 { return binary.NativeEndian.Uint32(b[pmieNumOff+4*i:]) }
	if !ok1 || !ok2 || !ok3 || w(7) != pmieVersion {
		return p, false
	}
	p.expected = math.Float32frombits(w(0))
	p.numRules, p.actions, p.evTrue, p.evFalse, p.evUnknown, p.evActual = w(1), w(2), w(3), w(4), w(5), w(6)
	return p, true
}

func (s *pmtoolsSource) Instances(indom protocol.InDom) ([]Instance, error) {
	out := []Instance{}
	switch indom {
	case indomPMLoggers:
		ls, err := s.loggers()
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			out = append(out, Instance{ID: l.id, Name: l.name})
		}
	case indomPmies:
		ps, err := s.pmies()
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out = append(out, Instance{ID: p.id, Name: p.name})
		}
	default:
		return nil, &protocol.Error{Code: protocol.ErrInDom}
	}
	sortInstances(out)
	return out, nil
}

func (s *pmtoolsSource) Fetch(reqs []Request) error {
	var (
		ls           []pmLogger
		ps           []pmie
		lerr, perr   error
		lDone, pDone bool
	)
	for _, rq := range reqs {
		res := rq.Res
		if rq.Sel <= selLoggerHost {
			if !lDone {
				ls, lerr = s.loggers()
				lDone = true
			}
			if lerr != nil {
				res.Err = errCode(lerr)
				continue
			}
			for _, l := range ls {
				switch rq.Sel {
				case selLoggerPort:
					putU(res, l.id, uint64(l.port))
				case selLoggerPMCDHost:
					putS(res, l.id, l.pmcdHost)
				case selLoggerArchive:
					putS(res, l.id, l.arch)
				case selLoggerHost:
					putS(res, l.id, s.env.hostname)
				}
			}
			sortValues(res)
			continue
		}
		if !pDone {
			ps, perr = s.pmies()
			pDone = true
		}
		if perr != nil {
			res.Err = errCode(perr)
			continue
		}
		for _, p := range ps {
			switch rq.Sel {
			case selPmieConfig:
				putS(res, p.id, p.config)
			case selPmieLogfile:
				putS(res, p.id, p.logfile)
			case selPmieHost:
				putS(res, p.id, p.host)
			case selPmieNumRules:
				putU(res, p.id, uint64(p.numRules))
			case selPmieActions:
				putU(res, p.id, uint64(p.actions))
			case selPmieTrue:
				putU(res, p.id, uint64(p.evTrue))
			case selPmieFalse:
				putU(res, p.id, uint64(p.evFalse))
			case selPmieUnknown:
				putU(res, p.id, uint64(p.evUnknown))
			case selPmieExpected:
				putF(res, p.id, float64(p.expected))
			case selPmieActual:
				putU(res, p.id, uint64(p.evActual))
			}
		}
		sortValues(res)
	}
	return nil
}

// sortValues puts a result's values in instance order, as pmcd sorts them.
func sortValues(res *Result) {
	sort.Slice(res.Values, func(i, j int) bool { return res.Values[i].Inst < res.Values[j].Inst })
}
