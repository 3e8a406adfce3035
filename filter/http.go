package main

import (
	"strconv"
	"strings"

	"github.com/apimguard/apimguard/policy"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/properties"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// httpContext is one request. It implements policy.Request over the host.
type httpContext struct {
	types.DefaultHttpContext
	id     uint32
	plugin *pluginContext
	prog   *policy.Program
	x      *policy.Exec // &exec once the request headers arrived
	exec   policy.Exec
	// answered is set once the plugin sent a local response: outbound must
	// not run on it.
	answered bool

	reqHeaders  lazyHeaders
	respHeaders lazyHeaders
	clientIP    *string

	// pending is set while an outgoing call (or a key fetch) for the
	// stream in dir is in flight; done once the stream has ended.
	pending, done bool
	// paused: the stream waited for a call or a fetch at least once. A late
	// answer may still reach this context then, so it is never reused.
	paused      bool
	waitingHost bool
	inHostReady bool // hostReady is resuming the request
	dir         direction
	// bodies are the request's and the response's bodies as the policies
	// change them (body.go).
	bodies [2]bodyState
	// usage reads the response's tokens while it passes (llm.go).
	usage usageReader
}

// lazyHeaders reads a header map from the host once, when first needed.
type lazyHeaders struct {
	pairs   [][2]string
	fetched bool
	err     error
}

func (l *lazyHeaders) get(read func() ([][2]string, error), name string) (string, bool) {
	return policy.JoinHeader(l.all(read), name)
}

// all returns the whole map, reading it on first use. A read error is kept
// (the first one, if a single read failed before).
func (l *lazyHeaders) all(read func() ([][2]string, error)) [][2]string {
	if !l.fetched {
		l.fetched = true
		pairs, err := read()
		if l.err == nil {
			l.err = err
		}
		l.pairs = pairs
	}
	return l.pairs
}

var jsonContentType = [][2]string{{"content-type", "application/json"}}

// OnHttpRequestHeaders implements types.HttpContext.
func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) (action types.Action) {
	defer h.recoverTo(&action)
	h.bodies[requestDirection].headersOnly = endOfStream
	testPanic("request")
	h.count(metricRequests)
	gw := h.plugin.gw
	if gw.HasAPIs() {
		// One read of the whole map rather than three of single headers
		// when the engine routes.
		h.Headers()
	}
	h.prog = gw.Begin(&h.exec, h, clock())
	// An open product's request has a subscription without an id: no
	// subscription to count.
	if sub := h.exec.Subscription(); sub != nil && sub.ID != "" {
		h.count("apimguard.subscription." + sub.ID + ".subscription_requests")
	}
	h.x = &h.exec
	r := h.x.Inbound()
	if h.reqHeaders.err != nil {
		proxywasm.LogErrorf("apimguard: denying request: cannot read request headers: %v", h.reqHeaders.err)
		return h.respond(500, jsonContentType, policy.InternalErrorBody)
	}
	return h.apply(r, requestDirection)
}

// OnHttpResponseHeaders implements types.HttpContext.
func (h *httpContext) OnHttpResponseHeaders(_ int, endOfStream bool) (action types.Action) {
	if h.x == nil || h.answered {
		return types.ActionContinue
	}
	defer h.recoverTo(&action)
	h.bodies[responseDirection].headersOnly = endOfStream
	r := h.x.Outbound(responseView{h})
	if h.respHeaders.err != nil {
		proxywasm.LogErrorf("apimguard: cannot read response headers: %v", h.respHeaders.err)
		return h.respond(500, jsonContentType, policy.InternalErrorBody)
	}
	action = h.apply(r, responseDirection)
	if !h.answered {
		h.startTokenCount(endOfStream)
	}
	return action
}

// OnHttpRequestBody implements types.HttpContext: while a call is pending
// the body is held, then forwarded intact.
func (h *httpContext) OnHttpRequestBody(size int, endOfStream bool) (action types.Action) {
	if h.bodies[requestDirection].waiting {
		defer h.recoverTo(&action)
		return h.bodyArrived(requestDirection, size, endOfStream)
	}
	h.keepBody(requestDirection, size, endOfStream)
	if h.bodies[requestDirection].edits == nil {
		return h.holdWhilePending(requestDirection)
	}
	defer h.recoverTo(&action)
	return h.onBody(requestDirection, size, endOfStream)
}

