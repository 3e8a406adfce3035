//go:build !wasip1

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

const ordersKey = "ok-5d1f"

// ordersConfig is examples/orders as the JSON plugin configuration.
func ordersConfig(t testing.TB) string {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "examples", "orders", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cfg := map[string]any{
		"policy": read("global.xml"),
		"apis": []any{map[string]any{
			"name": "orders", "pathPrefix": "/orders", "policy": read("orders-api.xml"),
			"operations": []any{map[string]any{"name": "order-by-id", "method": "*", "urlTemplate": "/{id}", "policy": read("order-by-id.xml")}},
		}},
		"namedValues": map[string]string{"orders-key": ordersKey},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exchange sends a request and, when it reaches upstream, an upstream
// response with status 200, through the plugin.
func (p *plugin) exchange(method, path string, headers ...[2]string) (o outcome, respHeaders [][2]string) {
	id := p.host.InitializeHttpContext()
	hs := append([][2]string{{":method", method}, {":path", path}, {":authority", "api.contoso.com"}, {":scheme", "https"}}, headers...)
	o.action = p.host.CallOnRequestHeaders(id, hs, true)
	o.local = p.host.GetSentLocalResponse(id)
	o.upstream = p.host.GetCurrentRequestHeaders(id)
	if o.local == nil && o.action == types.ActionContinue {
		p.host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {"content-type", "application/json"}}, false)
		respHeaders = p.host.GetCurrentResponseHeaders(id)
		o.local = p.host.GetSentLocalResponse(id)
	}
	p.host.CompleteHttpContext(id)
	return o, respHeaders
}

// The examples/orders policy set, through the plugin natively and as .wasm.
func TestScopes_ordersExample(t *testing.T) {
	key := [2]string{"x-api-key", ordersKey}
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		p := mustStart(t, vm, ordersConfig(t))

		t.Run("operation: GET with key reaches upstream", func(t *testing.T) {
			o, resp := p.exchange("GET", "/orders/42", key)
			if o.local != nil {
				t.Fatalf("denied: %d %s", o.local.StatusCode, o.local.Data)
			}
			if got := headerValue(o.upstream, "x-gateway"); got != "apimguard" {
				t.Errorf("upstream x-gateway = %q (global inbound)", got)
			}
			if got := headerValue(o.upstream, "x-order-id"); got != "42" {
				t.Errorf("upstream x-order-id = %q (operation inbound)", got)
			}
			if got := headerValue(resp, "x-api"); got != "orders" {
				t.Errorf("response x-api = %q (global outbound, variable from the API scope)", got)
			}
		})
		t.Run("API: missing key goes through on-error", func(t *testing.T) {
			o, _ := p.exchange("GET", "/orders/42")
			if o.local == nil || o.local.StatusCode != 401 {
				t.Fatalf("want 401, got %+v", o.local)
			}
			if got, want := string(o.local.Data), `{"error":"HeaderNotFound","source":"check-header"}`; got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			if got := headerValue(o.local.Headers, "www-authenticate"); got != `ApiKey realm="orders"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
		t.Run("operation: DELETE without admin role is refused by return-response", func(t *testing.T) {
			o, _ := p.exchange("DELETE", "/orders/42", key)
			if o.local == nil || o.local.StatusCode != 403 || string(o.local.Data) != "only admins may delete order 42" {
				t.Fatalf("want 403 from return-response, got %+v", o.local)
			}
			if got := headerValue(o.local.Headers, "content-type"); got != "text/plain" {
				t.Errorf("content-type = %q", got)
			}
		})
		t.Run("operation: DELETE as admin passes", func(t *testing.T) {
			o, _ := p.exchange("DELETE", "/orders/42", key, [2]string{"x-role", "Admin"})
			if o.local != nil {
				t.Fatalf("denied: %d %s", o.local.StatusCode, o.local.Data)
			}
		})
		t.Run("no API: global only", func(t *testing.T) {
			o, resp := p.exchange("GET", "/health")
			if o.local != nil {
				t.Fatalf("denied: %d %s", o.local.StatusCode, o.local.Data)
			}
			if got := headerValue(o.upstream, "x-gateway"); got != "apimguard" {
				t.Errorf("upstream x-gateway = %q", got)
			}
			if got := headerValue(resp, "x-api"); got != "none" {
				t.Errorf("response x-api = %q", got)
			}
		})
	})
}
