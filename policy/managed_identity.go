package policy

import (
	"github.com/apimguard/apimguard/policy/expr"
)

// managedIdentity is APIM's authentication-managed-identity policy: an
// access token for resource from the gateway's managed identity, sent to
// the backend as Authorization: Bearer <token> (or, inside send-request,
// on that call).
// Reference: https://learn.microsoft.com/azure/api-management/authentication-managed-identity-policy
//
// # Notes
//
//   - The host fetches, caches and refreshes tokens (the plugin's
//     "managedIdentity" setting names the token source: Azure's instance
//     metadata service, the App Service identity endpoint, or an OAuth 2.0
//     client-credentials endpoint); the engine only asks for one and waits.
//   - With output-token-variable-name the token is stored in that variable
//     (a string) and Authorization is left alone, as Microsoft's example
//     implies (it then sets the header itself); without it the header is
//     replaced, the client's own Authorization never reaching the backend.
//   - No token: on-error with Source authentication-managed-identity,
//     Reason ManagedIdentityTokenUnavailable and status 500, unless
//     ignore-error="true", which goes on without one (no header is set, and
//     the client's Authorization is removed so it is not mistaken for ours).
//   - resource may be an expression; its value must be at most 512 bytes
//     of visible ASCII, and the host caches at most a bounded number of
//     distinct tokens, so a client cannot make it fetch without limit.
//   - The token is never logged, and no failure message contains it.
type managedIdentity struct {
	stmtMeta
	resource    Value
	clientID    string
	variable    string
	ignoreError bool
	tokens      TokenStore
	unavailable *Failure
}

// maxResource bounds a resource value.
const maxResource = 512

func compileManagedIdentity(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "resource", "client-id", "output-token-variable-name", "ignore-error"); err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	if c.opt.Tokens == nil {
		return nil, c.errf(n, n.Pos, `needs a token source: set the plugin's "managedIdentity" (docs/configuration.md)`)
	}
	m := &managedIdentity{stmtMeta: c.meta(n), tokens: c.opt.Tokens}
	a, err := c.required(n, "resource")
	if err != nil {
		return nil, err
	}
	if m.resource, err = c.attrValue(n, a); err != nil {
		return nil, err
	}
	if m.resource.IsConst() && !validResource(m.resource.Const()) {
		return nil, c.errf(n, a.Pos, "attribute \"resource\" must be 1 to %d bytes of visible ASCII", maxResource)
	}
	if a, ok := n.Attr("client-id"); ok {
		if m.clientID, err = c.constant(n, a); err != nil {
			return nil, err
		}
		if !validResource(m.clientID) {
			return nil, c.errf(n, a.Pos, "attribute \"client-id\" must be 1 to %d bytes of visible ASCII", maxResource)
		}
	}
	if m.resource.IsConst() {
		c.tokenRequests = append(c.tokenRequests, TokenRequest{Resource: m.resource.Const(), ClientID: m.clientID})
	}
	if a, ok := n.Attr("output-token-variable-name"); ok {
		if !validName(a.Value) {
			return nil, c.errf(n, a.Pos, "attribute \"output-token-variable-name\" must be a plain variable name, not %q", abbreviate(a.Value))
		}
		m.variable = a.Value
	}
	if m.ignoreError, err = c.boolAttr(n, "ignore-error", false); err != nil {
		return nil, err
	}
	m.unavailable = &Failure{Source: "authentication-managed-identity", Reason: "ManagedIdentityTokenUnavailable", PolicyID: m.id,
		scope: m.scope, path: m.path, Status: 500, Body: InternalErrorBody,
		Message: "No access token could be obtained from the managed identity."}
	return m, nil
}

// validResource reports whether s is a resource or client id the host can
// put into a token request: visible ASCII, bounded.
func validResource(s string) bool {
	if s == "" || len(s) > maxResource {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// request evaluates the token request.
func (m *managedIdentity) request(x *Exec) (TokenRequest, error) {
	r, err := m.resource.Eval(x)
	if err != nil {
		return TokenRequest{}, err
	}
	if !validResource(r) {
		return TokenRequest{}, &Failure{Source: m.element, Reason: "ManagedIdentityResourceInvalid", PolicyID: m.id, scope: m.scope, path: m.path,
			Status: 500, Body: InternalErrorBody, Message: "The resource is empty, too long or not visible ASCII."}
	}
	return TokenRequest{Resource: r, ClientID: m.clientID}, nil
}

// withToken gets the token for req, waiting for the host once, and calls
// use with it ("" when ignore-error lets the request go on without one).
func (m *managedIdentity) withToken(x *Exec, req TokenRequest, use func(token string) error) error {
	if t := m.tokens.Token(req); t != "" {
		return use(t)
	}
	r := req
	x.result = Result{Action: WaitToken, Token: &r}
	x.resume = func(*expr.Response, error) error {
		if t := m.tokens.Token(req); t != "" {
			return use(t)
		}
		if m.ignoreError {
			return use("")
		}
		return m.unavailable
	}
	return errYield
}

func (m *managedIdentity) run(x *Exec) error {
	req, err := m.request(x)
	if err != nil {
		return err
	}
	return m.withToken(x, req, func(token string) error {
		m.deliver(x, token, x.headers().set)
		return nil
	})
}

// deliver stores the token in the variable, or sets Authorization with
// set (removing the client's when there is no token).
func (m *managedIdentity) deliver(x *Exec, token string, set func(name string, values []string)) {
	switch {
	case m.variable != "":
		if token != "" {
			x.setVariable(m.variable, token)
		}
	case token != "":
		set("authorization", []string{"Bearer " + token})
	default:
		set("authorization", nil)
	}
}
