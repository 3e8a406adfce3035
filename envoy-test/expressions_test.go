package envoytest

import (
	"testing"
)

// expressionBudgetPolicy loops forever, or doubles a string a client
// seeds forever, when the client asks; otherwise it sums the lengths of
// the items a client lists.
const expressionBudgetPolicy = `<policies><inbound>
  <choose>
    <when condition="@(context.Request.Headers.GetValueOrDefault("x-attack", "") == "loop")">
      <set-variable name="n" value="@{ var n = 0; while (true) { n++; } return n; }" />
    </when>
    <when condition="@(context.Request.Headers.GetValueOrDefault("x-attack", "") == "grow")">
      <set-variable name="s" value="@{ var s = context.Request.Headers.GetValueOrDefault("x-seed", "x"); while (true) { s = s + s; } return s; }" />
    </when>
  </choose>
  <set-header name="x-lengths" exists-action="override">
    <value>@{ int sum = 0; foreach (var p in context.Request.Headers.GetValueOrDefault("x-items", "").Split(',')) { sum += p.Length; } return sum.ToString(); }</value>
  </set-header>
</inbound></policies>`

// expressionBudgetThroughEnvoy: an expression that loops forever and one
// that grows a string without bound each fail within their budget (500,
// the backend never reached), are counted, and the worker serves the next
// request.
func expressionBudgetThroughEnvoy(t *testing.T, s *stack) {
	for _, attack := range []string{"loop", "grow"} {
		before := len(s.upstream.Requests())
		r := s.do(t, "GET", "/orders", map[string][]string{"x-attack": {attack}, "x-seed": {"abcdefgh"}}, "")
		if r.status != 500 || len(s.upstream.Requests()) != before {
			t.Errorf("%s: status %d %q, backend reached %d times", attack, r.status, r.body, len(s.upstream.Requests())-before)
		}
	}
	before := len(s.upstream.Requests())
	if r := s.do(t, "GET", "/orders", map[string][]string{"x-items": {"ab,cde,f"}}, ""); r.status != 200 {
		t.Fatalf("the next request: status %d %q", r.status, r.body)
	}
	if got := s.upstream.Requests()[before:]; len(got) != 1 || got[0].Header.Get("x-lengths") != "6" {
		t.Errorf("the next request reached the backend with %+v", got)
	}
	waitForStat(t, s, "apimguard_expression_budget_exceeded{} 2")
}
