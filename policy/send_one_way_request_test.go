package policy

import (
	"strings"
	"testing"
)

func TestSendOneWayRequest(t *testing.T) {
	one := `<send-one-way-request mode="new"><set-url>https://audit.example.com/e</set-url><set-method>POST</set-method><set-body>@(context.Request.Method)</set-body></send-one-way-request>`
	p := mustCompile(t, inboundDoc(one+one), nil)
	x := p.NewExec(get(nil), nil)
	if r := x.Inbound(); r.Action != Continue {
		t.Fatalf("the request waited: %+v", r)
	}
	calls := x.OneWayCalls()
	if len(calls) != 2 || calls[0].URL != "https://audit.example.com/e" || calls[0].Method != "POST" || string(calls[0].Body) != "GET" || calls[0].TimeoutMS != 60000 {
		t.Fatalf("calls %+v", calls)
	}
	if x.OneWayCalls() != nil {
		t.Error("taken twice")
	}
	// More than maxOneWay in one request fail it.
	p = mustCompile(t, inboundDoc(strings.Repeat(one, maxOneWay+1)), nil)
	if r := p.NewExec(get(nil), nil).Inbound(); r.Action != Respond || r.Status != 500 {
		t.Errorf("%d one-way calls: %+v", maxOneWay+1, r)
	}
	if _, err := Compile(inboundDoc(`<send-one-way-request response-variable-name="r"><set-url>https://a/</set-url></send-one-way-request>`), Options{Doc: "policy"}); err == nil || !strings.Contains(err.Error(), `unknown attribute "response-variable-name"`) {
		t.Errorf("response-variable-name: %v", err)
	}
}
