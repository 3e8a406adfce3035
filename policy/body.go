package policy

import "strings"

// Bodies as policies change them: set-body and find-and-replace on the
// request (inbound, backend) and the upstream's response (outbound). The
// engine runs when the headers arrive, before any body, so it records the
// changes in order as BodyEdits on the Continue result; the host buffers
// that body (only then) and applies them with ApplyBodyEdits when it is
// complete. A policy that touches no body buffers nothing.

// BodyEdit is one change of a body: a new body (Set), or every From
// replaced by To.
type BodyEdit struct {
	Set      bool
	Body     string
	From, To string
}

// MaxBody bounds a body the host buffers to change or read it: a larger
// request is refused with 413 (TooLargeBody), a larger response with 500
// (the client never gets a half-changed body).
const MaxBody = 1 << 20

// TooLargeBody is the body of the 413 answer to a request over MaxBody.
const TooLargeBody = `{"statusCode":413,"message":"Request entity too large."}`

// ApplyBodyEdits applies edits to body in order; ok is false when the
// result is over MaxBody.
func ApplyBodyEdits(body []byte, edits []BodyEdit) ([]byte, bool) {
	s := string(body)
	for _, e := range edits {
		switch {
		case e.Set:
			s = e.Body
		case e.From != "":
			// Bounded before replacing: n replacements grow the body by
			// n·(len(To)-len(From)).
			if grow := len(e.To) - len(e.From); grow > 0 && len(s)+strings.Count(s, e.From)*grow > MaxBody {
				return nil, false
			}
			s = strings.ReplaceAll(s, e.From, e.To)
		}
	}
	if len(s) > MaxBody {
		return nil, false
	}
	return []byte(s), true
}

// SetsBody reports whether edits give a body to a message that has none
// (a replacement on an empty body changes nothing).
func SetsBody(edits []BodyEdit) bool {
	for _, e := range edits {
		if e.Set && e.Body != "" {
			return true
		}
	}
	return false
}

// addBodyEdit records e for the message of the current section: the
// request in inbound and backend, the response in outbound.
func (x *Exec) addBodyEdit(e BodyEdit) {
	m := x.extra()
	if x.phase == phaseOutbound {
		m.respBody = append(m.respBody, e)
		return
	}
	m.reqBody = append(m.reqBody, e)
}

// findAndReplace is APIM's find-and-replace policy.
// Reference: https://learn.microsoft.com/azure/api-management/find-and-replace-policy
//
// # Notes
//
//   - from and to may be expressions; every occurrence of from (plain
//     text, case-sensitive) becomes to; an empty from changes nothing.
//   - On the request body in inbound and backend, the upstream's response
//     body in outbound, the error response's body in on-error.
type findAndReplace struct {
	stmtMeta
	from, to Value
}

func compileFindAndReplace(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "from", "to"); err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	f := &findAndReplace{stmtMeta: c.meta(n)}
	var err error
	if f.from, err = c.requiredValue(n, "from"); err != nil {
		return nil, err
	}
	if f.to, err = c.requiredValue(n, "to"); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *findAndReplace) run(x *Exec) error {
	from, err := f.from.Eval(x)
	if err != nil {
		return err
	}
	to, err := f.to.Eval(x)
	if err != nil {
		return err
	}
	if from == "" {
		return nil
	}
	if x.phase == phaseOnError {
		x.local.body = strings.ReplaceAll(x.local.body, from, to)
		return nil
	}
	x.addBodyEdit(BodyEdit{From: from, To: to})
	return nil
}
