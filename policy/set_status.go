package policy

import (
	"strconv"
	"strings"
)

// setStatus is APIM's set-status policy: the status of the response
// (outbound), of the error response (on-error) or of return-response's.
// Reference: https://learn.microsoft.com/azure/api-management/set-status-policy
//
// # Notes
//
// reason is optional (real policies omit it) and defaults to the standard
// phrase. Envoy does not send reason phrases over HTTP/2; the value is kept
// for context.Response.StatusReason.
type setStatus struct {
	stmtMeta
	code      Value
	reason    Value
	hasReason bool
}

func compileSetStatus(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "code", "reason"); err != nil {
		return nil, err
	}
	a, err := c.required(n, "code")
	if err != nil {
		return nil, err
	}
	s := &setStatus{stmtMeta: c.meta(n)}
	if s.code, err = c.attrValue(n, a); err != nil {
		return nil, err
	}
	if s.code.IsConst() {
		if _, err := c.statusCode(n, a, s.code.Const()); err != nil {
			return nil, err
		}
	}
	if r, ok := n.Attr("reason"); ok {
		if s.reason, err = c.attrValue(n, r); err != nil {
			return nil, err
		}
		s.hasReason = true
	}
	return s, c.empty(n)
}

// status evaluates the code and reason.
func (s *setStatus) status(x *Exec) (int, string, error) {
	v, err := s.code.Eval(x)
	if err != nil {
		return 0, "", err
	}
	code, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || code < 100 || code > 599 {
		return 0, "", &statusError{v}
	}
	reason := reasonPhrase(code)
	if s.hasReason {
		if reason, err = s.reason.Eval(x); err != nil {
			return 0, "", err
		}
	}
	return code, reason, nil
}

type statusError struct{ v string }

func (e *statusError) Error() string {
	return "set-status: " + strconv.Quote(e.v) + " is not an HTTP status code"
}

func (s *setStatus) run(x *Exec) error {
	code, reason, err := s.status(x)
	if err != nil {
		return err
	}
	if x.phase == phaseOnError {
		x.local.status, x.local.reason = code, reason
		return nil
	}
	x.status = code
	return nil
}

func (s *setStatus) applyTo(x *Exec, l *localResponse) error {
	code, reason, err := s.status(x)
	if err != nil {
		return err
	}
	l.status, l.reason = code, reason
	return nil
}
