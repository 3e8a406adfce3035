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
	CertificateType // X509Certificate2: context.Request.Certificate
	DateTimeType    // DateTime, always UTC
	subscriptionType
	productType
	userType
	bytesType    // byte[]
	guidType     // Guid
	timeSpanType // TimeSpan: a time.Duration
	hashType     // HMACSHA256, SHA256, ...: a *hasher
	jpropType    // JProperty: a jprop
	tokenSeqType // IEnumerable<JToken>: a []JToken (linq.go)
	propSeqType  // IEnumerable<JProperty>: a []jprop
	randomType   // Random: a randomGen (random.go)
	Double       // double: a float64 (double.go)
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
	x500NameType
	exceptionType
	cultureType
	formattingType
	apiType
	operationType
	deploymentType
	gatewayType
	formType // AsFormUrlEncodedContent's IDictionary<string, IList<string>>: a url.Values
)

// lastValueType is the last type an expression may produce or a variable
// may hold; the types after it exist only as receivers.
const lastValueType = Double

var typeText = map[Type]string{
	Object: "object", Null: "null", String: "string", Bool: "bool", Int: "int", StringArray: "string[]",
	JwtType: "Jwt", ResponseType: "IResponse", JTokenType: "JToken", BasicType: "BasicAuthCredentials",
	CertificateType: "X509Certificate2", DateTimeType: "DateTime", x500NameType: "X500DistinguishedName",
	subscriptionType: "ISubscription", productType: "IProduct", userType: "IUser", bytesType: "byte[]", guidType: "Guid", timeSpanType: "TimeSpan", hashType: "HashAlgorithm", cultureType: "CultureInfo", jpropType: "JProperty", formattingType: "Formatting",
	tokenSeqType: "IEnumerable<JToken>", propSeqType: "IEnumerable<JProperty>", randomType: "Random", Double: "double",
	contextType: "context", requestType: "IRequest", ctxResponseType: "IResponse", headersType: "headers",
	urlType: "IUrl", queryType: "query", variablesType: "context.Variables", lastErrorType: "LastError",
	paramsType: "MatchedParameters", claimsType: "claims", bodyType: "IMessageBody",
	comparisonType: "StringComparison", comparerType: "StringComparer", lambdaType: "lambda", staticType: "type",
	exceptionType: "Exception", apiType: "IApi", operationType: "IOperation", deploymentType: "IDeployment", gatewayType: "IGateway", formType: "IDictionary<string, IList<string>>",
}

func (t Type) String() string { return typeText[t] }

// frame is one evaluation: the request and the local variables.
type frame struct {
	env    Env
	locals []any
	// steps counts the loop iterations of this evaluation; maxSteps
	// bounds them (Options.MaxIterations).
	steps, maxSteps int
	// calls is the depth of local function calls (functions.go).
	calls int
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
	fn   *localFunc // a local function's name (functions.go)
}

type compiler struct {
	opt     Options
	scopes  [][]local
	nlocals int
	depth   int // of c.expr calls: the tree depth so far
	loops   int // loops around the statement being compiled
	// switches: switch statements around it (break leaves the innermost
	// loop or switch).
	switches int
	bodies   uint8
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

// Not inlined: inlined, each call site would get its own copy of the
// closure it returns, which multiplied the module's code (BENCHMARKS.md).
//
//go:noinline
func constant(t Type, v any) value {
	return value{typ: t, eval: func(*frame) (any, error) { return v, nil }}
}

// expr compiles one expression node.
func (c *compiler) expr(n node) (value, error) {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxTreeDepth {
		return value{}, errAt(n, "expression nested deeper than %d levels (an operator chain counts one level per operand): split it with variables", maxTreeDepth)
	}
	switch n := n.(type) {
	case *intLit:
		return constant(Int, n.v), nil
	case *doubleLit:
		return constant(Double, n.v), nil
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
	case *anonNode:
		return c.anonymous(n)
	case *newObjNode:
		call := &callNode{fn: &identNode{name: n.class, off: n.off}, args: n.args, off: n.off}
		recv := value{typ: staticType, eval: noValue}
		if sig, ok := newObjects[n.class]; ok {
			return libMethod(sig)(c, call, recv, n.args)
		}
		if m, ok := newObjectsCustom[n.class]; ok {
			return m(c, call, recv, n.args)
		}
		return value{}, errAt(n, "new %s is not supported", n.class)
	case *lambdaNode:
		return value{}, errAt(n, "a lambda is only allowed as the argument of a LINQ method or of Array.Exists")
	case *outArg:
		return value{}, errAt(n, "out arguments are only allowed in TryParseJwt")
	case *namedArg:
		return value{}, errAt(n, "named argument %s: is not supported here", n.name)
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
			if b.Len() > MaxString {
				return nil, budgetErr("The expression built a string longer than %d bytes.", MaxString)
			}
		}
		b.WriteString(lits[len(lits)-1])
		return b.String(), nil
	}}, nil
}

// stringable rejects values whose C# ToString would print a type name.
func (c *compiler) stringable(n node, v value) error {
	switch v.typ {
	case Object, Null, String, Bool, Int, Double, JTokenType, urlType, guidType, DateTimeType:
		return nil // a DateTime as its ToString() writes it (formatTime)
	}
	return errAt(n, "a %s cannot be turned into a string here", v.typ)
}

var staticClasses = map[string]bool{
	"Array": true, "string": true, "String": true, "StringComparison": true, "StringComparer": true,
	"ExpressionSyntaxExtensions": true, "DateTime": true, "Guid": true, "Uri": true, "WebUtility": true,
	"Convert": true, "Encoding": true, "Math": true, "int": true, "Int32": true, "long": true, "Int64": true,
	"bool": true, "Boolean": true, "DateTimeOffset": true, "CultureInfo": true,
}

// namespaces may prefix a class name (System.Text.Encoding.UTF8).
var namespaces = map[string]bool{
	"System": true, "System.Text": true, "System.Net": true, "System.Security": true, "System.Security.Cryptography": true,
	"System.Linq": true, "System.Globalization": true, "Newtonsoft": true, "Newtonsoft.Json": true, "Newtonsoft.Json.Linq": true,
}

func (c *compiler) ident(n *identNode) (value, error) {
	if l, ok := c.lookup(n.name); ok && l.fn != nil {
		return value{}, errAt(n, "%s is a local function: call it", n.name)
	} else if ok {
		slot := l.slot
		return value{typ: l.typ, eval: func(f *frame) (any, error) { return f.locals[slot], nil }}, nil
	}
	if n.name == "context" {
		return value{typ: contextType, eval: noValue}, nil
	}
	if staticClasses[n.name] || namespaces[n.name] {
		return value{typ: staticType, static: n.name, eval: noValue}, nil
	}
	return value{}, errAt(n, "unknown name %q", n.name)
}

func noValue(*frame) (any, error) { return nil, nil }

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
