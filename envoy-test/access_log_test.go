package envoytest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// accessLogConfig checks a key on the orders API; its listener logs every
// request with the plugin's decision.
const accessLogConfig = `{"policy": "<policies><inbound><check-header name=\"x-api-key\" failed-check-httpcode=\"401\" failed-check-error-message=\"Missing key\" ignore-case=\"false\"><value>k-1</value></check-header></inbound></policies>",
  "apis": [{"name": "orders", "pathPrefix": "/orders", "operations": [{"name": "get-order", "method": "GET", "urlTemplate": "/{id}"}]}],
  "accessLog": true}`

// accessLogThroughEnvoy: the access-log line of an allowed and of a denied
// request carries the plugin's decision (filter state wasm.apimguard), as an
// operator's access logger prints it, and never the key the client sent.
func accessLogThroughEnvoy(t *testing.T, s *stack) {
	if r := s.do(t, "GET", "/orders/7?trace=1", map[string][]string{"x-api-key": {"k-1"}}, ""); r.status != 200 {
		t.Fatalf("with the key: %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/orders/8", map[string][]string{"x-api-key": {"wrong-secret-9"}}, ""); r.status != 401 {
		t.Fatalf("a wrong key: %d %s", r.status, r.body)
	}
	want := map[string]map[string]any{
		"GET /orders/7?trace=1 200": {"decision": "allowed", "api": "orders", "operation": "get-order"},
		"GET /orders/8 401": {"decision": "denied", "status": float64(401), "policy": "check-header", "reason": "HeaderValueNotAllowed",
			"section": "inbound", "api": "orders", "operation": "get-order"},
	}
	for prefix, fields := range want {
		line := accessLine(t, s, "access "+prefix+" ")
		if strings.Contains(line, "wrong-secret-9") {
			t.Errorf("the access log shows the key the client sent: %s", line)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "access "+prefix+" ")), &got); err != nil {
			t.Fatalf("%s: the decision is not JSON: %q (%v)", prefix, line, err)
		}
		if len(got) != len(fields) {
			t.Errorf("%s: got %v, want %v", prefix, got, fields)
		}
		for k, v := range fields {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v (%s)", prefix, k, got[k], v, line)
			}
		}
	}
}

// accessLine waits for the access-log line that starts with prefix (Envoy
// writes access logs on its own flush interval).
func accessLine(t *testing.T, s *stack, prefix string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		for _, l := range strings.Split(s.envoy.Log(), "\n") {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line %q in Envoy's output", prefix)
		}
	}
}
