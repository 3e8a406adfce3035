package expr

import (
	"encoding/base64"
	"reflect"
	"testing"
	"time"

	"github.com/apimguard/apimguard/policy/clientcert"
)

// env is a fixed request for expression tests.
type env struct {
	headers, respHeaders, params map[string]string
	vars                         map[string]any
	lastErr                      *LastError
	status                       int
	cert                         *clientcert.Certificate
	verified                     map[bool]bool // revocation -> result
	sub                          *Subscription
	route                        *Route
	// bodies are the request's and the response's; consumed counts
	// ConsumeBody calls per message.
	bodies   [2]*string
	consumed [2]int
}

func (e *env) RequestHeader(n string) (string, bool)  { v, ok := e.headers[n]; return v, ok }
func (e *env) ResponseHeader(n string) (string, bool) { v, ok := e.respHeaders[n]; return v, ok }
func (e *env) Method() string                         { return "POST" }
func (e *env) URL() *URL {
	return &URL{Scheme: "https", Host: "api.contoso.com", Port: 443, Path: "/orders/42", QueryString: "?tier=gold&x=1&x=2&q=a%20b"}
}
func (e *env) OriginalURL() *URL                        { return e.URL() }
func (e *env) ClientIP() string                         { return "203.0.113.7" }
func (e *env) MatchedParameter(n string) (string, bool) { v, ok := e.params[n]; return v, ok }
func (e *env) Variable(n string) (any, bool)            { v, ok := e.vars[n]; return v, ok }
func (e *env) ResponseStatus() (int, string)            { return e.status, "Unauthorized" }
func (e *env) LastError() *LastError                    { return e.lastErr }
func (e *env) RequestID() string                        { return "req-1" }
func (e *env) Now() time.Time                           { return time.Date(2026, 12, 2, 19, 15, 40, 0, time.UTC) }
func (e *env) ClientCertificate() *clientcert.Certificate {
	return e.cert
}
func (e *env) VerifyClientCertificate(revocation bool) bool { return e.verified[revocation] }
func (e *env) Subscription() *Subscription                  { return e.sub }
func (e *env) Route() *Route                                { return e.route }
func (e *env) MessageBody(response bool) ([]byte, bool) {
	b := e.bodies[bodyIdx(response)]
	if b == nil || *b == "" {
		return nil, false
	}
	return []byte(*b), true
}
func (e *env) ConsumeBody(response bool) {
	e.consumed[bodyIdx(response)]++
	e.bodies[bodyIdx(response)] = nil
}

func bodyIdx(response bool) int {
	if response {
		return 1
	}
	return 0
}

// unsignedJWT builds an unsigned compact JWT with the given JSON payload.
func unsignedJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func newEnv() *env {
	jwt := ParseJwt(unsignedJWT(`{"sub":"alice","iss":"https://idp.example/","aud":["api://orders","api://x"],"group":["finance","ops"],"permissions":["readEmail","sendEmail"],"tid":"t-1"}`))
	return &env{
		headers: map[string]string{
			"authorization": "Bearer abc.def.ghi",
			"x-tier":        "Gold",
			"x-basic":       "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")),
			"x-token":       unsignedJWT(`{"sub":"bob","tid":"tenant-7"}`),
		},
		respHeaders: map[string]string{"content-type": "application/json"},
		params:      map[string]string{"id": "42"},
		vars: map[string]any{
			"name":             "alice",
			"flag":             true,
			"count":            int64(3),
			"jwt":              jwt,
			"valid-jwt":        jwt,
			"tokenstate":       &Response{StatusCode: 200, Headers: [][2]string{{"content-type", "application/json"}}, Body: []byte(`{"active":false,"scope":"a b","n":5,"sub":{"x":["p","q"]}}`)},
			"response":         &Response{StatusCode: 200, Body: []byte(`{"status":"403"}`)},
			"tenantId":         "t-9",
			"isMobile":         true,
			"msi-access-token": unsignedJWT(`{"tid":"tenant-msi"}`),
		},
		lastErr: &LastError{Source: "validate-jwt", Reason: "TokenExpired", Message: "expired", Section: "inbound"},
		status:  401,
	}
}

func eval(t *testing.T, src string, e Env) (any, error) {
	t.Helper()
	p, err := Compile(src)
	if err != nil {
		t.Fatalf("Compile(%s): %v", src, err)
	}
	return p.Eval(e)
}

