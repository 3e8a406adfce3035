package policy

// setBody is APIM's set-body policy, for the error response (on-error) and
// the response return-response builds: text, a named value or an expression.
// Reference: https://learn.microsoft.com/azure/api-management/set-body-policy
//
// # Notes
//
// Rewriting the body of the upstream request or response (inbound,
// outbound) and liquid templates are not supported; they are refused at
// load time.
type setBody struct {
	stmtMeta
	body Value
}

func compileSetBody(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n); err != nil {
		return nil, err
	}
	if len(n.Children) > 0 {
		return nil, c.errf(n, n.Children[0].Pos, "unexpected element <%s>: escape markup in a body as &lt; or use CDATA", n.Children[0].Name)
	}
	v, err := c.value(n, n.Text, n.TextPos)
	if err != nil {
		return nil, err
	}
	return &setBody{stmtMeta: c.meta(n), body: v}, nil
}

func (s *setBody) run(x *Exec) error { return s.applyTo(x, x.local) }

func (s *setBody) applyTo(x *Exec, l *localResponse) error {
	b, err := s.body.Eval(x)
	if err != nil {
		return err
	}
	l.body = b
	return nil
}
