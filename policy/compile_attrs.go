package policy

// The readers of attributes and children every element compiler uses:
// allowed names, required ones, booleans, status codes, seconds, constants
// and expressions, lists of items.

import (
	"strconv"
	"strings"
)

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

// only checks that the children of n are all named one of names.
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

// requiredValue reads the attribute called name as a Value (a constant, a
// named value or an expression), or an error naming it.
func (c *compiler) requiredValue(n *Node, name string) (Value, error) {
	a, err := c.required(n, name)
	if err != nil {
		return Value{}, err
	}
	return c.value(n, a.Value, a.ValuePos)
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
