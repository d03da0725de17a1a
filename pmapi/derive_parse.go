package pmapi

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// The derived-metric expression language of libpcp 6.0.3 (pmRegisterDerived(3)):
// a hand-written lexer and precedence parser with the same tokens, the same
// operator precedence as libpcp's yacc grammar, and the same error texts, so a bad
// definition is reported as libpcp reports it.

// nodeKind is the kind of an expression tree node.
type nodeKind int

const (
	nInteger nodeKind = iota + 1
	nDouble
	nName
	nPlus
	nMinus
	nStar
	nSlash
	nAvg
	nCount
	nDelta
	nMax
	nMin
	nSum
	nRate
	nInstant
	nLT
	nLEQ
	nEQ
	nGEQ
	nGT
	nNEQ
	nAnd
	nOr
	nNot
	nNeg
	nQuest
	nColon
	nRescale
	nScale
	nDefined
	nFilterInst
	nPattern
	nScalar
)

// nodeOp is the operator text libpcp prints for a node in semantic errors.
var nodeOp = map[nodeKind]string{
	nPlus: "+", nMinus: "-", nStar: "*", nSlash: "/", nQuest: "?", nColon: ":",
	nLT: "<", nLEQ: "<=", nEQ: "==", nGEQ: ">=", nGT: ">", nNEQ: "!=",
	nAnd: "&&", nOr: "||", nNot: "!", nNeg: "-",
}

// nodeName is libpcp's upper-case node type name (__dmnode_type_str).
var nodeName = map[nodeKind]string{
	nInteger: "INTEGER", nDouble: "DOUBLE", nName: "NAME", nPlus: "PLUS", nMinus: "MINUS",
	nStar: "STAR", nSlash: "SLASH", nQuest: "QUEST", nColon: "COLON", nAvg: "AVG",
	nCount: "COUNT", nDelta: "DELTA", nMax: "MAX", nMin: "MIN", nSum: "SUM", nRate: "RATE",
	nInstant: "INSTANT", nRescale: "RESCALE", nScale: "SCALE", nDefined: "DEFINED",
	nFilterInst: "FILTERINST", nScalar: "SCALAR", nPattern: "PATTERN", nLT: "LT",
	nLEQ: "LEQ", nEQ: "EQ", nGEQ: "GEQ", nGT: "GT", nNEQ: "NEQ", nAnd: "AND", nOr: "OR",
	nNot: "NOT", nNeg: "NEG",
}

// exprNode is one node of a parsed expression. Constants carry their descriptor
// from the parse (mkconst may set type, semantics and units); a rescale's right
// operand is an nScale node whose desc holds the target units.
type exprNode struct {
	kind        nodeKind
	value       string // metric name, constant text, instance name or pattern
	left, right *exprNode
	desc        protocol.Desc
	re          *regexp.Regexp // matchinst pattern
	invert      bool           // matchinst(!/.../)
	exact       bool           // metric[instance] selection
}

// lexer token types.
type tokKind int

const (
	tEOS tokKind = iota
	tError
	tPlus
	tMinus
	tStar
	tSlash
	tQuest
	tColon
	tLParen
	tRParen
	tLT
	tLEQ
	tEQ
	tGEQ
	tGT
	tNEQ
	tAnd
	tOr
	tNot
	tAssign
	tComma
	tInteger
	tDouble
	tName
	tString
	tInstName
	tPattern
	tType
	tSemantics
	tUnits
	tFunc // text names the function
)

var tokText = map[tokKind]string{
	tPlus: "+", tMinus: "-", tStar: "*", tSlash: "/", tQuest: "?", tColon: ":",
	tLParen: "(", tRParen: ")", tLT: "<", tLEQ: "<=", tEQ: "==", tGEQ: ">=", tGT: ">",
	tNEQ: "!=", tAnd: "&&", tOr: "||",
}

