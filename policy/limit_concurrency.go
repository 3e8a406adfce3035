package policy

import (
	"slices"
	"time"
)

// limit-concurrency: at most max-count requests inside the element at once
// per key. Reference: https://learn.microsoft.com/azure/api-management/limit-concurrency-policy
//
// # Notes
//
//   - The slot is taken when the element starts and given back when its
//     policies end, fail, or the request ends; around forward-request (in
//     backend) it is held until the upstream's response arrives. Counted
//     across every worker of an Envoy (throttle.go).
//   - One more request finds the limit reached and fails at once (no
//     queue), as in APIM: 429 through on-error, LastError Reason
//     ConcurrencyLimitExceeded, the body {"statusCode":429,"message":"Too
//     many concurrent requests."}, no Retry-After (APIM's documentation
//     says nothing of either).
//   - max-count is a constant from 1 to 10,000; key may be an expression,
//     and an empty key is not limited.
//   - A slot a worker never gave back (its VM failed mid-request) is
//     forgotten once the key has seen no request for concurrencyLease.
type limitConcurrency struct {
	stmtMeta
	key Value
	max int64
	// body is the children, then the release (none when they forward the
	// request: the response releases).
	body []statement
}

// heldSlot is a concurrency slot a request holds.
type heldSlot struct {
	owner *limitConcurrency
	key   string
}

// concurrencyRelease ends the body of a limit-concurrency.
type concurrencyRelease struct {
	stmtMeta
	owner *limitConcurrency
}

const (
	maxConcurrency   = 10_000
	concurrencyLease = 10 * time.Minute
)

func compileLimitConcurrency(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "key", "max-count", "id"); err != nil {
		return nil, err
	}
	if err := c.needCounters(n); err != nil {
		return nil, err
	}
	s := &limitConcurrency{stmtMeta: c.meta(n)}
	var err error
	if s.key, err = c.requiredValue(n, "key"); err != nil {
		return nil, err
	}
	a, err := c.required(n, "max-count")
	if err != nil {
		return nil, err
	}
	v, err := c.constant(n, a)
	if err != nil {
		return nil, err
	}
	var ok bool
	if s.max, ok = throttleInt(v, 1, maxConcurrency); !ok {
		return nil, c.errf(n, a.ValuePos, "attribute \"max-count\" must be a whole number from 1 to %d, not %q", maxConcurrency, v)
	}
	if s.body, err = c.block(n); err != nil {
		return nil, err
	}
	if !holdsForward(n.Children) {
		s.body = append(s.body, &concurrencyRelease{stmtMeta: s.stmtMeta, owner: s})
	}
	return s, nil
}

// holdsForward reports whether forward-request is among nodes, at any
// depth.
func holdsForward(nodes []*Node) bool {
	return slices.ContainsFunc(nodes, func(n *Node) bool { return n.Name == "forward-request" || holdsForward(n.Children) })
}

func (s *limitConcurrency) run(x *Exec) error {
	key, err := s.key.Eval(x)
	if err != nil {
		return err
	}
	if key == "" {
		x.push(s.body)
		return nil
	}
	key = "limit-concurrency\x00" + key
	now := x.Now().UnixMilli()
	allowed := false
	err = x.prog.counters.update(key, now, func(e *counterEntry, _ bool) bool {
		if allowed = e.val < s.max; allowed {
			e.val++
			e.expires = now + concurrencyLease.Milliseconds()
		}
		return allowed
	})
	if err != nil {
		return err
	}
	if !allowed {
		return &Failure{Source: s.element, Reason: "ConcurrencyLimitExceeded", Message: "Too many concurrent requests", PolicyID: s.id,
			Status: 429, Body: errorBody(429, "Too many concurrent requests.")}
	}
	m := x.extra()
	m.held = append(m.held, &heldSlot{owner: s, key: key})
	x.push(s.body)
	return nil
}

func (r *concurrencyRelease) run(x *Exec) error {
	if x.more == nil {
		return nil
	}
	for i := len(x.more.held) - 1; i >= 0; i-- {
		if h := x.more.held[i]; h.owner == r.owner {
			x.more.held = slices.Delete(x.more.held, i, i+1)
			x.release(h)
			return nil
		}
	}
	return nil
}

// releaseHeld gives back every concurrency slot the request holds.
func (x *Exec) releaseHeld() {
	if x.more == nil || len(x.more.held) == 0 {
		return
	}
	held := x.more.held
	x.more.held = nil
	for _, h := range held {
		x.release(h)
	}
}

func (x *Exec) release(h *heldSlot) {
	now := x.Now().UnixMilli()
	// A release that cannot be stored is lost; the lease ends it.
	_ = x.prog.counters.update(h.key, now, func(e *counterEntry, fresh bool) bool {
		if fresh || e.val <= 0 {
			return false
		}
		e.val--
		e.expires = now + concurrencyLease.Milliseconds()
		return true
	})
}

// CountsBytes reports whether End needs the request's bytes (it passed a
// bandwidth quota).
func (x *Exec) CountsBytes() bool { return x.more != nil && len(x.more.bandwidth) > 0 }

// End tells the engine the request is over (the host's stream ended,
// answered or not): it gives back what the request still holds, and counts
// bytes, the request's and the response's (headers and bodies), against
// the bandwidth quotas it passed.
func (x *Exec) End(bytes int64) {
	if x.more == nil {
		return
	}
	x.releaseHeld()
	x.countBandwidth(bytes)
	if t := x.more.tokens; t != nil && !t.settled {
		if x.resp == nil {
			// The request never reached the backend: nothing more to count.
			t.settled = true
		} else {
			// An answer cut short counts the estimate.
			x.TokenUsage(0, 0, false)
		}
	}
}
