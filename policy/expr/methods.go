package expr

import (
	"strings"
	"unicode"
)

// method compiles a call of one method on a receiver of a known type.
type method func(c *compiler, n *callNode, recv value, args []node) (value, error)

var methods map[Type]map[string]method

// impl is the run-time body of a simple method: the receiver (never nil)
// and the evaluated arguments, converted to the declared types.
type impl func(f *frame, recv any, args []any) (any, error)

// simple declares a method with fixed parameter types, the last
// len(params)-min of which are optional.
func simple(ret Type, min int, params []Type, fn impl) method {
	return declare(ret, min, params, fn, false)
}

// extension declares a C# extension method: it may be called on null (the
// receiver then reaches fn as nil).
func extension(ret Type, fn impl) method {
	return declare(ret, 0, nil, fn, true)
}

// Not inlined: inlined, each call site would get its own copy of the
// closure it returns, which multiplied the module's code (BENCHMARKS.md).
//
//go:noinline
func declare(ret Type, min int, params []Type, fn impl, nullReceiver bool) method {
	return func(c *compiler, n *callNode, recv value, args []node) (value, error) {
		if len(args) < min || len(args) > len(params) {
			return value{}, errAt(n, "%s takes %s, got %d", callName(n), arity(min, len(params)), len(args))
		}
		evals := make([]evalFn, len(args))
		for i, a := range args {
			v, err := c.expr(a)
			if err != nil {
				return value{}, err
			}
			if v, err = c.coerce(a, v, params[i]); err != nil {
				return value{}, err
			}
			evals[i] = v.eval
		}
		return onReceiver(recv, nullable(recv.typ) && !nullReceiver, isNullCond(n), ret, func(f *frame, r any) (any, error) {
			vals := make([]any, len(evals))
			for i, e := range evals {
				var err error
				if vals[i], err = e(f); err != nil {
					return nil, err
				}
			}
			return fn(f, r, vals)
		}), nil
	}
}

func isNullCond(n *callNode) bool {
	m, ok := n.fn.(*memberNode)
	return ok && m.nullCond
}

func callName(n *callNode) string {
	switch fn := n.fn.(type) {
	case *memberNode:
		return fn.name
	case *identNode:
		return fn.name
	}
	return "the method"
}

func arity(min, max int) string {
	switch {
	case min == max && max == 0:
		return "no arguments"
	case min == max && max == 1:
		return "1 argument"
	case min == max:
		return sprintf("%d arguments", max)
	}
	return sprintf("%d to %d arguments", min, max)
}

// coerce checks that v can be passed where want is expected; object values
// are converted at run time.
func (c *compiler) coerce(n node, v value, want Type) (value, error) {
	switch {
	case v.typ == want || want == Object:
		return v, nil
	case want == Double && v.typ == Int:
		return value{typ: Double, eval: func(f *frame) (any, error) {
			x, err := v.eval(f)
			if err != nil || x == nil {
				return x, err
			}
			return toDouble(x)
		}}, nil
	case want == jpropType && v.typ == propSeqType:
		// new JObject(...) takes JProperty objects and sequences of them.
		return v, nil
	case v.typ == Null && want != Int && want != Bool && want != comparisonType && want != comparerType:
		return v, nil
	case v.typ == Object || v.typ == JTokenType:
		return c.convert(n, v, want)
	}
	return value{}, errAt(n, "want %s, got %s", want, v.typ)
}

func s(v any) string { x, _ := v.(string); return x }

// comparison reads an optional trailing StringComparison argument.
func ignoreCase(args []any, i int) bool {
	if len(args) > i {
		b, _ := args[i].(bool)
		return b
	}
	return false
}

func fold(ignore bool, x string) string {
	if ignore {
		return strings.ToLower(x)
	}
	return x
}

func nonNull(args []any, i int) (string, error) {
	v, ok := args[i].(string)
	if !ok {
		return "", rtErr("Value cannot be null.")
	}
	return v, nil
}

