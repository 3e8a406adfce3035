package policy

import (
	"strconv"
	"strings"
	"time"
)

// quota and quota-by-key: at most calls, and at most bandwidth kilobytes,
// per renewal-period. References:
// https://learn.microsoft.com/azure/api-management/quota-policy, .../quota-by-key-policy
//
// # Notes
//
//   - Fixed windows, as in APIM: quota's start at the subscription's start
//     date (the Unix epoch when the configuration gives none), quota-by-key's
//     at first-period-start (default 0001-01-01T00:00:00Z), so the first
//     window is usually shorter. renewal-period 0 never renews.
//   - quota counts per subscription, at product scope only, as in APIM:
//     one counter for the element and one for each matching <api> and
//     <operation> child. A request without a subscription key is not
//     counted. quota-by-key counts per counter-key value, shared by every
//     quota-by-key that computes it; one request adds to one key value once.
//   - bandwidth counts the bytes of the request and of the response,
//     headers and bodies (Envoy's request.total_size + response.total_size),
//     once the request is over; the check before the request sees what
//     earlier requests used, so the last request of a window may overshoot.
//   - Past the quota: 403 through on-error (LastError Reason
//     QuotaExceeded), Retry-After in seconds to the window's end, the body
//     {"statusCode":403,"message":"Out of call volume quota. Quota will be
//     replenished in hh:mm:ss."} ("Out of bandwidth quota. ..." for
//     bandwidth; a window that never renews says no more than the first
//     sentence and has no Retry-After).
//   - increment-condition and increment-count as in rate-limit-by-key: an
//     expression defers the count to the end of outbound.
type quota struct {
	stmtMeta
	byKey bool
	keyedCount
	limits []scopedBudget
	origin int64 // quota-by-key: first-period-start, unix seconds
	marker string
}

// Bounds on a quota.
const (
	maxQuotaCalls  = 1 << 40
	maxQuotaPeriod = 10 * 365 * 24 * 3600
)

// bandwidthUse is a bandwidth counter a request passed: End adds its bytes.
type bandwidthUse struct {
	key    string
	q      *scopedBudget
	origin int64
}

func compileQuota(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "calls", "bandwidth", "renewal-period", "id"); err != nil {
		return nil, err
	}
	if n.Scope != "product" {
		return nil, c.errf(n, n.Pos, "quota counts per subscription and applies at product scope only, as in APIM; use quota-by-key here")
	}
	if err := c.needCounters(n); err != nil {
		return nil, err
	}
	s := &quota{stmtMeta: c.meta(n), marker: n.Doc + ":" + n.Path}
	var err error
	if s.limits, err = c.scopedBudgets(n, s.marker, func(n *Node) (scopedBudget, error) { return c.quotaBudget(n, 0) }); err != nil {
		return nil, err
	}
	return s, c.globalQuota(n, s, true)
}

// globalQuota makes the rate limit service's rules of a quota in global
// mode, refusing what the service cannot count.
func (c *compiler) globalQuota(n *Node, s *quota, perSubscription bool) error {
	if c.opt.RateLimitService == nil {
		return nil
	}
	if _, ok := n.Attr("first-period-start"); ok {
		return c.errf(n, n.Pos, "first-period-start cannot be kept with rateLimitService: the rate limit service's windows start at the Unix epoch")
	}
	for i := range s.limits {
		q := &s.limits[i]
		if q.kilobytes > 0 || q.calls == 0 || q.period == 0 {
			return c.errf(n, n.Pos, "with rateLimitService a quota counts calls in a window that renews: bandwidth and renewal-period 0 count only locally")
		}
		kind, marker := "quota-by-key", ""
		if perSubscription {
			kind, marker = "quota", q.marker
		}
		var err error
		if q.rule, err = c.globalRule(n, kind, marker, q.calls, q.period); err != nil {
			return err
		}
	}
	return nil
}

