//go:build !wasip1

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tidwall/gjson"
)

const exportConfig = `{"policy": "<policies><inbound><log-to-eventhub logger-id=\"audit\" partition-key=\"@(context.Request.Headers.GetValueOrDefault(&quot;x-tenant&quot;, &quot;&quot;))\">@(&quot;seen &quot; + context.Request.Url.Path)</log-to-eventhub><check-header name=\"x-key\" failed-check-httpcode=\"401\" failed-check-error-message=\"no key\" /></inbound></policies>",
  "managedIdentity": {"source": "imds"},
  "events": {"azureMonitor": {"endpoint": "https://dce-1.eastus-1.ingest.monitor.azure.com", "ruleId": "dcr-00aa", "stream": "Custom-ApimGuard_CL"}, "batchEvents": 2, "bufferEvents": 3},
  "loggers": {"audit": {"type": "azureEventHub", "endpointAddress": "contoso.servicebus.windows.net", "name": "apim-logs", "identityClientId": "SystemAssigned"}},
  "upstreams": {"169.254.169.254": "imds", "dce-1.eastus-1.ingest.monitor.azure.com": "monitor", "contoso.servicebus.windows.net": "eventhubs"}}`

// The exporter: denials wait in the worker's buffer until the monitor's
// token is there and a batch is full, go out as one JSON array with the
// bearer token, stay through 429 and 500 (Retry-After honoured) and leave
// on 204; a full buffer drops and counts; log-to-eventhub's messages go to
// their hub with the partition key. No request waits for any of it.
func TestExport_batches(t *testing.T) {
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		p, st := startPluginVM(t, vm, `{"testClock": "`+time.Now().UTC().Format(time.RFC3339)+`"}`, exportConfig)
		if st != types.OnPluginStartStatusOK {
			t.Fatalf("refused: %q", p.host.GetCriticalLogs())
		}
		callsTo := func(upstream string) []proxytest.HttpCalloutAttribute {
			var out []proxytest.HttpCalloutAttribute
			for _, c := range p.host.GetCalloutAttributesFromContext(proxytest.PluginContextID) {
				if c.Upstream == upstream {
					out = append(out, c)
				}
			}
			return out
		}
		deny := func(path string) {
			t.Helper()
			id := p.host.InitializeHttpContext()
			p.host.CallOnRequestHeaders(id, [][2]string{{":method", "GET"}, {":path", path}, {":authority", "api.example.com"}, {"x-tenant", "t1"}}, true)
			if r := p.host.GetSentLocalResponse(id); r == nil || r.StatusCode != 401 {
				t.Fatalf("%s: %+v", path, r)
			}
			p.host.CompleteHttpContext(id)
		}
		deny("/a")
		deny("/b")
		// No token yet: the tick asks for the two tokens the sinks need,
		// nothing is sent, and the requests were answered at once.
		p.host.Tick()
		toks := callsTo("imds")
		if len(toks) != 2 {
			t.Fatalf("%d token fetches, want 2 (monitor and event hubs)", len(toks))
		}
		expires := itoa64(time.Now().Add(time.Hour).Unix())
		for _, c := range toks {
			res := "monitor"
			if strings.Contains(headerValue(c.Headers, ":path"), "eventhubs") {
				res = "hubs"
			}
			p.host.CallOnHttpCallResponse(c.CalloutID, [][2]string{{":status", "200"}}, nil, []byte(`{"access_token":"tok-`+res+`","expires_on":"`+expires+`"}`))
		}
		if n := len(callsTo("monitor")); n != 0 {
			t.Fatalf("%d batches before the tick", n)
		}
		p.host.Tick()
		batches := callsTo("monitor")
		if len(batches) != 1 {
			t.Fatalf("%d batches, want 1", len(batches))
		}
		b := batches[0]
		if headerValue(b.Headers, ":method") != "POST" || headerValue(b.Headers, ":path") != "/dataCollectionRules/dcr-00aa/streams/Custom-ApimGuard_CL?api-version=2023-01-01" ||
			headerValue(b.Headers, ":authority") != "dce-1.eastus-1.ingest.monitor.azure.com" || headerValue(b.Headers, "authorization") != "Bearer tok-monitor" ||
			headerValue(b.Headers, "content-type") != "application/json" {
			t.Fatalf("batch headers %v", b.Headers)
		}
		recs := gjson.ParseBytes(b.Body).Array()
		if len(recs) != 2 || recs[0].Get("event").Str != "deny" || recs[0].Get("policy").Str != "check-header" || recs[0].Get("reason").Str != "HeaderNotFound" ||
			recs[0].Get("status").Int() != 401 || recs[0].Get("path").Str != "/a" || recs[1].Get("path").Str != "/b" {
			t.Fatalf("batch %s", b.Body)
		}
		// The VM's clock (wazero's stands in 2022): an RFC 3339 UTC time.
		if ts, err := time.Parse("2006-01-02T15:04:05.000Z", recs[0].Get("TimeGenerated").Str); err != nil || ts.Year() < 2022 {
			t.Fatalf("TimeGenerated %q: %v", recs[0].Get("TimeGenerated").Str, err)
		}
		hubs := callsTo("eventhubs")
		if len(hubs) != 1 || headerValue(hubs[0].Headers, ":path") != "/apim-logs/messages?timeout=60&api-version=2014-01" ||
			headerValue(hubs[0].Headers, "authorization") != "Bearer tok-hubs" || headerValue(hubs[0].Headers, "content-type") != "application/vnd.microsoft.servicebus.json" ||
			string(hubs[0].Body) != `[{"Body":"seen /a","BrokerProperties":{"PartitionKey":"t1"}},{"Body":"seen /b","BrokerProperties":{"PartitionKey":"t1"}}]` {
			t.Fatalf("event hub batch %+v", hubs)
		}
		p.host.CallOnHttpCallResponse(hubs[0].CalloutID, [][2]string{{":status", "201"}}, nil, nil)
		// 429, then 500: the batch stays and is sent again, as it was.
		p.host.CallOnHttpCallResponse(b.CalloutID, [][2]string{{":status", "429"}, {"retry-after", "0"}}, nil, []byte(`{"error":"throttled"}`))
		p.host.Tick()
		if batches = callsTo("monitor"); len(batches) != 2 || string(batches[1].Body) != string(b.Body) {
			t.Fatalf("after 429: %d batches", len(batches))
		}
		p.host.CallOnHttpCallResponse(batches[1].CalloutID, [][2]string{{":status", "500"}, {"retry-after", "0"}}, nil, nil)
		// While it is failing, the buffer (3) fills: two more denials fit
		// behind the two kept... one does, the next is dropped.
		deny("/c")
		deny("/d")
		p.host.Tick()
		if batches = callsTo("monitor"); len(batches) != 3 || string(batches[2].Body) != string(b.Body) {
			t.Fatalf("after 500: %d batches", len(batches))
		}
		p.host.CallOnHttpCallResponse(batches[2].CalloutID, [][2]string{{":status", "204"}}, nil, nil)
		p.host.Tick() // /c alone waits for a full batch or the flush interval
		if batches = callsTo("monitor"); len(batches) != 3 {
			t.Fatalf("a batch of one before its time: %s", batches[len(batches)-1].Body)
		}
		// A batch the endpoint refuses as such (400) is dropped and counted,
		// never sent again.
		deny("/e")
		p.host.Tick()
		if batches = callsTo("monitor"); len(batches) != 4 || !strings.Contains(string(batches[3].Body), `"path":"/c"`) {
			t.Fatalf("%d batches", len(batches))
		}
		p.host.CallOnHttpCallResponse(batches[3].CalloutID, [][2]string{{":status", "400"}}, nil, []byte(`{"error":{"code":"InvalidStream"}}`))
		p.host.Tick()
		p.host.Tick()
		if batches = callsTo("monitor"); len(batches) != 4 {
			t.Fatalf("a refused batch was sent again")
		}
		for name, want := range map[string]uint64{
			outcomeMetric("sent", "azure_monitor_events"):    2,
			outcomeMetric("dropped", "azure_monitor_events"): 3,
			outcomeMetric("refused", "export_batches"):       1,
			outcomeMetric("retried", "export_batches"):       2,
			outcomeMetric("sent", "export_batches"):          2,
			outcomeMetric("sent", "eventhub_messages"):       2,
		} {
			if n, err := p.host.GetCounterMetric(name); err != nil || n != want {
				t.Errorf("%s = %d (%v), want %d", name, n, err, want)
			}
		}
		for _, l := range append(p.host.GetWarnLogs(), p.host.GetInfoLogs()...) {
			if strings.Contains(l, "tok-") {
				t.Fatalf("a token in a log line: %s", l)
			}
		}
		if !logged(p.host.GetWarnLogs(), `apimguard: export to azure monitor failed (status 429)`) {
			t.Errorf("no line for the failure: %q", p.host.GetWarnLogs())
		}
	})
}

