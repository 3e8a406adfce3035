//go:build !wasip1

package main

import (
	"github.com/apimguard/apimguard/internal/corpus"
	"github.com/apimguard/apimguard/internal/pluginconfig"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// introspectionPolicy is the corpus's send-request case file's policy
// (APIM's token introspection pattern); the corpus shows the answers to an
// active and an inactive token in every tier, here the plugin's part: the
// call it makes, the body it holds, and Envoy's own failure answers.
var introspectionPolicy = corpus.ExamplePolicy("..", "policies/send-request.yaml")

func TestUpstreams_cluster(t *testing.T) {
	u := pluginconfig.Upstreams{"auth.example.com": "auth", "idp:8443": "idp-tls"}
	tests := []struct{ authority, scheme, want string }{
		{"auth.example.com", "https", "auth"},
		{"AUTH.example.com:9000", "https", "auth"},
		{"idp:8443", "https", "idp-tls"},
		{"idp", "https", "outbound|443||idp"},
		{"svc.ns.svc.cluster.local", "http", "outbound|80||svc.ns.svc.cluster.local"},
		{"svc:7000", "http", "outbound|7000||svc"},
		{"[2001:db8::1]:8080", "http", "outbound|8080||2001:db8::1"},
	}
	for _, tc := range tests {
		if got := u.Cluster(tc.authority, tc.scheme); got != tc.want {
			t.Errorf("cluster(%q) = %q, want %q", tc.authority, got, tc.want)
		}
	}
}

func TestSendRequest_throughPlugin(t *testing.T) {
	cfg := `{"policy": ` + jsonQuote(introspectionPolicy) + `, "upstreams": {"auth.example.com": "introspection"}}`
	start := func(p *plugin) (uint32, uint32) {
		id := p.host.InitializeHttpContext()
		hs := [][2]string{{":method", "POST"}, {":path", "/orders"}, {":authority", "api.contoso.com"}, {":scheme", "https"}, {"authorization", "Bearer tok-42"}}
		if a := p.host.CallOnRequestHeaders(id, hs, false); a != types.ActionPause {
			t.Fatalf("headers: action %v, want Pause while the call is pending", a)
		}
		calls := p.host.GetCalloutAttributesFromContext(id)
		if len(calls) != 1 {
			t.Fatalf("%d callouts, want 1", len(calls))
		}
		c := calls[0]
		if c.Upstream != "introspection" || string(c.Body) != "token=tok-42" ||
			headerValue(c.Headers, ":method") != "POST" || headerValue(c.Headers, ":path") != "/introspect" ||
			headerValue(c.Headers, ":authority") != "auth.example.com" || headerValue(c.Headers, ":scheme") != "https" ||
			headerValue(c.Headers, "content-type") != "application/x-www-form-urlencoded" {
			t.Fatalf("callout = %+v", c)
		}
		return id, c.CalloutID
	}
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		t.Run("active token: the request goes on with its body", func(t *testing.T) {
			p := mustStart(t, vm, cfg)
			id, call := start(p)
			if a := p.host.CallOnRequestBody(id, []byte("order=1"), true); a != types.ActionPause {
				t.Fatalf("body while pending: action %v, want Pause", a)
			}
			p.host.CallOnHttpCallResponse(call, [][2]string{{":status", "200"}, {"content-type", "application/json"}}, nil, []byte(`{"active":true}`))
			if a := p.host.GetCurrentHttpStreamAction(id); a != types.ActionContinue {
				t.Fatalf("after the answer: action %v, want Continue", a)
			}
			if r := p.host.GetSentLocalResponse(id); r != nil {
				t.Fatalf("local response %d %s", r.StatusCode, r.Data)
			}
			if got := string(p.host.GetCurrentRequestBody(id)); got != "order=1" {
				t.Errorf("request body = %q, want it intact", got)
			}
		})
		t.Run("failed call: fails closed", func(t *testing.T) {
			p := mustStart(t, vm, cfg)
			id, call := start(p)
			p.host.CallOnHttpCallResponse(call, nil, nil, nil)
			if r := p.host.GetSentLocalResponse(id); r == nil || r.StatusCode != 500 {
				t.Fatalf("got %+v", r)
			}
		})
		t.Run("Envoy's own timeout and connect-failure answers are failures", func(t *testing.T) {
			for body, want := range map[string]string{
				"upstream request timeout": "send-request/Timeout",
				"upstream connect error or disconnect/reset before headers. reset reason: connection failure": "send-request/BackendConnectionFailure",
			} {
				t.Run(want, func(t *testing.T) {
					withReason := `{"policy": ` + jsonQuote(strings.Replace(introspectionPolicy, "</inbound>", `</inbound><on-error><set-header name="x-reason" exists-action="override"><value>@(context.LastError.Source + "/" + context.LastError.Reason)</value></set-header></on-error>`, 1)) + `, "upstreams": {"auth.example.com": "introspection"}}`
					p := mustStart(t, vm, withReason)
					id, call := start(p)
					status := "504"
					if strings.HasPrefix(body, "upstream connect") {
						status = "503"
					}
					p.host.CallOnHttpCallResponse(call, [][2]string{{":status", status}, {"content-type", "text/plain"}}, nil, []byte(body))
					r := p.host.GetSentLocalResponse(id)
					if r == nil || r.StatusCode != 500 || headerValue(r.Headers, "x-reason") != want {
						t.Fatalf("got %+v", r)
					}
				})
			}
		})
		t.Run("an upstream's own 503 is an answer", func(t *testing.T) {
			p := mustStart(t, vm, cfg)
			id, call := start(p)
			p.host.CallOnHttpCallResponse(call, [][2]string{{":status", "503"}}, nil, []byte(`{"active":false}`))
			if r := p.host.GetSentLocalResponse(id); r == nil || r.StatusCode != 401 {
				t.Fatalf("got %+v", r)
			}
		})
		t.Run("stream ends while the call is pending", func(t *testing.T) {
			p := mustStart(t, vm, cfg)
			id, call := start(p)
			p.host.CompleteHttpContext(id)
			p.host.CallOnHttpCallResponse(call, [][2]string{{":status", "200"}}, nil, []byte(`{"active":false}`))
			if r := p.host.GetSentLocalResponse(id); r != nil {
				t.Fatalf("the finished stream got a response: %+v", r)
			}
		})
	})
}