// OnHttpResponseBody implements types.HttpContext.
func (h *httpContext) OnHttpResponseBody(size int, endOfStream bool) (action types.Action) {
	if h.bodies[responseDirection].waiting && !h.answered {
		defer h.recoverTo(&action)
		return h.bodyArrived(responseDirection, size, endOfStream)
	}
	h.keepBody(responseDirection, size, endOfStream)
	if h.usage != nil && !h.answered && h.bodies[responseDirection].edits == nil {
		defer h.recoverTo(&action)
		return h.countTokens(size, endOfStream)
	}
	if h.answered || h.bodies[responseDirection].edits == nil {
		return h.holdWhilePending(responseDirection)
	}
	defer h.recoverTo(&action)
	return h.onBody(responseDirection, size, endOfStream)
}

// holdWhilePending holds the body of dir while a call for it is in flight.
func (h *httpContext) holdWhilePending(dir direction) types.Action {
	if h.pending && h.dir == dir {
		return types.ActionPause
	}
	return types.ActionContinue
}

// hostReady resumes a request that waited for signing keys or a token.
func (h *httpContext) hostReady() {
	if h.done || !h.waitingHost {
		return
	}
	h.pending, h.waitingHost = false, false
	h.inHostReady = true
	defer func() { h.inHostReady = false }()
	var action types.Action
	defer h.recoverTo(&action)
	action = h.resume(h.x.Resume(nil, nil), h.dir, true)
}

// OnHttpStreamDone implements types.HttpContext: a call still in flight
// must not touch the finished stream.
func (h *httpContext) OnHttpStreamDone() {
	h.done = true
	if h.x != nil {
		// What the request holds (concurrency slots) goes back; its bytes
		// count against the bandwidth quotas it passed.
		var bytes uint64
		if h.x.CountsBytes() {
			in, _ := properties.GetRequestTotalSize()
			out, _ := properties.GetResponseTotalSize()
			bytes = in + out
		}
		h.x.End(int64(min(bytes, 1<<62)))
		if metrics := h.x.Metrics(); metrics != nil {
			h.plugin.custom.add(h.plugin.counters, metrics)
		}
		h.plugin.export.messages(h.x.EventHubMessages())
	}
	if p := h.plugin; p != nil {
		p.keys.cancel(h.id)
		p.sleepers.cancel(h.id)
		if p.tokens != nil {
			p.tokens.cancel(h.id)
		}
		p.release(h)
	}
}

