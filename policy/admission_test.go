package policy

import "testing"

// Begin admits a request in one order whatever the host: route, TLS floor,
// preflight, subscription; the Exec it readies runs the program it returns.
func TestBegin(t *testing.T) {
	cors := `<policies><inbound><cors><allowed-origins><origin>https://app.example.com</origin></allowed-origins><allowed-methods><method>GET</method></allowed-methods></cors><base/></inbound></policies>`
	g, err := CompileGateway(Config{
		APIs:          []API{{Name: "web", PathPrefix: "/web", Policy: cors}},
		Subscriptions: []Subscription{{ID: "s", Scope: "all", PrimaryKey: KeyDigest("a-key-of-sixteen-chars")}},
		TLS:           TLSFloor{MinVersion: "1.3"},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	get := headers{":method": "GET", ":path": "/web/x", ":authority": "api.example.com", "ocp-apim-subscription-key": "a-key-of-sixteen-chars"}
	preflight := headers{":method": "OPTIONS", ":path": "/web/x", ":authority": "api.example.com", "origin": "https://app.example.com", "access-control-request-method": "GET"}
	for _, tc := range []struct {
		name   string
		req    Request
		status int    // 0: goes on
		api    string // the program's API
		sub    string // context.Subscription.Id
	}{
		{"TLS 1.3 with a key", tlsHeaders{get, "TLSv1.3"}, 0, "web", "s"},
		{"TLS 1.2: the floor refuses before the subscription", tlsHeaders{get, "TLSv1.2"}, 403, "", ""},
		{"no TLS reporter: plain text, refused", get, 403, "", ""},
		{"a preflight needs no key; its cors answers", tlsHeaders{preflight, "TLSv1.3"}, 200, "web", ""},
		{"no key", tlsHeaders{headers{":method": "GET", ":path": "/web/x", ":authority": "api.example.com"}, "TLSv1.3"}, 401, "web", ""},
		{"an authority that is not one host", tlsHeaders{headers{":method": "GET", ":path": "/web/x", ":authority": "a.example.com, b.example.com"}, "TLSv1.3"}, 400, "", ""},
	} {
		var x Exec
		prog := g.Begin(&x, tc.req, subNow)
		r := x.Inbound()
		if got := map[bool]int{true: r.Status, false: 0}[r.Action == Respond]; got != tc.status {
			t.Errorf("%s: status %d, want %d (%+v)", tc.name, got, tc.status, r)
		}
		if prog.API != tc.api {
			t.Errorf("%s: the program's API %q, want %q", tc.name, prog.API, tc.api)
		}
		sub := ""
		if s := x.Subscription(); s != nil {
			sub = s.ID
		}
		if sub != tc.sub {
			t.Errorf("%s: subscription %q, want %q", tc.name, sub, tc.sub)
		}
	}
}
