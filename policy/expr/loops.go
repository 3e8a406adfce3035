package expr

// Loops and try/catch of @{...} blocks, bounded: every iteration of every
// loop of one evaluation counts against Options.MaxIterations.

// jump is break or continue on its way to the loop around it.
type jump struct{ name string }

func (j *jump) Error() string { return j.name + " outside a loop" }

var (
	errBreak    error = &jump{"break"}
	errContinue error = &jump{"continue"}
)

// step counts one loop iteration against the evaluation's budget.
func (f *frame) step() error {
	f.steps++
	if f.steps > f.maxSteps {
		return budgetErr("The expression ran more than %d loop iterations (the plugin's expressions.maxIterations).", f.maxSteps)
	}
	return nil
}

// loop compiles while, for and foreach.
func (c *compiler) loop(st *loopStmt) (runFn, Type, error) {
	c.scopes = append(c.scopes, nil)
	defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
	none := func(*frame) (any, bool, error) { return nil, false, nil }
	init, step := none, none
	var err error
	if st.init != nil {
		if init, _, err = c.stmtList([]stmt{st.init}); err != nil {
			return nil, 0, err
		}
	}
	cond := func(*frame) (bool, error) { return true, nil }
	if st.cond != nil {
		v, err := c.expr(st.cond)
		if err != nil {
			return nil, 0, err
		}
		if cond, err = c.asBool(st.cond, v); err != nil {
			return nil, 0, err
		}
	}
	// foreach: the sequence, and the variable each element goes to.
	var seq value
	slot := -1
	if st.seq != nil {
		if seq, err = c.expr(st.seq); err != nil {
			return nil, 0, err
		}
		elem, ok := map[Type]Type{StringArray: String, JTokenType: JTokenType, bytesType: Int, tokenSeqType: JTokenType, propSeqType: jpropType}[seq.typ]
		if !ok {
			return nil, 0, errAt(st.seq, "foreach needs a string[], a byte[], a JArray or a query's sequence, got %s", seq.typ)
		}
		if st.each != "var" && castTypes[st.each] != elem {
			return nil, 0, errAt(st, "the elements are %s, not %s", elem, st.each)
		}
		slot = c.declare(st.name, elem).slot
	}
	if st.step != nil {
		if step, _, err = c.stmtList([]stmt{st.step}); err != nil {
			return nil, 0, err
		}
	}
	c.loops++
	body, t, err := c.statements(st.body)
	c.loops--
	if err != nil {
		return nil, 0, err
	}
	// iterate runs the body once; stop reports break, or a return or an
	// error to pass on.
	iterate := func(f *frame) (v any, done, stop bool, err error) {
		if err := f.step(); err != nil {
			return nil, false, true, err
		}
		v, done, err = body(f)
		switch {
		case err == errBreak:
			return nil, false, true, nil
		case err == errContinue:
			err = nil
		}
		return v, done, done || err != nil, err
	}
	if slot >= 0 {
		return func(f *frame) (any, bool, error) {
			s, err := seq.eval(f)
			if err != nil {
				return nil, false, err
			}
			list, err := elements(s)
			if err != nil {
				return nil, false, err
			}
			for _, e := range list {
				f.locals[slot] = e
				if v, done, stop, err := iterate(f); stop {
					return v, done, err
				}
			}
			return nil, false, nil
		}, t, nil
	}
	return func(f *frame) (any, bool, error) {
		if _, _, err := init(f); err != nil {
			return nil, false, err
		}
		for {
			ok, err := cond(f)
			if err != nil || !ok {
				return nil, false, err
			}
			if v, done, stop, err := iterate(f); stop {
				return v, done, err
			}
			if _, _, err := step(f); err != nil {
				return nil, false, err
			}
		}
	}, t, nil
}