func init() {
	// Deferred, in reverse order: the library last, as it adds to the
	// DateTime members certificateMembers declares.
	defer libraryMembers()
	defer certificateMembers()
	defer subscriptionMembers()
	defer routeMembers()
	defer exceptionMembers()
	str1 := []Type{String}
	str1cmp := []Type{String, comparisonType}
	methods = map[Type]map[string]method{
		String: {
			"Contains": simple(Bool, 1, str1cmp, func(_ *frame, r any, a []any) (any, error) {
				v, err := nonNull(a, 0)
				ic := ignoreCase(a, 1)
				return strings.Contains(fold(ic, s(r)), fold(ic, v)), err
			}),
			"StartsWith": simple(Bool, 1, str1cmp, func(_ *frame, r any, a []any) (any, error) {
				v, err := nonNull(a, 0)
				ic := ignoreCase(a, 1)
				return strings.HasPrefix(fold(ic, s(r)), fold(ic, v)), err
			}),
			"EndsWith": simple(Bool, 1, str1cmp, func(_ *frame, r any, a []any) (any, error) {
				v, err := nonNull(a, 0)
				ic := ignoreCase(a, 1)
				return strings.HasSuffix(fold(ic, s(r)), fold(ic, v)), err
			}),
			"Equals": simple(Bool, 1, str1cmp, func(_ *frame, r any, a []any) (any, error) {
				v, ok := a[0].(string)
				if !ok {
					return false, nil
				}
				if ignoreCase(a, 1) {
					return strings.EqualFold(s(r), v), nil
				}
				return s(r) == v, nil
			}),
			"IndexOf": simple(Int, 1, str1cmp, func(_ *frame, r any, a []any) (any, error) {
				v, err := nonNull(a, 0)
				ic := ignoreCase(a, 1)
				i := strings.Index(fold(ic, s(r)), fold(ic, v))
				if i > 0 {
					i = len([]rune(s(r)[:i]))
				}
				return int64(i), err
			}),
			"ToLower":          simple(String, 0, nil, func(_ *frame, r any, _ []any) (any, error) { return strings.ToLower(s(r)), nil }),
			"ToUpper":          simple(String, 0, nil, func(_ *frame, r any, _ []any) (any, error) { return strings.ToUpper(s(r)), nil }),
			"ToLowerInvariant": simple(String, 0, nil, func(_ *frame, r any, _ []any) (any, error) { return strings.ToLower(s(r)), nil }),
			"ToUpperInvariant": simple(String, 0, nil, func(_ *frame, r any, _ []any) (any, error) { return strings.ToUpper(s(r)), nil }),
			"ToString":         simple(String, 0, nil, func(_ *frame, r any, _ []any) (any, error) { return s(r), nil }),
			"Trim":             trimMethod(strings.Trim, strings.TrimSpace),
			"TrimStart":        trimMethod(strings.TrimLeft, func(x string) string { return strings.TrimLeftFunc(x, unicode.IsSpace) }),
			"TrimEnd":          trimMethod(strings.TrimRight, func(x string) string { return strings.TrimRightFunc(x, unicode.IsSpace) }),
			"Split": variadic(StringArray, func(_ *frame, r any, a []any) (any, error) {
				if len(a) == 0 {
					return strings.FieldsFunc(s(r), unicode.IsSpace), nil
				}
				seps := make([]string, len(a))
				for i := range a {
					seps[i] = s(a[i])
				}
				return split(s(r), seps), nil
			}),
			"Substring": simple(String, 1, []Type{Int, Int}, func(_ *frame, r any, a []any) (any, error) {
				rs := []rune(s(r))
				start := a[0].(int64)
				end := int64(len(rs))
				if len(a) > 1 {
					end = start + a[1].(int64)
				}
				if start < 0 || start > int64(len(rs)) || end < start || end > int64(len(rs)) {
					return nil, rtErr("Index and length must refer to a location within the string.")
				}
				return string(rs[start:end]), nil
			}),
			"Replace": simple(String, 2, []Type{String, String}, func(_ *frame, r any, a []any) (any, error) {
				old, err := nonNull(a, 0)
				if err != nil || old == "" {
					return nil, rtErr("String cannot be of zero length. (Parameter 'oldValue')")
				}
				if n := strings.Count(s(r), old); n > 0 && len(s(r))+n*(len(s(a[1]))-len(old)) > MaxString {
					return nil, budgetErr("The expression built a string longer than %d bytes.", MaxString)
				}
				return strings.ReplaceAll(s(r), old, s(a[1])), nil
			}),
			"AsJwt": extension(JwtType, func(_ *frame, r any, _ []any) (any, error) {
				if j := ParseJwt(s(r)); j != nil {
					return j, nil
				}
				return nil, nil
			}),
			"AsBasic": extension(BasicType, func(_ *frame, r any, _ []any) (any, error) {
				if b := decodeBasic(s(r)); b != nil {
					return b, nil
				}
				return nil, nil
			}),
			"TryParseJwt": tryParseJwt(false),
		},
		StringArray: {
			"Contains": simple(Bool, 1, []Type{String, comparerType}, func(_ *frame, r any, a []any) (any, error) {
				want, _ := a[0].(string)
				ic := ignoreCase(a, 1)
				for _, e := range r.([]string) {
					if e == want || (ic && strings.EqualFold(e, want)) {
						return true, nil
					}
				}
				return false, nil
			}),
		},
		headersType: dictMethods(),
		queryType:   dictMethods(),
		paramsType:  dictMethods(),
		claimsType:  dictMethods(),
		formType:    dictMethods(),
		variablesType: {
			"ContainsKey": simple(Bool, 1, str1, func(f *frame, _ any, a []any) (any, error) {
				_, ok := f.env.Variable(s(a[0]))
				return ok, nil
			}),
			"GetValueOrDefault": getVariable,
		},
		bodyType: {
			"As":                      bodyAs,
			"AsFormUrlEncodedContent": bodyAs,
		},
		JTokenType: {
			"ToString": simple(String, 0, nil, func(_ *frame, r any, _ []any) (any, error) { return r.(JToken).String(), nil }),
		},
		Int: {
			"ToString": simple(String, 0, nil, func(_ *frame, r any, _ []any) (any, error) { return ToString(r), nil }),
		},
		Bool: {
			"ToString": simple(String, 0, nil, func(_ *frame, r any, _ []any) (any, error) { return ToString(r), nil }),
		},
		urlType: {
			"ToString": simple(String, 0, nil, func(_ *frame, r any, _ []any) (any, error) { return r.(*URL).String(), nil }),
		},
	}
}

