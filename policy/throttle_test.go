package policy

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// throttleClock is a settable clock for the throttling tests.
type throttleClock struct{ t time.Time }

func (c *throttleClock) now() time.Time { return c.t }

func throttleProgram(t *testing.T, document string, store SharedStore, clock *throttleClock) *Program {
	t.Helper()
	p, err := Compile(document, Options{Counters: store, CounterSalt: []byte("salt"), Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// throttleRun runs one request: its status (0: it went on) and the
// headers of the answer, or the header edits.
func throttleRun(p *Program, h map[string]string) (int, map[string]string, *Exec) {
	x := p.NewExec(get(h), nil)
	r := x.Inbound()
	out := map[string]string{}
	if r.Action == Respond {
		for _, kv := range r.Headers {
			out[kv[0]] = kv[1]
		}
		out["@body"] = r.Body
		return r.Status, out, x
	}
	for _, e := range r.Edits {
		if e.Values != nil {
			out[e.Name] = e.Values[0]
		}
	}
	return 0, out, x
}

func TestRateLimitByKey(t *testing.T) {
	clock := &throttleClock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	p := throttleProgram(t, doc(`<rate-limit-by-key calls="3" renewal-period="60" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-user&quot;, &quot;&quot;))"
    remaining-calls-header-name="X-Remaining" total-calls-header-name="X-Total" retry-after-variable-name="wait" remaining-calls-variable-name="left" />`, "", ""),
		&MemoryStore{}, clock)
	for i, want := range []string{"2", "1", "0"} {
		st, _, x := throttleRun(p, map[string]string{"x-user": "alice"})
		if st != 0 {
			t.Fatalf("call %d: status %d", i+1, st)
		}
		r := x.Outbound(resp{":status": "200"})
		got := map[string]string{}
		for _, e := range r.Edits {
			got[e.Name] = e.Values[0]
		}
		if got["x-remaining"] != want || got["x-total"] != "3" {
			t.Errorf("call %d: response headers %v, want x-remaining %s and x-total 3", i+1, got, want)
		}
		if v, _ := x.Variable("left"); v != mustAtoi(want) {
			t.Errorf("call %d: left = %v", i+1, v)
		}
	}
	st, h, x := throttleRun(p, map[string]string{"x-user": "alice"})
	// 3 calls per 60 s: one more every 20 s.
	if st != 429 || h["retry-after"] != "20" || h["x-remaining"] != "0" || h["x-total"] != "3" ||
		h["@body"] != `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 20 seconds."}` {
		t.Fatalf("4th call: %d %v", st, h)
	}
	if e := x.LastError(); e.Reason != "RateLimitExceeded" || e.Message != "Rate limit is exceeded" || e.Source != "rate-limit-by-key" {
		t.Errorf("LastError %+v", e)
	}
	if v, _ := x.Variable("wait"); v != 20 {
		t.Errorf("wait = %v", v)
	}
	if st, _, _ := throttleRun(p, map[string]string{"x-user": "bob"}); st != 0 {
		t.Errorf("another key: status %d", st)
	}
	if st, _, _ := throttleRun(p, nil); st != 0 {
		t.Errorf("an empty key is not limited: %d", st)
	}
	clock.t = clock.t.Add(19 * time.Second)
	if st, h, _ := throttleRun(p, map[string]string{"x-user": "alice"}); st != 429 || h["retry-after"] != "1" {
		t.Errorf("after 19 s: %d %v", st, h)
	}
	clock.t = clock.t.Add(time.Second)
	if st, _, _ := throttleRun(p, map[string]string{"x-user": "alice"}); st != 0 {
		t.Errorf("after 20 s one more is allowed: %d", st)
	}
	clock.t = clock.t.Add(60 * time.Second)
	for i := 0; i < 3; i++ {
		if st, _, _ := throttleRun(p, map[string]string{"x-user": "alice"}); st != 0 {
			t.Fatalf("renewed, call %d: %d", i+1, st)
		}
	}
	if st, _, _ := throttleRun(p, map[string]string{"x-user": "alice"}); st != 429 {
		t.Errorf("renewed, 4th: %d", st)
	}
}

func mustAtoi(s string) int { i, _ := strconv.Atoi(s); return i }

// A deferred increment counts at the end of outbound, only when the
// condition holds on the response.
func TestRateLimitByKey_deferred(t *testing.T) {
	clock := &throttleClock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	p := throttleProgram(t, doc(`<rate-limit-by-key calls="2" renewal-period="60" counter-key="k" increment-condition="@(context.Response.StatusCode &gt;= 500)" />`, "", ""),
		&MemoryStore{}, clock)
	call := func(status string) int {
		st, _, x := throttleRun(p, nil)
		if st != 0 {
			return st
		}
		x.Outbound(resp{":status": status})
		return 0
	}
	for i := 0; i < 5; i++ {
		if st := call("200"); st != 0 {
			t.Fatalf("200s are not counted: call %d got %d", i+1, st)
		}
	}
	call("503")
	call("502")
	if st := call("200"); st != 429 {
		t.Errorf("after two failures: %d, want 429", st)
	}
}

func TestQuotaByKey(t *testing.T) {
	clock := &throttleClock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	p := throttleProgram(t, doc(`<quota-by-key calls="2" renewal-period="3600" counter-key="@(context.Request.IpAddress)" first-period-start="2026-01-01T00:30:00Z" />
<quota-by-key calls="5" renewal-period="0" counter-key="@(&quot;forever-&quot; + context.Request.IpAddress)" />`, "", ""), &MemoryStore{}, clock)
	ip := map[string]string{"@ip": "192.0.2.7"}
	for i := 0; i < 2; i++ {
		if st, _, _ := throttleRun(p, ip); st != 0 {
			t.Fatalf("call %d: %d", i+1, st)
		}
	}
	// Windows start at hh:30: 30 minutes to the next.
	st, h, x := throttleRun(p, ip)
	if st != 403 || h["retry-after"] != "1800" ||
		h["@body"] != `{"statusCode":403,"message":"Out of call volume quota. Quota will be replenished in 00:30:00."}` {
		t.Fatalf("3rd call: %d %v", st, h)
	}
	if e := x.LastError(); e.Reason != "QuotaExceeded" || e.Source != "quota-by-key" {
		t.Errorf("LastError %+v", e)
	}
	clock.t = clock.t.Add(30 * time.Minute)
	for i := 0; i < 2; i++ {
		if st, _, _ := throttleRun(p, ip); st != 0 {
			t.Fatalf("next window, call %d: %d", i+1, st)
		}
	}
	// The quota that never renews has counted 4 of 5 (the denied call did
	// not reach it); one more, then no Retry-After.
	clock.t = clock.t.Add(time.Hour)
	throttleRun(p, ip)
	clock.t = clock.t.Add(time.Hour)
	if st, h, _ := throttleRun(p, ip); st != 403 || h["retry-after"] != "" || h["@body"] != `{"statusCode":403,"message":"Out of call volume quota."}` {
		t.Errorf("the quota that never renews: %d %v", st, h)
	}
}

func TestTimeSpan(t *testing.T) {
	// .NET's TimeSpan.ToString() ("c"): [d.]hh:mm:ss.
	for secs, want := range map[int64]string{1: "00:00:01", 504: "00:08:24", 3600: "01:00:00", 90061: "1.01:01:01"} {
		if got := timeSpan(secs); got != want {
			t.Errorf("timeSpan(%d) = %q, want %q", secs, got, want)
		}
	}
}

func TestLimitConcurrency(t *testing.T) {
	clock := &throttleClock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	store := &MemoryStore{}
	p := throttleProgram(t, `<policies><inbound /><backend>
<limit-concurrency key="backend" max-count="2"><forward-request timeout="30" /></limit-concurrency>
</backend><outbound /></policies>`, store, clock)
	_, _, a := throttleRun(p, nil)
	_, _, b := throttleRun(p, nil)
	st, h, _ := throttleRun(p, nil)
	if st != 429 || h["@body"] != `{"statusCode":429,"message":"Too many concurrent requests."}` || h["retry-after"] != "" {
		t.Fatalf("a third at once: %d %v", st, h)
	}
	a.Outbound(resp{":status": "200"}) // a's response arrived: its slot is free
	if st, _, _ := throttleRun(p, nil); st != 0 {
		t.Fatalf("after a's response: %d", st)
	}
	b.End(0) // b's client went away
	b.End(0) // ended twice: released once
	if st, _, _ := throttleRun(p, nil); st != 0 {
		t.Fatalf("after b ended, d: %d", st)
	}
	if st, _, _ := throttleRun(p, nil); st != 429 {
		t.Fatalf("c and d hold the slots: %d", st)
	}

	// Around other policies, the slot is free once they end.
	q := throttleProgram(t, inboundDoc(`<limit-concurrency key="k" max-count="1"><set-header name="x-in" exists-action="override"><value>1</value></set-header></limit-concurrency>`), store, clock)
	for i := 0; i < 3; i++ {
		if st, h, _ := throttleRun(q, nil); st != 0 || h["x-in"] != "1" {
			t.Fatalf("call %d: %d %v", i+1, st, h)
		}
	}
}

// A client that makes up keys fills buckets; a live counter is never
// evicted or reset, and the keys that find their bucket full share its
// overflow counter, so none of them goes past the limit.
func TestCounterTable_full(t *testing.T) {
	store := &MemoryStore{}
	table := newCounterTable(store, []byte("s"))
	bucketOf := func(key string) string {
		_, name := table.slot(key)
		return name
	}
	now := int64(1_000_000)
	add := func(key string) int64 {
		var v int64
		if err := table.update(key, now, func(e *counterEntry, _ bool) bool {
			e.val++
			e.expires = now + 60_000
			v = e.val
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	victim := "victim"
	add(victim)
	add(victim)
	var same []string
	for i := 0; len(same) < 2*throttleSlots; i++ {
		if k := "attacker-" + strconv.Itoa(i); bucketOf(k) == bucketOf(victim) {
			same = append(same, k)
		}
	}
	for _, k := range same {
		add(k)
	}
	if table.overflows != throttleSlots+1 {
		t.Errorf("overflows = %d, want %d", table.overflows, throttleSlots+1)
	}
	if v := add(victim); v != 3 {
		t.Errorf("the victim's counter went from 2 to %d", v)
	}
	// The overflowed keys share one counter: the next adds to all of theirs.
	if v := add(same[len(same)-1]); v != throttleSlots+2 {
		t.Errorf("overflow counter = %d, want %d", v, throttleSlots+2)
	}
	// Once the entries expire, their slots are free again.
	now += 61_000
	table.overflows = 0
	if v := add(same[len(same)-1]); v != 1 || table.overflows != 0 {
		t.Errorf("after expiry: %d (overflows %d)", v, table.overflows)
	}
}

func TestThrottle_loadErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{inboundDoc(`<rate-limit calls="1" renewal-period="1" />`), "policy:3:1: rate-limit: rate-limit counts per subscription and applies at product, API or operation scope"},
		{inboundDoc(`<rate-limit-by-key calls="0" renewal-period="1" counter-key="k" />`), `policy:3:27: rate-limit-by-key: attribute "calls" must be a whole number from 1 to 1000000, not "0"`},
		{inboundDoc(`<rate-limit-by-key calls="1" renewal-period="301" counter-key="k" />`), `attribute "renewal-period" must be a whole number from 1 to 300, not "301"`},
		{inboundDoc(`<rate-limit-by-key calls="1" renewal-period="1" />`), `missing required attribute "counter-key"`},
		{inboundDoc(`<quota calls="1" renewal-period="1" />`), "quota counts per subscription and applies at product scope only"},
		{inboundDoc(`<quota-by-key calls="1" renewal-period="60" counter-key="k" />`), `"renewal-period" must be 0 (never renews) or whole seconds from 300`},
		{inboundDoc(`<quota-by-key renewal-period="300" counter-key="k" />`), `missing attribute "calls" or "bandwidth"`},
		{inboundDoc(`<quota-by-key calls="1" renewal-period="300" counter-key="k" first-period-start="2024-01-01" />`), `"first-period-start" must be a UTC time`},
		{inboundDoc(`<limit-concurrency key="k" max-count="0" />`), `"max-count" must be a whole number from 1 to 10000, not "0"`},
		{inboundDoc(`<limit-concurrency key="k" max-count="@(1)" />`), `attribute "max-count" must be a constant or a named value`},
		{inboundDoc(`<rate-limit-by-key calls="1" renewal-period="1" counter-key="k" retry-after-header-name="a b" />`), `"retry-after-header-name" must be a header name`},
	} {
		_, err := Compile(c.doc, Options{Counters: &MemoryStore{}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.doc, err, c.want)
		}
	}
	if _, err := Compile(inboundDoc(`<rate-limit-by-key calls="1" renewal-period="1" counter-key="k" />`), Options{}); err == nil ||
		err.Error() != "policy:3:1: rate-limit-by-key: this host has no shared counters for throttling" {
		t.Errorf("without counters: %v", err)
	}
}

// rate-limit and quota count per subscription, at product scope, with
// their <api> children; a keyless call on an open API is not counted.
func TestRateLimitAndQuota_perSubscription(t *testing.T) {
	clock := &throttleClock{subNow}
	open := false
	apis := []API{
		{Name: "orders", PathPrefix: "/orders"},
		{Name: "invoices", PathPrefix: "/invoices"},
		{Name: "status", PathPrefix: "/status", SubscriptionRequired: &open,
			Policy: `<policies><inbound><rate-limit calls="1" renewal-period="60" /><base /></inbound></policies>`},
	}
	products := []Product{{ID: "starter", Name: "Starter", APIs: []string{"orders", "invoices"}, Policy: `<policies><inbound>
<rate-limit calls="10" renewal-period="60"><api name="orders" calls="2" renewal-period="60" /></rate-limit>
<quota calls="4" renewal-period="3600" />
<base /></inbound></policies>`}}
	subs := []Subscription{
		{ID: "acme", Scope: "product:starter", PrimaryKey: KeyDigest("acme-key"), StartDate: subNow.Add(-30 * time.Minute)},
		{ID: "globex", Scope: "product:starter", PrimaryKey: KeyDigest("globex-key")},
	}
	g, err := CompileGateway(Config{APIs: apis, Products: products, Subscriptions: subs},
		Options{Counters: &MemoryStore{}, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	run := func(path, key string) (int, string, string) {
		h := req(path)
		if key != "" {
			h["ocp-apim-subscription-key"] = key
		}
		prog, params := g.Route(h[":authority"], h[":method"], h[":path"])
		prog, sub := g.Subscribe(prog, h, clock.t)
		x := prog.NewExec(h, params)
		x.SetSubscription(sub)
		r := x.Inbound()
		if r.Action != Respond {
			return 0, "", ""
		}
		retry, _ := JoinHeader(r.Headers, "retry-after")
		return r.Status, x.LastError().Reason, retry
	}
	// orders: 2 a minute for the API, within 10 for the product.
	for i := 0; i < 2; i++ {
		if st, _, _ := run("/orders/1", "acme-key"); st != 0 {
			t.Fatalf("orders %d: %d", i+1, st)
		}
	}
	if st, reason, retry := run("/orders/1", "acme-key"); st != 429 || reason != "RateLimitExceeded" || retry != "30" {
		t.Fatalf("3rd orders call: %d %s %q, want 429 after 30 s", st, reason, retry)
	}
	if st, _, _ := run("/orders/1", "globex-key"); st != 0 {
		t.Errorf("another subscription: %d", st)
	}
	// invoices: only the product's own budget; the quota (4 an hour, in
	// windows from the subscription's start) counted the two orders calls
	// that passed the rate limit, so two more pass.
	for i := 0; i < 2; i++ {
		if st, _, _ := run("/invoices/1", "acme-key"); st != 0 {
			t.Fatalf("invoices %d: %d", i+1, st)
		}
	}
	st, reason, retry := run("/invoices/2", "acme-key")
	if st != 403 || reason != "QuotaExceeded" || retry != "1800" {
		t.Errorf("past the quota: %d %s %q, want 403 after 1800 s (the window started at the subscription's start)", st, reason, retry)
	}
	// An open API's keyless calls are not limited.
	for i := 0; i < 3; i++ {
		if st, _, _ := run("/status", ""); st != 0 {
			t.Fatalf("keyless call %d: %d", i+1, st)
		}
	}
}

// Global mode: the engine asks the rate limit service and answers from
// its reply.
func TestThrottle_global(t *testing.T) {
	clock := &throttleClock{time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	compile := func(allow bool) *Program {
		p, err := Compile(doc(`<rate-limit-by-key calls="20" renewal-period="60" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;&quot;))" remaining-calls-header-name="x-left" />
<quota-by-key calls="100" renewal-period="86400" counter-key="k" increment-condition="@(context.Response.StatusCode == 200)" />`, "", ""),
			Options{Counters: &MemoryStore{}, Now: clock.now, RateLimitService: &RateLimitService{URL: "http://ratelimit:8080/json", Domain: "d", AllowRateLimitsWhenDown: allow}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := compile(false)
	x := p.NewExec(get(map[string]string{"x-client": "a\"b"}), nil)
	r := x.Inbound()
	if r.Action != Call || r.Call.Authority != "ratelimit:8080" || r.Call.Path != "/json" || r.Call.Method != "POST" || r.Call.TimeoutMS != 1000 ||
		string(r.Call.Body) != `{"domain":"d","descriptors":[{"entries":[{"key":"apimguard","value":"rate-limit-by-key/20/minute"},{"key":"key","value":"a\"b"}],"hitsAddend":"1"}]}` {
		t.Fatalf("the first call: %+v %s", r, r.Call.Body)
	}
	r = x.Resume(&CallResponse{StatusCode: 200, Body: []byte(`{"overallCode":"OK","statuses":[{"code":"OK","limitRemaining":7}]}`)}, nil)
	// The quota's count is deferred: the check looks only.
	if r.Action != Call || string(r.Call.Body) != `{"domain":"d","descriptors":[{"entries":[{"key":"apimguard","value":"quota-by-key/100/day"},{"key":"key","value":"k"}],"hitsAddend":"0"}]}` {
		t.Fatalf("the second call: %+v %s", r, r.Call.Body)
	}
	if r = x.Resume(&CallResponse{StatusCode: 200, Body: []byte(`{"overallCode":"OK"}`)}, nil); r.Action != Continue {
		t.Fatalf("%+v", r)
	}
	r = x.Outbound(resp{":status": "200"})
	got := map[string]string{}
	for _, e := range r.Edits {
		got[e.Name] = e.Values[0]
	}
	calls := x.OneWayCalls()
	if got["x-left"] != "7" || len(calls) != 1 || !strings.Contains(string(calls[0].Body), `"value":"quota-by-key/100/day"},{"key":"key","value":"k"}],"hitsAddend":"1"`) {
		t.Fatalf("outbound: %v, one-way calls %d", got, len(calls))
	}

	client := map[string]string{"x-client": "c"}
	x = p.NewExec(get(client), nil)
	x.Inbound()
	r = x.Resume(&CallResponse{StatusCode: 429, Body: []byte(`{"overallCode":"OVER_LIMIT","statuses":[{"code":"OVER_LIMIT","durationUntilReset":"41.2s"}]}`)}, nil)
	if retry, _ := JoinHeader(r.Headers, "retry-after"); r.Status != 429 || retry != "42" || x.LastError().Reason != "RateLimitExceeded" {
		t.Errorf("over the limit: %d %v", r.Status, r.Headers)
	}
	x = p.NewExec(get(client), nil)
	x.Inbound()
	if r = x.Resume(nil, ErrCallFailed); r.Status != 500 || x.LastError().Reason != "RateLimitServiceUnavailable" {
		t.Errorf("service down, deny: %+v", r)
	}
	x = compile(true).NewExec(get(client), nil)
	x.Inbound()
	if r = x.Resume(&CallResponse{StatusCode: 503}, nil); r.Action != Call {
		t.Errorf("service down, allow: the rate limit lets it through to the quota: %+v", r)
	}
	if r = x.Resume(nil, ErrCallTimeout); r.Status != 500 {
		t.Errorf("service down: a quota denies whatever rateLimitsWhenDown says: %+v", r)
	}

	for _, c := range []struct{ doc, want string }{
		{`<rate-limit-by-key calls="5" renewal-period="90" counter-key="k" />`, "renewal-period 90 has no unit in Envoy's rate limit service"},
		{`<rate-limit-by-key calls="@(5)" renewal-period="60" counter-key="k" />`, "calls and renewal-period must be constants with rateLimitService"},
		{`<quota-by-key bandwidth="5" renewal-period="3600" counter-key="k" />`, "bandwidth and renewal-period 0 count only locally"},
		{`<quota-by-key calls="5" renewal-period="3600" counter-key="k" first-period-start="2026-01-01T00:00:00Z" />`, "first-period-start cannot be kept"},
	} {
		_, err := Compile(inboundDoc(c.doc), Options{Counters: &MemoryStore{}, RateLimitService: &RateLimitService{URL: "http://r/json", Domain: "d"}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.doc, err)
		}
	}
}
