package main

import (
	"cmp"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/internal/jsonlimit"
	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
	"github.com/apimguard/apimguard/policy/expr"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// vmContext implements types.VMContext.
type vmContext struct {
	types.DefaultVMContext
}

// defaultGCPercent is the module's GOGC. The heap the Go collector lets
// grow before a cycle is 4 MB × GOGC/100 and the live heap is small, so
// GOGC sets the VM's linear memory: 50 keeps a VM at about 132 pages (80:
// 156) for about 0.5 µs more per request, now that a request allocates
// little (BENCHMARKS.md has the figures). The VM configuration may change it.
const defaultGCPercent = 50

// OnVMStart implements types.VMContext: it reads the VM configuration:
// {"gcPercent": N} tunes the collector; testClock is for policy tests.
func (*vmContext) OnVMStart(int) types.OnVMStartStatus {
	debug.SetGCPercent(defaultGCPercent)
	data, err := proxywasm.GetVMConfiguration()
	if err != nil || len(data) == 0 {
		return types.OnVMStartStatusOK
	}
	if !jsonlimit.Valid(data, 64*1024) || !gjson.ParseBytes(data).IsObject() {
		proxywasm.LogCritical("apimguard: VM configuration: want a JSON object of at most 64 KiB, nested at most 64 levels")
		return types.OnVMStartStatusFailed
	}
	if gc := gjson.GetBytes(data, "gcPercent"); gc.Exists() {
		if gc.Type != gjson.Number || gc.Num != float64(int(gc.Num)) || gc.Num < 10 || gc.Num > 1000 {
			proxywasm.LogCriticalf("apimguard: VM configuration: gcPercent must be a whole number from 10 to 1000, got %s", gc.Raw)
			return types.OnVMStartStatusFailed
		}
		debug.SetGCPercent(int(gc.Num))
	}
	at := gjson.GetBytes(data, "testClock")
	if !at.Exists() {
		return types.OnVMStartStatusOK
	}
	t, err := time.Parse(time.RFC3339, at.String())
	if err != nil {
		proxywasm.LogCriticalf("apimguard: VM configuration: testClock must be an RFC 3339 time, got %s", at.Raw)
		return types.OnVMStartStatusFailed
	}
	clock = func() time.Time { return t }
	proxywasm.LogWarnf("apimguard: VM configuration sets testClock %s: tokens are checked against a fixed time; never use this outside tests", t.Format(time.RFC3339))
	return types.OnVMStartStatusOK
}

// NewPluginContext implements types.VMContext.
func (*vmContext) NewPluginContext(contextID uint32) types.PluginContext {
	return &pluginContext{id: contextID}
}

// pluginContext holds the compiled policy shared by every request of one
// plugin configuration.
type pluginContext struct {
	types.DefaultPluginContext
	id             uint32
	gw             *policy.Gateway
	xffTrustedHops int
	upstreams      pluginconfig.Upstreams
	// bodyWait bounds how long a message is held for the body a policy
	// reads (body.go); accessLog: each request's decision is set for
	// access logs (events.go).
	bodyWait  time.Duration
	accessLog bool
	keys      *keyManager
	tokens    *tokenManager
	// sleepers are requests waiting between a retry's attempts; custom
	// the emit-metric series.
	sleepers  sleepList
	custom    customMetrics
	telemetry bool
	events    *eventLimiter
	export    *exporter // nil: no sinks (export.go)
	counters  counters
	memory    memoryGauge
	stale     staleGauge
	// free holds finished HTTP contexts for reuse: the context is the
	// largest allocation of a request, and every byte a request allocates
	// brings the VM's garbage collector sooner (BENCHMARKS.md).
	free []*httpContext
}

// maxFree bounds the contexts kept for reuse.
const maxFree = 32

// OnPluginStart implements types.PluginContext. Any configuration problem
// fails the start, so Envoy refuses the configuration instead of serving
// traffic half-configured.
func (p *pluginContext) OnPluginStart(int) (status types.OnPluginStartStatus) {
	defer func() {
		if r := recover(); r != nil {
			recovered("refusing to start: plugin start", r)
			status = types.OnPluginStartStatusFailed
		}
	}()
	testPanic("start")
	// The statements keep the manager as their KeyStore; its sources and
	// upstreams are known once the configuration has compiled.
	p.counters = counters{}
	p.keys = newKeyManager()
	p.keys.rootID, p.keys.counters = p.id, p.counters
	p.tokens = newTokenManager()
	p.tokens.rootID, p.tokens.counters = p.id, p.counters
	p.sleepers = newSleepList(p.id)
	p.custom = customMetrics{}
	cfg, gw, err := load(p.keys, p.tokens, &sharedCache{counters: p.counters})
	if err != nil {
		proxywasm.LogCriticalf("apimguard: refusing to start: %v", err)
		return types.OnPluginStartStatusFailed
	}
	if p.tokens.source, err = cfg.TokenSource(); err != nil {
		proxywasm.LogCriticalf("apimguard: refusing to start: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.gw, p.xffTrustedHops, p.upstreams, p.telemetry = gw, cfg.XFFTrustedHops, cfg.Upstreams, !cfg.NoTelemetry
	p.accessLog = cfg.AccessLog
	p.bodyWait = time.Duration(cmp.Or(cfg.BodyWaitSeconds, pluginconfig.DefaultBodyWaitSeconds)) * time.Second
	perSecond := cfg.EventsPerSecond
	if perSecond == 0 {
		perSecond = defaultEventsPerSecond
	}
	p.events = newEventLimiter(perSecond)
	p.export = newExporter(cfg.Exports, p.tokens, cfg.Upstreams, p.counters)
	if p.export != nil && p.export.monitor != nil {
		p.events.export = p.export.event
	}
	p.keys.configure(gw.KeySources(), p.upstreams)
	p.tokens.upstreams = p.upstreams
	if p.tokens.source != nil {
		p.tokens.reserve(append(gw.TokenRequests(), p.export.tokenRequests()...))
	}
	// The tick fetches signing keys and tokens and hands the batched
	// metrics to the host.
	if len(gw.KeySources()) > 0 || p.telemetry || p.tokens.source != nil || gw.Sleeps() {
		if err := proxywasm.SetTickPeriodMilliSeconds(tickMS); err != nil {
			proxywasm.LogCriticalf("apimguard: refusing to start: cannot set a tick to fetch signing keys and flush metrics: %v", err)
			return types.OnPluginStartStatusFailed
		}
	}
	for _, w := range gw.Warnings() {
		proxywasm.LogWarnf("apimguard: %s", w)
	}
	p.memory.gauge = proxywasm.DefineGaugeMetric(metricMemoryPages)
	// Defined at 0 from the start, so that it is in /stats/prometheus
	// before anything goes wrong: an alert on its increase then sees the
	// first one (a series that appears at 1 has no increase to show).
	proxywasm.DefineCounterMetric(metricInternalErrors)
	p.stale.start(gw)
	gw.PrepareCounters()
	proxywasm.LogInfo("apimguard: policy loaded")
	return types.OnPluginStartStatusOK
}

// OnTick implements types.PluginContext: it fetches and refreshes signing
// keys and flushes the metrics.
func (p *pluginContext) OnTick() {
	defer func() {
		if r := recover(); r != nil {
			recovered("tick", r)
		}
	}()
	testPanic("tick")
	if n := expr.TakeBudgetExceeded(); n > 0 {
		p.counters.add("apimguard.expression_budget_exceeded", uint64(n))
	}
	if n := p.gw.TakeCounterOverflows(); n > 0 {
		p.counters.add("apimguard.throttle_overflows", uint64(n))
	}
	if n := p.gw.TakeServiceFailures(); n > 0 {
		p.counters.add("apimguard.rate_limit_service_failures", uint64(n))
	}
	p.counters.flush()
	p.events.tick()
	p.keys.tick()
	p.sleepers.tick()
	p.stale.tick()
	p.export.tick() // before the tokens: a token it wants is fetched on this tick
	if p.tokens.source != nil {
		p.tokens.tick()
	}
}

// OnPluginDone implements types.PluginContext: it flushes the metrics and
// takes this context's share out of the memory gauge, which Envoy keeps
// across plugin restarts.
func (p *pluginContext) OnPluginDone() bool {
	p.counters.flush()
	p.memory.release()
	p.stale.release()
	return true
}

// load reads the plugin configuration from the host and compiles it, with
// the plugin's clock and Envoy's signature verification.
func load(keys policy.KeyStore, tokens policy.TokenStore, cache policy.ValueCache) (*pluginconfig.Config, *policy.Gateway, error) {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		return nil, nil, fmt.Errorf("plugin configuration: cannot read it from the host: %v", err)
	}
	cfg, err := pluginconfig.Parse(data)
	if err != nil {
		return nil, nil, err
	}
	cfg.Cache = cache
	// The salt of the throttling counters' keys: the configuration, which
	// a client does not know (its named values included).
	cfg.Counters, cfg.CounterSalt = sharedStore{}, data
	gw, err := cfg.Compile(keys, tokens, clock, verifySignature)
	return cfg, gw, err
}

// NewHttpContext implements types.PluginContext.
func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	var h *httpContext
	if n := len(p.free); n > 0 {
		h, p.free = p.free[n-1], p.free[:n-1]
		h.id, h.plugin = contextID, p
	} else {
		h = &httpContext{id: contextID, plugin: p}
	}
	p.memory.tick()
	return h
}

// release takes back a finished context for reuse, cleared, unless it ever
// paused: then a call's answer or a fetch may still hold it (the SDK drops
// answers only once the host deletes the context), and it is left to the
// collector. The host calls nothing else on a context after its stream is
// done (proxy_on_log) but proxy_on_delete, which only forgets it.
func (p *pluginContext) release(h *httpContext) {
	if h.paused || len(p.free) >= maxFree {
		return
	}
	*h = httpContext{}
	p.free = append(p.free, h)
}
