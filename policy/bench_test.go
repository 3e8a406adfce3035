package policy

import (
	"fmt"
	"testing"
)

// BenchmarkCheckHeader evaluates the seed's check-header pipeline
// (set-variable from a named value, then check-header) for one request.
func BenchmarkCheckHeader(b *testing.B) {
	p := mustCompile(b, inboundDoc(`<set-variable name="allowedKey" value="{{api-key}}" />`+seedCheckHeader), map[string]string{"api-key": "s3cr3t-key"})
	for _, tc := range []struct {
		name string
		req  headers
		want Action
	}{
		{"allow", headers{"x-api-key": "s3cr3t-key"}, Continue},
		{"deny", headers{"x-api-key": "s3cr3t-kez"}, Respond},
		{"missing", headers{}, Respond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if r := p.NewExec(tc.req, nil).Inbound(); r.Action != tc.want {
					b.Fatalf("got %v", r.Action)
				}
			}
		})
	}
}

// BenchmarkRoute matches requests against 100 APIs with 10 operations each.
func BenchmarkRoute(b *testing.B) {
	cfg := Config{}
	for a := 0; a < 100; a++ {
		api := API{Name: fmt.Sprintf("api%d", a), PathPrefix: fmt.Sprintf("/svc%d/v1", a)}
		for o := 0; o < 10; o++ {
			api.Operations = append(api.Operations, Operation{Name: fmt.Sprintf("op%d", o), Method: "GET", URLTemplate: fmt.Sprintf("/res%d/{id}/items/{item}", o)})
		}
		cfg.APIs = append(cfg.APIs, api)
	}
	g, err := CompileGateway(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, path, wantAPI, wantOp string }{
		{"operation", "/svc57/v1/res9/123/items/456", "api57", "op9"},
		{"operation-literal-only", "/svc3/v1/res0/1/items/2?q=1", "api3", "op0"},
		{"api-no-operation", "/svc99/v1/other", "api99", ""},
		{"no-api", "/unknown/path/here", "", ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p, _ := g.Route("api.contoso.com", "GET", tc.path)
				if p.API != tc.wantAPI || p.Operation != tc.wantOp {
					b.Fatalf("routed to %s/%s", p.API, p.Operation)
				}
			}
		})
	}
}

// BenchmarkInbound10 runs an inbound section of 10 statements with
// expressions, choose and header edits, for one request.
func BenchmarkInbound10(b *testing.B) {
	p := mustCompile(b, inboundDoc(`
<set-variable name="auth" value="@(context.Request.Headers.GetValueOrDefault(&quot;Authorization&quot;,&quot;scheme param&quot;).Split(' ').Last())" />
<set-variable name="tier" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-tier&quot;, &quot;bronze&quot;).ToLower())" />
<set-variable name="isWrite" value="@(new [] {&quot;POST&quot;,&quot;PUT&quot;,&quot;DELETE&quot;}.Contains(context.Request.Method, StringComparer.OrdinalIgnoreCase))" />
<choose>
  <when condition="@((bool)context.Variables[&quot;isWrite&quot;] &amp;&amp; (string)context.Variables[&quot;tier&quot;] != &quot;gold&quot;)">
    <return-response><set-status code="403" /></return-response>
  </when>
</choose>
<check-header name="x-api-key" failed-check-httpcode="401"><value>{{api-key}}</value></check-header>
<set-header name="x-tier" exists-action="override"><value>@((string)context.Variables[&quot;tier&quot;])</value></set-header>
<set-header name="x-path" exists-action="override"><value>@(context.Request.Url.Path)</value></set-header>
<set-variable name="q" value="@(context.Request.Url.Query.GetValueOrDefault(&quot;page&quot;, &quot;1&quot;))" />
<set-header name="x-client" exists-action="override"><value>@(context.Request.IpAddress)</value></set-header>
<set-header name="x-internal" exists-action="delete" />`), map[string]string{"api-key": "k1"})
	req := headers{":method": "GET", ":path": "/orders/42?page=3", ":authority": "api.contoso.com", "authorization": "Bearer abc",
		"x-tier": "Gold", "x-api-key": "k1", "@ip": "203.0.113.9"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if r := p.NewExec(req, nil).Inbound(); r.Action != Continue || len(r.Edits) != 4 {
			b.Fatalf("got %+v", r)
		}
	}
}
