package expr

import "strings"

// typeNames are the type names accepted in casts, declarations and type
// arguments.
var typeNames = map[string]bool{
	"string": true, "String": true, "bool": true, "Boolean": true, "int": true, "long": true, "Int32": true, "Int64": true,
	"object": true, "var": true, "Jwt": true, "IResponse": true, "JObject": true, "JToken": true, "JArray": true,
	"BasicAuthCredentials": true, "byte": true, "Guid": true, "DateTime": true, "DateTimeOffset": true, "TimeSpan": true,
	"HMACSHA256": true, "HMACSHA1": true, "HMACSHA512": true, "SHA256": true, "SHA1": true, "SHA512": true, "MD5": true, "HashAlgorithm": true, "JProperty": true, "Random": true, "double": true, "Double": true,
}

type parser struct {
	toks []token
	i    int
	lex  *lexer
	// depth is the recursion depth, shared with the parsers of
	// interpolation holes.
	depth *int
}

// enter counts one level of recursion; leave undoes it.
func (p *parser) enter() error {
	*p.depth++
	if *p.depth > maxParseDepth {
		return p.errHere("expression nested deeper than %d levels", maxParseDepth)
	}
	return nil
}

func (p *parser) leave() { *p.depth-- }

// peek returns the next token; past the end, the final tEOF again.
func (p *parser) peek() token {
	if p.i >= len(p.toks) {
		return p.toks[len(p.toks)-1]
	}
	return p.toks[p.i]
}
func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) advance() token { t := p.peek(); p.i++; return t }

func (p *parser) isOp(s string) bool { t := p.peek(); return t.kind == tOp && t.text == s }

func (p *parser) accept(s string) bool {
	if p.isOp(s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(s string) error {
	if !p.accept(s) {
		return p.errHere("expected %q", s)
	}
	return nil
}

func (p *parser) errHere(format string, args ...any) error {
	t := p.peek()
	suffix := ""
	switch t.kind {
	case tEOF:
		suffix = " at the end"
	case tIdent, tOp:
		suffix = " before " + quote(t.text)
	}
	return &SyntaxError{Off: t.off, Msg: sprintf(format, args...) + suffix}
}

func quote(s string) string { return `"` + s + `"` }

// parseTokens parses src (without the @( ) or @{ } wrapper) starting at base.
func newParser(src string, base int, depth *int) (*parser, error) {
	lx := &lexer{src: src, base: base}
	toks, err := lx.tokens()
	if err != nil {
		return nil, err
	}
	return &parser{toks: toks, lex: lx, depth: depth}, nil
}

// expression := lambda | conditional
func (p *parser) expression() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if t := p.peek(); t.kind == tIdent && p.peekAt(1).kind == tOp && p.peekAt(1).text == "=>" {
		p.i += 2
		body, err := p.expression()
		if err != nil {
			return nil, err
		}
		return &lambdaNode{param: t.text, body: body, off: t.off}, nil
	}
	return p.conditional()
}

func (p *parser) conditional() (node, error) {
	c, err := p.coalesce()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); p.accept("?") {
		a, err := p.expression()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		b, err := p.expression()
		if err != nil {
			return nil, err
		}
		return &condNode{c: c, a: a, b: b, off: t.off}, nil
	}
	return c, nil
}

func (p *parser) coalesce() (node, error) {
	x, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); p.accept("??") {
		y, err := p.coalesce()
		if err != nil {
			return nil, err
		}
		return &binaryNode{op: "??", x: x, y: y, off: t.off}, nil
	}
	return x, nil
}

// binaryLevels are C#'s binary operators from the loosest to the tightest.
var binaryLevels = [][]string{
	{"||"},
	{"&&"},
	{"==", "!="},
	{"<", ">", "<=", ">="},
	{"+", "-"},
	{"*", "/", "%"},
}

func (p *parser) binary(level int) (node, error) {
	if level == len(binaryLevels) {
		return p.unary()
	}
	x, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		if level == 3 {
			if x, err = p.relational(x); err != nil {
				return nil, err
			}
		}
		t := p.peek()
		if t.kind != tOp || !contains(binaryLevels[level], t.text) {
			return x, nil
		}
		p.i++
		y, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		x = &binaryNode{op: t.text, x: x, y: y, off: t.off}
	}
}

