package main

// Outgoing calls of send-request: dispatched from the request's stream,
// which pauses until the answer resumes the engine. Background fetches
// (keys, tokens) are in fetch.go, what both share in calls.go.

import (
	"errors"
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// dispatch sends an outgoing call and pauses the stream until it answers.
func (h *httpContext) dispatch(call *policy.OutgoingCall, dir direction) types.Action {
	if !h.send(call, func(resp *policy.CallResponse, err error) (policy.Result, bool) { return h.x.Resume(resp, err), true }) {
		return h.resume(h.x.Resume(nil, policy.ErrCallFailed), dir, false)
	}
	h.pending, h.paused, h.dir = true, true, dir
	return types.ActionPause
}

// dispatchAll sends a wait's calls at once and pauses the stream; each
// answer resumes the engine (Exec.ResumeCall) while the engine awaits it.
// A call that cannot be made fails at once, which may end the wait.
func (h *httpContext) dispatchAll(calls []*policy.OutgoingCall, dir direction) types.Action {
	for i := 0; i < len(calls); i++ {
		c := calls[i]
		if h.send(c, func(resp *policy.CallResponse, err error) (policy.Result, bool) {
			if !h.x.Awaits(c) {
				return policy.Result{}, false // the wait ended: nobody reads it
			}
			return h.x.ResumeCall(c, resp, err), true
		}) {
			continue
		}
		r := h.x.ResumeCall(c, nil, policy.ErrCallFailed)
		if r.Action != policy.Calls {
			return h.apply(r, dir)
		}
		calls = append(calls, r.Calls...)
	}
	h.pending, h.paused, h.dir = true, true, dir
	return types.ActionPause
}

// send dispatches call; its answer, or its failure after the dispatch, goes
// to answer, which returns the engine's next result, or false when the
// answer is to be dropped. send reports false when the call could not be
// made at all.
func (h *httpContext) send(call *policy.OutgoingCall, answer func(*policy.CallResponse, error) (policy.Result, bool)) bool {
	cluster, headers := h.callTarget(call)
	start := now()
	timeout := call.TimeoutMS
	// Dispatched while a key or token fetch's answer resumes this request,
	// the SDK files the call under the fetch's context (the plugin's), and
	// its answer would arrive there: make this stream effective again.
	fromRoot := h.inHostReady
	_, err := proxywasm.DispatchHttpCall(cluster, headers, call.Body, nil, timeout, func(numHeaders, bodySize, _ int) {
		if fromRoot {
			_ = proxywasm.SetEffectiveContext(h.id)
		}
		h.onCallResponse(numHeaders, bodySize, start, timeout, answer)
	})
	if err != nil {
		proxywasm.LogWarnf("apimguard: cannot call cluster %q for %s: %v", cluster, call.Authority, err)
		h.count(outcomeMetric("failure", "callouts"))
		return false
	}
	return true
}

// onCallResponse resumes the engine with a call's answer.
func (h *httpContext) onCallResponse(numHeaders, bodySize int, start time.Time, timeoutMS uint32, answer func(*policy.CallResponse, error) (policy.Result, bool)) {
	if h.done {
		// The stream ended while the call was in flight. The SDK already
		// drops answers for deleted contexts; this covers the time between
		// the stream's end (proxy_on_log) and its deletion.
		return
	}
	var action types.Action
	defer h.recoverTo(&action)
	var resp *policy.CallResponse
	var err error
	if numHeaders == 0 {
		err = policy.ErrCallFailed
		if now().Sub(start) >= time.Duration(timeoutMS)*time.Millisecond*95/100 {
			err = policy.ErrCallTimeout
		}
	} else if resp, err = callResponse(bodySize); err == nil {
		err = envoyFailure(resp)
	}
	switch {
	case err == nil:
		h.count(outcomeMetric("success", "callouts"))
	case errors.Is(err, policy.ErrCallTimeout):
		h.count(outcomeMetric("timeout", "callouts"))
	default:
		h.count(outcomeMetric("failure", "callouts"))
	}
	if err != nil {
		resp = nil
	}
	r, ok := answer(resp, err)
	if !ok {
		return
	}
	h.pending = false
	action = h.resume(r, h.dir, true)
}

// envoyFailure recognises the answers Envoy makes up itself when a call
// gets no response: its async client reports a timeout or a refused
// connection as a local 504 or 503, not as a failure.
func envoyFailure(r *policy.CallResponse) error {
	body := string(r.Body)
	switch {
	case r.StatusCode == 504 && body == "upstream request timeout":
		return policy.ErrCallTimeout
	case r.StatusCode == 503 && (strings.HasPrefix(body, "upstream connect error") || body == "no healthy upstream"):
		return policy.ErrCallFailed
	}
	return nil
}

// callTarget is the cluster and headers of an outgoing call.
func (h *httpContext) callTarget(call *policy.OutgoingCall) (string, [][2]string) {
	scheme := "http"
	if strings.HasPrefix(strings.ToLower(call.URL), "https://") {
		scheme = "https"
	}
	return h.plugin.upstreams.Cluster(call.Authority, scheme), callHeaders(call.Method, call.Path, call.Authority, scheme, call.Headers...)
}

// sendOneWay sends send-one-way-request's calls without waiting: their
// answers are only counted, and never touch the stream.
func (h *httpContext) sendOneWay(calls []*policy.OutgoingCall) {
	counters := h.plugin.counters
	for _, call := range calls {
		cluster, headers := h.callTarget(call)
		_, err := proxywasm.DispatchHttpCall(cluster, headers, call.Body, nil, call.TimeoutMS, func(numHeaders, _, _ int) {
			outcome := "success"
			if numHeaders == 0 {
				outcome = "failure"
			}
			counters.count(outcomeMetric(outcome, "one_way_requests"))
		})
		if err != nil {
			proxywasm.LogWarnf("apimguard: cannot call cluster %q for %s: %v", cluster, call.Authority, err)
			counters.count(outcomeMetric("failure", "one_way_requests"))
		}
	}
}