var funcNames = map[string]nodeKind{
	"avg": nAvg, "count": nCount, "delta": nDelta, "max": nMax, "min": nMin, "sum": nSum,
	"rate": nRate, "instant": nInstant, "mkconst": 0, "rescale": nRescale,
	"defined": nDefined, "matchinst": nFilterInst, "scalar": nScalar, "anon": -1,
}

type token struct {
	kind tokKind
	text string
	pos  int // byte offset of the token's first character
}

type lexer struct {
	s           string
	i           int
	inMatchinst bool
	errmsg      string // set by the lexer for tError
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) next() token {
	for l.i < len(l.s) && isSpace(l.s[l.i]) {
		l.i++
	}
	start := l.i
	if l.i >= len(l.s) {
		// libpcp's lexicon points at the last character at the end of input
		return token{kind: tEOS, pos: max(len(l.s)-1, 0)}
	}
	c := l.s[l.i]
	l.i++
	tok := func(k tokKind) token { return token{kind: k, text: l.s[start:l.i], pos: start} }
	switch {
	case isDigit(c) || c == '.':
		double := c == '.'
		for l.i < len(l.s) {
			d := l.s[l.i]
			if d == '.' && !double {
				double = true
			} else if !isDigit(d) {
				break
			}
			l.i++
		}
		if double {
			return tok(tDouble)
		}
		v, err := strconv.ParseUint(l.s[start:l.i], 10, 64)
		if err != nil || v > 0xffffffff {
			l.errmsg = "Constant value too large"
			return tok(tError)
		}
		return tok(tInteger)
	case isAlpha(c):
		for l.i < len(l.s) && (isAlpha(l.s[l.i]) || isDigit(l.s[l.i]) || l.s[l.i] == '_' || l.s[l.i] == '.') {
			l.i++
		}
		name := l.s[start:l.i]
		if l.i < len(l.s) && l.s[l.i] == '(' {
			if _, ok := funcNames[name]; ok {
				if name == "matchinst" {
					l.inMatchinst = true
				}
				return tok(tFunc)
			}
		}
		switch name {
		case "type":
			return tok(tType)
		case "semantics":
			return tok(tSemantics)
		case "units":
			return tok(tUnits)
		}
		return tok(tName)
	}
	switch c {
	case '+':
		return tok(tPlus)
	case '-':
		return tok(tMinus)
	case '*':
		return tok(tStar)
	case '/':
		if !l.inMatchinst {
			return tok(tSlash)
		}
		l.inMatchinst = false
		return l.delimited(start, '/', tPattern, "unterminated pattern")
	case '(':
		return tok(tLParen)
	case ')':
		return tok(tRParen)
	case '?':
		return tok(tQuest)
	case ':':
		return tok(tColon)
	case ',':
		return tok(tComma)
	case '[':
		return l.delimited(start, ']', tInstName, "unterminated instance name")
	case '"':
		j := strings.IndexByte(l.s[l.i:], '"')
		if j < 0 {
			l.i = len(l.s)
			l.errmsg = "unterminated STRING"
			return tok(tError)
		}
		t := token{kind: tString, text: l.s[l.i : l.i+j], pos: start}
		l.i += j + 1
		return t
	case '<', '>', '=', '!':
		if l.i < len(l.s) && l.s[l.i] == '=' {
			l.i++
			return tok(map[byte]tokKind{'<': tLEQ, '>': tGEQ, '=': tEQ, '!': tNEQ}[c])
		}
		return tok(map[byte]tokKind{'<': tLT, '>': tGT, '=': tAssign, '!': tNot}[c])
	case '&', '|':
		if l.i < len(l.s) && l.s[l.i] == c {
			l.i++
			if c == '&' {
				return tok(tAnd)
			}
			return tok(tOr)
		}
	}
	l.errmsg = "Illegal character"
	return tok(tError)
}

// delimited reads an instance name or pattern up to end, with backslash escapes.
func (l *lexer) delimited(start int, end byte, kind tokKind, unterminated string) token {
	var b strings.Builder
	for l.i < len(l.s) {
		c := l.s[l.i]
		l.i++
		if c == '\\' && l.i < len(l.s) {
			b.WriteByte(l.s[l.i])
			l.i++
			continue
		}
		if c == end {
			return token{kind: kind, text: b.String(), pos: start}
		}
		b.WriteByte(c)
	}
	l.errmsg = unterminated
	return token{kind: tError, pos: start}
}

