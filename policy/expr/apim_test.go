package expr

import (
	"errors"
	"reflect"
	"testing"
)

// The typical expressions of docs/apim-policies.md §10.4 that use supported
// members, as written there (named values already substituted).
func TestAPIMTypicalExpressions(t *testing.T) {
	tests := []struct {
		name string
		src  string
		env  func(*env)
		want any
	}{
		{"1 bearer token from Authorization", `@(context.Request.Headers.GetValueOrDefault("Authorization","scheme param").Split(' ').Last())`, nil, "abc.def.ghi"},
		{"1 without the header", `@(context.Request.Headers.GetValueOrDefault("Authorization","scheme param").Split(' ').Last())`,
			func(e *env) { delete(e.headers, "authorization") }, "param"},
		{"2 introspection says inactive", `@((bool)((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["active"] == false)`, nil, true},
		{"3 claim-based authorization", `@(context.Request.Method == "POST" && !((Jwt)context.Variables["jwt"]).Claims["group"].Contains("finance"))`, nil, false},
		{"3 without the group", `@(context.Request.Method == "POST" && !((Jwt)context.Variables["jwt"]).Claims["group"].Contains("finance"))`,
			func(e *env) { e.vars["jwt"] = ParseJwt(unsignedJWT(`{"group":["ops"]}`)) }, true},
		{"4 array claim membership", `@{ var jwt = (Jwt)context.Variables["valid-jwt"]; return Array.Exists(jwt.Claims["permissions"], e => e == "sendEmail"); }`, nil, true},
		{"5 audience from the host", `@(context.Request.OriginalUrl.Host)`, nil, "api.contoso.com"},
		{"6 on-error source", `@(context.LastError.Source == "validate-jwt")`, nil, true},
		{"6 status code", `@(context.Response.StatusCode)`, nil, int64(401)},
		{"7 no Authorization header", `@(!context.Request.Headers.ContainsKey("Authorization"))`, nil, false},
		{"7 realm challenge", `@("Bearer realm="+context.Request.OriginalUrl.Host)`, nil, "Bearer realm=api.contoso.com"},
		{"8 authorizer verdict", `@(((IResponse)context.Variables["response"]).Body.As<JObject>()["status"].ToString())`, nil, "403"},
		{"8 verdict check", `@((string)context.Variables["status"] == "403")`, func(e *env) { e.vars["status"] = "403" }, true},
		{"9 basic auth against a named value", `@(context.Request.Headers.GetValueOrDefault("Authorization").AsBasic()==null || context.Request.Headers.GetValueOrDefault("Authorization").AsBasic().UserId!="alice")`, nil, true},
		{"9 right user", `@(context.Request.Headers.GetValueOrDefault("Authorization").AsBasic()==null || context.Request.Headers.GetValueOrDefault("Authorization").AsBasic().UserId!="alice")`,
			func(e *env) { e.headers["authorization"] = e.headers["x-basic"] }, false},
		{"9 no header at all", `@(context.Request.Headers.GetValueOrDefault("Authorization").AsBasic()==null || context.Request.Headers.GetValueOrDefault("Authorization").AsBasic().UserId!="alice")`,
			func(e *env) { delete(e.headers, "authorization") }, true},
		{"10 method gating", `@(new [] {"POST","PUT"}.Contains(context.Request.Method, StringComparer.OrdinalIgnoreCase))`, nil, true},
		{"11 bearer from a variable", `@("Bearer " + (string)context.Variables["msi-access-token"])`, nil, "Bearer " + unsignedJWT(`{"tid":"tenant-msi"}`)},
		{"11 tenant from the token", `@{ Jwt jwt; ExpressionSyntaxExtensions.TryParseJwt((string)context.Variables["msi-access-token"], out jwt); return jwt.Claims.GetValueOrDefault("tid",""); }`, nil, "tenant-msi"},
		{"11 discovery URL", `@("https://login.microsoftonline.com/" + context.Variables["tenantId"] + "/.well-known/openid-configuration")`, nil, "https://login.microsoftonline.com/t-9/.well-known/openid-configuration"},
		{"12 typed variable", `@(context.Variables.GetValueOrDefault<bool>("isMobile"))`, nil, true},
		{"12 forwarded-for", `@(context.Request.Headers.GetValueOrDefault("X-Forwarded-For"))`, func(e *env) { e.headers["x-forwarded-for"] = "198.51.100.1, 10.0.0.1" }, "198.51.100.1, 10.0.0.1"},
		{"TryParseJwt with an inline declaration", `@{ if (context.Request.Headers.GetValueOrDefault("x-token", "").TryParseJwt(out Jwt j)) { return j.Subject; } return "none"; }`, nil, "bob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			if tc.env != nil {
				tc.env(e)
			}
			got, err := eval(t, tc.src, e)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// Runtime failures are *RuntimeError with .NET-like messages; the engine
// turns them into ExpressionValueEvaluationFailure.
func TestEval_runtimeErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`@(context.Variables["nope"])`, "The given key 'nope' was not present in the dictionary."},
		{`@(((Jwt)context.Variables["jwt"]).Claims["nope"].First())`, "The given key 'nope' was not present in the dictionary."},
		{`@((Jwt)context.Variables["name"])`, "Specified cast is not valid: a string is not a Jwt."},
		{`@((bool)context.Variables["name"])`, "Specified cast is not valid: a string is not a bool."},
		{`@(context.Variables.GetValueOrDefault<bool>("name"))`, "Specified cast is not valid: a string is not a bool."},
		{`@(((IResponse)context.Variables["nullresp"]).StatusCode)`, "Object reference not set to an instance of an object."},
		{`@(context.Request.Headers.GetValueOrDefault("x-none").ToLower())`, "Object reference not set to an instance of an object."},
		{`@(new string[] {}.First())`, "Sequence contains no elements"},
		{`@("abc".Substring(2, 5))`, "Index and length must refer to a location within the string."},
		{`@(1 / (context.Variables.GetValueOrDefault<int>("zero")))`, "Attempted to divide by zero."},
		{`@(((IResponse)context.Variables["response"]).Body.As<JObject>()["status"]["x"])`, "Cannot access child value on String."},
		{`@(((IResponse)context.Variables["text"]).Body.As<JObject>())`, "Unexpected character encountered while parsing value: the body is not JSON."},
		{`@(new [] {"a"}[3])`, "Index was outside the bounds of the array."},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			e := newEnv()
			e.vars["nullresp"] = nil
			e.vars["zero"] = int64(0)
			e.vars["text"] = &Response{Body: []byte("not json")}
			_, err := eval(t, tc.src, e)
			var re *RuntimeError
			if !errors.As(err, &re) || re.Msg != tc.want {
				t.Fatalf("err = %v, want RuntimeError %q", err, tc.want)
			}
		})
	}
}

