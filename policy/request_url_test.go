package policy

import (
	"strings"
	"testing"
)

// pathAfter runs doc's inbound on a request for target in API orders
// (pathPrefix /orders, operation GET /items/{id}) and returns the :path
// the backend gets ("" when unchanged), or the failure.
func pathAfter(t *testing.T, doc, target string) (string, *Result) {
	t.Helper()
	g, err := CompileGateway(Config{APIs: []API{{Name: "orders", PathPrefix: "/orders/", Policy: doc,
		Operations: []Operation{{Name: "item", Method: "GET", URLTemplate: "/items/{id}"}}}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var x Exec
	g.Begin(&x, headers{":method": "GET", ":path": target, ":authority": "api.example.com"}, subNow)
	r := x.Inbound()
	if r.Action == Respond {
		return "", &r
	}
	for _, e := range r.Edits {
		if e.Name == ":path" {
			return strings.Join(e.Values, ","), nil
		}
	}
	return "", nil
}

// pathCase is a policy, the client's path and query, and the :path the
// backend must get ("" when unchanged).
type pathCase struct{ name, policy, target, want string }

// checkPaths runs each case's inbound (pathAfter) and checks the :path.
func checkPaths(t *testing.T, tests []pathCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, fail := pathAfter(t, inboundDoc(tc.policy), tc.target)
			if fail != nil {
				t.Fatalf("failed: %+v", fail)
			}
			if got != tc.want {
				t.Errorf(":path %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSetQueryParameter(t *testing.T) {
	tests := []pathCase{
		{"override replaces every value", `<set-query-parameter name="v" exists-action="override"><value>2</value></set-query-parameter>`, "/orders/items/1?v=1&a=b&v=3", "/orders/items/1?a=b&v=2"},
		{"override is the default and adds", `<set-query-parameter name="v"><value>2</value></set-query-parameter>`, "/orders/items/1", "/orders/items/1?v=2"},
		{"skip keeps one that is there", `<set-query-parameter name="v" exists-action="skip"><value>2</value></set-query-parameter>`, "/orders/items/1?v=1", ""},
		{"skip adds an absent one", `<set-query-parameter name="v" exists-action="skip"><value>2</value></set-query-parameter>`, "/orders/items/1?a=1", "/orders/items/1?a=1&v=2"},
		{"append adds to it", `<set-query-parameter name="v" exists-action="append"><value>2</value><value>x y</value></set-query-parameter>`, "/orders/items/1?v=1", "/orders/items/1?v=1&v=2&v=x+y"},
		{"delete removes it, escaped too", `<set-query-parameter name="api key" exists-action="delete" />`, "/orders/items/1?api%20key=s3cret&a=1&api+key=2", "/orders/items/1?a=1"},
		{"delete the only one leaves no '?'", `<set-query-parameter name="a" exists-action="delete" />`, "/orders/items/1?a=1", "/orders/items/1"},
		{"names are case-sensitive", `<set-query-parameter name="V" exists-action="delete" />`, "/orders/items/1?v=1", "/orders/items/1?v=1"},
		{"a value from an expression is escaped", `<set-query-parameter name="who"><value>@(context.Request.Headers.GetValueOrDefault("x-who", "a&b=c"))</value></set-query-parameter>`, "/orders/items/1", "/orders/items/1?who=a%26b%3Dc"},
	}
	checkPaths(t, tests)
}

func TestRewriteURI(t *testing.T) {
	tests := []pathCase{
		{"the operation's part, with its parameter", `<rewrite-uri template="/v2/item/{id}" />`, "/orders/items/42", "/orders/v2/item/42"},
		{"unmatched query parameters are copied after the template's", `<rewrite-uri template="/get?format=json" />`, "/orders/items/42?a=1&b=2", "/orders/get?format=json&a=1&b=2"},
		{"or not", `<rewrite-uri template="/get" copy-unmatched-params="false" />`, "/orders/items/42?a=1", "/orders/get"},
		{"a parameter in the query", `<rewrite-uri template="/find?item={id}" copy-unmatched-params="false" />`, "/orders/items/a%20b", "/orders/find?item=a+b"},
		{"a parameter that needs escaping in the path", `<rewrite-uri template="/v2/{id}" />`, "/orders/items/a%3Fb", "/orders/v2/a%3Fb"},
		{"an expression", `<rewrite-uri template="@(&quot;/v&quot; + context.Request.Headers.GetValueOrDefault(&quot;x-version&quot;, &quot;3&quot;) + &quot;/items&quot;)" />`, "/orders/items/42", "/orders/v3/items"},
		{"after set-query-parameter", `<set-query-parameter name="q"><value>1</value></set-query-parameter><rewrite-uri template="/s" />`, "/orders/items/42", "/orders/s?q=1"},
	}
	checkPaths(t, tests)
	// What a rewrite cannot make fails the request, never reaches a backend.
	for _, tc := range []struct{ name, policy, target string }{
		{"a parameter the operation did not match", `<rewrite-uri template="/v2/{nope}" />`, "/orders/items/42"},
		{"an expression that climbs out", `<rewrite-uri template="@(&quot;/a/../../admin&quot;)" />`, "/orders/items/42"},
		{"an expression without a leading slash", `<rewrite-uri template="@(&quot;admin&quot;)" />`, "/orders/items/42"},
		{"a target over the bound", `<set-variable name="long" value="` + strings.Repeat("a", 9000) + `" /><rewrite-uri template="@(&quot;/&quot; + (string)context.Variables[&quot;long&quot;])" />`, "/orders/items/42"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, fail := pathAfter(t, inboundDoc(tc.policy), tc.target)
			if fail == nil || fail.Status != 500 {
				t.Fatalf("got :path %q, %+v; want a 500", got, fail)
			}
		})
	}
}

func TestRewriteURI_refused(t *testing.T) {
	for _, tc := range []struct{ policy, want string }{
		{`<rewrite-uri template="v2" />`, `policy:3:24: rewrite-uri: attribute "template": must start with '/', got "v2"`},
		{`<rewrite-uri template="/v2/{id" />`, `policy:3:24: rewrite-uri: attribute "template": has a '{' without its '}'`},
		{`<rewrite-uri template="/a" copy-unmatched-params="maybe" />`, `policy:3:28: rewrite-uri: attribute "copy-unmatched-params" must be true or false, not "maybe"`},
		{`<set-query-parameter name="a" exists-action="replace"><value>1</value></set-query-parameter>`, `policy:3:31: set-query-parameter: attribute "exists-action" must be override, skip, append or delete, not "replace"`},
		{`<set-query-parameter name="a" />`, `policy:3:1: set-query-parameter: needs at least one <value> (or exists-action="delete")`},
	} {
		_, err := CompileGateway(Config{Policy: inboundDoc(tc.policy)}, Options{Doc: "policy"})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.policy, err, tc.want)
		}
	}
	if _, err := CompileGateway(Config{Policy: "<policies><outbound><rewrite-uri template=\"/a\" /></outbound></policies>"}, Options{Doc: "policy"}); err == nil || !strings.Contains(err.Error(), "rewrite-uri") {
		t.Errorf("rewrite-uri in outbound: %v", err)
	}
}
