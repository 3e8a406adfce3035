//go:build !wasip1

package main

import (
	"os"
	"sync"
	"testing"

	"github.com/apimguard/apimguard/internal/testsupport/hostfake"
	"github.com/apimguard/apimguard/policy"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// wasmPath is the module that make build writes.
const wasmPath = "../build/apimguard.wasm"

// APIMGUARD_WASM names another module to run instead, for A/B runs of the
// benchmarks (go test -bench ... with one build, then the other).
var wasmBytes = sync.OnceValues(func() ([]byte, error) {
	if p := os.Getenv("APIMGUARD_WASM"); p != "" {
		return os.ReadFile(p)
	}
	return os.ReadFile(wasmPath)
})

// newWasmVM loads the built module under wazero. A missing module is a
// failure, never a skip.
func newWasmVM(t testing.TB) proxytest.WasmVMContext {
	t.Helper()
	wasm, err := wasmBytes()
	if err != nil {
		t.Fatalf("%s is missing: run make build (%v)", wasmPath, err)
	}
	vm, err := proxytest.NewWasmVMContext(wasm)
	if err != nil {
		t.Fatalf("loading %s under wazero: %v", wasmPath, err)
	}
	t.Cleanup(func() { vm.Close() })
	return vm
}

// eachVM runs fn twice: with the plugin compiled natively and with the built
// .wasm running under wazero through the SDK's proxytest. A missing module
// is a failure, never a skip.
func eachVM(t *testing.T, fn func(t *testing.T, vm types.VMContext)) {
	t.Helper()
	t.Run("native", func(t *testing.T) { fn(t, &vmContext{}) })
	t.Run("wasm", func(t *testing.T) { fn(t, newWasmVM(t)) })
}

// plugin is a started plugin in the host emulator.
type plugin struct {
	host proxytest.HostEmulator
}

// startPlugin configures and starts the plugin; the emulator is reset when
// the test ends. The emulator is process-global and holds a lock until that
// reset: start at most one plugin per (sub)test, and no t.Parallel here, or
// the second start waits forever.
func startPlugin(t testing.TB, vm types.VMContext, configuration string) (*plugin, types.OnPluginStartStatus) {
	t.Helper()
	return startPluginVM(t, vm, "", configuration)
}

// startPluginVM is startPlugin with a VM configuration (testClock: the
// emulated module's wall clock is wazero's fake one, years behind).
func startPluginVM(t testing.TB, vm types.VMContext, vmConfiguration, configuration string) (*plugin, types.OnPluginStartStatus) {
	t.Helper()
	saved := clock
	t.Cleanup(func() { clock = saved }) // the native VM's OnVMStart sets the package's clock
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(configuration))
	if vmConfiguration != "" {
		opt = opt.WithVMConfiguration([]byte(vmConfiguration))
	}
	host, reset := proxytest.NewHostEmulator(opt)
	t.Cleanup(reset)
	// Envoy's verify_signature, which the emulator lacks.
	host.RegisterForeignFunction("verify_signature", hostfake.VerifySignature)
	host.RegisterForeignFunction("clear_route_cache", hostfake.ClearRouteCache)
	if st := host.StartVM(); st != types.OnVMStartStatusOK {
		t.Fatalf("StartVM = %v", st)
	}
	return &plugin{host: host}, host.StartPlugin()
}

// mustStart starts the plugin and fails the test if it refuses.
func mustStart(t testing.TB, vm types.VMContext, configuration string) *plugin {
	t.Helper()
	p, st := startPlugin(t, vm, configuration)
	if st != types.OnPluginStartStatusOK {
		t.Fatalf("plugin refused to start: %q", p.host.GetCriticalLogs())
	}
	return p
}

// outcome is what the host saw for one request.
type outcome struct {
	action   types.Action
	local    *proxytest.LocalHttpResponse
	upstream [][2]string // request headers as they leave the filter
}

// request sends request headers through the plugin.
func (p *plugin) request(headers ...[2]string) outcome {
	id := p.host.InitializeHttpContext()
	hs := append([][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "api.example.com"}}, headers...)
	action := p.host.CallOnRequestHeaders(id, hs, false)
	o := outcome{action: action, local: p.host.GetSentLocalResponse(id), upstream: p.host.GetCurrentRequestHeaders(id)}
	p.host.CompleteHttpContext(id)
	return o
}

// jsonQuote quotes s for a JSON plugin configuration.
func jsonQuote(s string) string { return policy.JSONString(s) }