// SyntaxError is a derived-metric expression that does not parse: Pos is the byte
// offset in the expression where libpcp puts its caret, Msg its message
// (pmDerivedErrStr).
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string { return e.Msg }

type parser struct {
	lx   lexer
	tok  token
	last int // position of the most recently lexed token (libpcp's lexicon)
	err  *SyntaxError
}

func (p *parser) advance() {
	p.tok = p.lx.next()
	p.last = p.tok.pos
	if p.tok.kind == tError && p.err == nil {
		p.err = &SyntaxError{Pos: p.tok.pos, Msg: p.lx.errmsg}
	}
}

// fail records the first error, positioned at the token being looked at.
//
// A bare yacc "syntax error" has no message (libpcp prints none); the innermost
// enclosing error rule then supplies one, as yacc's error recovery does.
func (p *parser) fail(msg string) *exprNode {
	if p.err == nil {
		p.err = &SyntaxError{Pos: p.last, Msg: msg}
	} else if p.err.Msg == "" {
		p.err.Msg = msg
	}
	return nil
}

func gramFollow(what, after string) string { return what + " expected to follow " + after }

// parseExpr parses a derived-metric expression (the right-hand side of a
// definition). The tree is unbound: names are resolved per context.
func parseExpr(s string) (*exprNode, *SyntaxError) {
	p := &parser{lx: lexer{s: s}}
	p.advance()
	if p.err != nil {
		return nil, p.err
	}
	if t := p.tok.kind; t != tMinus && t != tNot && t != tLParen {
		if txt, ok := tokText[t]; ok {
			p.advance() // yacc reports after reading the next token
			return nil, &SyntaxError{Pos: p.last, Msg: "Unexpected initial '" + txt + "'"}
		}
	}
	first := p.tok.kind
	n := p.expr(1)
	if p.err != nil {
		if p.err.Msg == "" && first == tLParen {
			p.err.Msg = "Unexpected initial '('"
		}
		return nil, p.err
	}
	if p.tok.kind != tEOS {
		if txt, ok := tokText[p.tok.kind]; ok {
			p.advance()
			if p.err == nil {
				return nil, &SyntaxError{Pos: p.last, Msg: "Unexpected '" + txt + "'"}
			}
			return nil, p.err
		}
		return nil, &SyntaxError{Pos: p.last, Msg: ""}
	}
	return n, nil
}

// binary operator precedence, as the yacc %left lines (higher binds tighter):
// ?: 1, && || 2, ! 3, relational 4, + - 5, * / 6.
var binPrec = map[tokKind]int{
	tQuest: 1, tAnd: 2, tOr: 2, tLT: 4, tLEQ: 4, tEQ: 4, tGEQ: 4, tGT: 4, tNEQ: 4,
	tPlus: 5, tMinus: 5, tStar: 6, tSlash: 6,
}

var binKind = map[tokKind]nodeKind{
	tAnd: nAnd, tOr: nOr, tLT: nLT, tLEQ: nLEQ, tEQ: nEQ, tGEQ: nGEQ, tGT: nGT, tNEQ: nNEQ,
	tPlus: nPlus, tMinus: nMinus, tStar: nStar, tSlash: nSlash,
}

func exprAfter(k nodeKind) string {
	if k == nAnd || k == nOr || k == nNot {
		return "Boolean expression"
	}
	return "Arithmetic expression"
}

