package policy

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/apimguard/apimguard/policy/expr"
)

// sendRequest is APIM's send-request policy: an HTTP call whose answer is
// stored as an IResponse for later policies. The engine yields the call to
// the host (Result.Call) and resumes with the answer.
// Reference: https://learn.microsoft.com/azure/api-management/send-request-policy
//
// # Notes
//
//   - A non-2xx answer is not an error. A timeout or a failed call is:
//     on-error runs (Source send-request, Reason Timeout or
//     BackendConnectionFailure, status 500), unless ignore-error="true",
//     which stores null in the variable and goes on.
//   - mode="copy" copies the request's method, URL and headers, not its body
//     (the body has not arrived when inbound runs).
//   - authentication-managed-identity sends the managed identity's token
//     on the call (managed_identity.go), after the set-header children.
//   - authentication-certificate and proxy are refused: TLS and proxies
//     belong to the Envoy cluster the URL maps to (the plugin's
//     "upstreams" option).
type sendRequest struct {
	stmtMeta
	copy        bool
	variable    string
	timeoutMS   uint32
	ignoreError bool
	url         *Value // nil: the request's URL (copy mode)
	method      string // "": the request's method (copy), else GET
	headers     []*setHeader
	body        *Value
	identity    *managedIdentity // authentication-managed-identity, when present
	// oneWay: send-one-way-request, which does not wait for the answer.
	oneWay bool
}

const defaultSendTimeoutSeconds = 60

func compileSendRequest(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "mode", "response-variable-name", "timeout", "ignore-error"); err != nil {
		return nil, err
	}
	return c.outgoingCall(n, &sendRequest{stmtMeta: c.meta(n), timeoutMS: defaultSendTimeoutSeconds * 1000})
}

// compileSendOneWayRequest is APIM's send-one-way-request: send-request
// without waiting for the answer, which nothing reads.
// Reference: https://learn.microsoft.com/azure/api-management/send-one-way-request-policy
//
// # Notes
//
//   - The same children as send-request; the request goes on at once and
//     the host sends the call when the section's step ends. Its answer or
//     failure never reaches the client (counted in
//     apimguard_one_way_requests).
//   - At most maxOneWay per request; more fail the request (500).
func compileSendOneWayRequest(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "mode", "timeout"); err != nil {
		return nil, err
	}
	return c.outgoingCall(n, &sendRequest{stmtMeta: c.meta(n), timeoutMS: defaultSendTimeoutSeconds * 1000, oneWay: true})
}

// maxOneWay bounds a request's one-way calls.
const maxOneWay = 8

// outgoingCall reads what send-request and send-one-way-request share.
func (c *compiler) outgoingCall(n *Node, s *sendRequest) (statement, error) {
	if a, ok := n.Attr("mode"); ok {
		mode, err := c.constant(n, a)
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(strings.TrimSpace(mode)) {
		case "new":
		case "copy":
			s.copy = true
		default:
			return nil, c.errf(n, a.Pos, "attribute \"mode\" must be new or copy, not %q", mode)
		}
	}
	var err error
	if !s.oneWay {
		v, err := c.required(n, "response-variable-name")
		if err != nil {
			return nil, err
		}
		if !validName(v.Value) {
			return nil, c.errf(n, v.Pos, "attribute \"response-variable-name\" must be a plain variable name, not %q", abbreviate(v.Value))
		}
		s.variable = v.Value
	}
	if a, ok := n.Attr("timeout"); ok {
		secs, err := c.secondsAttr(n, a, 1, 3600)
		if err != nil {
			return nil, err
		}
		s.timeoutMS = uint32(secs) * 1000
	}
	if s.ignoreError, err = c.boolAttr(n, "ignore-error", false); err != nil {
		return nil, err
	}
	for _, ch := range n.Children {
		switch ch.Name {
		case "set-url":
			if err := c.attrs(ch); err != nil {
				return nil, err
			}
			u, err := c.value(ch, ch.Text, ch.TextPos)
			if err != nil {
				return nil, err
			}
			if u.IsConst() {
				if _, err := parseCallURL(u.Const()); err != nil {
					return nil, c.errf(ch, ch.TextPos, "%v", err)
				}
			}
			s.url = &u
		case "set-method":
			m, err := c.methodText(ch)
			if err != nil {
				return nil, err
			}
			s.method = m
		case "set-header":
			h, err := compileSetHeader(c, ch)
			if err != nil {
				return nil, err
			}
			s.headers = append(s.headers, h.(*setHeader))
		case "set-body":
			b, err := compileSetBody(c, ch)
			if err != nil {
				return nil, err
			}
			s.body = &b.(*setBody).body
		case "authentication-managed-identity":
			if s.identity != nil {
				return nil, c.errf(ch, ch.Pos, "only one <authentication-managed-identity>")
			}
			m, err := compileManagedIdentity(c, ch)
			if err != nil {
				return nil, err
			}
			s.identity = m.(*managedIdentity)
		case "authentication-certificate", "proxy":
			return nil, c.errf(ch, ch.Pos, "not supported: configure TLS, client certificates and proxies on the Envoy cluster that \"upstreams\" maps the URL's host to")
		default:
			return nil, c.errf(n, ch.Pos, "unexpected element <%s>", ch.Name)
		}
	}
	if n.Text != "" {
		return nil, c.noText(n)
	}
	if !s.copy && s.url == nil {
		return nil, c.errf(n, n.Pos, "needs <set-url> (or mode=\"copy\")")
	}
	if !s.copy && s.method == "" {
		s.method = "GET"
	}
	return s, nil
}

