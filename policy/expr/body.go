package expr

// Message bodies: IResponse.Body (a send-request answer held in a
// variable) and context.Request.Body / context.Response.Body, the request
// and the upstream's response as policies left them so far.

import (
	"net/url"

	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/internal/jsonlimit"
)

// Which message a context body is: the runtime value of
// context.Request.Body and context.Response.Body.
type messageBody uint8

const (
	requestBody messageBody = iota
	responseBody
)

// Bits of Program.bodies: the messages whose body a program reads.
const (
	readsRequestBody uint8 = 1 << iota
	readsResponseBody
)

// ReadsBody reports whether the program reads context.Request.Body
// (request) or context.Response.Body (response): a host must have that
// body complete before evaluating it (Env.MessageBody).
func (p *Program) ReadsBody() (request, response bool) {
	return p.bodies&readsRequestBody != 0, p.bodies&readsResponseBody != 0
}

// contextBody compiles context.Request.Body (response false) or
// context.Response.Body: null when the message has no body or an earlier
// read consumed it.
func (c *compiler) contextBody(n *memberNode, response bool) (value, error) {
	which, bit := requestBody, readsRequestBody
	if response {
		which, bit = responseBody, readsResponseBody
	}
	c.bodies |= bit
	return value{typ: bodyType, eval: func(f *frame) (any, error) {
		if _, ok := f.env.MessageBody(response); !ok {
			return nil, nil
		}
		return which, nil
	}}, nil
}

// bodyAs is Body.As<T>([preserveContent]) with T string, JObject, JArray
// or JToken. On a context body without preserveContent: true the body is
// consumed, as in APIM: later reads get null, and the message goes on
// without a body unless a set-body gives it one.
func bodyAs(c *compiler, n *callNode, recv value, args []node) (value, error) {
	form := n.fn.(*memberNode).name == "AsFormUrlEncodedContent"
	var ret Type
	switch {
	case form && len(n.typeArgs) > 0:
		return value{}, errAt(n, "AsFormUrlEncodedContent does not take type arguments")
	case form:
		ret = formType
	case len(n.typeArgs) != 1:
		return value{}, errAt(n, "As needs a type argument: As<string>() or As<JObject>()")
	case n.typeArgs[0] == "string" || n.typeArgs[0] == "String":
		ret = String
	case n.typeArgs[0] == "JObject" || n.typeArgs[0] == "JToken" || n.typeArgs[0] == "JArray":
		ret = JTokenType
	default:
		return value{}, errAt(n, "unsupported body type %s: use string, JObject, JArray or JToken", n.typeArgs[0])
	}
	if len(args) == 1 {
		if na, ok := args[0].(*namedArg); ok {
			if na.name != "preserveContent" {
				return value{}, errAt(na, "As has no parameter %s: its only parameter is preserveContent", na.name)
			}
			args = []node{na.x}
		}
	}
	want := ""
	if !form {
		want = n.typeArgs[0]
	}
	return simple(ret, 0, []Type{Bool}, func(f *frame, r any, a []any) (any, error) {
		var body []byte
		switch r := r.(type) {
		case *Response:
			body = r.Body
		case messageBody:
			var ok bool
			if body, ok = f.env.MessageBody(r == responseBody); !ok {
				return nil, nil
			}
			if preserve := len(a) == 1 && a[0] == true; !preserve {
				f.env.ConsumeBody(r == responseBody)
			}
		}
		switch ret {
		case String:
			return string(body), nil
		case formType:
			return parseForm(body)
		}
		return parseBody(body, want)
	})(c, n, recv, args)
}

// parseBody reads a body as JSON of the wanted token type.
func parseBody(body []byte, want string) (any, error) {
	if err := jsonlimit.Check(body, 0); err != nil {
		return nil, rtErr("The body is refused: %v.", err)
	}
	if !gjson.ValidBytes(body) {
		return nil, rtErr("Unexpected character encountered while parsing value: the body is not JSON.")
	}
	res := gjson.ParseBytes(body)
	if (want == "JObject" && !res.IsObject()) || (want == "JArray" && !res.IsArray()) {
		return nil, rtErr("Error reading %s from JsonReader.", want)
	}
	return JToken{r: res}, nil
}

// parseForm reads an application/x-www-form-urlencoded body: every name's
// values, in order. A malformed escape fails the read, as .NET's reader
// does.
func parseForm(body []byte) (any, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, rtErr("The body is not form-urlencoded: %v.", err)
	}
	return v, nil
}