// relational is the relational level (binaryLevels[3]) with C#'s x as T,
// which binds there too.
func (p *parser) relational(x node) (node, error) {
	for {
		t := p.peek()
		if t.kind != tIdent || t.text != "as" {
			return x, nil
		}
		p.i++
		typ := p.advance()
		if typ.kind != tIdent {
			return nil, p.errHere("expected a type after as")
		}
		name := typ.text
		if p.isOp("[") && p.peekAt(1).kind == tOp && p.peekAt(1).text == "]" {
			p.i += 2
			name += "[]"
		}
		x = &castNode{typ: name, x: x, off: t.off, as: true}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (p *parser) unary() (node, error) {
	t := p.peek()
	if t.kind == tOp && (t.text == "!" || t.text == "-" || t.text == "+") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		p.i++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &unaryNode{op: t.text, x: x, off: t.off}, nil
	}
	if typ, n, ok := p.castAhead(); ok {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		p.i += n
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &castNode{typ: typ, x: x, off: t.off}, nil
	}
	return p.postfix()
}

// castAhead recognises "(Type)" or "(Type[])" followed by the start of an
// operand, and returns the type and the number of tokens it spans.
func (p *parser) castAhead() (string, int, bool) {
	if !p.isOp("(") {
		return "", 0, false
	}
	id := p.peekAt(1)
	if id.kind != tIdent || id.text == "var" {
		return "", 0, false
	}
	typ, n := id.text, 2
	if t := p.peekAt(2); t.kind == tOp && t.text == "[" {
		if t2 := p.peekAt(3); t2.kind == tOp && t2.text == "]" {
			typ, n = typ+"[]", 4
		}
	}
	if t := p.peekAt(n); t.kind != tOp || t.text != ")" {
		return "", 0, false
	}
	n++
	switch next := p.peekAt(n); next.kind {
	case tIdent, tInt, tDouble, tString, tInterp, tChar:
		return typ, n, true
	case tOp:
		// (int)-x is a cast: C#'s keyword types cannot be a value
		// that something is subtracted from.
		if next.text == "(" || next.text == "!" || (next.text == "-" && (typ == "int" || typ == "long" || typ == "double")) {
			return typ, n, true
		}
	}
	return "", 0, false
}

func (p *parser) postfix() (node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case p.isOp(".") || p.isOp("?."):
			p.i++
			name := p.peek()
			if name.kind != tIdent {
				return nil, p.errHere("expected a member name")
			}
			p.i++
			x = &memberNode{x: x, name: name.text, nullCond: t.text == "?.", off: name.off}
			if typeArgs, ok := p.typeArgsAhead(); ok {
				call, err := p.call(x, typeArgs, name.off)
				if err != nil {
					return nil, err
				}
				x = call
			}
		case p.isOp("("):
			off := t.off
			if m, ok := x.(*memberNode); ok {
				off = m.off
			}
			call, err := p.call(x, nil, off)
			if err != nil {
				return nil, err
			}
			x = call
		case p.isOp("["):
			p.i++
			idx, err := p.expression()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			x = &indexNode{x: x, index: idx, off: t.off}
		default:
			return x, nil
		}
	}
}

// typeArgsAhead reads "<T, U>" when it is followed by "(" (a generic call),
// leaving the position unchanged otherwise.
func (p *parser) typeArgsAhead() ([]string, bool) {
	if !p.isOp("<") {
		return nil, false
	}
	save := p.i
	p.i++
	var args []string
	for {
		t := p.peek()
		if t.kind != tIdent {
			p.i = save
			return nil, false
		}
		p.i++
		args = append(args, t.text)
		if p.accept(",") {
			continue
		}
		if p.accept(">") && p.isOp("(") {
			return args, true
		}
		p.i = save
		return nil, false
	}
}

func (p *parser) call(fn node, typeArgs []string, off int) (node, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	c := &callNode{fn: fn, typeArgs: typeArgs, off: off}
	if p.accept(")") {
		return c, nil
	}
	for {
		if t := p.peek(); t.kind == tIdent && t.text == "out" {
			p.i++
			a := &outArg{off: t.off}
			first := p.advance()
			if first.kind != tIdent {
				return nil, p.errHere("expected a variable after out")
			}
			if next := p.peek(); next.kind == tIdent {
				a.declType, a.name = first.text, next.text
				p.i++
			} else {
				a.name = first.text
			}
			c.args = append(c.args, a)
		} else if t.kind == tIdent && p.i+1 < len(p.toks) && p.toks[p.i+1].kind == tOp && p.toks[p.i+1].text == ":" {
			// name: value (a conditional's ':' never follows an identifier
			// at the start of an argument).
			p.i += 2
			arg, err := p.expression()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, &namedArg{name: t.text, x: arg, off: t.off})
		} else {
			arg, err := p.expression()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, arg)
		}
		if p.accept(")") {
			return c, nil
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
	}
}

