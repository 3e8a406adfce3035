package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Options tune compilation.
type Options struct {
	// Doc names the global document in errors; default "policy".
	Doc string
	// NamedValue resolves {{name}}. A reference to a name it does not know
	// is a compile error.
	NamedValue func(name string) (string, bool)
	// Keys holds the key sets of openid-config sources; without it a
	// policy with openid-config does not compile.
	Keys KeyStore
	// Certificates are PEM certificates by id, for <key certificate-id>.
	Certificates map[string]string
	// Now is the clock of token checks; default time.Now.
	Now func() time.Time
	// TokenCache is how many verified tokens each validate-jwt remembers:
	// 0 for the default (1024), negative to turn the cache off.
	TokenCache int
	// Offload, when set, verifies RS* and ES* signatures outside Go.
	Offload Offload
	// Tokens serves authentication-managed-identity's tokens; without it
	// that element does not compile.
	Tokens TokenStore
}

// Compile parses and compiles one <policies> document at global scope.
func Compile(src string, opt Options) (*Program, error) {
	g, err := CompileGateway(Config{Policy: src}, opt)
	if err != nil {
		return nil, err
	}
	return g.global, nil
}

// section identifies one of the four sections of a document.
type section uint8

const (
	inbound section = 1 << iota
	backend
	outbound
	onError
	anySection = inbound | backend | outbound | onError
)

var sectionOrder = []struct {
	name string
	s    section
}{{"inbound", inbound}, {"backend", backend}, {"outbound", outbound}, {"on-error", onError}}

func sectionByName(name string) (section, bool) {
	for _, e := range sectionOrder {
		if e.name == name {
			return e.s, true
		}
	}
	return 0, false
}

func (s section) String() string {
	for _, e := range sectionOrder {
		if e.s == s {
			return e.name
		}
	}
	return "section"
}

// document is a parsed <policies> document: each present section's
// children. A section that is absent inherits its parent's.
type document struct {
	sections map[section]*Node
}

// parseDocument reads and checks the outline of one scope's document.
func (c *compiler) parseDocument(src, doc, scope string) (*document, error) {
	root, err := ParseDocument(src)
	if err != nil {
		if pe, ok := err.(*ParseError); ok {
			return nil, &ConfigError{Doc: doc, Pos: pe.Pos, Element: pe.Element, Msg: pe.Msg}
		}
		return nil, err
	}
	stamp(root, doc, scope)
	if root.Name != "policies" {
		return nil, c.errf(root, root.Pos, "the root element must be <policies>")
	}
	if err := c.noAttrs(root); err != nil {
		return nil, err
	}
	if err := c.noText(root); err != nil {
		return nil, err
	}
	d := &document{sections: map[section]*Node{}}
	for _, n := range root.Children {
		s, ok := sectionByName(n.Name)
		if !ok {
			return nil, c.errf(n, n.Pos, "unknown section (want inbound, backend, outbound or on-error)")
		}
		if d.sections[s] != nil {
			return nil, c.errf(n, n.Pos, "duplicate section")
		}
		if err := c.noAttrs(n); err != nil {
			return nil, err
		}
		if err := c.noText(n); err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, ch := range n.Children {
			if e, ok := elements(ch.Name); ok && e.firstOnly {
				if seen[ch.Name] {
					c.warnings = append(c.warnings, fmt.Sprintf("%s:%s: %s: only the first %s in <%s> applies; this one is ignored", doc, ch.Pos, ch.Name, ch.Name, n.Name))
				}
				seen[ch.Name] = true
			}
		}
		bases := 0
		for _, ch := range n.Children {
			if ch.Name != "base" {
				continue
			}
			if bases++; bases > 1 {
				return nil, c.errf(ch, ch.Pos, "only one <base/> per section")
			}
			if err := c.attrs(ch); err != nil {
				return nil, err
			}
			if err := c.empty(ch); err != nil {
				return nil, err
			}
		}
		setPaths(n.Children, "")
		d.sections[s] = n
	}
	return d, nil
}

