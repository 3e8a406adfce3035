package policy

// setMethod is APIM's set-method policy: the request goes to the backend
// with another HTTP method.
// Reference: https://learn.microsoft.com/azure/api-management/set-method-policy
//
// # Notes
//
//   - The method is a constant or a named value (APIM allows expressions;
//     refused here, so a request cannot choose its own method).
//   - Allowed in inbound and backend: APIM also lists on-error, where no
//     request is forwarded any more, so it is refused there.
//   - context.Request.Method reads the new method after it, as in APIM.
//     The route (API and operation) was chosen with the client's method.
type setMethod struct {
	stmtMeta
	method string
}

func compileSetMethod(c *compiler, n *Node) (statement, error) {
	m, err := c.methodText(n)
	if err != nil {
		return nil, err
	}
	return &setMethod{stmtMeta: c.meta(n), method: m}, nil
}

func (s *setMethod) run(x *Exec) error {
	x.headers().set(":method", []string{s.method})
	return nil
}
