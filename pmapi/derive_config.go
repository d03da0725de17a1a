package pmapi

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// derivedDomain is the PMID domain libpcp gives derived metrics (DYNAMIC_PMID).
const derivedDomain = 511

// MaxDerived bounds the number of definitions one DerivedSet accepts, so a hostile
// configuration cannot make a client allocate without limit (libpcp's own limit is
// the PMID space: 2048 clusters of 1023 items).
const MaxDerived = 2048 * 1023

// DerivedDef is one global derived metric: its name, expression and the PMID
// libpcp would give it (511.C.I in order of successful registration).
type DerivedDef struct {
	Name    string
	Expr    string
	PMID    protocol.PMID
	Oneline string
	Help    string
	hasOne  bool
	hasHelp bool
	anon    bool
	tree    *exprNode
}

// DerivedSet is the list of global derived metrics a client knows, in
// registration order. It is built before contexts are opened and not changed
// while they use it.
type DerivedSet struct {
	defs []*DerivedDef
	// indexes of defs: binding a chain of definitions looks names up at every
	// level, and a linear search made long configurations quadratic.
	names map[string]*DerivedDef
	pmids map[protocol.PMID]*DerivedDef
}

// NewDerivedSet returns a set holding the two anonymous metrics every libpcp
// client registers first (event.flags 511.0.1, event.missed 511.0.2).
func NewDerivedSet() *DerivedSet {
	s := &DerivedSet{}
	s.add(&DerivedDef{Name: "event.flags", anon: true, hasOne: true, hasHelp: true,
		Oneline: "Flags for event records",
		Help: "An anonymous derived metric that is used to encode the event flags\n" +
			"associated with event records.   See pmUnpackEventRecords(3)."})
	s.add(&DerivedDef{Name: "event.missed", anon: true, hasOne: true, hasHelp: true,
		Oneline: "Count of missed event records",
		Help: "An anonymous derived metric that is used to encode the number of\n" +
			"event records missed because either the PMDA could not keep up\n" +
			"or the PMAPI client did not collect the event records fast\n" +
			"enough.  See pmUnpackEventRecords(3)."})
	return s
}

func (s *DerivedSet) add(d *DerivedDef) {
	n := len(s.defs) // item numbering starts at 1; item 0 is reserved
	d.PMID = protocol.NewPMID(derivedDomain, uint32(n/1023), uint32(n%1023+1))
	s.index(d)
}

// index appends d, whose PMID is already set, to s.
func (s *DerivedSet) index(d *DerivedDef) {
	if s.names == nil {
		s.names, s.pmids = map[string]*DerivedDef{}, map[protocol.PMID]*DerivedDef{}
	}
	s.defs = append(s.defs, d)
	if _, dup := s.names[d.Name]; !dup {
		s.names[d.Name] = d
	}
	s.pmids[d.PMID] = d
}

// derivedSetOf returns a set of defs as they are, PMIDs included.
func derivedSetOf(defs []*DerivedDef) *DerivedSet {
	s := &DerivedSet{}
	for _, d := range defs {
		s.index(d)
	}
	return s
}

// Defs returns the definitions in registration order.
func (s *DerivedSet) Defs() []*DerivedDef {
	if s == nil {
		return nil
	}
	return s.defs
}

func (s *DerivedSet) byName(name string) *DerivedDef {
	if s == nil {
		return nil
	}
	return s.names[name]
}

func (s *DerivedSet) byPMID(pmid protocol.PMID) *DerivedDef {
	if s == nil || pmid.Domain() != derivedDomain {
		return nil
	}
	return s.pmids[pmid]
}

// Register adds a global derived metric (pmRegisterDerived). A syntax error is a
// *SyntaxError whose Pos is where libpcp puts its caret.
func (s *DerivedSet) Register(name, expr string) error {
	if len(s.defs) >= MaxDerived {
		return &SyntaxError{Msg: "global PMID space exhausted"}
	}
	if s.byName(name) != nil {
		return &SyntaxError{Msg: "Duplicate global derived metric name"}
	}
	tree, err := parseExpr(expr)
	if err != nil {
		return err
	}
	s.add(&DerivedDef{Name: name, Expr: expr, tree: tree})
	return nil
}

// validName is libpcp's checkname: dot-separated components, each a letter then
// letters, digits or underscores.
func validName(name string) bool {
	first := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if first {
			if !isAlpha(c) {
				return false
			}
			first = false
			continue
		}
		switch {
		case isAlpha(c) || isDigit(c) || c == '_':
		case c == '.':
			first = true
		default:
			return false
		}
	}
	return true
}

