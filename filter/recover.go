package main

import (
	"runtime"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
)

// metricInternalErrors counts panics recovered in the plugin's callbacks.
// It is not a request metric ("telemetry": false leaves it on) and goes to
// the host at once: it should never move, and when it does an operator
// wants to see it.
const metricInternalErrors = "apimguard.internal_errors"

// recovered reports a panic that a callback recovered from, so the VM
// keeps serving: one error line and the internal_errors counter. The line
// names the runtime error (a fixed text) or only the panic value's type:
// a value built from request data must not reach the log.
func recovered(where string, r any) {
	what := "a panic"
	if err, ok := r.(runtime.Error); ok {
		what = err.Error()
	} else if s, ok := r.(string); ok && s == testPanicValue {
		what = s
	}
	proxywasm.LogErrorf("apimguard: %s: internal error: %s", where, what)
	// Defined each time (the host returns the same metric for a name): a
	// rare event, and no metric handle outlives a restarted plugin.
	proxywasm.DefineCounterMetric(metricInternalErrors).Increment(1)
}

// panicIn names the callback that testPanic makes panic; tests set it,
// nothing else does.
var panicIn string

const testPanicValue = "test panic"

// testPanic panics when a test asked the callback where to do so.
func testPanic(where string) {
	if panicIn == where {
		panic(testPanicValue)
	}
}
