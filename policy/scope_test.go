package policy

import (
	"reflect"
	"strings"
	"testing"
)

// trace appends a marker to the request header x-trace, so a test can read
// the order in which scopes ran.
func trace(mark string) string {
	return `<set-header name="x-trace" exists-action="append"><value>` + mark + `</value></set-header>`
}

func traceOf(t *testing.T, r Result) string {
	t.Helper()
	for _, e := range r.Edits {
		if e.Name == "x-trace" {
			return strings.Join(e.Values, ",")
		}
	}
	return ""
}

var scopesConfig = Config{
	Policy: `<policies><inbound>` + trace("g1") + `<base/>` + trace("g2") + `</inbound><outbound>` + trace("gout") + `</outbound></policies>`,
	APIs: []API{
		{
			Name: "orders", PathPrefix: "/orders",
			Policy: `<policies><inbound>` + trace("a1") + `<base/>` + trace("a2") + `</inbound></policies>`,
			Operations: []Operation{
				{Name: "get", Method: "GET", URLTemplate: "/{id}", Policy: `<policies><inbound><base/>` + trace("op-get") + `</inbound></policies>`},
				{Name: "delete", Method: "DELETE", URLTemplate: "/{id}", Policy: `<policies><inbound>` + trace("op-delete-only") + `</inbound></policies>`},
				{Name: "inherit", Method: "*", URLTemplate: "/{id}/lines"},
				{Name: "summary", Method: "GET", URLTemplate: "/summary"},
			},
		},
		{Name: "orders-admin", PathPrefix: "/orders/admin", Policy: `<policies><inbound>` + trace("admin") + `</inbound><outbound><base/>` + trace("aout") + `</outbound></policies>`},
		{Name: "tenant", PathPrefix: "/orders", Hosts: []string{"tenant.contoso.com", "*.tenants.contoso.com"}, Policy: `<policies><inbound><base/>` + trace("tenant") + `</inbound></policies>`},
		{Name: "inherits", PathPrefix: "/plain"},
	},
}

func TestScopes(t *testing.T) {
	g, err := CompileGateway(scopesConfig, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, authority, method, path string
		wantAPI, wantOp               string
		wantParams                    map[string]string
		wantTrace                     string
	}{
		{"no API: global only", "api.contoso.com", "GET", "/inventory", "", "", nil, "g1,g2"},
		{"operation splices API and global", "api.contoso.com", "GET", "/orders/42", "orders", "get", map[string]string{"id": "42"}, "a1,g1,g2,a2,op-get"},
		{"operation without base drops its parents", "api.contoso.com", "DELETE", "/orders/42", "orders", "delete", map[string]string{"id": "42"}, "op-delete-only"},
		{"operation without policy inherits the API", "api.contoso.com", "POST", "/orders/42/lines", "orders", "inherit", map[string]string{"id": "42"}, "a1,g1,g2,a2"},
		{"literal beats parameter", "api.contoso.com", "GET", "/orders/summary", "orders", "summary", nil, "a1,g1,g2,a2"},
		{"API matched, no operation: the API's policy", "api.contoso.com", "PUT", "/orders", "orders", "", nil, "a1,g1,g2,a2"},
		{"longest prefix wins", "api.contoso.com", "GET", "/orders/admin/users", "orders-admin", "", nil, "admin"},
		{"prefix is segment-aligned", "api.contoso.com", "GET", "/ordersXYZ/1", "", "", nil, "g1,g2"},
		{"case-insensitive path", "api.contoso.com", "GET", "/ORDERS/Admin", "orders-admin", "", nil, "admin"},
		{"parameter keeps its case, empty segments ignored", "api.contoso.com", "GET", "//Orders//AbC?x=1", "orders", "get", map[string]string{"id": "AbC"}, "a1,g1,g2,a2,op-get"},
		{"host-specific API wins", "Tenant.Contoso.com:8443", "GET", "/orders/1", "tenant", "", nil, "g1,g2,tenant"},
		{"wildcard host", "x.tenants.contoso.com", "GET", "/orders/1", "tenant", "", nil, "g1,g2,tenant"},
		{"wildcard does not match the bare domain", "tenants.contoso.com", "GET", "/orders/1", "orders", "get", map[string]string{"id": "1"}, "a1,g1,g2,a2,op-get"},
		{"API without policy inherits global", "api.contoso.com", "GET", "/plain/x", "inherits", "", nil, "g1,g2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, params := g.Route(tc.authority, tc.method, tc.path)
			if p.API != tc.wantAPI || p.Operation != tc.wantOp {
				t.Fatalf("route = %q/%q, want %q/%q", p.API, p.Operation, tc.wantAPI, tc.wantOp)
			}
			if !reflect.DeepEqual(params, tc.wantParams) {
				t.Errorf("params = %v, want %v", params, tc.wantParams)
			}
			r := p.NewExec(headers{":method": tc.method, ":path": tc.path, "x-trace": ""}, params).Inbound()
			if got := strings.TrimPrefix(traceOf(t, r), ","); got != tc.wantTrace {
				t.Errorf("ran %q, want %q", got, tc.wantTrace)
			}
		})
	}
	// An absent section inherits: orders has no outbound, so the global one runs;
	// orders-admin's outbound splices it.
	for path, want := range map[string]string{"/orders/1": "gout", "/orders/admin": "gout,aout"} {
		p, params := g.Route("api.contoso.com", "GET", path)
		x := p.NewExec(headers{":method": "GET", ":path": path}, params)
		x.Inbound()
		r := x.Outbound(resp{":status": "200", "x-trace": ""})
		if got := strings.TrimPrefix(traceOf(t, r), ","); got != want {
			t.Errorf("%s outbound ran %q, want %q", path, got, want)
		}
	}
}

