package policy

import (
	"strconv"
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// rate-limit and rate-limit-by-key: at most calls per renewal-period.
// References: https://learn.microsoft.com/azure/api-management/rate-limit-policy,
// .../rate-limit-by-key-policy
//
// # Notes
//
//   - The window is a token bucket, as in APIM's v2 tiers (classic tiers
//     slide a window): a burst of calls is allowed, then one more every
//     renewal-period/calls; a key unused for renewal-period has its full
//     budget again. It is counted as a generic cell rate (one number per
//     key: when the bucket will be full), so calls are exact, not
//     approximate, across every worker of an Envoy (throttle.go).
//   - rate-limit counts per subscription: one counter for the element and
//     one for each <api> and <operation> child that matches the request,
//     applied independently. A request without a subscription key is not
//     limited. Its scopes are product, API and operation, as in APIM.
//   - rate-limit-by-key counts per counter-key value, shared by every
//     rate-limit-by-key that computes that value (APIM's documented
//     behaviour; put a scope marker in the key to separate them). calls and
//     renewal-period may be expressions there. An empty key is not limited.
//   - An expression in increment-condition or increment-count defers the
//     counting to the end of outbound (the response is known); the check
//     at inbound then only looks, so the 429 can come one call late, as
//     APIM documents. A request that never reaches outbound (answered
//     locally, or failed) is not counted then.
//   - Past the limit: 429 through on-error (LastError Reason
//     RateLimitExceeded), Retry-After in whole seconds (or the header
//     retry-after-header-name names), the body {"statusCode":429,"message":
//     "Rate limit is exceeded. Try again in N seconds."}.
//     remaining-calls-header-name and total-calls-header-name are added to
//     the response the client gets; the variables are set at the check.
//   - calls is 1 to 1,000,000 and renewal-period 1 to 300 seconds.
type rateLimit struct {
	stmtMeta
	byKey bool
	// rate-limit-by-key: the key, the budget (constants or expressions)
	// and the increment; deferred when either increment attribute is an
	// expression.
	keyedCount
	calls, period Value
	// rate-limit: the element's own budget, then its <api>/<operation>
	// children's.
	limits []scopedBudget
	names  throttleNames
	// marker separates this element's per-subscription counters from
	// every other's.
	marker string
	// rule is rate-limit-by-key's rule in global mode ("": local).
	rule string
}

// scopedBudget is one budget of rate-limit or quota: the element's own
// (api and op empty), an <api>'s or an <operation>'s (api and op match
// context.Api and context.Operation: by id, else by name); quota-by-key's
// one budget.
type scopedBudget struct {
	apiID, apiName, opID, opName string
	calls                        int64         // quota: 0 for none
	period                       time.Duration // quota: 0 never renews
	kilobytes                    int64         // quota's bandwidth (0: none)
	marker                       string        // the counters' key suffix (per subscription)
	rule                         string        // global mode: its rule
}

// scopedBudgets reads the budgets of rate-limit and quota: the element's
// own, then those of its <api> children and their <operation> children,
// each marked apart from the others.
func (c *compiler) scopedBudgets(n *Node, marker string, read func(*Node) (scopedBudget, error)) ([]scopedBudget, error) {
	own, err := read(n)
	if err != nil {
		return nil, err
	}
	own.marker = marker
	budgets := []scopedBudget{own}
	for _, api := range n.Children {
		if api.Name != "api" {
			return nil, c.errf(api, api.Pos, "%s may only hold <api> elements", n.Name)
		}
		r, err := read(api)
		if err != nil {
			return nil, err
		}
		if r.apiID, r.apiName, err = c.scopeTarget(api); err != nil {
			return nil, err
		}
		r.marker = marker + "/api:" + r.apiID + ":" + r.apiName
		budgets = append(budgets, r)
		for _, op := range api.Children {
			if op.Name != "operation" || len(op.Children) > 0 {
				return nil, c.errf(op, op.Pos, "<api> of %s may only hold empty <operation> elements", n.Name)
			}
			o, err := read(op)
			if err != nil {
				return nil, err
			}
			if o.opID, o.opName, err = c.scopeTarget(op); err != nil {
				return nil, err
			}
			o.apiID, o.apiName = r.apiID, r.apiName
			o.marker = r.marker + "/operation:" + o.opID + ":" + o.opName
			budgets = append(budgets, o)
		}
	}
	return budgets, nil
}

// throttleNames are the headers and variables a throttling element sets.
type throttleNames struct {
	retryHeader, retryVar         string
	remainingHeader, remainingVar string
	totalHeader                   string
}

// Bounds on a rate limit.
const (
	maxRateCalls  = 1_000_000
	maxRatePeriod = 300
)

func compileRateLimit(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "calls", "renewal-period", "retry-after-header-name", "retry-after-variable-name",
		"remaining-calls-header-name", "remaining-calls-variable-name", "total-calls-header-name", "id"); err != nil {
		return nil, err
	}
	if n.Scope == "global" || n.Scope == "" {
		return nil, c.errf(n, n.Pos, "rate-limit counts per subscription and applies at product, API or operation scope, as in APIM; use rate-limit-by-key here")
	}
	if err := c.needCounters(n); err != nil {
		return nil, err
	}
	s := &rateLimit{stmtMeta: c.meta(n), marker: n.Doc + ":" + n.Path}
	var err error
	if s.names, err = c.throttleNames(n, "calls"); err != nil {
		return nil, err
	}
	if s.limits, err = c.scopedBudgets(n, s.marker, c.rateBudget); err != nil {
		return nil, err
	}
	if c.opt.RateLimitService != nil {
		for i := range s.limits {
			if s.limits[i].rule, err = c.globalRule(n, "rate-limit", s.limits[i].marker, s.limits[i].calls, s.limits[i].period); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// rateBudget reads the constant calls and renewal-period of rate-limit and
// of its children.
func (c *compiler) rateBudget(n *Node) (scopedBudget, error) {
	if n.Name != "rate-limit" {
		if err := c.attrs(n, "name", "id", "calls", "renewal-period"); err != nil {
			return scopedBudget{}, err
		}
	}
	var r scopedBudget
	for _, f := range []struct {
		name   string
		hi     int
		period bool
	}{{"calls", maxRateCalls, false}, {"renewal-period", maxRatePeriod, true}} {
		a, err := c.required(n, f.name)
		if err != nil {
			return r, err
		}
		v, err := c.constant(n, a)
		if err != nil {
			return r, err
		}
		i, ok := throttleInt(v, 1, int64(f.hi))
		if !ok {
			return r, c.errf(n, a.ValuePos, "attribute %q must be a whole number from 1 to %d, not %q", f.name, f.hi, v)
		}
		if f.period {
			r.period = time.Duration(i) * time.Second
		} else {
			r.calls = i
		}
	}
	return r, nil
}

// scopeTarget reads the id or name of an <api> or <operation> child; id
// wins when both are given.
func (c *compiler) scopeTarget(n *Node) (id, name string, err error) {
	for _, k := range []string{"id", "name"} {
		if a, ok := n.Attr(k); ok {
			v, err := c.constant(n, a)
			if err != nil {
				return "", "", err
			}
			if k == "id" {
				return v, "", nil
			}
			name = v
		}
	}
	if name == "" {
		return "", "", c.errf(n, n.Pos, "missing required attribute \"name\" or \"id\"")
	}
	return "", name, nil
}

// throttleNames reads the header and variable names of a throttling
// element; unit is what remains ("calls").
func (c *compiler) throttleNames(n *Node, unit string) (throttleNames, error) {
	var t throttleNames
	for _, f := range []struct {
		attr string
		to   *string
	}{
		{"retry-after-header-name", &t.retryHeader}, {"retry-after-variable-name", &t.retryVar},
		{"remaining-" + unit + "-header-name", &t.remainingHeader}, {"remaining-" + unit + "-variable-name", &t.remainingVar},
		{"total-" + unit + "-header-name", &t.totalHeader},
	} {
		a, ok := n.Attr(f.attr)
		if !ok {
			continue
		}
		v, err := c.constant(n, a)
		if err != nil {
			return t, err
		}
		if v = strings.TrimSpace(v); v == "" {
			return t, c.errf(n, a.Pos, "attribute %q must not be empty", f.attr)
		}
		if strings.HasSuffix(f.attr, "header-name") {
			if !validHeaderName(v) {
				return t, c.errf(n, a.Pos, "attribute %q must be a header name, not %q", f.attr, v)
			}
			v = strings.ToLower(v)
		}
		*f.to = v
	}
	if t.retryHeader == "" {
		t.retryHeader = "retry-after"
	}
	return t, nil
}

func compileRateLimitByKey(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "calls", "renewal-period", "counter-key", "increment-condition", "increment-count",
		"retry-after-header-name", "retry-after-variable-name", "remaining-calls-header-name",
		"remaining-calls-variable-name", "total-calls-header-name", "id"); err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	if err := c.needCounters(n); err != nil {
		return nil, err
	}
	s := &rateLimit{stmtMeta: c.meta(n), byKey: true}
	var err error
	if s.names, err = c.throttleNames(n, "calls"); err != nil {
		return nil, err
	}
	if s.keyedCount, err = c.keyedCount(n, maxRateCalls); err != nil {
		return nil, err
	}
	if s.calls, err = c.throttleIntValue(n, "calls", true, 1, maxRateCalls); err != nil {
		return nil, err
	}
	if s.period, err = c.throttleIntValue(n, "renewal-period", true, 1, maxRatePeriod); err != nil {
		return nil, err
	}
	if c.opt.RateLimitService != nil {
		if !s.calls.IsConst() || !s.period.IsConst() {
			return nil, c.errf(n, n.Pos, "calls and renewal-period must be constants with rateLimitService: the rate limit service's rules are made from them at start")
		}
		calls, _ := throttleInt(s.calls.Const(), 1, maxRateCalls)
		period, _ := throttleInt(s.period.Const(), 1, maxRatePeriod)
		if s.rule, err = c.globalRule(n, "rate-limit-by-key", "", calls, time.Duration(period)*time.Second); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// throttleIntValue reads a whole-number attribute that may be an
// expression; a constant is checked against lo..hi now (an absent optional
// one reads "1").
func (c *compiler) throttleIntValue(n *Node, name string, required bool, lo, hi int64) (Value, error) {
	a, ok := n.Attr(name)
	if !ok {
		if required {
			return Value{}, c.errf(n, n.Pos, "missing required attribute %q", name)
		}
		return Value{constant: "1"}, nil
	}
	v, err := c.attrValue(n, a)
	if err != nil {
		return v, err
	}
	if v.IsConst() {
		if _, ok := throttleInt(v.Const(), lo, hi); !ok {
			return v, c.errf(n, a.ValuePos, "attribute %q must be a whole number from %d to %d, not %q", name, lo, hi, v.Const())
		}
	}
	return v, nil
}

// throttleInt reads a whole number from lo to hi.
func throttleInt(s string, lo, hi int64) (int64, bool) {
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return i, err == nil && i >= lo && i <= hi
}

// evalThrottleInt evaluates a whole-number attribute at request time.
func evalThrottleInt(x *Exec, v *Value, what string, lo, hi int64) (int64, error) {
	s, err := v.Eval(x)
	if err != nil {
		return 0, err
	}
	i, ok := throttleInt(s, lo, hi)
	if !ok {
		return 0, &expr.RuntimeError{Msg: what + " " + strconv.Quote(abbreviate(s)) + " is not a whole number from " + strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10)}
	}
	return i, nil
}

func (s *rateLimit) run(x *Exec) error {
	if !s.byKey {
		if x.sub == nil || x.sub.ID == "" {
			return nil
		}
		api, op := x.routeIDs()
		if x.prog.service != nil {
			var asks []serviceAsk
			for i := range s.limits {
				if r := &s.limits[i]; r.matches(api, op) {
					asks = append(asks, serviceAsk{rule: r.rule, key: x.sub.ID, hits: 1})
				}
			}
			return x.askService(&s.stmtMeta, &s.names, asks, false, s.overService)
		}
		for i := range s.limits {
			r := &s.limits[i]
			if !r.matches(api, op) {
				continue
			}
			if err := s.take(x, "rate-limit\x00"+x.sub.ID+"\x00"+r.marker, r.calls, r.period, 1, false); err != nil {
				return err
			}
		}
		return nil
	}
	key, err := s.key.Eval(x)
	if err != nil || key == "" {
		return err
	}
	calls, err := evalThrottleInt(x, &s.calls, "calls", 1, maxRateCalls)
	if err != nil {
		return err
	}
	period, err := evalThrottleInt(x, &s.period, "renewal-period", 1, maxRatePeriod)
	if err != nil {
		return err
	}
	if s.rule != "" {
		return s.runService(x, key)
	}
	key = "rate-limit-by-key\x00" + key
	if s.deferred {
		x.deferToOutbound(&rateIncrement{stmtMeta: s.stmtMeta, s: s, key: key, calls: calls, period: time.Duration(period) * time.Second})
		return s.take(x, key, calls, time.Duration(period)*time.Second, 0, false)
	}
	n, ok, err := s.increment(x)
	if err != nil || !ok {
		return err
	}
	return s.take(x, key, calls, time.Duration(period)*time.Second, n, false)
}

func (r *scopedBudget) matches(api, op *[2]string) bool {
	if r.apiID == "" && r.apiName == "" {
		return true
	}
	if api == nil || !(r.apiID != "" && r.apiID == api[0] || r.apiID == "" && r.apiName == api[1]) {
		return false
	}
	if r.opID == "" && r.opName == "" {
		return true
	}
	return op != nil && (r.opID != "" && r.opID == op[0] || r.opID == "" && r.opName == op[1])
}

// take counts n calls (0: only look) against key's budget and answers 429
// past it. force counts even past the budget (a deferred increment) and
// never answers.
func (s *rateLimit) take(x *Exec, key string, calls int64, period time.Duration, n int64, force bool) error {
	now := x.Now()
	var allowed bool
	var remaining, retryUS int64
	err := x.prog.counters.update(key, now.UnixMilli(), func(e *counterEntry, fresh bool) bool {
		allowed, remaining, retryUS = cellRate(e, fresh, now, calls, period, n, force)
		return n > 0 && (allowed || force)
	})
	if err != nil {
		return err
	}
	if force {
		return nil
	}
	total := strconv.FormatInt(calls, 10)
	if s.names.remainingVar != "" {
		x.setVariable(s.names.remainingVar, int(remaining))
	}
	if s.names.remainingHeader != "" {
		x.addToResponse(s.names.remainingHeader, strconv.FormatInt(remaining, 10))
	}
	if s.names.totalHeader != "" {
		x.addToResponse(s.names.totalHeader, total)
	}
	if allowed {
		return nil
	}
	secs := (retryUS + 999_999) / 1_000_000
	if secs < 1 {
		secs = 1
	}
	return s.exceeded(x, secs, "RateLimitExceeded", "Rate limit is exceeded", 429,
		"Rate limit is exceeded. Try again in "+strconv.FormatInt(secs, 10)+" seconds.")
}

// exceeded is a throttling element's denial: Retry-After and the
// response headers, and the variables.
func (s *rateLimit) exceeded(x *Exec, secs int64, reason, message string, status int, body string) error {
	return throttleDenial(x, &s.stmtMeta, &s.names, secs, reason, message, status, body)
}

func throttleDenial(x *Exec, m *stmtMeta, names *throttleNames, secs int64, reason, message string, status int, body string) error {
	if names.retryVar != "" {
		x.setVariable(names.retryVar, int(secs))
	}
	f := &Failure{Source: m.element, Reason: reason, Message: message, PolicyID: m.id, Status: status, Body: errorBody(status, body)}
	if secs > 0 {
		f.Headers = append(f.Headers, [2]string{names.retryHeader, strconv.FormatInt(secs, 10)})
	}
	if x.more != nil {
		f.Headers = append(f.Headers, x.more.respAdd...)
	}
	return f
}

// cellRate is the token bucket of calls per period as a generic cell rate:
// e.val is when the bucket will be full again (microseconds since
// rateEpoch); each call moves it one interval later, and a call is allowed
// while that stays within the burst (calls intervals) of now. It returns
// whether n calls are allowed, the calls left after them and, when not
// allowed, how long until they are. n 0 only looks (is one more allowed?)
// and counts nothing.
func cellRate(e *counterEntry, fresh bool, now time.Time, calls int64, period time.Duration, n int64, force bool) (allowed bool, remaining, retryUS int64) {
	t := now.Sub(rateEpoch).Microseconds()
	interval := (period.Microseconds() + calls - 1) / calls
	burst := interval * calls
	tat := e.val
	if fresh || tat < t {
		tat = t
	}
	want := n
	if want == 0 {
		want = 1
	}
	next := tat + want*interval
	allowed = next-t <= burst
	if allowed || force {
		if n > 0 {
			tat = min(next, t+2*burst)
		}
	} else {
		retryUS = next - t - burst
	}
	e.val = tat
	e.expires = rateEpoch.Add(time.Duration(tat) * time.Microsecond).UnixMilli()
	if e.expires <= now.UnixMilli() {
		e.expires = now.UnixMilli() + 1
	}
	remaining = (t + burst - tat) / interval
	return allowed, max(remaining, 0), retryUS
}

// rateEpoch keeps cellRate's microseconds far from overflowing.
var rateEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// rateIncrement is a deferred increment of rate-limit-by-key, run at the
// end of outbound.
type rateIncrement struct {
	stmtMeta
	s      *rateLimit
	key    string
	calls  int64
	period time.Duration
}

func (d *rateIncrement) run(x *Exec) error {
	n, ok, err := d.s.increment(x)
	if err != nil || !ok {
		return err
	}
	if d.s.rule != "" {
		return x.askService(&d.stmtMeta, &d.s.names, []serviceAsk{{rule: d.s.rule, key: d.key, hits: n}}, false, nil)
	}
	return d.s.take(x, d.key, d.calls, d.period, n, true)
}

// runService is rate-limit-by-key in global mode: the service counts.
func (s *rateLimit) runService(x *Exec, key string) error {
	if s.deferred {
		x.deferToOutbound(&rateIncrement{stmtMeta: s.stmtMeta, s: s, key: key})
		return x.askService(&s.stmtMeta, &s.names, []serviceAsk{{rule: s.rule, key: key, hits: 0}}, false, s.overService)
	}
	n, ok, err := s.increment(x)
	if err != nil || !ok {
		return err
	}
	return x.askService(&s.stmtMeta, &s.names, []serviceAsk{{rule: s.rule, key: key, hits: n}}, false, s.overService)
}

// overService is the answer past a limit the service reported.
func (s *rateLimit) overService(x *Exec, secs int64) error {
	return s.exceeded(x, secs, "RateLimitExceeded", "Rate limit is exceeded", 429,
		"Rate limit is exceeded. Try again in "+strconv.FormatInt(secs, 10)+" seconds.")
}