// Not inlined: inlined, each call site would get its own copy of the
// closure it returns, which multiplied the module's code (BENCHMARKS.md).
//
//go:noinline
func trimMethod(withChars func(string, string) string, spaces func(string) string) method {
	return variadic(String, func(_ *frame, r any, a []any) (any, error) {
		if len(a) == 0 {
			return spaces(s(r)), nil
		}
		var cut strings.Builder
		for _, c := range a {
			cut.WriteString(s(c))
		}
		return withChars(s(r), cut.String()), nil
	})
}

// variadic declares a method taking any number of string (or char) arguments.
//
// Not inlined: inlined, each call site would get its own copy of the
// closure it returns, which multiplied the module's code (BENCHMARKS.md).
//
//go:noinline
func variadic(ret Type, fn impl) method {
	return func(c *compiler, n *callNode, recv value, args []node) (value, error) {
		params := make([]Type, len(args))
		for i := range params {
			params[i] = String
		}
		return simple(ret, 0, params, fn)(c, n, recv, args)
	}
}

// split is C#'s String.Split with separators (empty entries kept).
func split(x string, seps []string) []string {
	var out []string
	start := 0
	for i := 0; i < len(x); {
		matched := ""
		for _, sep := range seps {
			if sep != "" && strings.HasPrefix(x[i:], sep) {
				matched = sep
				break
			}
		}
		if matched == "" {
			i++
			continue
		}
		out = append(out, x[start:i])
		i += len(matched)
		start = i
	}
	return append(out, x[start:])
}

