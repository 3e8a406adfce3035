//go:build !wasip1

package main

import (
	"io"
	"log"
	"os"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// BenchmarkRequest sends one request through the plugin in the proxytest host
// emulator: natively and as the built .wasm under wazero. The emulator's own
// cost is in both figures, so compare them as a ratio.
func BenchmarkRequest(b *testing.B) {
	// The emulator prints plugin logs through the standard logger; keep them
	// off the benchmark lines.
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	for _, vm := range []struct {
		name string
		new  func(b *testing.B) types.VMContext
	}{
		{"native", func(*testing.B) types.VMContext { return &vmContext{} }},
		{"wasm", func(b *testing.B) types.VMContext { return newWasmVM(b) }},
	} {
		for _, req := range []struct {
			name string
			key  string
		}{{"allow", goodKey}, {"deny", "k-wrong-value"}} {
			b.Run(vm.name+"/"+req.name, func(b *testing.B) {
				p := mustStart(b, vm.new(b), seedConfig())
				hs := [][2]string{{":method", "GET"}, {":path", "/orders/42"}, {":authority", "api.example.com"},
					{"user-agent", "bench"}, {"accept", "*/*"}, {"x-api-key", req.key}}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					id := p.host.InitializeHttpContext()
					p.host.CallOnRequestHeaders(id, hs, false)
					p.host.CompleteHttpContext(id)
				}
			})
		}
	}
}

// BenchmarkDenyTelemetry measures what the security event and the metrics
// add to a denied request: the same deny with telemetry on and off.
func BenchmarkDenyTelemetry(b *testing.B) {
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	policy := `<policies><inbound><check-header name="x-api-key" failed-check-httpcode="403"><value>k1</value></check-header></inbound></policies>`
	for _, vmKind := range []string{"native", "wasm"} {
		for _, on := range []bool{true, false} {
			name := vmKind + "/telemetry-off"
			if on {
				name = vmKind + "/telemetry-on"
			}
			b.Run(name, func(b *testing.B) {
				var vm types.VMContext = &vmContext{}
				if vmKind == "wasm" {
					vm = newWasmVM(b)
				}
				cfg := `{"policy": ` + jsonQuote(policy) + `, "telemetry": ` + map[bool]string{true: "true", false: "false"}[on] + `}`
				p := mustStart(b, vm, cfg)
				hs := [][2]string{{":method", "GET"}, {":path", "/orders?x=1"}, {":authority", "api"}, {"x-api-key", "wrong"}, {"x-request-id", "r-1"}}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					id := p.host.InitializeHttpContext()
					p.host.CallOnRequestHeaders(id, hs, true)
					p.host.CompleteHttpContext(id)
				}
			})
		}
	}
}
