package envoytest

import (
	"github.com/apimguard/apimguard/internal/corpus"
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/envoy-test/internal/envoyrun"
)

// seedCheckHeader is the seed's check-header example verbatim (from the
// corpus's copy of the seed); allowedKey is set from a named value.
var seedCheckHeader = "<policies>\n  <inbound>\n    <set-variable name=\"allowedKey\" value=\"{{api-key}}\" />\n" +
	corpus.MustSeedBlock(envoyrun.Root(), "check-header") + "\n  </inbound>\n</policies>"

const apiKey = "k-7c41e09b2d"

// checkHeaderSeed runs the seed's check-header on a listener whose VM
// environment sets the named value (vm_config).
func checkHeaderSeed(t *testing.T, s *stack) {
	tests := []struct {
		name       string
		headers    map[string][]string
		wantStatus int
	}{
		{name: "right key", headers: map[string][]string{"x-api-key": {apiKey}}, wantStatus: 200},
		{name: "wrong key", headers: map[string][]string{"x-api-key": {"k-guessed-wrong"}}, wantStatus: 403},
		{name: "missing header", wantStatus: 403},
		{name: "key sent twice", headers: map[string][]string{"x-api-key": {apiKey, apiKey}}, wantStatus: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.upstream.Requests())
			r := s.do(t, "GET", "/orders/42?x=1", tc.headers, "")
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", r.status, tc.wantStatus, r.body)
			}
			reached := len(s.upstream.Requests()) - before
			if tc.wantStatus == 200 {
				if reached != 1 {
					t.Fatalf("upstream saw %d requests, want 1", reached)
				}
				if want := `{"method":"GET","path":"/orders/42?x=1","upstream":"ok"}`; strings.TrimSpace(r.body) != want {
					t.Errorf("body = %q, want %q", r.body, want)
				}
				return
			}
			if reached != 0 {
				t.Errorf("a denied request reached the upstream")
			}
			if want := `{"statusCode":403,"message":"Access denied."}`; r.body != want {
				t.Errorf("body = %q, want %q", r.body, want)
			}
			if ct := r.header.Get("content-type"); ct != "application/json" {
				t.Errorf("content-type = %q, want application/json", ct)
			}
			for _, vs := range tc.headers {
				for _, v := range vs {
					if strings.Contains(r.body, v) || strings.Contains(s.envoy.Log(), v) {
						t.Errorf("the presented key %q was echoed in the body or the log", v)
					}
				}
			}
		})
	}
}

// checkHeaderJSON: the same policy given as the JSON configuration object
// with namedValues, which come before the VM environment: the
// environment's key (apiKey) does not open this listener.
var checkHeaderJSONConfig = `{"policy": ` + envoyrun.YAMLQuote(seedCheckHeader) + `, "namedValues": {"api-key": "` + jsonAPIKey + `"}}`

const jsonAPIKey = "k-json-5e1f0a"

func checkHeaderJSON(t *testing.T, s *stack) {
	if r := s.do(t, "GET", "/", map[string][]string{"x-api-key": {jsonAPIKey}}, ""); r.status != 200 {
		t.Fatalf("right key: status %d, want 200 (%s)", r.status, r.body)
	}
	if r := s.do(t, "GET", "/", map[string][]string{"x-api-key": {"nope"}}, ""); r.status != 403 {
		t.Fatalf("wrong key: status %d, want 403", r.status)
	}
	if r := s.do(t, "GET", "/", map[string][]string{"x-api-key": {apiKey}}, ""); r.status != 403 {
		t.Fatalf("the environment's key over a namedValues one: status %d, want 403", r.status)
	}
}

// A policy with an unknown attribute never serves traffic: the plugin refuses
// to start, Envoy rejects the configuration, and the log names the document,
// line, element and attribute.
func TestBadPolicy_refusedByEnvoy(t *testing.T) {
	tests := []struct{ name, policy, want string }{
		{"a misspelt attribute",
			"<policies>\n  <inbound>\n    <check-header name=\"x-api-key\" failed-check-httpcode=\"403\" failed-check-eror-message=\"no\">\n      <value>abc</value>\n    </check-header>\n  </inbound>\n</policies>",
			`apimguard: refusing to start: policy:3:64: check-header: unknown attribute "failed-check-eror-message"`},
		// Before the depth limit this killed proxy_on_configure with a V8
		// RangeError and no line naming the document.
		{"choose nested 5000 deep",
			"<policies><inbound>" + strings.Repeat(`<choose><when condition="true">`, 5000) + strings.Repeat("</when></choose>", 5000) + "</inbound></policies>",
			`apimguard: refusing to start: policy:1:485: choose: elements nested deeper than 32 levels`},
		// Fragments do not nest (as in APIM), so two that include each
		// other never load, and the line names both documents.
		{"a fragment cycle",
			`{"policy": "<policies><inbound><include-fragment fragment-id=\"a\" /></inbound></policies>", "fragments": {"a": "<fragment><include-fragment fragment-id=\"b\" /></fragment>", "b": "<fragment><include-fragment fragment-id=\"a\" /></fragment>"}}`,
			`apimguard: refusing to start: fragments.a:1:11: include-fragment: a fragment cannot include another fragment (APIM does not nest fragments) (in the fragment included at policy:1:20)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log := refusedByEnvoy(t, envoyrun.Params{PluginConfig: tc.policy})
			if !strings.Contains(log, tc.want) {
				t.Fatalf("envoy log does not name the element and its line; got:\n%.20000s", log)
			}
			if strings.Contains(log, "Maximum call stack size exceeded") {
				t.Fatal("the VM overflowed its stack")
			}
		})
	}
}

// refusedByEnvoy starts Envoy with the plugin configured by p (ports and
// module filled in), expects it never to become ready and to exit, and
// returns its log.
func refusedByEnvoy(t *testing.T, p envoyrun.Params) string {
	t.Helper()
	envoyBin, wasm, err := envoyrun.Paths()
	if err != nil {
		t.Fatal(err)
	}
	p.ListenerPort, _ = envoyrun.FreePort()
	p.AdminPort, _ = envoyrun.FreePort()
	p.UpstreamPort, p.WasmPath = 9, wasm
	cfg, err := envoyrun.Render("apimguard.yaml", p)
	if err != nil {
		t.Fatal(err)
	}
	e, err := envoyrun.Start(envoyBin, cfg, p.AdminPort, p.ListenerPort, envoyrun.StartOptions{Wait: 180 * time.Second})
	defer e.Stop()
	if err == nil {
		t.Fatalf("envoy became ready with a configuration the plugin must refuse")
	}
	if !e.Exited(10 * time.Second) {
		t.Fatalf("envoy is still running with a refused plugin")
	}
	return e.Log()
}
