package policy

import (
	"strings"
	"testing"
)

func TestCheckHeader(t *testing.T) {
	const denied403 = `{"statusCode":403,"message":"Access denied."}`
	tests := []struct {
		name       string
		policy     string
		req        headers
		wantStatus int // 0: continue
		wantBody   string
		wantReason string
	}{
		{
			name:   "seed: right key",
			policy: `<set-variable name="allowedKey" value="{{api-key}}" />` + seedCheckHeader,
			req:    headers{"x-api-key": "s3cr3t-key"},
		},
		{
			name:       "seed: wrong key",
			policy:     `<set-variable name="allowedKey" value="{{api-key}}" />` + seedCheckHeader,
			req:        headers{"x-api-key": "s3cr3t-kez"},
			wantStatus: 403, wantBody: denied403, wantReason: "HeaderValueNotAllowed",
		},
		{
			name:       "seed: missing header",
			policy:     `<set-variable name="allowedKey" value="{{api-key}}" />` + seedCheckHeader,
			req:        headers{"x-other": "s3cr3t-key"},
			wantStatus: 403, wantBody: denied403, wantReason: "HeaderNotFound",
		},
		{
			name:       "seed: variable never set fails closed with 500",
			policy:     seedCheckHeader,
			req:        headers{"x-api-key": "s3cr3t-key"},
			wantStatus: 500, wantBody: `{"statusCode":500,"message":"Internal server error"}`, wantReason: "ExpressionValueEvaluationFailure",
		},
		{
			name:       "comma-joined duplicates do not match",
			policy:     `<check-header name="x-api-key" failed-check-httpcode="401"><value>{{api-key}}</value></check-header>`,
			req:        headers{"x-api-key": "s3cr3t-key,s3cr3t-key"},
			wantStatus: 401, wantBody: `{"statusCode":401,"message":"Access denied."}`, wantReason: "HeaderValueNotAllowed",
		},
		{
			name:   "any of several values",
			policy: `<check-header name="X-Tier" failed-check-httpcode="403"><value>gold</value><value>silver</value></check-header>`,
			req:    headers{"x-tier": "silver"},
		},
		{
			name:       "values are case-sensitive by default",
			policy:     `<check-header name="X-Tier" failed-check-httpcode="403"><value>gold</value></check-header>`,
			req:        headers{"x-tier": "Gold"},
			wantStatus: 403, wantBody: denied403, wantReason: "HeaderValueNotAllowed",
		},
		{
			name:   "ignore-case folds values",
			policy: `<check-header name="X-Tier" failed-check-httpcode="403" ignore-case="True"><value>gold</value></check-header>`,
			req:    headers{"x-tier": "GoLD"},
		},
		{
			name:   "ignore-case with non-ASCII",
			policy: `<check-header name="X-City" failed-check-httpcode="403" ignore-case="true"><value>ÅRHUS</value></check-header>`,
			req:    headers{"x-city": "århus"},
		},
		{
			name:   "no values: presence only, empty value passes",
			policy: `<check-header name="Authorization" failed-check-httpcode="401" failed-check-error-message="Missing credentials"/>`,
			req:    headers{"authorization": ""},
		},
		{
			name:       "no values: absent header",
			policy:     `<check-header name="Authorization" failed-check-httpcode="401" failed-check-error-message="Missing &lt;credentials&gt;"/>`,
			req:        headers{},
			wantStatus: 401, wantBody: `{"statusCode":401,"message":"Missing \u003ccredentials\u003e"}`, wantReason: "HeaderNotFound",
		},
		{
			name:       "variable holding an empty string matches nothing",
			policy:     `<set-variable name="k" value="" /><check-header name="x-api-key" failed-check-httpcode="403"><value>{{context.Variables["k"]}}</value></check-header>`,
			req:        headers{"x-api-key": ""},
			wantStatus: 403, wantBody: denied403, wantReason: "HeaderValueNotAllowed",
		},
		{
			name:   "template with literal around a variable",
			policy: `<set-variable name="k" value="abc" /><check-header name="x-api-key" failed-check-httpcode="403"><value>key-{{context.Variables["k"]}}-{{api-key}}</value></check-header>`,
			req:    headers{"x-api-key": "key-abc-s3cr3t-key"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, inboundDoc(tc.policy), map[string]string{"api-key": "s3cr3t-key"})
			x := p.NewExec(tc.req, nil)
			r := x.Inbound()
			if tc.wantStatus == 0 {
				if r.Action != Continue {
					t.Fatalf("want Continue, got %v %d %s (last error %+v)", r.Action, r.Status, r.Body, x.LastError())
				}
				return
			}
			if r.Action != Respond || r.Status != tc.wantStatus || r.Body != tc.wantBody {
				t.Fatalf("got %v %d %s\nwant Respond %d %s", r.Action, r.Status, r.Body, tc.wantStatus, tc.wantBody)
			}
			if le := x.LastError(); le == nil || le.Reason != tc.wantReason || le.Section != "inbound" {
				t.Fatalf("last error = %+v, want reason %s in inbound", le, tc.wantReason)
			}
			for _, v := range tc.req {
				if v != "" && (strings.Contains(r.Body, v) || strings.Contains(x.LastError().Message, v)) {
					t.Errorf("the presented value %q leaks into the body or LastError.Message", v)
				}
			}
		})
	}
}

func TestCheckHeader_lastError(t *testing.T) {
	p := mustCompile(t, inboundDoc(`<check-header id="key-check" name="X-Api-Key" failed-check-httpcode="403"><value>k</value></check-header>`), nil)
	x := p.NewExec(headers{"x-api-key": "guess"}, nil)
	x.Inbound()
	want := LastError{Source: "check-header", Reason: "HeaderValueNotAllowed", Message: "Header X-Api-Key value is not allowed. Access denied.", Section: "inbound", Scope: "global", PolicyID: "key-check", Path: "check-header[1]"}
	if got := x.LastError(); got == nil || *got != want {
		t.Fatalf("last error = %+v\nwant %+v", got, want)
	}
	x = p.NewExec(headers{}, nil)
	x.Inbound()
	if got := x.LastError().Message; got != "Header X-Api-Key was not found in the request. Access denied." {
		t.Fatalf("message = %q", got)
	}
}

func TestSecretEqual(t *testing.T) {
	tests := []struct {
		a, b string
		fold bool
		want bool
	}{
		{"abc", "abc", false, true},
		{"abc", "abd", false, false},
		{"abc", "ab", false, false},
		{"ABC", "abc", false, false},
		{"ABC", "abc", true, true},
		{"@[`{", "@[`{", true, true},
		{"@", "`", true, false}, // 0x40 and 0x60 differ by the case bit but are not letters
		{"[", "{", true, false},
		{"", "", false, true},
	}
	for _, tc := range tests {
		if got := secretEqual(tc.a, tc.b, tc.fold); got != tc.want {
			t.Errorf("secretEqual(%q, %q, %v) = %v, want %v", tc.a, tc.b, tc.fold, got, tc.want)
		}
	}
	for c := 0; c < 256; c++ {
		want := byte(c)
		if 'A' <= c && c <= 'Z' {
			want = byte(c) + 32
		}
		if got := lowerASCII(byte(c)); got != want {
			t.Fatalf("lowerASCII(%#x) = %#x, want %#x", c, got, want)
		}
	}
}
