package policy

import (
	"strings"
	"testing"
)

// backendDoc is a document whose backend section is backend.
func backendDoc(backend string) string {
	return "<policies>\n<backend>\n" + backend + "\n</backend>\n</policies>"
}

// routeEdits runs doc's request path and returns its header edits.
func routeEdits(t *testing.T, doc string) string {
	t.Helper()
	p := mustCompile(t, doc, nil)
	r := p.NewExec(get(nil), nil).Inbound()
	if r.Action != Continue {
		t.Fatalf("%+v", r)
	}
	return editsOf(r)
}

func TestForwardRequest(t *testing.T) {
	for _, tc := range []struct{ name, policy, want string }{
		{"bare", `<forward-request />`, ""},
		{"accepted attributes change nothing", `<forward-request follow-redirects="false" buffer-request-body="true" buffer-response="false" http-version="1" fail-on-error-status-code="false" />`, ""},
		{"timeout in seconds", `<forward-request timeout="20" />`, "x-envoy-upstream-rq-timeout-ms=20000"},
		{"timeout-ms", `<forward-request timeout-ms="1500" />`, "x-envoy-upstream-rq-timeout-ms=1500"},
		{"timeout from an expression, bounded to an hour", `<forward-request timeout="@(999999)" />`, "x-envoy-upstream-rq-timeout-ms=3600000"},
		{"retry on 429 and 5xx", `<retry condition="@(context.Response.StatusCode == 429 || context.Response.StatusCode >= 500)" count="3" interval="1" first-fast-retry="true"><forward-request buffer-request-body="true" timeout="10" /></retry>`,
			"x-envoy-retry-on=retriable-status-codes x-envoy-retriable-status-codes=429," + codes(500, 599) + " x-envoy-max-retries=3 x-envoy-upstream-rq-timeout-ms=10000"},
		{"retry on one code, a count from an expression bounded to 50", `<retry condition="@((context.Response.StatusCode == 503))" count="@(1000)" interval="0"><forward-request /></retry>`,
			"x-envoy-retry-on=retriable-status-codes x-envoy-retriable-status-codes=503 x-envoy-max-retries=50"},
		{"retry above a code", `<retry condition="@(context.Response.StatusCode > 597)" count="1" interval="0"><forward-request /></retry>`,
			"x-envoy-retry-on=retriable-status-codes x-envoy-retriable-status-codes=598,599 x-envoy-max-retries=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := routeEdits(t, backendDoc(tc.policy)); got != tc.want {
				t.Errorf("edits:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func codes(lo, hi int) string {
	var s []string
	for i := lo; i <= hi; i++ {
		s = append(s, itoa(i))
	}
	return strings.Join(s, ",")
}

func TestForwardRequest_refused(t *testing.T) {
	for _, tc := range []struct{ policy, want string }{
		{`<forward-request timeout="5" timeout-ms="10" />`, `policy:3:30: forward-request: give timeout or timeout-ms, not both`},
		{`<forward-request timeout="0" />`, `policy:3:27: forward-request: attribute "timeout" must be a whole number from 1 to 3600, not "0"`},
		{`<forward-request http-version="2" />`, `policy:3:32: forward-request: attribute "http-version"="2": the Envoy cluster's protocol options choose the backend's HTTP version`},
		{`<forward-request fail-on-error-status-code="true" />`, `policy:3:45: forward-request: attribute "fail-on-error-status-code"="true": not supported: test context.Response.StatusCode in outbound`},
		{`<forward-request continue-timeout="5" />`, `policy:3:18: forward-request: attribute "continue-timeout" is not supported: Envoy answers 100-continue itself`},
		{`<retry condition="@(context.Response.StatusCode != 200)" count="2" interval="1"><forward-request /></retry>`, `policy:3:19: retry: around forward-request, the condition must compare context.Response.StatusCode with numbers (==, >=, >), joined by ||; "context.Response.StatusCode!=200" is not such a comparison`},
		{`<retry condition="true" count="2" interval="1"><forward-request /></retry>`, `policy:3:19: retry: around forward-request, the condition must be an expression comparing context.Response.StatusCode with numbers (==, >=, >), joined by ||`},
		{`<retry condition="@(context.Response.StatusCode >= 600)" count="2" interval="1"><forward-request /></retry>`, `policy:3:19: retry: around forward-request, the condition compares with 600: status codes are 100 to 599`},
		{`<retry condition="@(context.Response.StatusCode == 503)" count="2" interval="1"><set-header name="a" /><forward-request /></retry>`, `policy:3:1: retry: around forward-request, retry may hold only the forward-request: Envoy's router sends the request again, the policies around it do not run again`},
	} {
		if _, err := Compile(backendDoc(tc.policy), Options{Doc: "policy"}); err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.policy, err, tc.want)
		}
	}
}

func TestForwardRequest_retryWarning(t *testing.T) {
	g, err := CompileGateway(Config{Policy: backendDoc(`<retry condition="@(context.Response.StatusCode == 503)" count="2" interval="1"><forward-request /></retry>`)}, Options{Doc: "policy"})
	if err != nil {
		t.Fatal(err)
	}
	want := "policy:3:1: retry: around forward-request, Envoy's router waits between attempts by the route's retry_back_off (25 ms base, jittered, by default); interval, delta, max-interval and first-fast-retry are not applied"
	if w := g.Warnings(); len(w) != 1 || w[0] != want {
		t.Errorf("warnings %q", w)
	}
}
