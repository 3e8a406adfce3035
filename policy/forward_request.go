package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// forwardRequest is APIM's forward-request: Envoy's router forwards the
// request after the filters, so what the element can change is what the
// router reads from the request: its timeout, and (inside retry) its
// retries.
// Reference: https://learn.microsoft.com/azure/api-management/forward-request-policy
//
// # Notes
//
//   - timeout (seconds) or timeout-ms (expressions allowed) becomes the
//     router's x-envoy-upstream-rq-timeout-ms for this request (APIM's
//     default, 300 s, is left to the route's timeout). A backend that does
//     not answer in time gets Envoy's 504, and outbound runs on it.
//   - buffer-request-body and buffer-response are accepted and change
//     nothing: Envoy's router keeps what a retry needs and streams the
//     response. follow-redirects="false" and http-version="1" are what
//     Envoy does; other values, continue-timeout and
//     fail-on-error-status-code="true" are refused: redirects and protocols
//     belong to the Envoy route and cluster.
type forwardRequest struct {
	stmtMeta
	timeout  Value
	perMilli int64 // 1000 for timeout, 1 for timeout-ms
}

// maxForwardTimeoutMS bounds a timeout from an expression (an hour).
const maxForwardTimeoutMS = 3_600_000

func compileForwardRequest(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "timeout", "timeout-ms", "continue-timeout", "follow-redirects", "buffer-request-body", "buffer-response", "http-version", "fail-on-error-status-code"); err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, ok, why string }{
		{"follow-redirects", "false", "redirects are returned to the caller; to follow them, set internal_redirect_policy on the Envoy route"},
		{"http-version", "1", "the Envoy cluster's protocol options choose the backend's HTTP version"},
		{"fail-on-error-status-code", "false", "not supported: test context.Response.StatusCode in outbound"},
	} {
		if a, ok := n.Attr(f.name); ok && strings.TrimSpace(a.Value) != f.ok {
			return nil, c.errf(n, a.ValuePos, "attribute %q=%q: %s", f.name, abbreviate(a.Value), f.why)
		}
	}
	for _, name := range []string{"buffer-request-body", "buffer-response"} {
		if _, err := c.boolAttr(n, name, false); err != nil {
			return nil, err
		}
	}
	if a, ok := n.Attr("continue-timeout"); ok {
		return nil, c.errf(n, a.Pos, "attribute \"continue-timeout\" is not supported: Envoy answers 100-continue itself")
	}
	f := &forwardRequest{stmtMeta: c.meta(n)}
	secs, hasSecs := n.Attr("timeout")
	ms, hasMS := n.Attr("timeout-ms")
	switch {
	case hasSecs && hasMS:
		return nil, c.errf(n, ms.Pos, "give timeout or timeout-ms, not both")
	case hasSecs:
		f.perMilli = 1000
	case hasMS:
		f.perMilli, secs = 1, ms
	default:
		return nil, nil
	}
	v, err := c.attrValue(n, secs)
	if err != nil {
		return nil, err
	}
	if v.IsConst() {
		t, err := strconv.ParseInt(strings.TrimSpace(v.Const()), 10, 64)
		if err != nil || t < 1 || t > maxForwardTimeoutMS/f.perMilli {
			return nil, c.errf(n, secs.ValuePos, "attribute %q must be a whole number from 1 to %d, not %q", secs.Name, maxForwardTimeoutMS/f.perMilli, abbreviate(v.Const()))
		}
	}
	f.timeout = v
	return f, nil
}

func (f *forwardRequest) run(x *Exec) error {
	t, err := evalBounded(x, &f.timeout, int(maxForwardTimeoutMS/f.perMilli))
	if err != nil {
		return err
	}
	ms := max(int64(t)*f.perMilli, 1)
	x.reqEdits.set("x-envoy-upstream-rq-timeout-ms", []string{strconv.FormatInt(ms, 10)})
	return nil
}

// routeRetry is retry around forward-request: Envoy's router sends the
// request again, as the request's x-envoy-retry-on, x-envoy-max-retries
// and x-envoy-retriable-status-codes tell it.
//
// # Notes
//
//   - The condition must be comparisons of context.Response.StatusCode
//     with a number (==, >=, >), joined by ||: the status codes they
//     cover are the retriable ones. Anything else is refused at start:
//     the router cannot evaluate an expression.
//   - count (expressions allowed, bounded to 0–50) is the router's
//     number of retries.
//   - interval, delta, max-interval and first-fast-retry cannot be given
//     per request: the router waits by the route's retry_back_off (25 ms
//     base, jittered, at most 250 ms by default). A load-time warning says
//     so.
//   - retry may hold only the forward-request then: the router re-sends
//     the request, the policies around it do not run again.
type routeRetry struct {
	stmtMeta
	codes   string // x-envoy-retriable-status-codes
	count   Value
	forward statement // nil: no timeout
}

