package policy

import (
	"reflect"
	"testing"
)

// corsDoc puts a cors block in front of an API-key check.
func corsDoc(block string) string {
	return inboundDoc(block + `<check-header name="x-api-key" failed-check-httpcode="401"><value>k</value></check-header>`)
}

func preflight(origin, method, headers string) headers {
	h := get(map[string]string{":method": "OPTIONS", "origin": origin, "access-control-request-method": method})
	if headers != "" {
		h["access-control-request-headers"] = headers
	}
	return h
}

func TestCORS_seedPreflight(t *testing.T) {
	p := mustCompile(t, corsDoc(seedBlock("cors")), nil)
	tests := []struct {
		name string
		req  headers
		want Result
	}{
		{"matched preflight, auth not run", preflight("https://myapp.com", "POST", "Content-Type, Authorization"),
			Result{Action: Respond, Status: 200, Preflight: true, Headers: [][2]string{{"access-control-allow-origin", "https://myapp.com"}, {"vary", "Origin"},
				{"access-control-allow-methods", "GET,POST"}, {"access-control-allow-headers", "content-type,authorization"}}}},
		{"origin case and default port", preflight("HTTPS://MyApp.com:443", "GET", ""),
			Result{Action: Respond, Status: 200, Preflight: true, Headers: [][2]string{{"access-control-allow-origin", "HTTPS://MyApp.com:443"}, {"vary", "Origin"},
				{"access-control-allow-methods", "GET,POST"}, {"access-control-allow-headers", "content-type,authorization"}}}},
		{"method not allowed", preflight("https://myapp.com", "DELETE", ""), Result{Action: Respond, Status: 200, Preflight: true}},
		{"header not allowed", preflight("https://myapp.com", "POST", "x-api-key"), Result{Action: Respond, Status: 200, Preflight: true}},
		{"look-alike suffix", preflight("https://myapp.com.evil.com", "GET", ""), Result{Action: Respond, Status: 200, Preflight: true}},
		{"look-alike prefix", preflight("https://evil-myapp.com", "GET", ""), Result{Action: Respond, Status: 200, Preflight: true}},
		{"null origin", preflight("null", "GET", ""), Result{Action: Respond, Status: 200, Preflight: true}},
		{"other scheme", preflight("http://myapp.com", "GET", ""), Result{Action: Respond, Status: 200, Preflight: true}},
		{"other port", preflight("https://myapp.com:8443", "GET", ""), Result{Action: Respond, Status: 200, Preflight: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := p.NewExec(tc.req, nil)
			if r := x.Inbound(); !reflect.DeepEqual(r, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", r, tc.want)
			}
			if x.LastError() != nil {
				t.Error("the auth policy ran on a preflight")
			}
		})
	}
}

