package envoytest

import (
	"encoding/json"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/corpus"
)

// TestValueCache_twoWorkersThroughEnvoy: the corpus's token-caching policy
// (examples/policies/cache-value.yaml) in an Envoy with two workers: the
// token endpoint is called once, whichever worker a request lands on. Then
// a key made of client input that falls into the same cache slot as
// another client's never reads that client's value.
func TestValueCache_twoWorkersThroughEnvoy(t *testing.T) {
	ca := newTestCA(t)
	var calls atomic.Int32
	port := serveHTTPS(t, ca, "login.contoso.com", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token": "backend-token-1", "token_type": "Bearer"}`))
	})

	profiles := `<cache-lookup-value key="@(&quot;profile-&quot; + context.Request.Headers.GetValueOrDefault(&quot;x-user&quot;, &quot;&quot;))" variable-name="profile" default-value="none" />
<choose><when condition="@(context.Request.Headers.ContainsKey(&quot;x-store&quot;))">
  <cache-store-value key="@(&quot;profile-&quot; + context.Request.Headers.GetValueOrDefault(&quot;x-user&quot;, &quot;&quot;))" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-store&quot;, &quot;&quot;))" duration="60" />
</when></choose>
<set-header name="x-profile" exists-action="override"><value>@((string)context.Variables[&quot;profile&quot;])</value></set-header>
</inbound>`
	policy := strings.Replace(corpus.ExamplePolicy(envoyrun.Root(), "policies/cache-value.yaml"), "</inbound>", profiles, 1)
	cfg, _ := json.Marshal(map[string]any{"policy": policy, "namedValues": map[string]string{"token-secret": "cs-0c1d2e3f"},
		"upstreams": map[string]string{"login.contoso.com": "token-endpoint"}})
	st := startStackWith(t, 0, envoyrun.StartOptions{Concurrency: 2}, envoyrun.Params{PluginConfig: string(cfg),
		Clusters: []envoyrun.Cluster{{Name: "token-endpoint", Port: port, CAFile: ca.caFile(), SNI: "login.contoso.com"}}})

	get := func(h map[string][]string) envoyrun.Received {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		if r := st.doWith(t, c, "GET", "/orders", h, ""); r.status != 200 {
			t.Fatalf("status %d (%s)", r.status, r.body)
		}
		reqs := st.upstream.Requests()
		return reqs[len(reqs)-1]
	}
	for i := 0; i < 20; i++ {
		if got := get(nil).Header.Get("Authorization"); got != "Bearer backend-token-1" {
			t.Fatalf("request %d: the backend got %q", i, got)
		}
	}
	workers := workerConnections(t, st)
	if len(workers) != 2 || workers[0] == 0 || workers[1] == 0 {
		t.Fatalf("connections per worker %v: the test needs both workers", workers)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the token endpoint was called %d times for 20 requests on two workers, want 1", n)
	}

	// A user name whose key falls into alice's slot.
	slot := func(key string) uint32 { h := fnv.New32a(); h.Write([]byte(key)); return h.Sum32() % 512 }
	mallory := ""
	for i := 0; mallory == ""; i++ {
		if name := "m" + strconv.Itoa(i); slot("profile-"+name) == slot("profile-alice") {
			mallory = name
		}
	}
	get(map[string][]string{"x-user": {"alice"}, "x-store": {"alice-secret"}})
	if got := get(map[string][]string{"x-user": {mallory}}).Header.Get("x-profile"); got != "none" {
		t.Fatalf("a colliding key read %q", got)
	}
	if got := get(map[string][]string{"x-user": {"alice"}}).Header.Get("x-profile"); got != "alice-secret" {
		t.Fatalf("alice's own value: %q", got)
	}
	// Storing under the colliding key evicts alice's entry (best effort,
	// counted); alice never reads mallory's value.
	get(map[string][]string{"x-user": {mallory}, "x-store": {"mallory-value"}})
	if got := get(map[string][]string{"x-user": {"alice"}}).Header.Get("x-profile"); got != "none" {
		t.Fatalf("alice after the eviction: %q", got)
	}
	// Counters reach Envoy on the plugin's next tick.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(st.admin(t, "/stats?filter=cache_evictions"), "cache_evictions: 1"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no eviction counted: %s", st.admin(t, "/stats?filter=cache"))
		}
	}
	if strings.Contains(st.envoy.Log(), "alice-secret") || strings.Contains(st.envoy.Log(), "backend-token-1") {
		t.Error("a cached value is in Envoy's log")
	}
}
