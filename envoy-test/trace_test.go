package envoytest

import (
	"strconv"
	"strings"
	"testing"
)

// tracePolicy traces every request at information, and at verbose, which
// Envoy's info log level does not print.
const tracePolicy = `<policies><inbound>
  <trace source="orders-trace" severity="information">
    <message>@("order " + context.Request.Headers.GetValueOrDefault("x-order", "?"))</message>
    <metadata name="channel" value="web" />
  </trace>
  <trace source="orders-verbose"><message>not at info</message></trace>
</inbound></policies>`

// traceThroughEnvoy: a record is one JSON line in Envoy's log at its
// severity; a flood of requests writes a few lines a second and a summary,
// not one line each.
func traceThroughEnvoy(t *testing.T, s *stack) {
	if r := s.do(t, "GET", "/orders", map[string][]string{"x-order": {"42"}}, ""); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if !s.logged(`{"event":"trace","source":"orders-trace","severity":"information","message":"order 42","metadata":{"channel":"web"},"api":"","operation":"","requestId":"`) {
		t.Fatal("no trace line")
	}
	if strings.Contains(s.envoy.Log(), "not at info") {
		t.Error("a verbose trace was written at Envoy's info level")
	}
	for i := 0; i < 60; i++ {
		s.do(t, "GET", "/orders", map[string][]string{"x-order": {"flood-" + strconv.Itoa(i)}}, "")
	}
	if !s.logged(`{"event":"suppressed","policy":"trace","reason":"orders-trace","count":`) {
		t.Error("no summary of the suppressed trace lines")
	}
	if n := strings.Count(s.envoy.Log(), `"message":"order flood-`); n >= 60 {
		t.Errorf("%d trace lines for 60 requests: not rate-limited", n)
	}
}