func (p *parser) expr(minPrec int) *exprNode {
	left := p.unary()
	if left == nil {
		return nil
	}
	for p.err == nil {
		prec, ok := binPrec[p.tok.kind]
		if !ok || prec < minPrec {
			return left
		}
		op := p.tok.kind
		p.advance()
		if op == tQuest {
			mid := p.expr(1)
			if mid == nil {
				return p.fail(gramFollow(exprAfter(nQuest), nodeName[nQuest]))
			}
			if p.tok.kind != tColon {
				return p.fail("")
			}
			p.advance()
			right := p.expr(2)
			if right == nil {
				return p.fail(gramFollow(exprAfter(nColon), nodeName[nColon]))
			}
			left = &exprNode{kind: nQuest, left: left, right: &exprNode{kind: nColon, left: mid, right: right}}
			continue
		}
		k := binKind[op]
		right := p.expr(prec + 1)
		if right == nil {
			return p.fail(gramFollow(exprAfter(k), nodeName[k]))
		}
		left = &exprNode{kind: k, left: left, right: right}
	}
	return nil
}

func (p *parser) unary() *exprNode {
	switch p.tok.kind {
	case tMinus:
		p.advance()
		n := p.expr(6)
		if n == nil {
			return p.fail(gramFollow(exprAfter(nNeg), nodeName[nNeg]))
		}
		return &exprNode{kind: nNeg, left: n}
	case tNot:
		p.advance()
		n := p.expr(4)
		if n == nil {
			return p.fail(gramFollow(exprAfter(nNot), nodeName[nNot]))
		}
		return &exprNode{kind: nNot, left: n}
	}
	return p.primary()
}

func constDesc(typ int32) protocol.Desc {
	return protocol.Desc{PMID: protocol.PMIDNull, Type: typ, InDom: protocol.InDomNull, Sem: protocol.SemDiscrete}
}

func (p *parser) primary() *exprNode {
	t := p.tok
	switch t.kind {
	case tError:
		return nil
	case tLParen:
		p.advance()
		n := p.expr(1)
		if n == nil {
			return nil
		}
		if p.tok.kind != tRParen {
			return p.fail("")
		}
		p.advance()
		if p.tok.kind == tInstName {
			inst := p.tok.text
			p.advance()
			return &exprNode{kind: nFilterInst, left: &exprNode{kind: nPattern, value: inst, exact: true}, right: n}
		}
		return n
	case tInteger:
		p.advance()
		return &exprNode{kind: nInteger, value: t.text, desc: constDesc(protocol.TypeU32)}
	case tDouble:
		p.advance()
		return &exprNode{kind: nDouble, value: t.text, desc: constDesc(protocol.TypeDouble)}
	case tName:
		p.advance()
		n := &exprNode{kind: nName, value: t.text}
		if p.tok.kind == tInstName {
			inst := p.tok.text
			p.advance()
			return &exprNode{kind: nFilterInst, left: &exprNode{kind: nPattern, value: inst, exact: true}, right: n}
		}
		return n
	case tFunc:
		return p.function()
	}
	return p.fail("")
}

// expect consumes a token of kind k or fails with msg.
func (p *parser) expect(k tokKind, msg string) bool {
	if p.tok.kind != k {
		p.fail(msg)
		return false
	}
	p.advance()
	return true
}

