package policy

import "github.com/apimguard/apimguard/policy/expr"

// returnResponse is APIM's return-response policy: it stops the pipeline and
// answers the client. It is not an error: on-error does not run.
// Reference: https://learn.microsoft.com/azure/api-management/return-response-policy
//
// # Notes
//
// The response starts as 200 with no body, or as a copy of the IResponse in
// response-variable-name; set-status, set-header and set-body children then
// change it, in document order.
type returnResponse struct {
	stmtMeta
	fromVar string
	edits   []responseEdit
}

// responseEdit is a child of return-response.
type responseEdit interface {
	applyTo(x *Exec, l *localResponse) error
}

// applyTo lets set-header edit a local response.
func (h *setHeader) applyTo(x *Exec, l *localResponse) error { return h.apply(x, l) }

func compileReturnResponse(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "response-variable-name"); err != nil {
		return nil, err
	}
	r := &returnResponse{stmtMeta: c.meta(n)}
	if a, ok := n.Attr("response-variable-name"); ok {
		if !validName(a.Value) {
			return nil, c.errf(n, a.Pos, "attribute \"response-variable-name\" must be a plain variable name, not %q", abbreviate(a.Value))
		}
		r.fromVar = a.Value
	}
	if err := c.only(n, "set-status", "set-header", "set-body"); err != nil {
		return nil, err
	}
	saved := c.inReturn
	c.inReturn = true
	defer func() { c.inReturn = saved }()
	for _, child := range n.Children {
		var s statement
		var err error
		switch child.Name {
		case "set-status":
			s, err = compileSetStatus(c, child)
		case "set-header":
			s, err = compileSetHeader(c, child)
		case "set-body":
			s, err = compileSetBody(c, child)
		}
		if err != nil {
			return nil, err
		}
		r.edits = append(r.edits, s.(responseEdit))
	}
	return r, nil
}

func (r *returnResponse) run(x *Exec) error {
	l := &localResponse{status: 200, reason: "OK"}
	if r.fromVar != "" {
		v, ok := x.Variable(r.fromVar)
		if !ok {
			return &variableError{r.fromVar}
		}
		resp, ok := v.(*expr.Response)
		if !ok || resp == nil {
			return &notResponseError{r.fromVar}
		}
		l.status, l.reason, l.body = resp.StatusCode, resp.StatusReason, string(resp.Body)
		l.headers = append([][2]string(nil), resp.Headers...)
	}
	for _, e := range r.edits {
		if err := e.applyTo(x, l); err != nil {
			return err
		}
	}
	x.result = l.result()
	return errRespond
}

type variableError struct{ name string }

func (e *variableError) Error() string {
	return "The given key '" + e.name + "' was not present in the dictionary."
}

type notResponseError struct{ name string }

func (e *notResponseError) Error() string {
	return "context.Variables[\"" + e.name + "\"] does not hold an IResponse."
}