// quotaBudget reads calls, bandwidth and renewal-period (at least minPeriod
// unless 0).
func (c *compiler) quotaBudget(n *Node, minPeriod int64) (scopedBudget, error) {
	if n.Name == "api" || n.Name == "operation" {
		if err := c.attrs(n, "name", "id", "calls", "bandwidth", "renewal-period"); err != nil {
			return scopedBudget{}, err
		}
	}
	var q scopedBudget
	for _, f := range []struct {
		name string
		to   *int64
	}{{"calls", &q.calls}, {"bandwidth", &q.kilobytes}} {
		a, ok := n.Attr(f.name)
		if !ok {
			continue
		}
		v, err := c.constant(n, a)
		if err != nil {
			return q, err
		}
		if *f.to, ok = throttleInt(v, 1, maxQuotaCalls); !ok {
			return q, c.errf(n, a.ValuePos, "attribute %q must be a whole number from 1 to %d, not %q", f.name, int64(maxQuotaCalls), v)
		}
	}
	if q.calls == 0 && q.kilobytes == 0 {
		return q, c.errf(n, n.Pos, "missing attribute \"calls\" or \"bandwidth\" (at least one is required)")
	}
	a, err := c.required(n, "renewal-period")
	if err != nil {
		return q, err
	}
	v, err := c.constant(n, a)
	if err != nil {
		return q, err
	}
	secs, ok := throttleInt(v, 0, maxQuotaPeriod)
	if !ok || secs != 0 && secs < minPeriod {
		return q, c.errf(n, a.ValuePos, "attribute \"renewal-period\" must be 0 (never renews) or whole seconds from %d to %d, not %q", max(minPeriod, 1), maxQuotaPeriod, v)
	}
	q.period = time.Duration(secs) * time.Second
	return q, nil
}

func compileQuotaByKey(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "calls", "bandwidth", "renewal-period", "counter-key", "increment-condition", "increment-count",
		"first-period-start", "id"); err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	if err := c.needCounters(n); err != nil {
		return nil, err
	}
	s := &quota{stmtMeta: c.meta(n), byKey: true, origin: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()}
	q, err := c.quotaBudget(n, 300)
	if err != nil {
		return nil, err
	}
	s.limits = []scopedBudget{q}
	if s.keyedCount, err = c.keyedCount(n, maxQuotaCalls); err != nil {
		return nil, err
	}
	if a, ok := n.Attr("first-period-start"); ok {
		v, err := c.constant(n, a)
		if err != nil {
			return nil, err
		}
		t, err := time.Parse("2006-01-02T15:04:05Z", strings.TrimSpace(v))
		if err != nil {
			return nil, c.errf(n, a.ValuePos, "attribute \"first-period-start\" must be a UTC time as yyyy-MM-ddTHH:mm:ssZ, not %q", v)
		}
		s.origin = t.Unix()
	}
	return s, c.globalQuota(n, s, false)
}

func (s *quota) run(x *Exec) error {
	if !s.byKey {
		if x.sub == nil || x.sub.ID == "" {
			return nil
		}
		origin := int64(0)
		if !x.sub.StartDate.IsZero() {
			origin = x.sub.StartDate.Unix()
		}
		api, op := x.routeIDs()
		if x.prog.service != nil {
			var asks []serviceAsk
			for i := range s.limits {
				if q := &s.limits[i]; q.matches(api, op) {
					asks = append(asks, serviceAsk{rule: q.rule, key: x.sub.ID, hits: 1})
				}
			}
			return x.askService(&s.stmtMeta, &throttleNames{}, asks, true, s.overService)
		}
		for i := range s.limits {
			q := &s.limits[i]
			if q.matches(api, op) {
				if err := s.take(x, "quota\x00"+x.sub.ID+"\x00"+q.marker, q, origin, 1, false); err != nil {
					return err
				}
			}
		}
		return nil
	}
	key, err := s.key.Eval(x)
	if err != nil || key == "" {
		return err
	}
	q := &s.limits[0]
	if q.rule != "" {
		if s.deferred {
			x.deferToOutbound(&quotaIncrement{stmtMeta: s.stmtMeta, s: s, key: key})
			return x.askService(&s.stmtMeta, &throttleNames{}, []serviceAsk{{rule: q.rule, key: key, hits: 0}}, true, s.overService)
		}
		n, ok, err := s.increment(x)
		if err != nil || !ok {
			return err
		}
		return x.askService(&s.stmtMeta, &throttleNames{}, []serviceAsk{{rule: q.rule, key: key, hits: n}}, true, s.overService)
	}
	key = "quota-by-key\x00" + key
	if s.deferred {
		x.deferToOutbound(&quotaIncrement{stmtMeta: s.stmtMeta, s: s, key: key})
		return s.take(x, key, q, s.origin, 0, false)
	}
	n, ok, err := s.increment(x)
	if err != nil || !ok {
		return err
	}
	return s.take(x, key, q, s.origin, n, false)
}

// overService is the answer past a quota the service reported.
func (s *quota) overService(x *Exec, secs int64) error {
	msg := "Out of call volume quota. Quota will be replenished in " + timeSpan(secs) + "."
	names := throttleNames{retryHeader: "retry-after"}
	return throttleDenial(x, &s.stmtMeta, &names, secs, "QuotaExceeded", msg, 403, msg)
}

