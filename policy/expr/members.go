package expr

import (
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
)

// prop is a property of a receiver type.
type prop struct {
	typ Type
	get func(f *frame, recv any) (any, error)
}

// headerSrc is the runtime value of a Headers dictionary.
type headerSrc struct {
	which uint8 // 1 request, 2 context.Response
	resp  *Response
}

var (
	requestHeaders  = &headerSrc{which: 1}
	responseHeaders = &headerSrc{which: 2}
)

func (h *headerSrc) get(f *frame, name string) (string, bool) {
	name = strings.ToLower(name)
	switch h.which {
	case 1:
		return f.env.RequestHeader(name)
	case 2:
		return f.env.ResponseHeader(name)
	}
	return h.resp.header(name)
}

// Not inlined: inlined, each call site would get its own copy of the
// closure it returns, which multiplied the module's code (BENCHMARKS.md).
//
//go:noinline
func str(get func(f *frame, recv any) string) prop {
	return prop{typ: String, get: func(f *frame, r any) (any, error) { return get(f, r), nil }}
}

// props lists the supported properties of each receiver type.
var props = map[Type]map[string]prop{
	contextType: {
		"Request":   {typ: requestType, get: func(*frame, any) (any, error) { return nil, nil }},
		"Response":  {typ: ctxResponseType, get: func(*frame, any) (any, error) { return nil, nil }},
		"Variables": {typ: variablesType, get: func(*frame, any) (any, error) { return nil, nil }},
		"LastError": {typ: lastErrorType, get: func(f *frame, _ any) (any, error) {
			if le := f.env.LastError(); le != nil {
				return le, nil
			}
			return nil, nil
		}},
		"RequestId": str(func(f *frame, _ any) string { return f.env.RequestID() }),
	},
	requestType: {
		"Headers":           {typ: headersType, get: func(*frame, any) (any, error) { return requestHeaders, nil }},
		"IpAddress":         str(func(f *frame, _ any) string { return f.env.ClientIP() }),
		"Method":            str(func(f *frame, _ any) string { return f.env.Method() }),
		"Url":               {typ: urlType, get: func(f *frame, _ any) (any, error) { return f.env.URL(), nil }},
		"OriginalUrl":       {typ: urlType, get: func(f *frame, _ any) (any, error) { return f.env.OriginalURL(), nil }},
		"MatchedParameters": {typ: paramsType, get: func(*frame, any) (any, error) { return nil, nil }},
	},
	ctxResponseType: {
		"StatusCode":   {typ: Int, get: func(f *frame, _ any) (any, error) { c, _ := f.env.ResponseStatus(); return int64(c), nil }},
		"StatusReason": str(func(f *frame, _ any) string { _, r := f.env.ResponseStatus(); return r }),
		"Headers":      {typ: headersType, get: func(*frame, any) (any, error) { return responseHeaders, nil }},
	},
	urlType: {
		"Scheme":      str(func(_ *frame, r any) string { return r.(*URL).Scheme }),
		"Host":        str(func(_ *frame, r any) string { return r.(*URL).Host }),
		"Port":        {typ: Int, get: func(_ *frame, r any) (any, error) { return r.(*URL).Port, nil }},
		"Path":        str(func(_ *frame, r any) string { return r.(*URL).Path }),
		"QueryString": str(func(_ *frame, r any) string { return r.(*URL).QueryString }),
		"Query":       {typ: queryType, get: func(_ *frame, r any) (any, error) { return r, nil }},
	},
	lastErrorType: {
		"Source":   str(func(_ *frame, r any) string { return r.(*LastError).Source }),
		"Reason":   str(func(_ *frame, r any) string { return r.(*LastError).Reason }),
		"Message":  str(func(_ *frame, r any) string { return r.(*LastError).Message }),
		"Scope":    str(func(_ *frame, r any) string { return r.(*LastError).Scope }),
		"Section":  str(func(_ *frame, r any) string { return r.(*LastError).Section }),
		"Path":     str(func(_ *frame, r any) string { return r.(*LastError).Path }),
		"PolicyId": str(func(_ *frame, r any) string { return r.(*LastError).PolicyID }),
	},
	JwtType: {
		"Algorithm": str(func(_ *frame, r any) string { return r.(*Jwt).Algorithm }),
		"Type":      str(func(_ *frame, r any) string { return r.(*Jwt).Type }),
		"Id":        str(func(_ *frame, r any) string { return r.(*Jwt).ID }),
		"Issuer":    str(func(_ *frame, r any) string { return r.(*Jwt).Issuer }),
		"Subject":   str(func(_ *frame, r any) string { return r.(*Jwt).Subject }),
		"Audiences": {typ: StringArray, get: func(_ *frame, r any) (any, error) { return append([]string(nil), r.(*Jwt).Audiences...), nil }},
		"Claims":    {typ: claimsType, get: func(_ *frame, r any) (any, error) { return r, nil }},
	},
	BasicType: {
		"UserId":   str(func(_ *frame, r any) string { return r.(*Basic).UserID }),
		"Password": str(func(_ *frame, r any) string { return r.(*Basic).Password }),
	},
	ResponseType: {
		"StatusCode":   {typ: Int, get: func(_ *frame, r any) (any, error) { return int64(r.(*Response).StatusCode), nil }},
		"StatusReason": str(func(_ *frame, r any) string { return r.(*Response).StatusReason }),
		"Headers":      {typ: headersType, get: func(_ *frame, r any) (any, error) { return &headerSrc{resp: r.(*Response)}, nil }},
		"Body":         {typ: bodyType, get: func(_ *frame, r any) (any, error) { return r, nil }},
	},
	String: {
		"Length": {typ: Int, get: func(_ *frame, r any) (any, error) { return int64(len([]rune(r.(string)))), nil }},
	},
	StringArray: {
		"Length": {typ: Int, get: func(_ *frame, r any) (any, error) { return int64(len(r.([]string))), nil }},
	},
}

