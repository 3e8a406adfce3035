package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apimguard/apimguard/policy"
)

// bodyState is one direction's body as far as the plugin knows it: whether
// the message has none (end of stream with the headers), and the policies'
// edits waiting for it to be complete.
type bodyState struct {
	headersOnly bool
	edits       []policy.BodyEdit
}

// tooLarge answers a body over policy.MaxBody that policies change: 413
// for a request, 500 for a response. (Envoy's own buffer limit, 1 MiB by
// default, answers the same; a response's headers have gone to the client
// by then, so Envoy resets that stream: the client never gets a
// half-changed body.)
var tooLarge = [2]struct {
	status int
	body   string
}{
	{413, `{"statusCode":413,"message":"Request entity too large."}`},
	{500, policy.InternalErrorBody},
}

// editBody makes the body of dir wait until it is complete, to apply edits
// then. The headers go on (without Content-Length): Envoy's Wasm filter
// delivers no body while a filter holds the headers. A message without a
// body gets none: set-body there fails the request.
func (h *httpContext) editBody(dir direction, edits []policy.BodyEdit) types.Action {
	b := &h.bodies[dir]
	if b.headersOnly {
		if policy.SetsBody(edits) {
			proxywasm.LogErrorf("apimguard: set-body on a message without a body: Envoy cannot add one")
			return h.respond(500, jsonContentType, policy.InternalErrorBody)
		}
		return types.ActionContinue
	}
	b.edits = edits
	remove := proxywasm.RemoveHttpRequestHeader
	if dir == responseDirection {
		remove = proxywasm.RemoveHttpResponseHeader
	}
	if err := remove("content-length"); err != nil {
		return h.hostFailure("remove content-length", err)
	}
	return types.ActionContinue
}

// onBody is a body callback: it holds the body while a call is pending or
// while edits wait for the end, and applies them then.
func (h *httpContext) onBody(dir direction, size int, endOfStream bool) types.Action {
	b := &h.bodies[dir]
	if b.edits != nil && size > policy.MaxBody {
		return h.respond(tooLarge[dir].status, jsonContentType, tooLarge[dir].body)
	}
	if h.pending && h.dir == dir {
		return types.ActionPause
	}
	if !endOfStream {
		return types.ActionPause
	}
	return h.replaceBody(dir, size)
}

// replaceBody applies the edits to the complete body of dir.
func (h *httpContext) replaceBody(dir direction, size int) types.Action {
	b := &h.bodies[dir]
	get, replace := proxywasm.GetHttpRequestBody, proxywasm.ReplaceHttpRequestBody
	if dir == responseDirection {
		get, replace = proxywasm.GetHttpResponseBody, proxywasm.ReplaceHttpResponseBody
	}
	var body []byte
	if size > 0 {
		var err error
		if body, err = get(0, size); err != nil {
			return h.hostFailure("read the body", err)
		}
	}
	if dir == responseDirection && h.usage != nil {
		p, c, reported := policy.ResponseUsage(body)
		h.settleTokens(p, c, reported)
	}
	out, ok := policy.ApplyBodyEdits(body, b.edits)
	b.edits = nil
	if !ok {
		return h.respond(tooLarge[dir].status, jsonContentType, tooLarge[dir].body)
	}
	if err := replace(out); err != nil {
		return h.hostFailure("replace the body", err)
	}
	return types.ActionContinue
}
