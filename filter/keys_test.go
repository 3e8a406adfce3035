//go:build !wasip1

package main

import (
	"encoding/json"
	"github.com/apimguard/apimguard/internal/pluginconfig"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
)

// A worker whose keys are due first looks at what other workers fetched
// (shared data) and fetches only when that is missing or stale.
func TestKeyManager_sharedBetweenWorkers(t *testing.T) {
	const src = "https://idp.example/.well-known/openid-configuration"
	for _, tc := range []struct {
		name      string
		age       time.Duration
		wantCalls int
	}{
		{"fresh keys from another worker", time.Minute, 0},
		{"stale keys from another worker", 2 * time.Hour, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustStart(t, &vmContext{}, `<policies/>`)
			data, _ := json.Marshal(sharedKeys{At: time.Now().Add(-tc.age).UnixNano(), Issuer: "https://idp.example/", JWKS: jwksDoc(t, "k1")})
			if err := proxywasm.SetSharedData(sharedKey(src), data, 0); err != nil {
				t.Fatal(err)
			}
			m := newKeyManager()
			m.rootID, m.counters = proxytest.PluginContextID, counters{}
			m.configure([]string{src}, pluginconfig.Upstreams{"idp.example": "idp"})
			m.tick()
			calls := len(p.host.GetCalloutAttributesFromContext(proxytest.PluginContextID))
			if calls != tc.wantCalls {
				t.Fatalf("fetches = %d, want %d", calls, tc.wantCalls)
			}
			if set := m.KeySet(src); tc.wantCalls == 0 && (set == nil || !set.Has("k1") || set.Issuer != "https://idp.example/") {
				t.Fatalf("key set = %+v", set)
			}
		})
	}
}

// sharedKeys is the shared-data record of a key set, as the tests read and
// write it with encoding/json (the module builds and reads it by hand).
type sharedKeys struct {
	At     int64           `json:"at"` // unix nanoseconds of the fetch
	Issuer string          `json:"issuer"`
	JWKS   json.RawMessage `json:"jwks"`
}