// DefaultDerivedPath is the configuration libpcp reads when PCP_DERIVED_CONFIG is
// unset: $PCP_VAR_DIR/config/derived, with PCP_VAR_DIR from the environment or
// from pcp.conf ($PCP_CONF, else /etc/pcp.conf), if that directory exists.
func DefaultDerivedPath(getenv func(string) string) string {
	dir := getenv("PCP_VAR_DIR")
	if dir == "" {
		conf := getenv("PCP_CONF")
		if conf == "" {
			conf = "/etc/pcp.conf"
		}
		dir = pcpConfValue(conf, "PCP_VAR_DIR")
	}
	if dir == "" {
		dir = "/var/lib/pcp"
	}
	p := filepath.Join(dir, "config", "derived")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// pcpConfValue returns NAME's value from a pcp.conf style file of NAME=value
// lines, or "".
func pcpConfValue(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), name+"="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// LoadDerivedFromEnv builds the set a libpcp client starts with: the anonymous
// metrics, then PCP_DERIVED_CONFIG (a colon-separated list of files and
// directories; set but empty means none) or, when it is unset, the default
// directory. Problems in the files are written to diag as libpcp writes them.
func LoadDerivedFromEnv(getenv func(string) string, lookup func(string) (string, bool), diag io.Writer) *DerivedSet {
	s := NewDerivedSet()
	spec, set := lookup("PCP_DERIVED_CONFIG")
	if !set {
		spec = DefaultDerivedPath(getenv)
	}
	if spec != "" {
		s.LoadConfig(spec, diag)
	}
	return s
}

// LoadConfig reads each ':'-separated component of spec (pmLoadDerivedConfig): a
// regular file is a configuration file, a directory has each entry read in
// directory order (as readdir returns them, which is what decides the PMIDs).
// Missing or unreadable components are skipped, as libpcp does.
func (s *DerivedSet) LoadConfig(spec string, diag io.Writer) {
	parts := strings.Split(spec, ":")
	for i, p := range parts {
		if p == "" && i == len(parts)-1 {
			break
		}
		s.loadComponent(p, diag, 0)
	}
}

// maxDirDepth stops symlink loops between directories.
const maxDirDepth = 8

func (s *DerivedSet) loadComponent(path string, diag io.Writer, depth int) {
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	if st.Mode().IsRegular() {
		s.loadFile(path, diag)
		return
	}
	if !st.IsDir() || depth >= maxDirDepth {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		return
	}
	// File.ReadDir keeps the directory's own order (os.ReadDir would sort).
	ents, _ := f.ReadDir(-1)
	f.Close()
	for _, e := range ents {
		s.loadComponent(path+"/"+e.Name(), diag, depth+1)
	}
}

// maxConfigFile bounds how much of one configuration file is read.
const maxConfigFile = 16 << 20

func (s *DerivedSet) loadFile(path string, diag io.Writer) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, maxConfigFile))
	s.parseConfig(path, string(data), diag)
}

// parseConfig processes the text of one configuration file. Only lines ending
// in a newline are definitions (libpcp ignores an unterminated last line).
func (s *DerivedSet) parseConfig(fname, data string, diag io.Writer) {
	pr := func(format string, a ...any) { fmt.Fprintf(diag, format, a...) }
	lineno := 1
	pos := 0
	for {
		nl := strings.IndexByte(data[pos:], '\n')
		if nl < 0 {
			return
		}
		buf := data[pos : pos+nl]
		pos += nl + 1
		if buf == "" || buf[0] == '#' {
			lineno++
			continue
		}
		eq := strings.IndexByte(buf, '=')
		if eq < 0 {
			pr("[%s:%d] Error: pmLoadDerivedConfig: missing ``='' after derived metric name\n%s\n", fname, lineno, buf)
			lineno++
			continue
		}
		head := buf[:eq]
		lp := strings.IndexByte(head, '(')
		rp := strings.IndexByte(head, ')')
		nameEnd := eq
		if lp >= 0 {
			nameEnd = lp
		}
		name := strings.TrimFunc(buf[:nameEnd], func(r rune) bool { return r < 128 && isSpace(byte(r)) })
		switch {
		case name == "":
			pr("[%s:%d] Error: pmLoadDerivedConfig: derived metric name missing\n%s\n", fname, lineno, buf)
		case !validName(name):
			pr("[%s:%d] Error: pmLoadDerivedConfig: illegal derived metric name (%s)\n", fname, lineno, name)
		case lp >= 0 && rp < 0:
			pr("[%s:%d] Error: pmLoadDerivedConfig: missing ')' after attribute\n%s\n", fname, lineno, buf)
		case rp >= 0 && lp < 0:
			pr("[%s:%d] Error: pmLoadDerivedConfig: missing '(' before attribute\n%s\n", fname, lineno, buf)
		case lp < 0:
			rhs := buf[eq+1:]
			skip := 0
			for skip < len(rhs) && isSpace(rhs[skip]) {
				skip++
			}
			if skip == len(rhs) {
				pr("[%s:%d] Error: pmLoadDerivedConfig: expression missing\n%s\n", fname, lineno, buf)
				break
			}
			if err := s.Register(name, rhs[skip:]); err != nil {
				se, _ := err.(*SyntaxError)
				pr("[%s:%d] Error: pmRegisterDerived(%s, ...) syntax error\n", fname, lineno, name)
				pr("%s\n", rhs)
				caret := []byte(rhs)
				for i := range caret {
					if se != nil && i == skip+se.Pos {
						caret[i] = '^'
					} else if !isSpace(caret[i]) {
						caret[i] = ' '
					}
				}
				pr("%s\n", caret)
				if se != nil && se.Msg != "" {
					pr("%s\n", se.Msg)
				}
			}
		default:
			var extra int
			extra, pos = s.attribute(fname, lineno, buf, name, lp, rp, eq, data, pos, pr)
			lineno += extra
		}
		lineno++
	}
}

