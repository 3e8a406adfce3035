package expr

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tString // a plain, verbatim or fully literal string
	tInterp // an interpolated string: parts in tok.parts
	tChar
	tOp     // punctuation and operators, text in tok.text
	tDouble // a double literal, its value in tok.fnum
)

type token struct {
	kind  tokKind
	text  string // identifier, operator, or the decoded string/char value
	num   int64
	fnum  float64
	off   int // byte offset in the source
	parts []interpPart
}

// interpPart is one piece of an interpolated string: literal text, or the
// source of a hole ({expr}) with its offset.
type interpPart struct {
	lit  string
	hole string
	off  int
}

// operators, longest first so that "==" wins over "=".
var operators = []string{
	"=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=",
	"(", ")", "[", "]", "{", "}", ".", ",", ";", ":", "?", "!", "<", ">", "=", "+", "-", "*", "/", "%",
}

type lexer struct {
	src  string
	base int // offset of src inside the whole expression, for positions
	i    int
	// nest counts the interpolated strings this lexer is inside.
	nest int
}

// Bounds on expression sources, so no expression can exhaust the VM's stack
// while it is read, type-checked or evaluated (see RATIONALE.md, "Why are
// there load-time limits?").
const (
	// MaxLength is the longest expression source, in bytes.
	MaxLength = 64 * 1024
	// maxInterpolation is how deep interpolated strings may nest.
	maxInterpolation = 8
	// maxParseDepth is how deep the parser may recurse: brackets, unary
	// operators, casts, lambdas and blocks inside one another.
	maxParseDepth = 64
	// maxTreeDepth is how deep the expression tree may be, counting each
	// operand of a chain (a + b + c is three levels).
	maxTreeDepth = 256
)

// SyntaxError is an expression that could not be read. Off is a byte
// offset into the expression's source.
type SyntaxError struct {
	Off int
	Msg string
}

func (e *SyntaxError) Error() string { return e.Msg }

func (l *lexer) errf(off int, format string, args ...any) error {
	return &SyntaxError{Off: l.base + off, Msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) tokens() ([]token, error) {
	var out []token
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		if t.kind == tEOF {
			return out, nil
		}
	}
}

func (l *lexer) skip() error {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.i++
		case strings.HasPrefix(l.src[l.i:], "//"):
			end := strings.IndexByte(l.src[l.i:], '\n')
			if end < 0 {
				l.i = len(l.src)
			} else {
				l.i += end
			}
		case strings.HasPrefix(l.src[l.i:], "/*"):
			end := strings.Index(l.src[l.i+2:], "*/")
			if end < 0 {
				return l.errf(l.i, "unterminated comment")
			}
			l.i += end + 4
		default:
			return nil
		}
	}
	return nil
}

func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	start := l.i
	if l.i >= len(l.src) {
		return token{kind: tEOF, off: l.base + start}, nil
	}
	c := l.src[l.i]
	switch {
	case c == '"':
		s, err := l.str(false)
		return token{kind: tString, text: s, off: l.base + start}, err
	case c == '@' && strings.HasPrefix(l.src[l.i:], `@"`):
		l.i++
		s, err := l.str(true)
		return token{kind: tString, text: s, off: l.base + start}, err
	case c == '$' || (c == '@' && strings.HasPrefix(l.src[l.i:], `@$"`)):
		verbatim := c == '@' || strings.HasPrefix(l.src[l.i:], `$@"`)
		if verbatim {
			l.i += 2
		} else {
			l.i++
		}
		if l.i >= len(l.src) || l.src[l.i] != '"' {
			return token{}, l.errf(start, "unexpected %q", c)
		}
		parts, err := l.interp(verbatim)
		return token{kind: tInterp, parts: parts, off: l.base + start}, err
	case c == '\'':
		r, err := l.char()
		return token{kind: tChar, text: string(r), off: l.base + start}, err
	case '0' <= c && c <= '9':
		for l.i < len(l.src) && ('0' <= l.src[l.i] && l.src[l.i] <= '9') {
			l.i++
		}
		if t, ok, err := l.real(start); ok || err != nil {
			return t, err
		}
		// C#'s integer suffixes L and l.
		text := l.src[start:l.i]
		if l.i < len(l.src) && (l.src[l.i] == 'L' || l.src[l.i] == 'l') {
			l.i++
		}
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return token{}, l.errf(start, "number %s is out of range", text)
		}
		return token{kind: tInt, num: n, text: text, off: l.base + start}, nil
	case c == '_' || c == '@' || isLetter(l.src[l.i:]):
		if c == '@' { // @keyword escapes
			l.i++
		}
		for l.i < len(l.src) {
			r, n := utf8.DecodeRuneInString(l.src[l.i:])
			if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				break
			}
			l.i += n
		}
		id := strings.TrimPrefix(l.src[start:l.i], "@")
		if id == "" {
			return token{}, l.errf(start, "unexpected '@'")
		}
		return token{kind: tIdent, text: id, off: l.base + start}, nil
	}
	for _, op := range operators {
		if strings.HasPrefix(l.src[l.i:], op) {
			l.i += len(op)
			return token{kind: tOp, text: op, off: l.base + start}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.i:])
	return token{}, l.errf(start, "unexpected character %q", r)
}

func isLetter(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r)
}

// str reads a string literal starting at its opening quote.
func (l *lexer) str(verbatim bool) (string, error) {
	start := l.i
	l.i++
	var b strings.Builder
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == '"' && verbatim && strings.HasPrefix(l.src[l.i:], `""`):
			b.WriteByte('"')
			l.i += 2
		case c == '"':
			l.i++
			return b.String(), nil
		case c == '\\' && !verbatim:
			r, err := l.escape()
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		case c == '\n' && !verbatim:
			return "", l.errf(start, "newline in string literal")
		default:
			b.WriteByte(c)
			l.i++
		}
	}
	return "", l.errf(start, "unterminated string literal")
}

