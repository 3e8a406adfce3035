package policy

import (
	"reflect"
	"testing"

	"github.com/apimguard/apimguard/policy/expr"
)

// introspection is APIM's token-introspection pattern.
const introspection = `
<send-request mode="new" response-variable-name="tokenstate" timeout="5" ignore-error="false">
  <set-url>https://auth.example.com/introspect?client=gw</set-url>
  <set-method>POST</set-method>
  <set-header name="Content-Type" exists-action="override"><value>application/x-www-form-urlencoded</value></set-header>
  <set-header name="X-Multi"><value>a</value><value>b</value></set-header>
  <set-body>@($"token={context.Request.Headers.GetValueOrDefault("Authorization","scheme param").Split(' ').Last()}")</set-body>
</send-request>
<choose>
  <when condition="@((bool)((IResponse)context.Variables["tokenstate"]).Body.As<JObject>()["active"] == false)">
    <return-response>
      <set-status code="401" reason="Unauthorized" />
      <set-header name="WWW-Authenticate" exists-action="override"><value>Bearer error="invalid_token"</value></set-header>
    </return-response>
  </when>
</choose>`

func TestSendRequest_introspection(t *testing.T) {
	p := mustCompile(t, inboundDoc(introspection), nil)
	req := get(map[string]string{"authorization": "Bearer tok-123"})

	x := p.NewExec(req, nil)
	r := x.Inbound()
	want := &OutgoingCall{
		URL: "https://auth.example.com/introspect?client=gw", Authority: "auth.example.com", Method: "POST", Path: "/introspect?client=gw",
		Headers:   [][2]string{{"content-type", "application/x-www-form-urlencoded"}, {"x-multi", "a,b"}},
		Body:      []byte("token=tok-123"),
		TimeoutMS: 5000,
	}
	if r.Action != Call || !reflect.DeepEqual(r.Call, want) {
		t.Fatalf("got %v %+v\nwant call %+v", r.Action, r.Call, want)
	}
	answer := &expr.Response{StatusCode: 200, Headers: [][2]string{{"content-type", "application/json"}}, Body: []byte(`{"active":true,"sub":"alice"}`)}
	if r := x.Resume(answer, nil); r.Action != Continue {
		t.Fatalf("active token: %+v", r)
	}
	if v, _ := x.Variable("tokenstate"); v != answer {
		t.Errorf("tokenstate = %v, want the answer", v)
	}

	x = p.NewExec(req, nil)
	x.Inbound()
	r = x.Resume(&expr.Response{StatusCode: 200, Body: []byte(`{"active":false}`)}, nil)
	if r.Action != Respond || r.Status != 401 || !reflect.DeepEqual(r.Headers, [][2]string{{"www-authenticate", `Bearer error="invalid_token"`}}) {
		t.Fatalf("inactive token: %+v", r)
	}
}

func TestSendRequest_failures(t *testing.T) {
	tests := []struct {
		name, ignore string
		answer       *expr.Response
		err          error
		wantStatus   int // 0: continue
		wantReason   string
		wantVar      any
	}{
		{name: "non-2xx is not an error", answer: &expr.Response{StatusCode: 503, Body: []byte("down")}, wantVar: "503"},
		{name: "timeout", err: ErrCallTimeout, wantStatus: 500, wantReason: "Timeout"},
		{name: "failure", err: ErrCallFailed, wantStatus: 500, wantReason: "BackendConnectionFailure"},
		{name: "ignored failure leaves null", ignore: "true", err: ErrCallFailed, wantVar: "null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ignore := tc.ignore
			if ignore == "" {
				ignore = "false"
			}
			p := mustCompile(t, doc(`<send-request response-variable-name="r" ignore-error="`+ignore+`"><set-url>http://authz:8080/check</set-url></send-request>
<set-variable name="seen" value="@(context.Variables["r"] == null ? "null" : ((IResponse)context.Variables["r"]).StatusCode.ToString())"/>`, "",
				`<set-header name="x-reason" exists-action="override"><value>@(context.LastError.Source + "/" + context.LastError.Reason)</value></set-header>`), nil)
			x := p.NewExec(get(nil), nil)
			if r := x.Inbound(); r.Action != Call || r.Call.Authority != "authz:8080" || r.Call.Method != "GET" || r.Call.TimeoutMS != 60000 {
				t.Fatalf("call = %+v", r.Call)
			}
			r := x.Resume(tc.answer, tc.err)
			if tc.wantStatus == 0 {
				if r.Action != Continue {
					t.Fatalf("got %+v", r)
				}
				if v, _ := x.Variable("seen"); v != tc.wantVar {
					t.Errorf("seen = %v, want %v", v, tc.wantVar)
				}
				return
			}
			if r.Action != Respond || r.Status != tc.wantStatus {
				t.Fatalf("got %+v", r)
			}
			if got, _ := JoinHeader(r.Headers, "x-reason"); got != "send-request/"+tc.wantReason {
				t.Errorf("x-reason = %q", got)
			}
		})
	}
}

