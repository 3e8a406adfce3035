package main

// What every call through Envoy shares, send-request's (callout.go) and
// the background fetches' (fetch.go): the headers it is sent with and the
// bounded reading of its answer.

import (
	"strconv"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

	"github.com/apimguard/apimguard/policy"
)

// callHeaders are the headers of an outgoing call: its pseudo-headers,
// then extra.
func callHeaders(method, path, authority, scheme string, extra ...[2]string) [][2]string {
	return append([][2]string{{":method", method}, {":path", path}, {":authority", authority}, {":scheme", scheme}}, extra...)
}

// maxCallBody bounds the answer of an outgoing call (send-request, key
// sets) the module copies in: a larger one is a failed call, so a called
// service cannot fill the VM's memory.
const maxCallBody = 1 << 20

// callResponse reads the answer of the call being reported.
func callResponse(bodySize int) (*policy.CallResponse, error) {
	if bodySize > maxCallBody {
		proxywasm.LogWarnf("apimguard: an outgoing call's answer has %d bytes, more than the %d allowed: treated as a failed call", bodySize, maxCallBody)
		return nil, policy.ErrCallFailed
	}
	pairs, err := proxywasm.GetHttpCallResponseHeaders()
	if err != nil {
		return nil, policy.ErrCallFailed
	}
	r := &policy.CallResponse{}
	for _, kv := range pairs {
		if kv[0] == ":status" {
			r.StatusCode, _ = strconv.Atoi(kv[1])
			continue
		}
		if !strings.HasPrefix(kv[0], ":") {
			r.Headers = append(r.Headers, kv)
		}
	}
	if bodySize > 0 {
		if r.Body, err = proxywasm.GetHttpCallResponseBody(0, bodySize); err != nil {
			return nil, policy.ErrCallFailed
		}
	}
	return r, nil
}