// apply carries out a Result on the stream in dir.
func (h *httpContext) apply(r policy.Result, dir direction) types.Action {
	if traces := h.x.Traces(); traces != nil {
		h.logTraces(traces)
	}
	if calls := h.x.OneWayCalls(); calls != nil {
		h.sendOneWay(calls)
	}
	if metrics := h.x.Metrics(); metrics != nil {
		h.plugin.custom.add(h.plugin.counters, metrics)
	}
	h.plugin.export.messages(h.x.EventHubMessages())
	switch r.Action {
	case policy.Respond:
		if r.Preflight {
			h.count(metricPreflights)
		}
		h.logEvent(r.Status)
		return h.respond(r.Status, r.Headers, r.Body)
	case policy.Call:
		return h.dispatch(r.Call, dir)
	case policy.Calls:
		if len(r.Calls) == 0 {
			// The wait goes on for calls already sent.
			h.pending, h.dir = true, dir
			return types.ActionPause
		}
		return h.dispatchAll(r.Calls, dir)
	case policy.WaitKeys:
		if h.plugin.keys.wait(r.KeySources, h.id, h.hostReady) {
			h.pending, h.paused, h.waitingHost, h.dir = true, true, true, dir
			return types.ActionPause
		}
		return h.apply(h.x.Resume(nil, nil), dir)
	case policy.Sleep:
		// Resumed by the tick once the delay is over (within tickMS).
		h.plugin.sleepers.add(h.id, r.Delay, h.hostReady)
		h.pending, h.paused, h.waitingHost, h.dir = true, true, true, dir
		return types.ActionPause
	case policy.WaitBody:
		return h.waitBody(dir)
	case policy.WaitToken:
		if h.plugin.tokens.source != nil && h.plugin.tokens.wait(*r.Token, h.id, h.hostReady) {
			h.pending, h.paused, h.waitingHost, h.dir = true, true, true, dir
			return types.ActionPause
		}
		return h.apply(h.x.Resume(nil, nil), dir)
	}
	replace, add, remove := proxywasm.ReplaceHttpRequestHeader, proxywasm.AddHttpRequestHeader, proxywasm.RemoveHttpRequestHeader
	if dir == responseDirection {
		replace, add, remove = proxywasm.ReplaceHttpResponseHeader, proxywasm.AddHttpResponseHeader, proxywasm.RemoveHttpResponseHeader
		if r.Status != 0 {
			if err := replace(":status", strconv.Itoa(r.Status)); err != nil {
				return h.hostFailure("set the response status", err)
			}
		}
	}
	for _, e := range r.Edits {
		var err error
		switch {
		case e.Values == nil:
			err = remove(e.Name)
		case e.Append:
			for _, v := range e.Values {
				if err == nil {
					err = add(e.Name, v)
				}
			}
		default:
			err = replace(e.Name, e.Values[0])
			for _, v := range e.Values[1:] {
				if err == nil {
					err = add(e.Name, v)
				}
			}
		}
		if err != nil {
			return h.hostFailure("set header "+e.Name, err)
		}
	}
	if dir == requestDirection {
		if r.ClearRouteCache {
			clearRouteCache()
		}
		h.count(metricAllowed)
		h.recordDecision("allowed", 0)
	}
	if r.BodyEdits != nil {
		return h.editBody(dir, r.BodyEdits)
	}
	return types.ActionContinue
}

// clearRouteCache asks Envoy to route the request again after the edits
// changed what routes it (set-backend-service). Envoy's Wasm filter stopped
// doing so on every header edit (envoyproxy/envoy#36671) and offers the
// clear_route_cache foreign function instead; an Envoy without it still
// clears the cache on every edit.
func clearRouteCache() {
	if routeCacheState.unsupported {
		return
	}
	if _, err := proxywasm.CallForeignFunction("clear_route_cache", nil); err != nil {
		routeCacheState.unsupported = true
		proxywasm.LogInfof("apimguard: the host has no clear_route_cache function (%v): relying on its clearing the route cache on header edits", err)
	}
}

// routeCacheState remembers whether the host lacks clear_route_cache.
var routeCacheState struct{ unsupported bool }

func (h *httpContext) hostFailure(what string, err error) types.Action {
	proxywasm.LogErrorf("apimguard: denying request: cannot %s: %v", what, err)
	return h.respond(500, jsonContentType, policy.InternalErrorBody)
}

// respond sends a local response. The stream stays paused even if the host
// refuses it: a request the plugin could not answer never reaches upstream.
func (h *httpContext) respond(status int, headers [][2]string, body string) types.Action {
	h.answered = true
	switch {
	case status >= 500:
		h.recordDecision("error", status)
	case status >= 400:
		h.recordDecision("denied", status)
	default:
		h.recordDecision("answered", status)
	}
	if err := proxywasm.SendHttpResponse(uint32(status), headers, []byte(body), -1); err != nil {
		proxywasm.LogErrorf("apimguard: cannot send the %d response: %v", status, err)
	}
	return types.ActionPause
}

// recoverTo turns a panic in a callback into a 500: fail closed, never
// continue.
func (h *httpContext) recoverTo(action *types.Action) {
	if r := recover(); r != nil {
		recovered("denying request", r)
		*action = h.respond(500, jsonContentType, policy.InternalErrorBody)
	}
}

