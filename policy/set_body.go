package policy

// setBody is APIM's set-body policy: the new body of the request (inbound,
// backend), of the upstream's response (outbound), of the error response
// (on-error) or of the response return-response builds: text, a named
// value or an expression.
// Reference: https://learn.microsoft.com/azure/api-management/set-body-policy
//
// # Notes
//
//   - template="liquid" is refused at load: apimguard has no Liquid
//     engine; write the body as an expression. xsi-nil and parse-date
//     (Liquid's) are accepted and do nothing.
//   - The request's and response's bodies change when they are complete
//     (body.go); a later set-body wins.
type setBody struct {
	stmtMeta
	body Value
}

func compileSetBody(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "template", "xsi-nil", "parse-date"); err != nil {
		return nil, err
	}
	if a, ok := n.Attr("template"); ok {
		return nil, c.errf(n, a.Pos, "template %q is not supported: apimguard has no Liquid engine; write the body as a policy expression", a.Value)
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

func (s *setBody) run(x *Exec) error {
	if x.phase == phaseOnError {
		return s.applyTo(x, x.local)
	}
	b, err := s.body.Eval(x)
	if err != nil {
		return err
	}
	x.addBodyEdit(BodyEdit{Set: true, Body: b})
	return nil
}

func (s *setBody) applyTo(x *Exec, l *localResponse) error {
	b, err := s.body.Eval(x)
	if err != nil {
		return err
	}
	l.body = b
	return nil
}
