package envoytest

import (
	"strings"
	"testing"
)

// A failure in outbound replaces the upstream's response with on-error's.
const outboundFailurePolicy = `<policies>
  <inbound><base /></inbound>
  <outbound>
    <set-header name="x-late" exists-action="override"><value>@((string)context.Variables["never-set"])</value></set-header>
  </outbound>
  <on-error>
    <set-header name="x-failed-in" exists-action="override"><value>@(context.LastError.Section)</value></set-header>
  </on-error>
</policies>`

func outboundFailure(t *testing.T, s *stack) {
	r := s.do(t, "GET", "/anything", nil, "")
	if r.status != 500 || r.body != `{"statusCode":500,"message":"Internal server error"}` || r.header.Get("x-failed-in") != "outbound" {
		t.Fatalf("got %d %q x-failed-in=%q", r.status, r.body, r.header.Get("x-failed-in"))
	}
	if strings.Contains(r.body, "upstream") {
		t.Errorf("the upstream's body leaked through")
	}
}