// splice returns the effective statements of section s for a scope whose
// document is d, given the parent's effective statements. <base/> is
// replaced by the parent's; without <base/> the parent's do not run. An
// absent section inherits the parent's unchanged.
func splice(d *document, s section, parent []*Node) []*Node {
	if d == nil {
		return parent
	}
	sec := d.sections[s]
	if sec == nil {
		return parent
	}
	var out []*Node
	for _, n := range sec.Children {
		if n.Name == "base" {
			out = append(out, parent...)
			continue
		}
		out = append(out, n)
	}
	return out
}

type compiler struct {
	opt     Options
	section section
	// inReturn is set while compiling the children of return-response.
	inReturn bool
	// memo shares the statements of nodes that several routes splice in.
	memo map[memoKey]statement
	// keySources collects the openid-config URLs of all policies.
	keySources []string
	// warnings are load-time remarks that do not stop the plugin.
	warnings []string
	// certs is the compiled clientCertificates setting.
	certs *clientCerts
	// subs are the compiled products and subscriptions (nil: none).
	subs *subscriptions
	// tokenRequests are the managed-identity tokens known at load time.
	tokenRequests []TokenRequest
}

type memoKey struct {
	n *Node
	s section
}

func (c *compiler) errf(n *Node, pos Pos, format string, args ...any) error {
	doc := n.Doc
	if doc == "" {
		doc = c.opt.Doc
	}
	return &ConfigError{Doc: doc, Pos: pos, Element: n.Name, Msg: fmt.Sprintf(format, args...)}
}

// program compiles the effective sections of one route.
func (c *compiler) program(effective map[section][]*Node) (*Program, error) {
	p := &Program{certs: c.certs, now: c.opt.Now}
	for _, e := range sectionOrder {
		c.section = e.s
		body, err := c.statements(effective[e.s])
		if err != nil {
			return nil, err
		}
		switch e.s {
		case inbound:
			p.inbound = body
			for _, st := range body {
				if f, ok := st.(firstResponder); ok {
					p.first = f
					break
				}
			}
		case backend:
			p.backend = body
		case outbound:
			p.outbound = body
		case onError:
			p.onError = body
		}
	}
	return p, nil
}

// statements compiles a list of sibling policy elements.
func (c *compiler) statements(nodes []*Node) ([]statement, error) {
	var body []statement
	for _, n := range nodes {
		key := memoKey{n, c.section}
		if s, ok := c.memo[key]; ok && !c.inReturn {
			if s != nil {
				body = append(body, s)
			}
			continue
		}
		s, err := c.statement(n)
		if err != nil {
			return nil, err
		}
		if c.memo != nil && !c.inReturn {
			c.memo[key] = s
		}
		if s != nil {
			body = append(body, s)
		}
	}
	return body, nil
}

func (c *compiler) statement(n *Node) (statement, error) {
	el, ok := elements(n.Name)
	if !ok {
		return nil, c.errf(n, n.Pos, "unsupported policy element")
	}
	if el.sections&c.section == 0 {
		return nil, c.errf(n, n.Pos, "not allowed in <%s>", c.section)
	}
	return el.compile(c, n)
}

// block compiles the policy elements inside n (a when, an otherwise).
func (c *compiler) block(n *Node) ([]statement, error) {
	if err := c.noText(n); err != nil {
		return nil, err
	}
	for _, ch := range n.Children {
		if ch.Name == "base" {
			return nil, c.errf(ch, ch.Pos, "<base/> must be a direct child of a section")
		}
	}
	return c.statements(n.Children)
}

type element struct {
	sections section
	// compile returns nil for an element with nothing to do at run time.
	compile func(c *compiler, n *Node) (statement, error)
	// firstOnly: only the first of these in a section applies (a load-time
	// warning names the others).
	firstOnly bool
}

