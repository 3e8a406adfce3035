package policy

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// cors is APIM's cors policy.
// Reference: https://learn.microsoft.com/azure/api-management/cors-policy
//
// # Notes
//
//   - Preflights (OPTIONS with Origin and Access-Control-Request-Method)
//     are answered by the first cors directly in <inbound> before any other
//     policy runs, so authentication never blocks them, and never reach the
//     upstream. An unmatched preflight gets APIM's empty 200.
//   - A matched request gets Access-Control-Allow-Origin (and -Credentials,
//     -Expose-Headers) and Vary: Origin on every response the client sees,
//     including denials by later policies and on-error responses.
//   - terminate-unmatched-request defaults to true: a cross-origin GET or
//     HEAD from an origin that does not match gets an empty 200 without
//     reaching the upstream; other methods go on without CORS headers.
//   - Origins compare after normalisation (scheme and host case, default
//     ports); there are no wildcard subdomains. * with allow-credentials
//     echoes the request's origin, as browsers require.
//   - In <outbound> (the seed's table lists it) cors only adds the response
//     headers. Only the first cors of a section applies, as in APIM.
type cors struct {
	stmtMeta
	anyOrigin   bool
	origins     map[string]corsGrant // normalised → its grant
	credentials bool
	terminate   bool
	anyMethod   bool
	methods     []string // upper case
	maxAge      int
	anyHeader   bool
	headers     map[string]bool // lower case
	headerList  string
	expose      string
}

func compileCORS(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "allow-credentials", "terminate-unmatched-request"); err != nil {
		return nil, err
	}
	p := &cors{stmtMeta: c.meta(n), origins: map[string]corsGrant{}, headers: map[string]bool{}}
	var err error
	if p.credentials, err = c.boolAttr(n, "allow-credentials", false); err != nil {
		return nil, err
	}
	if p.terminate, err = c.boolAttr(n, "terminate-unmatched-request", true); err != nil {
		return nil, err
	}
	if err := c.only(n, "allowed-origins", "allowed-methods", "allowed-headers", "expose-headers"); err != nil {
		return nil, err
	}
	sawOrigins := false
	for _, ch := range n.Children {
		switch ch.Name {
		case "allowed-origins":
			sawOrigins = true
			items, err := c.itemConstants(ch, "origin")
			if err != nil {
				return nil, err
			}
			for i, o := range items {
				if o == "*" {
					if len(items) > 1 {
						return nil, c.errf(ch.Children[i], ch.Children[i].Pos, "* must be the only origin")
					}
					p.anyOrigin = true
					continue
				}
				norm, ok := normalizeOrigin(o)
				if !ok {
					return nil, c.errf(ch.Children[i], ch.Children[i].Pos, "%q is not an origin: want scheme://host[:port], no path", o)
				}
				p.origins[norm] = corsGrant{} // the grant, once the options are read
			}
		case "allowed-methods":
			if err := c.attrs(ch, "preflight-result-max-age"); err != nil {
				return nil, err
			}
			if a, ok := ch.Attr("preflight-result-max-age"); ok {
				if p.maxAge, err = c.secondsAttr(ch, a, 0, 86400); err != nil {
					return nil, err
				}
			}
			items, err := c.itemConstants(ch, "method", "preflight-result-max-age")
			if err != nil {
				return nil, err
			}
			for _, m := range items {
				if m == "*" {
					p.anyMethod = true
					continue
				}
				if !validHeaderName(m) {
					return nil, c.errf(ch, ch.Pos, "%q is not an HTTP method", m)
				}
				p.methods = append(p.methods, strings.ToUpper(m))
			}
		case "allowed-headers", "expose-headers":
			items, err := c.itemConstants(ch, "header")
			if err != nil {
				return nil, err
			}
			var names []string
			for _, h := range items {
				if h == "*" && ch.Name == "allowed-headers" {
					p.anyHeader = true
					continue
				}
				if !validHeaderName(h) {
					return nil, c.errf(ch, ch.Pos, "%q is not a header name", h)
				}
				names = append(names, strings.ToLower(h))
				if ch.Name == "allowed-headers" {
					p.headers[strings.ToLower(h)] = true
				}
			}
			if ch.Name == "allowed-headers" {
				p.headerList = strings.Join(names, ",")
			} else {
				p.expose = strings.Join(names, ",")
			}
		}
	}
	if !sawOrigins || (!p.anyOrigin && len(p.origins) == 0) {
		return nil, c.errf(n, n.Pos, "needs <allowed-origins> with at least one <origin>")
	}
	if p.methods == nil && !p.anyMethod {
		p.methods = []string{"GET", "POST"}
	}
	for o := range p.origins {
		g := p.grant(o)
		g = g[:len(g):len(g)] // shared: an append must copy
		p.origins[o] = corsGrant{headers: g, edits: alwaysEdits(g)}
	}
	return p, nil
}

