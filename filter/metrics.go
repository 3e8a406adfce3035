package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
)

// Metric names. Envoy exposes them as wasmcustom.<name>; the stats_tags of
// envoy-test/configs/apimguard.yaml turn the policy, reason and outcome
// segments into labels, so /stats/prometheus shows for example
// apimguard_denied{policy="check-header",reason="HeaderNotFound"}.
const (
	metricRequests   = "apimguard.requests"
	metricAllowed    = "apimguard.allowed"
	metricPreflights = "apimguard.preflights"
)

func deniedMetric(kind, policy, reason string) string {
	return "apimguard.policy." + policy + ".reason." + reason + "." + kind
}

func outcomeMetric(outcome, name string) string {
	return "apimguard.outcome." + outcome + "." + name
}

// counters defines each counter on first use. They belong to one plugin
// context: a restarted plugin defines its own (Envoy hands back the same
// metric for the same name).
type counters map[string]proxywasm.MetricCounter

func (cs counters) count(name string) {
	c, ok := cs[name]
	if !ok {
		c = proxywasm.DefineCounterMetric(name)
		cs[name] = c
	}
	c.Increment(1)
}

// count increments a request metric unless telemetry is off.
func (h *httpContext) count(name string) {
	if h.telemetry {
		h.plugin.counters.count(name)
	}
}