func logged(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// A configuration with a sink and no managed identity, or an unknown
// logger, refuses to start with one line naming it.
func TestExport_configErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{"policy": "<policies/>", "events": {"azureMonitor": {"endpoint": "https://x.ingest.monitor.azure.com", "ruleId": "dcr-1", "stream": "Custom-A_CL"}}}`,
			`events.azureMonitor needs "managedIdentity"`},
		{`{"policy": "<policies/>", "managedIdentity": {"source": "imds"}, "events": {"azureMonitor": {"endpoint": "http://x.ingest.monitor.azure.com", "ruleId": "dcr-1", "stream": "Custom-A_CL"}}}`,
			`events.azureMonitor.endpoint must be the https URL of a data collection endpoint`},
		{`{"policy": "<policies><inbound><log-to-eventhub logger-id=\"nope\">m</log-to-eventhub></inbound></policies>", "managedIdentity": {"source": "imds"}, "loggers": {"audit": {"endpointAddress": "ns.servicebus.windows.net", "name": "h"}}}`,
			`policy:1:48: log-to-eventhub: logger "nope" is not configured (known: "audit")`},
		{`{"policy": "<policies/>", "managedIdentity": {"source": "imds"}, "loggers": {"ai": {"type": "applicationInsights", "endpointAddress": "x", "name": "h"}}}`,
			`loggers["ai"]: type "applicationInsights" is not supported`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			p, st := startPlugin(t, &vmContext{}, tc.cfg)
			if st == types.OnPluginStartStatusOK || !logged(p.host.GetCriticalLogs(), tc.want) {
				t.Errorf("%s:\n%q\nwant %q", tc.cfg, p.host.GetCriticalLogs(), tc.want)
			}
		})
	}
}
