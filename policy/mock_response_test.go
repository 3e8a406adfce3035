package policy

import (
	"reflect"
	"testing"
)

func TestMockResponse(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		status       int
		headers      [][2]string
	}{
		{"defaults", `<mock-response />`, 200, nil},
		{"status and content type", `<mock-response status-code="404" content-type="application/json" />`, 404, [][2]string{{"content-type", "application/json"}}},
		{"before anything else in inbound", `<mock-response status-code="201" /><check-header name="x-key" failed-check-httpcode="401"><value>k</value></check-header>`, 201, nil},
	} {
		p := mustCompile(t, inboundDoc(tc.policy), nil)
		r := p.NewExec(get(nil), nil).Inbound()
		if r.Action != Respond || r.Status != tc.status || !reflect.DeepEqual(r.Headers, tc.headers) || r.Body != "" {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}
	for _, tc := range []struct{ policy, want string }{
		{`<mock-response status-code="@(200)" />`, `policy:3:16: mock-response: `},
		{`<mock-response status-code="101" />`, `policy:3:16: mock-response: attribute "status-code" must be from 200 to 599, not 101`},
		{`<mock-response content-type="json" />`, `policy:3:16: mock-response: attribute "content-type" is not a media type: "json"`},
		{`<mock-response status-code="200"><x/></mock-response>`, `policy:3:`},
	} {
		_, err := CompileGateway(Config{Policy: inboundDoc(tc.policy)}, Options{Doc: "policy"})
		if err == nil || len(err.Error()) < len(tc.want) || err.Error()[:len(tc.want)] != tc.want {
			t.Errorf("%s: got %v, want %s…", tc.policy, err, tc.want)
		}
	}
}
