//go:build !wasip1

package main

import (
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// The throttling counters live in the host's shared data: natively and in
// the built module under wazero, a limit of 2 lets 2 requests of a key
// through, and a concurrency slot comes back when the stream ends.
func TestThrottling_sharedData(t *testing.T) {
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		p := mustStart(t, vm, `{"policy": `+jsonQuote(`<policies><inbound>
<rate-limit-by-key calls="2" renewal-period="60" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;&quot;))" />
<set-header name="x-inside" exists-action="override"><value>yes</value></set-header>
</inbound><backend><limit-concurrency key="one-at-a-time" max-count="1"><forward-request /></limit-concurrency></backend></policies>`)+`}`)
		for i := 0; i < 2; i++ {
			if o := p.request([2]string{"x-client", "alice"}); o.local != nil || headerValue(o.upstream, "x-inside") != "yes" {
				t.Fatalf("call %d: %+v", i+1, o.local)
			}
		}
		o := p.request([2]string{"x-client", "alice"})
		if o.local == nil || o.local.StatusCode != 429 || headerValue(o.local.Headers, "retry-after") != "30" ||
			string(o.local.Data) != `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 30 seconds."}` {
			t.Fatalf("3rd call: %+v", o.local)
		}
		if o := p.request([2]string{"x-client", "bob"}); o.local != nil {
			t.Fatalf("another key: %d", o.local.StatusCode)
		}
		// One request at a time to the backend: the slot is held until the
		// response, or the end of the stream.
		first := p.host.InitializeHttpContext()
		p.host.CallOnRequestHeaders(first, [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "api.example.com"}}, false)
		if o := p.request(); o.local == nil || o.local.StatusCode != 429 ||
			string(o.local.Data) != `{"statusCode":429,"message":"Too many concurrent requests."}` {
			t.Fatalf("a second request while the first is at the backend: %+v", o.local)
		}
		p.host.CompleteHttpContext(first) // the client went away
		if o := p.request(); o.local != nil {
			t.Fatalf("after the first ended: %d", o.local.StatusCode)
		}
		if o := p.request(); o.local != nil {
			t.Fatalf("the request before released its slot at its end: %d", o.local.StatusCode)
		}
	})
}
