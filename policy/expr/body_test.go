package expr

import (
	"strings"
	"testing"
)

// The message bodies (context.Request.Body, context.Response.Body) and
// preserveContent, as Microsoft's set-body page describes them: "By default
// when you access the message body using context.Request.Body or
// context.Response.Body, the original message body is lost ... To preserve
// the body content, set the preserveContent parameter to true".
func TestMessageBody(t *testing.T) {
	tests := []struct {
		src       string
		req, resp string // "" for no body
		want      any
		wantErr   string
		consumed  [2]int
		reads     [2]bool // ReadsBody
	}{
		{src: `@(context.Request.Body.As<string>(preserveContent: true))`, req: `{"a":1}`, want: `{"a":1}`, reads: [2]bool{true, false}},
		{src: `@(context.Request.Body.As<string>(true))`, req: `x`, want: `x`, reads: [2]bool{true, false}},
		{src: `@(context.Request.Body.As<string>())`, req: `x`, want: `x`, consumed: [2]int{1, 0}, reads: [2]bool{true, false}},
		{src: `@((string)context.Request.Body.As<JObject>()["order"]["id"])`, req: `{"order":{"id":"o-7"}}`, want: "o-7", consumed: [2]int{1, 0}, reads: [2]bool{true, false}},
		{src: `@(context.Response.Body.As<JArray>(preserveContent: true).Count)`, resp: `[1,2,3]`, want: int64(3), reads: [2]bool{false, true}},
		{src: `@(context.Request.Body?.As<string>() ?? "none")`, want: "none", reads: [2]bool{true, false}},
		{src: `@{ var b = context.Request.Body.As<JObject>(preserveContent: true); var again = context.Request.Body.As<string>(); return again.Length; }`, req: `{"k":"v"}`, want: int64(9), consumed: [2]int{1, 0}, reads: [2]bool{true, false}},
		{src: `@(context.Request.Body.As<string>())`, wantErr: "Object reference not set to an instance of an object.", reads: [2]bool{true, false}},
		{src: `@(context.Request.Body.As<JObject>(preserveContent: true))`, req: `[1]`, wantErr: "Error reading JObject from JsonReader.", reads: [2]bool{true, false}},
		{src: `@(context.Request.Body.As<JObject>(preserveContent: true))`, req: `{"a":`, wantErr: "Unexpected character encountered while parsing value: the body is not JSON.", reads: [2]bool{true, false}},
		{src: `@(context.Request.Body.As<JObject>(preserveContent: true))`, req: strings.Repeat("[", 200) + strings.Repeat("]", 200), wantErr: "The body is refused", reads: [2]bool{true, false}},
		{src: `@(context.Request.Headers.GetValueOrDefault("a", "b"))`, want: "b"},
		// AsFormUrlEncodedContent: IDictionary<string, IList<string>>.
		{src: `@(context.Request.Body.AsFormUrlEncodedContent(preserveContent: true)["grant_type"][0])`, req: `grant_type=client_credentials&scope=a+b&scope=c%20d`, want: "client_credentials", reads: [2]bool{true, false}},
		{src: `@(string.Join("|", context.Request.Body.AsFormUrlEncodedContent()["scope"]))`, req: `grant_type=x&scope=a+b&scope=c%20d`, want: "a b|c d", consumed: [2]int{1, 0}, reads: [2]bool{true, false}},
		{src: `@(context.Request.Body.AsFormUrlEncodedContent(true).GetValueOrDefault("code", "none"))`, req: `a=1`, want: "none", reads: [2]bool{true, false}},
		{src: `@(context.Request.Body.AsFormUrlEncodedContent(true).ContainsKey("a"))`, req: `a=1`, want: true, reads: [2]bool{true, false}},
		{src: `@(context.Request.Body.AsFormUrlEncodedContent(true)["b"])`, req: `a=1`, wantErr: "The given key 'b' was not present in the dictionary.", reads: [2]bool{true, false}},
		{src: `@(context.Request.Body.AsFormUrlEncodedContent(true)["a"])`, req: `a=%zz`, wantErr: "The body is not form-urlencoded", reads: [2]bool{true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			p, err := Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if r, w := p.ReadsBody(); r != tc.reads[0] || w != tc.reads[1] {
				t.Errorf("ReadsBody = %v, %v, want %v", r, w, tc.reads)
			}
			e := newEnv()
			if tc.req != "" {
				e.bodies[0] = &tc.req
			}
			if tc.resp != "" {
				e.bodies[1] = &tc.resp
			}
			got, err := p.Eval(e)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			if e.consumed != tc.consumed {
				t.Errorf("consumed = %v, want %v", e.consumed, tc.consumed)
			}
		})
	}
}