// escape reads a C# escape sequence at a backslash.
func (l *lexer) escape() (rune, error) {
	start := l.i
	l.i++
	if l.i >= len(l.src) {
		return 0, l.errf(start, "unterminated escape sequence")
	}
	c := l.src[l.i]
	l.i++
	switch c {
	case '\'', '"', '\\':
		return rune(c), nil
	case '0':
		return 0, nil
	case 'a':
		return '\a', nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'v':
		return '\v', nil
	case 'u':
		if l.i+4 > len(l.src) {
			return 0, l.errf(start, "bad \\u escape")
		}
		v, err := strconv.ParseUint(l.src[l.i:l.i+4], 16, 32)
		if err != nil {
			return 0, l.errf(start, "bad \\u escape")
		}
		l.i += 4
		return rune(v), nil
	}
	return 0, l.errf(start, "unknown escape sequence \\%c", c)
}

// char reads a character literal at its opening quote.
func (l *lexer) char() (rune, error) {
	start := l.i
	l.i++
	if l.i >= len(l.src) {
		return 0, l.errf(start, "unterminated character literal")
	}
	var r rune
	if l.src[l.i] == '\\' {
		var err error
		if r, err = l.escape(); err != nil {
			return 0, err
		}
	} else {
		var n int
		r, n = utf8.DecodeRuneInString(l.src[l.i:])
		l.i += n
	}
	if l.i >= len(l.src) || l.src[l.i] != '\'' {
		return 0, l.errf(start, "character literal must hold one character")
	}
	l.i++
	return r, nil
}

// interp reads an interpolated string at its opening quote. Holes are kept
// as source text and parsed by the parser.
func (l *lexer) interp(verbatim bool) ([]interpPart, error) {
	start := l.i
	if l.nest >= maxInterpolation {
		return nil, l.errf(start, "interpolated strings nested deeper than %d levels", maxInterpolation)
	}
	l.i++
	var parts []interpPart
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			parts = append(parts, interpPart{lit: b.String()})
			b.Reset()
		}
	}
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == '{' && strings.HasPrefix(l.src[l.i:], "{{"):
			b.WriteByte('{')
			l.i += 2
		case c == '}' && strings.HasPrefix(l.src[l.i:], "}}"):
			b.WriteByte('}')
			l.i += 2
		case c == '{':
			flush()
			holeStart := l.i + 1
			end, err := l.holeEnd(holeStart)
			if err != nil {
				return nil, err
			}
			parts = append(parts, interpPart{hole: l.src[holeStart:end], off: l.base + holeStart})
			l.i = end + 1
		case c == '"' && verbatim && strings.HasPrefix(l.src[l.i:], `""`):
			b.WriteByte('"')
			l.i += 2
		case c == '"':
			l.i++
			flush()
			return parts, nil
		case c == '\\' && !verbatim:
			r, err := l.escape()
			if err != nil {
				return nil, err
			}
			b.WriteRune(r)
		default:
			b.WriteByte(c)
			l.i++
		}
	}
	return nil, l.errf(start, "unterminated interpolated string")
}

// holeEnd finds the '}' closing an interpolation hole that starts at i,
// skipping nested brackets and string literals.
func (l *lexer) holeEnd(i int) (int, error) {
	depth := 0
	sub := &lexer{src: l.src, base: l.base, i: i, nest: l.nest + 1}
	for {
		if err := sub.skip(); err != nil {
			return 0, err
		}
		if sub.i >= len(sub.src) {
			return 0, l.errf(i-1, "unterminated interpolation hole")
		}
		switch c := sub.src[sub.i]; c {
		case '{', '(', '[':
			depth++
			sub.i++
		case ')', ']':
			depth--
			sub.i++
		case '}':
			if depth == 0 {
				return sub.i, nil
			}
			depth--
			sub.i++
		case ':':
			if depth == 0 {
				return 0, l.errf(sub.i, "format specifiers in interpolation holes are not supported")
			}
			sub.i++
		default:
			if _, err := sub.next(); err != nil {
				return 0, err
			}
		}
	}
}

// real reads the rest of a number that starts at start as a double, when it
// is one: digits, then a fraction, an exponent or the suffix d (or f: a
// float, read as a double). A decimal (m) is refused.
func (l *lexer) real(start int) (token, bool, error) {
	isDigit := func(i int) bool { return i < len(l.src) && '0' <= l.src[i] && l.src[i] <= '9' }
	i, isReal := l.i, false
	if i < len(l.src) && l.src[i] == '.' && isDigit(i+1) {
		for i++; isDigit(i); i++ {
		}
		isReal = true
	}
	if i < len(l.src) && (l.src[i] == 'e' || l.src[i] == 'E') {
		j := i + 1
		if j < len(l.src) && (l.src[j] == '+' || l.src[j] == '-') {
			j++
		}
		if isDigit(j) {
			for i = j; isDigit(i); i++ {
			}
			isReal = true
		}
	}
	text := l.src[start:i]
	if i < len(l.src) {
		switch l.src[i] {
		case 'm', 'M':
			return token{}, false, l.errf(start, "decimal numbers (the m suffix) are not supported: use a double")
		case 'd', 'D', 'f', 'F':
			i++
			isReal = true
		}
	}
	if !isReal {
		return token{}, false, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return token{}, false, l.errf(start, "number %s is out of range", text)
	}
	l.i = i
	return token{kind: tDouble, fnum: f, text: text, off: l.base + start}, true, nil
}
