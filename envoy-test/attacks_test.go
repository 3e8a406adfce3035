package envoytest

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/internal/testsupport/testjwt"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// The attacks of issue #14, each against the README's kind of
// configuration in a real Envoy: what an anonymous client, an identity
// provider or a called service can send. Every attack asserts the secure
// outcome and that the next ordinary request is still served by the same
// worker (--concurrency 1: one VM).

const attackKey = "ak-7c1d"

// attackPolicies: the seed's validate-jwt on /jwt, AsJwt on /asjwt, a
// send-request whose answer is read as a JObject on /callout, an API key
// on /admin and on the host secure.example.com, a limited-log check on
// /limited, and /pub with no policy.
func attackConfig(p *idp, hostilePort int) envoyrun.Params {
	keyCheck := `<policies><inbound><check-header name="x-api-key" failed-check-httpcode="403"><value>{{key}}</value></check-header></inbound></policies>`
	cfg, _ := json.Marshal(map[string]any{
		"namedValues":     map[string]string{"key": attackKey},
		"upstreams":       map[string]string{"login.microsoftonline.com": "idp", "hostile.example": "hostile"},
		"eventsPerSecond": 5,
		"apis": []any{
			map[string]any{"name": "jwt", "pathPrefix": "/jwt", "policy": "<policies>\n<inbound>\n" + seedValidateJWT + "\n</inbound>\n</policies>"},
			map[string]any{"name": "asjwt", "pathPrefix": "/asjwt", "policy": `<policies><inbound><return-response><set-status code="200"/>` +
				`<set-body>@(context.Request.Headers.GetValueOrDefault("x-token","").AsJwt()?.Subject ?? "none")</set-body></return-response></inbound></policies>`},
			map[string]any{"name": "callout", "pathPrefix": "/callout", "policy": `<policies><inbound>
<send-request mode="new" response-variable-name="answer" timeout="2"><set-url>@("http://hostile.example" + context.Request.Url.Path)</set-url><set-method>GET</set-method></send-request>
<choose><when condition="@((bool)((IResponse)context.Variables[&quot;answer&quot;]).Body.As&lt;JObject&gt;()[&quot;active&quot;] == false)"><return-response><set-status code="401"/></return-response></when></choose>
</inbound></policies>`},
			map[string]any{"name": "admin", "pathPrefix": "/admin", "policy": keyCheck},
			map[string]any{"name": "secure", "pathPrefix": "/", "hosts": []string{"secure.example.com"}, "policy": keyCheck},
			map[string]any{"name": "limited", "pathPrefix": "/limited", "policy": `<policies><inbound><check-header name="x-limit" failed-check-httpcode="403"><value>yes</value></check-header></inbound></policies>`},
			map[string]any{"name": "pub", "pathPrefix": "/pub"},
		},
	})
	return envoyrun.Params{PluginConfig: string(cfg), Clusters: []envoyrun.Cluster{{Name: "idp", Port: p.port}, {Name: "hostile", Port: hostilePort}}}
}

