package expr

import (
	"encoding/base64"
	"strings"
)

// Type is the static type of an expression.
type Type uint8

const (
	Object Type = iota // known only at run time: context.Variables values
	Null
	String
	Bool
	Int
	StringArray
	JwtType
	ResponseType // IResponse
	JTokenType
	BasicType
	// Types that exist only as receivers of members.
	contextType
	requestType
	ctxResponseType
	headersType
	urlType
	queryType
	variablesType
	lastErrorType
	paramsType
	claimsType
	bodyType
	comparisonType
	comparerType
	lambdaType
	staticType // a class name such as Array, String, StringComparison
)

var typeText = map[Type]string{
	Object: "object", Null: "null", String: "string", Bool: "bool", Int: "int", StringArray: "string[]",
	JwtType: "Jwt", ResponseType: "IResponse", JTokenType: "JToken", BasicType: "BasicAuthCredentials",
	contextType: "context", requestType: "IRequest", ctxResponseType: "IResponse", headersType: "headers",
	urlType: "IUrl", queryType: "query", variablesType: "context.Variables", lastErrorType: "LastError",
	paramsType: "MatchedParameters", claimsType: "claims", bodyType: "IMessageBody",
	comparisonType: "StringComparison", comparerType: "StringComparer", lambdaType: "lambda", staticType: "type",
}

func (t Type) String() string { return typeText[t] }

// frame is one evaluation: the request and the local variables.
type frame struct {
	env    Env
	locals []any
}

type evalFn func(f *frame) (any, error)

// value is a compiled expression: its static type and how to evaluate it.
type value struct {
	typ  Type
	eval evalFn
	// static names a class for static member access (Array, StringComparison, ...).
	static string
}

// CompileError is an expression outside the supported subset or with a type
// error. Off is a byte offset into the expression source.
type CompileError struct {
	Off int
	Msg string
}

func (e *CompileError) Error() string { return e.Msg }

type local struct {
	name string
	slot int
	typ  Type
}

type compiler struct {
	scopes  [][]local
	nlocals int
}

func errAt(n interface{ offset() int }, format string, args ...any) error {
	return &CompileError{Off: n.offset(), Msg: sprintf(format, args...)}
}

func (c *compiler) lookup(name string) (local, bool) {
	for i := len(c.scopes) - 1; i >= 0; i-- {
		for _, l := range c.scopes[i] {
			if l.name == name {
				return l, true
			}
		}
	}
	return local{}, false
}

func (c *compiler) declare(name string, typ Type) local {
	l := local{name: name, slot: c.nlocals, typ: typ}
	c.nlocals++
	c.scopes[len(c.scopes)-1] = append(c.scopes[len(c.scopes)-1], l)
	return l
}

func constant(t Type, v any) value {
	return value{typ: t, eval: func(*frame) (any, error) { return v, nil }}
}

// expr compiles one expression node.
func (c *compiler) expr(n node) (value, error) {
	switch n := n.(type) {
	case *intLit:
		return constant(Int, n.v), nil
	case *strLit:
		return constant(String, n.v), nil
	case *charLit:
		return constant(String, string(n.v)), nil
	case *boolLit:
		return constant(Bool, n.v), nil
	case *nullLit:
		return constant(Null, nil), nil
	case *interpLit:
		return c.interp(n)
	case *identNode:
		return c.ident(n)
	case *memberNode:
		return c.member(n)
	case *indexNode:
		return c.index(n)
	case *callNode:
		return c.call(n)
	case *unaryNode:
		return c.unary(n)
	case *binaryNode:
		return c.binary(n)
	case *condNode:
		return c.cond(n)
	case *castNode:
		return c.cast(n)
	case *newArrayNode:
		return c.newArray(n)
	case *lambdaNode:
		return value{}, errAt(n, "a lambda is only allowed as the predicate of Array.Exists or Any")
	case *outArg:
		return value{}, errAt(n, "out arguments are only allowed in TryParseJwt")
	}
	return value{}, errAt(n, "unsupported expression")
}

func (c *compiler) interp(n *interpLit) (value, error) {
	holes := make([]evalFn, len(n.holes))
	for i, h := range n.holes {
		v, err := c.expr(h)
		if err != nil {
			return value{}, err
		}
		if err := c.stringable(h, v); err != nil {
			return value{}, err
		}
		holes[i] = v.eval
	}
	lits := n.lits
	return value{typ: String, eval: func(f *frame) (any, error) {
		var b strings.Builder
		for i, h := range holes {
			b.WriteString(lits[i])
			v, err := h(f)
			if err != nil {
				return nil, err
			}
			b.WriteString(ToString(v))
		}
		b.WriteString(lits[len(lits)-1])
		return b.String(), nil
	}}, nil
}