// statusTerm reads one comparison of a retry condition,
// context.Response.StatusCode OP NNN, without white space.
func statusTerm(term string) (op string, n int, ok bool) {
	rest, found := strings.CutPrefix(term, "context.Response.StatusCode")
	if !found {
		return "", 0, false
	}
	for _, o := range []string{"==", ">=", ">"} {
		if num, found := strings.CutPrefix(rest, o); found {
			if len(num) != 3 || strings.Trim(num, "0123456789") != "" {
				return "", 0, false
			}
			n, _ = strconv.Atoi(num)
			return o, n, true
		}
	}
	return "", 0, false
}

func (c *compiler) routeRetry(n *Node, r *retry) (statement, error) {
	if len(n.Children) != 1 || n.Children[0].Name != "forward-request" {
		return nil, c.errf(n, n.Pos, "around forward-request, retry may hold only the forward-request: Envoy's router sends the request again, the policies around it do not run again")
	}
	cond, _ := n.Attr("condition")
	codes, err := retriableCodes(cond.Value)
	if err != nil {
		return nil, c.errf(n, cond.ValuePos, "around forward-request, the condition %s", err)
	}
	fwd, err := c.statement(n.Children[0])
	if err != nil {
		return nil, err
	}
	for _, a := range []string{"interval", "delta", "max-interval", "first-fast-retry"} {
		if at, ok := n.Attr(a); ok && strings.TrimSpace(at.Value) != "0" && strings.TrimSpace(at.Value) != "false" {
			doc := n.Doc
			if doc == "" {
				doc = c.opt.Doc
			}
			c.warnings = append(c.warnings, fmt.Sprintf("%s:%s: retry: around forward-request, Envoy's router waits between attempts by the route's retry_back_off (25 ms base, jittered, by default); interval, delta, max-interval and first-fast-retry are not applied", doc, n.Pos))
			break
		}
	}
	return &routeRetry{stmtMeta: r.stmtMeta, codes: codes, count: r.count, forward: fwd}, nil
}

// retriableCodes turns a condition over context.Response.StatusCode into
// the list of status codes it holds for.
func retriableCodes(raw string) (string, error) {
	s := strings.Join(strings.Fields(raw), "")
	if !strings.HasPrefix(s, "@(") || !strings.HasSuffix(s, ")") {
		return "", fmt.Errorf("must be an expression comparing context.Response.StatusCode with numbers (==, >=, >), joined by ||")
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "@("), ")")
	var set [600]bool
	for _, term := range strings.Split(s, "||") {
		if strings.HasPrefix(term, "(") && strings.HasSuffix(term, ")") {
			term = term[1 : len(term)-1]
		}
		op, n, ok := statusTerm(term)
		if !ok {
			return "", fmt.Errorf("must compare context.Response.StatusCode with numbers (==, >=, >), joined by ||; %q is not such a comparison", abbreviate(term))
		}
		lo, hi := n, n
		switch op {
		case ">=":
			hi = 599
		case ">":
			lo, hi = n+1, 599
		}
		if n < 100 || n > 599 {
			return "", fmt.Errorf("compares with %d: status codes are 100 to 599", n)
		}
		for i := lo; i <= hi; i++ {
			set[i] = true
		}
	}
	var codes []string
	for i, ok := range set {
		if ok {
			codes = append(codes, strconv.Itoa(i))
		}
	}
	if len(codes) == 0 {
		return "", fmt.Errorf("covers no status code")
	}
	return strings.Join(codes, ","), nil
}

func (r *routeRetry) run(x *Exec) error {
	n, err := evalBounded(x, &r.count, maxRetries)
	if err != nil {
		return err
	}
	x.reqEdits.set("x-envoy-retry-on", []string{"retriable-status-codes"})
	x.reqEdits.set("x-envoy-retriable-status-codes", []string{r.codes})
	x.reqEdits.set("x-envoy-max-retries", []string{strconv.Itoa(n)})
	if r.forward != nil {
		return r.forward.run(x)
	}
	return nil
}
