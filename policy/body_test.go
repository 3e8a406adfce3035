package policy

import (
	"reflect"
	"strings"
	"testing"
)

func TestBodyEdits(t *testing.T) {
	p := mustCompile(t, doc(`<find-and-replace from="qty" to="quantity" /><set-body>@("{}")</set-body><find-and-replace from="{" to="[" />`,
		`<find-and-replace from="internal" to="public" />`,
		`<set-body>failed: internal</set-body><find-and-replace from="internal" to="x" />`), nil)
	x := p.NewExec(get(nil), nil)
	r := x.Inbound()
	want := []BodyEdit{{From: "qty", To: "quantity"}, {Set: true, Body: "{}"}, {From: "{", To: "["}}
	if !reflect.DeepEqual(r.BodyEdits, want) {
		t.Fatalf("request edits %+v", r.BodyEdits)
	}
	if b, ok := ApplyBodyEdits([]byte(`{"qty":1}`), r.BodyEdits); !ok || string(b) != "[}" {
		t.Errorf("applied: %q %v", b, ok)
	}
	r = x.Outbound(resp{":status": "200"})
	if !reflect.DeepEqual(r.BodyEdits, []BodyEdit{{From: "internal", To: "public"}}) {
		t.Errorf("response edits %+v", r.BodyEdits)
	}
	// Bounds: a replacement that would grow the body past MaxBody, and a
	// new body over it, fail; an empty from changes nothing.
	if _, ok := ApplyBodyEdits([]byte(strings.Repeat("a", 2048)), []BodyEdit{{From: "a", To: strings.Repeat("b", 1024)}}); ok {
		t.Error("a body grown past MaxBody was allowed")
	}
	if _, ok := ApplyBodyEdits(nil, []BodyEdit{{Set: true, Body: strings.Repeat("b", MaxBody+1)}}); ok {
		t.Error("a new body over MaxBody was allowed")
	}
	if b, _ := ApplyBodyEdits([]byte("abc"), []BodyEdit{{From: "", To: "x"}}); string(b) != "abc" {
		t.Errorf("an empty from: %q", b)
	}
	if !SetsBody(want) || SetsBody([]BodyEdit{{From: "a", To: "b"}, {Set: true}}) {
		t.Error("SetsBody")
	}
	if _, err := Compile(inboundDoc(`<set-body template="liquid">{{body.x}}</set-body>`), Options{Doc: "policy"}); err == nil ||
		err.Error() != `policy:3:11: set-body: template "liquid" is not supported: apimguard has no Liquid engine; write the body as a policy expression` {
		t.Errorf("liquid: %v", err)
	}
}
