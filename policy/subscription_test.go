package policy

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

var subNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func subGateway(t testing.TB, subs []Subscription, extra ...API) *Gateway {
	t.Helper()
	open := false
	apis := append([]API{
		{Name: "orders", PathPrefix: "/orders", Policy: `<policies><inbound><base/><set-header name="x-api" exists-action="override"><value>orders</value></set-header></inbound></policies>`},
		{Name: "invoices", PathPrefix: "/invoices", KeyNames: KeyNames{Header: "x-api-key", Query: "key"}},
		{Name: "status", PathPrefix: "/status", SubscriptionRequired: &open},
		{Name: "admin", PathPrefix: "/admin"},
	}, extra...)
	products := []Product{{ID: "starter", Name: "Starter", APIs: []string{"orders", "invoices"},
		Policy: `<policies><inbound><set-header name="x-product" exists-action="override"><value>@(context.Product.Name + "/" + context.Subscription.Id)</value></set-header><base/></inbound></policies>`}}
	g, err := CompileGateway(Config{Policy: `<policies><inbound><set-header name="x-global" exists-action="override"><value>g</value></set-header></inbound></policies>`,
		APIs: apis, Products: products, Subscriptions: subs}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// subRun routes and subscribes a request and runs its inbound: the status
// (0 when it goes on), the refusal's reason, and the upstream's headers.
func subRun(t *testing.T, g *Gateway, h headers) (int, string, map[string]string) {
	t.Helper()
	prog, params := g.Route(h[":authority"], h[":method"], h[":path"])
	prog, sub := g.Subscribe(prog, h, subNow)
	x := prog.NewExec(h, params)
	x.SetSubscription(sub)
	r := x.Inbound()
	if r.Action == Respond {
		return r.Status, x.LastError().Reason, nil
	}
	out := map[string]string{}
	for _, e := range r.Edits {
		if e.Values != nil {
			out[e.Name] = e.Values[0]
		}
	}
	return 0, "", out
}

func req(path string, kv ...string) headers {
	h := headers{":method": "GET", ":path": path, ":authority": "api.example.com"}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

func TestSubscriptions(t *testing.T) {
	subs := []Subscription{
		{ID: "acme-starter", Scope: "product:starter", PrimaryKey: KeyDigest("acme-primary"), SecondaryKey: KeyDigest("acme-secondary")},
		{ID: "acme-orders", Scope: "api:orders", PrimaryKey: KeyDigest("orders-only")},
		{ID: "ops-all", Scope: "all", PrimaryKey: KeyDigest("ops-key")},
		{ID: "suspended", Scope: "all", State: "suspended", PrimaryKey: KeyDigest("suspended-key")},
		{ID: "ended", Scope: "all", EndDate: subNow.Add(-time.Hour), PrimaryKey: KeyDigest("ended-key")},
		{ID: "future", Scope: "all", StartDate: subNow.Add(time.Hour), PrimaryKey: KeyDigest("future-key")},
	}
	g := subGateway(t, subs)
	const key = "ocp-apim-subscription-key"
	for _, tc := range []struct {
		name   string
		req    headers
		status int
		reason string
		want   map[string]string // upstream headers that must be set
	}{
		{"primary key, product scope: the product's policy runs", req("/orders/1", key, "acme-primary"), 0, "", map[string]string{"x-product": "Starter/acme-starter", "x-api": "orders", "x-global": "g"}},
		{"secondary key", req("/orders/1", key, "acme-secondary"), 0, "", map[string]string{"x-product": "Starter/acme-starter"}},
		{"rotated-out key", req("/orders/1", key, "acme-old"), 401, "SubscriptionKeyInvalid", nil},
		{"missing key", req("/orders/1"), 401, "SubscriptionKeyNotFound", nil},
		{"empty key", req("/orders/1", key, ""), 401, "SubscriptionKeyNotFound", nil},
		{"key in the query", req("/orders/1?subscription-key=acme-primary"), 0, "", map[string]string{"x-product": "Starter/acme-starter"}},
		{"custom header name", req("/invoices/7", "x-api-key", "acme-primary"), 0, "", map[string]string{"x-product": "Starter/acme-starter"}},
		{"custom query name", req("/invoices/7?key=acme-primary"), 0, "", map[string]string{"x-product": "Starter/acme-starter"}},
		{"default header on an API with a custom one", req("/invoices/7", key, "acme-primary"), 401, "SubscriptionKeyNotFound", nil},
		{"API scope: its API", req("/orders/1", key, "orders-only"), 0, "", map[string]string{"x-api": "orders"}},
		{"API scope: another API", req("/invoices/1", "x-api-key", "orders-only"), 401, "SubscriptionKeyInvalid", nil},
		{"product scope: an API outside the product", req("/admin", key, "acme-primary"), 401, "SubscriptionKeyInvalid", nil},
		{"all APIs", req("/admin", key, "ops-key"), 0, "", map[string]string{"x-global": "g"}},
		{"suspended", req("/admin", key, "suspended-key"), 401, "SubscriptionKeyInvalid", nil},
		{"ended", req("/admin", key, "ended-key"), 401, "SubscriptionKeyInvalid", nil},
		{"not started", req("/admin", key, "future-key"), 401, "SubscriptionKeyInvalid", nil},
		{"open API without a key", req("/status"), 0, "", map[string]string{"x-global": "g"}},
		{"open API with a bad key", req("/status", key, "nope"), 0, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, reason, up := subRun(t, g, tc.req)
			if status != tc.status || reason != tc.reason {
				t.Fatalf("status %d %q, want %d %q", status, reason, tc.status, tc.reason)
			}
			for k, v := range tc.want {
				if up[k] != v {
					t.Errorf("upstream %s = %q, want %q", k, up[k], v)
				}
			}
			if tc.status == 0 && tc.want["x-product"] == "" && up["x-product"] != "" {
				t.Errorf("a product policy ran: %q", up["x-product"])
			}
		})
	}
	// The refusals are APIM's.
	prog, _ := g.Route("api.example.com", "GET", "/orders")
	p, _ := g.Subscribe(prog, req("/orders"), subNow)
	if r := p.NewExec(req("/orders"), nil).Inbound(); r.Body != `{"statusCode":401,"message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}` {
		t.Errorf("missing: %s", r.Body)
	}
	p, _ = g.Subscribe(prog, req("/orders", key, "x"), subNow)
	if r := p.NewExec(req("/orders"), nil).Inbound(); r.Body != `{"statusCode":401,"message":"Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}` {
		t.Errorf("invalid: %s", r.Body)
	}
}

// An open API still exposes a presented valid key's subscription.
func TestSubscriptions_context(t *testing.T) {
	g := subGateway(t, []Subscription{{ID: "s1", Name: "Contoso", Scope: "all", PrimaryKey: KeyDigest("k1"), EndDate: subNow.Add(24 * time.Hour)}},
		API{Name: "echo", PathPrefix: "/echo", SubscriptionRequired: new(bool), Policy: `<policies><inbound><set-header name="x-sub" exists-action="override"><value>@(context.Subscription == null ? "none" : context.Subscription.Name + "|" + context.Subscription.Key + "|" + context.Subscription.PrimaryKey + "|" + context.Subscription.EndDate.ToString("o"))</value></set-header></inbound></policies>`})
	_, _, up := subRun(t, g, req("/echo", "ocp-apim-subscription-key", "k1"))
	if up["x-sub"] != "Contoso|k1|k1|2026-06-02T00:00:00.0000000Z" {
		t.Errorf("x-sub = %q", up["x-sub"])
	}
	_, _, up = subRun(t, g, req("/echo"))
	if up["x-sub"] != "none" {
		t.Errorf("without a key: %q", up["x-sub"])
	}
}

func TestSubscriptions_loadErrors(t *testing.T) {
	apis := []API{{Name: "orders", PathPrefix: "/orders"}}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{APIs: apis, Subscriptions: []Subscription{{ID: "a b", Scope: "all", PrimaryKey: "x"}}}, `"id" must be 1 to 80 letters`},
		{Config{APIs: apis, Subscriptions: []Subscription{{ID: "a", Scope: "api:nope", PrimaryKey: "x"}}}, `"scope" must be "all", "api:<API name>" or "product:<product id>"`},
		{Config{APIs: apis, Subscriptions: []Subscription{{ID: "a", Scope: "all"}}}, `needs primaryKey or secondaryKey`},
		{Config{APIs: apis, Subscriptions: []Subscription{{ID: "a", Scope: "all", PrimaryKey: "x"}, {ID: "b", Scope: "all", PrimaryKey: "x"}}}, `a key of subscription "b" is also a key of "a"`},
		{Config{APIs: apis, Subscriptions: []Subscription{{ID: "a", Scope: "all", PrimaryKey: "x", State: "paused"}}}, `"state" must be active`},
		{Config{APIs: apis, Products: []Product{{ID: "p", APIs: []string{"nope"}}}}, `"apis" names "nope"`},
		{Config{Policy: "<policies/>", Subscriptions: []Subscription{{ID: "a", Scope: "all", PrimaryKey: "x"}}}, `products and subscriptions need "apis"`},
		{Config{APIs: []API{{Name: "orders", PathPrefix: "/orders", SubscriptionRequired: func() *bool { b := true; return &b }()}}}, `"subscriptionRequired" needs "subscriptions"`},
	} {
		_, err := CompileGateway(tc.cfg, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg.Subscriptions, err, tc.want)
		}
	}
}