// parseCallURL checks an absolute http(s) URL.
func parseCallURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("set-url needs an absolute http or https URL, not " + strconv.Quote(abbreviate(raw)))
	}
	if u.User != nil {
		return nil, errors.New("set-url must not carry credentials; send them in a header")
	}
	return u, nil
}

func (s *sendRequest) run(x *Exec) error {
	if s.identity == nil {
		return s.call(x, "")
	}
	req, err := s.identity.request(x)
	if err != nil {
		return err
	}
	return s.identity.withToken(x, req, func(token string) error { return s.call(x, token) })
}

// call builds the call and yields it; token, when set, is the managed
// identity's.
func (s *sendRequest) call(x *Exec, token string) error {
	call := &OutgoingCall{Method: s.method, TimeoutMS: s.timeoutMS}
	store := &localResponse{}
	if s.copy {
		reqURL := x.URL()
		call.URL = reqURL.String()
		if call.Method == "" {
			call.Method = x.Method()
		}
		if pairs, ok := x.req.(HeaderLister); ok {
			for _, kv := range pairs.Headers() {
				if !strings.HasPrefix(kv[0], ":") && !hopByHop[kv[0]] {
					store.headers = append(store.headers, kv)
				}
			}
		}
		for _, e := range x.reqEdits.list() {
			store.set(e.Name, e.Values)
		}
	}
	if s.url != nil {
		u, err := s.url.Eval(x)
		if err != nil {
			return err
		}
		call.URL = u
	}
	u, err := parseCallURL(call.URL)
	if err != nil {
		return err
	}
	call.Authority = u.Host
	call.Path = u.EscapedPath()
	if call.Path == "" {
		call.Path = "/"
	}
	if u.RawQuery != "" {
		call.Path += "?" + u.RawQuery
	}
	for _, h := range s.headers {
		if err := h.apply(x, store); err != nil {
			return err
		}
	}
	if s.identity != nil {
		s.identity.deliver(x, token, store.set)
	}
	call.Headers = store.headers
	if s.body != nil {
		b, err := s.body.Eval(x)
		if err != nil {
			return err
		}
		call.Body = []byte(b)
	}
	if s.oneWay {
		if len(x.extra().oneWay) == maxOneWay {
			return &expr.RuntimeError{Msg: "send-one-way-request: more than " + strconv.Itoa(maxOneWay) + " one-way calls in one request"}
		}
		x.more.oneWay = append(x.more.oneWay, call)
		return nil
	}
	x.result = Result{Action: Call, Call: call}
	x.resume = func(resp *expr.Response, err error) error {
		if err == nil {
			x.setVariable(s.variable, resp)
			return nil
		}
		if s.ignoreError {
			x.setVariable(s.variable, nil)
			return nil
		}
		reason, msg := "BackendConnectionFailure", "The call to "+u.Host+" failed."
		if errors.Is(err, ErrCallTimeout) {
			reason, msg = "Timeout", "The call to "+u.Host+" did not answer within "+strconv.Itoa(int(s.timeoutMS/1000))+" seconds."
		}
		return &Failure{Source: "send-request", Reason: reason, Message: msg, PolicyID: s.id, scope: s.scope, Status: 500, Body: InternalErrorBody}
	}
	return errYield
}

// hopByHop are headers that describe one connection and are not copied.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true, "te": true,
	"trailer": true, "upgrade": true, "content-length": true, "host": true,
}

// OneWayCalls returns the send-one-way-request calls made since the last
// call, for the host to send without waiting, and forgets them.
func (x *Exec) OneWayCalls() []*OutgoingCall {
	if x.more == nil {
		return nil
	}
	c := x.more.oneWay
	x.more.oneWay = nil
	return c
}