// stringable rejects values whose C# ToString would print a type name.
func (c *compiler) stringable(n node, v value) error {
	switch v.typ {
	case Object, Null, String, Bool, Int, JTokenType, urlType:
		return nil
	}
	return errAt(n, "a %s cannot be turned into a string here", v.typ)
}

var staticClasses = map[string]bool{
	"Array": true, "string": true, "String": true, "StringComparison": true, "StringComparer": true,
	"ExpressionSyntaxExtensions": true,
}

func (c *compiler) ident(n *identNode) (value, error) {
	if l, ok := c.lookup(n.name); ok {
		slot := l.slot
		return value{typ: l.typ, eval: func(f *frame) (any, error) { return f.locals[slot], nil }}, nil
	}
	if n.name == "context" {
		return value{typ: contextType, eval: noValue}, nil
	}
	if staticClasses[n.name] {
		return value{typ: staticType, static: n.name, eval: noValue}, nil
	}
	return value{}, errAt(n, "unknown name %q", n.name)
}

func noValue(*frame) (any, error) { return nil, nil }

func (c *compiler) unary(n *unaryNode) (value, error) {
	x, err := c.expr(n.x)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case "!":
		xb, err := c.asBool(n.x, x)
		if err != nil {
			return value{}, err
		}
		return value{typ: Bool, eval: func(f *frame) (any, error) {
			b, err := xb(f)
			return !b, err
		}}, nil
	case "-", "+":
		xi, err := c.asInt(n.x, x)
		if err != nil {
			return value{}, err
		}
		neg := n.op == "-"
		return value{typ: Int, eval: func(f *frame) (any, error) {
			v, err := xi(f)
			if neg {
				v = -v
			}
			return v, err
		}}, nil
	}
	return value{}, errAt(n, "unsupported operator %s", n.op)
}

// asBool returns an evaluator of a bool operand; object operands are checked
// at run time.
func (c *compiler) asBool(n node, v value) (func(*frame) (bool, error), error) {
	switch v.typ {
	case Bool, Object:
		return func(f *frame) (bool, error) {
			x, err := v.eval(f)
			if err != nil {
				return false, err
			}
			return toBool(x)
		}, nil
	}
	return nil, errAt(n, "want a bool, got %s", v.typ)
}

func toBool(x any) (bool, error) {
	switch t := x.(type) {
	case bool:
		return t, nil
	case JToken:
		if t.r.IsBool() {
			return t.r.Bool(), nil
		}
	case nil:
		return false, errNull
	}
	return false, rtErr("Specified cast is not valid: %s is not a bool.", kindOf(x))
}

func (c *compiler) asInt(n node, v value) (func(*frame) (int64, error), error) {
	switch v.typ {
	case Int, Object:
		return func(f *frame) (int64, error) {
			x, err := v.eval(f)
			if err != nil {
				return 0, err
			}
			return toInt(x)
		}, nil
	}
	return nil, errAt(n, "want an int, got %s", v.typ)
}

func toInt(x any) (int64, error) {
	switch t := x.(type) {
	case int64:
		return t, nil
	case int:
		return int64(t), nil
	case JToken:
		if t.r.Type.String() == "Number" && t.r.Num == float64(int64(t.r.Num)) {
			return int64(t.r.Num), nil
		}
	case nil:
		return 0, errNull
	}
	return 0, rtErr("Specified cast is not valid: %s is not an int.", kindOf(x))
}

func kindOf(x any) string {
	switch x.(type) {
	case string:
		return "a string"
	case bool:
		return "a bool"
	case int64, int:
		return "an int"
	case []string:
		return "a string[]"
	case *Jwt:
		return "a Jwt"
	case *Response:
		return "an IResponse"
	case JToken:
		return "a JToken"
	case *Basic:
		return "a BasicAuthCredentials"
	case nil:
		return "null"
	}
	return "an object"
}

