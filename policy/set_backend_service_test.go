package policy

import (
	"strings"
	"testing"
)

// backendOptions maps orders-v2.internal and legacy to clusters as the
// plugin's upstreams would; other hosts get a made-up name.
var backendOptions = Options{Doc: "policy", BackendCluster: func(scheme, authority string) (string, bool) {
	host, _, _ := strings.Cut(authority, ":")
	switch host {
	case "orders-v2.internal", "legacy":
		return host + "-cluster", true
	}
	return "outbound|80||" + authority, false
}}

func TestSetBackendService(t *testing.T) {
	g, err := CompileGateway(Config{
		APIs: []API{
			{Name: "orders", PathPrefix: "/orders", Policy: inboundDoc(`<set-backend-service backend-id="v2" />`)},
			{Name: "legacy", PathPrefix: "/legacy", Policy: inboundDoc(`<set-backend-service base-url="https://legacy:8443/svc/" /><rewrite-uri template="/r/{id}" />`),
				Operations: []Operation{{Name: "r", Method: "GET", URLTemplate: "/reports/{id}"}}},
			{Name: "dyn", PathPrefix: "/dyn", Policy: inboundDoc(`<set-backend-service base-url="@(context.Request.Headers.GetValueOrDefault(&quot;x-to&quot;, &quot;&quot;))" />`)},
		},
		Backends: map[string]Backend{"v2": {URL: "http://orders-v2.internal/api/v2"}},
	}, backendOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, to string
		want           map[string]string // edits; nil: a 500
	}{
		{"backend-id", "/orders/42?x=1", "", map[string]string{":authority": "orders-v2.internal", ":path": "/api/v2/42?x=1", BackendHeader: "orders-v2.internal-cluster"}},
		{"base-url, then rewrite-uri under its base", "/legacy/reports/7", "", map[string]string{":authority": "legacy:8443", ":path": "/svc/r/7", BackendHeader: "legacy-cluster"}},
		{"an expression naming a mapped host", "/dyn/a", "http://legacy/x", map[string]string{":authority": "legacy", ":path": "/x/a", BackendHeader: "legacy-cluster"}},
		{"an expression naming another host", "/dyn/a", "http://evil.example/", nil},
		{"an expression that is no URL", "/dyn/a", "legacy", nil},
		{"an expression with a base that climbs", "/dyn/a", "http://legacy/../admin", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x Exec
			g.Begin(&x, headers{":method": "GET", ":path": tc.path, ":authority": "api.example.com", "x-to": tc.to}, subNow)
			r := x.Inbound()
			if tc.want == nil {
				if r.Action != Respond || r.Status != 500 {
					t.Fatalf("got %+v, want a 500", r)
				}
				return
			}
			if r.Action != Continue || !r.ClearRouteCache {
				t.Fatalf("got %+v", r)
			}
			got := map[string]string{}
			for _, e := range r.Edits {
				got[e.Name] = strings.Join(e.Values, ",")
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
	// A client's own header is removed and the request routed again.
	var x Exec
	g.Begin(&x, headers{":method": "GET", ":path": "/nowhere", ":authority": "api.example.com", BackendHeader: "legacy-cluster"}, subNow)
	r := x.Inbound()
	if r.Action != Continue || !r.ClearRouteCache || len(r.Edits) != 1 || r.Edits[0].Name != BackendHeader || r.Edits[0].Values != nil {
		t.Errorf("a client's %s: %+v", BackendHeader, r)
	}
}

func TestSetBackendService_refused(t *testing.T) {
	for _, tc := range []struct {
		policy   string
		backends map[string]Backend
		want     string
	}{
		{`<set-backend-service backend-id="nope" />`, map[string]Backend{"v2": {URL: "http://legacy/"}}, `policy:3:34: set-backend-service: unknown backend "nope" (configured: v2)`},
		{`<set-backend-service />`, nil, `policy:3:1: set-backend-service: needs exactly one of the attributes "base-url" and "backend-id"`},
		{`<set-backend-service base-url="http://a/" backend-id="v2" />`, nil, `policy:3:1: set-backend-service: needs exactly one of the attributes "base-url" and "backend-id"`},
		{`<set-backend-service base-url="ftp://a/" />`, nil, `policy:3:32: set-backend-service: attribute "base-url": needs an absolute http or https URL, not "ftp://a/"`},
		{`<set-backend-service base-url="http://u:p@a/" />`, nil, `policy:3:32: set-backend-service: attribute "base-url": a base URL holds no credentials, query or fragment`},
		{`<set-backend-service backend-id="x" sf-partition-key="1" />`, nil, `policy:3:37: set-backend-service: attribute "sf-partition-key": Service Fabric backends are not supported`},
		{`<check-header name="a" failed-check-httpcode="401" />`, map[string]Backend{"v2": {URL: "ftp://x"}}, `backends.v2:1:1: "url" needs an absolute http or https URL, not "ftp://x"`},
	} {
		_, err := CompileGateway(Config{Policy: inboundDoc(tc.policy), Backends: tc.backends}, backendOptions)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.policy, err, tc.want)
		}
	}
	if _, err := CompileGateway(Config{Policy: inboundDoc(`<set-backend-service base-url="http://a/" />`)}, Options{Doc: "policy"}); err == nil {
		t.Error("compiled without a host that can route to backends")
	}
}
