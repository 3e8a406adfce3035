package main

import (
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

	"github.com/apimguard/apimguard/policy"
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

func (cs counters) count(name string) { cs.add(name, 1) }

// add adds n to a counter.
func (cs counters) add(name string, n uint64) {
	c, ok := cs[name]
	if !ok {
		c = &counter{metric: proxywasm.DefineCounterMetric(name)}
		cs[name] = c
	}
	c.pending += n
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

// metricStaleCertificates is a gauge of the client-certificate trust
// anchors that are not valid now and the CRLs past their nextUpdate
// (policy.Gateway.StaleCertificates): above zero, some client certificates
// are refused whatever they are. Like the memory gauge it is the sum over
// the plugin's VMs (each adds its own count, and takes it out when its
// plugin is done), so it is the count times the number of VMs; defined at
// 0 from the start so that an alert sees the series before anything goes
// stale.
const metricStaleCertificates = "apimguard.client_certificates.stale"

// staleEvery is how often the tick recounts.
const staleEvery = time.Minute

type staleGauge struct {
	gauge proxywasm.MetricGauge
	gw    *policy.Gateway
	at    time.Time
	last  int
}

func (s *staleGauge) start(gw *policy.Gateway) {
	s.gauge, s.gw = proxywasm.DefineGaugeMetric(metricStaleCertificates), gw
	s.at, s.last = now(), gw.StaleCertificates(clock())
	s.gauge.Add(int64(s.last)) // the load's warnings named each one
}

// tick recounts every staleEvery; a change of the count is logged (a CRL
// that passes its nextUpdate while Envoy runs).
func (s *staleGauge) tick() {
	if t := now(); t.Sub(s.at) >= staleEvery {
		s.record(t)
	}
}

// record counts at the time certificates are checked against (clock) and
// remembers when (now).
func (s *staleGauge) record(t time.Time) {
	n := s.gw.StaleCertificates(clock())
	if n != s.last {
		proxywasm.LogWarnf("apimguard: %d client-certificate trust anchors or CRLs are out of date (%s); certificates that need them are refused", n, metricStaleCertificates)
		s.gauge.Add(int64(n - s.last))
	}
	s.at, s.last = t, n
}

// release takes this VM's count out of the gauge.
func (s *staleGauge) release() {
	if s.last != 0 {
		s.gauge.Add(int64(-s.last))
		s.last = 0
	}
}

// customMetrics are the series emit-metric made: a counter each, named
// apimguard.custom.<name>.dims.<dimension>=<value>;... (the shipped stats
// tags make the name and the dimensions Prometheus labels). Dimension
// values can come from clients, so the series are capped at
// maxCustomSeries per plugin; records of further series are only counted
// (apimguard.custom_metric_series_dropped).
type customMetrics map[string]bool

const maxCustomSeries = 1000

func (c customMetrics) add(cs counters, metrics []policy.Metric) {
	for _, m := range metrics {
		var b strings.Builder
		b.WriteString("apimguard.custom.")
		b.WriteString(statSegment(m.Name))
		b.WriteString(".dims.")
		for i, d := range m.Dimensions {
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(statSegment(d[0]))
			b.WriteByte('=')
			b.WriteString(statSegment(d[1]))
		}
		name := b.String()
		if !c[name] {
			if len(c) >= maxCustomSeries {
				cs.count("apimguard.custom_metric_series_dropped")
				continue
			}
			c[name] = true
		}
		cs.add(name, m.Value)
	}
}

// statSegment makes s one segment of an Envoy stat name: letters, digits,
// '_', '-', ':', '/' and '@' stay, anything else (the '.' that separates
// segments included) becomes '_'.
func statSegment(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == ':', r == '/', r == '@':
			return r
		}
		return '_'
	}, s)
}
