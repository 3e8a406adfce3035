package envoytest

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/corpus"
)

// TestRetry_throughEnvoy: the corpus's retry policy (examples/policies/
// retry.yaml, its service over plain HTTP here) against a service that
// stays unavailable makes exactly three calls, the last after Envoy waited
// a second without holding the worker; a retry whose condition never turns
// false and whose count an expression makes huge ends after 51 calls.
func TestRetry_throughEnvoy(t *testing.T) {
	var calls atomic.Int32
	svc := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(503)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	go svc.Serve(ln)
	t.Cleanup(func() { svc.Close() })

	forever := `<policies><inbound>
  <retry condition="true" count="@(2147483647)" interval="0">
    <send-request mode="new" response-variable-name="check" timeout="5" ignore-error="true">
      <set-url>http://validation.contoso.com/check</set-url>
    </send-request>
  </retry>
</inbound></policies>`
	cfg := func(p string) string {
		b, _ := json.Marshal(map[string]any{"policy": p, "upstreams": map[string]string{"validation.contoso.com": "validation"}})
		return string(b)
	}
	plain := strings.Replace(corpus.ExamplePolicy(envoyrun.Root(), "policies/retry.yaml"), "https://validation.contoso.com", "http://validation.contoso.com", 1)
	runShared(t, envoyrun.Params{Clusters: []envoyrun.Cluster{{Name: "validation", Port: port}}}, []listenerTest{
		{"a service that stays unavailable: three calls, one wait", envoyrun.Listener{PluginConfig: cfg(plain)}, func(t *testing.T, s *stack) {
			calls.Store(0)
			start := time.Now()
			if r := s.do(t, "GET", "/orders", nil, ""); r.status != 502 {
				t.Fatalf("status %d %q", r.status, r.body)
			}
			if n, took := calls.Load(), time.Since(start); n != 3 || took < 900*time.Millisecond {
				t.Errorf("%d calls in %v, want 3 with a wait of about a second", n, took)
			}
		}},
		{"a retry that would loop forever ends after 51 calls", envoyrun.Listener{PluginConfig: cfg(forever)}, func(t *testing.T, s *stack) {
			calls.Store(0)
			if r := s.do(t, "GET", "/orders", nil, ""); r.status != 200 {
				t.Fatalf("status %d %q", r.status, r.body)
			}
			if n := calls.Load(); n != 51 {
				t.Errorf("%d calls, want 51 (count bounded to 50)", n)
			}
		}},
	})
}
