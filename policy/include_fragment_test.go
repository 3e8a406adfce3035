package policy

import (
	"strings"
	"testing"
)

// authFragment is a fragment as APIM users write them: the checks every
// API shares.
const authFragment = `<fragment>
	<check-header name="x-api-key" failed-check-httpcode="401" failed-check-error-message="Key needed">
		<value>{{api-key}}</value>
	</check-header>
	<set-variable name="checked-by" value="fragment" />
</fragment>`

// A fragment included by two APIs (once inside choose) runs where it
// stands in each, with the including policy's variables.
func TestIncludeFragment(t *testing.T) {
	orders := `<policies><inbound><set-variable name="api" value="orders" /><include-fragment fragment-id="auth" /><set-header name="x-checked-by" exists-action="override"><value>@((string)context.Variables["checked-by"] + "/" + (string)context.Variables["api"])</value></set-header></inbound></policies>`
	billing := `<policies><inbound><choose><when condition="@(context.Request.Method == &quot;POST&quot;)"><include-fragment fragment-id="auth" /></when></choose></inbound></policies>`
	g, err := CompileGateway(Config{
		APIs:      []API{{Name: "orders", PathPrefix: "/orders", Policy: orders}, {Name: "billing", PathPrefix: "/billing", Policy: billing}},
		Fragments: map[string]string{"auth": authFragment},
	}, Options{NamedValue: namedValues(map[string]string{"api-key": "k-123"})})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, key string
		status                  int    // 0: goes on
		header                  string // x-checked-by on the request
	}{
		{"orders with the key", "GET", "/orders/1", "k-123", 0, "fragment/orders"},
		{"orders without it", "GET", "/orders/1", "", 401, ""},
		{"billing GET: the when does not apply", "GET", "/billing/1", "", 0, ""},
		{"billing POST without the key", "POST", "/billing/1", "", 401, ""},
		{"billing POST with it", "POST", "/billing/1", "k-123", 0, ""},
	} {
		req := headers{":method": tc.method, ":path": tc.path, ":authority": "api.example.com"}
		if tc.key != "" {
			req["x-api-key"] = tc.key
		}
		var x Exec
		g.Begin(&x, req, subNow)
		r := x.Inbound()
		if got := map[bool]int{true: r.Status, false: 0}[r.Action == Respond]; got != tc.status {
			t.Errorf("%s: status %d, want %d (%+v)", tc.name, got, tc.status, r)
			continue
		}
		if tc.status == 0 {
			got := ""
			for _, e := range r.Edits {
				if e.Name == "x-checked-by" {
					got = strings.Join(e.Values, ",")
				}
			}
			if got != tc.header {
				t.Errorf("%s: x-checked-by %q, want %q", tc.name, got, tc.header)
			}
		}
	}
}

// What a fragment cannot be or hold is refused at load with one line that
// names the fragment's document and line and where it was included.
func TestIncludeFragment_refused(t *testing.T) {
	inc := func(id string) string {
		return "<policies>\n<inbound>\n<include-fragment fragment-id=\"" + id + "\" />\n</inbound>\n</policies>"
	}
	tests := []struct {
		name, policy string
		fragments    map[string]string
		want         string
	}{
		{"unknown id", inc("nope"), map[string]string{"auth": authFragment, "cors": "<fragment/>"},
			`policy:3:1: include-fragment: unknown fragment "nope" (configured: auth, cors)`},
		{"no fragments configured", inc("auth"), nil,
			`policy:3:1: include-fragment: unknown fragment "auth" (configured: none)`},
		{"an expression for the id", inc("@(&quot;auth&quot;)"), map[string]string{"auth": authFragment},
			`policy:3:32: include-fragment: attribute "fragment-id" takes no policy expression`},
		{"a fragment including itself", inc("loop"), map[string]string{"loop": "<fragment>\n  <include-fragment fragment-id=\"loop\" />\n</fragment>"},
			`fragments.loop:2:3: include-fragment: a fragment cannot include another fragment (APIM does not nest fragments) (in the fragment included at policy:3:1)`},
		{"two fragments including each other", inc("a"), map[string]string{"a": `<fragment><include-fragment fragment-id="b" /></fragment>`, "b": `<fragment><include-fragment fragment-id="a" /></fragment>`},
			`fragments.a:1:11: include-fragment: a fragment cannot include another fragment (APIM does not nest fragments) (in the fragment included at policy:3:1)`},
		{"a section", inc("s"), map[string]string{"s": "<fragment><inbound/></fragment>"},
			`fragments.s:1:11: inbound: a fragment cannot hold a policy section (in the fragment included at policy:3:1)`},
		{"base", inc("b"), map[string]string{"b": "<fragment><choose><when condition=\"true\"><base/></when></choose></fragment>"},
			`fragments.b:1:42: base: a fragment cannot hold <base/> (in the fragment included at policy:3:1)`},
		{"another root", inc("r"), map[string]string{"r": "<policies/>"},
			`fragments.r:1:1: policies: the root element of a fragment must be <fragment> (in the fragment included at policy:3:1)`},
		{"a syntax error", inc("x"), map[string]string{"x": "<fragment><set-header name=\"a\"></fragment>"},
			`fragments.x:1:`},
		{"a bad element inside", inc("auth"), map[string]string{"auth": "<fragment>\n  <check-header name=\"x\" failed-check-httpcode=\"401\" failed-check-eror-message=\"no\"><value>a</value></check-header>\n</fragment>"},
			`fragments.auth:2:54: check-header: unknown attribute "failed-check-eror-message" (in the fragment included at policy:3:1)`},
		{"an element in the wrong section", "<policies><outbound><include-fragment fragment-id=\"auth\" /></outbound></policies>", map[string]string{"auth": "<fragment><forward-request /></fragment>"},
			`fragments.auth:1:11: forward-request:`},
		{"included too often", "<policies><inbound>" + strings.Repeat(`<include-fragment fragment-id="e" />`, maxInclusions+1) + "</inbound></policies>", map[string]string{"e": "<fragment/>"},
			`policy:1:147476: include-fragment: more than 4096 fragment inclusions in the configuration`},
		{"too many elements", "<policies><inbound>" + strings.Repeat(`<include-fragment fragment-id="big" />`, 300) + "</inbound></policies>",
			map[string]string{"big": "<fragment>" + strings.Repeat(`<set-variable name="a" value="b" />`, 500) + "</fragment>"},
			`policy:1:9976: include-fragment: fragments add more than 131072 elements to the configuration`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileGateway(Config{Policy: tc.policy, Fragments: tc.fragments}, Options{Doc: "policy"})
			if err == nil {
				t.Fatal("compiled")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error\n%s\nwant it to start with\n%s", err, tc.want)
			}
		})
	}
}
