package expr

// assignOps are the operators after a variable that make an assignment.
var assignOps = map[string]bool{"=": true, "+=": true, "-=": true, "++": true, "--": true}

// Statements of @{...} blocks: declarations, assignments (=, +=, -=, ++,
// --), if/else, while, for, foreach, break, continue, try/catch, using,
// return and method calls. Expressions are parsed in parser.go.

// block reads statements up to the end of the tokens or a closing brace.
func (p *parser) block(nested bool) ([]stmt, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var out []stmt
	for {
		if nested && p.accept("}") {
			return out, nil
		}
		if p.peek().kind == tEOF {
			if nested {
				return nil, p.errHere("expected \"}\"")
			}
			return out, nil
		}
		s, err := p.statement()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
}

func (p *parser) body() ([]stmt, error) {
	if p.accept("{") {
		return p.block(true)
	}
	s, err := p.statement()
	if err != nil {
		return nil, err
	}
	return []stmt{s}, nil
}

// unsupportedStatements are C# statement keywords outside the subset.
var unsupportedStatements = map[string]bool{
	"do": true, "throw": true, "goto": true, "lock": true,
}

// parenthesised reads "( expression )".
func (p *parser) parenthesised() (node, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	x, err := p.expression()
	if err != nil {
		return nil, err
	}
	return x, p.expect(")")
}

// loop reads while, for and foreach after their keyword t.
func (p *parser) loop(t token) (stmt, error) {
	l := &loopStmt{off: t.off}
	var err error
	switch t.text {
	case "while":
		if l.cond, err = p.parenthesised(); err != nil {
			return nil, err
		}
	case "foreach":
		if err := p.expect("("); err != nil {
			return nil, err
		}
		typ, name := p.advance(), p.advance()
		if typ.kind != tIdent || name.kind != tIdent || !typeNames[typ.text] {
			return nil, &SyntaxError{Off: typ.off, Msg: "expected foreach (var name in sequence)"}
		}
		if in := p.advance(); in.kind != tIdent || in.text != "in" {
			return nil, &SyntaxError{Off: in.off, Msg: "expected in"}
		}
		l.each, l.name = typ.text, name.text
		if l.seq, err = p.expression(); err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
	case "for":
		if err := p.expect("("); err != nil {
			return nil, err
		}
		if !p.isOp(";") {
			if l.init, err = p.simple(); err != nil {
				return nil, err
			}
		}
		if err := p.expect(";"); err != nil {
			return nil, err
		}
		if !p.isOp(";") {
			if l.cond, err = p.expression(); err != nil {
				return nil, err
			}
		}
		if err := p.expect(";"); err != nil {
			return nil, err
		}
		if !p.isOp(")") {
			if l.step, err = p.simple(); err != nil {
				return nil, err
			}
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
	}
	l.body, err = p.body()
	return l, err
}

// tryCatch reads try { } catch [(Exception [name])] { } after try.
func (p *parser) tryCatch(t token) (stmt, error) {
	s := &tryStmt{off: t.off}
	var err error
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	if s.body, err = p.block(true); err != nil {
		return nil, err
	}
	if c := p.advance(); c.kind != tIdent || c.text != "catch" {
		return nil, &SyntaxError{Off: c.off, Msg: "expected catch (try/finally is not supported)"}
	}
	if p.accept("(") {
		if typ := p.advance(); typ.kind != tIdent || typ.text != "Exception" {
			return nil, &SyntaxError{Off: typ.off, Msg: "only catch (Exception) is supported"}
		}
		if n := p.peek(); n.kind == tIdent {
			s.name = n.text
			p.i++
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
	}
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	s.handler, err = p.block(true)
	return s, err
}

// simple reads a declaration or an assignment (=, +=, -=, ++, --) without
// its ';': the statements for's init and step hold.
func (p *parser) simple() (stmt, error) {
	t := p.peek()
	if t.kind == tOp && (t.text == "++" || t.text == "--") {
		p.i++
		id := p.advance()
		if id.kind != tIdent {
			return nil, &SyntaxError{Off: id.off, Msg: "expected a variable after " + t.text}
		}
		return incr(id, t.text), nil
	}
	if t.kind != tIdent {
		return nil, p.errHere("expected a declaration or an assignment")
	}
	if typ, ok := p.typeAhead(); ok {
		d := &declStmt{typ: typ, name: p.toks[p.i-1].text, off: t.off}
		if p.accept("=") {
			x, err := p.expression()
			if err != nil {
				return nil, err
			}
			d.init = x
		} else if typ == "var" {
			return nil, p.errHere("var needs an initial value")
		}
		return d, nil
	}
	op := p.peekAt(1)
	if op.kind == tOp {
		switch op.text {
		case "=", "+=", "-=":
			p.i += 2
			x, err := p.expression()
			if err != nil {
				return nil, err
			}
			if op.text != "=" {
				x = &binaryNode{op: op.text[:1], x: &identNode{name: t.text, off: t.off}, y: x, off: op.off}
			}
			return &assignStmt{name: t.text, value: x, off: t.off}, nil
		case "++", "--":
			p.i += 2
			return incr(t, op.text), nil
		}
	}
	return nil, p.errHere("expected a declaration or an assignment")
}

// incr is name++ or name-- as an assignment.
func incr(name token, op string) stmt {
	return &assignStmt{name: name.text, value: &binaryNode{op: op[:1], x: &identNode{name: name.text, off: name.off}, y: &intLit{v: 1, off: name.off}, off: name.off}, off: name.off}
}

// typeAheadPeek is typeAhead without consuming anything.
func (p *parser) typeAheadPeek() (string, bool) {
	i := p.i
	typ, ok := p.typeAhead()
	p.i = i
	return typ, ok
}

// typeAhead consumes "Type name" or "Type[] name" of a declaration and
// returns the type ("string[]"); ok is false, consuming nothing, when the
// tokens are not one.
func (p *parser) typeAhead() (string, bool) {
	t := p.peek()
	if t.kind != tIdent || !typeNames[t.text] {
		return "", false
	}
	if p.peekAt(1).kind == tIdent {
		p.i += 2
		return t.text, true
	}
	if p.peekAt(1).kind == tOp && p.peekAt(1).text == "[" && p.peekAt(2).kind == tOp && p.peekAt(2).text == "]" && p.peekAt(3).kind == tIdent {
		p.i += 4
		return t.text + "[]", true
	}
	return "", false
}

func (p *parser) statement() (stmt, error) {
	t := p.peek()
	if t.kind == tIdent {
		if unsupportedStatements[t.text] {
			return nil, &SyntaxError{Off: t.off, Msg: "unsupported statement " + t.text + ": use declarations, assignments, if/else, loops, try/catch and return"}
		}
		switch {
		case t.text == "return":
			p.i++
			x, err := p.expression()
			if err != nil {
				return nil, err
			}
			return &returnStmt{x: x, off: t.off}, p.expect(";")
		case t.text == "if":
			p.i++
			if err := p.expect("("); err != nil {
				return nil, err
			}
			c, err := p.expression()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			then, err := p.body()
			if err != nil {
				return nil, err
			}
			s := &ifStmt{cond: c, then: then, off: t.off}
			if e := p.peek(); e.kind == tIdent && e.text == "else" {
				p.i++
				if s.els, err = p.body(); err != nil {
					return nil, err
				}
			}
			return s, nil
		case t.text == "while" || t.text == "for" || t.text == "foreach":
			p.i++
			return p.loop(t)
		case t.text == "break" || t.text == "continue":
			p.i++
			return &jumpStmt{brk: t.text == "break", off: t.off}, p.expect(";")
		case t.text == "try":
			p.i++
			return p.tryCatch(t)
		case t.text == "switch":
			p.i++
			return p.switchStmt(t)
		case t.text == "using":
			// using (declaration) body: the declaration, then the body.
			p.i++
			if err := p.expect("("); err != nil {
				return nil, err
			}
			d, err := p.simple()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			body, err := p.body()
			if err != nil {
				return nil, err
			}
			return &blockStmt{body: append([]stmt{d}, body...), off: t.off}, nil
		}
		if t.text == "void" || t.text == "static" {
			return nil, &SyntaxError{Off: t.off, Msg: t.text + " local functions are not supported: give the function a return type"}
		}
		if typeNames[t.text] && p.peekAt(1).kind == tIdent && p.peekAt(2).kind == tOp && p.peekAt(2).text == "(" {
			return p.localFunc()
		}
		if _, isType := p.typeAheadPeek(); isType || (p.peekAt(1).kind == tOp && assignOps[p.peekAt(1).text]) {
			s, err := p.simple()
			if err != nil {
				return nil, err
			}
			return s, p.expect(";")
		}
	}
	if t.kind == tOp && (t.text == "++" || t.text == "--") {
		s, err := p.simple()
		if err != nil {
			return nil, err
		}
		return s, p.expect(";")
	}
	x, err := p.expression()
	if err != nil {
		return nil, err
	}
	if ix, ok := x.(*indexNode); ok && p.accept("=") {
		v, err := p.expression()
		if err != nil {
			return nil, err
		}
		return &setIndexStmt{target: ix, value: v, off: t.off}, p.expect(";")
	}
	if _, ok := x.(*callNode); !ok {
		return nil, &SyntaxError{Off: t.off, Msg: "only method calls can be used as statements"}
	}
	return &exprStmt{x: x, off: t.off}, p.expect(";")
}

// switchStmt reads switch (x) { sections }: each section is one or more
// "case constant:" or "default:" labels and the statements up to the next
// label or the closing brace.
func (p *parser) switchStmt(t token) (stmt, error) {
	x, err := p.parenthesised()
	if err != nil {
		return nil, err
	}
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	sw := &switchStmt{x: x, off: t.off}
	for !p.accept("}") {
		var sec switchSection
		for {
			l := p.peek()
			if l.kind != tIdent || (l.text != "case" && l.text != "default") {
				break
			}
			p.i++
			if l.text == "default" {
				sec.isDef = true
			} else {
				v, err := p.expression()
				if err != nil {
					return nil, err
				}
				sec.labels = append(sec.labels, v)
			}
			if err := p.expect(":"); err != nil {
				return nil, err
			}
		}
		if len(sec.labels) == 0 && !sec.isDef {
			return nil, p.errHere("expected case or default in switch")
		}
		for {
			n := p.peek()
			if n.kind == tEOF {
				return nil, p.errHere("expected \"}\"")
			}
			if (n.kind == tIdent && (n.text == "case" || n.text == "default")) || (n.kind == tOp && n.text == "}") {
				break
			}
			s, err := p.statement()
			if err != nil {
				return nil, err
			}
			sec.body = append(sec.body, s)
		}
		sw.sections = append(sw.sections, sec)
	}
	return sw, nil
}

// localFunc reads a local function: Type Name(Type a, ...) followed by a
// block or by => expression;.
func (p *parser) localFunc() (stmt, error) {
	t := p.advance()
	name := p.advance()
	p.i++ // (
	fn := &funcStmt{ret: t.text, name: name.text, off: t.off}
	if !p.accept(")") {
		for {
			typ, ok := p.typeAhead()
			if !ok || typ == "var" {
				return nil, p.errHere("expected a parameter: a type and a name")
			}
			fn.params = append(fn.params, [2]string{typ, p.toks[p.i-1].text})
			if p.accept(")") {
				break
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
	}
	if arrow := p.peek(); arrow.kind == tOp && arrow.text == "=>" {
		p.i++
		x, err := p.expression()
		if err != nil {
			return nil, err
		}
		fn.body = []stmt{&returnStmt{x: x, off: arrow.off}}
		return fn, p.expect(";")
	}
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	body, err := p.block(true)
	fn.body = body
	return fn, err
}
