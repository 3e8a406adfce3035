package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Options tune Compile.
type Options struct {
	// Doc names the document in errors, for example "policy".
	Doc string
	// NamedValue resolves {{name}}. A reference to a name it does not know
	// is a compile error.
	NamedValue func(name string) (string, bool)
}

// Compile parses and compiles one <policies> document.
func Compile(src string, opt Options) (*Program, error) {
	if opt.Doc == "" {
		opt.Doc = "policy"
	}
	root, err := ParseDocument(src)
	if err != nil {
		if pe, ok := err.(*ParseError); ok {
			return nil, &ConfigError{Doc: opt.Doc, Pos: pe.Pos, Msg: pe.Msg}
		}
		return nil, err
	}
	c := &compiler{opt: opt}
	return c.program(root)
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

var sectionNames = map[string]section{"inbound": inbound, "backend": backend, "outbound": outbound, "on-error": onError}

func (s section) String() string {
	for name, v := range sectionNames {
		if v == s {
			return name
		}
	}
	return "section"
}

type compiler struct {
	opt     Options
	section section
}

func (c *compiler) errf(n *Node, pos Pos, format string, args ...any) error {
	return &ConfigError{Doc: c.opt.Doc, Pos: pos, Element: n.Name, Msg: fmt.Sprintf(format, args...)}
}

func (c *compiler) program(root *Node) (*Program, error) {
	if root.Name != "policies" {
		return nil, c.errf(root, root.Pos, "the root element must be <policies>")
	}
	if err := c.noAttrs(root); err != nil {
		return nil, err
	}
	if err := c.noText(root); err != nil {
		return nil, err
	}
	p := &Program{}
	seen := section(0)
	for _, n := range root.Children {
		s, ok := sectionNames[n.Name]
		if !ok {
			return nil, c.errf(n, n.Pos, "unknown section (want inbound, backend, outbound or on-error)")
		}
		if seen&s != 0 {
			return nil, c.errf(n, n.Pos, "duplicate section")
		}
		seen |= s
		if err := c.noAttrs(n); err != nil {
			return nil, err
		}
		c.section = s
		body, err := c.block(n)
		if err != nil {
			return nil, err
		}
		switch s {
		case inbound:
			p.inbound = body
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

// block compiles the policy elements inside n.
func (c *compiler) block(n *Node) ([]statement, error) {
	if err := c.noText(n); err != nil {
		return nil, err
	}
	var body []statement
	for _, child := range n.Children {
		el, ok := elements(child.Name)
		if !ok {
			return nil, c.errf(child, child.Pos, "unsupported policy element")
		}
		if el.sections&c.section == 0 {
			return nil, c.errf(child, child.Pos, "not allowed in <%s>", c.section)
		}
		s, err := el.compile(c, child)
		if err != nil {
			return nil, err
		}
		if s != nil {
			body = append(body, s)
		}
	}
	return body, nil
}

type element struct {
	sections section
	// compile returns nil for an element with nothing to do at run time.
	compile func(c *compiler, n *Node) (statement, error)
}

// elements is the table of supported policy elements.
func elements(name string) (element, bool) {
	switch name {
	case "base":
		return element{anySection, compileBase}, true
	case "check-header":
		return element{inbound, compileCheckHeader}, true
	case "forward-request":
		return element{backend, compileForwardRequest}, true
	case "set-variable":
		return element{anySection, compileSetVariable}, true
	}
	return element{}, false
}

// compileBase handles <base/>. At global scope it has no parent to splice.
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
	if len(n.Attrs) > 0 {
		a := n.Attrs[0]
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

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
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
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, c.errf(n, a.Pos, "attribute %q must be true or false, not %q", name, v)
}

// statusAttr reads an HTTP status code attribute.
func (c *compiler) statusAttr(n *Node, a Attr) (int, error) {
	v, err := c.constant(n, a)
	if err != nil {
		return 0, err
	}
	code, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || code < 100 || code > 599 {
		return 0, c.errf(n, a.Pos, "attribute %q must be an HTTP status code from 100 to 599, not %q", a.Name, v)
	}
	return code, nil
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

// policyID returns n's id attribute.
func policyID(n *Node) string {
	a, _ := n.Attr("id")
	return a.Value
}