func (p *parser) function() *exprNode {
	name := p.tok.text
	p.advance() // the name; the lexer left '(' next
	p.advance() // '('
	switch name {
	case "mkconst":
		return p.mkconst()
	case "rescale":
		e := p.expr(1)
		if e == nil {
			return p.fail(gramFollow("Arithmetic or relational or boolean operator", "rescale("))
		}
		if !p.expect(tComma, "") {
			return nil
		}
		if p.tok.kind != tString {
			return p.fail(gramFollow("Units string", "rescale(<expr>,"))
		}
		u, err := ParseUnits(p.tok.text)
		if err != nil {
			return p.fail("Illegal units: '" + err.Error() + "'")
		}
		p.advance()
		if !p.expect(tRParen, "") {
			return nil
		}
		sc := &exprNode{kind: nScale, desc: protocol.Desc{PMID: protocol.PMIDNull, InDom: protocol.InDomNull, Units: u}}
		return &exprNode{kind: nRescale, left: e, right: sc}
	case "matchinst":
		invert := false
		if p.tok.kind == tNot {
			invert = true
			p.lx.inMatchinst = true
			p.advance()
		}
		if p.tok.kind != tPattern {
			p.lx.inMatchinst = false
			return p.fail(gramFollow("<filter>, <expr>)", "matchinst("))
		}
		re, err := regexp.Compile(p.tok.text)
		if err != nil {
			return p.fail("bad regular expression: '" + err.Error() + "'")
		}
		pat := &exprNode{kind: nPattern, value: p.tok.text, re: re, invert: invert}
		p.advance()
		if p.tok.kind != tComma {
			return p.fail(gramFollow(", <expr>)", "matchinst(<filter>"))
		}
		p.advance()
		e := p.expr(1)
		if e == nil {
			return p.fail(gramFollow("<expr>)", "matchinst(<filter>,"))
		}
		if !p.expect(tRParen, "") {
			return nil
		}
		return &exprNode{kind: nFilterInst, left: pat, right: e}
	case "scalar":
		e := p.expr(1)
		if e == nil {
			return p.fail(gramFollow("<expr>", "scalar("))
		}
		if !p.expect(tRParen, "") {
			return nil
		}
		return &exprNode{kind: nScalar, left: e}
	case "anon":
		// anon() is libpcp-internal (event record unpacking); definitions
		// cannot use it meaningfully, so it is refused.
		return p.fail("")
	}
	// avg count delta max min sum rate instant defined: one metric name
	if p.tok.kind != tName {
		return p.fail(gramFollow("Metric name", name+"("))
	}
	arg := p.tok.text
	p.advance()
	if !p.expect(tRParen, "") {
		return nil
	}
	return &exprNode{kind: funcNames[name], left: &exprNode{kind: nName, value: arg}}
}

func (p *parser) mkconst() *exprNode {
	t := p.tok
	var n *exprNode
	switch t.kind {
	case tInteger:
		n = &exprNode{kind: nInteger, value: t.text, desc: constDesc(protocol.TypeU32)}
	case tDouble:
		n = &exprNode{kind: nDouble, value: t.text, desc: constDesc(protocol.TypeDouble)}
	default:
		return p.fail("")
	}
	p.advance()
	if !p.expect(tComma, "") {
		return nil
	}
	for {
		tag := p.tok.kind
		if tag != tType && tag != tSemantics && tag != tUnits {
			return p.fail("")
		}
		p.advance()
		if !p.expect(tAssign, "") {
			return nil
		}
		if k := p.tok.kind; k != tString && k != tName && k != tInteger {
			return p.fail("")
		}
		v := p.tok.text
		switch tag {
		case tType:
			typ, ok := map[string]int32{"32": protocol.Type32, "u32": protocol.TypeU32, "64": protocol.Type64,
				"u64": protocol.TypeU64, "float": protocol.TypeFloat, "double": protocol.TypeDouble}[strings.ToLower(v)]
			if !ok {
				return p.fail("Unrecognized value for type '" + v + "'")
			}
			n.desc.Type = typ
		case tSemantics:
			sem, ok := map[string]int32{"counter": protocol.SemCounter, "instant": protocol.SemInstant,
				"discrete": protocol.SemDiscrete}[strings.ToLower(v)]
			if !ok {
				return p.fail("Unrecognized value for semantics '" + v + "'")
			}
			n.desc.Sem = sem
		case tUnits:
			u, err := ParseUnits(v)
			if err != nil {
				return p.fail("Illegal units: '" + err.Error() + "'")
			}
			n.desc.Units = u
		}
		p.advance()
		if p.tok.kind == tComma {
			p.advance()
			continue
		}
		break
	}
	if !p.expect(tRParen, "") {
		return nil
	}
	if n.kind == nDouble && n.desc.Type != protocol.TypeDouble && n.desc.Type != protocol.TypeFloat {
		return p.fail("Incompatible floating point constant and type '" + TypeString(n.desc.Type) + "'")
	}
	return n
}

