package policy

import (
	"strings"
	"testing"

	"github.com/apimguard/apimguard/policy/expr"
)

// waitCall is a send-request to host storing its answer in variable v.
func waitCall(v, host string) string {
	return `<send-request mode="new" response-variable-name="` + v + `" timeout="5"><set-url>https://` + host + `/</set-url></send-request>`
}

// statusOf is an expression reading variable v's status, or -1 when unset.
func statusOf(v string) string {
	return `@(context.Variables.ContainsKey(&quot;` + v + `&quot;) ? ((IResponse)context.Variables[&quot;` + v + `&quot;]).StatusCode : -1)`
}

// waitDoc is a wait over children, then headers reporting variables a and b.
func waitDoc(attrs, children string) string {
	return inboundDoc(`<wait` + attrs + `>` + children + `</wait>` +
		`<set-header name="x-a" exists-action="override"><value>` + statusOf("a") + `</value></set-header>` +
		`<set-header name="x-b" exists-action="override"><value>` + statusOf("b") + `</value></set-header>`)
}

// callsTo returns the hosts of r's calls, checking r is a Calls result.
func callsTo(t *testing.T, r Result) []string {
	t.Helper()
	if r.Action != Calls {
		t.Fatalf("got %v, want Calls: %+v", r.Action, r)
	}
	var hosts []string
	for _, c := range r.Calls {
		hosts = append(hosts, c.Authority)
	}
	return hosts
}

func editsOf(r Result) string {
	var s []string
	for _, e := range r.Edits {
		s = append(s, e.Name+"="+strings.Join(e.Values, ","))
	}
	return strings.Join(s, " ")
}

func TestWait_all(t *testing.T) {
	p := mustCompile(t, waitDoc("", waitCall("a", "a.example.com")+waitCall("b", "b.example.com")), nil)
	x := p.NewExec(get(nil), nil)
	r := x.Inbound()
	if got := callsTo(t, r); strings.Join(got, " ") != "a.example.com b.example.com" {
		t.Fatalf("calls %v: both must go out at once", got)
	}
	a, b := r.Calls[0], r.Calls[1]
	// b answers first; the wait goes on for a.
	if got := callsTo(t, x.ResumeCall(b, &expr.Response{StatusCode: 201}, nil)); len(got) != 0 {
		t.Fatalf("after b: calls %v, want none", got)
	}
	r = x.ResumeCall(a, &expr.Response{StatusCode: 202}, nil)
	if r.Action != Continue || editsOf(r) != "x-a=202 x-b=201" {
		t.Fatalf("after both: %v %s", r.Action, editsOf(r))
	}
}

func TestWait_any(t *testing.T) {
	p := mustCompile(t, waitDoc(` for="any"`, waitCall("a", "a.example.com")+waitCall("b", "b.example.com")), nil)
	x := p.NewExec(get(nil), nil)
	r := x.Inbound()
	a, b := r.Calls[0], r.Calls[1]
	r = x.ResumeCall(b, &expr.Response{StatusCode: 201}, nil)
	if r.Action != Continue || editsOf(r) != "x-a=-1 x-b=201" {
		t.Fatalf("after b: %v %s", r.Action, editsOf(r))
	}
	// a's late answer belongs to no one: nothing changes.
	if r := x.ResumeCall(a, &expr.Response{StatusCode: 202}, nil); r.Action != Calls || len(r.Calls) != 0 {
		t.Fatalf("a late answer: %+v", r)
	}
	if v, ok := x.Variable("a"); ok {
		t.Errorf("a late answer set a: %v", v)
	}
}