// elements lists what foreach walks: a string[]'s strings, a byte[]'s
// bytes, a JArray's tokens.
func elements(s any) ([]any, error) {
	var out []any
	switch t := s.(type) {
	case nil:
		return nil, errNull
	case []string:
		for _, e := range t {
			out = append(out, e)
		}
	case []byte:
		for _, b := range t {
			out = append(out, int64(b))
		}
	case []JToken, []jprop:
		return items(s)
	case JToken:
		if !t.r.IsArray() {
			return nil, rtErr("foreach walks a JArray, not a %s.", t.r.Type)
		}
		for _, e := range t.r.Array() {
			out = append(out, JToken{r: e})
		}
	}
	return out, nil
}

// try compiles try { } catch (Exception e) { }: a run-time failure of the
// body runs the handler, with e.Message; a budget error is not caught.
func (c *compiler) try(st *tryStmt) (runFn, Type, error) {
	body, t, err := c.statements(st.body)
	if err != nil {
		return nil, 0, err
	}
	c.scopes = append(c.scopes, nil)
	defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
	slot := -1
	if st.name != "" {
		slot = c.declare(st.name, exceptionType).slot
	}
	handler, ht, err := c.stmtList(st.handler)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case !hasReturn(st.handler):
	case !hasReturn(st.body):
		t = ht
	case ht != t:
		t = Object
	}
	return func(f *frame) (any, bool, error) {
		v, done, err := body(f)
		re, caught := err.(*RuntimeError)
		if !caught {
			return v, done, err
		}
		if slot >= 0 {
			f.locals[slot] = re.Msg
		}
		return handler(f)
	}, t, nil
}

func exceptionMembers() {
	props[exceptionType] = map[string]prop{
		"Message": str(func(_ *frame, r any) string { return r.(string) }),
	}
}

// switchOf compiles a switch statement: the subject is evaluated once and
// compared with each label (string, int, bool or null constants) in order;
// the first matching section runs, else default. break leaves the switch;
// continue goes on to the loop around it.
func (c *compiler) switchOf(st *switchStmt) (runFn, Type, error) {
	x, err := c.expr(st.x)
	if err != nil {
		return nil, 0, err
	}
	if x.typ != String && x.typ != Int && x.typ != Bool && x.typ != Object && x.typ != JTokenType {
		return nil, 0, errAt(st.x, "switch needs a string, int or bool, got %s", x.typ)
	}
	type section struct {
		labels []evalFn
		run    runFn
	}
	var secs []section
	def := -1
	typ := Null
	c.switches++
	defer func() { c.switches-- }()
	for i, sec := range st.sections {
		var s section
		for _, l := range sec.labels {
			switch l.(type) {
			case *strLit, *intLit, *doubleLit, *boolLit, *nullLit, *charLit:
			default:
				return nil, 0, errAt(l, "a case label must be a constant")
			}
			v, err := c.expr(l)
			if err != nil {
				return nil, 0, err
			}
			if !comparable(x.typ, v.typ) {
				return nil, 0, errAt(l, "cannot compare %s with %s", x.typ, v.typ)
			}
			s.labels = append(s.labels, v.eval)
		}
		if sec.isDef {
			def = i
		}
		run, t, err := c.statements(sec.body)
		if err != nil {
			return nil, 0, err
		}
		if hasReturn(sec.body) {
			if typ == Null {
				typ = t
			} else if t != typ && t != Null {
				typ = Object
			}
		}
		s.run = run
		secs = append(secs, s)
	}
	return func(f *frame) (any, bool, error) {
		v, err := x.eval(f)
		if err != nil {
			return nil, false, err
		}
		pick := def
	find:
		for i, s := range secs {
			for _, l := range s.labels {
				lv, _ := l(f)
				if equal(v, lv) {
					pick = i
					break find
				}
			}
		}
		if pick < 0 {
			return nil, false, nil
		}
		r, done, err := secs[pick].run(f)
		if err == errBreak {
			return nil, false, nil
		}
		return r, done, err
	}, typ, nil
}