// elements is the table of supported policy elements and their sections.
func elements(name string) (element, bool) {
	switch name {
	case "base":
		return element{sections: anySection, compile: compileBase}, true
	case "authentication-managed-identity":
		return element{sections: inbound, compile: compileManagedIdentity}, true
	case "check-header":
		return element{sections: inbound, compile: compileCheckHeader}, true
	case "check-ip":
		return element{sections: inbound, compile: compileCheckIP}, true
	case "ip-filter":
		return element{sections: inbound, compile: compileIPFilter}, true
	case "cors":
		return element{sections: inbound | outbound, compile: compileCORS, firstOnly: true}, true
	case "choose":
		return element{sections: anySection, compile: compileChoose}, true
	case "forward-request":
		return element{sections: backend, compile: compileForwardRequest}, true
	case "return-response":
		return element{sections: anySection, compile: compileReturnResponse}, true
	case "send-request":
		return element{sections: anySection, compile: compileSendRequest}, true
	case "set-body":
		return element{sections: onError, compile: compileSetBody}, true
	case "set-header":
		return element{sections: anySection, compile: compileSetHeader}, true
	case "set-method":
		return element{sections: inbound | backend, compile: compileSetMethod}, true
	case "set-status":
		return element{sections: outbound | onError, compile: compileSetStatus}, true
	case "set-variable":
		return element{sections: anySection, compile: compileSetVariable}, true
	case "validate-jwt":
		return element{sections: inbound, compile: compileValidateJWT}, true
	case "validate-azure-ad-token":
		return element{sections: inbound, compile: compileValidateAzureADToken}, true
	case "validate-client-certificate":
		return element{sections: inbound, compile: compileValidateClientCertificate}, true
	}
	return element{}, false
}

// meta is what a statement records about its element.
func (c *compiler) meta(n *Node) stmtMeta {
	scope := n.Scope
	if scope == "" {
		scope = "global"
	}
	return stmtMeta{element: n.Name, id: policyID(n), scope: scope, path: n.Path}
}

// compileBase handles a <base/> left after splicing: at global scope it has
// no parent.
func compileBase(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n); err != nil {
		return nil, err
	}
	return nil, c.empty(n)
}

// compileForwardRequest accepts a bare <forward-request/>: forwarding is what
// Envoy does after the filter chain.
//
// # Notes
//
// Its attributes (timeout, follow-redirects, buffering) are refused: route
// timeouts and retries belong to the Envoy route, not to the plugin.
func compileForwardRequest(c *compiler, n *Node) (statement, error) {
	for _, a := range n.Attrs {
		if a.Name != "id" {
			return nil, c.errf(n, a.Pos, "attribute %q is not supported: set timeouts and retries on the Envoy route", a.Name)
		}
	}
	return nil, c.empty(n)
}

// attrs checks that n has only the listed attributes (and id, which every
// policy element may carry).
func (c *compiler) attrs(n *Node, allowed ...string) error {
next:
	for _, a := range n.Attrs {
		if a.Name == "id" {
			continue
		}
		for _, name := range allowed {
			if a.Name == name {
				continue next
			}
		}
		return c.errf(n, a.Pos, "unknown attribute %q", a.Name)
	}
	return nil
}

func (c *compiler) noAttrs(n *Node) error { return c.attrs(n) }

func (c *compiler) noText(n *Node) error {
	if n.Text != "" {
		return c.errf(n, n.TextPos, "unexpected text %q", abbreviate(n.Text))
	}
	return nil
}

// empty checks that n has neither children nor text.
func (c *compiler) empty(n *Node) error {
	if len(n.Children) > 0 {
		ch := n.Children[0]
		return c.errf(n, ch.Pos, "unexpected element <%s>", ch.Name)
	}
	return c.noText(n)
}

// only checks that the children of n are all named one of names.
// leafValue reads an element that holds only text (no attributes, no child
// elements) as a Value.
func (c *compiler) leafValue(n *Node) (Value, error) {
	if err := c.attrs(n); err != nil {
		return Value{}, err
	}
	if len(n.Children) > 0 {
		return Value{}, c.errf(n, n.Children[0].Pos, "unexpected element <%s>", n.Children[0].Name)
	}
	return c.value(n, n.Text, n.TextPos)
}

func (c *compiler) only(n *Node, names ...string) error {
	for _, ch := range n.Children {
		ok := false
		for _, name := range names {
			ok = ok || ch.Name == name
		}
		if !ok {
			return c.errf(n, ch.Pos, "unexpected element <%s> (want <%s>)", ch.Name, strings.Join(names, ">, <"))
		}
	}
	return c.noText(n)
}

