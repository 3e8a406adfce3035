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
	case float64:
		return jsonDouble(t), nil
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
	case []JToken:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			j, _ := jsonOf(e)
			b.WriteString(j)
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

// indented is JSON.NET's Formatting.Indented: two spaces, a line per member
// and element. Indentation multiplies a deep document's size, so the
// result is bounded by the string budget before it is made.
func indented(raw string) (string, error) {
	if indentedBound(raw) > MaxString {
		return "", budgetErr("The expression built a string longer than %d bytes.", MaxString)
	}
	return strings.TrimSuffix(string(pretty.PrettyOptions([]byte(raw), &pretty.Options{Indent: "  "})), "\n"), nil
}

// indentedBound is at least the size of raw indented by two spaces: every
// line a member, an element or a closing bracket starts is counted with a
// newline and its indentation, every ':' with the space after it.
func indentedBound(raw string) int {
	n, depth := len(raw), 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			n += 1 + 2*depth
		case ',':
			n += 1 + 2*depth
		case '}', ']':
			depth--
			n += 1 + 2*max(depth, 0)
		case ':':
			n++
		}
	}
	return n
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
		var props []jprop
		for _, p := range a {
			switch t := p.(type) {
			case jprop:
				props = append(props, t)
			case []jprop: // IEnumerable<JProperty>: each one
				props = append(props, t...)
			default:
				return nil, rtErr("Can not add %s to JObject.", kindOf(p))
			}
		}
		for i, jp := range props {
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
			if toks, ok := e.([]JToken); ok { // IEnumerable<JToken>: each one
				for _, t := range toks {
					j, _ := jsonOf(t)
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
			return indented(j)
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
			return indented(t.r.Raw)
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
