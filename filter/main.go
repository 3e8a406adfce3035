// Command filter is apimguard's proxy-wasm plugin. It only wires the host to
// the policy engine: it reads the plugin configuration, compiles it once at
// plugin start, feeds each request to the engine and carries out what the
// engine decides. APIM semantics live in package policy, not here.
//
// Build it with upstream Go:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o build/apimguard.wasm ./filter
package main

import "github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

func main() {}

func init() {
	proxywasm.SetVMContext(&vmContext{})
}
