package envoytest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
	"github.com/apimguard/apimguard/internal/corpus"
	"github.com/apimguard/apimguard/internal/testsupport/testjwt"
)

// The native build (make native, native/): the same engine as an Envoy 1.40
// dynamic module, kept to measure what the engine costs outside V8 (issue
// #33). These tests load it in a real Envoy: the seed's check-header,
// check-ip and cors cases from the corpus, validate-jwt with
// issuer-signing-keys, and the ways it must fail closed.

func nativeLib(t *testing.T) string {
	t.Helper()
	lib, err := envoyrun.NativePath()
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// TestNative_seedCorpus replays the corpus's seed cases for check-header,
// check-ip and cors through the native build, one Envoy, a listener each,
// exactly as TestCorpus_throughEnvoy replays them through the Wasm module.
func TestNative_seedCorpus(t *testing.T) {
	lib := nativeLib(t)
	var suites []*corpus.Suite
	for _, name := range []string{"check-header", "check-ip", "cors"} {
		s, err := corpus.Load(filepath.Join(envoyrun.Root(), "examples", "seed", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		suites = append(suites, s)
	}
	replay(t, suites, lib)
}

// TestNative_throughEnvoy: the native build's checks and its attacks, in one
// Envoy with a listener per configuration.
func TestNative_throughEnvoy(t *testing.T) {
	lib := nativeLib(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	n := base64.RawURLEncoding.EncodeToString(key.N.Bytes())
	jwtPolicy := `<policies><inbound>
<validate-jwt header-name="Authorization" failed-validation-httpcode="401" failed-validation-error-message="Unauthorized">
<issuer-signing-keys><key id="k1" n="` + n + `" e="AQAB"/></issuer-signing-keys>
<audiences><audience>api://orders</audience></audiences><issuers><issuer>https://idp.example/</issuer></issuers>
</validate-jwt></inbound></policies>`
	// send-request needs a callout, which the native build does not make.
	callPolicy := `<policies><inbound><send-request mode="new" response-variable-name="r" timeout="5" ignore-error="false">
<set-url>https://validator.example/check</set-url><set-method>GET</set-method></send-request></inbound></policies>`
	ipPolicy := `<policies><inbound><ip-filter action="allow"><address-range from="203.0.113.0" to="203.0.113.255"/></ip-filter></inbound></policies>`
	ports := make([]int, 3)
	p := envoyrun.Params{DynamicModule: lib, PluginConfig: seedCheckHeader}
	for i, cfg := range []string{jwtPolicy, callPolicy, ipPolicy} {
		if ports[i], err = envoyrun.FreePort(); err != nil {
			t.Fatal(err)
		}
		p.Extra = append(p.Extra, envoyrun.Listener{Port: ports[i], PluginConfig: cfg})
	}
	// The named value comes from Envoy's process environment: a native
	// library reads it, not a VM's.
	st := startStackWith(t, 0, envoyrun.StartOptions{Env: []string{"api-key=" + apiKey}}, p)
	on := func(port int) *stack { return &stack{envoy: st.envoy.On(port), upstream: st.upstream} }

	t.Run("ABI version matched", func(t *testing.T) {
		if want := "Dynamic module ABI version v0.2.0 matched."; !st.logged(want) {
			t.Fatalf("Envoy's log lacks %q: the library does not declare Envoy 1.40's ABI", want)
		}
		if strings.Contains(st.envoy.Log(), "is deprecated") {
			t.Fatal("Envoy calls the library's ABI version deprecated")
		}
	})
	t.Run("check-header seed, key from the environment", func(t *testing.T) { checkHeaderSeed(t, st) })
	t.Run("hostile headers", func(t *testing.T) {
		keys := make([]string, 50)
		for i := range keys {
			keys[i] = apiKey
		}
		if r := st.do(t, "GET", "/", map[string][]string{"x-api-key": keys}, ""); r.status != 403 {
			t.Fatalf("50 copies of the key: status %d, want 403 (they join into one value that is not the key)", r.status)
		}
		if r := st.do(t, "GET", "/", map[string][]string{"x-api-key": {strings.Repeat("k", 30_000)}}, ""); r.status != 403 {
			t.Fatalf("a 30 KB key: status %d, want 403", r.status)
		}
		if r := st.do(t, "GET", "/", map[string][]string{"x-api-key": {apiKey}}, ""); r.status != 200 {
			t.Fatalf("the right key after them: status %d, want 200", r.status)
		}
	})

	t.Run("streams cut off mid-request leave the library serving", func(t *testing.T) {
		// 20 requests whose bodies never finish, the connection closed
		// under them: Envoy resets each stream after the plugin allowed
		// its headers; the library must neither crash nor keep them.
		for i := 0; i < 20; i++ {
			conn, err := net.Dial("tcp", "127.0.0.1:"+itoa(st.envoy.Port))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /orders HTTP/1.1\r\nHost: api.example.com\r\nx-api-key: %s\r\nContent-Length: 100000\r\n\r\npartial", apiKey)
			conn.Close()
		}
		if r := st.do(t, "GET", "/", map[string][]string{"x-api-key": {apiKey}}, ""); r.status != 200 {
			t.Fatalf("a request after the resets: status %d, want 200", r.status)
		}
		if strings.Contains(st.envoy.Log(), "apimguard: stream end") || strings.Contains(st.envoy.Log(), "panic") {
			t.Fatal("the library logged a panic")
		}
	})
	t.Run("validate-jwt with issuer-signing-keys", func(t *testing.T) {
		s := on(ports[0])
		now := time.Now()
		claims := func(edit func(map[string]any)) map[string]any {
			c := map[string]any{"iss": "https://idp.example/", "aud": "api://orders", "sub": "alice", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix()}
			if edit != nil {
				edit(c)
			}
			return c
		}
		good := testjwt.Sign(t, jose.RS256, key, testjwt.KID("k1"), claims(nil))
		header, payload, _ := strings.Cut(good, ".")
		payload, _, _ = strings.Cut(payload, ".")
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload + "."
		cases := []struct {
			name, token string
			want        int
		}{
			{"valid token", good, 200},
			{"signed by another key", testjwt.Sign(t, jose.RS256, other, testjwt.KID("k1"), claims(nil)), 401},
			{"expired", testjwt.Sign(t, jose.RS256, key, testjwt.KID("k1"), claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), 401},
			{"another audience", testjwt.Sign(t, jose.RS256, key, testjwt.KID("k1"), claims(func(c map[string]any) { c["aud"] = "api://payments" })), 401},
			{"another issuer", testjwt.Sign(t, jose.RS256, key, testjwt.KID("k1"), claims(func(c map[string]any) { c["iss"] = "https://evil.example/" })), 401},
			{"alg none", none, 401},
			{"signature cut off", header + "." + payload, 401},
			{"30 KB of dots", strings.Repeat(".", 30<<10), 401},
			{"no token", "", 401},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := map[string][]string{}
				if tc.token != "" {
					h["Authorization"] = []string{"Bearer " + tc.token}
				}
				before := len(s.upstream.Requests())
				r := s.do(t, "GET", "/orders", h, "")
				if r.status != tc.want {
					t.Fatalf("status %d, want %d (%s)", r.status, tc.want, r.body)
				}
				reached := len(s.upstream.Requests()) - before
				if want := map[bool]int{true: 1}[tc.want == 200]; reached != want {
					t.Fatalf("upstream saw %d requests, want %d", reached, want)
				}
				if tc.want == 401 && r.body != `{"statusCode":401,"message":"Unauthorized"}` {
					t.Errorf("body %q", r.body)
				}
				if tc.token != "" && len(tc.token) > 20 && (strings.Contains(r.body, tc.token) || strings.Contains(st.envoy.Log(), tc.token)) {
					t.Error("the presented token was echoed in the body or the log")
				}
			})
		}
	})

	t.Run("a call the build cannot make fails closed", func(t *testing.T) {
		s := on(ports[1])
		before := len(s.upstream.Requests())
		r := s.do(t, "GET", "/", nil, "")
		if r.status != 500 || r.body != `{"statusCode":500,"message":"Internal server error"}` {
			t.Fatalf("status %d body %q, want 500 and the fixed body", r.status, r.body)
		}
		if len(s.upstream.Requests()) != before {
			t.Fatal("the request reached the upstream")
		}
		if want := "apimguard: denying request: the policy needs Call, which the native build does not do"; !st.logged(want) {
			t.Fatalf("no log line %q", want)
		}
	})

	t.Run("the client address is Envoy's, not a forged X-Forwarded-For", func(t *testing.T) {
		s := on(ports[2])
		r := s.do(t, "GET", "/", map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "")
		if r.status != 403 {
			t.Fatalf("127.0.0.1 claiming 203.0.113.9: status %d, want 403", r.status)
		}
	})
}

// TestNative_refusesConfiguration: a configuration the native build cannot
// serve, or a bad one, never serves traffic: Envoy rejects it and the log
// says why in one line.
func TestNative_refusesConfiguration(t *testing.T) {
	lib := nativeLib(t)
	withKeys, _ := json.Marshal(map[string]any{"policy": `<policies><inbound><validate-jwt header-name="Authorization"><openid-config url="https://idp.example/.well-known/openid-configuration"/></validate-jwt></inbound></policies>`})
	tests := []struct{ name, config, want string }{
		{"a misspelt attribute",
			"<policies>\n  <inbound>\n    <check-header name=\"x-api-key\" failed-check-httpcode=\"403\" failed-check-eror-message=\"no\">\n      <value>abc</value>\n    </check-header>\n  </inbound>\n</policies>",
			`apimguard: refusing to start: policy:3:64: check-header: unknown attribute "failed-check-eror-message"`},
		{"openid-config needs key fetches", string(withKeys),
			`apimguard: refusing to start: policy:1:62: openid-config: openid-config needs the host to fetch keys; none is configured`},
		{"managed identity", `{"policy": "<policies/>", "managedIdentity": {"source": "imds"}}`,
			`apimguard: refusing to start: plugin configuration: managedIdentity needs token fetches, which the native build does not make`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log := refusedByEnvoy(t, envoyrun.Params{DynamicModule: lib, PluginConfig: tc.config})
			if !strings.Contains(log, tc.want) {
				var lines []string
				for _, l := range strings.Split(log, "\n") {
					if strings.Contains(l, "apimguard") {
						lines = append(lines, l)
					}
				}
				t.Fatalf("envoy log does not say why; want %q in:\n%s", tc.want, strings.Join(lines, "\n"))
			}
		})
	}
}
