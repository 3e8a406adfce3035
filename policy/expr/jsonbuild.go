package expr

// Building JSON as APIM policies do with Newtonsoft.Json: new JObject /
// JArray / JProperty, anonymous objects, JObject.Parse, JsonConvert,
// indexer assignment, Add and Remove, ToString(Formatting). A JToken is
// its JSON text (parsed by gjson when read): building writes new text, and
// a change to a variable's token is written back to the variable, so two
// variables never share one token (JSON.NET's are references; a policy
// that relies on that sees the difference).

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/pretty"

	"github.com/apimguard/apimguard/internal/jsonlimit"
)

// jprop is a JProperty: a name and its value's JSON.
type jprop struct{ name, raw string }

// quoteJSON writes s as a JSON string the way JSON.NET does by default:
// quotes, backslashes and control characters escaped, the rest as it is.
func quoteJSON(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x85 || r == 0x2028 || r == 0x2029:
			b.WriteString(`\u`)
			h := strconv.FormatInt(int64(r), 16)
			b.WriteString(strings.Repeat("0", 4-len(h)) + h)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// jsonOf is the JSON of a value, as JsonConvert.SerializeObject writes it.
func jsonOf(v any) (string, error) {
	var b strings.Builder
	switch t := v.(type) {
	case nil:
		return "null", nil
	case string:
		quoteJSON(&b, t)
	case int64:
		return strconv.FormatInt(t, 10), nil
	case bool:
		return strconv.FormatBool(t), nil
	case JToken:
		if t.r.Raw == "" {
			return "null", nil
		}
		return t.r.Raw, nil
	case []string:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			quoteJSON(&b, e)
		}
		b.WriteByte(']')
	case Guid:
		quoteJSON(&b, t.String())
	case time.Time:
		quoteJSON(&b, strings.TrimSuffix(strings.TrimRight(t.UTC().Format("2006-01-02T15:04:05.0000000"), "0"), ".")+"Z")
	case []byte:
		quoteJSON(&b, base64.StdEncoding.EncodeToString(t))
	default:
		return "", rtErr("Could not serialize %s.", kindOf(v))
	}
	if b.Len() > MaxString {
		return "", budgetErr("The expression built a string longer than %d bytes.", MaxString)
	}
	return b.String(), nil
}

// tokenOf wraps JSON text the engine wrote itself as a JToken.
func tokenOf(raw string) (JToken, error) {
	if len(raw) > MaxString {
		return JToken{}, budgetErr("The expression built a string longer than %d bytes.", MaxString)
	}
	return JToken{r: gjson.Parse(raw)}, nil
}

// parseToken is JObject.Parse / JArray.Parse / JToken.Parse (want "" for
// any) of outside text: bounded in depth, valid, of the wanted kind.
func parseToken(s, want string) (JToken, error) {
	if err := jsonlimit.CheckString(s, 0); err != nil {
		return JToken{}, rtErr("The JSON is refused: %v.", err)
	}
	if !gjson.Valid(s) {
		return JToken{}, rtErr("Unexpected character encountered while parsing value.")
	}
	r := gjson.Parse(s)
	if (want == "JObject" && !r.IsObject()) || (want == "JArray" && !r.IsArray()) {
		return JToken{}, rtErr("Error reading %s from JsonReader.", want)
	}
	return JToken{r: r}, nil
}

