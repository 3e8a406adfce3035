package expr

// Reading JSON tokens as JSON.NET's JToken does: Value<T>, SelectToken,
// Type, HasValues, Count.

import (
	"strings"

	"github.com/tidwall/gjson"
)

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