func (c *compiler) binary(n *binaryNode) (value, error) {
	x, err := c.expr(n.x)
	if err != nil {
		return value{}, err
	}
	y, err := c.expr(n.y)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case "&&", "||":
		xb, err := c.asBool(n.x, x)
		if err != nil {
			return value{}, err
		}
		yb, err := c.asBool(n.y, y)
		if err != nil {
			return value{}, err
		}
		and := n.op == "&&"
		return value{typ: Bool, eval: func(f *frame) (any, error) {
			a, err := xb(f)
			if err != nil || a != and {
				return a, err
			}
			return yb(f)
		}}, nil
	case "==", "!=":
		if !comparable(x.typ, y.typ) {
			return value{}, errAt(n, "cannot compare %s with %s", x.typ, y.typ)
		}
		neg := n.op == "!="
		return value{typ: Bool, eval: func(f *frame) (any, error) {
			a, err := x.eval(f)
			if err != nil {
				return nil, err
			}
			b, err := y.eval(f)
			if err != nil {
				return nil, err
			}
			return equal(a, b) != neg, nil
		}}, nil
	case "??":
		t := y.typ
		if x.typ == y.typ || y.typ == Null {
			t = x.typ
		} else if x.typ != Null {
			t = Object
		}
		return value{typ: t, eval: func(f *frame) (any, error) {
			a, err := x.eval(f)
			if err != nil || a != nil {
				return a, err
			}
			return y.eval(f)
		}}, nil
	case "+":
		if x.typ == String || y.typ == String || ((x.typ == Object || x.typ == Null) && (y.typ == Object || y.typ == Null)) {
			for i, v := range []value{x, y} {
				if err := c.stringable([]node{n.x, n.y}[i], v); err != nil {
					return value{}, err
				}
			}
			dynamic := x.typ != String && y.typ != String
			return value{typ: String, eval: func(f *frame) (any, error) {
				a, err := x.eval(f)
				if err != nil {
					return nil, err
				}
				b, err := y.eval(f)
				if err != nil {
					return nil, err
				}
				if dynamic {
					ai, aok := a.(int64)
					bi, bok := b.(int64)
					if aok && bok {
						return ai + bi, nil
					}
				}
				return ToString(a) + ToString(b), nil
			}}, nil
		}
		fallthrough
	case "-", "*", "/", "%", "<", ">", "<=", ">=":
		xi, err := c.asInt(n.x, x)
		if err != nil {
			return value{}, err
		}
		yi, err := c.asInt(n.y, y)
		if err != nil {
			return value{}, err
		}
		op := n.op
		t := Int
		if strings.ContainsAny(op, "<>") {
			t = Bool
		}
		return value{typ: t, eval: func(f *frame) (any, error) {
			a, err := xi(f)
			if err != nil {
				return nil, err
			}
			b, err := yi(f)
			if err != nil {
				return nil, err
			}
			switch op {
			case "+":
				return a + b, nil
			case "-":
				return a - b, nil
			case "*":
				return a * b, nil
			case "/", "%":
				if b == 0 {
					return nil, rtErr("Attempted to divide by zero.")
				}
				if op == "/" {
					return a / b, nil
				}
				return a % b, nil
			case "<":
				return a < b, nil
			case ">":
				return a > b, nil
			case "<=":
				return a <= b, nil
			default:
				return a >= b, nil
			}
		}}, nil
	}
	return value{}, errAt(n, "unsupported operator %s", n.op)
}

func comparable(a, b Type) bool {
	if a == b || a == Object || b == Object {
		return a <= BasicType && b <= BasicType
	}
	if a == Null || b == Null {
		other := a
		if a == Null {
			other = b
		}
		return other != Bool && other != Int && other <= BasicType
	}
	// A JToken compares with the primitive it holds.
	if a == JTokenType || b == JTokenType {
		other := a
		if a == JTokenType {
			other = b
		}
		return other == String || other == Bool || other == Int
	}
	return false
}

// equal is value equality: strings ordinally, tokens by their JSON value,
// other references by identity.
func equal(a, b any) bool {
	if ja, ok := a.(JToken); ok {
		return tokenEquals(ja, b)
	}
	if jb, ok := b.(JToken); ok {
		return tokenEquals(jb, a)
	}
	switch av := a.(type) {
	case nil:
		return b == nil
	case string:
		bv, ok := b.(string)
		return ok && av == bv
	case bool:
		bv, ok := b.(bool)
		return ok && av == bv
	case int64:
		bv, ok := b.(int64)
		return ok && av == bv
	case *Jwt:
		bv, ok := b.(*Jwt)
		return ok && av == bv
	case *Response:
		bv, ok := b.(*Response)
		return ok && av == bv
	case *Basic:
		bv, ok := b.(*Basic)
		return ok && av == bv
	}
	return false
}

func tokenEquals(t JToken, other any) bool {
	switch o := other.(type) {
	case nil:
		return !t.r.Exists() || t.r.Type.String() == "Null"
	case string:
		return t.r.Type.String() == "String" && t.r.Str == o
	case bool:
		return t.r.IsBool() && t.r.Bool() == o
	case int64:
		return t.r.Type.String() == "Number" && t.r.Num == float64(o)
	case JToken:
		return t.r.Raw == o.r.Raw
	}
	return false
}