func TestCORS_actualRequests(t *testing.T) {
	p := mustCompile(t, corsDoc(seedBlock("cors")), nil)
	grant := [][2]string{{"access-control-allow-origin", "https://myapp.com"}, {"vary", "Origin"}}

	// Allowed origin, request passes: the grant is added to the upstream's response.
	x := p.NewExec(get(map[string]string{"origin": "https://myapp.com", "x-api-key": "k"}), nil)
	if r := x.Inbound(); r.Action != Continue {
		t.Fatalf("got %+v", r)
	}
	r := x.Outbound(resp{":status": "200", "vary": "Accept-Encoding"})
	want := []HeaderEdit{{Name: "access-control-allow-origin", Values: []string{"https://myapp.com"}}, {Name: "vary", Values: []string{"Origin"}, Append: true}}
	if !reflect.DeepEqual(r.Edits, want) {
		t.Fatalf("outbound edits = %+v\nwant %+v", r.Edits, want)
	}
	if v, _ := x.ResponseHeader("vary"); v != "Accept-Encoding,Origin" {
		t.Errorf("context.Response.Headers[\"Vary\"] after the grant = %q, want the upstream's value and Origin", v)
	}

	// A Vary an outbound policy set is merged in place.
	p2 := mustCompile(t, `<policies><inbound>`+seedBlock("cors")+`</inbound><outbound><set-header name="Vary" exists-action="override"><value>Accept</value></set-header></outbound></policies>`, nil)
	x = p2.NewExec(get(map[string]string{"origin": "https://myapp.com"}), nil)
	x.Inbound()
	r = x.Outbound(resp{":status": "200"})
	want = []HeaderEdit{{Name: "vary", Values: []string{"Accept, Origin"}}, {Name: "access-control-allow-origin", Values: []string{"https://myapp.com"}}}
	if !reflect.DeepEqual(r.Edits, want) {
		t.Fatalf("outbound edits with set-header Vary = %+v\nwant %+v", r.Edits, want)
	}

	// The grant's edits are shared between requests from the same origin:
	// a policy that changes them in one request (cors in outbound, then a
	// set-header) changes its own copy, never the next request's.
	p3 := mustCompile(t, `<policies><inbound/><outbound>`+seedBlock("cors")+`<choose><when condition="@(context.Request.Headers.ContainsKey(&quot;x-mutate&quot;))">`+
		`<set-header name="Access-Control-Allow-Origin" exists-action="override"><value>changed</value></set-header></when></choose></outbound></policies>`, nil)
	for i, mutate := range []bool{true, false, true, false} {
		h := map[string]string{"origin": "https://myapp.com"}
		if mutate {
			h["x-mutate"] = "1"
		}
		x = p3.NewExec(get(h), nil)
		x.Inbound()
		allow := "https://myapp.com"
		if mutate {
			allow = "changed"
		}
		want := []HeaderEdit{{Name: "access-control-allow-origin", Values: []string{allow}}, {Name: "vary", Values: []string{"Origin"}, Append: true}}
		if r := x.Outbound(resp{":status": "200"}); !reflect.DeepEqual(r.Edits, want) {
			t.Fatalf("request %d (mutate %v): edits = %+v\nwant %+v", i, mutate, r.Edits, want)
		}
	}

	// Allowed origin, denied by the auth policy: the 401 still carries the grant.
	r = p.NewExec(get(map[string]string{"origin": "https://myapp.com"}), nil).Inbound()
	if r.Status != 401 || !reflect.DeepEqual(r.Headers, append([][2]string{{"content-type", "application/json"}}, grant...)) {
		t.Fatalf("401 = %+v", r)
	}

	// Disallowed origin: GET ends with an empty 200 (terminate-unmatched-request).
	r = p.NewExec(get(map[string]string{"origin": "https://evil.com", "x-api-key": "k"}), nil).Inbound()
	if !reflect.DeepEqual(r, Result{Action: Respond, Status: 200}) {
		t.Fatalf("unmatched GET = %+v", r)
	}
	// Disallowed origin, POST: goes on, no grant.
	x = p.NewExec(get(map[string]string{":method": "POST", "origin": "https://evil.com", "x-api-key": "k"}), nil)
	if r := x.Inbound(); r.Action != Continue {
		t.Fatalf("unmatched POST = %+v", r)
	}
	if r := x.Outbound(resp{":status": "200"}); len(r.Edits) != 0 {
		t.Fatalf("unmatched POST got CORS headers: %+v", r.Edits)
	}
	// No Origin: not CORS at all.
	x = p.NewExec(get(map[string]string{"x-api-key": "k"}), nil)
	x.Inbound()
	if r := x.Outbound(resp{":status": "200"}); len(r.Edits) != 0 {
		t.Fatalf("same-origin request got CORS headers: %+v", r.Edits)
	}
}