// BenchmarkSubscribe: the key check of one request with 10 and with 10,000
// subscriptions configured. The lookup is by digest, so the two should
// cost the same (BENCHMARKS.md, "Subscriptions").
func BenchmarkSubscribe(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			subs := make([]Subscription, n)
			for i := range subs {
				subs[i] = Subscription{ID: "s" + strconv.Itoa(i), Scope: "all", PrimaryKey: KeyDigest("key-" + strconv.Itoa(i))}
			}
			g := subGateway(b, subs)
			prog, _ := g.Route("api.example.com", "GET", "/orders/1")
			r := req("/orders/1", "ocp-apim-subscription-key", "key-"+strconv.Itoa(n/2))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, s := g.Subscribe(prog, r, subNow); s == nil {
					b.Fatal("not subscribed")
				}
			}
		})
	}
}

// A product that requires no subscription: its APIs answer without a key,
// under its policy; a key still works as usual.
func TestSubscriptions_openProduct(t *testing.T) {
	g, err := CompileGateway(Config{
		APIs:          []API{{Name: "catalog", PathPrefix: "/catalog", Policy: `<policies><inbound><base/><set-header name="x-product" exists-action="override"><value>@(context.Product == null ? "-" : context.Product.Id)</value></set-header><set-header name="x-sub" exists-action="override"><value>@(context.Subscription == null ? "-" : context.Subscription.Id)</value></set-header></inbound></policies>`}},
		Products:      []Product{{ID: "free", APIs: []string{"catalog"}, Open: true, Policy: `<policies><inbound><set-header name="x-free" exists-action="override"><value>yes</value></set-header><base/></inbound></policies>`}},
		Subscriptions: []Subscription{{ID: "paid", Scope: "all", PrimaryKey: KeyDigest("paid-key")}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	status, _, up := subRun(t, g, req("/catalog/1"))
	if status != 0 || up["x-free"] != "yes" || up["x-product"] != "free" || up["x-sub"] != "-" {
		t.Errorf("without a key: %d %v", status, up)
	}
	status, _, up = subRun(t, g, req("/catalog/1", "ocp-apim-subscription-key", "paid-key"))
	if status != 0 || up["x-free"] != "" || up["x-sub"] != "paid" {
		t.Errorf("with a key: %d %v", status, up)
	}
	_, err = CompileGateway(Config{APIs: []API{{Name: "catalog", PathPrefix: "/catalog"}},
		Products: []Product{{ID: "a", APIs: []string{"catalog"}, Open: true}, {ID: "b", APIs: []string{"catalog"}, Open: true}}}, Options{})
	if err == nil || !strings.Contains(err.Error(), `API "catalog" is in two products that require no subscription`) {
		t.Errorf("two open products: %v", err)
	}
}

// A preflight carries no key: the route's cors answers it; without a cors
// on the route, an OPTIONS request needs a key like any other.
func TestSubscriptions_preflight(t *testing.T) {
	cors := `<policies><inbound><cors><allowed-origins><origin>https://app.example.com</origin></allowed-origins><allowed-methods><method>GET</method></allowed-methods></cors><base/></inbound></policies>`
	g, err := CompileGateway(Config{
		APIs:          []API{{Name: "web", PathPrefix: "/web", Policy: cors}, {Name: "plain", PathPrefix: "/plain"}},
		Subscriptions: []Subscription{{ID: "s", Scope: "all", PrimaryKey: KeyDigest("k")}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pre := func(path string) headers {
		return headers{":method": "OPTIONS", ":path": path, ":authority": "api.example.com", "origin": "https://app.example.com", "access-control-request-method": "GET"}
	}
	prog, _ := g.Route("api.example.com", "OPTIONS", "/web/x")
	p, _ := g.Subscribe(prog, pre("/web/x"), subNow)
	if r := p.NewExec(pre("/web/x"), nil).Inbound(); r.Action != Respond || r.Status != 200 || !r.Preflight {
		t.Errorf("preflight on a cors route: %+v", r)
	}
	prog, _ = g.Route("api.example.com", "OPTIONS", "/plain/x")
	if p, _ := g.Subscribe(prog, pre("/plain/x"), subNow); p != prog.refusals[0] || p.inbound[0] != g.subs.missing.inbound[0] {
		t.Error("an OPTIONS request without a cors on its route did not need a key")
	} else if p.API != "plain" {
		t.Errorf("the refusal names API %q, want the route's, plain (its security event says which API refused)", p.API)
	}
}

// An API that requires a subscription but is also in an open product is
// open to requests without a key, as APIM documents; the gateway loads it
// and says so (issue #26).
func TestSubscriptions_requiredButOpen(t *testing.T) {
	yes := true
	g, err := CompileGateway(Config{
		APIs:          []API{{Name: "catalog", PathPrefix: "/catalog", SubscriptionRequired: &yes}, {Name: "orders", PathPrefix: "/orders", SubscriptionRequired: &yes}},
		Products:      []Product{{ID: "free", APIs: []string{"catalog"}, Open: true}},
		Subscriptions: []Subscription{{ID: "s", Scope: "all", PrimaryKey: KeyDigest("k")}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := `apis[catalog]: "subscriptionRequired" is true, but the API is in product "free", which requires no subscription: as in APIM, a request without a key is admitted, under that product's policy`
	if w := g.Warnings(); len(w) != 1 || w[0] != want {
		t.Errorf("warnings %q, want exactly %q", w, want)
	}
	for path, wantKey := range map[string]bool{"/catalog/1": false, "/orders/1": true} {
		prog, _ := g.Route("api.example.com", "GET", path)
		p, _ := g.Subscribe(prog, headers{":method": "GET", ":path": path}, subNow)
		if got := p == prog.refusals[0]; got != wantKey {
			t.Errorf("%s without a key: refused %v, want %v", path, got, wantKey)
		}
	}
}