func (c *compiler) cond(n *condNode) (value, error) {
	cv, err := c.expr(n.c)
	if err != nil {
		return value{}, err
	}
	cb, err := c.asBool(n.c, cv)
	if err != nil {
		return value{}, err
	}
	a, err := c.expr(n.a)
	if err != nil {
		return value{}, err
	}
	b, err := c.expr(n.b)
	if err != nil {
		return value{}, err
	}
	t := a.typ
	switch {
	case a.typ == b.typ:
	case a.typ == Null:
		t = b.typ
	case b.typ == Null:
	default:
		t = Object
	}
	return value{typ: t, eval: func(f *frame) (any, error) {
		ok, err := cb(f)
		if err != nil {
			return nil, err
		}
		if ok {
			return a.eval(f)
		}
		return b.eval(f)
	}}, nil
}

// castTypes maps C# type names to static types.
var castTypes = map[string]Type{
	"string": String, "String": String, "bool": Bool, "Boolean": Bool, "int": Int, "long": Int, "Int32": Int, "Int64": Int,
	"object": Object, "Jwt": JwtType, "IResponse": ResponseType, "JObject": JTokenType, "JToken": JTokenType, "JArray": JTokenType,
	"string[]": StringArray, "BasicAuthCredentials": BasicType,
}

func (c *compiler) cast(n *castNode) (value, error) {
	x, err := c.expr(n.x)
	if err != nil {
		return value{}, err
	}
	to, ok := castTypes[n.typ]
	if !ok {
		return value{}, errAt(n, "unsupported cast to %s", n.typ)
	}
	return c.convert(n, x, to)
}

// convert applies an explicit conversion, checked at run time when the
// operand's type is only known then.
func (c *compiler) convert(n node, x value, to Type) (value, error) {
	if x.typ == to || to == Object {
		return value{typ: to, eval: x.eval}, nil
	}
	if x.typ != Object && x.typ != Null && x.typ != JTokenType {
		return value{}, errAt(n, "cannot convert %s to %s", x.typ, to)
	}
	conv := converter(to)
	if conv == nil {
		return value{}, errAt(n, "cannot convert %s to %s", x.typ, to)
	}
	return value{typ: to, eval: func(f *frame) (any, error) {
		v, err := x.eval(f)
		if err != nil {
			return nil, err
		}
		return conv(v)
	}}, nil
}

func converter(to Type) func(any) (any, error) {
	switch to {
	case String:
		return func(v any) (any, error) {
			switch t := v.(type) {
			case nil, string:
				return t, nil
			case JToken:
				if t.r.Type.String() == "Null" {
					return nil, nil
				}
				return t.String(), nil
			}
			return nil, rtErr("Specified cast is not valid: %s is not a string.", kindOf(v))
		}
	case Bool:
		return func(v any) (any, error) { return toBool(v) }
	case Int:
		return func(v any) (any, error) { return toInt(v) }
	case JTokenType:
		return func(v any) (any, error) {
			if _, ok := v.(JToken); ok || v == nil {
				return v, nil
			}
			return nil, rtErr("Specified cast is not valid: %s is not a JToken.", kindOf(v))
		}
	case JwtType:
		return typed[*Jwt]("a Jwt")
	case ResponseType:
		return typed[*Response]("an IResponse")
	case StringArray:
		return typed[[]string]("a string[]")
	case BasicType:
		return typed[*Basic]("a BasicAuthCredentials")
	}
	return nil
}

func typed[T any](what string) func(any) (any, error) {
	return func(v any) (any, error) {
		if v == nil {
			return nil, nil
		}
		if _, ok := v.(T); ok {
			return v, nil
		}
		return nil, rtErr("Specified cast is not valid: %s is not %s.", kindOf(v), what)
	}
}

func (c *compiler) newArray(n *newArrayNode) (value, error) {
	if n.elemType != "" && castTypes[n.elemType] != String {
		return value{}, errAt(n, "only string arrays are supported")
	}
	elems := make([]evalFn, len(n.elems))
	for i, e := range n.elems {
		v, err := c.expr(e)
		if err != nil {
			return value{}, err
		}
		if v.typ != String && v.typ != Null {
			return value{}, errAt(e, "array elements must be strings, got %s", v.typ)
		}
		elems[i] = v.eval
	}
	return value{typ: StringArray, eval: func(f *frame) (any, error) {
		out := make([]string, len(elems))
		for i, e := range elems {
			v, err := e(f)
			if err != nil {
				return nil, err
			}
			out[i] = ToString(v)
		}
		return out, nil
	}}, nil
}

func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
