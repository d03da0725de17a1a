package metrics

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// The hotproc predicate language of PCP's proc agent (pmdaproc(1), "HOTPROC
// CONFIGURATION"), parsed by hand (recursive descent) into a tree that prints
// back in the agent's normalised form and is evaluated per process.
//
// The grammar, as PCP 6.0.3 accepts it:
//
//	config     := [ "Version" NUMBER ] [ predicate ]      (the version must be 1.0)
//	predicate  := and { "||" and }
//	and        := unary { "&&" unary }
//	unary      := "!" unary | "(" predicate ")" | "true" | "false" | comparison
//	comparison := numvar ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) numvar
//	            | strvar ( "==" | "!=" ) strvar
//	            | strvar ( "~" | "!~" ) PATTERN
//	numvar     := NUMBER | uid | gid | cpuburn | syscalls | ctxswitch | virtualsize
//	            | residentsize | iodemand | iowait | schedwait
//	strvar     := STRING | uname | gname | fname | psargs
//
// NUMBER is digits with an optional decimal point (no sign, no exponent), STRING
// is "..." and PATTERN /.../ (each ends at its delimiter or at a newline), and #
// starts a comment to the end of the line. ! binds tighter than &&, && tighter
// than ||, and both are left-associative, so the printed form brackets every
// operation: `uid == 0 || fname == "a"` prints `((uid == 0) || (fname == "a"))`.
// Numbers print as integers when whole and below 2^31, else with six decimals;
// strings and patterns print between double quotes.
//
// Where the real agent is lax we refuse, with a message naming the problem, and
// the caller keeps its old predicate:
//   - a word that is not a keyword (pid, ppid, a misspelt variable) or a stray
//     character: the agent's scanner logs and skips it, so `foo cpuburn > 1`
//     becomes `cpuburn > 1` there;
//   - syscalls: the agent parses it, but its evaluator has no value for it on
//     Linux and the agent exits at the next evaluation;
//   - a pattern that does not compile: the agent accepts it and exits when it
//     first evaluates it.
//
// Patterns are GNU regular expressions in the syntax glibc's re_comp uses (the
// Emacs syntax: \( \) group, \| alternates, + and ? repeat, { } | ( ) are
// literal, ^ and $ anchor at the ends and at newlines), translated to Go's
// regexp; the GNU word-boundary operators \< \> and back-references have no
// equivalent there and are refused.

// Limits on a predicate: a config is a line or two in practice; these keep a
// hostile store from costing more than a moment to parse or evaluate.
const (
	maxHotPredText  = 64 << 10 // bytes of predicate text
	maxHotPredDepth = 100      // nesting of ! and parentheses and operators
	maxHotPredNodes = 10000    // comparisons and connectives
)

// hotVars is one process as the predicate sees it, over the last interval.
type hotVars struct {
	uid, gid                     uint32
	uname, gname, fname, psargs  string
	cpuburn, ctxswitch, iodemand float64
	iowait, schedwait            float64
	virtualsize, residentsize    float64
}

// hotOp is a node kind of the predicate tree.
type hotOp uint8

const (
	hpAnd hotOp = iota
	hpOr
	hpNot
	hpTrue
	hpFalse
	hpLt // numeric comparisons
	hpLe
	hpGt
	hpGe
	hpEq
	hpNe
	hpSEq // string comparisons
	hpSNe
	hpMatch
	hpNMatch
)

// hotVar names an operand: a literal or one of the reserved variables.
type hotVar uint8

const (
	hvNumber hotVar = iota
	hvString
	hvPattern
	hvUID
	hvGID
	hvCPUBurn
	hvSyscalls
	hvCtxswitch
	hvVirtualsize
	hvResidentsize
	hvIodemand
	hvIowait
	hvSchedwait
	hvUname
	hvGname
	hvFname
	hvPsargs
)

var hotVarNames = map[string]hotVar{
	"uid": hvUID, "gid": hvGID, "cpuburn": hvCPUBurn, "syscalls": hvSyscalls, "ctxswitch": hvCtxswitch,
	"virtualsize": hvVirtualsize, "residentsize": hvResidentsize, "iodemand": hvIodemand,
	"iowait": hvIowait, "schedwait": hvSchedwait,
	"uname": hvUname, "gname": hvGname, "fname": hvFname, "psargs": hvPsargs,
}

func (v hotVar) numeric() bool { return v == hvNumber || v >= hvUID && v <= hvSchedwait }
func (v hotVar) str() bool     { return v == hvString || v >= hvUname }

