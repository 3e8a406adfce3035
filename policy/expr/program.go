package expr

// Program is one compiled expression, safe for concurrent use.
type Program struct {
	src      string
	typ      Type
	nlocals  int
	maxSteps int
	eval     evalFn
	// bodies are the readsRequestBody and readsResponseBody bits.
	bodies uint8
}

// Compile parses and type-checks src, which is "@(expression)" or
// "@{ statements }". Errors are *SyntaxError or *CompileError with a byte
// offset into src.
func Compile(src string) (*Program, error) { return CompileWith(src, Options{}) }

// Options tune the compilation of expressions.
type Options struct {
	// MeshCertificate: client certificates come from a mesh connection,
	// which reports only the peer's subject, SANs and SHA-256 digest;
	// members of context.Request.Certificate that need the certificate
	// itself are refused.
	MeshCertificate bool
	// MaxIterations bounds the loop iterations of one evaluation, all
	// loops together (0: DefaultMaxIterations). Past it the evaluation
	// fails (ErrBudget), and no catch can hold it.
	MaxIterations int
}

// DefaultMaxIterations is Options.MaxIterations when none is given.
const DefaultMaxIterations = 10000

// MaxString bounds a string an expression builds (concatenation, Replace,
// Join, PadLeft): past it the evaluation fails (ErrBudget).
const MaxString = 1 << 20

// BudgetError is an evaluation that went past its iteration or string
// budget. It is a *RuntimeError for the policy engine (on-error runs),
// but try/catch does not catch it.
type BudgetError struct{ RuntimeError }

// BudgetExceeded counts the evaluations stopped by their budget since the
// host last took the count (TakeBudgetExceeded); a VM runs one evaluation
// at a time.
var budgetExceeded int

// TakeBudgetExceeded returns the count of evaluations stopped by their
// budget since the last call, and resets it.
func TakeBudgetExceeded() int {
	n := budgetExceeded
	budgetExceeded = 0
	return n
}

func budgetErr(format string, args ...any) error {
	budgetExceeded++
	return &BudgetError{RuntimeError{Msg: sprintf(format, args...)}}
}

// CompileWith is Compile with options.
func CompileWith(src string, opt Options) (*Program, error) {
	x, stmts, err := parse(src)
	if err != nil {
		return nil, err
	}
	c := &compiler{opt: opt, scopes: [][]local{nil}}
	p := &Program{src: src, maxSteps: opt.MaxIterations}
	if p.maxSteps <= 0 {
		p.maxSteps = DefaultMaxIterations
	}
	if x != nil {
		v, err := c.expr(x)
		if err != nil {
			return nil, err
		}
		if v.typ > lastValueType {
			return nil, errAt(x, "an expression cannot produce a %s", v.typ)
		}
		p.typ, p.eval = v.typ, v.eval
	} else {
		run, typ, err := c.statements(stmts)
		if err != nil {
			return nil, err
		}
		if len(stmts) == 0 || !returns(stmts) {
			return nil, &CompileError{Off: len(src) - 1, Msg: "not all code paths return a value"}
		}
		p.typ = typ
		p.eval = func(f *frame) (any, error) {
			v, done, err := run(f)
			if err == nil && !done {
				err = rtErr("the code block ended without return")
			}
			return v, err
		}
	}
	p.nlocals = c.nlocals
	p.bodies = c.bodies
	return p, nil
}

// Type is the static type of the program's result.
func (p *Program) Type() Type { return p.typ }

// Source is the expression as written.
func (p *Program) Source() string { return p.src }

// Eval evaluates the program for one request. Runtime failures are
// *RuntimeError.
func (p *Program) Eval(env Env) (any, error) {
	f := frame{env: env, maxSteps: p.maxSteps}
	if p.nlocals > 0 {
		f.locals = make([]any, p.nlocals)
	}
	return p.eval(&f)
}

type runFn func(f *frame) (ret any, returned bool, err error)

// returns reports whether every path through stmts ends in a return
// (local functions declared after it do not count).
func returns(stmts []stmt) bool {
	for len(stmts) > 0 {
		if _, fn := stmts[len(stmts)-1].(*funcStmt); !fn {
			break
		}
		stmts = stmts[:len(stmts)-1]
	}
	if len(stmts) == 0 {
		return false
	}
	switch s := stmts[len(stmts)-1].(type) {
	case *returnStmt:
		return true
	case *ifStmt:
		return returns(s.then) && returns(s.els)
	case *blockStmt:
		return returns(s.body)
	case *tryStmt:
		return returns(s.body) && returns(s.handler)
	case *switchStmt:
		// Every section returns and one of them is default.
		def := false
		for _, sec := range s.sections {
			def = def || sec.isDef
			if !returns(sec.body) {
				return false
			}
		}
		return def
	}
	return false
}

// statements compiles a block in a scope of its own; typ unifies the
// types of its returns.
func (c *compiler) statements(stmts []stmt) (runFn, Type, error) {
	c.scopes = append(c.scopes, nil)
	defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
	return c.stmtList(stmts)
}

