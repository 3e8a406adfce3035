package policy

import (
	"reflect"
	"testing"

	"github.com/apimguard/apimguard/policy/expr"
)

func TestChoose(t *testing.T) {
	p := mustCompile(t, doc(`
<choose>
  <when condition="@(context.Request.Method == "DELETE")">
    <return-response><set-status code="405" reason="Not Allowed"/></return-response>
  </when>
  <when condition='@(context.Request.Headers.GetValueOrDefault("x-tier","") == "gold")'>
    <set-variable name="tier" value="gold"/>
  </when>
  <when condition="true"><set-variable name="tier" value="fallback"/></when>
  <otherwise><set-variable name="tier" value="never"/></otherwise>
</choose>
<choose><when condition="false"><set-variable name="x" value="1"/></when><otherwise><set-variable name="x" value="2"/></otherwise></choose>`, "", ""), nil)
	tests := []struct {
		name     string
		req      headers
		wantTier any
		wantResp int
	}{
		{"first when", get(map[string]string{":method": "DELETE"}), nil, 405},
		{"second when", get(map[string]string{"x-tier": "gold"}), "gold", 0},
		{"literal true", get(nil), "fallback", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := p.NewExec(tc.req, nil)
			r := x.Inbound()
			if tc.wantResp != 0 {
				if r.Action != Respond || r.Status != tc.wantResp || r.Body != "" {
					t.Fatalf("got %+v", r)
				}
				return
			}
			if r.Action != Continue {
				t.Fatalf("got %+v", r)
			}
			if v, _ := x.Variable("tier"); v != tc.wantTier {
				t.Errorf("tier = %v, want %v", v, tc.wantTier)
			}
			if v, _ := x.Variable("x"); v != "2" {
				t.Errorf("otherwise did not run: x = %v", v)
			}
		})
	}
}

func TestReturnResponse(t *testing.T) {
	p := mustCompile(t, doc(`
<set-variable name="stored" value="unused"/>
<return-response>
  <set-status code="401" reason="Unauthorized"/>
  <set-header name="WWW-Authenticate" exists-action="override"><value>Bearer error="invalid_token"</value><value>Basic realm="x"</value></set-header>
  <set-header name="X-Multi"><value>a</value><value>b</value></set-header>
  <set-body>{"error":"denied","method":"@(context.Request.Method)"}</set-body>
</return-response>
<set-variable name="after" value="1"/>`, `<set-header name="x-out" exists-action="override"><value>1</value></set-header>`, `<set-variable name="onerror" value="1"/>`), nil)
	x := p.NewExec(get(nil), nil)
	r := x.Inbound()
	want := Result{Action: Respond, Status: 401,
		Headers: [][2]string{{"www-authenticate", `Bearer error="invalid_token"`}, {"www-authenticate", `Basic realm="x"`}, {"x-multi", "a,b"}},
		Body:    `{"error":"denied","method":"@(context.Request.Method)"}`}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got  %+v\nwant %+v", r, want)
	}
	if _, ok := x.Variable("after"); ok {
		t.Error("statements after return-response ran")
	}
	if _, ok := x.Variable("onerror"); ok || x.LastError() != nil {
		t.Error("return-response ran on-error")
	}
}

func TestReturnResponse_bodyExpressionAndVariable(t *testing.T) {
	p := mustCompile(t, inboundDoc(`<return-response response-variable-name="upstream">
  <set-header name="x-extra"><value>@(context.Request.Headers.GetValueOrDefault("x-id", "none"))</value></set-header>
</return-response>`), nil)
	x := p.NewExec(get(map[string]string{"x-id": "7"}), nil)
	x.setVariable("upstream", &expr.Response{StatusCode: 202, StatusReason: "Accepted", Headers: [][2]string{{"content-type", "text/plain"}}, Body: []byte("queued")})
	r := x.Inbound()
	want := Result{Action: Respond, Status: 202, Headers: [][2]string{{"content-type", "text/plain"}, {"x-extra", "7"}}, Body: "queued"}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got  %+v\nwant %+v", r, want)
	}
	// A missing variable is a runtime failure: 500 through on-error.
	r = p.NewExec(get(nil), nil).Inbound()
	if r.Status != 500 || r.Body != InternalErrorBody {
		t.Fatalf("got %+v", r)
	}
}