func TestScopes_matchedParameters(t *testing.T) {
	g, err := CompileGateway(Config{APIs: []API{{Name: "a", PathPrefix: "/v1", Operations: []Operation{{Name: "o", Method: "GET", URLTemplate: "/users/{user}/items/{item}",
		Policy: `<policies><inbound><return-response><set-body>@(context.Request.MatchedParameters["user"] + "/" + context.Request.MatchedParameters.GetValueOrDefault("item", ""))</set-body></return-response></inbound></policies>`}}}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, params := g.Route("h", "GET", "/v1/users/ann/items/7")
	if r := p.NewExec(headers{":method": "GET"}, params).Inbound(); r.Body != "ann/7" {
		t.Fatalf("got %+v", r)
	}
}

func TestScopes_errors(t *testing.T) {
	bad := `<policies><inbound><check-header name="a" failed-check-httpcod="403"/></inbound></policies>`
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"error in an API document", Config{APIs: []API{{Name: "orders", PathPrefix: "/o", Policy: bad}}},
			`apis[orders].policy:1:43: check-header: unknown attribute "failed-check-httpcod"`},
		{"error in an operation document", Config{APIs: []API{{Name: "orders", PathPrefix: "/o", Operations: []Operation{{Name: "get", Method: "GET", URLTemplate: "/", Policy: bad}}}}},
			`apis[orders].operations[get].policy:1:43: check-header: unknown attribute "failed-check-httpcod"`},
		{"error in the global document reached through a route", Config{Policy: bad, APIs: []API{{Name: "orders", PathPrefix: "/o"}}},
			`policy:1:43: check-header: unknown attribute "failed-check-httpcod"`},
		{"duplicate API", Config{APIs: []API{{Name: "a", PathPrefix: "/a"}, {Name: "a", PathPrefix: "/b"}}}, `apis[1]:1:1: duplicate API name "a"`},
		{"same prefix and hosts", Config{APIs: []API{{Name: "a", PathPrefix: "/a/"}, {Name: "b", PathPrefix: "/a"}}}, `apis[b]:1:1: API "b" has the same path prefix and hosts as API "a"`},
		{"prefix without slash", Config{APIs: []API{{Name: "a", PathPrefix: "a"}}}, `apis[a]:1:1: "pathPrefix" must start with '/', got "a"`},
		{"bad host", Config{APIs: []API{{Name: "a", PathPrefix: "/", Hosts: []string{"a*.com"}}}}, `apis[a]:1:1: bad host "a*.com": want a host name or *.domain`},
		{"query in template", Config{APIs: []API{{Name: "a", PathPrefix: "/", Operations: []Operation{{Name: "o", URLTemplate: "/x?id={id}"}}}}},
			`apis[a].operations[o]:1:1: query parameters in "urlTemplate" are not supported: "/x?id={id}"`},
		{"partial parameter", Config{APIs: []API{{Name: "a", PathPrefix: "/", Operations: []Operation{{Name: "o", URLTemplate: "/x{id}"}}}}},
			`apis[a].operations[o]:1:1: a template parameter must be a whole segment: "/x{id}"`},
		{"duplicate parameter", Config{APIs: []API{{Name: "a", PathPrefix: "/", Operations: []Operation{{Name: "o", URLTemplate: "/{id}/{id}"}}}}},
			`apis[a].operations[o]:1:1: template parameter {id} appears twice in "/{id}/{id}"`},
		{"ambiguous operations", Config{APIs: []API{{Name: "a", PathPrefix: "/", Operations: []Operation{{Name: "o1", Method: "get", URLTemplate: "/{id}"}, {Name: "o2", Method: "GET", URLTemplate: "/{other}"}}}}},
			`apis[a].operations[o2]:1:1: operation "o2" matches the same requests as operation "o1"`},
		{"base inside choose", Config{Policy: `<policies><inbound><choose><when condition="true"><base/></when></choose></inbound></policies>`},
			`policy:1:51: base: <base/> must be a direct child of a section`},
		{"two bases", Config{Policy: `<policies><inbound><base/><base/></inbound></policies>`}, `policy:1:27: base: only one <base/> per section`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileGateway(tc.cfg, Options{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}

// TestScopes_evasion tries to reach a weaker scope than the one a request
// belongs to: through the host (a trailing dot, two Host lines) and through
// the path (dot segments, escapes, path parameters).
func TestScopes_evasion(t *testing.T) {
	g, err := CompileGateway(scopesConfig, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, authority, path string
		wantAPI, wantOp       string
	}{
		{"trailing dot on the host", "tenant.contoso.com.", "/orders/1", "tenant", ""},
		{"trailing dot with a port", "Tenant.Contoso.com.:80", "/orders/1", "tenant", ""},
		{"trailing dot on a wildcard host", "x.tenants.contoso.com.", "/orders/1", "tenant", ""},
		{"two Host lines joined", "tenant.contoso.com,other", "/orders/1", "", ""},
		{"a space in the host", "tenant.contoso.com other", "/orders/1", "", ""},
		{"dot-dot back into the API", "api.contoso.com", "/plain/../orders/admin/x", "orders-admin", ""},
		{"dot segment", "api.contoso.com", "/./orders/./admin", "orders-admin", ""},
		{"escaped dot-dot", "api.contoso.com", "/plain/%2e%2e/orders/admin", "orders-admin", ""},
		{"escaped letter", "api.contoso.com", "/orders/%61dmin", "orders-admin", ""},
		{"an escape made by decoding", "api.contoso.com", "/orders/%6%31dmin", "orders-admin", ""},
		{"path parameter on a segment", "api.contoso.com", "/orders;v=1/admin;jsessionid=x/users", "orders-admin", ""},
		{"escaped semicolon", "api.contoso.com", "/orders/admin%3Bx/users", "orders-admin", ""},
		{"dot-dot above the root", "api.contoso.com", "/../../orders/summary", "orders", "summary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := g.Route(tc.authority, "GET", tc.path)
			if p.API != tc.wantAPI || p.Operation != tc.wantOp {
				t.Fatalf("route = %q/%q, want %q/%q", p.API, p.Operation, tc.wantAPI, tc.wantOp)
			}
		})
	}
	// A host that is not one host, and a path whose segments depend on the
	// upstream's reading, are refused before any policy.
	for _, r := range [][2]string{
		{"tenant.contoso.com,other", "/orders/1"}, {"tenant.contoso.com other", "/orders/1"}, {"a\x00b", "/orders/1"}, {"user@tenant.contoso.com", "/orders/1"},
		{"api.contoso.com", "/orders%2fadmin"}, {"api.contoso.com", "/orders\\admin"}, {"api.contoso.com", "/orders%5Cadmin/x"}, {"api.contoso.com", "/orders/%6%3%3%3%3%31dmin"},
	} {
		p, _ := g.Route(r[0], "GET", r[1])
		res := p.NewExec(headers{":method": "GET", ":authority": r[0], ":path": r[1]}, nil).Inbound()
		if res.Action != Respond || res.Status != 400 || res.Body != `{"statusCode":400,"message":"Bad request."}` {
			t.Errorf("authority %q, path %q: got %+v, want a 400", r[0], r[1], res)
		}
	}
}

func TestRoutePath(t *testing.T) {
	// Segments the router cannot know the upstream's reading of are refused.
	for _, p := range []string{"/orders%2fadmin", "/orders%2Fadmin", "/orders\\admin", "/orders%5cadmin", "/a/%2%66/b"} {
		if got, ok := routePath(p); ok {
			t.Errorf("routePath(%q) = %q, want it refused", p, got)
		}
	}
	// Each "%3" more is one more pass: three passes settle, six do not.
	if got, ok := routePath("/%6%3%31dmin"); !ok || got != "/admin" {
		t.Errorf("three passes: %q, %v", got, ok)
	}
	if got, ok := routePath("/%6" + strings.Repeat("%3", 4) + "%31dmin"); ok {
		t.Errorf("a path of escapes of escapes was normalised to %q", got)
	}
	for in, want := range map[string]string{
		"/orders/1":          "/orders/1",
		"/a/./b/../c":        "/a/c",
		"/a/%2E%2e/b":        "/b",
		"/a;x=1/b;y":         "/a/b",
		"/a%3bx/b%3B":        "/a/b",
		"/%7Euser/%41":       "/~user/A",
		"/a/%25":             "/a/%25",
		"/a/%":               "/a/%",
		"/a/%4":              "/a/%4",
		"/..":                "/",
		"/file.json":         "/file.json",
		"/a/.hidden/b":       "/a/.hidden/b",
		"/a/%zz/b;c/../d":    "/a/%zz/d",
		"/a/%2e%2e%2e/b":     "/a/.../b",
		"/;/../admin/./x":    "/admin/x",
		"/admin%3b/../other": "/other",
		"%7%30":              "/p",
		"/%6%31dmin":         "/admin",
		"/%2%65%2%65/admin":  "/admin",
	} {
		if got, ok := routePath(in); !ok || got != want {
			t.Errorf("routePath(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
