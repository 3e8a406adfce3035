package expr

// Local functions of @{ } blocks: declared anywhere in their block (calls
// may come first, as C# allows), typed parameters and result, the block's
// variables visible inside. Every call counts as a loop iteration against
// the evaluation's budget, and calls nest at most maxCalls deep, so
// recursion is bounded like a loop.

// maxCalls bounds how deep local function calls nest.
const maxCalls = 32

// localFunc is a local function's signature and, once compiled, its body.
type localFunc struct {
	ret    Type
	params []local
	// lo and hi are the slots of its parameters and locals: a call saves
	// and restores them, so a recursive call leaves its caller's intact.
	lo, hi int
	run    runFn
}

// declareFuncs declares the local functions of a block before its
// statements compile, so that a call may come before the declaration.
func (c *compiler) declareFuncs(stmts []stmt) error {
	for _, st := range stmts {
		fs, ok := st.(*funcStmt)
		if !ok {
			continue
		}
		if _, dup := c.lookup(fs.name); dup {
			return errAt(fs, "%s is already declared", fs.name)
		}
		ret, ok := castTypes[fs.ret]
		if !ok || fs.ret == "var" {
			return errAt(fs, "unsupported return type %s", fs.ret)
		}
		fn := &localFunc{ret: ret}
		for _, p := range fs.params {
			t, ok := castTypes[p[0]]
			if !ok {
				return errAt(fs, "unsupported parameter type %s", p[0])
			}
			fn.params = append(fn.params, local{name: p[1], typ: t})
		}
		c.scopes[len(c.scopes)-1] = append(c.scopes[len(c.scopes)-1], local{name: fs.name, slot: -1, typ: lambdaType, fn: fn})
	}
	return nil
}

// funcBody compiles a declared local function's body.
func (c *compiler) funcBody(fs *funcStmt) error {
	l, _ := c.lookup(fs.name)
	fn := l.fn
	outerLoops, outerSwitches := c.loops, c.switches
	c.loops, c.switches = 0, 0
	defer func() { c.loops, c.switches = outerLoops, outerSwitches }()
	c.scopes = append(c.scopes, nil)
	defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
	fn.lo = c.nlocals
	for i, p := range fn.params {
		for _, q := range fn.params[:i] {
			if q.name == p.name {
				return errAt(fs, "parameter %s is declared twice", p.name)
			}
		}
		fn.params[i] = c.declare(p.name, p.typ)
	}
	run, typ, err := c.statements(fs.body)
	if err != nil {
		return err
	}
	fn.hi = c.nlocals
	if !returns(fs.body) {
		return errAt(fs, "not all code paths of %s return a value", fs.name)
	}
	switch {
	case typ == fn.ret || typ == Null || fn.ret == Object:
		fn.run = run
	case fn.ret == Double && typ == Int:
		fn.run = func(f *frame) (any, bool, error) {
			v, done, err := run(f)
			if err != nil || v == nil {
				return v, done, err
			}
			d, err := toDouble(v)
			return d, done, err
		}
	default:
		return errAt(fs, "%s returns %s, not %s", fs.name, typ, fn.ret)
	}
	return nil
}

// callLocal compiles a call of a local function.
func (c *compiler) callLocal(n *callNode, fn *localFunc, name string) (value, error) {
	if len(n.args) != len(fn.params) {
		return value{}, errAt(n, "%s takes %d arguments, got %d", name, len(fn.params), len(n.args))
	}
	args := make([]evalFn, len(n.args))
	for i, a := range n.args {
		v, err := c.expr(a)
		if err != nil {
			return value{}, err
		}
		if v, err = c.coerce(a, v, fn.params[i].typ); err != nil {
			return value{}, err
		}
		args[i] = v.eval
	}
	return value{typ: fn.ret, eval: func(f *frame) (any, error) {
		vals := make([]any, len(args))
		for i, a := range args {
			v, err := a(f)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		if err := f.step(); err != nil {
			return nil, err
		}
		if f.calls >= maxCalls {
			return nil, budgetErr("Local function calls nested deeper than %d.", maxCalls)
		}
		saved := append([]any(nil), f.locals[fn.lo:fn.hi]...)
		for i, p := range fn.params {
			f.locals[p.slot] = vals[i]
		}
		f.calls++
		v, _, err := fn.run(f)
		f.calls--
		copy(f.locals[fn.lo:fn.hi], saved)
		return v, err
	}}, nil
}