func TestEval(t *testing.T) {
	tests := []struct {
		src  string
		want any
	}{
		// literals and operators
		{`@(1 + 2 * 3)`, int64(7)},
		{`@((1 + 2) * 3 - 10 / 3 % 2)`, int64(8)},
		{`@(-5 < 3 && 3 <= 3 && !(2 >= 4) && 5 > 4)`, true},
		{`@("a" + 1 + true)`, "a1True"},
		{`@("x" == "x" && "x" != "y")`, true},
		{`@(true || 1 / 0 == 0)`, true},
		{`@(false && 1 / 0 == 0)`, false},
		{`@(null ?? "d")`, "d"},
		{`@(1 > 0 ? "yes" : "no")`, "yes"},
		{`@('c')`, "c"},
		{`@("tab\t\"q\"\\")`, "tab\t\"q\"\\"},
		{`@(@"C:\path ""x""")`, `C:\path "x"`},
		{`@($"Hello {context.Variables["name"]}, {1 + 1} {{braces}}")`, "Hello alice, 2 {braces}"},
		{`@($@"{(string)context.Variables["name"]}\n")`, `alice\n`},
		// context.Request
		{`@(context.Request.Method)`, "POST"},
		{`@(context.Request.IpAddress)`, "203.0.113.7"},
		{`@(context.Request.Headers.GetValueOrDefault("X-Tier"))`, "Gold"},
		{`@(context.Request.Headers.GetValueOrDefault("X-None", "dflt"))`, "dflt"},
		{`@(context.Request.Headers.GetValueOrDefault("X-None"))`, nil},
		{`@(context.Request.Headers.ContainsKey("x-tier"))`, true},
		{`@(context.Request.Headers["x-tier"][0])`, "Gold"},
		{`@(context.Request.Url.Scheme + "://" + context.Request.Url.Host + ":" + context.Request.Url.Port + context.Request.Url.Path)`, "https://api.contoso.com:443/orders/42"},
		{`@(context.Request.OriginalUrl.QueryString)`, "?tier=gold&x=1&x=2&q=a%20b"},
		{`@(context.Request.Url.Query.GetValueOrDefault("x", ""))`, "1,2"},
		{`@(context.Request.Url.Query.GetValueOrDefault("q", ""))`, "a b"},
		{`@(context.Request.Url.Query.GetValueOrDefault("none", "d"))`, "d"},
		{`@(context.Request.OriginalUrl.ToString())`, "https://api.contoso.com/orders/42?tier=gold&x=1&x=2&q=a%20b"},
		{`@(context.Request.MatchedParameters["id"])`, "42"},
		{`@(context.Request.MatchedParameters.GetValueOrDefault("nope", "-"))`, "-"},
		{`@(context.RequestId)`, "req-1"},
		// context.Response and LastError
		{`@(context.Response.StatusCode)`, int64(401)},
		{`@(context.Response.StatusReason)`, "Unauthorized"},
		{`@(context.Response.Headers.GetValueOrDefault("Content-Type", ""))`, "application/json"},
		{`@(context.LastError.Source + "/" + context.LastError.Reason + "/" + context.LastError.Section)`, "validate-jwt/TokenExpired/inbound"},
		// context.Variables
		{`@(context.Variables["name"])`, "alice"},
		{`@(context.Variables.ContainsKey("name") && !context.Variables.ContainsKey("nope"))`, true},
		{`@(context.Variables.GetValueOrDefault<bool>("flag"))`, true},
		{`@(context.Variables.GetValueOrDefault<bool>("nope"))`, false},
		{`@(context.Variables.GetValueOrDefault<string>("nope", "d"))`, "d"},
		{`@(context.Variables.GetValueOrDefault<int>("count") + 1)`, int64(4)},
		{`@(context.Variables.GetValueOrDefault("name", "x"))`, "alice"},
		{`@((int)context.Variables["count"] * 2)`, int64(6)},
		// strings
		{`@("Bearer abc".Split(' ').Last())`, "abc"},
		{`@("a,,b".Split(',').Length)`, int64(3)},
		{`@("a, b;c".Split(',', ';')[2])`, "c"},
		{`@("Hello".Contains("ell") && "Hello".StartsWith("He") && "Hello".EndsWith("lo"))`, true},
		{`@("Hello".StartsWith("he", StringComparison.OrdinalIgnoreCase))`, true},
		{`@("Hello".StartsWith("he"))`, false},
		{`@("abc".Equals("ABC", StringComparison.OrdinalIgnoreCase) && !"abc".Equals("ABC"))`, true},
		{`@("  MiXed ".Trim().ToLower() + "x".ToUpper())`, "mixedX"},
		{`@("--a--".Trim('-') + "|" + "--a--".TrimStart('-') + "|" + "--a--".TrimEnd('-'))`, "a|a--|--a"},
		{`@("héllo".Substring(1, 3) + "héllo".Substring(3))`, "élllo"},
		{`@("héllo".Length)`, int64(5)},
		{`@("a-b-c".Replace("-", "+"))`, "a+b+c"},
		{`@("abcabc".IndexOf("ca"))`, int64(2)},
		{`@(string.IsNullOrEmpty("") && String.IsNullOrEmpty(null) && !string.IsNullOrEmpty("x") && string.IsNullOrWhiteSpace("  "))`, true},
		// sequences
		{`@(new [] {"a", "b"}.First() + new string[] {"c", "d"}.Last())`, "ad"},
		{`@(new [] {"POST", "PUT"}.Contains("post", StringComparer.OrdinalIgnoreCase))`, true},
		{`@(new [] {"POST", "PUT"}.Contains("post"))`, false},
		{`@(new string[] {}.FirstOrDefault() ?? "none")`, "none"},
		{`@(new [] {"x", "yy"}.Any(e => e.Length == 2) && !new [] {"x"}.Any(e => e == "y") && new [] {"x"}.Any())`, true},
		{`@(new [] {"a", "b"}.Count())`, int64(2)},
		// JWT and Basic parsing
		{`@(context.Request.Headers.GetValueOrDefault("x-token").AsJwt().Subject)`, "bob"},
		{`@(context.Request.Headers.GetValueOrDefault("x-tier").AsJwt() == null)`, true},
		{`@(context.Request.Headers.GetValueOrDefault("x-none").AsJwt() == null)`, true},
		{`@(context.Request.Headers.GetValueOrDefault("x-token").AsJwt()?.Claims.GetValueOrDefault("tid", ""))`, "tenant-7"},
		{`@(context.Request.Headers.GetValueOrDefault("x-tier").AsJwt()?.Subject)`, nil},
		{`@(((Jwt)context.Variables["jwt"]).Audiences.Contains("api://orders"))`, true},
		{`@(((Jwt)context.Variables["jwt"]).Issuer + ((Jwt)context.Variables["jwt"]).Algorithm)`, "https://idp.example/RS256"},
		{`@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("group", ""))`, "finance,ops"},
		{`@(((Jwt)context.Variables["jwt"]).Claims.ContainsKey("tid"))`, true},
		{`@(context.Request.Headers.GetValueOrDefault("x-basic").AsBasic().UserId + ":" + context.Request.Headers.GetValueOrDefault("x-basic").AsBasic().Password)`, "alice:s3cret"},
		{`@(context.Request.Headers.GetValueOrDefault("x-tier").AsBasic() == null)`, true},
		// JSON bodies
		{`@(((IResponse)context.Variables["tokenstate"]).StatusCode)`, int64(200)},
		{`@(((IResponse)context.Variables["tokenstate"]).Headers.GetValueOrDefault("Content-Type", ""))`, "application/json"},
		{`@(((IResponse)context.Variables["tokenstate"]).Body.As<string>())`, `{"active":false,"scope":"a b","n":5,"sub":{"x":["p","q"]}}`},
		{`@((string)((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["scope"])`, "a b"},
		{`@((int)((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["n"] + 1)`, int64(6)},
		{`@(((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["sub"]["x"][1].ToString())`, "q"},
		{`@(((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["nope"] == null)`, true},
		{`@(((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["scope"] == "a b")`, true},
		// statements
		{`@{ var x = 2; if (x > 1) { return "big"; } else { return "small"; } }`, "big"},
		{`@{ string s = "a"; s = s + "b"; if (s == "ab") return s.ToUpper(); return "no"; }`, "AB"},
		{`@{ // comment
			var v = context.Variables.GetValueOrDefault<string>("name"); /* more */ return v; }`, "alice"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			got, err := eval(t, tc.src, newEnv())
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}