// nested is JSON arrays nested n deep.
func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// startHostile is a called service that answers /deep with JSON nested
// 5,000 deep, /big with 2 MiB and anything else with {"active":true}.
func startHostile(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/callout/deep":
			w.Write([]byte(`{"active":` + nested(5000) + `}`))
		case "/callout/big":
			w.Write([]byte(`{"active":true,"pad":"` + strings.Repeat("a", 2<<20) + `"}`))
		default:
			w.Write([]byte(`{"active":true}`))
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestAttacks_throughEnvoy(t *testing.T) {
	p := newIDP(t)
	p.addKey("k1")
	deepDoc := []byte(`{"issuer":"x","jwks_uri":` + nested(5000) + `}`)
	p.serve(deepDoc, nil)
	p.start()
	s := startStack(t, attackConfig(p, startHostile(t)))
	key := map[string][]string{"x-api-key": {attackKey}}
	good := p.token("k1", claims("my-api-audience"))

	// ordinary is the request every attack is followed by: the same worker
	// must still serve it.
	ordinary := func(t *testing.T) {
		t.Helper()
		if log := s.envoy.Log(); strings.Contains(log, "][wasm] Function: ") || strings.Contains(log, "Maximum call stack size exceeded") {
			t.Fatal("a wasm callback failed in the VM (see Envoy's log)")
		}
		if r := s.do(t, "GET", "/admin/ok", key, ""); r.status != 200 {
			t.Fatalf("the next ordinary request: status %d (%s)", r.status, r.body)
		}
	}
	waitFor := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	expect := func(t *testing.T, r response, status int, body string) {
		t.Helper()
		if r.status != status || (body != "" && r.body != body) {
			t.Fatalf("got %d %q, want %d %q", r.status, r.body, status, body)
		}
	}
	const unauthorized = `{"statusCode":401,"message":"Unauthorized"}`

	t.Run("a discovery document nested 5000 deep", func(t *testing.T) {
		waitFor(t, "two discovery fetches", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.hits >= 2 })
		expect(t, s.do(t, "GET", "/jwt", bearer(good), ""), 401, unauthorized)
		ordinary(t)
	})
	t.Run("a key set nested 5000 deep", func(t *testing.T) {
		before := p.keySetHits()
		p.serve(nil, []byte(`{"keys":`+nested(5000)+`}`))
		waitFor(t, "two key set fetches", func() bool { return p.keySetHits() >= before+2 })
		expect(t, s.do(t, "GET", "/jwt", bearer(good), ""), 401, unauthorized)
		ordinary(t)
	})
	secret := []byte("0123456789abcdef0123456789abcdef")
	octKey := `{"kty":"oct","kid":"h1","alg":"HS256","k":"` + base64.RawURLEncoding.EncodeToString(secret) + `"}`
	minted := testjwt.Sign(t, jose.HS256, secret, testjwt.KID("h1"), claims("my-api-audience"))
	t.Run("a symmetric key published in the key set", func(t *testing.T) {
		before := p.keySetHits()
		p.serve(nil, []byte(`{"keys":[`+octKey+`]}`))
		waitFor(t, "two key set fetches", func() bool { return p.keySetHits() >= before+2 })
		expect(t, s.do(t, "GET", "/jwt", bearer(minted), ""), 401, unauthorized)
		ordinary(t)
	})
	t.Run("recovery: a good key set with a symmetric key beside it", func(t *testing.T) {
		p.mu.Lock()
		pub := jose.JSONWebKey{Key: &p.keys["k1"].PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}
		p.mu.Unlock()
		rsaJWK, _ := json.Marshal(pub)
		p.serve(nil, []byte(`{"keys":[`+octKey+`,`+string(rsaJWK)+`]}`))
		waitFor(t, "the good token to pass", func() bool { return s.do(t, "GET", "/jwt", bearer(good), "").status == 200 })
		expect(t, s.do(t, "GET", "/jwt", bearer(minted), ""), 401, unauthorized)
	})

	t.Run("a token header nested 5000 deep, twice", func(t *testing.T) {
		head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k1","x":` + nested(5000) + `}`))
		bomb := head + "." + strings.Split(good, ".")[1] + ".c2ln"
		if len(bomb) > 16*1024 {
			t.Fatalf("the bomb has %d bytes, over the token limit", len(bomb))
		}
		for i := 0; i < 2; i++ {
			expect(t, s.do(t, "GET", "/jwt", bearer(bomb), ""), 401, unauthorized)
		}
		expect(t, s.do(t, "GET", "/jwt", bearer(good), ""), 200, "")
		ordinary(t)
	})
	t.Run("numeric dates out of range in a validly signed token", func(t *testing.T) {
		for _, nbf := range []float64{1e300, 9.3e18} {
			c := claims("my-api-audience")
			c["nbf"] = nbf
			expect(t, s.do(t, "GET", "/jwt", bearer(p.token("k1", c)), ""), 401, unauthorized)
		}
		ordinary(t)
	})
	t.Run("a forged value riding along in Authorization", func(t *testing.T) {
		before := len(s.upstream.Requests())
		two := map[string][]string{"Authorization": {"forged", "Bearer " + good}}
		expect(t, s.do(t, "GET", "/jwt", two, ""), 401, unauthorized)
		expect(t, s.do(t, "GET", "/jwt", map[string][]string{"Authorization": {"forged,Bearer " + good}}, ""), 401, unauthorized)
		expect(t, s.do(t, "GET", "/jwt", map[string][]string{"Authorization": {"Bearer " + good + " " + good}}, ""), 401, unauthorized)
		if n := len(s.upstream.Requests()) - before; n != 0 {
			t.Fatalf("the upstream received %d of the forged requests", n)
		}
		expect(t, s.do(t, "GET", "/jwt", bearer(good), ""), 200, "")
	})
	t.Run("AsJwt on a header nested 5000 deep", func(t *testing.T) {
		head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","x":` + nested(5000) + `}`))
		body := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory","y":` + nested(5000) + `}`))
		for _, tok := range []string{head + ".e30.", "eyJhbGciOiJub25lIn0." + body + ".", head + "." + body + "." + strings.Repeat("A", 20000)} {
			expect(t, s.do(t, "GET", "/asjwt", map[string][]string{"x-token": {tok}}, ""), 200, "none")
		}
		expect(t, s.do(t, "GET", "/asjwt", map[string][]string{"x-token": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ."}}, ""), 200, "bob")
		ordinary(t)
	})
	t.Run("a send-request answer nested 5000 deep or of 2 MiB", func(t *testing.T) {
		expect(t, s.do(t, "GET", "/callout/fine", nil, ""), 200, "")
		expect(t, s.do(t, "GET", "/callout/deep", nil, ""), 500, `{"statusCode":500,"message":"Internal server error"}`)
		expect(t, s.do(t, "GET", "/callout/big", nil, ""), 500, `{"statusCode":500,"message":"Internal server error"}`)
		ordinary(t)
	})
	t.Run("host-scoped API: trailing dot and two Host lines", func(t *testing.T) {
		req := func(host string) string {
			return "GET /orders HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n"
		}
		expect(t, s.raw(t, req("secure.example.com")), 403, "")
		expect(t, s.raw(t, req("secure.example.com.")), 403, "")
		expect(t, s.raw(t, req("SECURE.example.com.:80")), 403, "")
		expect(t, s.raw(t, "GET /orders HTTP/1.1\r\nHost: secure.example.com\r\nHost: other\r\nConnection: close\r\n\r\n"), 400, "")
		expect(t, s.raw(t, "GET /orders HTTP/1.1\r\nHost: secure.example.com,other\r\nConnection: close\r\n\r\n"), 400, "")
		expect(t, s.raw(t, "GET /orders HTTP/1.1\r\nHost: secure.example.com.\r\nx-api-key: "+attackKey+"\r\nConnection: close\r\n\r\n"), 200, "")
		ordinary(t)
	})
	t.Run("paths that try to reach /admin under a weaker policy", func(t *testing.T) {
		for path, want := range map[string]int{
			"/pub/../admin/x":       403,
			"/pub/%2e%2e/admin/x":   403,
			"/pub/%2E%2E/admin/x":   403,
			"/%61dmin/x":            403,
			"/./admin/x":            403,
			"//admin/x":             403,
			"/ADMIN/x":              403,
			"/admin;jsessionid=1/x": 403,
			"/admin%3bx/y":          403,
			"/admin%2fx":            400, // path_with_escaped_slashes_action: REJECT_REQUEST
			"/pub%2f..%2fadmin/x":   400,
			"/pub%5cadmin/x":        400,
			"/pub\\admin/x":         200, // normalize_path makes it /pub/admin/x, and that is what the upstream gets
			"/pub/x":                200,
		} {
			r := s.raw(t, "GET "+path+" HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
			if r.status != want {
				t.Errorf("%s: status %d, want %d (%s)", path, r.status, want, r.body)
			}
		}
		ordinary(t)
	})
	t.Run("denials under attack: event lines limited, all counted", func(t *testing.T) {
		const n = 60
		for i := 0; i < n; i++ {
			expect(t, s.do(t, "GET", "/limited", map[string][]string{"x-limit": {"no"}}, ""), 403, "")
		}
		written := func() int { return strings.Count(s.envoy.Log(), `"reason":"HeaderValueNotAllowed","status":403`) }
		summary := regexp.MustCompile(`\{"event":"suppressed","policy":"check-header","reason":"HeaderValueNotAllowed","count":(\d+),"second":\d+\}`)
		suppressed := func() int {
			total := 0
			for _, m := range summary.FindAllStringSubmatch(s.envoy.Log(), -1) {
				c, _ := strconv.Atoi(m[1])
				total += c
			}
			return total
		}
		waitFor(t, "the summary lines", func() bool { return written()+suppressed() == n })
		if w := written(); w >= n/2 {
			t.Errorf("%d event lines for %d denials: not limited", w, n)
		}
		waitFor(t, "the denied counter", func() bool {
			return prometheus(t, s)[`apimguard_denied{policy="check-header",reason="HeaderValueNotAllowed"}`] == strconv.Itoa(n)
		})
	})
}