func TestWait_branches(t *testing.T) {
	// A choose branch makes two calls one after the other; the other
	// branch makes none (its condition is false).
	chain := `<choose><when condition="true">` + waitCall("a", "a1.example.com") + waitCall("a", "a2.example.com") + `</when></choose>`
	idle := `<choose><when condition="false">` + waitCall("b", "b.example.com") + `</when></choose>`
	p := mustCompile(t, waitDoc("", chain+idle), nil)
	x := p.NewExec(get(nil), nil)
	r := x.Inbound()
	if got := callsTo(t, r); strings.Join(got, " ") != "a1.example.com" {
		t.Fatalf("calls %v", got)
	}
	r = x.ResumeCall(r.Calls[0], &expr.Response{StatusCode: 200}, nil)
	if got := callsTo(t, r); strings.Join(got, " ") != "a2.example.com" {
		t.Fatalf("next calls %v", got)
	}
	if r = x.ResumeCall(r.Calls[0], &expr.Response{StatusCode: 204}, nil); r.Action != Continue || editsOf(r) != "x-a=204 x-b=-1" {
		t.Fatalf("end: %v %s", r.Action, editsOf(r))
	}

	// for="any" with a branch that completes at once: no call is made.
	p = mustCompile(t, waitDoc(` for="@(&quot;an&quot; + &quot;y&quot;)"`, waitCall("a", "a.example.com")+idle), nil)
	if r := p.NewExec(get(nil), nil).Inbound(); r.Action != Continue || editsOf(r) != "x-a=-1 x-b=-1" {
		t.Fatalf("a branch done at once: %v %s", r.Action, editsOf(r))
	}
}

func TestWait_failures(t *testing.T) {
	// A failed call ends the wait in on-error; the other answer is dropped.
	p := mustCompile(t, waitDoc("", waitCall("a", "a.example.com")+waitCall("b", "b.example.com")), nil)
	x := p.NewExec(get(nil), nil)
	r := x.Inbound()
	a, b := r.Calls[0], r.Calls[1]
	if r := x.ResumeCall(a, nil, ErrCallTimeout); r.Action != Respond || r.Status != 500 {
		t.Fatalf("a failed call: %+v", r)
	}
	if e := x.LastError(); e == nil || e.Source != "send-request" || e.Reason != "Timeout" || e.Section != "inbound" {
		t.Errorf("LastError %+v", e)
	}
	if r := x.ResumeCall(b, &expr.Response{StatusCode: 200}, nil); r.Action != Calls || len(r.Calls) != 0 {
		t.Errorf("an answer after the failure: %+v", r)
	}
	// for from an expression that is neither all nor any: 500.
	p = mustCompile(t, waitDoc(` for="@(&quot;some&quot;)"`, waitCall("a", "a.example.com")), nil)
	x = p.NewExec(get(nil), nil)
	if r := x.Inbound(); r.Action != Respond || r.Status != 500 || x.LastError().Source != "wait" {
		t.Errorf("for=some: %+v %+v", r, x.LastError())
	}
}

func TestWait_refused(t *testing.T) {
	many := strings.Repeat(waitCall("a", "a.example.com"), maxWaitBranches+1)
	for _, tc := range []struct{ policy, want string }{
		{`<wait for="some">` + waitCall("a", "a.example.com") + `</wait>`, `policy:3:12: wait: attribute "for" must be all or any, not "some"`},
		{`<wait />`, `policy:3:1: wait: needs at least one child (send-request, cache-lookup-value or choose)`},
		{`<wait><set-header name="a" /></wait>`, `policy:3:7: set-header: not allowed in <wait>: its children may be send-request, cache-lookup-value and choose`},
		{`<wait><choose><when condition="true"><validate-jwt header-name="a" /></when></choose></wait>`, `policy:3:38: validate-jwt: not allowed inside <wait>: it may pause the request for signing keys; validate before the wait`},
		{`<wait><choose><otherwise><wait>` + waitCall("a", "a.example.com") + `</wait></otherwise></choose></wait>`, `policy:3:26: wait: a wait cannot hold another wait`},
		{`<wait><send-request response-variable-name="a"><set-url>https://a.example.com/</set-url><authentication-managed-identity resource="r" /></send-request></wait>`, `policy:3:89: authentication-managed-identity: not allowed inside <wait>: it may pause the request for a token; fetch it before the wait with output-token-variable-name`},
		{`<wait>` + many + `</wait>`, `policy:3:1927: wait: more than 16 children`},
		{`<retry condition="true" count="1" interval="1"><wait>` + waitCall("a", "a.example.com") + `</wait></retry>`, `policy:3:48: wait: wait is not allowed inside retry`},
	} {
		if _, err := Compile(inboundDoc(tc.policy), Options{Doc: "policy"}); err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.policy, err, tc.want)
		}
	}
}