// Several calls run in order, in inbound, outbound and on-error.
func TestSendRequest_sequenceAndSections(t *testing.T) {
	call := func(name, url string) string {
		return `<send-request response-variable-name="` + name + `"><set-url>` + url + `</set-url></send-request>`
	}
	p := mustCompile(t, doc(call("a", "http://one/a")+call("b", "@(&quot;http://two/&quot; + ((IResponse)context.Variables[&quot;a&quot;]).StatusCode)"),
		call("c", "http://three/c"), ""), nil)
	x := p.NewExec(get(nil), nil)
	var urls []string
	r := x.Inbound()
	for r.Action == Call {
		urls = append(urls, r.Call.URL)
		r = x.Resume(&expr.Response{StatusCode: 200 + len(urls)}, nil)
	}
	if r.Action != Continue {
		t.Fatalf("inbound ended with %+v", r)
	}
	r = x.Outbound(resp{":status": "200"})
	for r.Action == Call {
		urls = append(urls, r.Call.URL)
		r = x.Resume(&expr.Response{StatusCode: 200}, nil)
	}
	if want := []string{"http://one/a", "http://two/201", "http://three/c"}; !reflect.DeepEqual(urls, want) {
		t.Fatalf("calls = %v, want %v", urls, want)
	}

	p = mustCompile(t, doc(`<check-header name="x-k" failed-check-httpcode="401"/>`, "",
		`<send-request response-variable-name="audit" mode="new"><set-url>http://audit/log</set-url><set-method>PUT</set-method></send-request>
<set-header name="x-audit" exists-action="override"><value>@(((IResponse)context.Variables["audit"]).StatusCode.ToString())</value></set-header>`), nil)
	x = p.NewExec(get(nil), nil)
	r = x.Inbound()
	if r.Action != Call || r.Call.Method != "PUT" {
		t.Fatalf("on-error call: %+v", r)
	}
	r = x.Resume(&expr.Response{StatusCode: 202}, nil)
	if got, _ := JoinHeader(r.Headers, "x-audit"); r.Status != 401 || got != "202" {
		t.Fatalf("got %+v", r)
	}
}

func TestSendRequest_copy(t *testing.T) {
	p := mustCompile(t, inboundDoc(`<set-header name="x-added" exists-action="override"><value>1</value></set-header>
<send-request mode="copy" response-variable-name="r"><set-url>http://mirror/m</set-url><set-header name="x-api-key" exists-action="delete"/></send-request>`), nil)
	x := p.NewExec(listing{get(map[string]string{"x-api-key": "secret", "accept": "*/*", "content-length": "10"})}, nil)
	r := x.Inbound()
	want := [][2]string{{"accept", "*/*"}, {"x-added", "1"}}
	if r.Action != Call || r.Call.Method != "GET" || !reflect.DeepEqual(r.Call.Headers, want) {
		t.Fatalf("got %+v, want headers %v", r.Call, want)
	}
}

// listing is a Request that can list its headers, in a stable order.
type listing struct{ headers }

func (l listing) Headers() [][2]string {
	var out [][2]string
	for _, k := range []string{":method", ":path", "accept", "content-length", "x-api-key"} {
		if v, ok := l.headers[k]; ok {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

func TestSendRequest_errors(t *testing.T) {
	tests := []struct{ name, policy, want string }{
		{"no url", `<send-request response-variable-name="r"/>`, `policy:3:1: send-request: needs <set-url> (or mode="copy")`},
		{"no variable", `<send-request><set-url>http://a/</set-url></send-request>`, `policy:3:1: send-request: missing required attribute "response-variable-name"`},
		{"relative url", `<send-request response-variable-name="r"><set-url>/introspect</set-url></send-request>`, `policy:3:51: set-url: set-url needs an absolute http or https URL, not "/introspect"`},
		{"credentials in url", `<send-request response-variable-name="r"><set-url>http://u:p@a/</set-url></send-request>`, `policy:3:51: set-url: set-url must not carry credentials; send them in a header`},
		{"bad timeout", `<send-request response-variable-name="r" timeout="0"><set-url>http://a/</set-url></send-request>`, `policy:3:42: send-request: attribute "timeout" must be whole seconds from 1 to 3600, not "0"`},
		{"bad mode", `<send-request response-variable-name="r" mode="clone"><set-url>http://a/</set-url></send-request>`, `policy:3:42: send-request: attribute "mode" must be new or copy, not "clone"`},
		{"certificate", `<send-request response-variable-name="r"><set-url>http://a/</set-url><authentication-certificate thumbprint="x"/></send-request>`,
			`policy:3:70: authentication-certificate: not supported: configure TLS, client certificates and proxies on the Envoy cluster that "upstreams" maps the URL's host to`},
		{"proxy", `<send-request response-variable-name="r"><set-url>http://a/</set-url><proxy url="http://p:8080"/></send-request>`,
			`policy:3:70: proxy: not supported: configure TLS, client certificates and proxies on the Envoy cluster that "upstreams" maps the URL's host to`},
		{"unknown child", `<send-request response-variable-name="r"><set-url>http://a/</set-url><set-query-parameter/></send-request>`, `policy:3:70: send-request: unexpected element <set-query-parameter>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(inboundDoc(tc.policy), Options{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}