func TestSetHeader_request(t *testing.T) {
	p := mustCompile(t, inboundDoc(`
<set-header name="X-Override"><value>new</value></set-header>
<set-header name="X-Keep" exists-action="skip"><value>ignored</value></set-header>
<set-header name="X-Absent" exists-action="skip"><value>added</value></set-header>
<set-header name="X-List" exists-action="append"><value>c</value></set-header>
<set-header name="X-Gone" exists-action="delete"/>
<set-header name="Cookie"><value>a=1</value><value>b=2</value></set-header>
<set-header name="X-From-Expr"><value>@(context.Request.Headers.GetValueOrDefault("x-override") + "+")</value></set-header>
<check-header name="X-Override" failed-check-httpcode="403"><value>new</value></check-header>`), nil)
	r := p.NewExec(get(map[string]string{"x-override": "old", "x-keep": "kept", "x-list": "a,b", "x-gone": "bye"}), nil).Inbound()
	want := []HeaderEdit{
		{Name: "x-override", Values: []string{"new"}},
		{Name: "x-absent", Values: []string{"added"}},
		{Name: "x-list", Values: []string{"a,b,c"}},
		{Name: "x-gone"},
		{Name: "cookie", Values: []string{"a=1", "b=2"}},
		{Name: "x-from-expr", Values: []string{"new+"}},
	}
	if r.Action != Continue || !reflect.DeepEqual(r.Edits, want) {
		t.Fatalf("got %v %+v\nwant edits %+v", r.Action, r.Edits, want)
	}
}

func TestOutbound(t *testing.T) {
	p := mustCompile(t, doc(`<set-variable name="v" value="from-inbound"/>`,
		`<set-header name="X-Seen"><value>@((string)context.Variables["v"] + "/" + context.Response.StatusCode)</value></set-header>
<set-header name="Server" exists-action="override"><value>apimguard</value></set-header>
<set-header name="X-Upstream-Secret" exists-action="delete"/>
<choose><when condition="@(context.Response.StatusCode == 404)"><set-status code="200" reason="OK"/></when></choose>`, ""), nil)
	x := p.NewExec(get(nil), nil)
	if r := x.Inbound(); r.Action != Continue {
		t.Fatalf("inbound: %+v", r)
	}
	r := x.Outbound(resp{":status": "404", "x-upstream-secret": "s"})
	want := Result{Action: Continue, Status: 200, Edits: []HeaderEdit{
		{Name: "x-seen", Values: []string{"from-inbound/404"}},
		{Name: "server", Values: []string{"apimguard"}},
		{Name: "x-upstream-secret"},
	}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got  %+v\nwant %+v", r, want)
	}
}

// A failing policy skips the rest of the section and runs on-error with
// LastError and the preset status; on-error can rewrite the response.
func TestOnError(t *testing.T) {
	p := mustCompile(t, doc(`
<check-header id="key" name="x-api-key" failed-check-httpcode="401" failed-check-error-message="Key required"/>
<set-variable name="after" value="1"/>`, `<set-header name="x-outbound" exists-action="override"><value>1</value></set-header>`, `
<choose>
  <when condition="@(context.LastError.Source == "check-header")">
    <set-status code="@(context.Response.StatusCode)" reason="Custom"/>
    <set-header name="WWW-Authenticate" exists-action="override"><value>ApiKey realm="orders"</value></set-header>
    <set-body>@($"{{\"error\":\"{context.LastError.Reason}\",\"section\":\"{context.LastError.Section}\",\"status\":{context.Response.StatusCode},\"policy\":\"{context.LastError.PolicyId}\"}}")</set-body>
  </when>
</choose>`), nil)
	x := p.NewExec(get(nil), nil)
	r := x.Inbound()
	want := Result{Action: Respond, Status: 401,
		Headers: [][2]string{{"content-type", "application/json"}, {"www-authenticate", `ApiKey realm="orders"`}},
		Body:    `{"error":"HeaderNotFound","section":"inbound","status":401,"policy":"key"}`}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got  %+v\nwant %+v", r, want)
	}
	if _, ok := x.Variable("after"); ok {
		t.Error("inbound went on after the failure")
	}
}

