package envoytest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// prometheus reads Envoy's /stats/prometheus into "name{labels}" → value.
func prometheus(t *testing.T, s *stack) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(s.admin(t, "/stats/prometheus"), "\n") {
		if strings.HasPrefix(l, "apimguard_") {
			if i := strings.LastIndexByte(l, ' '); i > 0 {
				out[l[:i]] = l[i+1:]
			}
		}
	}
	return out
}

// stackKey is the key that keyStack's check-header wants.
const stackKey = "Sup3r-Secret-Key-91"

// keyStack runs the seed's cors and a check-header on x-api-key (401 when it
// fails) against the named value api-key.
func keyStack(t *testing.T) *stack {
	t.Helper()
	policy := "<policies>\n<inbound>\n" + seedCORS + `
<check-header name="x-api-key" failed-check-httpcode="401"><value>{{api-key}}</value></check-header>
</inbound>
</policies>`
	return startStack(t, envoyrun.Params{PluginConfig: policy, Env: map[string]string{"api-key": stackKey}})
}

func TestTelemetry_throughEnvoy(t *testing.T) {
	s := keyStack(t)
	secrets := []string{"Wrong-Key-Attempt-1", "Wrong-Key-Attempt-2", "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl", "session=Cookie-Secret-77", "Query-Secret-55"}
	send := func(n int, h map[string][]string, path string) {
		for i := 0; i < n; i++ {
			s.do(t, "GET", path, h, "")
		}
	}
	send(3, map[string][]string{"x-api-key": {stackKey}}, "/orders")
	send(2, map[string][]string{"Authorization": {"Bearer " + secrets[2]}, "Cookie": {secrets[3]}}, "/orders?api_key="+secrets[4])
	send(2, map[string][]string{"x-api-key": {secrets[0]}}, "/orders")
	send(2, map[string][]string{"x-api-key": {secrets[1]}, "x-request-id": {"req-7"}}, "/orders/7")
	s.do(t, "OPTIONS", "/orders", map[string][]string{"Origin": {"https://myapp.com"}, "Access-Control-Request-Method": {"GET"}}, "")

	want := map[string]string{
		`apimguard_requests{}`:   "10",
		`apimguard_allowed{}`:    "3",
		`apimguard_preflights{}`: "1",
		`apimguard_denied{policy="check-header",reason="HeaderNotFound"}`:        "2",
		`apimguard_denied{policy="check-header",reason="HeaderValueNotAllowed"}`: "4",
	}
	// The plugin hands its counts to Envoy on its 200 ms tick: wait for
	// them, then check them exactly.
	var got map[string]string
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got = prometheus(t, s)
		if got[`apimguard_requests{}`] == "10" || time.Now().After(deadline) {
			break
		}
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %q, want %s", name, got[name], v)
		}
	}

	var events []map[string]any
	// The log reaches the test through a pipe, after the responses.
	for deadline := time.Now().Add(5 * time.Second); strings.Count(s.envoy.Log(), `{"event":`) < 6 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	log := s.envoy.Log()
	for _, line := range strings.Split(log, "\n") {
		if i := strings.Index(line, `{"event":`); i >= 0 {
			var e map[string]any
			if err := json.Unmarshal([]byte(line[i:]), &e); err != nil {
				t.Fatalf("event is not JSON: %s", line)
			}
			events = append(events, e)
		}
	}
	if len(events) != 6 {
		t.Fatalf("%d events, want one per denial (6)", len(events))
	}
	last := events[5]
	// At the edge Envoy makes its own x-request-id rather than trusting the
	// client's, and the event carries Envoy's.
	if id, _ := last["requestId"].(string); len(id) != 36 || id == "req-7" {
		t.Errorf("requestId = %q, want Envoy's UUID", id)
	}
	if last["event"] != "deny" || last["policy"] != "check-header" || last["reason"] != "HeaderValueNotAllowed" || last["status"] != float64(401) ||
		last["path"] != "/orders/7" || last["method"] != "GET" || last["clientIp"] != "127.0.0.1" || last["section"] != "inbound" {
		t.Errorf("event = %v", last)
	}
	if events[0]["path"] != "/orders" || events[0]["reason"] != "HeaderNotFound" {
		t.Errorf("first event = %v (the query string must not be logged)", events[0])
	}
	for _, secret := range append(secrets, stackKey) {
		if strings.Contains(log, secret) {
			t.Errorf("Envoy's log contains a presented secret %q", secret)
		}
	}
}
