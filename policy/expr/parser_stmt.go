package expr

// Statements of @{...} blocks: declarations, assignments, if/else, return
// and method calls. Expressions are parsed in parser.go.

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
	"while": true, "for": true, "foreach": true, "do": true, "switch": true, "try": true, "throw": true,
	"using": true, "goto": true, "break": true, "continue": true, "lock": true,
}

func (p *parser) statement() (stmt, error) {
	t := p.peek()
	if t.kind == tIdent {
		if unsupportedStatements[t.text] {
			return nil, &SyntaxError{Off: t.off, Msg: "unsupported statement " + t.text + ": use declarations, assignments, if/else and return"}
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
		case typeNames[t.text] && p.peekAt(1).kind == tIdent:
			p.i += 2
			d := &declStmt{typ: t.text, name: p.toks[p.i-1].text, off: t.off}
			if p.accept("=") {
				x, err := p.expression()
				if err != nil {
					return nil, err
				}
				d.init = x
			} else if t.text == "var" {
				return nil, p.errHere("var needs an initial value")
			}
			return d, p.expect(";")
		case p.peekAt(1).kind == tOp && p.peekAt(1).text == "=":
			p.i += 2
			x, err := p.expression()
			if err != nil {
				return nil, err
			}
			return &assignStmt{name: t.text, value: x, off: t.off}, p.expect(";")
		}
	}
	x, err := p.expression()
	if err != nil {
		return nil, err
	}
	if _, ok := x.(*callNode); !ok {
		return nil, &SyntaxError{Off: t.off, Msg: "only method calls can be used as statements"}
	}
	return &exprStmt{x: x, off: t.off}, p.expect(";")
}