// Header implements policy.Request.
func (h *httpContext) Header(name string) (string, bool) {
	// A pseudo-header occurs once by protocol, so reading it alone is
	// exact, and it spares the whole map (one more call into the module to
	// allocate it) until a policy needs another header.
	if !h.reqHeaders.fetched && strings.HasPrefix(name, ":") {
		v, err := proxywasm.GetHttpRequestHeader(name)
		if err != nil && err != types.ErrorStatusNotFound && h.reqHeaders.err == nil {
			h.reqHeaders.err = err
		}
		return v, err == nil
	}
	return h.reqHeaders.get(proxywasm.GetHttpRequestHeaders, name)
}

// Headers implements policy.HeaderLister.
func (h *httpContext) Headers() [][2]string {
	return h.reqHeaders.all(proxywasm.GetHttpRequestHeaders)
}

// ClientIP implements policy.Request: by default Envoy's downstream remote
// address (after Envoy's own X-Forwarded-For handling), without the port;
// with clientIp.xffTrustedHops = N, the N-th address from the right of the
// X-Forwarded-For the plugin received. "" when there is no usable address:
// policies that need one then fail closed.
func (h *httpContext) ClientIP() string {
	if h.clientIP == nil {
		ip := ""
		if h.plugin.xffTrustedHops > 0 {
			xff, _ := h.Header("x-forwarded-for")
			ip = policy.ClientFromXFF(xff, h.plugin.xffTrustedHops)
		} else if addr, err := properties.GetDownstreamRemoteAddress(); err == nil {
			ip = policy.HostOnly(addr)
		}
		h.clientIP = &ip
	}
	return *h.clientIP
}

// TLSVersion implements policy.TLSReporter: Envoy's connection.tls_version,
// read only when a TLS floor is configured (one host call). A failed read
// is "unknown", which the floor refuses.
func (h *httpContext) TLSVersion() string {
	v, err := proxywasm.GetProperty([]string{"connection", "tls_version"})
	if err != nil && err != types.ErrorStatusNotFound {
		return "unknown"
	}
	return string(v)
}

// Peer implements policy.PeerReporter: what Envoy's connection attributes
// say of the client's certificate. The engine asks once per request, and
// only when a policy reads the certificate, and for the subject, SANs and
// validation only in a mesh (four more host calls). A failed read is an empty
// answer: no certificate, which every check refuses.
func (h *httpContext) Peer(names bool) policy.Peer {
	read := func(name string) string {
		v, err := proxywasm.GetProperty([]string{"connection", name})
		if err != nil {
			if err != types.ErrorStatusNotFound {
				proxywasm.LogWarnf("apimguard: cannot read connection.%s: %v", name, err)
			}
			return ""
		}
		return string(v)
	}
	p := policy.Peer{SHA256: read("sha256_peer_certificate_digest")}
	if names && p.SHA256 != "" {
		p.Subject = read("subject_peer_certificate")
		p.URISAN = read("uri_san_peer_certificate")
		p.DNSSAN = read("dns_san_peer_certificate")
		// A bool attribute is one byte; an Envoy without it (before 1.40)
		// reports nothing, which is not validated.
		v := read("peer_certificate_valid")
		p.Validated = len(v) == 1 && v[0] == 1
	}
	return p
}

// responseView is the upstream response as the engine reads it.
type responseView struct{ h *httpContext }

func (r responseView) Header(name string) (string, bool) {
	return r.h.respHeaders.get(proxywasm.GetHttpResponseHeaders, name)
}

// direction is the stream a pending call belongs to.
type direction uint8

const (
	requestDirection direction = iota
	responseDirection
)

// resume carries out the engine's next result for the stream in dir. When
// called from a callback (async) a Continue resumes the paused stream.
func (h *httpContext) resume(r policy.Result, dir direction, async bool) types.Action {
	action := h.apply(r, dir)
	if !async || action != types.ActionContinue {
		return action
	}
	var err error
	if dir == requestDirection {
		err = proxywasm.ResumeHttpRequest()
	} else {
		err = proxywasm.ResumeHttpResponse()
	}
	if err != nil {
		proxywasm.LogErrorf("apimguard: cannot resume the stream: %v", err)
	}
	return action
}