// stmtList compiles statements in the current scope.
func (c *compiler) stmtList(stmts []stmt) (runFn, Type, error) {
	if err := c.declareFuncs(stmts); err != nil {
		return nil, 0, err
	}
	runs := make([]runFn, 0, len(stmts))
	typ, seen := Null, false
	unify := func(t Type) {
		switch {
		case !seen:
			typ, seen = t, true
		case t == typ || t == Null:
		case typ == Null:
			typ = t
		default:
			typ = Object
		}
	}
	for _, st := range stmts {
		switch st := st.(type) {
		case *declStmt:
			if _, dup := c.lookup(st.name); dup {
				return nil, 0, errAt(st, "%s is already declared", st.name)
			}
			var init value
			t := Null
			if st.init != nil {
				v, err := c.expr(st.init)
				if err != nil {
					return nil, 0, err
				}
				init, t = v, v.typ
			}
			if st.typ != "var" {
				want, ok := castTypes[st.typ]
				if !ok {
					return nil, 0, errAt(st, "unsupported type %s", st.typ)
				}
				if st.init != nil {
					var err error
					if init, err = c.coerce(st.init, init, want); err != nil {
						return nil, 0, err
					}
				}
				t = want
			} else if t == Null || t > lastValueType {
				return nil, 0, errAt(st, "cannot infer the type of %s", st.name)
			}
			l := c.declare(st.name, t)
			slot, eval := l.slot, init.eval
			runs = append(runs, func(f *frame) (any, bool, error) {
				if eval == nil {
					f.locals[slot] = nil
					return nil, false, nil
				}
				v, err := eval(f)
				f.locals[slot] = v
				return nil, false, err
			})
		case *assignStmt:
			l, ok := c.lookup(st.name)
			if !ok {
				return nil, 0, errAt(st, "unknown variable %s", st.name)
			}
			v, err := c.expr(st.value)
			if err != nil {
				return nil, 0, err
			}
			if v, err = c.coerce(st.value, v, l.typ); err != nil {
				return nil, 0, err
			}
			slot := l.slot
			runs = append(runs, func(f *frame) (any, bool, error) {
				x, err := v.eval(f)
				f.locals[slot] = x
				return nil, false, err
			})
		case *returnStmt:
			v, err := c.expr(st.x)
			if err != nil {
				return nil, 0, err
			}
			if v.typ > lastValueType {
				return nil, 0, errAt(st, "cannot return a %s", v.typ)
			}
			unify(v.typ)
			runs = append(runs, func(f *frame) (any, bool, error) {
				x, err := v.eval(f)
				return x, true, err
			})
		case *exprStmt:
			v, err := c.expr(st.x)
			if err != nil {
				return nil, 0, err
			}
			runs = append(runs, func(f *frame) (any, bool, error) {
				_, err := v.eval(f)
				return nil, false, err
			})
		case *ifStmt:
			cv, err := c.expr(st.cond)
			if err != nil {
				return nil, 0, err
			}
			cond, err := c.asBool(st.cond, cv)
			if err != nil {
				return nil, 0, err
			}
			then, tt, err := c.statements(st.then)
			if err != nil {
				return nil, 0, err
			}
			if returns(st.then) || hasReturn(st.then) {
				unify(tt)
			}
			els := func(*frame) (any, bool, error) { return nil, false, nil }
			if st.els != nil {
				var et Type
				if els, et, err = c.statements(st.els); err != nil {
					return nil, 0, err
				}
				if hasReturn(st.els) {
					unify(et)
				}
			}
			runs = append(runs, func(f *frame) (any, bool, error) {
				ok, err := cond(f)
				if err != nil {
					return nil, false, err
				}
				if ok {
					return then(f)
				}
				return els(f)
			})
		case *setIndexStmt:
			run, err := c.setIndex(st)
			if err != nil {
				return nil, 0, err
			}
			runs = append(runs, run)
		case *blockStmt:
			run, t, err := c.statements(st.body)
			if err != nil {
				return nil, 0, err
			}
			if hasReturn(st.body) {
				unify(t)
			}
			runs = append(runs, run)
		case *jumpStmt:
			if c.loops == 0 && !(st.brk && c.switches > 0) {
				return nil, 0, errAt(st, "break and continue must be inside a loop")
			}
			jump := errContinue
			if st.brk {
				jump = errBreak
			}
			runs = append(runs, func(*frame) (any, bool, error) { return nil, false, jump })
		case *loopStmt:
			run, t, err := c.loop(st)
			if err != nil {
				return nil, 0, err
			}
			if hasReturn(st.body) {
				unify(t)
			}
			runs = append(runs, run)
		case *funcStmt:
			if err := c.funcBody(st); err != nil {
				return nil, 0, err
			}
		case *switchStmt:
			run, t, err := c.switchOf(st)
			if err != nil {
				return nil, 0, err
			}
			if hasReturn([]stmt{st}) {
				unify(t)
			}
			runs = append(runs, run)
		case *tryStmt:
			run, t, err := c.try(st)
			if err != nil {
				return nil, 0, err
			}
			if hasReturn(st.body) || hasReturn(st.handler) {
				unify(t)
			}
			runs = append(runs, run)
		}
	}
	return func(f *frame) (any, bool, error) {
		for _, r := range runs {
			v, done, err := r(f)
			if err != nil || done {
				return v, done, err
			}
		}
		return nil, false, nil
	}, typ, nil
}

func hasReturn(stmts []stmt) bool {
	for _, s := range stmts {
		switch s := s.(type) {
		case *returnStmt:
			return true
		case *ifStmt:
			if hasReturn(s.then) || hasReturn(s.els) {
				return true
			}
		case *loopStmt:
			if hasReturn(s.body) {
				return true
			}
		case *blockStmt:
			if hasReturn(s.body) {
				return true
			}
		case *tryStmt:
			if hasReturn(s.body) || hasReturn(s.handler) {
				return true
			}
		case *switchStmt:
			for _, sec := range s.sections {
				if hasReturn(sec.body) {
					return true
				}
			}
		}
	}
	return false
}
