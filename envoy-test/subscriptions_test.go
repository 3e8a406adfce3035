package envoytest

import (
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/policy"
)

// Keys the clients hold. The configuration has only their digests, or a
// named value from the VM's environment.
const (
	acmePrimary   = "acme-primary-0a1b2c3d4e5f"
	acmeSecondary = "acme-secondary-6a7b8c9d0e1f"
	acmeRotated   = "acme-primary-OLD-99887766"
	ordersOnly    = "orders-only-key-55443322"
	opsAll        = "ops-all-apis-key-11223344"
	suspendedKey  = "suspended-key-66778899"
	expiredKey    = "expired-key-00998877aa"
)

// A product with two APIs and a product policy; subscriptions scoped to
// the product, to one API and to all APIs; primary and secondary keys;
// suspended and expired subscriptions; header and query keys with default
// and custom names. The key stays on the request to the backend, as APIM
// keeps it; it never appears in Envoy's log.
func TestSubscriptions_throughEnvoy(t *testing.T) {
	sha := func(k string) string { return `"sha256:` + policy.KeyDigest(k) + `"` }
	cfg := `{
  "policy": "<policies><inbound><set-header name=\"x-global\" exists-action=\"override\"><value>g</value></set-header></inbound></policies>",
  "apis": [
    {"name": "orders", "pathPrefix": "/orders",
     "policy": "<policies><inbound><base/><set-header name=\"x-subscription\" exists-action=\"override\"><value>@(context.Subscription.Id + \"/\" + (context.Product == null ? \"-\" : context.Product.Id) + \"/\" + (context.User == null ? \"-\" : context.User.Email))</value></set-header></inbound></policies>"},
    {"name": "invoices", "pathPrefix": "/invoices", "subscriptionKeyParameterNames": {"header": "x-api-key", "query": "key"}},
    {"name": "admin", "pathPrefix": "/admin"},
    {"name": "status", "pathPrefix": "/status", "subscriptionRequired": false}
  ],
  "products": [{"id": "starter", "name": "Starter", "apis": ["orders", "invoices"],
    "policy": "<policies><inbound><set-header name=\"x-product\" exists-action=\"override\"><value>@(context.Product.Name)</value></set-header><base/></inbound></policies>"},
    {"id": "free", "apis": ["status"], "subscriptionRequired": false}],
  "subscriptions": [
    {"id": "acme-starter", "name": "Acme", "scope": "product:starter", "primaryKey": "{{ACME_PRIMARY}}", "secondaryKey": ` + sha(acmeSecondary) + `,
     "user": {"id": "u1", "email": "dev@acme.example", "firstName": "Ada", "lastName": "Acme"}},
    {"id": "acme-orders", "scope": "api:orders", "primaryKey": ` + sha(ordersOnly) + `},
    {"id": "ops", "scope": "all", "primaryKey": ` + sha(opsAll) + `},
    {"id": "paused", "scope": "all", "state": "suspended", "primaryKey": ` + sha(suspendedKey) + `},
    {"id": "old", "scope": "all", "endDate": "` + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + `", "primaryKey": ` + sha(expiredKey) + `}
  ]}`
	st := startStack(t, envoyrun.Params{PluginConfig: cfg, Env: map[string]string{"ACME_PRIMARY": acmePrimary}})
	const hdr = "Ocp-Apim-Subscription-Key"
	h := func(name, key string) map[string][]string { return map[string][]string{name: {key}} }
	missing := `{"statusCode":401,"message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}`
	invalid := `{"statusCode":401,"message":"Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}`
	for _, tc := range []struct {
		name    string
		path    string
		headers map[string][]string
		body    string            // "" for 200
		want    map[string]string // upstream headers
	}{
		{"primary key (from the VM environment), product scope", "/orders/1", h(hdr, acmePrimary), "", map[string]string{"x-product": "Starter", "x-subscription": "acme-starter/starter/dev@acme.example", "x-global": "g", hdr: acmePrimary}},
		{"secondary key (a digest)", "/orders/1", h(hdr, acmeSecondary), "", map[string]string{"x-product": "Starter"}},
		{"a rotated-out key", "/orders/1", h(hdr, acmeRotated), invalid, nil},
		{"no key", "/orders/1", nil, missing, nil},
		{"key in the query", "/orders/1?subscription-key=" + acmePrimary, nil, "", map[string]string{"x-product": "Starter"}},
		{"custom header name", "/invoices/9", h("x-api-key", acmePrimary), "", map[string]string{"x-product": "Starter"}},
		{"custom query name", "/invoices/9?key=" + acmeSecondary, nil, "", map[string]string{"x-product": "Starter"}},
		{"the default header where the API has its own", "/invoices/9", h(hdr, acmePrimary), missing, nil},
		{"API scope on its API", "/orders/2", h(hdr, ordersOnly), "", map[string]string{"x-subscription": "acme-orders/-/-", "x-product": ""}},
		{"API scope: a key for orders does not open invoices", "/invoices/2", h("x-api-key", ordersOnly), invalid, nil},
		{"product scope outside the product", "/admin/users", h(hdr, acmePrimary), invalid, nil},
		{"all APIs", "/admin/users", h(hdr, opsAll), "", map[string]string{"x-global": "g"}},
		{"suspended", "/admin/users", h(hdr, suspendedKey), invalid, nil},
		{"expired", "/admin/users", h(hdr, expiredKey), invalid, nil},
		{"an open API", "/status", nil, "", map[string]string{"x-global": "g"}},
	} {
		before := len(st.upstream.Requests())
		r := st.do(t, "GET", tc.path, tc.headers, "")
		if tc.body != "" {
			if r.status != 401 || r.body != tc.body || len(st.upstream.Requests()) != before {
				t.Errorf("%s: %d %q, want 401 %s and no upstream request", tc.name, r.status, r.body, tc.body)
			}
			continue
		}
		if r.status != 200 {
			t.Errorf("%s: %d %q", tc.name, r.status, r.body)
			continue
		}
		reqs := st.upstream.Requests()
		got := reqs[len(reqs)-1].Header
		for k, v := range tc.want {
			if got.Get(k) != v {
				t.Errorf("%s: the backend got %s %q, want %q", tc.name, k, got.Get(k), v)
			}
		}
	}
	// Each refusal's event names the API the request was routed to.
	for _, ev := range [][2]string{{"SubscriptionKeyNotFound", "orders"}, {"SubscriptionKeyInvalid", "invoices"}, {"SubscriptionKeyInvalid", "admin"}} {
		if !st.logged(`"policy":"subscription","reason":"` + ev[0] + `","status":401,"section":"inbound","api":"` + ev[1] + `"`) {
			t.Errorf("no security event with reason %s naming API %s", ev[0], ev[1])
		}
	}
	log := st.envoy.Log()
	for _, k := range []string{acmePrimary, acmeSecondary, acmeRotated, ordersOnly, opsAll, suspendedKey, expiredKey} {
		if strings.Contains(log, k) {
			t.Errorf("Envoy's log holds a key (%s...)", k[:6])
		}
	}
	var m map[string]string
	for i := 0; i < 20; i++ {
		if m = prometheus(t, st); m[`apimguard_subscription_requests{subscription="acme-starter"}`] == "5" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := m[`apimguard_subscription_requests{subscription="acme-starter"}`]; got != "5" {
		t.Errorf(`apimguard_subscription_requests{subscription="acme-starter"} = %q, want 5 (its valid requests)`, got)
	}
	// The open product's request has no subscription: no series for one.
	for name := range m {
		if strings.Contains(name, "subscription__") || strings.Contains(name, `subscription=""`) {
			t.Errorf("a subscription metric without an id: %s", name)
		}
	}
}
