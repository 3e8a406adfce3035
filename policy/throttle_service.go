package policy

import (
	"strconv"
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
	"github.com/tidwall/gjson"
)

// Global mode: rate-limit, rate-limit-by-key, quota and quota-by-key count
// in Envoy's rate limit service (github.com/envoyproxy/ratelimit, with
// Redis) instead of this Envoy's shared data, so one limit holds across
// every replica. The plugin asks the service's HTTP JSON endpoint (POST
// {"domain", "descriptors": [{"entries": [...], "hitsAddend": n}]}; 200
// within the limits, 429 past one) through a cluster of upstreams.
//
// Each budget is a descriptor of two entries: ("apimguard", its rule) and
// ("key", the counter key, or the subscription id). A rule names the element
// kind and the budget (rate-limit-by-key/20/minute), so that -by-key
// counters are shared by every element with the same key value and budget,
// as APIM shares them; a per-subscription rule also names the element's
// place. `apimguard ratelimit-config` writes the service's configuration
// from the policies (GlobalRules).
//
// The service counts in fixed windows of one unit (second, minute, hour,
// day, week, month of 30 days, year of 365 days) aligned to the Unix epoch:
// a renewal-period must be one of them, calls and renewal-period must be
// constants, bandwidth and first-period-start stay local-only. With an
// increment deferred to outbound, the check before the request asks with
// hitsAddend 0 (look only) and the count is sent one-way at the end of
// outbound. limit-concurrency always counts locally (the service has no
// concurrency limits).

// RateLimitService is how the plugin reaches Envoy's rate limit service.
type RateLimitService struct {
	// URL is the service's JSON endpoint (http://ratelimit:8080/json).
	URL    string
	Domain string
	// TimeoutMS bounds each call (default 1000).
	TimeoutMS uint32
	// AllowRateLimitsWhenDown lets rate-limit and rate-limit-by-key pass
	// requests when the service does not answer; quotas never do (the
	// default for both: deny, 500 RateLimitServiceUnavailable).
	AllowRateLimitsWhenDown bool
}

// GlobalRule is one rule of the rate limit service's configuration.
type GlobalRule struct {
	Name     string // the value of the "apimguard" entry
	Unit     string // second, minute, hour, day, week, month, year
	Requests int64
	// Where is the element it comes from (document:line), for a comment.
	Where string
}

// serviceUnits are the service's units, by seconds.
var serviceUnits = map[int64]string{1: "second", 60: "minute", 3600: "hour", 86400: "day", 604800: "week", 2592000: "month", 31536000: "year"}

// globalRule makes the rule of a budget, or an error naming the attribute
// when it has no unit.
func (c *compiler) globalRule(n *Node, kind, marker string, calls int64, period time.Duration) (string, error) {
	secs := int64(period / time.Second)
	unit, ok := serviceUnits[secs]
	if !ok {
		return "", c.errf(n, n.Pos, "renewal-period %d has no unit in Envoy's rate limit service (1, 60, 3600, 86400, 604800, 2592000 or 31536000 seconds); count it locally (no rateLimitService) or use one of them", secs)
	}
	name := kind + "/" + strconv.FormatInt(calls, 10) + "/" + unit
	if marker != "" {
		name = kind + "@" + marker + "/" + strconv.FormatInt(calls, 10) + "/" + unit
	}
	for _, r := range c.globalRules {
		if r.Name == name {
			return name, nil
		}
	}
	c.globalRules = append(c.globalRules, GlobalRule{Name: name, Unit: unit, Requests: calls, Where: n.Doc + ":" + n.Pos.String()})
	return name, nil
}

// serviceAsk is one descriptor of a call to the service.
type serviceAsk struct {
	rule, key string
	hits      int64
}

// askService asks the service about asks; over is the element's answer
// past a limit (the seconds until the window resets). A quota denies when
// the service cannot answer; a rate limit does unless configured not to.
func (x *Exec) askService(m *stmtMeta, names *throttleNames, asks []serviceAsk, quota bool, over func(x *Exec, secs int64) error) error {
	svc := x.prog.service
	var b strings.Builder
	b.WriteString(`{"domain":`)
	b.WriteString(JSONString(svc.Domain))
	b.WriteString(`,"descriptors":[`)
	for i, a := range asks {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"entries":[{"key":"apimguard","value":`)
		b.WriteString(JSONString(a.rule))
		b.WriteString(`},{"key":"key","value":`)
		b.WriteString(JSONString(a.key))
		b.WriteString(`}],"hitsAddend":"`)
		b.WriteString(strconv.FormatInt(a.hits, 10))
		b.WriteString(`"}`)
	}
	b.WriteString(`]}`)
	call := &OutgoingCall{URL: svc.URL, Authority: x.prog.serviceHost, Method: "POST", Path: x.prog.servicePath,
		Headers: [][2]string{{"content-type", "application/json"}}, Body: []byte(b.String()), TimeoutMS: svc.TimeoutMS}
	if over == nil {
		// A deferred count: nobody waits for its answer.
		m := x.extra()
		if len(m.oneWay) < maxOneWay {
			m.oneWay = append(m.oneWay, call)
		}
		return nil
	}
	x.result = Result{Action: Call, Call: call}
	x.resume = func(resp *expr.Response, err error) error {
		switch {
		case err == nil && resp.StatusCode == 200:
			if names.remainingHeader != "" || names.remainingVar != "" {
				left := gjson.GetBytes(resp.Body, "statuses.0.limitRemaining").Int()
				if names.remainingVar != "" {
					x.setVariable(names.remainingVar, int(left))
				}
				if names.remainingHeader != "" {
					x.addToResponse(names.remainingHeader, strconv.FormatInt(left, 10))
				}
			}
			return nil
		case err == nil && resp.StatusCode == 429:
			secs := int64(1)
			gjson.GetBytes(resp.Body, "statuses").ForEach(func(_, st gjson.Result) bool {
				if st.Get("code").String() == "OVER_LIMIT" {
					d := strings.TrimSuffix(st.Get("durationUntilReset").String(), "s")
					if f, err := strconv.ParseFloat(d, 64); err == nil && f > 0 && f < 1e9 {
						secs = max(secs, int64(f+0.999))
					}
				}
				return true
			})
			return over(x, secs)
		}
		x.prog.counters.serviceDown++
		if !quota && svc.AllowRateLimitsWhenDown {
			return nil
		}
		return &Failure{Source: m.element, Reason: "RateLimitServiceUnavailable", Message: "The rate limit service did not answer.",
			PolicyID: m.id, scope: m.scope, Status: 500, Body: InternalErrorBody}
	}
	return errYield
}
