//go:build !wasip1

package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apimguard/apimguard/internal/testsupport/testjwt"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

var idpKey, _ = rsa.GenerateKey(rand.Reader, 2048)

func signToken(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	return testjwt.Sign(t, jose.RS256, idpKey, (&jose.SignerOptions{}).WithHeader("kid", kid), claims)
}

func jwksDoc(t *testing.T, kid string) []byte {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &idpKey.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// validate-jwt through the plugin: a request that arrives before the keys
// waits for the first fetch (discovery, then JWKS, from the root context)
// and is resumed when it completes.
func TestValidateJWT_keyFetchThroughPlugin(t *testing.T) {
	const policyDoc = `<policies><inbound>
<validate-jwt header-name="Authorization" output-token-variable-name="jwt">
  <openid-config url="https://idp.example/.well-known/openid-configuration"/>
  <audiences><audience>api://orders</audience></audiences>
</validate-jwt>
<set-header name="x-user" exists-action="override"><value>@(((Jwt)context.Variables["jwt"]).Subject)</value></set-header>
</inbound></policies>`
	cfg := `{"policy": ` + jsonQuote(policyDoc) + `, "upstreams": {"idp.example": "idp"}}`

	eachVM(t, func(t *testing.T, vm types.VMContext) {
		claims := map[string]any{"iss": "https://idp.example/", "aud": "api://orders", "sub": "alice", "exp": time.Now().Unix() + 600}
		p := mustStart(t, vm, cfg)
		if got := p.host.GetTickPeriod(); got != tickMS {
			t.Fatalf("tick period = %d, want %d", got, tickMS)
		}
		id := p.host.InitializeHttpContext()
		hs := [][2]string{{":method", "GET"}, {":path", "/orders"}, {":authority", "api"}, {"authorization", "Bearer " + signToken(t, "k1", claims)}}
		if a := p.host.CallOnRequestHeaders(id, hs, true); a != types.ActionPause {
			t.Fatalf("cold start: action %v, want Pause", a)
		}

		p.host.Tick()
		calls := p.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
		if len(calls) != 1 || calls[0].Upstream != "idp" || headerValue(calls[0].Headers, ":path") != "/.well-known/openid-configuration" {
			t.Fatalf("discovery call = %+v", calls)
		}
		p.host.CallOnHttpCallResponse(calls[0].CalloutID, [][2]string{{":status", "200"}}, nil,
			[]byte(`{"issuer":"https://idp.example/","jwks_uri":"https://idp.example/keys"}`))
		// The emulator lists answered calls too: the JWKS call is the second.
		calls = p.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
		if len(calls) != 2 || headerValue(calls[1].Headers, ":path") != "/keys" {
			t.Fatalf("JWKS call = %+v", calls)
		}
		p.host.CallOnHttpCallResponse(calls[1].CalloutID, [][2]string{{":status", "200"}}, nil, jwksDoc(t, "k1"))

		// The request is resumed from the root context (SetEffectiveContext,
		// then ResumeHttpRequest).
		if a := p.host.GetCurrentHttpStreamAction(id); a != types.ActionContinue {
			t.Fatalf("after the keys arrived: action %v, want Continue", a)
		}
		if r := p.host.GetSentLocalResponse(id); r != nil {
			t.Fatalf("local response %d %s", r.StatusCode, r.Data)
		}
		if got := headerValue(p.host.GetCurrentRequestHeaders(id), "x-user"); got != "alice" {
			t.Errorf("x-user = %q: the resumed request was not verified and edited", got)
		}
		// The fetched set is published for the other workers' VMs.
		var shared sharedKeys
		if data, _, err := proxywasm.GetSharedData(sharedKey("https://idp.example/.well-known/openid-configuration")); err != nil || json.Unmarshal(data, &shared) != nil || shared.Issuer != "https://idp.example/" {
			t.Errorf("shared keys = %s (%v)", data, err)
		}
		p.host.CompleteHttpContext(id)

		// Keys are loaded now: no waiting.
		o := p.request([2]string{"authorization", "Bearer " + signToken(t, "k1", claims)})
		if o.action != types.ActionContinue || o.local != nil {
			t.Fatalf("warm: %+v", o)
		}
		claims["aud"] = "api://other"
		o = p.request([2]string{"authorization", "Bearer " + signToken(t, "k1", claims)})
		if o.local == nil || o.local.StatusCode != 401 || string(o.local.Data) != `{"statusCode":401,"message":"Invalid JWT."}` {
			t.Fatalf("wrong audience: %+v", o.local)
		}
	})
}

// While the identity provider is down a request gets 401, never a pass.
func TestValidateJWT_providerDownThroughPlugin(t *testing.T) {
	const policyDoc = `<policies><inbound><validate-jwt header-name="Authorization"><openid-config url="http://idp.example/oidc"/></validate-jwt></inbound></policies>`
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		p := mustStart(t, vm, `{"policy": `+jsonQuote(policyDoc)+`, "upstreams": {"idp.example": "idp"}}`)
		id := p.host.InitializeHttpContext()
		tok := signToken(t, "k1", map[string]any{"exp": time.Now().Unix() + 60})
		if a := p.host.CallOnRequestHeaders(id, [][2]string{{":method", "GET"}, {":path", "/"}, {"authorization", "Bearer " + tok}}, true); a != types.ActionPause {
			t.Fatalf("action %v", a)
		}
		p.host.Tick()
		calls := p.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
		if len(calls) != 1 {
			t.Fatalf("calls = %+v", calls)
		}
		p.host.CallOnHttpCallResponse(calls[0].CalloutID, [][2]string{{":status", "503"}}, nil, []byte("down"))
		if r := p.host.GetSentLocalResponse(id); r == nil || r.StatusCode != 401 {
			t.Fatalf("got %+v", r)
		}
		want := []string{
			"apimguard: key fetch from http://idp.example/oidc failed: http://idp.example/oidc: status 503",
			`{"event":"deny","policy":"validate-jwt","reason":"TokenSignatureKeyNotFound","status":401,"section":"inbound","api":"","operation":"","clientIp":"","requestId":"","method":"GET","path":"/"}`,
		}
		if logs := p.host.GetWarnLogs(); !reflect.DeepEqual(logs, want) {
			t.Errorf("warn logs = %q\nwant %q", logs, want)
		}
	})
}
