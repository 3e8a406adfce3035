package policy

import "testing"

func TestSetMethod(t *testing.T) {
	p := mustCompile(t, inboundDoc(`<set-method>{{verb}}</set-method><set-header name="x-m" exists-action="override"><value>@(context.Request.Method)</value></set-header>`),
		map[string]string{"verb": "put"})
	r := p.NewExec(headers{":method": "GET"}, nil).Inbound()
	want := []HeaderEdit{{Name: ":method", Values: []string{"PUT"}}, {Name: "x-m", Values: []string{"PUT"}}}
	if r.Action != Continue || len(r.Edits) != 2 || r.Edits[0].Name != want[0].Name || r.Edits[0].Values[0] != "PUT" || r.Edits[1].Values[0] != "PUT" {
		t.Fatalf("got %+v, want edits %+v", r, want)
	}
}

func TestSetMethod_errors(t *testing.T) {
	for doc, want := range map[string]string{
		inboundDoc(`<set-method>GE T</set-method>`):                              `policy:3:1: set-method: set-method needs an HTTP method, not "GE T"`,
		inboundDoc(`<set-method>@(context.Request.Method)</set-method>`):         `policy:3:13: set-method: the method must be a constant or a named value`,
		inboundDoc(`<set-method m="x">GET</set-method>`):                         `policy:3:13: set-method: unknown attribute "m"`,
		`<policies><on-error><set-method>GET</set-method></on-error></policies>`: `policy:1:21: set-method: not allowed in <on-error>`,
	} {
		if _, err := Compile(doc, Options{}); err == nil || err.Error() != want {
			t.Errorf("err = %v\nwant  %s", err, want)
		}
	}
}
