package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// retry is APIM's retry policy: its children run once, then again while
// condition holds, at most count more times, with a wait between runs.
// Reference: https://learn.microsoft.com/azure/api-management/retry-policy
//
// # Notes
//
//   - Waits: interval alone is fixed; with delta, linear (interval +
//     (n-1)·delta); with delta and max-interval, exponential (interval +
//     2^(n-1)·delta, capped at max-interval). APIM multiplies the delta by
//     a random factor from 0.8 to 1.2; apimguard uses 1, so waits can be
//     tested. first-fast-retry makes the first retry immediate.
//   - count, interval, max-interval and delta may be expressions,
//     evaluated when the retry starts; count is bounded to 0–50 and each
//     wait to 0–300 seconds, so no retry runs forever.
//   - The host waits (Result Sleep) without holding a worker; the request
//     stays paused until the wait is over.
//   - A child's failure (a send-request without ignore-error) goes to
//     on-error, ending the loop. Side effects of children (variables,
//     cache stores, traces) happen on every run.
//   - Around forward-request (in backend, as its only child) the retry is
//     Envoy's router's: see routeRetry in forward_request.go.
//   - wait is refused inside retry, as in APIM.
type retry struct {
	stmtMeta
	cond                                Value
	count, interval, maxInterval, delta Value
	hasMax, hasDelta, firstFast         bool
	body                                []statement // the children, then the check
}

// retryCheck ends each run of a retry's children: it decides whether to
// run them again.
type retryCheck struct {
	stmtMeta
	r *retry
}

// retryState is one running retry's attempts and timing.
type retryState struct {
	attempts, count              int
	interval, maxInterval, delta time.Duration
}

// Bounds on retry.
const (
	maxRetries   = 50
	maxRetryWait = 300 * time.Second
)

func compileRetry(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "condition", "count", "interval", "max-interval", "delta", "first-fast-retry"); err != nil {
		return nil, err
	}
	r := &retry{stmtMeta: c.meta(n)}
	c.usesRetry = true
	a, err := c.required(n, "condition")
	if err != nil {
		return nil, err
	}
	if r.cond, err = c.condition(n, a); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name     string
		v        *Value
		has      *bool
		required bool
		lo, hi   int
	}{
		{"count", &r.count, nil, true, 1, maxRetries},
		{"interval", &r.interval, nil, true, 0, int(maxRetryWait / time.Second)},
		{"max-interval", &r.maxInterval, &r.hasMax, false, 0, int(maxRetryWait / time.Second)},
		{"delta", &r.delta, &r.hasDelta, false, 0, int(maxRetryWait / time.Second)},
	} {
		a, ok := n.Attr(f.name)
		if !ok {
			if f.required {
				return nil, c.errf(n, n.Pos, "missing required attribute %q", f.name)
			}
			continue
		}
		if f.has != nil {
			*f.has = true
		}
		if *f.v, err = c.value(n, a.Value, a.ValuePos); err != nil {
			return nil, err
		}
		if f.v.IsConst() {
			v, err := strconv.Atoi(strings.TrimSpace(f.v.Const()))
			if err != nil || v < f.lo || v > f.hi {
				return nil, c.errf(n, a.ValuePos, "attribute %q must be a whole number from %d to %d, not %q", f.name, f.lo, f.hi, f.v.Const())
			}
		}
	}
	if r.firstFast, err = c.boolAttr(n, "first-fast-retry", false); err != nil {
		return nil, err
	}
	if c.section == backend && slices.ContainsFunc(n.Children, func(ch *Node) bool { return ch.Name == "forward-request" }) {
		return c.routeRetry(n, r)
	}
	if err := c.noRetryOf(n.Children); err != nil {
		return nil, err
	}
	body, err := c.block(n)
	if err != nil {
		return nil, err
	}
	r.body = append(body, &retryCheck{stmtMeta: r.stmtMeta, r: r})
	return r, nil
}

// noRetryOf refuses what cannot run inside retry, at any depth.
func (c *compiler) noRetryOf(nodes []*Node) error {
	for _, n := range nodes {
		switch n.Name {
		case "forward-request":
			return c.errf(n, n.Pos, "forward-request inside retry must be the retry's only child, in <backend>")
		case "wait":
			return c.errf(n, n.Pos, "wait is not allowed inside retry")
		}
		if err := c.noRetryOf(n.Children); err != nil {
			return err
		}
	}
	return nil
}

func (r *retry) run(x *Exec) error {
	st := retryState{}
	var err error
	if st.count, err = evalBounded(x, &r.count, maxRetries); err != nil {
		return err
	}
	seconds := func(v *Value) (time.Duration, error) {
		n, err := evalBounded(x, v, int(maxRetryWait/time.Second))
		return time.Duration(n) * time.Second, err
	}
	if st.interval, err = seconds(&r.interval); err != nil {
		return err
	}
	if r.hasMax {
		if st.maxInterval, err = seconds(&r.maxInterval); err != nil {
			return err
		}
	}
	if r.hasDelta {
		if st.delta, err = seconds(&r.delta); err != nil {
			return err
		}
	}
	m := x.extra()
	if m.retries == nil {
		m.retries = map[*retry]*retryState{}
	}
	m.retries[r] = &st
	x.push(r.body)
	return nil
}

// evalBounded evaluates a whole number, clamped to 0..hi.
func evalBounded(x *Exec, v *Value, hi int) (int, error) {
	s, err := v.Eval(x)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, &expr.RuntimeError{Msg: strconv.Quote(abbreviate(s)) + " is not a whole number"}
	}
	return min(max(n, 0), hi), nil
}

func (rc *retryCheck) run(x *Exec) error {
	r, st := rc.r, x.extra().retries[rc.r]
	if st == nil || st.attempts >= st.count {
		return nil
	}
	again, err := r.cond.EvalBool(x)
	if err != nil || !again {
		return err
	}
	st.attempts++
	// The check is the last statement of its frame: the next run replaces
	// it, so the frames do not grow with the attempts.
	x.frames = x.frames[:len(x.frames)-1]
	wait := r.wait(st)
	if wait <= 0 {
		x.push(r.body)
		return nil
	}
	x.result = Result{Action: Sleep, Delay: wait}
	x.resume = func(*expr.Response, error) error {
		x.push(r.body)
		return nil
	}
	return errYield
}

// wait is the time before retry number st.attempts.
func (r *retry) wait(st *retryState) time.Duration {
	n := st.attempts
	if r.firstFast {
		if n == 1 {
			return 0
		}
	}
	var d time.Duration
	switch {
	case r.hasDelta && r.hasMax:
		d = st.interval + st.delta<<min(n-1, 20)
		d = min(d, st.maxInterval)
	case r.hasDelta:
		d = st.interval + time.Duration(n-1)*st.delta
	default:
		d = st.interval
	}
	return min(d, maxRetryWait)
}