// errUnits is pmParseUnitsStr's message for a units string it cannot read.
var errUnits = errors.New("unrecognized or duplicate base unit")

// units is an unpacked pmUnits.
type units struct {
	dimSpace, dimTime, dimCount       int
	scaleSpace, scaleTime, scaleCount int
}

func unpackUnits(u protocol.Units) units {
	ds, dt, dc, ss, st, sc := UnitsFields(u)
	return units{ds, dt, dc, ss, st, sc}
}

func (u units) pack() protocol.Units {
	n4 := func(v int) uint32 { return uint32(v) & 0xf }
	return protocol.Units(n4(u.dimSpace)<<28 | n4(u.dimTime)<<24 | n4(u.dimCount)<<20 |
		n4(u.scaleSpace)<<16 | n4(u.scaleTime)<<12 | n4(u.scaleCount)<<8)
}

// ParseUnits parses a units string such as "Kbyte", "millisec / count" or
// "Mbytes/hour" (the common subset of pmParseUnitsStr: space, time and count
// words with optional ^N powers, one "/" between numerator and denominator, and
// "count x 10^N").
func ParseUnits(s string) (protocol.Units, error) {
	var u units
	fields := strings.Fields(strings.ReplaceAll(s, "/", " / "))
	sign := 1
	spaceWords := map[string]int{"byte": 0, "kbyte": 1, "kb": 1, "mbyte": 2, "mb": 2, "gbyte": 3, "gb": 3,
		"tbyte": 4, "tb": 4, "pbyte": 5, "pb": 5, "ebyte": 6, "eb": 6, "zbyte": 7, "ybyte": 8}
	timeWords := map[string]int{"nanosec": 0, "nsec": 0, "ns": 0, "microsec": 1, "usec": 1, "us": 1,
		"millisec": 2, "msec": 2, "ms": 2, "sec": 3, "second": 3, "s": 3, "min": 4, "minute": 4,
		"hour": 5, "hr": 5, "h": 5}
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if f == "/" {
			if sign < 0 {
				return 0, errUnits
			}
			sign = -1
			continue
		}
		if strings.EqualFold(f, "none") || f == "1" {
			continue
		}
		pow := 1
		if w, e, ok := strings.Cut(f, "^"); ok {
			n, err := strconv.Atoi(e)
			if err != nil || n < 1 || n > 7 {
				return 0, errUnits
			}
			f, pow = w, n
		}
		w := strings.ToLower(f)
		trimmed := strings.TrimSuffix(w, "s")
		if _, ok := spaceWords[w]; !ok {
			if _, ok := timeWords[w]; !ok && trimmed != w {
				w = trimmed
			}
		}
		if sc, ok := spaceWords[w]; ok {
			if u.dimSpace != 0 && u.scaleSpace != sc {
				return 0, errUnits
			}
			u.dimSpace += sign * pow
			u.scaleSpace = sc
			continue
		}
		if sc, ok := timeWords[w]; ok {
			if u.dimTime != 0 && u.scaleTime != sc {
				return 0, errUnits
			}
			u.dimTime += sign * pow
			u.scaleTime = sc
			continue
		}
		if w == "count" || w == "event" || w == "cnt" {
			u.dimCount += sign * pow
			if i+2 < len(fields) && fields[i+1] == "x" && strings.HasPrefix(fields[i+2], "10") {
				e := strings.TrimPrefix(strings.TrimPrefix(fields[i+2], "10"), "^")
				n := 1
				if e != "" {
					var err error
					if n, err = strconv.Atoi(e); err != nil || n < -8 || n > 7 {
						return 0, errUnits
					}
				}
				u.scaleCount = n
				i += 2
			}
			continue
		}
		return 0, errUnits
	}
	for _, d := range []int{u.dimSpace, u.dimTime, u.dimCount} {
		if d < -8 || d > 7 {
			return 0, errUnits
		}
	}
	if u.dimSpace == 0 {
		u.scaleSpace = 0
	}
	if u.dimTime == 0 {
		u.scaleTime = 0
	}
	return u.pack(), nil
}