// dictMethods are the read methods of the string-keyed dictionaries
// (headers, query, matched parameters, claims): values are comma-joined.
func dictMethods() map[string]method {
	return map[string]method{
		"GetValueOrDefault": func(c *compiler, n *callNode, recv value, args []node) (value, error) {
			return simple(String, 1, []Type{String, String}, func(f *frame, r any, a []any) (any, error) {
				v, ok := lookup(f, recv.typ, r, s(a[0]))
				if !ok {
					if len(a) > 1 {
						return a[1], nil
					}
					return nil, nil
				}
				if arr, isArr := v.([]string); isArr {
					return strings.Join(arr, ","), nil
				}
				return v, nil
			})(c, n, recv, args)
		},
		"ContainsKey": func(c *compiler, n *callNode, recv value, args []node) (value, error) {
			return simple(Bool, 1, []Type{String}, func(f *frame, r any, a []any) (any, error) {
				_, ok := lookup(f, recv.typ, r, s(a[0]))
				return ok, nil
			})(c, n, recv, args)
		},
	}
}

// getVariable is context.Variables.GetValueOrDefault[<T>](name[, default]).
// Like APIM, a stored value of another type is an error, not the default.
func getVariable(c *compiler, n *callNode, recv value, args []node) (value, error) {
	want := Object
	if len(n.typeArgs) == 1 {
		t, ok := castTypes[n.typeArgs[0]]
		if !ok {
			return value{}, errAt(n, "unsupported type argument %s", n.typeArgs[0])
		}
		want = t
	} else if len(n.typeArgs) > 1 {
		return value{}, errAt(n, "GetValueOrDefault takes one type argument")
	}
	conv := converter(want)
	params := []Type{String, want}
	return simple(want, 1, params, func(f *frame, _ any, a []any) (any, error) {
		v, ok := f.env.Variable(s(a[0]))
		if !ok {
			if len(a) > 1 {
				return a[1], nil
			}
			if want == Bool {
				return false, nil
			}
			if want == Int {
				return int64(0), nil
			}
			return nil, nil
		}
		if conv == nil || want == JTokenType {
			return v, nil
		}
		if _, isTok := v.(JToken); isTok && want != JTokenType {
			return nil, rtErr("Specified cast is not valid: variable %q holds a JToken.", s(a[0]))
		}
		return conv(v)
	})(c, n, recv, args)
}

func (c *compiler) call(n *callNode) (value, error) {
	m, ok := n.fn.(*memberNode)
	if !ok {
		if id, isName := n.fn.(*identNode); isName {
			if l, found := c.lookup(id.name); found && l.fn != nil {
				return c.callLocal(n, l.fn, id.name)
			}
		}
		return value{}, errAt(n, "unsupported function call %s", callName(n))
	}
	recv, err := c.expr(m.x)
	if err != nil {
		return value{}, err
	}
	if recv.typ == staticType {
		return c.staticCall(n, recv.static, m.name)
	}
	if recv.typ == Object {
		return value{}, errAt(n, "cannot call %s on an object: cast it first, for example (string) or (Jwt)", m.name)
	}
	if err := c.meshCheck(n, recv.typ, m.name); err != nil {
		return value{}, err
	}
	if recv.typ == JTokenType && (m.name == "Add" || m.name == "Remove") {
		return c.mutation(n, m)
	}
	impl, ok := methods[recv.typ][m.name]
	if !ok {
		return value{}, errAt(n, "unsupported method %s of %s", m.name, describe(m.x, recv.typ))
	}
	if len(n.typeArgs) > 0 && recv.typ != variablesType && recv.typ != bodyType && !(recv.typ == JTokenType && m.name == "Value") {
		return value{}, errAt(n, "%s does not take type arguments", m.name)
	}
	return impl(c, n, recv, n.args)
}
