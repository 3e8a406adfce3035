package main

import (
	"strings"

	"github.com/apimguard/apimguard/policy"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// httpContext is one request. It implements policy.Request over the host.
type httpContext struct {
	types.DefaultHttpContext
	prog *policy.Program

	// headers holds the request headers once the engine first asks for one.
	headers [][2]string
	fetched bool
	// hostErr records a failed host call; the request then fails closed.
	hostErr error
}

const internalErrorBody = `{"statusCode":500,"message":"Internal server error"}`

var jsonContentType = [][2]string{{"content-type", "application/json"}}

// OnHttpRequestHeaders implements types.HttpContext.
func (h *httpContext) OnHttpRequestHeaders(int, bool) (action types.Action) {
	defer h.recoverTo(&action)
	r := h.prog.NewExec(h).Inbound()
	if h.hostErr != nil {
		proxywasm.LogErrorf("apimguard: denying request: host call failed: %v", h.hostErr)
		return h.respond(500, jsonContentType, internalErrorBody)
	}
	if r.Action == policy.Respond {
		return h.respond(r.Status, r.Headers, r.Body)
	}
	return types.ActionContinue
}

// respond sends a local response. The stream stays paused even if the host
// refuses it: a request the plugin could not answer never reaches upstream.
func (h *httpContext) respond(status int, headers [][2]string, body string) types.Action {
	if err := proxywasm.SendHttpResponse(uint32(status), headers, []byte(body), -1); err != nil {
		proxywasm.LogErrorf("apimguard: cannot send the %d response: %v", status, err)
	}
	return types.ActionPause
}

// recoverTo turns a panic in a callback into a 500: fail closed, never
// continue.
func (h *httpContext) recoverTo(action *types.Action) {
	if r := recover(); r != nil {
		proxywasm.LogErrorf("apimguard: denying request: internal error: %v", r)
		*action = h.respond(500, jsonContentType, internalErrorBody)
	}
}

// Header implements policy.Request.
func (h *httpContext) Header(name string) (string, bool) {
	if !h.fetched {
		h.fetched = true
		h.headers, h.hostErr = proxywasm.GetHttpRequestHeaders()
	}
	return joinHeader(h.headers, name)
}

// joinHeader returns every value of the lower-case header name joined with
// commas. Envoy hands header names over in lower case.
func joinHeader(headers [][2]string, name string) (string, bool) {
	var first string
	var b *strings.Builder
	found := false
	for _, kv := range headers {
		if kv[0] != name {
			continue
		}
		switch {
		case !found:
			first, found = kv[1], true
		case b == nil:
			b = &strings.Builder{}
			b.WriteString(first)
			fallthrough
		default:
			b.WriteByte(',')
			b.WriteString(kv[1])
		}
	}
	if b != nil {
		return b.String(), true
	}
	return first, found
}
