package policy

import "strings"

// mockResponse is APIM's mock-response policy: the gateway answers itself
// and the request never reaches the backend.
// Reference: https://learn.microsoft.com/azure/api-management/mock-response-policy
//
// # Notes
//
//   - status-code (default 200) and content-type are constants (APIM
//     allows no expressions); a status below 200 is refused at load.
//   - APIM answers with the operation's response example or a sample
//     built from its schema; apimguard knows no response representations,
//     so the body is empty, with the content-type given (none without it;
//     Envoy drops a Content-Type from a local reply without a body).
//   - Like return-response it ends the pipeline: outbound does not run
//     after an inbound mock.
type mockResponse struct {
	stmtMeta
	status  int
	headers [][2]string
}

func compileMockResponse(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "status-code", "content-type"); err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	m := &mockResponse{stmtMeta: c.meta(n), status: 200}
	if a, ok := n.Attr("status-code"); ok {
		var err error
		if m.status, err = c.statusAttr(n, a); err != nil {
			return nil, err
		}
		if m.status < 200 {
			return nil, c.errf(n, a.Pos, "attribute \"status-code\" must be from 200 to 599, not %d", m.status)
		}
	}
	if a, ok := n.Attr("content-type"); ok {
		ct, err := c.constant(n, a)
		if err != nil {
			return nil, err
		}
		ct = strings.TrimSpace(ct)
		if !mediaType(ct) {
			return nil, c.errf(n, a.Pos, "attribute \"content-type\" is not a media type: %q", ct)
		}
		m.headers = [][2]string{{"content-type", ct}}
	}
	return m, nil
}

func (m *mockResponse) run(x *Exec) error {
	x.result = Result{Action: Respond, Status: m.status, Headers: m.headers}
	return errRespond
}

// mediaType reports whether s is type/subtype (RFC 9110 tokens) with
// optional parameters of visible ASCII.
func mediaType(s string) bool {
	typ, params, _ := strings.Cut(s, ";")
	main, sub, ok := strings.Cut(strings.TrimSpace(typ), "/")
	if !ok || !validHeaderName(main) || !validHeaderName(sub) {
		return false
	}
	for i := 0; i < len(params); i++ {
		if c := params[i]; c < ' ' || c > '~' {
			return false
		}
	}
	return true
}