// hotOperand is one side of a comparison.
type hotOperand struct {
	v   hotVar
	num float64
	s   string
	re  *regexp.Regexp // a pattern, compiled
}

// hotPred is a node of the predicate tree.
type hotPred struct {
	op          hotOp
	left, right *hotPred // connectives
	a, b        hotOperand
}

// errHotPred marks every predicate error, for callers that only need the kind.
var errHotPred = errors.New("hotproc predicate")

// hotPredError says where in the text a predicate went wrong.
type hotPredError struct {
	line int
	msg  string
}

func (e *hotPredError) Error() string {
	return fmt.Sprintf("hotproc predicate, line %d: %s", e.line, e.msg)
}

func (e *hotPredError) Unwrap() error { return errHotPred }

// parseHotPredicate parses a predicate. A text with no predicate (empty, blank,
// comments only) gives nil and no error: hotproc is then off, as in the agent.
func parseHotPredicate(text string) (*hotPred, error) {
	if len(text) > maxHotPredText {
		return nil, &hotPredError{1, fmt.Sprintf("the predicate is %d bytes, more than the %d allowed", len(text), maxHotPredText)}
	}
	p := &hotParser{src: text, line: 1}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tkEOF {
		return nil, nil
	}
	if p.tok.kind == tkWord && p.tok.text == "Version" {
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind != tkNumber {
			return nil, p.errf("Version must be followed by a number")
		}
		// The agent compares the version as a C float.
		if float32(p.tok.num) != 1.0 {
			return nil, p.errf("version %s is not supported: this is version 1.0 of the language", p.tok.text)
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind == tkEOF {
			return nil, p.errf("a predicate must follow the version")
		}
	}
	t, err := p.predicate(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tkEOF {
		return nil, p.errf("unexpected %s after the predicate", p.tok.describe())
	}
	return t, nil
}

type tokKind uint8

const (
	tkEOF tokKind = iota
	tkWord
	tkNumber
	tkString
	tkPattern
	tkOp // && || ! ( ) == != < <= > >= ~ !~
)

type hotTok struct {
	kind tokKind
	text string // the word, operator, or string/pattern body
	num  float64
}

func (t hotTok) describe() string {
	switch t.kind {
	case tkEOF:
		return "end of predicate"
	case tkNumber:
		return "number " + t.text
	case tkString:
		return "string " + strconv.Quote(t.text)
	case tkPattern:
		return "pattern " + strconv.Quote(t.text)
	}
	return strconv.Quote(t.text)
}

type hotParser struct {
	src   string
	pos   int
	line  int
	tok   hotTok
	nodes int
}

func (p *hotParser) errf(format string, args ...any) error {
	return &hotPredError{p.line, fmt.Sprintf(format, args...)}
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// next scans the next token into p.tok.
func (p *hotParser) next() error {
	s := p.src
	for p.pos < len(s) {
		c := s[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r':
			p.pos++
		case c == '#':
			for p.pos < len(s) && s[p.pos] != '\n' {
				p.pos++
			}
		default:
			return p.scan()
		}
	}
	p.tok = hotTok{kind: tkEOF}
	return nil
}

func (p *hotParser) scan() error {
	s, start := p.src, p.pos
	c := s[start]
	switch {
	case isAlpha(c):
		for p.pos < len(s) && isAlpha(s[p.pos]) {
			p.pos++
		}
		w := s[start:p.pos]
		if _, ok := hotVarNames[w]; !ok && w != "true" && w != "false" && w != "Version" {
			return p.errf("unknown word %q: the variables are uid, gid, uname, gname, fname, psargs, cpuburn, "+
				"ctxswitch, virtualsize, residentsize, iodemand, iowait and schedwait", w)
		}
		p.tok = hotTok{kind: tkWord, text: w}
		return nil
	case isDigit(c) || c == '.' && start+1 < len(s) && isDigit(s[start+1]):
		for p.pos < len(s) && isDigit(s[p.pos]) {
			p.pos++
		}
		if p.pos < len(s) && s[p.pos] == '.' {
			p.pos++
			for p.pos < len(s) && isDigit(s[p.pos]) {
				p.pos++
			}
		}
		text := s[start:p.pos]
		v, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsInf(v, 0) {
			return p.errf("number %.40s is too large", text)
		}
		p.tok = hotTok{kind: tkNumber, text: text, num: v}
		return nil
	case c == '"' || c == '/':
		// A string or pattern ends at its delimiter or, as in the agent, at a newline.
		end := strings.IndexAny(s[start+1:], string(c)+"\n")
		if end < 0 {
			if c == '"' {
				return p.errf("string not closed with \"")
			}
			return p.errf("pattern not closed with /")
		}
		body := s[start+1 : start+1+end]
		p.pos = start + 1 + end + 1
		if s[p.pos-1] == '\n' {
			p.line++
		}
		kind := tkString
		if c == '/' {
			kind = tkPattern
		}
		p.tok = hotTok{kind: kind, text: body}
		return nil
	}
	for _, op := range [...]string{"&&", "||", "==", "!=", "<=", ">=", "!~", "!", "(", ")", "<", ">", "~"} {
		if strings.HasPrefix(s[start:], op) {
			p.pos += len(op)
			p.tok = hotTok{kind: tkOp, text: op}
			return nil
		}
	}
	return p.errf("unexpected character %q", rune(c))
}

func (p *hotParser) node(n *hotPred) (*hotPred, error) {
	p.nodes++
	if p.nodes > maxHotPredNodes {
		return nil, p.errf("the predicate has more than %d terms", maxHotPredNodes)
	}
	return n, nil
}

// predicate parses an || chain.
func (p *hotParser) predicate(depth int) (*hotPred, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tkOp && p.tok.text == "||" {
		if err := p.next(); err != nil {
			return nil, err
		}
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		if l, err = p.node(&hotPred{op: hpOr, left: l, right: r}); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *hotParser) and(depth int) (*hotPred, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tkOp && p.tok.text == "&&" {
		if err := p.next(); err != nil {
			return nil, err
		}
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		if l, err = p.node(&hotPred{op: hpAnd, left: l, right: r}); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *hotParser) unary(depth int) (*hotPred, error) {
	if depth > maxHotPredDepth {
		return nil, p.errf("the predicate nests deeper than %d", maxHotPredDepth)
	}
	t := p.tok
	switch {
	case t.kind == tkOp && t.text == "!":
		if err := p.next(); err != nil {
			return nil, err
		}
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return p.node(&hotPred{op: hpNot, left: x})
	case t.kind == tkOp && t.text == "(":
		if err := p.next(); err != nil {
			return nil, err
		}
		x, err := p.predicate(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tkOp || p.tok.text != ")" {
			return nil, p.errf("expected ) but found %s", p.tok.describe())
		}
		return x, p.next()
	case t.kind == tkWord && (t.text == "true" || t.text == "false"):
		op := hpTrue
		if t.text == "false" {
			op = hpFalse
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		return p.node(&hotPred{op: op})
	}
	return p.comparison()
}

var hotNumOps = map[string]hotOp{"<": hpLt, "<=": hpLe, ">": hpGt, ">=": hpGe, "==": hpEq, "!=": hpNe}

func (p *hotParser) comparison() (*hotPred, error) {
	a, err := p.operand()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tkOp {
		return nil, p.errf("expected a comparison after %s but found %s", a.describe(), p.tok.describe())
	}
	opText := p.tok.text
	if err := p.next(); err != nil {
		return nil, err
	}
	var n hotPred
	switch {
	case a.v.numeric():
		op, ok := hotNumOps[opText]
		if !ok {
			return nil, p.errf("%s is a number: compare it with < <= > >= == or !=, not %s", a.describe(), opText)
		}
		b, err := p.operand()
		if err != nil {
			return nil, err
		}
		if !b.v.numeric() {
			return nil, p.errf("%s is a number but %s is not", a.describe(), b.describe())
		}
		n = hotPred{op: op, a: a, b: b}
	case opText == "==" || opText == "!=":
		b, err := p.operand()
		if err != nil {
			return nil, err
		}
		if !b.v.str() {
			return nil, p.errf("%s is a string but %s is not", a.describe(), b.describe())
		}
		op := hpSEq
		if opText == "!=" {
			op = hpSNe
		}
		n = hotPred{op: op, a: a, b: b}
	case opText == "~" || opText == "!~":
		if p.tok.kind != tkPattern {
			return nil, p.errf("%s must be followed by a /pattern/, not %s", opText, p.tok.describe())
		}
		re, err := compileGNUPattern(p.tok.text)
		if err != nil {
			return nil, p.errf("pattern %q: %v", p.tok.text, err)
		}
		b := hotOperand{v: hvPattern, s: p.tok.text, re: re}
		if err := p.next(); err != nil {
			return nil, err
		}
		op := hpMatch
		if opText == "!~" {
			op = hpNMatch
		}
		n = hotPred{op: op, a: a, b: b}
	default:
		return nil, p.errf("%s is a string: compare it with == != ~ or !~, not %s", a.describe(), opText)
	}
	return p.node(&n)
}

func (p *hotParser) operand() (hotOperand, error) {
	t := p.tok
	var o hotOperand
	switch t.kind {
	case tkNumber:
		o = hotOperand{v: hvNumber, num: t.num}
	case tkString:
		o = hotOperand{v: hvString, s: t.text}
	case tkWord:
		v, ok := hotVarNames[t.text]
		if !ok {
			return o, p.errf("expected a variable, number or string but found %s", t.describe())
		}
		if v == hvSyscalls {
			return o, p.errf("syscalls has no value on Linux (the kernel does not count system calls per process)")
		}
		o = hotOperand{v: v}
	default:
		return o, p.errf("expected a variable, number or string but found %s", t.describe())
	}
	return o, p.next()
}

func (o hotOperand) describe() string {
	switch o.v {
	case hvNumber:
		return "number " + formatHotNumber(o.num)
	case hvString:
		return "string " + strconv.Quote(o.s)
	case hvPattern:
		return "pattern " + strconv.Quote(o.s)
	}
	for k, v := range hotVarNames {
		if v == o.v {
			return k
		}
	}
	return "?"
}

// formatHotNumber prints a number as the agent does: whole values that fit a C
// int as integers, others with six decimals.
func formatHotNumber(v float64) string {
	if v == math.Trunc(v) && v <= math.MaxInt32 && v >= math.MinInt32 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 6, 64)
}

var hotOpText = [...]string{hpLt: " < ", hpLe: " <= ", hpGt: " > ", hpGe: " >= ", hpEq: " == ", hpNe: " != ",
	hpSEq: " == ", hpSNe: " != ", hpMatch: " ~ ", hpNMatch: " !~ "}

// String is the predicate in the agent's normalised form (hotproc.control.config).
func (n *hotPred) String() string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (n *hotPred) write(b *strings.Builder) {
	switch n.op {
	case hpAnd, hpOr:
		b.WriteByte('(')
		n.left.write(b)
		if n.op == hpAnd {
			b.WriteString(" && ")
		} else {
			b.WriteString(" || ")
		}
		n.right.write(b)
		b.WriteByte(')')
	case hpNot:
		b.WriteString("(! ")
		n.left.write(b)
		b.WriteByte(')')
	case hpTrue:
		b.WriteString("(true)")
	case hpFalse:
		b.WriteString("(false)")
	default:
		b.WriteByte('(')
		n.a.write(b)
		b.WriteString(hotOpText[n.op])
		n.b.write(b)
		b.WriteByte(')')
	}
}

func (o hotOperand) write(b *strings.Builder) {
	switch o.v {
	case hvNumber:
		b.WriteString(formatHotNumber(o.num))
	case hvString, hvPattern:
		b.WriteByte('"')
		b.WriteString(o.s)
		b.WriteByte('"')
	default:
		b.WriteString(o.describe())
	}
}

// eval reports whether a process matches. The depth is bounded by the parser.
func (n *hotPred) eval(v *hotVars) bool {
	switch n.op {
	case hpAnd:
		return n.left.eval(v) && n.right.eval(v)
	case hpOr:
		return n.left.eval(v) || n.right.eval(v)
	case hpNot:
		return !n.left.eval(v)
	case hpTrue:
		return true
	case hpFalse:
		return false
	case hpSEq:
		return n.a.strOf(v) == n.b.strOf(v)
	case hpSNe:
		return n.a.strOf(v) != n.b.strOf(v)
	case hpMatch:
		return n.b.re.MatchString(n.a.strOf(v))
	case hpNMatch:
		return !n.b.re.MatchString(n.a.strOf(v))
	}
	x, y := n.a.numOf(v), n.b.numOf(v)
	switch n.op {
	case hpLt:
		return x < y
	case hpLe:
		return x <= y
	case hpGt:
		return x > y
	case hpGe:
		return x >= y
	case hpEq:
		return x == y
	}
	return x != y
}

func (o hotOperand) numOf(v *hotVars) float64 {
	switch o.v {
	case hvUID:
		return float64(v.uid)
	case hvGID:
		return float64(v.gid)
	case hvCPUBurn:
		return v.cpuburn
	case hvCtxswitch:
		return v.ctxswitch
	case hvVirtualsize:
		return v.virtualsize
	case hvResidentsize:
		return v.residentsize
	case hvIodemand:
		return v.iodemand
	case hvIowait:
		return v.iowait
	case hvSchedwait:
		return v.schedwait
	}
	return o.num
}

func (o hotOperand) strOf(v *hotVars) string {
	switch o.v {
	case hvUname:
		return v.uname
	case hvGname:
		return v.gname
	case hvFname:
		return v.fname
	case hvPsargs:
		return v.psargs
	}
	return o.s
}

// compileGNUPattern translates a pattern from glibc's re_comp syntax to Go's and
// compiles it. re_comp uses RE_SYNTAX_EMACS (syntax bits 0) and anchors ^ and $ at
// newlines too: \( \) group and \| alternates; ( ) | { } are ordinary; + ? * repeat,
// but are ordinary at the start of the pattern or of a group or alternative; ^ is
// an anchor only there and $ only at the end of one; a bracket expression has no
// character classes ([[:digit:]] is the set "[:digt" then "]"), and a backslash is
// ordinary inside it; \w \W \s \S \b \B \` \' are GNU's; any other escaped
// character stands for itself. Checked against glibc (TestHotPatternsMatchGlibc).
func compileGNUPattern(pat string) (*regexp.Regexp, error) {
	b := []byte("(?m)")
	// atStart: a position where ^ anchors and * + ? are ordinary (the pattern's
	// start, after \( or \|, or after such a ^). lastRep: the repetition operator
	// just written, which a following one merges with (GNU repeats the repetition:
	// a** is a*, a+? is a*; Go refuses the first and reads the second as lazy).
	atStart := true
	var lastRep byte
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		wasStart, rep := atStart, lastRep
		atStart, lastRep = false, 0
		switch c {
		case '\\':
			if i+1 == len(pat) {
				return nil, errors.New("trailing backslash")
			}
			i++
			d := pat[i]
			switch d {
			case '(':
				b = append(b, "(?:"...)
				atStart = true
			case ')':
				b = append(b, ')')
			case '|':
				b = append(b, '|')
				atStart = true
			case 'w':
				b = append(b, `[0-9A-Za-z_]`...)
			case 'W':
				b = append(b, `[^0-9A-Za-z_]`...)
			case 's':
				b = append(b, `[\t\n\v\f\r ]`...)
			case 'S':
				b = append(b, `[^\t\n\v\f\r ]`...)
			case 'b', 'B':
				b = append(b, '\\', d)
			case '`':
				b = append(b, `\A`...)
			case '\'':
				b = append(b, `\z`...)
			case '<', '>':
				return nil, fmt.Errorf(`\%c (start or end of a word) is not supported: use \b`, d)
			default:
				if isDigit(d) {
					return nil, fmt.Errorf(`\%c (a back-reference) is not supported`, d)
				}
				b = append(b, regexp.QuoteMeta(pat[i:i+1])...)
			}
		case '^':
			if wasStart {
				b = append(b, '^')
				atStart = true
			} else {
				b = append(b, `\^`...)
			}
		case '$':
			// An anchor at the end of the pattern or before \) or \|.
			if i+1 == len(pat) || strings.HasPrefix(pat[i+1:], `\)`) || strings.HasPrefix(pat[i+1:], `\|`) {
				b = append(b, '$')
			} else {
				b = append(b, `\$`...)
			}
		case '*', '+', '?':
			switch {
			case wasStart:
				b = append(b, '\\', c)
			case rep != 0:
				if rep != c {
					c = '*' // + then ?, ? then +, anything with *: zero or more
				}
				b[len(b)-1] = c
				lastRep = c
			default:
				b = append(b, c)
				lastRep = c
			}
		case '[':
			n, err := gnuBracket(pat[i:], &b)
			if err != nil {
				return nil, err
			}
			i += n - 1
		case '.':
			b = append(b, '.')
		default:
			b = append(b, regexp.QuoteMeta(pat[i:i+1])...)
		}
	}
	return regexp.Compile(string(b))
}

// gnuBracket translates the bracket expression at the start of s (no character
// classes; a backslash or [ is ordinary inside) and returns its length in s.
func gnuBracket(s string, b *[]byte) (int, error) {
	out := []byte{'['}
	i := 1
	if i < len(s) && s[i] == '^' {
		out = append(out, '^')
		i++
	}
	for first := true; i < len(s); i, first = i+1, false {
		switch c := s[i]; {
		case c == ']' && !first:
			*b = append(append(*b, out...), ']')
			return i + 1, nil
		case c == '\\' || c == '[' || c == ']':
			out = append(out, '\\', c)
		default:
			out = append(out, c)
		}
	}
	return 0, errors.New("unmatched [ in the pattern")
}