func abbreviate(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// required returns the attribute called name or an error naming it.
func (c *compiler) required(n *Node, name string) (Attr, error) {
	a, ok := n.Attr(name)
	if !ok {
		return a, c.errf(n, n.Pos, "missing required attribute %q", name)
	}
	return a, nil
}

// boolAttr reads an optional true/false attribute.
func (c *compiler) boolAttr(n *Node, name string, def bool) (bool, error) {
	a, ok := n.Attr(name)
	if !ok {
		return def, nil
	}
	v, err := c.constant(n, a)
	if err != nil {
		return false, err
	}
	b, err := parseBool(v)
	if err != nil {
		return false, c.errf(n, a.Pos, "attribute %q must be true or false, not %q", name, v)
	}
	return b, nil
}

// statusAttr reads an HTTP status code attribute.
func (c *compiler) statusAttr(n *Node, a Attr) (int, error) {
	v, err := c.constant(n, a)
	if err != nil {
		return 0, err
	}
	return c.statusCode(n, a, v)
}

func (c *compiler) statusCode(n *Node, a Attr, v string) (int, error) {
	code, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || code < 100 || code > 599 {
		return 0, c.errf(n, a.Pos, "attribute %q must be an HTTP status code from 100 to 599, not %q", a.Name, v)
	}
	return code, nil
}

// secondsAttr reads an attribute that must be a constant whole number of
// seconds from lo to hi.
func (c *compiler) secondsAttr(n *Node, a Attr, lo, hi int) (int, error) {
	v, err := c.constant(n, a)
	if err != nil {
		return 0, err
	}
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || secs < lo || secs > hi {
		return 0, c.errf(n, a.Pos, "attribute %q must be whole seconds from %d to %d, not %q", a.Name, lo, hi, v)
	}
	return secs, nil
}

// constant compiles an attribute that must be known at load time.
func (c *compiler) constant(n *Node, a Attr) (string, error) {
	v, err := c.value(n, a.Value, a.ValuePos)
	if err != nil {
		return "", err
	}
	if !v.IsConst() {
		return "", c.errf(n, a.Pos, "attribute %q must be a constant or a named value", a.Name)
	}
	return v.Const(), nil
}

// attrValue compiles an attribute that may hold an expression.
func (c *compiler) attrValue(n *Node, a Attr) (Value, error) {
	return c.value(n, a.Value, a.ValuePos)
}

// policyID returns n's id attribute.
func policyID(n *Node) string {
	a, _ := n.Attr("id")
	return a.Value
}

// itemValues compiles the <item> children of a list element (audiences,
// allowed-origins, ...); the list itself may carry listAttrs.
func (c *compiler) itemValues(n *Node, item string, listAttrs ...string) ([]Value, error) {
	if err := c.attrs(n, listAttrs...); err != nil {
		return nil, err
	}
	if err := c.only(n, item); err != nil {
		return nil, err
	}
	var out []Value
	for _, ch := range n.Children {
		v, err := c.leafValue(ch)
		if err != nil {
			return nil, err
		}
		if v.IsConst() && strings.TrimSpace(v.Const()) == "" {
			return nil, c.errf(ch, ch.Pos, "empty <%s>", item)
		}
		out = append(out, v)
	}
	return out, nil
}

// itemConstants is itemValues for lists that must be known at load time.
func (c *compiler) itemConstants(n *Node, item string, listAttrs ...string) ([]string, error) {
	vals, err := c.itemValues(n, item, listAttrs...)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(vals))
	for i := range vals {
		if !vals[i].IsConst() {
			ch := n.Children[i]
			return nil, c.errf(ch, ch.Pos, "<%s> must be a constant or a named value", item)
		}
		out[i] = strings.TrimSpace(vals[i].Const())
	}
	return out, nil
}

// methodText reads an element whose text is an HTTP method: set-method, as
// a policy or inside send-request.
func (c *compiler) methodText(n *Node) (string, error) {
	if err := c.attrs(n); err != nil {
		return "", err
	}
	if len(n.Children) > 0 {
		return "", c.errf(n, n.Children[0].Pos, "unexpected element <%s>", n.Children[0].Name)
	}
	v, err := c.value(n, n.Text, n.TextPos)
	if err != nil {
		return "", err
	}
	if !v.IsConst() {
		return "", c.errf(n, n.TextPos, "the method must be a constant or a named value")
	}
	m := strings.ToUpper(strings.TrimSpace(v.Const()))
	if !validHeaderName(m) {
		return "", c.errf(n, n.Pos, "set-method needs an HTTP method, not %q", abbreviate(n.Text))
	}
	return m, nil
}
