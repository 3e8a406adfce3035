package e2e

import (
	"strings"
	"testing"

	"github.com/apimguard/apimguard/envoy-test/internal/envoytest"
)

// A failure in outbound replaces the upstream's response with on-error's.
func TestOutboundFailure_throughEnvoy(t *testing.T) {
	policy := `<policies>
  <inbound><base /></inbound>
  <outbound>
    <set-header name="x-late" exists-action="override"><value>@((string)context.Variables["never-set"])</value></set-header>
  </outbound>
  <on-error>
    <set-header name="x-failed-in" exists-action="override"><value>@(context.LastError.Section)</value></set-header>
  </on-error>
</policies>`
	s := startStack(t, envoytest.Params{PluginConfig: policy})
	r := s.do(t, "GET", "/anything", nil, "")
	if r.status != 500 || r.body != `{"statusCode":500,"message":"Internal server error"}` || r.header.Get("x-failed-in") != "outbound" {
		t.Fatalf("got %d %q x-failed-in=%q", r.status, r.body, r.header.Get("x-failed-in"))
	}
	if strings.Contains(r.body, "upstream") {
		t.Errorf("the upstream's body leaked through")
	}
}
