package envoytest

import (
	"encoding/json"
	"testing"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// TestSetBackendService_throughEnvoy: a request set-backend-service sends
// to another backend really leaves Envoy for that backend's cluster (its
// own server here), with its host and base path; a client that names a
// cluster itself, or makes a base URL of its own, never reaches it.
func TestSetBackendService_throughEnvoy(t *testing.T) {
	v2, err := envoyrun.StartUpstream("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v2.Close() })
	policy := `<policies><inbound>
  <choose>
    <when condition="@(context.Request.Headers.GetValueOrDefault(&quot;x-api-version&quot;, &quot;1&quot;) == &quot;2&quot;)">
      <set-backend-service backend-id="orders-v2" />
    </when>
    <when condition="@(context.Request.Headers.ContainsKey(&quot;x-base-url&quot;))">
      <set-backend-service base-url="@(context.Request.Headers.GetValueOrDefault(&quot;x-base-url&quot;, &quot;&quot;))" />
    </when>
  </choose>
</inbound></policies>`
	cfg, _ := json.Marshal(map[string]any{
		"policy":    policy,
		"backends":  map[string]any{"orders-v2": map[string]string{"url": "http://orders-v2.internal/api/v2"}},
		"upstreams": map[string]string{"orders-v2.internal": "orders-v2"},
	})
	st := startStack(t, envoyrun.Params{PluginConfig: string(cfg), Backends: true,
		Clusters: []envoyrun.Cluster{{Name: "orders-v2", Port: v2.Port()}}})

	count := func() (int, int) { return len(st.upstream.Requests()), len(v2.Requests()) }
	t.Run("version 2 reaches the orders-v2 backend", func(t *testing.T) {
		main0, v20 := count()
		if r := st.do(t, "GET", "/orders/42?x=1", map[string][]string{"x-api-version": {"2"}}, ""); r.status != 200 {
			t.Fatalf("status %d %q", r.status, r.body)
		}
		main1, v21 := count()
		if main1 != main0 || v21 != v20+1 {
			t.Fatalf("requests: the API's backend %d→%d, orders-v2 %d→%d", main0, main1, v20, v21)
		}
		got := v2.Requests()[v21-1]
		if got.Host != "orders-v2.internal" || got.Path != "/api/v2/orders/42?x=1" || got.Header.Get("x-apimguard-backend") != "" {
			t.Errorf("orders-v2 got host %q path %q x-apimguard-backend %q", got.Host, got.Path, got.Header.Get("x-apimguard-backend"))
		}
	})
	t.Run("a client naming the cluster itself stays on the API's backend", func(t *testing.T) {
		main0, v20 := count()
		if r := st.do(t, "GET", "/orders/42", map[string][]string{"x-apimguard-backend": {"orders-v2"}}, ""); r.status != 200 {
			t.Fatalf("status %d %q", r.status, r.body)
		}
		main1, v21 := count()
		if main1 != main0+1 || v21 != v20 {
			t.Fatalf("requests: the API's backend %d→%d, orders-v2 %d→%d", main0, main1, v20, v21)
		}
		if got := st.upstream.Requests()[main1-1].Header.Get("x-apimguard-backend"); got != "" {
			t.Errorf("the backend got the client's x-apimguard-backend %q", got)
		}
	})
	t.Run("a base URL a client makes up is a 500 that reaches no backend", func(t *testing.T) {
		for _, base := range []string{"http://internal-admin.svc/", "http://127.0.0.1:" + itoa(v2.Port()) + "/"} {
			main0, v20 := count()
			r := st.do(t, "GET", "/orders/42", map[string][]string{"x-base-url": {base}}, "")
			if r.status != 500 || r.body != `{"statusCode":500,"message":"Internal server error"}` {
				t.Errorf("%s: %d %q", base, r.status, r.body)
			}
			if main1, v21 := count(); main1 != main0 || v21 != v20 {
				t.Errorf("%s: a backend was reached", base)
			}
		}
	})
	t.Run("a base URL naming a configured host goes there", func(t *testing.T) {
		_, v20 := count()
		if r := st.do(t, "GET", "/orders/7", map[string][]string{"x-base-url": {"http://orders-v2.internal/v3"}}, ""); r.status != 200 {
			t.Fatalf("status %d %q", r.status, r.body)
		}
		if _, v21 := count(); v21 != v20+1 || v2.Requests()[v21-1].Path != "/v3/orders/7" {
			t.Errorf("orders-v2 got %d requests", v21-v20)
		}
	})
}
