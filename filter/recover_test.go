//go:build !wasip1

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// TestRecover_panicInCallbacks: a panic in a request callback answers a
// fixed 500 and the next request is served; a panic in the tick or a key
// fetch is logged; each is counted in apimguard.internal_errors. Native
// only: the panic is injected through a package variable.
func TestRecover_panicInCallbacks(t *testing.T) {
	defer func() { panicIn = "" }()
	p := mustStart(t, &vmContext{}, seedConfig())

	panicIn = "request"
	o := p.request([2]string{"x-api-key", goodKey})
	if o.local == nil || o.local.StatusCode != 500 || string(o.local.Data) != `{"statusCode":500,"message":"Internal server error"}` {
		t.Fatalf("panicking request: got %+v", o.local)
	}
	panicIn = ""
	if o := p.request([2]string{"x-api-key", goodKey}); o.action != types.ActionContinue || o.local != nil {
		t.Fatalf("the request after the panic: action %v, response %+v", o.action, o.local)
	}

	panicIn = "tick"
	p.host.Tick()
	panicIn = ""
	p.host.Tick()

	if n, err := p.host.GetCounterMetric(metricInternalErrors); err != nil || n != 2 {
		t.Errorf("%s = %d (%v), want 2", metricInternalErrors, n, err)
	}
	want := []string{
		"apimguard: denying request: internal error: test panic",
		"apimguard: tick: internal error: test panic",
	}
	if got := p.host.GetErrorLogs(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("error logs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEvents_rateLimited: with eventsPerSecond 3, ten denials in one second
// write three event lines; the other seven are one summary line once the
// second is over, and the metrics count all ten.
func TestEvents_rateLimited(t *testing.T) {
	defer func(old func() time.Time) { now = old }(now)
	at := time.Unix(1_900_000_000, 0)
	now = func() time.Time { return at }
	p := mustStart(t, &vmContext{}, `{"policy": `+jsonQuote(seedCheckHeader)+`, "namedValues": {"api-key": "`+goodKey+`"}, "eventsPerSecond": 3}`)
	for i := 0; i < 10; i++ {
		if o := p.request([2]string{"x-api-key", "wrong"}); o.local == nil || o.local.StatusCode != 403 {
			t.Fatalf("request %d: %+v", i, o.local)
		}
	}
	p.host.Tick() // the same second: no summary yet
	if got := countPrefix(p.host.GetWarnLogs(), `{"event":"deny"`); got != 3 {
		t.Fatalf("%d event lines in the first second, want 3", got)
	}
	if got := countPrefix(p.host.GetWarnLogs(), `{"event":"suppressed"`); got != 0 {
		t.Fatalf("%d summaries before the second is over, want 0", got)
	}
	at = at.Add(time.Second)
	p.host.Tick()
	var summaries []string
	for _, l := range p.host.GetWarnLogs() {
		if strings.HasPrefix(l, `{"event":"suppressed"`) {
			summaries = append(summaries, l)
		}
	}
	want := `{"event":"suppressed","policy":"check-header","reason":"HeaderValueNotAllowed","count":7,"second":1900000000}`
	if len(summaries) != 1 || summaries[0] != want {
		t.Fatalf("summaries %q, want [%s]", summaries, want)
	}
	if n, _ := p.host.GetCounterMetric(deniedMetric("denied", "check-header", "HeaderValueNotAllowed")); n != 10 {
		t.Errorf("denied metric = %d, want 10", n)
	}
	// A new second writes again.
	p.request([2]string{"x-api-key", "wrong"})
	if got := countPrefix(p.host.GetWarnLogs(), `{"event":"deny"`); got != 4 {
		t.Errorf("%d event lines after the second, want 4", got)
	}
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