// valueReceivers are the receiver types whose runtime value can be null.
func nullable(t Type) bool {
	switch t {
	case contextType, requestType, ctxResponseType, variablesType, paramsType, staticType, headersType, queryType, DateTimeType, x500NameType, deploymentType, gatewayType:
		return false
	}
	return true
}

func (c *compiler) member(n *memberNode) (value, error) {
	x, err := c.expr(n.x)
	if err != nil {
		return value{}, err
	}
	if x.typ == staticType {
		return c.staticMember(n, x.static)
	}
	if x.typ == Object {
		return value{}, errAt(n, "cannot read %q of an object: cast it first, for example (string) or (Jwt)", n.name)
	}
	if err := c.meshCheck(n, x.typ, n.name); err != nil {
		return value{}, err
	}
	if n.name == "Body" && (x.typ == requestType || x.typ == ctxResponseType) {
		return c.contextBody(n, x.typ == ctxResponseType)
	}
	p, ok := props[x.typ][n.name]
	if !ok {
		if n.x != nil {
			if _, isMethod := methods[x.typ][n.name]; isMethod {
				return value{}, errAt(n, "%s is a method of %s: call it with ()", n.name, x.typ)
			}
		}
		return value{}, errAt(n, "unsupported member %q of %s", n.name, describe(n.x, x.typ))
	}
	return onReceiver(x, nullable(x.typ), n.nullCond, p.typ, p.get), nil
}

// onReceiver is a member or method of recv, whose result has type t and is
// computed by use. A null receiver is an error when check is set, unless the
// access is null-conditional (?.), which yields null instead; an int or bool
// result then becomes an Object, since it may be null.
//
// Not inlined: inlined, each call site would get its own copy of the
// closure it returns, which multiplied the module's code (BENCHMARKS.md).
//
//go:noinline
func onReceiver(recv value, check, nullCond bool, t Type, use func(f *frame, r any) (any, error)) value {
	if nullCond && (t == Int || t == Bool) {
		t = Object
	}
	return value{typ: t, eval: func(f *frame) (any, error) {
		r, err := recv.eval(f)
		if err != nil {
			return nil, err
		}
		if check && r == nil {
			if nullCond {
				return nil, nil
			}
			return nil, errNull
		}
		return use(f, r)
	}}
}

// describe names a receiver in an error: its source path when it is a
// chain of names, its type otherwise.
func describe(n node, t Type) string {
	var parts []string
	for {
		switch m := n.(type) {
		case *memberNode:
			parts = append([]string{m.name}, parts...)
			n = m.x
			continue
		case *identNode:
			parts = append([]string{m.name}, parts...)
			return strings.Join(parts, ".")
		}
		return t.String()
	}
}

func (c *compiler) staticMember(n *memberNode, class string) (value, error) {
	ignore, ok := map[string]bool{
		"Ordinal": false, "OrdinalIgnoreCase": true, "InvariantCulture": false, "InvariantCultureIgnoreCase": true,
		"CurrentCulture": false, "CurrentCultureIgnoreCase": true,
	}[n.name]
	switch {
	case class == "StringComparison" && ok:
		return constant(comparisonType, ignore), nil
	case class == "StringComparer" && ok:
		return constant(comparerType, ignore), nil
	case (class == "string" || class == "String") && n.name == "Empty":
		return constant(String, ""), nil
	case class == "DateTime" || class == "DateTimeOffset":
		return dateTimeStatic(n)
	case class == "JTokenType":
		return constant(String, n.name), nil
	case class == "Formatting" && (n.name == "None" || n.name == "Indented"):
		return constant(formattingType, n.name == "Indented"), nil
	case class == "CultureInfo" && n.name == "InvariantCulture":
		return constant(cultureType, nil), nil
	case namespaces[class] && (namespaces[class+"."+n.name] || staticClasses[n.name]):
		// A namespace-qualified name: System.Text.Encoding is Encoding.
		next := class + "." + n.name
		if !namespaces[next] {
			next = n.name
		}
		return value{typ: staticType, static: next, eval: noValue}, nil
	case class == "Encoding" && (n.name == "UTF8" || n.name == "ASCII"):
		return value{typ: staticType, static: class + "." + n.name, eval: noValue}, nil
	case class == "Guid" && n.name == "Empty":
		return constant(guidType, Guid{}), nil
	}
	return value{}, errAt(n, "unsupported member %s.%s", class, n.name)
}