// corsGrant is the precomputed grant of an allowed origin: its headers, and
// the same as response header edits, so that a request from it allocates
// neither.
type corsGrant struct {
	headers [][2]string
	edits   []HeaderEdit
}

// normalizeOrigin lower-cases scheme and host and drops a default port.
// "null", paths, user info and anything but http(s) are not origins.
func normalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if !validHost(host) {
		return "", false
	}
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, true
	}
	return scheme + "://" + host, true
}

// validHost accepts DNS names and IP literals, not wildcards.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	if strings.Contains(h, ":") { // IPv6 literal, brackets already removed
		_, err := netip.ParseAddr(h)
		return err == nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// match reports whether the request's Origin header is allowed.
func (p *cors) match(origin string) bool {
	if p.anyOrigin {
		_, ok := normalizeOrigin(origin)
		return ok
	}
	// A browser sends its origin normalised: an exact hit needs no parse
	// (normalizeOrigin maps every allowed origin to itself).
	if _, ok := p.origins[origin]; ok {
		return true
	}
	norm, ok := normalizeOrigin(origin)
	if !ok {
		return false
	}
	_, ok = p.origins[norm]
	return ok
}

// grantFor is the grant for a request from origin, nil when origin is not
// allowed. An origin exactly as configured gets its precomputed grant.
func (p *cors) grantFor(origin string) corsGrant {
	if g, ok := p.origins[origin]; ok {
		return g
	}
	if p.match(origin) {
		return corsGrant{headers: p.grant(origin)}
	}
	return corsGrant{}
}

// grant is the response headers of a matched cross-origin request.
func (p *cors) grant(origin string) [][2]string {
	allow := origin
	if p.anyOrigin && !p.credentials {
		allow = "*"
	}
	h := [][2]string{{"access-control-allow-origin", allow}}
	if p.credentials {
		h = append(h, [2]string{"access-control-allow-credentials", "true"})
	}
	if p.expose != "" {
		h = append(h, [2]string{"access-control-expose-headers", p.expose})
	}
	return append(h, [2]string{"vary", "Origin"})
}

// corsApplied: a cors ran in this request; later ones do nothing.
const corsApplied onceFlag = 1 << 0

// respondFirst answers a CORS preflight before any other policy runs.
func (p *cors) respondFirst(x *Exec) (Result, bool) {
	if !isPreflight(x) {
		return Result{}, false
	}
	return p.preflight(x), true
}

// isPreflight reports whether the request is a CORS preflight, decided
// once per request: by Gateway.Begin when the route has a cors to answer
// it, else at the first question.
func isPreflight(x *Exec) bool {
	if x.cors.preflight == preflightUnknown {
		x.cors.preflight = preflightNo
		if requestIsPreflight(x.req) {
			x.cors.preflight = preflightYes
		}
	}
	return x.cors.preflight == preflightYes
}

// corsState is what cors keeps of one request.
type corsState struct {
	// preflight is whether the request is a CORS preflight, once known
	// (preflightUnknown until Gateway.Begin or a cors asks).
	preflight uint8
	// always are headers every response to the client carries from now
	// on, local responses and denials included (a matched grant); edits
	// are them as edits when precomputed (shared: never written); added:
	// they are in the response edits.
	always [][2]string
	edits  []HeaderEdit
	added  bool
}

// Whether a request is a CORS preflight: not asked yet, no, yes.
const (
	preflightUnknown uint8 = iota
	preflightNo
	preflightYes
)

// requestIsPreflight reads the request's method and CORS headers.
func requestIsPreflight(req Request) bool {
	// Origin first: the host may read :method alone, but a cors will read
	// Origin anyway.
	if _, ok := req.Header("origin"); !ok {
		return false
	}
	_, hasMethod := req.Header("access-control-request-method")
	m, _ := req.Header(":method")
	return hasMethod && m == "OPTIONS"
}

