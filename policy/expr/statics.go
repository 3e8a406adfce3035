package expr

// Static classes (Array, string, ExpressionSyntaxExtensions), lambdas and
// TryParseJwt.

import "strings"

// tryParseJwt is s.TryParseJwt(out jwt) and, with static set,
// ExpressionSyntaxExtensions.TryParseJwt(s, out jwt).
func tryParseJwt(static bool) method {
	return func(c *compiler, n *callNode, recv value, args []node) (value, error) {
		if static {
			if len(args) != 2 {
				return value{}, errAt(n, "TryParseJwt takes a string and an out Jwt")
			}
			r, err := c.expr(args[0])
			if err != nil {
				return value{}, err
			}
			if recv, err = c.coerce(args[0], r, String); err != nil {
				return value{}, err
			}
			args = args[1:]
		}
		if len(args) != 1 {
			return value{}, errAt(n, "TryParseJwt takes one out Jwt argument")
		}
		out, ok := args[0].(*outArg)
		if !ok {
			return value{}, errAt(args[0], "TryParseJwt needs an out argument")
		}
		var l local
		if out.declType != "" {
			if castTypes[out.declType] != JwtType && out.declType != "var" {
				return value{}, errAt(out, "the out variable must be a Jwt")
			}
			l = c.declare(out.name, JwtType)
		} else if l, ok = c.lookup(out.name); !ok || l.typ != JwtType {
			return value{}, errAt(out, "%s is not a declared Jwt variable", out.name)
		}
		slot := l.slot
		return value{typ: Bool, eval: func(f *frame) (any, error) {
			r, err := recv.eval(f)
			if err != nil {
				return nil, err
			}
			j := ParseJwt(s(r))
			if j == nil {
				f.locals[slot] = nil
				return false, nil
			}
			f.locals[slot] = j
			return true, nil
		}}, nil
	}
}

// lambda compiles "e => bool" with e bound to a string (Array.Exists).
func (c *compiler) lambda(n node) (slot int, body func(*frame) (bool, error), err error) {
	slot, v, err := c.lambdaIn(n, String)
	if err != nil {
		return 0, nil, err
	}
	b, err := c.asBool(n.(*lambdaNode).body, v)
	return slot, b, err
}

func exists(f *frame, arr []string, slot int, pred func(*frame) (bool, error)) (bool, error) {
	for _, e := range arr {
		f.locals[slot] = e
		ok, err := pred(f)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// staticCall compiles Class.Method(...).
func (c *compiler) staticCall(n *callNode, class, name string) (value, error) {
	switch {
	case class == "Array" && name == "Exists":
		if len(n.args) != 2 {
			return value{}, errAt(n, "Array.Exists takes an array and a predicate")
		}
		arr, err := c.expr(n.args[0])
		if err != nil {
			return value{}, err
		}
		if arr, err = c.coerce(n.args[0], arr, StringArray); err != nil {
			return value{}, err
		}
		slot, pred, err := c.lambda(n.args[1])
		if err != nil {
			return value{}, err
		}
		return value{typ: Bool, eval: func(f *frame) (any, error) {
			r, err := arr.eval(f)
			if err != nil {
				return nil, err
			}
			a, ok := r.([]string)
			if !ok {
				return nil, rtErr("Value cannot be null. (Parameter 'array')")
			}
			return exists(f, a, slot, pred)
		}}, nil
	case (class == "string" || class == "String") && (name == "IsNullOrEmpty" || name == "IsNullOrWhiteSpace"):
		white := name == "IsNullOrWhiteSpace"
		return simple(Bool, 1, []Type{String}, func(_ *frame, _ any, a []any) (any, error) {
			v, ok := a[0].(string)
			if white {
				v = strings.TrimSpace(v)
			}
			return !ok || v == "", nil
		})(c, n, value{typ: staticType, eval: noValue}, n.args)
	case class == "ExpressionSyntaxExtensions" && name == "TryParseJwt":
		return tryParseJwt(true)(c, n, value{}, n.args)
	}
	if sig, ok := libraryStatics[class+"."+name]; ok {
		return libMethod(sig)(c, n, value{typ: staticType, eval: noValue}, n.args)
	}
	if m, ok := libraryCustom[class+"."+name]; ok {
		return m(c, n, value{typ: staticType, eval: noValue}, n.args)
	}
	return value{}, errAt(n, "unsupported method %s.%s", class, name)
}
