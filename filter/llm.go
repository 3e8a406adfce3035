package main

import (
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apimguard/apimguard/policy"
)

// The tokens an LLM backend's answer used, for llm-token-limit and the
// token metrics (policy/llm_tokens.go). The answer is read chunk by chunk
// as it passes and never held, streamed (server-sent events) or not, so
// counting adds no latency and no buffering.

// usageReader is a streamed or a whole answer's reader.
type usageReader interface {
	Write(chunk []byte)
	Usage() (prompt, completion int64, reported bool)
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
	ct, _ := responseView{h}.Header("content-type")
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "text/event-stream") {
		h.usage = &policy.StreamUsage{}
	} else {
		h.usage = &policy.BodyUsage{}
	}
}

// countTokens is a response body callback while the tokens are read.
func (h *httpContext) countTokens(size int, endOfStream bool) types.Action {
	if size > 0 {
		if chunk, err := proxywasm.GetHttpResponseBody(0, size); err == nil {
			h.usage.Write(chunk)
		}
	}
	if endOfStream {
		p, c, reported := h.usage.Usage()
		h.settleTokens(p, c, reported)
	}
	return types.ActionContinue
}

// settleTokens counts the tokens and records the token metrics.
func (h *httpContext) settleTokens(prompt, completion int64, reported bool) {
	h.usage = nil
	h.x.TokenUsage(prompt, completion, reported)
	if metrics := h.x.Metrics(); metrics != nil {
		h.plugin.custom.add(h.plugin.counters, metrics)
	}
}