// setIn returns raw with the value at path set to val (nil val: removed;
// an int key indexes an array, a string key names an object member, which
// is added when missing). found reports whether the last key was there.
func setIn(raw string, path []any, val *string) (out string, found bool, err error) {
	if len(path) == 0 {
		return *val, true, nil
	}
	r := gjson.Parse(raw)
	var b strings.Builder
	switch k := path[0].(type) {
	case string:
		if !r.IsObject() {
			return "", false, rtErr("Cannot set a member of %s.", tokenKind(r))
		}
		b.WriteByte('{')
		first := true
		var err error
		r.ForEach(func(key, v gjson.Result) bool {
			member := v.Raw
			if key.String() == k && !found {
				found = true
				if len(path) == 1 && val == nil {
					return true
				}
				if member, _, err = setIn(v.Raw, path[1:], val); err != nil {
					return false
				}
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			quoteJSON(&b, key.String())
			b.WriteByte(':')
			b.WriteString(member)
			return true
		})
		if err != nil {
			return "", false, err
		}
		if !found && val != nil {
			if len(path) > 1 {
				return "", false, errNull
			}
			if !first {
				b.WriteByte(',')
			}
			quoteJSON(&b, k)
			b.WriteByte(':')
			b.WriteString(*val)
		}
		b.WriteByte('}')
	case int64:
		elems := r.Array()
		if !r.IsArray() || k < 0 || k >= int64(len(elems)) {
			return "", false, rtErr("Index was out of range.")
		}
		b.WriteByte('[')
		for i, e := range elems {
			if i > 0 {
				b.WriteByte(',')
			}
			if int64(i) == k {
				s, _, err := setIn(e.Raw, path[1:], val)
				if err != nil {
					return "", false, err
				}
				b.WriteString(s)
				continue
			}
			b.WriteString(e.Raw)
		}
		b.WriteByte(']')
		found = true
	}
	if b.Len() > MaxString {
		return "", false, budgetErr("The expression built a string longer than %d bytes.", MaxString)
	}
	return b.String(), found, nil
}

func tokenKind(r gjson.Result) string {
	switch {
	case r.IsObject():
		return "Object"
	case r.IsArray():
		return "Array"
	}
	return r.Type.String()
}

// appendTo adds the JSON of an element to an array's JSON.
func appendTo(raw, elem string) string {
	if strings.TrimSpace(raw) == "[]" {
		return "[" + elem + "]"
	}
	return strings.TrimSuffix(strings.TrimSpace(raw), "]") + "," + elem + "]"
}

// indented is JSON.NET's Formatting.Indented: two spaces, a line per member
// and element.
func indented(raw string) string {
	return strings.TrimSuffix(string(pretty.PrettyOptions([]byte(raw), &pretty.Options{Indent: "  "})), "\n")
}

// The JSON-building functions of libCall.
const (
	opNewJObject libOp = iota + 140
	opNewJArray
	opNewJProperty
	opParseJObject
	opParseJArray
	opParseJToken
	opSerialize
	opDeserialize
	opTokenString
)

func jsonCall(op libOp, r any, a []any) (any, error) {
	switch op {
	case opNewJObject:
		var b strings.Builder
		b.WriteByte('{')
		for i, p := range a {
			jp, ok := p.(jprop)
			if !ok {
				return nil, rtErr("Can not add %s to JObject.", kindOf(p))
			}
			if i > 0 {
				b.WriteByte(',')
			}
			quoteJSON(&b, jp.name)
			b.WriteByte(':')
			b.WriteString(jp.raw)
		}
		b.WriteByte('}')
		return tokenOf(b.String())
	case opNewJArray:
		raw := "[]"
		for _, e := range a {
			if arr, ok := e.([]string); ok {
				for _, s := range arr {
					j, _ := jsonOf(s)
					raw = appendTo(raw, j)
				}
				continue
			}
			j, err := jsonOf(e)
			if err != nil {
				return nil, err
			}
			raw = appendTo(raw, j)
		}
		return tokenOf(raw)
	case opNewJProperty:
		j, err := jsonOf(a[1])
		return jprop{name: s(a[0]), raw: j}, err
	case opParseJObject, opParseJArray, opParseJToken:
		if a[0] == nil {
			return nil, rtErr("Value cannot be null. (Parameter 'json')")
		}
		return parseToken(s(a[0]), map[libOp]string{opParseJObject: "JObject", opParseJArray: "JArray"}[op])
	case opSerialize:
		j, err := jsonOf(a[0])
		if err == nil && len(a) > 1 && a[1] == true {
			j = indented(j)
		}
		return j, err
	case opDeserialize:
		if a[0] == nil {
			return nil, rtErr("Value cannot be null. (Parameter 'value')")
		}
		return parseToken(s(a[0]), "")
	case opTokenString:
		t := r.(JToken)
		if len(a) == 0 || t.r.Type == gjson.String {
			return t.String(), nil
		}
		if a[0] == true {
			return indented(t.r.Raw), nil
		}
		return t.r.Raw, nil
	}
	return nil, rtErr("unknown library function")
}

func jsonMembers() {
	newObjects["JObject"] = libSig{opNewJObject, JTokenType, 0, repeatType(jpropType, 16)}
	newObjects["JArray"] = libSig{opNewJArray, JTokenType, 0, repeatType(Object, 16)}
	newObjects["JProperty"] = libSig{opNewJProperty, jpropType, 2, []Type{String, Object}}
	for name, sig := range map[string]libSig{
		"JObject.Parse":                 {opParseJObject, JTokenType, 1, []Type{String}},
		"JArray.Parse":                  {opParseJArray, JTokenType, 1, []Type{String}},
		"JToken.Parse":                  {opParseJToken, JTokenType, 1, []Type{String}},
		"JsonConvert.SerializeObject":   {opSerialize, String, 1, []Type{Object, formattingType}},
		"JsonConvert.DeserializeObject": {opDeserialize, JTokenType, 1, []Type{String}},
	} {
		libraryStatics[name] = sig
	}
	methods[JTokenType]["ToString"] = libMethod(libSig{opTokenString, String, 0, []Type{formattingType}})
	for _, class := range []string{"JObject", "JArray", "JToken", "JsonConvert", "Formatting", "JTokenType"} {
		staticClasses[class] = true
	}
	tokenQueryMembers()
}

func repeatType(t Type, n int) []Type {
	out := make([]Type, n)
	for i := range out {
		out[i] = t
	}
	return out
}

// anonymous compiles new { a = x, ... } to a JObject.
func (c *compiler) anonymous(n *anonNode) (value, error) {
	vals := make([]evalFn, len(n.values))
	for i, v := range n.values {
		x, err := c.expr(v)
		if err != nil {
			return value{}, err
		}
		vals[i] = x.eval
	}
	names := n.names
	return value{typ: JTokenType, eval: func(f *frame) (any, error) {
		props := make([]any, len(vals))
		for i, e := range vals {
			v, err := e(f)
			if err != nil {
				return nil, err
			}
			j, err := jsonOf(v)
			if err != nil {
				return nil, err
			}
			props[i] = jprop{name: names[i], raw: j}
		}
		return jsonCall(opNewJObject, nil, props)
	}}, nil
}

// tokenVar is the JToken variable a mutation changes (o in o["a"] = 1 or
// o.Add(...)).
func (c *compiler) tokenVar(n node) (local, error) {
	id, ok := n.(*identNode)
	if ok {
		if l, ok := c.lookup(id.name); ok && l.typ == JTokenType {
			return l, nil
		}
	}
	return local{}, errAt(n, "only a JObject or JArray variable can be changed")
}

// setIndex compiles o[k1]...[kn] = value.
func (c *compiler) setIndex(st *setIndexStmt) (runFn, error) {
	var keys []node
	var root node = st.target
	for {
		ix, ok := root.(*indexNode)
		if !ok {
			break
		}
		keys = append([]node{ix.index}, keys...)
		root = ix.x
	}
	l, err := c.tokenVar(root)
	if err != nil {
		return nil, err
	}
	evals := make([]evalFn, len(keys))
	for i, k := range keys {
		v, err := c.expr(k)
		if err != nil {
			return nil, err
		}
		if v.typ != String && v.typ != Int {
			return nil, errAt(k, "a JSON index must be a string or an int, got %s", v.typ)
		}
		evals[i] = v.eval
	}
	val, err := c.expr(st.value)
	if err != nil {
		return nil, err
	}
	slot := l.slot
	return func(f *frame) (any, bool, error) {
		path := make([]any, len(evals))
		for i, e := range evals {
			k, err := e(f)
			if err != nil {
				return nil, false, err
			}
			if k == nil {
				return nil, false, rtErr("Value cannot be null. (Parameter 'key')")
			}
			path[i] = k
		}
		v, err := val.eval(f)
		if err != nil {
			return nil, false, err
		}
		return nil, false, setToken(f, slot, path, v, false)
	}, nil
}

// setToken sets (or, with remove, removes) path in the token of variable
// slot to v and writes the token back.
func setToken(f *frame, slot int, path []any, v any, remove bool) error {
	t, ok := f.locals[slot].(JToken)
	if !ok {
		return errNull
	}
	var val *string
	if !remove {
		j, err := jsonOf(v)
		if err != nil {
			return err
		}
		val = &j
	}
	raw, _, err := setIn(t.r.Raw, path, val)
	if err != nil {
		return err
	}
	f.locals[slot], err = tokenOf(raw)
	return err
}

// mutation compiles o.Add(name, value), o.Add(value) (an array, or a
// JProperty on an object) and o.Remove(name) on a JToken variable.
func (c *compiler) mutation(n *callNode, m *memberNode) (value, error) {
	l, err := c.tokenVar(m.x)
	if err != nil {
		return value{}, err
	}
	args := make([]evalFn, len(n.args))
	for i, a := range n.args {
		v, err := c.expr(a)
		if err != nil {
			return value{}, err
		}
		args[i] = v.eval
	}
	if (m.name == "Remove" && len(args) != 1) || (m.name == "Add" && len(args) != 1 && len(args) != 2) {
		return value{}, errAt(n, "%s takes %s", m.name, map[string]string{"Add": "a value, a JProperty, or a name and a value", "Remove": "a property name"}[m.name])
	}
	slot, remove := l.slot, m.name == "Remove"
	t := Null
	if remove {
		t = Bool
	}
	return value{typ: t, eval: func(f *frame) (any, error) {
		a := make([]any, len(args))
		for i, e := range args {
			var err error
			if a[i], err = e(f); err != nil {
				return nil, err
			}
		}
		tok, ok := f.locals[slot].(JToken)
		if !ok {
			return nil, errNull
		}
		if remove {
			name, _ := a[0].(string)
			raw, found, err := setIn(tok.r.Raw, []any{name}, nil)
			if err != nil || !found {
				return false, err
			}
			f.locals[slot], err = tokenOf(raw)
			return true, err
		}
		if len(a) == 1 {
			if p, isProp := a[0].(jprop); isProp {
				a = []any{p.name, JToken{r: gjson.Parse(p.raw)}}
			}
		}
		if len(a) == 1 {
			if !tok.r.IsArray() {
				return nil, rtErr("Can not add a value to %s.", tokenKind(tok.r))
			}
			j, err := jsonOf(a[0])
			if err != nil {
				return nil, err
			}
			f.locals[slot], err = tokenOf(appendTo(tok.r.Raw, j))
			return nil, err
		}
		name, _ := a[0].(string)
		if tok.r.IsObject() && tok.r.Get(gjson.Escape(name)).Exists() {
			return nil, rtErr("Can not add property %s to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object.", name)
		}
		return nil, setToken(f, slot, []any{name}, a[1], false)
	}}, nil
}

// tokenValue is token.Value<T>(key) and token.SelectToken(path): the
// member (or, for SelectToken, the JSON.NET path a.b[0] / ['a b']) as T
// (a JToken for SelectToken), null when missing.
func tokenValue(c *compiler, n *callNode, recv value, args []node) (value, error) {
	m := n.fn.(*memberNode)
	want := JTokenType
	if m.name == "Value" {
		if len(n.typeArgs) != 1 {
			return value{}, errAt(n, "Value needs a type argument: Value<string>(\"name\")")
		}
		t, ok := castTypes[n.typeArgs[0]]
		if !ok || (t != String && t != Int && t != Bool && t != JTokenType) {
			return value{}, errAt(n, "unsupported type argument %s", n.typeArgs[0])
		}
		want = t
	}
	conv := converter(want)
	selectPath := m.name == "SelectToken"
	return simple(want, 1, []Type{String}, func(_ *frame, r any, a []any) (any, error) {
		key, _ := a[0].(string)
		tok := r.(JToken)
		var res gjson.Result
		if selectPath {
			res = tok.r.Get(gjsonPath(key))
		} else {
			res = tok.r.Get(gjson.Escape(key))
		}
		if !res.Exists() {
			if want == Int || want == Bool {
				return nil, rtErr("Object reference not set to an instance of an object.")
			}
			return nil, nil
		}
		return conv(JToken{r: res})
	})(c, n, recv, args)
}

// gjsonPath turns a JSON.NET path (a.b[0].c, ['a b'], a.*) into a gjson
// path, escaping what gjson reads as syntax.
func gjsonPath(p string) string {
	var parts []string
	for p != "" {
		switch {
		case strings.HasPrefix(p, "['"):
			end := strings.Index(p, "']")
			if end < 0 {
				return "\x00" // nothing matches
			}
			parts, p = append(parts, gjson.Escape(p[2:end])), p[end+2:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return "\x00"
			}
			parts, p = append(parts, p[1:end]), p[end+1:]
		case p[0] == '.':
			p = p[1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			parts, p = append(parts, gjson.Escape(p[:end])), p[end:]
		}
	}
	return strings.Join(parts, ".")
}

func tokenQueryMembers() {
	methods[JTokenType]["Value"] = tokenValue
	methods[JTokenType]["SelectToken"] = tokenValue
	props[JTokenType] = map[string]prop{
		"Type": str(func(_ *frame, r any) string {
			t := r.(JToken).r
			switch {
			case t.Type == gjson.Number && strings.ContainsAny(t.Raw, ".eE"):
				return "Float"
			case t.Type == gjson.Number:
				return "Integer"
			case t.IsBool():
				return "Boolean"
			}
			return tokenKind(t)
		}),
		"HasValues": {typ: Bool, get: func(_ *frame, r any) (any, error) {
			t := r.(JToken).r
			return (t.IsObject() || t.IsArray()) && len(strings.TrimSpace(t.Raw)) > 2, nil
		}},
		"Count": {typ: Int, get: func(_ *frame, r any) (any, error) {
			t := r.(JToken).r
			if !t.IsArray() && !t.IsObject() {
				return nil, rtErr("Cannot access child value on %s.", tokenKind(t))
			}
			n := 0
			t.ForEach(func(_, _ gjson.Result) bool { n++; return true })
			return int64(n), nil
		}},
	}
}
