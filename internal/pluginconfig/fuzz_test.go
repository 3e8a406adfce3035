package pluginconfig

import (
	"testing"
	"time"

	"github.com/apimguard/apimguard/policy/jwt"
)

// noKeys is a KeyStore with no key sets loaded yet.
type noKeys struct{}

func (noKeys) KeySet(string) *jwt.KeySet { return nil }

// FuzzParseConfig: the configuration reader and the compiler behind it
// never panic on any plugin configuration; they accept it or return one
// error line.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{"policy": "<policies><inbound><set-variable name=\"allowedKey\" value=\"{{api-key}}\" /><check-header name=\"x-api-key\" failed-check-httpcode=\"403\"><value>{{context.Variables[\"allowedKey\"]}}</value></check-header></inbound></policies>", "namedValues": {"api-key": "k-3f9a1c7e"}}`,
		`{"policy":"<policies/>","apis":[{"name":"a","pathPrefix":"/a","hosts":["x.example"],"operations":[{"name":"o","method":"GET","urlTemplate":"/{id}"}]}]}`,
		`{"policy":"<policies/>","clientIp":{"xffTrustedHops":2},"tokenCache":-1,"eventsPerSecond":3,"upstreams":{"a":"b"}}`,
		`<policies><inbound><base/></inbound></policies>`,
		`{"apis":[[[[[[[[[[]]]]]]]]]]}`,
		`{"policy":"<policies><inbound><set-backend-service backend-id=\"b\" /><cache-lookup-value key=\"k\" variable-name=\"v\" /><retry condition=\"false\" count=\"1\" interval=\"0\"><trace source=\"s\"><message>m</message></trace></retry></inbound></policies>","backends":{"b":{"url":"https://b.example/api"}},"upstreams":{"b.example":"b"}}`,
		`{"policy":"<policies><inbound><include-fragment fragment-id=\"a\" /><choose><when condition=\"true\"><include-fragment fragment-id=\"b\" /></when></choose></inbound></policies>","fragments":{"a":"<fragment><set-variable name=\"v\" value=\"1\" /></fragment>","b":"<fragment><include-fragment fragment-id=\"a\" /></fragment>"}}`,
		`{"policy":"<policies><inbound><wait for=\"any\"><send-request response-variable-name=\"a\"><set-url>https://a.example/</set-url></send-request><choose><when condition=\"true\"><cache-lookup-value key=\"k\" variable-name=\"b\" /></when></choose></wait></inbound><backend><retry condition=\"@(context.Response.StatusCode == 429 || context.Response.StatusCode >= 500)\" count=\"3\" interval=\"1\"><forward-request timeout-ms=\"1500\" buffer-request-body=\"true\" /></retry></backend></policies>"}`,
		`{"policy":"<policies><inbound><log-to-eventhub logger-id=\"a\" partition-id=\"1\">@(context.RequestId.ToString())</log-to-eventhub></inbound></policies>","managedIdentity":{"source":"imds"},"events":{"azureMonitor":{"endpoint":"https://d.ingest.monitor.azure.com","ruleId":"dcr-1","stream":"Custom-A_CL"},"batchEvents":2,"flushSeconds":1,"bufferEvents":9},"loggers":{"a":{"type":"azureEventHub","endpointAddress":"ns.servicebus.windows.net","name":"h","identityClientId":"SystemAssigned"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		_, _ = cfg.Compile(noKeys{}, nil, time.Now, nil)
	})
}
