//go:build !wasip1

package main

import (
	"github.com/apimguard/apimguard/internal/corpus"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// seedCheckHeader is the seed's <check-header> block, verbatim (from the
// corpus's copy of the seed), with allowedKey set from a named value.
var seedCheckHeader = "<policies>\n  <inbound>\n    <set-variable name=\"allowedKey\" value=\"{{api-key}}\" />\n" +
	corpus.MustSeedBlock("..", "check-header") + "\n  </inbound>\n</policies>"

const goodKey = "k-3f9a1c7e"

func seedConfig() string {
	return `{"policy": ` + jsonQuote(seedCheckHeader) + `, "namedValues": {"api-key": "` + goodKey + `"}}`
}

func TestCheckHeader_seed(t *testing.T) {
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		p := mustStart(t, vm, seedConfig())
		tests := []struct {
			name       string
			headers    [][2]string
			wantStatus uint32 // 0: continues upstream
		}{
			{name: "right key", headers: [][2]string{{"x-api-key", goodKey}}},
			{name: "header name case", headers: [][2]string{{"X-API-KEY", goodKey}}},
			{name: "wrong key", headers: [][2]string{{"x-api-key", "k-wrong-value"}}, wantStatus: 403},
			{name: "missing header", wantStatus: 403},
			{name: "empty value", headers: [][2]string{{"x-api-key", ""}}, wantStatus: 403},
			{name: "value case differs", headers: [][2]string{{"x-api-key", strings.ToUpper(goodKey)}}, wantStatus: 403},
			{name: "right key twice", headers: [][2]string{{"x-api-key", goodKey}, {"x-api-key", goodKey}}, wantStatus: 403},
			{name: "prefix of key", headers: [][2]string{{"x-api-key", goodKey[:5]}}, wantStatus: 403},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				o := p.request(tc.headers...)
				if tc.wantStatus == 0 {
					if o.action != types.ActionContinue || o.local != nil {
						t.Fatalf("want the request to continue, got action %v and local response %+v", o.action, o.local)
					}
					return
				}
				if o.action != types.ActionPause || o.local == nil {
					t.Fatalf("want a local %d response, got action %v and no response", tc.wantStatus, o.action)
				}
				if o.local.StatusCode != tc.wantStatus {
					t.Errorf("status = %d, want %d", o.local.StatusCode, tc.wantStatus)
				}
				if got, want := string(o.local.Data), `{"statusCode":403,"message":"Access denied."}`; got != want {
					t.Errorf("body = %s, want %s", got, want)
				}
				if got := headerValue(o.local.Headers, "content-type"); got != "application/json" {
					t.Errorf("content-type = %q, want application/json", got)
				}
				for _, h := range tc.headers {
					if h[1] != "" && strings.Contains(string(o.local.Data), h[1]) {
						t.Errorf("response body echoes the presented key %q", h[1])
					}
				}
			})
		}
	})
}

func TestCheckHeader_bareDocumentAndMessage(t *testing.T) {
	const doc = `<policies><inbound>
  <check-header name="X-Tenant" failed-check-httpcode="401" failed-check-error-message="Tenant &quot;unknown&quot;" ignore-case="true">
    <value>Contoso</value><value>Fabrikam</value>
  </check-header>
</inbound></policies>`
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		p := mustStart(t, vm, doc)
		if o := p.request([2]string{"x-tenant", "FABRIKAM"}); o.local != nil {
			t.Fatalf("ignore-case value was refused: %d %s", o.local.StatusCode, o.local.Data)
		}
		o := p.request([2]string{"x-tenant", "northwind"})
		if o.local == nil || o.local.StatusCode != 401 {
			t.Fatalf("want 401, got %+v", o.local)
		}
		if got, want := string(o.local.Data), `{"statusCode":401,"message":"Tenant \"unknown\""}`; got != want {
			t.Errorf("body = %s, want %s", got, want)
		}
	})
}

func headerValue(headers [][2]string, name string) string {
	for _, h := range headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}
