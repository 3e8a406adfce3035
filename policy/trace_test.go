package policy

import (
	"reflect"
	"strings"
	"testing"
)

func TestTrace(t *testing.T) {
	p := mustCompile(t, inboundDoc(`<trace source="orders" severity="information">
  <message>@("order " + context.Request.Headers.GetValueOrDefault("x-order", "?"))</message>
  <metadata name="user" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-user&quot;, &quot;&quot;))" />
</trace>
<trace source="orders"><message>second</message></trace>`), nil)
	x := p.NewExec(get(map[string]string{"x-order": "42", "x-user": strings.Repeat("u", 300)}), nil)
	if r := x.Inbound(); r.Action != Continue {
		t.Fatalf("%+v", r)
	}
	want := []Trace{
		{Source: "orders", Severity: "information", Message: "order 42", Metadata: [][2]string{{"user", strings.Repeat("u", 253) + "..."}}},
		{Source: "orders", Severity: "verbose", Message: "second"},
	}
	if got := x.Traces(); !reflect.DeepEqual(got, want) {
		t.Errorf("traces %+v\nwant %+v", got, want)
	}
	if got := x.Traces(); got != nil {
		t.Errorf("taken twice: %+v", got)
	}
	// At most maxTraces records per request.
	p = mustCompile(t, inboundDoc(strings.Repeat(`<trace source="loop"><message>m</message></trace>`, maxTraces+5)), nil)
	x = p.NewExec(get(nil), nil)
	x.Inbound()
	if n := len(x.Traces()); n != maxTraces {
		t.Errorf("%d records, want %d", n, maxTraces)
	}
	for _, tc := range []struct{ policy, want string }{
		{`<trace source="s" severity="debug"><message>m</message></trace>`, `policy:3:19: trace: attribute "severity" must be verbose, information or error, not "debug"`},
		{`<trace source="s" />`, `policy:3:1: trace: needs a <message>`},
		{`<trace><message>m</message></trace>`, `policy:3:1: trace: missing required attribute "source"`},
	} {
		if _, err := Compile(inboundDoc(tc.policy), Options{}); err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.policy, err, tc.want)
		}
	}
}