// attribute handles NAME(ATTR) = VALUE, where a quoted VALUE may continue over
// further lines (backslash escapes; backslash-newline is a continuation). It
// returns the extra lines consumed and the new read position.
func (s *DerivedSet) attribute(fname string, lineno int, buf, name string, lp, rp, eq int, data string, pos int,
	pr func(string, ...any)) (int, int) {
	attr := strings.TrimFunc(buf[lp+1:rp], func(r rune) bool { return r < 128 && isSpace(byte(r)) })
	if attr == "" {
		pr("[%s:%d] Error: pmLoadDerivedConfig: attribute name missing\n%s\n", fname, lineno, buf)
		return 0, pos
	}
	vp := buf[eq+1:]
	for vp != "" && isSpace(vp[0]) {
		vp = vp[1:]
	}
	var delim byte
	if vp != "" && (vp[0] == '"' || vp[0] == '\'') {
		delim = vp[0]
		vp = vp[1:]
	}
	if vp == "" {
		pr("[%s:%d] Error: pmLoadDerivedConfig: attribute value missing\n%s\n", fname, lineno, buf)
		return 0, pos
	}
	value := vp
	xtra := 0
	if delim != 0 {
		var b strings.Builder
		esc, done := false, false
		src := vp + "\n"
		i := 0
		for !done {
			if i >= len(src) {
				// more lines from the file
				if pos >= len(data) {
					break
				}
				nl := strings.IndexByte(data[pos:], '\n')
				if nl < 0 {
					src, pos = data[pos:], len(data)
				} else {
					src, pos = data[pos:pos+nl+1], pos+nl+1
				}
				i = 0
				continue
			}
			c := src[i]
			i++
			if c == '\n' {
				xtra++
			}
			switch {
			case esc:
				esc = false
				if c != '\n' {
					b.WriteByte(c)
				}
			case c == '\\':
				esc = true
			case c == delim:
				done = true
			default:
				b.WriteByte(c)
			}
		}
		extraLines := 0
		if xtra > 1 {
			extraLines = xtra - 1
		}
		if !done {
			pr("[%s:%d] Error: pmLoadDerivedConfig: missing termination (%c) for value\n", fname, lineno+extraLines, delim)
			return extraLines, pos
		}
		if rest := strings.TrimRight(src[i:], "\n"); strings.TrimSpace(rest) != "" {
			pr("[%s:%d] Warning: pmLoadDerivedConfig: extra text (%s) after attribute value will be ignored\n",
				fname, lineno+extraLines, strings.TrimLeft(rest, " \t"))
		}
		value = b.String()
		xtra = extraLines
	}
	d := s.byName(name)
	switch {
	case d == nil:
		pr("[%s:%d] Error: pmLoadDerivedConfig: cannot set attribute, derived metric (%s) not defined\n%s\n", fname, lineno+xtra, name, buf)
	case attr == "oneline":
		if d.hasOne {
			pr("[%s:%d] Error: pmLoadDerivedConfig: duplicate value for attribute (%s) of metric (%s)\n%s\n", fname, lineno+xtra, attr, name, buf)
		} else {
			d.Oneline, d.hasOne = value, true
		}
	case attr == "helptext":
		if d.hasHelp {
			pr("[%s:%d] Error: pmLoadDerivedConfig: duplicate value for attribute (%s) of metric (%s)\n%s\n", fname, lineno+xtra, attr, name, buf)
		} else {
			d.Help, d.hasHelp = value, true
		}
	default:
		pr("[%s:%d] Error: pmLoadDerivedConfig: attribute (%s) is unknown for metric (%s)\n%s\n", fname, lineno+xtra, attr, name, buf)
	}
	return xtra, pos
}
