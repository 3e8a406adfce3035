package policy

import "github.com/apimguard/apimguard/policy/expr"

// choose is APIM's choose policy: the first <when> whose condition holds
// runs, else <otherwise> if present.
// Reference: https://learn.microsoft.com/azure/api-management/choose-policy
//
// # Notes
//
// A condition is an expression producing a bool, or the literal true or
// false. A condition that fails or produces something else sends the
// request to on-error (500), as an expression failure does in APIM.
type choose struct {
	stmtMeta
	whens     []when
	otherwise []statement
}

type when struct {
	cond Value
	body []statement
}

func compileChoose(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n); err != nil {
		return nil, err
	}
	if err := c.only(n, "when", "otherwise"); err != nil {
		return nil, err
	}
	ch := &choose{stmtMeta: c.meta(n)}
	sawOtherwise := false
	for _, child := range n.Children {
		if sawOtherwise {
			return nil, c.errf(n, child.Pos, "<otherwise> must be the last child of <choose>")
		}
		if child.Name == "otherwise" {
			sawOtherwise = true
			if err := c.attrs(child); err != nil {
				return nil, err
			}
			body, err := c.block(child)
			if err != nil {
				return nil, err
			}
			ch.otherwise = body
			continue
		}
		if err := c.attrs(child, "condition"); err != nil {
			return nil, err
		}
		a, err := c.required(child, "condition")
		if err != nil {
			return nil, err
		}
		cond, err := c.condition(child, a)
		if err != nil {
			return nil, err
		}
		body, err := c.block(child)
		if err != nil {
			return nil, err
		}
		ch.whens = append(ch.whens, when{cond: cond, body: body})
	}
	if len(ch.whens) == 0 {
		return nil, c.errf(n, n.Pos, "needs at least one <when>")
	}
	return ch, nil
}

// condition compiles a condition attribute: a bool expression or a literal.
func (c *compiler) condition(n *Node, a Attr) (Value, error) {
	v, err := c.attrValue(n, a)
	if err != nil {
		return v, err
	}
	switch {
	case v.prog != nil:
		if t := v.prog.Type(); t != expr.Bool && t != expr.Object {
			return v, c.errf(n, a.Pos, "attribute %q must be a bool expression, got %s", a.Name, t)
		}
	case v.IsConst():
		if _, err := parseBool(v.Const()); err != nil {
			return v, c.errf(n, a.Pos, "attribute %q must be true, false or a bool expression, not %q", a.Name, abbreviate(v.Const()))
		}
	}
	return v, nil
}

func (ch *choose) run(x *Exec) error {
	for i := range ch.whens {
		ok, err := ch.whens[i].cond.EvalBool(x)
		if err != nil {
			return err
		}
		if ok {
			x.push(ch.whens[i].body)
			return nil
		}
	}
	if ch.otherwise != nil {
		x.push(ch.otherwise)
	}
	return nil
}
