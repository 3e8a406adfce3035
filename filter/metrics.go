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

// counters defines each counter on first use and batches the increments: a
// request adds to a count kept in the module, and flush (on the plugin's
// tick and when it stops) hands the sums to the host. A request costs no
// call to the host for its metrics; Envoy's figures lag by at most one tick.
// The counters belong to one plugin context: a restarted plugin defines its
// own (Envoy hands back the same metric for the same name).
type counters map[string]*counter

type counter struct {
	metric  proxywasm.MetricCounter
	pending uint64
}

func (cs counters) count(name string) {
	c, ok := cs[name]
	if !ok {
		c = &counter{metric: proxywasm.DefineCounterMetric(name)}
		cs[name] = c
	}
	c.pending++
}

// flush adds the pending counts to the host's metrics.
func (cs counters) flush() {
	for _, c := range cs {
		if c.pending > 0 {
			c.metric.Increment(c.pending)
			c.pending = 0
		}
	}
}

// count increments a request metric unless telemetry is off.
func (h *httpContext) count(name string) {
	if h.plugin.telemetry {
		h.plugin.counters.count(name)
	}
}

// metricMemoryPages is a gauge of the module's linear memory in 64 KiB wasm
// pages, summed over the VMs that serve requests (one per Envoy worker). A
// leak shows as a gauge that keeps climbing under steady traffic. It is not
// a request metric, so "telemetry": false leaves it on.
const metricMemoryPages = "apimguard.vm.memory_pages"

// memoryEvery is how many HTTP contexts pass between two readings.
const memoryEvery = 1024

// memoryGauge moves the gauge to this VM's memory on the first HTTP context
// and every memoryEvery after. The plugin defines it (at 0) when it starts,
// but only VMs that serve requests add to it: Envoy's main thread runs a VM
// of its own that never sees one.
type memoryGauge struct {
	gauge proxywasm.MetricGauge
	pages int64
	seen  uint32
}

// tick counts one HTTP context and reads the memory on the first and every
// memoryEvery-th.
func (m *memoryGauge) tick() {
	m.seen++
	if m.seen%memoryEvery == 1 {
		m.record()
	}
}

func (m *memoryGauge) record() {
	if pages := memoryPages(); pages != m.pages {
		m.gauge.Add(pages - m.pages)
		m.pages = pages
	}
}

// release takes this context's last reading out of the gauge.
func (m *memoryGauge) release() {
	if m.pages != 0 {
		m.gauge.Add(-m.pages)
		m.pages = 0
	}
}