func TestCORS_wildcardAndCredentials(t *testing.T) {
	tests := []struct {
		name, block string
		wantOrigin  string
		wantCreds   bool
	}{
		{"* without credentials", `<cors><allowed-origins><origin>*</origin></allowed-origins></cors>`, "*", false},
		{"* with credentials echoes the origin", `<cors allow-credentials="true"><allowed-origins><origin>*</origin></allowed-origins></cors>`, "https://a.example", true},
		{"listed with credentials", `<cors allow-credentials="true"><allowed-origins><origin>https://a.example/</origin></allowed-origins><expose-headers><header>X-Request-Id</header></expose-headers></cors>`, "https://a.example", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, inboundDoc(tc.block), nil)
			r := p.NewExec(preflight("https://a.example", "GET", ""), nil).Inbound()
			if got, _ := JoinHeader(r.Headers, "access-control-allow-origin"); got != tc.wantOrigin {
				t.Errorf("preflight origin = %q, want %q", got, tc.wantOrigin)
			}
			if r := p.NewExec(preflight("https://a.example", "PUT", ""), nil).Inbound(); len(r.Headers) != 0 {
				t.Errorf("PUT is not in the default methods (GET, POST) but got %v", r.Headers)
			}
			x := p.NewExec(get(map[string]string{"origin": "https://a.example"}), nil)
			x.Inbound()
			out := x.Outbound(resp{":status": "200"})
			var origin string
			creds := false
			for _, e := range out.Edits {
				switch e.Name {
				case "access-control-allow-origin":
					origin = e.Values[0]
				case "access-control-allow-credentials":
					creds = e.Values[0] == "true"
				}
			}
			if origin != tc.wantOrigin || creds != tc.wantCreds {
				t.Fatalf("origin %q credentials %v, want %q %v (%+v)", origin, creds, tc.wantOrigin, tc.wantCreds, out.Edits)
			}
		})
	}
}

func TestCORS_preflightOptions(t *testing.T) {
	p := mustCompile(t, inboundDoc(`<cors><allowed-origins><origin>https://a.example</origin></allowed-origins>
<allowed-methods preflight-result-max-age="300"><method>*</method></allowed-methods>
<allowed-headers><header>*</header></allowed-headers></cors>`), nil)
	r := p.NewExec(preflight("https://a.example", "PATCH", "X-One, x-two"), nil).Inbound()
	want := [][2]string{{"access-control-allow-origin", "https://a.example"}, {"vary", "Origin"}, {"access-control-allow-methods", "PATCH"},
		{"access-control-allow-headers", "x-one,x-two"}, {"access-control-max-age", "300"}}
	if !reflect.DeepEqual(r.Headers, want) {
		t.Fatalf("got  %v\nwant %v", r.Headers, want)
	}
}

func TestCORS_loadErrorsAndWarnings(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{`<cors><allowed-origins><origin>https://*.example.com</origin></allowed-origins></cors>`, `policy:3:24: origin: "https://*.example.com" is not an origin: want scheme://host[:port], no path`},
		{`<cors><allowed-origins><origin>https://a.example/app</origin></allowed-origins></cors>`, `policy:3:24: origin: "https://a.example/app" is not an origin: want scheme://host[:port], no path`},
		{`<cors><allowed-origins><origin>*</origin><origin>https://a.example</origin></allowed-origins></cors>`, `policy:3:24: origin: * must be the only origin`},
		{`<cors/>`, `policy:3:1: cors: needs <allowed-origins> with at least one <origin>`},
		{`<cors terminate-unmatched-request="maybe"><allowed-origins><origin>*</origin></allowed-origins></cors>`, `policy:3:7: cors: attribute "terminate-unmatched-request" must be true or false, not "maybe"`},
	} {
		if _, err := Compile(inboundDoc(tc.block), Options{}); err == nil || err.Error() != tc.want {
			t.Errorf("err = %v\nwant  %s", err, tc.want)
		}
	}
	one := `<cors><allowed-origins><origin>https://a.example</origin></allowed-origins></cors>`
	g, err := CompileGateway(Config{Policy: inboundDoc(one + "\n" + one)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := g.Warnings(); len(w) != 1 || w[0] != "policy:4:1: cors: only the first cors in <inbound> applies; this one is ignored" {
		t.Fatalf("warnings = %q", w)
	}
}

// cors.match takes an exact hit on a normalised allowed origin without
// parsing: that is only right if normalisation maps its own output to
// itself.
func TestNormalizeOrigin_fixedPoint(t *testing.T) {
	for _, in := range []string{"https://myapp.com", "HTTPS://MyApp.COM:443", "http://a.example:8080", "http://127.0.0.1:80",
		"http://[::1]:8443", "https://[2001:DB8::1]", "https://xn--bcher-kva.example/"} {
		norm, ok := normalizeOrigin(in)
		if !ok {
			t.Fatalf("normalizeOrigin(%q) refused", in)
		}
		if again, ok := normalizeOrigin(norm); !ok || again != norm {
			t.Errorf("normalizeOrigin(%q) = %q, but normalizeOrigin(%q) = %q, %v", in, norm, norm, again, ok)
		}
	}
}
