package envoytest

import (
	"github.com/apimguard/apimguard/internal/corpus"
	"testing"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// seedCORS is the seed's cors example, verbatim.
var seedCORS = corpus.MustSeedBlock(envoyrun.Root(), "cors")

// corsSeedPolicy is the seed's cors before an authentication check.
var corsSeedPolicy = "<policies>\n<inbound>\n" + seedCORS + `
<check-header name="authorization" failed-check-httpcode="401" failed-check-error-message="Sign in first">
  <value>Bearer let-me-in</value>
</check-header>
</inbound>
</policies>`

func corsSeed(t *testing.T, s *stack) {

	t.Run("preflight answered without auth or upstream", func(t *testing.T) {
		before := len(s.upstream.Requests())
		r := s.do(t, "OPTIONS", "/orders", map[string][]string{"Origin": {"https://myapp.com"}, "Access-Control-Request-Method": {"POST"},
			"Access-Control-Request-Headers": {"authorization,content-type"}}, "")
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://myapp.com" ||
			r.header.Get("Access-Control-Allow-Methods") != "GET,POST" || r.header.Get("Access-Control-Allow-Headers") != "content-type,authorization" {
			t.Fatalf("got %d %v", r.status, r.header)
		}
		if len(s.upstream.Requests()) != before {
			t.Error("the preflight reached the upstream")
		}
	})
	t.Run("disallowed origin: no grant", func(t *testing.T) {
		r := s.do(t, "OPTIONS", "/orders", map[string][]string{"Origin": {"https://myapp.com.evil.com"}, "Access-Control-Request-Method": {"POST"}}, "")
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" || r.body != "" {
			t.Fatalf("got %d %v %q", r.status, r.header, r.body)
		}
	})
	t.Run("disallowed method: no grant", func(t *testing.T) {
		r := s.do(t, "OPTIONS", "/orders", map[string][]string{"Origin": {"https://myapp.com"}, "Access-Control-Request-Method": {"DELETE"}}, "")
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("got %d %v", r.status, r.header)
		}
	})
	t.Run("actual request: grant and Vary", func(t *testing.T) {
		r := s.do(t, "GET", "/orders", map[string][]string{"Origin": {"https://myapp.com"}, "Authorization": {"Bearer let-me-in"}}, "")
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://myapp.com" || r.header.Get("Vary") != "Origin" {
			t.Fatalf("got %d %v", r.status, r.header)
		}
	})
	t.Run("a 401 from the auth policy still carries the CORS headers", func(t *testing.T) {
		r := s.do(t, "GET", "/orders", map[string][]string{"Origin": {"https://myapp.com"}}, "")
		if r.status != 401 || r.body != `{"statusCode":401,"message":"Sign in first"}` ||
			r.header.Get("Access-Control-Allow-Origin") != "https://myapp.com" || r.header.Get("Vary") != "Origin" {
			t.Fatalf("got %d %v %q", r.status, r.header, r.body)
		}
	})
	t.Run("unmatched GET is terminated", func(t *testing.T) {
		before := len(s.upstream.Requests())
		r := s.do(t, "GET", "/orders", map[string][]string{"Origin": {"https://evil.com"}, "Authorization": {"Bearer let-me-in"}}, "")
		if r.status != 200 || r.body != "" || r.header.Get("Access-Control-Allow-Origin") != "" || len(s.upstream.Requests()) != before {
			t.Fatalf("got %d %v %q", r.status, r.header, r.body)
		}
	})
}
