package policy

import (
	"testing"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// runRetry runs doc against a service that answers status every time,
// and returns the calls made and the waits asked for.
func runRetry(t *testing.T, doc string, status int) (calls int, waits []time.Duration, r Result) {
	t.Helper()
	p := mustCompile(t, inboundDoc(doc), nil)
	x := p.NewExec(get(nil), nil)
	r = x.Inbound()
	for i := 0; i < 500 && (r.Action == Call || r.Action == Sleep); i++ {
		if r.Action == Sleep {
			waits = append(waits, r.Delay)
			r = x.Resume(nil, nil)
			continue
		}
		calls++
		r = x.Resume(&expr.Response{StatusCode: status}, nil)
	}
	return calls, waits, r
}

const retryCall = `<send-request mode="new" response-variable-name="r" timeout="5"><set-url>https://svc.example.com/</set-url></send-request>`

func TestRetry(t *testing.T) {
	cond := `condition="@(((IResponse)context.Variables[&quot;r&quot;]).StatusCode == 503)"`
	s := time.Second
	for _, tc := range []struct {
		name, attrs string
		status      int
		calls       int
		waits       []time.Duration
	}{
		{"no retry on success", `count="3" interval="1"`, 200, 1, nil},
		{"fixed", `count="3" interval="2"`, 503, 4, []time.Duration{2 * s, 2 * s, 2 * s}},
		{"first fast", `count="3" interval="2" first-fast-retry="true"`, 503, 4, []time.Duration{2 * s, 2 * s}},
		{"linear", `count="3" interval="1" delta="2"`, 503, 4, []time.Duration{1 * s, 3 * s, 5 * s}},
		{"exponential, capped", `count="5" interval="1" delta="2" max-interval="10"`, 503, 6, []time.Duration{3 * s, 5 * s, 9 * s, 10 * s, 10 * s}},
		{"a count from an expression is bounded to 50", `count="@(1000)" interval="0"`, 503, 51, nil},
		{"a negative count runs once", `count="@(-4)" interval="1"`, 503, 1, nil},
		{"a wait from an expression is bounded to 300 s", `count="1" interval="@(99999)"`, 503, 2, []time.Duration{300 * s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, waits, r := runRetry(t, `<retry `+cond+` `+tc.attrs+`>`+retryCall+`</retry>`, tc.status)
			if r.Action != Continue || calls != tc.calls || len(waits) != len(tc.waits) {
				t.Fatalf("%d calls, waits %v, %v; want %d calls, waits %v", calls, waits, r.Action, tc.calls, tc.waits)
			}
			for i := range waits {
				if waits[i] != tc.waits[i] {
					t.Errorf("wait %d: %v, want %v", i, waits[i], tc.waits[i])
				}
			}
		})
	}
	// A failed call without ignore-error ends the loop in on-error.
	p := mustCompile(t, inboundDoc(`<retry condition="true" count="5" interval="0">`+retryCall+`</retry>`), nil)
	x := p.NewExec(get(nil), nil)
	if r := x.Inbound(); r.Action != Call {
		t.Fatalf("%+v", r)
	}
	if r := x.Resume(nil, ErrCallFailed); r.Action != Respond || r.Status != 500 {
		t.Errorf("a failed call: %+v", r)
	}
}

func TestRetry_refused(t *testing.T) {
	for _, tc := range []struct{ policy, want string }{
		{`<retry condition="true" count="51" interval="1">` + retryCall + `</retry>`, `policy:3:32: retry: attribute "count" must be a whole number from 1 to 50, not "51"`},
		{`<retry condition="true" interval="1">` + retryCall + `</retry>`, `policy:3:1: retry: missing required attribute "count"`},
		{`<retry condition="true" count="1" interval="1"><forward-request /></retry>`, `policy:3:48: forward-request: forward-request inside retry must be the retry's only child, in <backend>`},
	} {
		if _, err := Compile(inboundDoc(tc.policy), Options{Doc: "policy"}); err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.policy, err, tc.want)
		}
	}
}