func TestOnError_defaultsAndFailures(t *testing.T) {
	t.Run("empty on-error keeps APIM's default response", func(t *testing.T) {
		p := mustCompile(t, doc(`<check-header name="x-api-key" failed-check-httpcode="403"/>`, "", `<set-variable name="seen" value="@(context.LastError.Reason)"/>`), nil)
		x := p.NewExec(get(nil), nil)
		r := x.Inbound()
		if r.Status != 403 || r.Body != `{"statusCode":403,"message":"Access denied."}` {
			t.Fatalf("got %+v", r)
		}
		if v, _ := x.Variable("seen"); v != "HeaderNotFound" {
			t.Errorf("on-error did not see LastError: %v", v)
		}
	})
	t.Run("expression failure is a 500 through on-error", func(t *testing.T) {
		p := mustCompile(t, doc(`<set-variable name="v" value="@((string)context.Variables["missing"])"/>`, "",
			`<return-response><set-status code="503"/><set-body>@(context.LastError.Source + ": " + context.LastError.Reason + ": " + context.LastError.Message)</set-body></return-response>`), nil)
		r := p.NewExec(get(nil), nil).Inbound()
		want := "set-variable: ExpressionValueEvaluationFailure: Expression evaluation failed. The given key 'missing' was not present in the dictionary."
		if r.Status != 503 || r.Body != want {
			t.Fatalf("got %d %q\nwant 503 %q", r.Status, r.Body, want)
		}
	})
	t.Run("failure inside on-error answers 500", func(t *testing.T) {
		p := mustCompile(t, doc(`<check-header name="x-api-key" failed-check-httpcode="403"/>`, "", `<set-variable name="v" value="@((string)context.Variables["missing"])"/>`), nil)
		r := p.NewExec(get(nil), nil).Inbound()
		if r.Status != 500 || r.Body != InternalErrorBody {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("failure in outbound runs on-error", func(t *testing.T) {
		p := mustCompile(t, doc("", `<set-variable name="v" value="@(1 / context.Variables.GetValueOrDefault&lt;int&gt;(&quot;zero&quot;))"/>`,
			`<set-header name="x-section" exists-action="override"><value>@(context.LastError.Section)</value></set-header>`), nil)
		x := p.NewExec(get(nil), nil)
		x.Inbound()
		r := x.Outbound(resp{":status": "200"})
		if r.Action != Respond || r.Status != 500 || !reflect.DeepEqual(r.Headers, [][2]string{{"content-type", "application/json"}, {"x-section", "outbound"}}) {
			t.Fatalf("got %+v", r)
		}
	})
}

// yieldStmt stands in for send-request: it asks for a call and stores the
// answer in a variable when resumed.
type yieldStmt struct {
	stmtMeta
	url string
}

func (y *yieldStmt) run(x *Exec) error {
	x.result = Result{Action: Call, Call: &OutgoingCall{URL: y.url, Method: "GET"}}
	x.resume = func(r *expr.Response, err error) error {
		if err != nil {
			return &Failure{Source: "send-request", Reason: "Timeout", Message: err.Error(), Status: 500, Body: InternalErrorBody}
		}
		x.setVariable("answer", r)
		return nil
	}
	return errYield
}

// The engine stops at an effect and resumes where it stopped, even inside
// a choose, without blocking.
func TestResume(t *testing.T) {
	p := mustCompile(t, inboundDoc(`<choose><when condition="true"><set-variable name="before" value="1"/></when></choose>
<check-header name="x-ok" failed-check-httpcode="401"/>`), nil)
	// Put a yielding statement inside the when, after set-variable.
	ch := p.inbound[0].(*choose)
	ch.whens[0].body = append(ch.whens[0].body, &yieldStmt{url: "http://auth/check"},
		&setVariable{stmtMeta: stmtMeta{element: "set-variable"}, name: "status", value: Value{prog: mustExpr(t, `@(((IResponse)context.Variables["answer"]).StatusCode)`)}})

	x := p.NewExec(get(map[string]string{"x-ok": "1"}), nil)
	r := x.Inbound()
	if r.Action != Call || r.Call.URL != "http://auth/check" {
		t.Fatalf("got %+v", r)
	}
	if v, _ := x.Variable("before"); v != "1" {
		t.Fatal("statements before the call did not run")
	}
	r = x.Resume(&expr.Response{StatusCode: 204}, nil)
	if r.Action != Continue {
		t.Fatalf("after resume: %+v", r)
	}
	if v, _ := x.Variable("status"); v != int64(204) {
		t.Errorf("status = %v, want 204", v)
	}

	x = p.NewExec(get(nil), nil)
	x.Inbound()
	r = x.Resume(nil, errTimeout)
	if r.Action != Respond || r.Status != 500 || x.LastError().Reason != "Timeout" {
		t.Fatalf("timeout: %+v %+v", r, x.LastError())
	}
}

var errTimeout = &expr.RuntimeError{Msg: "timed out"}

func mustExpr(t *testing.T, src string) *expr.Program {
	t.Helper()
	p, err := expr.Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// LastError.Path locates the failing element inside its section.
func TestLastErrorPath(t *testing.T) {
	p := mustCompile(t, inboundDoc(`<set-variable name="a" value="1"/>
<choose><when condition="false"/></choose>
<choose>
  <when condition="false"><set-variable name="b" value="2"/></when>
  <when condition="true">
    <set-variable name="c" value="3"/>
    <check-header name="x-1" failed-check-httpcode="401"/>
    <check-header name="x-2" failed-check-httpcode="401"/>
  </when>
</choose>`), nil)
	x := p.NewExec(get(map[string]string{"x-1": "present"}), nil)
	x.Inbound()
	if got := x.LastError().Path; got != "choose[2]/when[2]/check-header[2]" {
		t.Fatalf("Path = %q", got)
	}
	x = p.NewExec(get(nil), nil)
	x.Inbound()
	if got := x.LastError().Path; got != "choose[2]/when[2]/check-header[1]" {
		t.Fatalf("Path = %q", got)
	}
}
