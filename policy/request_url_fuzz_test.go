package policy

import (
	"strings"
	"testing"
)

// FuzzRequestURL sends hostile paths, queries and header values through
// set-query-parameter and rewrite-uri: whatever comes in, the backend gets
// a normal path under the API's prefix, at most maxRequestTarget bytes, or
// the request fails.
func FuzzRequestURL(f *testing.F) {
	f.Add("/orders/items/42?a=1&b=2", "v2", "x y")
	f.Add("/orders/items/a%2Fb?&&=&a", "../admin", "%")
	f.Add("/orders/items/%2e%2e?q=%zz", "%2e%2e/x", "&=?#")
	g, err := CompileGateway(Config{APIs: []API{{Name: "orders", PathPrefix: "/orders", Policy: inboundDoc(
		`<set-query-parameter name="q" exists-action="append"><value>@(context.Request.Headers.GetValueOrDefault("x-q", ""))</value></set-query-parameter>
<set-query-parameter name="a" exists-action="delete" />
<rewrite-uri template="@(&quot;/&quot; + context.Request.Headers.GetValueOrDefault(&quot;x-v&quot;, &quot;&quot;) + &quot;/&quot; + context.Request.MatchedParameters[&quot;id&quot;])" />`),
		Operations: []Operation{{Name: "item", Method: "GET", URLTemplate: "/items/{id}"}}}}}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, version, q string) {
		var x Exec
		g.Begin(&x, headers{":method": "GET", ":path": path, ":authority": "api.example.com", "x-v": version, "x-q": q}, subNow)
		r := x.Inbound()
		if r.Action == Respond {
			return
		}
		for _, e := range r.Edits {
			if e.Name != ":path" {
				continue
			}
			target := strings.Join(e.Values, ",")
			p, _, _ := strings.Cut(target, "?")
			if len(target) > maxRequestTarget || !strings.HasPrefix(p, "/orders/") {
				t.Fatalf("%q, %q, %q: the backend gets %q", path, version, q, target)
			}
			if normal, ok := routePath(p); !ok || normal != p {
				t.Fatalf("%q, %q, %q: the backend gets a path that is not normal: %q", path, version, q, target)
			}
		}
	})
}
