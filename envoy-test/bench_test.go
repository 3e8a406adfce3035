package envoytest

import (
	"encoding/json"
	"testing"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// BenchmarkCallout measures what one send-request round trip adds to a
// request through Envoy: the same key check with and without a call to the
// local introspection service. Requests are sequential on one keep-alive
// connection; compare the two figures as a ratio.
//
//	go test -run '^$' -bench Callout -benchtime 3000x -count 5 ./envoy-test/
func BenchmarkCallout(b *testing.B) {
	const keyCheck = `<check-header name="authorization" failed-check-httpcode="401" />`
	withoutCall := `<policies><inbound>` + keyCheck + `</inbound></policies>`
	withCall := `<policies><inbound>` + keyCheck + `
<send-request mode="new" response-variable-name="tokenstate" timeout="5">
  <set-url>http://introspect.example/introspect</set-url>
  <set-method>POST</set-method>
  <set-body>@($"token={context.Request.Headers.GetValueOrDefault("Authorization","").Split(' ').Last()}")</set-body>
</send-request>
<choose><when condition="@((bool)((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["active"] == false)"><return-response><set-status code="401"/></return-response></when></choose>
</inbound></policies>`
	in := startIntrospector(b, nil)
	for _, tc := range []struct{ name, policy string }{{"no-callout", withoutCall}, {"callout", withCall}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg, _ := json.Marshal(map[string]any{"policy": tc.policy, "upstreams": map[string]string{"introspect.example": "introspection"}})
			s := startStack(b, envoyrun.Params{PluginConfig: string(cfg), Clusters: []envoyrun.Cluster{{Name: "introspection", Port: in.port}}})
			h := map[string][]string{"Authorization": {"Bearer good-bench"}}
			s.do(b, "GET", "/warm", h, "")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r := s.do(b, "GET", "/orders", h, ""); r.status != 200 {
					b.Fatalf("status %d", r.status)
				}
			}
		})
	}
}

// BenchmarkVerifyRS256 measures one RS256 verification per request through
// Envoy, by Envoy's verify_signature (nativeCrypto true) and by the module's
// own Go crypto (false); the verified-token cache is off.
//
//	go test -run '^$' -bench VerifyRS256 -benchtime 2000x -count 3 ./envoy-test/
func BenchmarkVerifyRS256(b *testing.B) {
	p := newIDP(b)
	p.addKey("k1")
	p.start()
	tok := p.token("k1", claims("my-api-audience"))
	for _, native := range []bool{true, false} {
		b.Run(map[bool]string{true: "host", false: "module"}[native], func(b *testing.B) {
			params := jwtConfig(p)
			var cfg map[string]any
			json.Unmarshal([]byte(params.PluginConfig), &cfg)
			cfg["tokenCache"], cfg["nativeCrypto"] = -1, native
			raw, _ := json.Marshal(cfg)
			params.PluginConfig = string(raw)
			s := startStack(b, params)
			h := bearer(tok)
			if r := s.do(b, "GET", "/warm", h, ""); r.status != 200 {
				b.Fatalf("warm-up: %d", r.status)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r := s.do(b, "GET", "/orders", h, ""); r.status != 200 {
					b.Fatalf("status %d", r.status)
				}
			}
		})
	}
}