// preflight answers a preflight: the grant with the allowed methods and
// headers when it matches, APIM's empty 200 when it does not.
func (p *cors) preflight(x *Exec) Result {
	empty := Result{Action: Respond, Status: 200, Preflight: true}
	origin, _ := x.req.Header("origin")
	if !p.match(origin) {
		return empty
	}
	method, _ := x.req.Header("access-control-request-method")
	method = strings.ToUpper(strings.TrimSpace(method))
	if !p.anyMethod && !containsString(p.methods, method) {
		return empty
	}
	requested, _ := x.req.Header("access-control-request-headers")
	var asked []string
	for _, h := range strings.Split(requested, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			asked = append(asked, h)
			if !p.anyHeader && !p.headers[h] {
				return empty
			}
		}
	}
	h := p.grant(origin)
	methods := strings.Join(p.methods, ",")
	if p.anyMethod {
		methods = method
	}
	h = append(h, [2]string{"access-control-allow-methods", methods})
	allowed := p.headerList
	if p.anyHeader {
		allowed = strings.Join(asked, ",")
	}
	if allowed != "" {
		h = append(h, [2]string{"access-control-allow-headers", allowed})
	}
	if p.maxAge > 0 {
		h = append(h, [2]string{"access-control-max-age", strconv.Itoa(p.maxAge)})
	}
	return Result{Action: Respond, Status: 200, Headers: h, Preflight: true}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// run handles an actual request (inbound) or adds the response headers
// (outbound).
func (p *cors) run(x *Exec) error {
	if !x.firstTime(corsApplied) {
		return nil // only the first cors applies
	}
	origin, ok := x.req.Header("origin")
	if !ok {
		return nil
	}
	if g := p.grantFor(origin); g.headers != nil {
		x.addToEveryResponse(g.headers, g.edits)
		return nil
	}
	m := x.Method()
	if x.phase == phaseInbound && p.terminate && (m == "GET" || m == "HEAD") {
		x.result = Result{Action: Respond, Status: 200}
		return errRespond
	}
	return nil
}

// addToEveryResponse makes every response the client gets from now on
// carry headers (see corsState).
func (x *Exec) addToEveryResponse(headers [][2]string, edits []HeaderEdit) {
	x.cors.always, x.cors.edits = headers, edits
	if x.phase == phaseOutbound {
		x.addAlways(&x.respEdits)
	}
}

// finish adds the always headers to what the client gets: a local
// response, or the upstream's response at the end of outbound.
func (x *Exec) finish(r Result) Result {
	if x.cors.always == nil {
		return r
	}
	switch {
	case r.Action == Respond:
		headers := append([][2]string(nil), r.Headers...)
		for _, g := range x.cors.always {
			if _, ok := JoinHeader(headers, g[0]); !ok {
				headers = append(headers, g)
			}
		}
		r.Headers = headers
	case r.Action == Continue && x.phase == phaseOutbound:
		x.addAlways(&x.respEdits)
		r.Edits = x.respEdits.list()
	}
	return r
}

// alwaysEdits is always headers as response header edits, in two
// allocations; Vary: Origin is a line of its own (see addAlways).
func alwaysEdits(always [][2]string) []HeaderEdit {
	edits := make([]HeaderEdit, len(always))
	values := make([]string, len(always))
	for i, g := range always {
		values[i] = g[1]
		edits[i] = HeaderEdit{Name: g[0], Values: values[i : i+1 : i+1], Append: g[0] == "vary"}
	}
	return edits[:len(edits):len(edits)]
}

// addAlways records the always headers as response header edits, once;
// Vary keeps the upstream's values.
func (x *Exec) addAlways(edits *editSet) {
	if x.cors.added {
		return
	}
	x.cors.added = true
	if len(edits.edits) == 0 {
		// Nothing else edited the response: the grant as edits (shared
		// when precomputed, copied before any change).
		if x.cors.edits != nil {
			edits.edits, edits.shared = x.cors.edits, true
		} else {
			edits.edits = alwaysEdits(x.cors.always)
		}
		return
	}
	store := overlay{edits: edits, base: x.resp.Header}
	for _, g := range x.cors.always {
		if g[0] == "vary" {
			if _, edited := edits.lookup("vary"); !edited {
				// Its own Vary line: the upstream's lines stay as they are
				// and need not be read.
				edits.edits = append(edits.edits, HeaderEdit{Name: "vary", Values: []string{g[1]}, Append: true})
				continue
			}
			if v, ok := store.get("vary"); ok && v != "" {
				if !strings.Contains(strings.ToLower(v), "origin") {
					store.set("vary", []string{v + ", Origin"})
				}
				continue
			}
		}
		store.set(g[0], []string{g[1]})
	}
}
