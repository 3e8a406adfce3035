package policy

import (
	"reflect"
	"testing"
)

func TestEmitMetric(t *testing.T) {
	g, err := CompileGateway(Config{APIs: []API{{Name: "orders", PathPrefix: "/orders", Policy: inboundDoc(`<emit-metric name="Requests" value="2.6">
  <dimension name="API ID" /><dimension name="Subscription ID" /><dimension name="Location" /><dimension name="Client" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;none&quot;))" />
</emit-metric>
<emit-metric name="Negative" value="-3"><dimension name="API ID" /></emit-metric>`)}}}, Options{Doc: "policy"})
	if err != nil {
		t.Fatal(err)
	}
	var x Exec
	g.Begin(&x, headers{":method": "GET", ":path": "/orders/1", ":authority": "a", "x-client": "web"}, subNow)
	if r := x.Inbound(); r.Action != Continue {
		t.Fatalf("%+v", r)
	}
	want := []Metric{
		{Namespace: "API Management", Name: "Requests", Value: 3, Dimensions: [][2]string{{"API ID", "orders"}, {"Subscription ID", ""}, {"Location", ""}, {"Client", "web"}}},
		{Namespace: "API Management", Name: "Negative", Value: 0, Dimensions: [][2]string{{"API ID", "orders"}}},
	}
	if got := x.Metrics(); !reflect.DeepEqual(got, want) {
		t.Errorf("metrics %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct{ policy, want string }{
		{`<emit-metric name="m" />`, `policy:3:1: emit-metric: needs 1 to 5 <dimension>s`},
		{`<emit-metric name="m"><dimension name="Client" /></emit-metric>`, `policy:3:23: dimension: dimension "Client" is not one of APIM's default dimensions: it needs a value`},
	} {
		if _, err := Compile(inboundDoc(tc.policy), Options{Doc: "policy"}); err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.policy, err, tc.want)
		}
	}
}