func (p *parser) primary() (node, error) {
	t := p.advance()
	switch t.kind {
	case tInt:
		return &intLit{v: t.num, off: t.off}, nil
	case tDouble:
		return &doubleLit{v: t.fnum, off: t.off}, nil
	case tString:
		return &strLit{v: t.text, off: t.off}, nil
	case tChar:
		return &charLit{v: []rune(t.text)[0], off: t.off}, nil
	case tInterp:
		return p.interpolation(t)
	case tIdent:
		switch t.text {
		case "true", "false":
			return &boolLit{v: t.text == "true", off: t.off}, nil
		case "null":
			return &nullLit{off: t.off}, nil
		case "new":
			return p.newArray(t)
		}
		id := &identNode{name: t.text, off: t.off}
		if typeArgs, ok := p.typeArgsAhead(); ok {
			return p.call(id, typeArgs, t.off)
		}
		return id, nil
	case tOp:
		if t.text == "(" {
			x, err := p.expression()
			if err != nil {
				return nil, err
			}
			return x, p.expect(")")
		}
	}
	p.i--
	return nil, p.errHere("expected an operand")
}

// newArray reads "new [] { a, b }" or "new string[] { a, b }".
func (p *parser) newArray(t token) (node, error) {
	// new { a = 1, b }: an anonymous object.
	if p.isOp("{") {
		p.i++
		n := &anonNode{off: t.off}
		for !p.accept("}") {
			id := p.advance()
			if id.kind != tIdent {
				return nil, &SyntaxError{Off: id.off, Msg: "expected a member name in the anonymous object"}
			}
			var v node = &identNode{name: id.text, off: id.off}
			if p.accept("=") {
				var err error
				if v, err = p.expression(); err != nil {
					return nil, err
				}
			}
			n.names, n.values = append(n.names, id.text), append(n.values, v)
			if !p.accept(",") {
				if err := p.expect("}"); err != nil {
					return nil, err
				}
				break
			}
		}
		return n, nil
	}
	// new Class(args), the class perhaps namespace-qualified.
	if id := p.peek(); id.kind == tIdent {
		k := 1
		for p.peekAt(k).kind == tOp && p.peekAt(k).text == "." && p.peekAt(k+1).kind == tIdent {
			k += 2
		}
		if next := p.peekAt(k); next.kind == tOp && next.text == "(" {
			class := p.peekAt(k - 1).text
			p.i += k
			c, err := p.call(&identNode{name: class, off: id.off}, nil, id.off)
			if err != nil {
				return nil, err
			}
			return &newObjNode{class: class, args: c.(*callNode).args, off: t.off}, nil
		}
	}
	n := &newArrayNode{off: t.off}
	if id := p.peek(); id.kind == tIdent {
		if !typeNames[id.text] {
			return nil, p.errHere("only arrays can be created with new")
		}
		n.elemType = id.text
		p.i++
	}
	if err := p.expect("["); err != nil {
		return nil, err
	}
	if err := p.expect("]"); err != nil {
		return nil, err
	}
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	for !p.accept("}") {
		e, err := p.expression()
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, e)
		if !p.accept(",") {
			if err := p.expect("}"); err != nil {
				return nil, err
			}
			break
		}
	}
	return n, nil
}

func (p *parser) interpolation(t token) (node, error) {
	n := &interpLit{off: t.off}
	lit := ""
	for _, part := range t.parts {
		if part.hole == "" {
			lit += part.lit
			continue
		}
		n.lits = append(n.lits, lit)
		lit = ""
		sub, err := newParser(part.hole, part.off, p.depth)
		if err != nil {
			return nil, err
		}
		x, err := sub.expression()
		if err != nil {
			return nil, err
		}
		if sub.peek().kind != tEOF {
			return nil, sub.errHere("unexpected token in interpolation hole")
		}
		n.holes = append(n.holes, x)
	}
	n.lits = append(n.lits, lit)
	return n, nil
}

// parse reads a whole expression source: "@(...)" or "@{...}".
func parse(src string) (node, []stmt, error) {
	src = strings.TrimSpace(src)
	if len(src) > MaxLength {
		return nil, nil, &SyntaxError{Msg: sprintf("expression of %d bytes, longer than the %d allowed", len(src), MaxLength)}
	}
	switch {
	case strings.HasPrefix(src, "@(") && strings.HasSuffix(src, ")"):
		p, err := newParser(src[2:len(src)-1], 2, new(int))
		if err != nil {
			return nil, nil, err
		}
		x, err := p.expression()
		if err != nil {
			return nil, nil, err
		}
		if p.peek().kind != tEOF {
			return nil, nil, p.errHere("unexpected token")
		}
		return x, nil, nil
	case strings.HasPrefix(src, "@{") && strings.HasSuffix(src, "}"):
		p, err := newParser(src[2:len(src)-1], 2, new(int))
		if err != nil {
			return nil, nil, err
		}
		stmts, err := p.block(false)
		return nil, stmts, err
	}
	return nil, nil, &SyntaxError{Msg: "an expression must be @(...) or @{...}"}
}