// Anything outside the subset is refused at load time, naming the construct.
func TestCompile_errors(t *testing.T) {
	tests := []struct {
		src     string
		wantOff int
		want    string
	}{
		{`@(context.Request.Body.As<XElement>())`, 23, `unsupported body type XElement: use string, JObject, JArray or JToken`},
		{`@(context.Request.Body.As<string>(keep: true))`, 34, `As has no parameter keep: its only parameter is preserveContent`},
		{`@(context.Request.Headers.GetValueOrDefault(name: "a"))`, 44, `named argument name: is not supported here`},
		{`@(context.Request.Certificate.PublicKey)`, 30, `unsupported member "PublicKey" of context.Request.Certificate`},
		{`@(context.Request.Certificate.NotAfter + 1)`, 39, `unsupported operator + between DateTime and int`},
		{`@(context.Request.Certificate.NotAfter.ToString("yyyy-H"))`, 48, `unsupported DateTime format "yyyy-H"`},
		{`@(context.Request.Certificate.NotAfter == null)`, 39, `cannot compare DateTime with null`},
		{`@(context.User.Phone)`, 15, `unsupported member "Phone" of context.User`},
		{`@(DateTime.Today)`, 11, `unsupported member DateTime.Today`},
		{`@(context.Variables["x"].Length)`, 25, `cannot read "Length" of an object: cast it first, for example (string) or (Jwt)`},
		{`@(context.Variables["x"].ToString())`, 25, `cannot call ToString on an object: cast it first, for example (string) or (Jwt)`},
		{`@("a".Foo())`, 6, `unsupported method Foo of string`},
		{`@(1 + "a" == 2)`, 10, `cannot compare string with int`},
		{`@(!"a")`, 3, `want a bool, got string`},
		{`@("a" - 1)`, 2, `want an int, got string`},
		{`@(1.5m)`, 2, `decimal numbers (the m suffix) are not supported: use a double`},
		{`@(Regex.IsMatch("a", "b"))`, 2, `unknown name "Regex"`},
		{`@(context.Request.Method == "GET"`, 0, `an expression must be @(...) or @{...}`}, // the document reader catches this first
		{`@{ var x = 1; }`, 14, `not all code paths return a value`},
		{`@{ x = 1; return x; }`, 3, `unknown variable x`},
		{`@{ do { } while (true); return 1; }`, 3, `unsupported statement do: use declarations, assignments, if/else, loops, try/catch and return`},
		{`@{ 1 + 1; return 1; }`, 3, `only method calls can be used as statements`},
		{`@(context.Variables.GetValueOrDefault<TimeZoneInfo>("x"))`, 20, `unsupported type argument TimeZoneInfo`},
		{`@("a".Contains())`, 6, `Contains takes 1 to 2 arguments, got 0`},
		{`@(context.Request.Headers.GetValueOrDefault<string>("a"))`, 26, `GetValueOrDefault does not take type arguments`},
		{`@((TimeZoneInfo)context.Variables["x"])`, 2, `unsupported cast to TimeZoneInfo`},
		{`@(x => x)`, 2, `a lambda is only allowed as the argument of a LINQ method or of Array.Exists`},
		{`@($"{1:N2}")`, 6, `format specifiers in interpolation holes are not supported`},
		{`@(context.Request)`, 10, `an expression cannot produce a IRequest`},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			_, err := Compile(tc.src)
			var ce *CompileError
			var se *SyntaxError
			off, msg := -1, ""
			switch {
			case errors.As(err, &ce):
				off, msg = ce.Off, ce.Msg
			case errors.As(err, &se):
				off, msg = se.Off, se.Msg
			default:
				t.Fatalf("err = %v, want a compile or syntax error", err)
			}
			if msg != tc.want || off != tc.wantOff {
				t.Errorf("got %q at %d\nwant %q at %d", msg, off, tc.want, tc.wantOff)
			}
		})
	}
}
