package main

import (
	"strconv"
	"strings"

	"github.com/apimguard/apimguard/policy"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
)

// logEvent writes one security event for a request a policy denied or
// failed: a JSON object on one warn-level log line. It never carries a
// header value, token, key, cookie or query string the client sent.
func (h *httpContext) logEvent(status int) {
	if h.x == nil || !h.plugin.telemetry {
		return
	}
	le := h.x.LastError()
	if le == nil {
		return
	}
	kind := "deny"
	if status >= 500 {
		kind = "error"
	}
	h.count(deniedMetric(map[string]string{"deny": "denied", "error": "errors"}[kind], le.Source, le.Reason))
	method, _ := h.Header(":method")
	path, _ := h.Header(":path")
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	requestID, _ := h.Header("x-request-id")
	var b strings.Builder
	field := func(name, value string) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(name))
		b.WriteByte(':')
		b.WriteString(policy.JSONString(value))
	}
	b.WriteByte('{')
	field("event", kind)
	field("policy", le.Source)
	if le.PolicyID != "" {
		field("policyId", le.PolicyID)
	}
	field("reason", le.Reason)
	b.WriteString(`,"status":` + strconv.Itoa(status))
	field("section", le.Section)
	api, op := h.route()
	field("api", api)
	field("operation", op)
	field("clientIp", h.ClientIP())
	field("requestId", requestID)
	field("method", method)
	field("path", path)
	b.WriteByte('}')
	h.plugin.events.log(le.Source, le.Reason, b.String())
}

// defaultEventsPerSecond is how many event lines one policy and reason may
// write per second on one worker before the rest are only counted.
const defaultEventsPerSecond = 10

// eventLimiter bounds the event lines of each policy and reason: the first
// perSecond in a second are written, the rest are counted and reported in
// one summary line when the second is over (at the next event of that
// reason, or on the tick). Metrics still count every denial. An attack
// that sends 100,000 bad tokens writes a few lines a second, not 100,000.
type eventLimiter struct {
	perSecond int // <= 0: no limit
	buckets   map[string]*eventBucket
	// export, when set, gets every security event line written and every
	// summary (Azure Monitor: export.go); traces stay in Envoy's log.
	export func(line string)
}

type eventBucket struct {
	policy, reason string
	second         int64 // the unix second the counts are for
	written        int
	suppressed     int
}

func newEventLimiter(perSecond int) *eventLimiter {
	return &eventLimiter{perSecond: perSecond, buckets: map[string]*eventBucket{}}
}

// log writes line, the event of a denial by policy for reason, unless the
// reason's lines for this second are used up.
func (l *eventLimiter) log(policy, reason, line string) {
	write := proxywasm.LogWarn
	if l.export != nil {
		write = func(line string) {
			proxywasm.LogWarn(line)
			l.export(line)
		}
	}
	l.logWith(policy, reason, line, write)
}

// logWith is log writing with write (the log level).
func (l *eventLimiter) logWith(policy, reason, line string, write func(string)) {
	if l.perSecond <= 0 {
		write(line)
		return
	}
	key := policy + "\x00" + reason
	b := l.buckets[key]
	if b == nil {
		b = &eventBucket{policy: policy, reason: reason}
		l.buckets[key] = b
	}
	sec := now().Unix()
	if b.second != sec {
		l.summarize(b)
		b.second, b.written = sec, 0
	}
	if b.written < l.perSecond {
		b.written++
		write(line)
		return
	}
	b.suppressed++
}

// tick writes the summaries of seconds that are over.
func (l *eventLimiter) tick() {
	if len(l.buckets) == 0 {
		return
	}
	sec := now().Unix()
	for _, b := range l.buckets {
		if b.second != sec {
			l.summarize(b)
		}
	}
}

// summarize writes one line for the events of b's second that were not
// written, if any.
func (l *eventLimiter) summarize(b *eventBucket) {
	if b.suppressed == 0 {
		return
	}
	line := `{"event":"suppressed","policy":` + policy.JSONString(b.policy) + `,"reason":` + policy.JSONString(b.reason) +
		`,"count":` + strconv.Itoa(b.suppressed) + `,"second":` + strconv.FormatInt(b.second, 10) + `}`
	proxywasm.LogWarn(line)
	if l.export != nil && b.policy != "trace" {
		l.export(line)
	}
	b.suppressed = 0
}

// route names the API and operation of the request.
func (h *httpContext) route() (string, string) {
	if h.prog == nil {
		return "", ""
	}
	return h.prog.API, h.prog.Operation
}

// logTraces writes the trace policy's records, one JSON line each at the
// level of its severity (verbose: debug, information: info, error: warn),
// rate-limited per source like security events.
func (h *httpContext) logTraces(traces []policy.Trace) {
	requestID, _ := h.Header("x-request-id")
	api, op := h.route()
	for _, t := range traces {
		var b strings.Builder
		b.WriteString(`{"event":"trace","source":` + policy.JSONString(t.Source) + `,"severity":` + policy.JSONString(t.Severity) +
			`,"message":` + policy.JSONString(t.Message))
		if len(t.Metadata) > 0 {
			b.WriteString(`,"metadata":{`)
			for i, m := range t.Metadata {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(policy.JSONString(m[0]) + ":" + policy.JSONString(m[1]))
			}
			b.WriteByte('}')
		}
		b.WriteString(`,"api":` + policy.JSONString(api) + `,"operation":` + policy.JSONString(op) + `,"requestId":` + policy.JSONString(requestID) + `}`)
		write := map[string]func(string){"verbose": proxywasm.LogDebug, "information": proxywasm.LogInfo, "error": proxywasm.LogWarn}[t.Severity]
		h.plugin.events.logWith("trace", t.Source, b.String(), write)
	}
}

// recordDecision sets the request's outcome as the filter state
// wasm.apimguard, a JSON object any access logger can print with
// %FILTER_STATE(wasm.apimguard:PLAIN)%: the decision (allowed; answered:
// a local answer that is no denial, a preflight or a return-response;
// denied; error), the status of a local answer, the policy and reason that
// failed, the API, operation and subscription. Like events, it carries
// nothing a client sent. Only with "accessLog": true: Envoy makes a filter
// state object per request, several µs of its CPU (BENCHMARKS.md).
func (h *httpContext) recordDecision(decision string, status int) {
	if !h.plugin.accessLog || h.x == nil {
		return
	}
	var b strings.Builder
	b.WriteString(`{"decision":"` + decision + `"`)
	if status != 0 {
		b.WriteString(`,"status":` + strconv.Itoa(status))
	}
	field := func(name, value string) {
		if value != "" {
			b.WriteString(`,"` + name + `":` + policy.JSONString(value))
		}
	}
	if le := h.x.LastError(); le != nil && decision != "allowed" {
		field("policy", le.Source)
		field("policyId", le.PolicyID)
		field("reason", le.Reason)
		field("section", le.Section)
	}
	api, op := h.route()
	field("api", api)
	field("operation", op)
	if sub := h.x.Subscription(); sub != nil {
		field("subscription", sub.ID)
	}
	b.WriteByte('}')
	if err := proxywasm.SetProperty([]string{"apimguard"}, []byte(b.String())); err != nil && !decisionUnsupported {
		decisionUnsupported = true
		proxywasm.LogWarnf("apimguard: the host does not keep filter state (%v): access logs will not show the plugin's decisions", err)
	}
}

// decisionUnsupported: the host refused the filter state once (logged once).
var decisionUnsupported bool
