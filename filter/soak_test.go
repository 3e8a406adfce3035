//go:build !wasip1

package main

import (
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// TestSoak_wasm sends 100,000 requests through one instance of the built
// module and checks every verdict. With the wazero v1.7.2 that the SDK pins,
// the Go heap inside the module was corrupted after about 80,000 requests
// (see RATIONALE.md, "Why wazero v1.11?"); this keeps that from coming back.
func TestSoak_wasm(t *testing.T) {
	p := mustStart(t, newWasmVM(t), seedConfig())
	allow := [][2]string{{":method", "GET"}, {":path", "/"}, {"x-api-key", goodKey}}
	deny := [][2]string{{":method", "GET"}, {":path", "/"}, {"x-api-key", "k-wrong-value"}}
	for i := 0; i < 100_000; i++ {
		id := p.host.InitializeHttpContext()
		hs, want := allow, types.ActionContinue
		if i%2 == 1 {
			hs, want = deny, types.ActionPause
		}
		if got := p.host.CallOnRequestHeaders(id, hs, false); got != want {
			t.Fatalf("request %d: action %v, want %v", i, got, want)
		}
		if r := p.host.GetSentLocalResponse(id); (r != nil) != (want == types.ActionPause) || (r != nil && r.StatusCode != 403) {
			t.Fatalf("request %d: local response %+v", i, r)
		}
		p.host.CompleteHttpContext(id)
	}
}
