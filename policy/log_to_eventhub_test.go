package policy

import (
	"reflect"
	"strings"
	"testing"
)

// Attributes and answers as Microsoft's log-to-eventhub page gives them:
// logger-id required, no expressions in it or in partition-id,
// partition-key may be one, the two partition attributes exclude each
// other, the message is the element's text, cut to 200 KB.
func TestLogToEventHub(t *testing.T) {
	doc := inboundDoc(`<log-to-eventhub logger-id ='contoso-logger'>
@( string.Join(",", "req", context.Request.Headers.GetValueOrDefault("x-order", "?"), context.Operation.Name) )
</log-to-eventhub>
<log-to-eventhub logger-id="contoso-logger" partition-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-tenant&quot;, &quot;none&quot;))">@{ var s = "x"; while (s.Length &lt; 210 * 1024) { s = s + s; } return s; }</log-to-eventhub>
<log-to-eventhub logger-id="audit" partition-id=" 3 ">plain text</log-to-eventhub>`)
	g, err := CompileGateway(Config{APIs: []API{{Name: "orders", PathPrefix: "/orders", Policy: doc,
		Operations: []Operation{{Name: "get-order", Method: "GET", URLTemplate: "/{id}"}}}}, Loggers: []string{"contoso-logger", "audit"}}, Options{Doc: "policy"})
	if err != nil {
		t.Fatal(err)
	}
	var x Exec
	g.Begin(&x, headers{":method": "GET", ":path": "/orders/1", ":authority": "a", "x-order": "42", "x-tenant": "t1"}, subNow)
	if r := x.Inbound(); r.Action != Continue {
		t.Fatalf("%+v", r)
	}
	want := []EventHubMessage{
		{Logger: "contoso-logger", Message: "req,42,get-order"},
		{Logger: "contoso-logger", PartitionKey: "t1", Message: strings.Repeat("x", 200*1024)},
		{Logger: "audit", PartitionID: "3", Message: "plain text"},
	}
	got, dropped := x.EventHubMessages()
	if !reflect.DeepEqual(got, want) || dropped != 0 {
		t.Errorf("messages %.200v (dropped %d)\nwant %.200v", got, dropped, want)
	}
	if got, _ := x.EventHubMessages(); got != nil {
		t.Errorf("taken twice: %+v", got)
	}
	// At most maxEventHubMessages per request; the rest are counted.
	g, err = CompileGateway(Config{Policy: inboundDoc(strings.Repeat(`<log-to-eventhub logger-id="audit">m</log-to-eventhub>`, maxEventHubMessages+5)), Loggers: []string{"audit"}}, Options{Doc: "policy"})
	if err != nil {
		t.Fatal(err)
	}
	x = Exec{}
	g.Begin(&x, get(nil), subNow)
	x.Inbound()
	if got, dropped := x.EventHubMessages(); len(got) != maxEventHubMessages || dropped != 5 {
		t.Errorf("%d messages, %d dropped; want %d, 5", len(got), dropped, maxEventHubMessages)
	}
	for _, tc := range []struct{ policy, want string }{
		{`<log-to-eventhub logger-id="nope">m</log-to-eventhub>`, `policy:3:29: log-to-eventhub: logger "nope" is not configured (known: "audit", "contoso-logger")`},
		{`<log-to-eventhub>m</log-to-eventhub>`, `policy:3:1: log-to-eventhub: missing required attribute "logger-id"`},
		{`<log-to-eventhub logger-id="audit" partition-id="1" partition-key="k">m</log-to-eventhub>`, `policy:3:53: log-to-eventhub: partition-id and partition-key exclude each other`},
		{`<log-to-eventhub logger-id="audit" partition-id="@(1)">m</log-to-eventhub>`, `policy:3:36: log-to-eventhub: attribute "partition-id" must be a constant or a named value`},
		{`<log-to-eventhub logger-id="audit" partition-id="x">m</log-to-eventhub>`, `policy:3:50: log-to-eventhub: partition-id must be a partition index from 0 to 1023, not "x"`},
		{`<log-to-eventhub logger-id="@(&quot;audit&quot;)">m</log-to-eventhub>`, `policy:3:18: log-to-eventhub: attribute "logger-id" must be a constant or a named value`},
		{`<log-to-eventhub logger-id="audit"><message>m</message></log-to-eventhub>`, `policy:3:36: log-to-eventhub: unexpected element <message> (the message is the element's text)`},
	} {
		_, err := CompileGateway(Config{Policy: inboundDoc(tc.policy), Loggers: []string{"audit", "contoso-logger"}}, Options{Doc: "policy"})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.policy, err, tc.want)
		}
	}
	if _, err := CompileGateway(Config{Policy: inboundDoc(`<log-to-eventhub logger-id="audit">m</log-to-eventhub>`)}, Options{Doc: "policy"}); err == nil ||
		err.Error() != `policy:3:29: log-to-eventhub: logger "audit" is not configured (the configuration has no "loggers")` {
		t.Errorf("no loggers: %v", err)
	}
}