// quotaWindow returns the index of the window at now and when it ends
// (unix seconds; 0 for a quota that never renews).
func quotaWindow(now, origin int64, period time.Duration) (index, end int64) {
	p := int64(period / time.Second)
	if p == 0 {
		return 0, 0
	}
	d := now - origin
	index = d / p
	if d < 0 && d%p != 0 {
		index--
	}
	return index, origin + (index+1)*p
}

// take checks key's calls (n of them; 0 only looks) and bandwidth; force
// adds past the quota (a deferred count) and never answers.
func (s *quota) take(x *Exec, key string, q *scopedBudget, origin, n int64, force bool) error {
	now := x.Now()
	index, end := quotaWindow(now.Unix(), origin, q.period)
	if q.calls > 0 {
		if !force && n > 0 && x.quotaCounted(key) {
			n = 0 // one request adds to one key value once
		}
		ok, err := quotaAdd(x, key+"\x00calls", index, end, now, q.calls, n, force)
		if err != nil || !ok {
			return s.exceededOr(x, err, "call volume", end, now)
		}
	}
	if q.kilobytes > 0 && !force {
		ok, err := quotaAdd(x, key+"\x00bytes", index, end, now, q.kilobytes*1024, 0, false)
		if err != nil || !ok {
			return s.exceededOr(x, err, "bandwidth", end, now)
		}
		m := x.extra()
		m.bandwidth = append(m.bandwidth, bandwidthUse{key: key + "\x00bytes", q: q, origin: origin})
	}
	return nil
}

// quotaAdd adds n to a window counter of limit; with n 0 it only looks
// (is there room for one more?).
func quotaAdd(x *Exec, key string, index, end int64, now time.Time, limit, n int64, force bool) (bool, error) {
	allowed := false
	err := x.prog.counters.update(key, now.UnixMilli(), func(e *counterEntry, fresh bool) bool {
		if fresh || e.val != index {
			e.val, e.aux = index, 0
		}
		want := max(n, 1)
		allowed = e.aux+want <= limit
		if n == 0 || !allowed && !force {
			return false
		}
		e.aux += n
		e.expires = end * 1000
		if end == 0 {
			e.expires = 1 << 62
		}
		return true
	})
	return allowed || force, err
}

// exceededOr is err, or the quota's denial.
func (s *quota) exceededOr(x *Exec, err error, what string, end int64, now time.Time) error {
	if err != nil {
		return err
	}
	msg := "Out of " + what + " quota."
	secs := int64(0)
	if end != 0 {
		secs = max(end-now.Unix(), 1)
		msg += " Quota will be replenished in " + timeSpan(secs) + "."
	}
	names := throttleNames{retryHeader: "retry-after"}
	return throttleDenial(x, &s.stmtMeta, &names, secs, "QuotaExceeded", msg, 403, msg)
}

// timeSpan writes seconds as .NET writes a TimeSpan: [d.]hh:mm:ss.
func timeSpan(secs int64) string {
	var b strings.Builder
	if d := secs / 86400; d > 0 {
		b.WriteString(strconv.FormatInt(d, 10))
		b.WriteByte('.')
	}
	for i, v := range []int64{secs / 3600 % 24, secs / 60 % 60, secs % 60} {
		if i > 0 {
			b.WriteByte(':')
		}
		if v < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	return b.String()
}

// quotaCounted reports whether the request already added to key, and
// records that it did.
func (x *Exec) quotaCounted(key string) bool {
	m := x.extra()
	for _, k := range m.quotaKeys {
		if k == key {
			return true
		}
	}
	m.quotaKeys = append(m.quotaKeys, key)
	return false
}

// countBandwidth adds the request's bytes to the bandwidth quotas it
// passed.
func (x *Exec) countBandwidth(bytes int64) {
	if bytes <= 0 {
		return
	}
	now := x.Now()
	for _, u := range x.more.bandwidth {
		index, end := quotaWindow(now.Unix(), u.origin, u.q.period)
		_, _ = quotaAdd(x, u.key, index, end, now, u.q.kilobytes*1024, bytes, true)
	}
	x.more.bandwidth = nil
}

// quotaIncrement is a deferred count of quota-by-key, at the end of
// outbound.
type quotaIncrement struct {
	stmtMeta
	s   *quota
	key string
}

func (d *quotaIncrement) run(x *Exec) error {
	n, ok, err := d.s.increment(x)
	if err != nil || !ok || x.quotaCounted(d.key) {
		return err
	}
	if q := &d.s.limits[0]; q.rule != "" {
		return x.askService(&d.stmtMeta, &throttleNames{}, []serviceAsk{{rule: q.rule, key: d.key, hits: n}}, true, nil)
	}
	return d.s.take(x, d.key, &d.s.limits[0], d.s.origin, n, true)
}
