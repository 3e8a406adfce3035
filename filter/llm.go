package main

import (
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apimguard/apimguard/policy"
)

// The tokens an LLM backend's answer used, for llm-token-limit and the
// token metrics (policy/llm_tokens.go). A streamed answer (server-sent
// events) is read chunk by chunk as it passes; any other is held until it
// is complete (at most policy.MaxBody: past it, only the estimate counts),
// then read once and sent on unchanged.

// llmState is how a response's tokens are being read.
type llmState struct {
	stream *policy.StreamUsage // a streamed answer's reader; nil otherwise
	active bool                // the response body is being read
}

// startTokenCount decides, at the response's headers, how its tokens are
// read.
func (h *httpContext) startTokenCount(endOfStream bool) {
	if !h.x.CountsTokens() {
		return
	}
	if endOfStream {
		h.settleTokens(0, 0, false)
		return
	}
	h.llm.active = true
	ct, _ := responseView{h}.Header("content-type")
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "text/event-stream") {
		h.llm.stream = &policy.StreamUsage{}
	}
}

// countTokens is a response body callback while the tokens are read.
func (h *httpContext) countTokens(size int, endOfStream bool) types.Action {
	if s := h.llm.stream; s != nil {
		if size > 0 {
			chunk, err := proxywasm.GetHttpResponseBody(0, min(size, policy.MaxBody))
			if err == nil {
				s.Write(chunk)
			}
		}
		if endOfStream {
			p, c, reported := s.Usage()
			h.settleTokens(p, c, reported)
		}
		return types.ActionContinue
	}
	if size > policy.MaxBody {
		h.settleTokens(0, 0, false) // too large to hold: the estimate counts
		return types.ActionContinue
	}
	if !endOfStream {
		return types.ActionPause
	}
	var body []byte
	if size > 0 {
		var err error
		if body, err = proxywasm.GetHttpResponseBody(0, size); err != nil {
			h.settleTokens(0, 0, false)
			return types.ActionContinue
		}
	}
	p, c, reported := policy.ResponseUsage(body)
	h.settleTokens(p, c, reported)
	return types.ActionContinue
}

// settleTokens counts the tokens and records the token metrics.
func (h *httpContext) settleTokens(prompt, completion int64, reported bool) {
	h.llm.active = false
	h.x.TokenUsage(prompt, completion, reported)
	if metrics := h.x.Metrics(); metrics != nil {
		h.plugin.custom.add(h.plugin.counters, metrics)
	}
}
