package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimguard/apimguard/envoy-test/envoytest"
)

const ordersKey = "ok-2b7e"

// ordersConfig is examples/orders as the JSON plugin configuration.
func ordersConfig(t *testing.T) string {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(envoytest.Root(), "examples", "orders", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	b, err := json.Marshal(map[string]any{
		"policy": read("global.xml"),
		"apis": []any{map[string]any{
			"name": "orders", "pathPrefix": "/orders", "policy": read("orders-api.xml"),
			"operations": []any{map[string]any{"name": "order-by-id", "method": "*", "urlTemplate": "/{id}", "policy": read("order-by-id.xml")}},
		}},
		"namedValues": map[string]string{"orders-key": ordersKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestScopes_ordersExampleThroughEnvoy(t *testing.T) {
	s := startStack(t, envoytest.Params{PluginConfig: ordersConfig(t)})
	key := map[string][]string{"x-api-key": {ordersKey}}
	tests := []struct {
		name, method, path string
		headers            map[string][]string
		wantStatus         int
		wantBody           string
		wantHeader         [2]string // on the response
		wantUpstream       [2]string // on the request the upstream received
	}{
		{name: "operation: GET with key", method: "GET", path: "/orders/42", headers: key, wantStatus: 200,
			wantHeader: [2]string{"x-api", "orders"}, wantUpstream: [2]string{"x-order-id", "42"}},
		{name: "API: missing key through on-error", method: "GET", path: "/orders/42", wantStatus: 401,
			wantBody: `{"error":"HeaderNotFound","source":"check-header"}`, wantHeader: [2]string{"www-authenticate", `ApiKey realm="orders"`}},
		{name: "operation: DELETE without role", method: "DELETE", path: "/orders/42", headers: key, wantStatus: 403,
			wantBody: "only admins may delete order 42", wantHeader: [2]string{"content-type", "text/plain"}},
		{name: "operation: DELETE as admin", method: "DELETE", path: "/orders/7", headers: map[string][]string{"x-api-key": {ordersKey}, "x-role": {"admin"}}, wantStatus: 200,
			wantUpstream: [2]string{"x-order-id", "7"}},
		{name: "no API: global only", method: "GET", path: "/health", wantStatus: 200,
			wantHeader: [2]string{"x-api", "none"}, wantUpstream: [2]string{"x-gateway", "apimguard"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.upstream.Requests())
			r := s.do(t, tc.method, tc.path, tc.headers, "")
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", r.status, tc.wantStatus, r.body)
			}
			if tc.wantBody != "" && r.body != tc.wantBody {
				t.Errorf("body = %q, want %q", r.body, tc.wantBody)
			}
			if h := tc.wantHeader; h[0] != "" && r.header.Get(h[0]) != h[1] {
				t.Errorf("response %s = %q, want %q", h[0], r.header.Get(h[0]), h[1])
			}
			reqs := s.upstream.Requests()[before:]
			if tc.wantStatus != 200 {
				if len(reqs) != 0 {
					t.Errorf("a refused request reached the upstream")
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("upstream saw %d requests, want 1", len(reqs))
			}
			if h := tc.wantUpstream; h[0] != "" && reqs[0].Header.Get(h[0]) != h[1] {
				t.Errorf("upstream %s = %q, want %q", h[0], reqs[0].Header.Get(h[0]), h[1])
			}
		})
	}
}

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
