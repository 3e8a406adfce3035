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
	proxywasm.LogWarn(b.String())
}

// route names the API and operation of the request.
func (h *httpContext) route() (string, string) {
	if h.prog == nil {
		return "", ""
	}
	return h.prog.API, h.prog.Operation
}
