package policy

import (
	"reflect"
	"testing"
)

// A policy that reads the request body: the elements before the read run
// with the headers, the loop stops with WaitBody before the element that
// reads it, and everything after runs once the host hands the body over.
func TestMessageBody_waitsBeforeTheReader(t *testing.T) {
	p := mustCompile(t, inboundDoc(`
<set-header name="x-before" exists-action="override"><value>1</value></set-header>
<set-variable name="id" value="@((string)context.Request.Body.As&lt;JObject&gt;(preserveContent: true)[&quot;id&quot;])" />
<set-header name="x-id" exists-action="override"><value>@((string)context.Variables["id"])</value></set-header>`), nil)
	x := p.NewExec(get(nil), nil)
	if r := x.Inbound(); r.Action != WaitBody || len(r.Edits) != 0 {
		t.Fatalf("Inbound = %+v, want WaitBody", r)
	}
	x.SetBody(false, []byte(`{"id":"o-42"}`))
	r := x.Resume(nil, nil)
	want := []HeaderEdit{{Name: "x-before", Values: []string{"1"}}, {Name: "x-id", Values: []string{"o-42"}}}
	if r.Action != Continue || !reflect.DeepEqual(r.Edits, want) || r.BodyEdits != nil {
		t.Fatalf("Resume = %+v, want Continue with %+v and no body edit", r, want)
	}
}

// Without preserveContent the read consumes the body: the request goes on
// with an empty body unless a later set-body gives it one, and later reads
// see the new body.
func TestMessageBody_consumed(t *testing.T) {
	tests := []struct {
		name, doc string
		want      string
		edits     int
	}{
		{"read only", `<set-variable name="b" value="@(context.Request.Body.As&lt;string&gt;())" />`, "", 1},
		{"rewritten", `<set-body>@{ var o = context.Request.Body.As<JObject>(); o["seen"] = true; return o.ToString(Formatting.None); }</set-body>`, `{"id":"o-42","seen":true}`, 2},
		{"rewritten, then read again", `<set-body>@{ var o = context.Request.Body.As<JObject>(); o.Remove("id"); return o.ToString(Formatting.None); }</set-body>
<set-header name="x-b" exists-action="override"><value>@(context.Request.Body.As<string>(preserveContent: true))</value></set-header>`, `{}`, 2},
		{"read twice", `<set-variable name="a" value="@(context.Request.Body.As&lt;string&gt;())" />
<set-variable name="b" value="@(context.Request.Body == null)" />
<set-header name="x-b" exists-action="override"><value>@(((bool)context.Variables["b"]).ToString())</value></set-header>`, "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := mustCompile(t, inboundDoc(tc.doc), nil).NewExec(get(nil), nil)
			if r := x.Inbound(); r.Action != WaitBody {
				t.Fatalf("Inbound = %+v, want WaitBody", r)
			}
			x.SetBody(false, []byte(`{"id":"o-42"}`))
			r := x.Resume(nil, nil)
			if r.Action != Continue || len(r.BodyEdits) != tc.edits {
				t.Fatalf("Resume = %+v, want Continue with %d body edits", r, tc.edits)
			}
			body, ok := ApplyBodyEdits([]byte(`{"id":"o-42"}`), r.BodyEdits)
			if !ok || string(body) != tc.want {
				t.Errorf("body = %q, want %q", body, tc.want)
			}
			for _, e := range r.Edits {
				if e.Name == "x-b" && e.Values[0] != map[string]string{"rewritten, then read again": "{}", "read twice": "True"}[tc.name] {
					t.Errorf("x-b = %q", e.Values[0])
				}
			}
		})
	}
}

// A request the checks before the read refuse is never buffered; a request
// without a body is not waited for twice; outbound waits for the response.
func TestMessageBody_flow(t *testing.T) {
	p := mustCompile(t, doc(`<check-header name="x-key" failed-check-httpcode="401" failed-check-error-message="no key" ignore-case="false" />
<choose><when condition="@(context.Request.Body.As&lt;JObject&gt;(preserveContent: true)[&quot;big&quot;] != null)"><return-response><set-status code="413" reason="Too big" /></return-response></when></choose>`,
		`<set-header name="x-count" exists-action="override"><value>@(context.Response.Body.As<JArray>(preserveContent: true).Count.ToString())</value></set-header>`, ``), nil)

	if r := p.NewExec(get(nil), nil).Inbound(); r.Action != Respond || r.Status != 401 {
		t.Fatalf("no key: %+v, want 401 before any body", r)
	}
	x := p.NewExec(get(map[string]string{"x-key": "k"}), nil)
	if r := x.Inbound(); r.Action != WaitBody {
		t.Fatalf("Inbound = %+v, want WaitBody", r)
	}
	x.SetBody(false, []byte(`{"big":1}`))
	if r := x.Resume(nil, nil); r.Action != Respond || r.Status != 413 {
		t.Fatalf("big: %+v, want 413 from return-response", r)
	}

	x = p.NewExec(get(map[string]string{"x-key": "k"}), nil)
	x.Inbound()
	x.SetBody(false, nil) // a GET without a body
	if r := x.Resume(nil, nil); r.Action != Respond || r.Status != 500 || x.LastError().Reason != "ExpressionValueEvaluationFailure" {
		t.Fatalf("no body: %+v (%+v), want 500: As on a null body", r, x.LastError())
	}

	x = p.NewExec(get(map[string]string{"x-key": "k"}), nil)
	x.Inbound()
	x.SetBody(false, []byte(`{}`))
	if r := x.Resume(nil, nil); r.Action != Continue {
		t.Fatalf("small: %+v, want Continue", r)
	}
	if r := x.Outbound(resp{":status": "200"}); r.Action != WaitBody {
		t.Fatalf("Outbound = %+v, want WaitBody", r)
	}
	x.SetBody(true, []byte(`[1,2,3]`))
	r := x.Resume(nil, nil)
	if want := []HeaderEdit{{Name: "x-count", Values: []string{"3"}}}; r.Action != Continue || !reflect.DeepEqual(r.Edits, want) {
		t.Fatalf("outbound: %+v, want %+v", r, want)
	}
}