func (c *compiler) index(n *indexNode) (value, error) {
	x, err := c.expr(n.x)
	if err != nil {
		return value{}, err
	}
	i, err := c.expr(n.index)
	if err != nil {
		return value{}, err
	}
	keyOf := func() (func(*frame) (string, error), error) {
		if i.typ != String {
			return nil, errAt(n.index, "the key must be a string, got %s", i.typ)
		}
		return func(f *frame) (string, error) {
			v, err := i.eval(f)
			if v == nil && err == nil {
				return "", rtErr("Value cannot be null. (Parameter 'key')")
			}
			s, _ := v.(string)
			return s, err
		}, nil
	}
	switch x.typ {
	case variablesType, paramsType, claimsType, headersType, formType:
		key, err := keyOf()
		if err != nil {
			return value{}, err
		}
		t := map[Type]Type{variablesType: Object, paramsType: String, claimsType: StringArray, headersType: StringArray, formType: StringArray}[x.typ]
		recvType := x.typ
		return value{typ: t, eval: func(f *frame) (any, error) {
			r, err := x.eval(f)
			if err != nil {
				return nil, err
			}
			if recvType == claimsType && r == nil {
				return nil, errNull
			}
			k, err := key(f)
			if err != nil {
				return nil, err
			}
			v, ok := lookup(f, recvType, r, k)
			if !ok {
				return nil, rtErr("The given key '%s' was not present in the dictionary.", k)
			}
			return v, nil
		}}, nil
	case JTokenType:
		if i.typ != String && i.typ != Int {
			return value{}, errAt(n.index, "a JSON index must be a string or an int, got %s", i.typ)
		}
		return value{typ: JTokenType, eval: func(f *frame) (any, error) {
			r, err := x.eval(f)
			if err != nil {
				return nil, err
			}
			tok, ok := r.(JToken)
			if !ok {
				return nil, errNull
			}
			k, err := i.eval(f)
			if err != nil {
				return nil, err
			}
			var res gjson.Result
			switch kv := k.(type) {
			case string:
				if !tok.r.IsObject() {
					return nil, rtErr("Cannot access child value on %s.", tok.r.Type)
				}
				res = tok.r.Get(gjson.Escape(kv))
			case int64:
				arr := tok.r.Array()
				if !tok.r.IsArray() || kv < 0 || kv >= int64(len(arr)) {
					return nil, rtErr("Index was out of range.")
				}
				res = arr[kv]
			}
			if !res.Exists() {
				return nil, nil
			}
			return JToken{r: res}, nil
		}}, nil
	case StringArray:
		ix, err := c.asInt(n.index, i)
		if err != nil {
			return value{}, err
		}
		return value{typ: String, eval: func(f *frame) (any, error) {
			r, err := x.eval(f)
			if err != nil {
				return nil, err
			}
			arr, ok := r.([]string)
			if !ok {
				return nil, errNull
			}
			k, err := ix(f)
			if err != nil {
				return nil, err
			}
			if k < 0 || k >= int64(len(arr)) {
				return nil, rtErr("Index was outside the bounds of the array.")
			}
			return arr[k], nil
		}}, nil
	}
	return value{}, errAt(n, "%s cannot be indexed", describe(n.x, x.typ))
}

// lookup reads key from a dictionary-like receiver.
func lookup(f *frame, t Type, recv any, key string) (any, bool) {
	switch t {
	case variablesType:
		return f.env.Variable(key)
	case paramsType:
		return f.env.MatchedParameter(key)
	case claimsType:
		return recv.(*Jwt).Claim(key)
	case headersType:
		v, ok := recv.(*headerSrc).get(f, key)
		if !ok {
			return nil, false
		}
		return strings.Split(v, ","), true
	case queryType:
		return recv.(*URL).Query(key)
	case formType:
		v, ok := recv.(url.Values)[key]
		return v, ok
	}
	return nil, false
}

func decodeBasic(s string) *Basic {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return nil
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil
	}
	return &Basic{UserID: user, Password: pass}
}
