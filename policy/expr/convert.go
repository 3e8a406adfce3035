package expr

// Casts and conversions between static types.

import (
	"math"
	"time"
)

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
	case float64:
		return "a double"
	case []JToken:
		return "an IEnumerable<JToken>"
	case []jprop:
		return "an IEnumerable<JProperty>"
	case *Jwt:
		return "a Jwt"
	case *Response:
		return "an IResponse"
	case JToken:
		return "a JToken"
	case *Basic:
		return "a BasicAuthCredentials"
	case []byte:
		return "a byte[]"
	case Guid:
		return "a Guid"
	case nil:
		return "null"
	}
	return "an object"
}

// castTypes maps C# type names to static types.
var castTypes = map[string]Type{
	"string": String, "String": String, "bool": Bool, "Boolean": Bool, "int": Int, "long": Int, "Int32": Int, "Int64": Int,
	"object": Object, "Jwt": JwtType, "IResponse": ResponseType, "JObject": JTokenType, "JToken": JTokenType, "JArray": JTokenType,
	"string[]": StringArray, "BasicAuthCredentials": BasicType, "byte[]": bytesType, "Guid": guidType,
	"DateTime": DateTimeType, "DateTimeOffset": DateTimeType, "TimeSpan": timeSpanType, "HMACSHA256": hashType, "HMACSHA1": hashType,
	"HMACSHA512": hashType, "SHA256": hashType, "SHA1": hashType, "SHA512": hashType, "MD5": hashType, "HashAlgorithm": hashType, "JProperty": jpropType, "Random": randomType, "double": Double, "Double": Double,
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
	if n.as {
		return c.softCast(n, x, to)
	}
	return c.convert(n, x, to)
}

// softCast is x as T: x when it is a T (a JObject or JArray for those
// names), null otherwise. T must be a type that can be null, as in C#.
func (c *compiler) softCast(n *castNode, x value, to Type) (value, error) {
	if to == Int || to == Bool || to == DateTimeType || to == guidType || to == timeSpanType {
		return value{}, errAt(n, "as needs a type that can be null, not %s", n.typ)
	}
	if x.typ != Object && x.typ != JTokenType && x.typ != to && x.typ != Null {
		return value{}, errAt(n, "%s can never be %s", x.typ, n.typ)
	}
	conv, kind := converter(to), n.typ
	return value{typ: to, eval: func(f *frame) (any, error) {
		v, err := x.eval(f)
		if err != nil || v == nil {
			return nil, err
		}
		if t, ok := v.(JToken); ok && to == JTokenType {
			if (kind == "JObject" && !t.r.IsObject()) || (kind == "JArray" && !t.r.IsArray()) {
				return nil, nil
			}
			return t, nil
		}
		if conv == nil {
			return v, nil
		}
		if _, isToken := v.(JToken); isToken && to == String {
			return nil, nil // a JToken is not a string
		}
		r, err := conv(v)
		if err != nil {
			return nil, nil
		}
		return r, nil
	}}, nil
}

// convert applies an explicit conversion, checked at run time when the
// operand's type is only known then.
func (c *compiler) convert(n node, x value, to Type) (value, error) {
	if x.typ == to || to == Object {
		return value{typ: to, eval: x.eval}, nil
	}
	numbers := (x.typ == Double && to == Int) || (x.typ == Int && to == Double)
	if x.typ != Object && x.typ != Null && x.typ != JTokenType && !numbers {
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
		return func(v any) (any, error) {
			d, isDouble := v.(float64)
			if t, ok := v.(JToken); ok && t.r.Type.String() == "Number" && t.r.Num != math.Trunc(t.r.Num) {
				// Newtonsoft.Json's (int)token is Convert.ToInt32 of the
				// number: rounded to even.
				d, isDouble = math.RoundToEven(t.r.Num), true
			}
			if isDouble { // (int)1.9 is 1, as C#'s cast truncates
				if math.IsNaN(d) || d >= 1<<63 || d < -(1<<63) {
					return nil, rtErr("Value was either too large or too small for an Int64.")
				}
				return int64(d), nil
			}
			return toInt(v)
		}
	case Double:
		return func(v any) (any, error) { return toDouble(v) }
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
	case bytesType:
		return typed[[]byte]("a byte[]")
	case guidType:
		return typed[Guid]("a Guid")
	case DateTimeType:
		return typed[time.Time]("a DateTime")
	case timeSpanType:
		return typed[time.Duration]("a TimeSpan")
	case hashType:
		return typed[*hasher]("a hash algorithm")
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
