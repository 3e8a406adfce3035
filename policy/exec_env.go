package policy

// Exec as the expr.Env of its request: what expressions read of the
// request, the response and the route. (The client certificate, the clock
// and the subscription are in client_certificate.go and subscription.go.)

import (
	"strconv"
	"strings"

	"github.com/apimguard/apimguard/policy/expr"
)

// RequestHeader implements expr.Env.
func (x *Exec) RequestHeader(name string) (string, bool) {
	return overlay{edits: &x.reqEdits, base: x.req.Header}.get(name)
}

// ResponseHeader implements expr.Env.
func (x *Exec) ResponseHeader(name string) (string, bool) {
	switch {
	case x.phase == phaseOnError:
		return x.local.get(name)
	case x.resp != nil:
		return overlay{edits: &x.respEdits, base: x.resp.Header}.get(name)
	}
	return "", false
}

// Method implements expr.Env.
// After a set-method it is the new method.
func (x *Exec) Method() string { v, _ := x.RequestHeader(":method"); return v }

// URL implements expr.Env.
func (x *Exec) URL() *expr.URL {
	if x.url == nil {
		x.url = requestURL(x.req)
	}
	return x.url
}

// OriginalURL implements expr.Env: the client's URL, before any
// rewrite-uri or set-query-parameter (request_url.go).
func (x *Exec) OriginalURL() *expr.URL {
	if x.url == nil {
		return x.URL()
	}
	return requestURL(x.req)
}

// ClientIP implements expr.Env.
func (x *Exec) ClientIP() string { return x.req.ClientIP() }

// MatchedParameter implements expr.Env.
func (x *Exec) MatchedParameter(name string) (string, bool) {
	v, ok := x.params[name]
	return v, ok
}

// ResponseStatus implements expr.Env: the error response's status in
// on-error, the upstream's in outbound, 0 before there is a response.
func (x *Exec) ResponseStatus() (int, string) {
	switch {
	case x.phase == phaseOnError:
		return x.local.status, x.local.reason
	case x.phase == phaseOutbound && x.status != 0:
		return x.status, reasonPhrase(x.status)
	case x.resp != nil:
		s, _ := x.resp.Header(":status")
		code, _ := strconv.Atoi(s)
		return code, reasonPhrase(code)
	}
	return 0, ""
}

// RequestID implements expr.Env: Envoy's x-request-id.
func (x *Exec) RequestID() string { v, _ := x.req.Header("x-request-id"); return v }

// requestURL assembles the request URL from the pseudo-headers.
func requestURL(req Request) *expr.URL {
	scheme, _ := req.Header(":scheme")
	if scheme == "" {
		scheme = "http"
	}
	authority, _ := req.Header(":authority")
	host, port := splitHostPort(authority)
	if port == 0 {
		port = 80
		if scheme == "https" {
			port = 443
		}
	}
	path, _ := req.Header(":path")
	query := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i:]
	}
	return &expr.URL{Scheme: scheme, Host: host, Port: port, Path: path, QueryString: query}
}

// splitHostPort splits "host:port", "[v6]:port" or "host".
func splitHostPort(authority string) (string, int64) {
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		if end := strings.IndexByte(authority, ']'); end > 0 {
			host, port = authority[1:end], strings.TrimPrefix(authority[end+1:], ":")
		}
	} else if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i+1:]
	}
	// "example.com." names the same host as "example.com" (the root
	// label); API hosts are written without it.
	host = strings.TrimSuffix(host, ".")
	var p int64
	if port != "" {
		if v, err := strconv.ParseInt(port, 10, 64); err == nil && v > 0 && v <= 65535 {
			p = v
		}
	}
	return strings.ToLower(host), p
}

// Route implements expr.Env: context.Api, context.Operation and
// context.Deployment of the request's route.
func (x *Exec) Route() *expr.Route { return x.prog.route }
