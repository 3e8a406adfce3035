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
	// waiting: the engine waits for this body (WaitBody); complete: the
	// engine has it, or it ended while a call was in flight (no body
	// callback comes again): size bytes, and later edits apply at once.
	waiting, complete bool
	size              int
	// early is the whole body, read when it ended while the engine waited
	// for a call and a policy after the call may read it (keepBody);
	// earlyTooLarge: that body was over policy.MaxBody.
	early         []byte
	earlyTooLarge bool
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
	{413, policy.TooLargeBody},
	{500, policy.InternalErrorBody},
}

// editBody makes the body of dir wait until it is complete, to apply edits
// then. The headers go on (without Content-Length): Envoy's Wasm filter
// delivers no body while a filter holds the headers. A message without a
// body gets none: set-body there fails the request.
func (h *httpContext) editBody(dir direction, edits []policy.BodyEdit) types.Action {
	b := &h.bodies[dir]
	if b.complete && !b.headersOnly {
		// The body is all here: it waited for the engine (WaitBody), or
		// it ended while a call was in flight.
		if b.size > policy.MaxBody {
			return h.respond(tooLarge[dir].status, jsonContentType, tooLarge[dir].body)
		}
		b.edits = edits
		if err := removeContentLength(dir); err != nil {
			return h.hostFailure("remove content-length", err)
		}
		return h.replaceBody(dir, b.size)
	}
	if b.headersOnly {
		if policy.SetsBody(edits) {
			proxywasm.LogErrorf("apimguard: set-body on a message without a body: Envoy cannot add one")
			return h.respond(500, jsonContentType, policy.InternalErrorBody)
		}
		return types.ActionContinue
	}
	b.edits = edits
	if err := removeContentLength(dir); err != nil {
		return h.hostFailure("remove content-length", err)
	}
	return types.ActionContinue
}

func removeContentLength(dir direction) error {
	if dir == responseDirection {
		return proxywasm.RemoveHttpResponseHeader("content-length")
	}
	return proxywasm.RemoveHttpRequestHeader("content-length")
}

// tooSlow answers a body that did not arrive within the plugin's bodyWait
// (expressions.bodyWaitSeconds): a client (or an upstream) that never
// finishes its body gets 408 (or 504) instead of holding the request.
var tooSlow = [2]struct {
	status int
	body   string
}{
	{408, `{"statusCode":408,"message":"Request timeout: the request body did not arrive in time."}`},
	{504, `{"statusCode":504,"message":"Gateway timeout: the response body did not arrive in time."}`},
}

// waitBody holds the message of dir until its body is complete, for a
// policy expression that reads it (policy.WaitBody). A message without a
// body resumes the engine at once.
func (h *httpContext) waitBody(dir direction) types.Action {
	b := &h.bodies[dir]
	if b.earlyTooLarge {
		return h.respond(tooLarge[dir].status, jsonContentType, tooLarge[dir].body)
	}
	if b.headersOnly || b.complete {
		// No body, or one that ended while a call was in flight.
		b.complete = true
		h.x.SetBody(dir == responseDirection, b.early)
		b.early = nil
		return h.apply(h.x.Resume(nil, nil), dir)
	}
	b.waiting = true
	h.pending, h.paused, h.dir = true, true, dir
	h.plugin.sleepers.add(h.id, h.plugin.bodyWait, func() { h.bodyTimedOut(dir) })
	return types.ActionPause
}

// keepBody is a body callback while a call is in flight. A body that ends
// now gets no body callback again (Envoy delivers it while the headers are
// held): it is complete for the edits the policies after the call make,
// and read and kept when one of them may read it.
func (h *httpContext) keepBody(dir direction, size int, endOfStream bool) {
	b := &h.bodies[dir]
	if !endOfStream || !h.pending || h.dir != dir || h.x == nil {
		return
	}
	b.complete, b.size = true, size
	if !h.x.ReadsBody(dir == responseDirection) {
		return
	}
	if size > policy.MaxBody {
		b.earlyTooLarge = true
		return
	}
	body, err := h.wholeBody(dir, size)
	if err != nil {
		proxywasm.LogErrorf("apimguard: cannot read the body: %v", err)
		return
	}
	if body == nil {
		body = []byte{}
	}
	b.early, b.size = body, size
}

// bodyArrived is a body callback while the engine waits for the body.
func (h *httpContext) bodyArrived(dir direction, size int, endOfStream bool) types.Action {
	b := &h.bodies[dir]
	b.size = size
	if size > policy.MaxBody {
		h.plugin.sleepers.cancel(h.id)
		b.waiting = false
		return h.respond(tooLarge[dir].status, jsonContentType, tooLarge[dir].body)
	}
	if !endOfStream {
		return types.ActionPause
	}
	h.plugin.sleepers.cancel(h.id)
	b.waiting, h.pending = false, false
	body, err := h.wholeBody(dir, size)
	if err != nil {
		return h.hostFailure("read the body", err)
	}
	b.complete = true
	h.x.SetBody(dir == responseDirection, body)
	return h.apply(h.x.Resume(nil, nil), dir)
}

// bodyTimedOut answers a message whose body did not arrive within
// bodyWait. A request of which no byte of body ever arrived hints at
// a host that holds the body while the headers wait.
func (h *httpContext) bodyTimedOut(dir direction) {
	b := &h.bodies[dir]
	if h.done || !b.waiting {
		return
	}
	b.waiting, h.pending = false, false
	if b.size == 0 {
		proxywasm.LogWarnf("apimguard: no body arrived in %v while a policy waited to read it: the Wasm filter needs allow_on_headers_stop_iteration: true (Envoy 1.35 or later) for policies that read a body (docs/deployment.md)", h.plugin.bodyWait)
	}
	h.respond(tooSlow[dir].status, jsonContentType, tooSlow[dir].body)
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
	replace := proxywasm.ReplaceHttpRequestBody
	if dir == responseDirection {
		replace = proxywasm.ReplaceHttpResponseBody
	}
	body, err := h.wholeBody(dir, size)
	if err != nil {
		return h.hostFailure("read the body", err)
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

// wholeBody reads the complete body of dir (size bytes); an answer whose
// tokens the LLM policies count has them counted here (settleTokens, once).
func (h *httpContext) wholeBody(dir direction, size int) ([]byte, error) {
	var body []byte
	if size > 0 {
		get := proxywasm.GetHttpRequestBody
		if dir == responseDirection {
			get = proxywasm.GetHttpResponseBody
		}
		var err error
		if body, err = get(0, size); err != nil {
			return nil, err
		}
	}
	if dir == responseDirection && h.usage != nil {
		p, c, reported := policy.ResponseUsage(body)
		h.settleTokens(p, c, reported)
	}
	return body, nil
}
