package xmldoc

// Reading @(...) and @{...} expressions inside policy documents.

import (
	"fmt"
	"strings"

	"github.com/apimguard/apimguard/policy/expr"
)

// expression reads an @(...) or @{...} expression starting at p.i and
// returns it with XML entities decoded. A lone '&' (as in C#'s &&) is kept.
func (p *reader) expression() (string, error) {
	start := p.i
	s := exprScanner{r: p}
	s.out.WriteByte('@')
	p.i++
	open, _ := s.next()
	closer := byte(')')
	if open == '{' {
		closer = '}'
	}
	if err := s.code(open, closer); err != nil {
		return "", p.errAt(start, "%v", err)
	}
	if s.out.Len() > expr.MaxLength {
		return "", p.errAt(start, "expression of %d bytes, longer than the %d allowed", s.out.Len(), expr.MaxLength)
	}
	return s.out.String(), nil
}

type exprScanner struct {
	r    *reader
	out  strings.Builder
	nest int // code blocks open: interpolation holes inside strings
}

// next returns the next decoded character and appends it to the output.
func (s *exprScanner) next() (byte, bool) {
	p := s.r
	if p.eof() {
		return 0, false
	}
	if p.src[p.i] == '&' {
		if r, n := decodeEntity(p.src[p.i:]); n > 0 && len(r) == 1 {
			p.i += n
			s.out.WriteString(r)
			return r[0], true
		}
	}
	c := p.src[p.i]
	p.i++
	s.out.WriteByte(c)
	return c, true
}

func (s *exprScanner) peek() byte {
	p := s.r
	if p.eof() {
		return 0
	}
	if p.src[p.i] == '&' {
		if r, n := decodeEntity(p.src[p.i:]); n > 0 && len(r) == 1 {
			return r[0]
		}
	}
	return p.src[p.i]
}

// before returns the output byte k places before the last one written.
func (s *exprScanner) before(k int) byte {
	o := s.out.String()
	if len(o) < k+1 {
		return 0
	}
	return o[len(o)-1-k]
}

// code consumes C# code up to and including the closer matching an
// already-consumed opener.
func (s *exprScanner) code(open, closer byte) error {
	if s.nest++; s.nest > 16 {
		return fmt.Errorf("interpolated strings nested too deeply in expression")
	}
	defer func() { s.nest-- }()
	depth := 0
	for {
		c, ok := s.next()
		if !ok {
			return fmt.Errorf("expression is not closed: missing %q", closer)
		}
		switch c {
		case '"':
			b1, b2 := s.before(1), s.before(2)
			verbatim := b1 == '@' || (b1 == '$' && b2 == '@')
			interp := b1 == '$' || (b1 == '@' && b2 == '$')
			if err := s.str(verbatim, interp); err != nil {
				return err
			}
		case '\'':
			if err := s.char(); err != nil {
				return err
			}
		case '/':
			switch s.peek() {
			case '/':
				for {
					c, ok := s.next()
					if !ok || c == '\n' {
						break
					}
				}
			case '*':
				s.next()
				for {
					c, ok := s.next()
					if !ok {
						return fmt.Errorf("unterminated comment in expression")
					}
					if c == '*' && s.peek() == '/' {
						s.next()
						break
					}
				}
			}
		case open:
			depth++
		case closer:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

// str consumes a C# string literal after its opening quote.
func (s *exprScanner) str(verbatim, interp bool) error {
	for {
		c, ok := s.next()
		if !ok {
			return fmt.Errorf("unterminated string literal in expression")
		}
		switch {
		case c == '\\' && !verbatim:
			if _, ok := s.next(); !ok {
				return fmt.Errorf("unterminated string literal in expression")
			}
		case c == '"':
			if verbatim && s.peek() == '"' {
				s.next()
				continue
			}
			return nil
		case c == '{' && interp:
			if s.peek() == '{' {
				s.next()
				continue
			}
			if err := s.code('{', '}'); err != nil {
				return err
			}
		}
	}
}

// char consumes a C# character literal after its opening quote.
func (s *exprScanner) char() error {
	for {
		c, ok := s.next()
		if !ok {
			return fmt.Errorf("unterminated character literal in expression")
		}
		if c == '\\' {
			s.next()
			continue
		}
		if c == '\'' {
			return nil
		}
	}
}
