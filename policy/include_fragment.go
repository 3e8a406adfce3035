package policy

import "strings"

// include-fragment inserts a policy fragment, as it is, where it stands:
// apimguard expands it when the documents are read, so what it includes is
// checked and compiled like the policies written in its place. Fragments
// are given in the configuration (Config.Fragments: id → "<fragment>…
// </fragment>").
// Reference: https://learn.microsoft.com/azure/api-management/include-fragment-policy
// and https://learn.microsoft.com/azure/api-management/policy-fragments
//
// # Notes
//
//   - fragment-id is a constant (APIM allows no expression); an unknown id
//     is a load-time error.
//   - A fragment is a <fragment> root holding policy elements: no section
//     (<inbound>, ...), no <base/>, and, as in APIM, no include-fragment
//     (fragments do not nest, so they cannot loop).
//   - Its elements keep their own document (fragments.ID) and line in
//     errors, with where they were included; they share context.Variables
//     with the including policy.
//   - Bounded: each fragment by the document bound, the inclusions of one
//     configuration by maxInclusions and the elements they add by
//     maxIncludedElements.

// Bounds on fragment expansion: a configuration cannot multiply itself
// into memory by including a large fragment many times.
const (
	maxInclusions       = 4096
	maxIncludedElements = 1 << 17
)

// fragmentSet is the configured fragments, read at their first inclusion.
type fragmentSet struct {
	src    map[string]string
	parsed map[string]*Node
	// inclusions and elements count what expansion added so far.
	inclusions, elements int
}

// expand returns nodes with every include-fragment, at any depth, replaced
// by a copy of its fragment's elements.
func (f *fragmentSet) expand(c *compiler, nodes []*Node) ([]*Node, error) {
	var out []*Node
	for i, n := range nodes {
		if n.Name != "include-fragment" {
			if len(n.Children) > 0 {
				children, err := f.expand(c, n.Children)
				if err != nil {
					return nil, err
				}
				n.Children = children
			}
			if out != nil {
				out = append(out, n)
			}
			continue
		}
		if out == nil {
			out = append(make([]*Node, 0, len(nodes)), nodes[:i]...)
		}
		included, err := f.include(c, n)
		if err != nil {
			return nil, err
		}
		out = append(out, included...)
	}
	if out == nil {
		return nodes, nil
	}
	return out, nil
}

// include reads one include-fragment and returns its fragment's elements,
// copied and marked with where they were included.
func (f *fragmentSet) include(c *compiler, n *Node) ([]*Node, error) {
	if err := c.attrs(n, "fragment-id"); err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	a, err := c.required(n, "fragment-id")
	if err != nil {
		return nil, err
	}
	id := strings.TrimSpace(a.Value)
	if strings.HasPrefix(id, "@") {
		return nil, c.errf(n, a.ValuePos, "attribute \"fragment-id\" takes no policy expression")
	}
	root, err := f.fragment(c, n, id)
	if err != nil {
		return nil, err
	}
	if f.inclusions++; f.inclusions > maxInclusions {
		return nil, c.errf(n, n.Pos, "more than %d fragment inclusions in the configuration", maxInclusions)
	}
	via := n.Doc + ":" + n.Pos.String()
	out := make([]*Node, len(root.Children))
	for i, ch := range root.Children {
		if out[i], err = f.copy(c, n, ch, n.Scope, via); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fragment returns the parsed fragment id, reading it at its first use.
func (f *fragmentSet) fragment(c *compiler, at *Node, id string) (*Node, error) {
	if root, ok := f.parsed[id]; ok {
		return root, nil
	}
	src, ok := f.src[id]
	if !ok {
		return nil, c.errf(at, at.Pos, "unknown fragment %q (configured: %s)", id, keyList(f.src))
	}
	doc := "fragments." + id
	root, err := ParseDocument(src)
	if err != nil {
		if pe, ok := err.(*ParseError); ok {
			return nil, &ConfigError{Doc: doc, Pos: pe.Pos, Element: pe.Element, Msg: pe.Msg + " (included at " + at.Doc + ":" + at.Pos.String() + ")"}
		}
		return nil, err
	}
	via := at.Doc + ":" + at.Pos.String()
	mark(root, doc, via)
	if root.Name != "fragment" {
		return nil, c.errf(root, root.Pos, "the root element of a fragment must be <fragment>")
	}
	if err := c.noAttrs(root); err != nil {
		return nil, err
	}
	if err := c.noText(root); err != nil {
		return nil, err
	}
	if err := f.check(c, root.Children); err != nil {
		return nil, err
	}
	if f.parsed == nil {
		f.parsed = map[string]*Node{}
	}
	f.parsed[id] = root
	return root, nil
}

// check refuses what a fragment cannot hold, at any depth.
func (f *fragmentSet) check(c *compiler, nodes []*Node) error {
	for _, n := range nodes {
		switch _, section := sectionByName(n.Name); {
		case section:
			return c.errf(n, n.Pos, "a fragment cannot hold a policy section")
		case n.Name == "base":
			return c.errf(n, n.Pos, "a fragment cannot hold <base/>")
		case n.Name == "include-fragment":
			return c.errf(n, n.Pos, "a fragment cannot include another fragment (APIM does not nest fragments)")
		}
		if err := f.check(c, n.Children); err != nil {
			return err
		}
	}
	return nil
}

// copy copies n (and what is inside it) for one inclusion: the including
// document's scope, and where it was included.
func (f *fragmentSet) copy(c *compiler, at, n *Node, scope, via string) (*Node, error) {
	if f.elements++; f.elements > maxIncludedElements {
		return nil, c.errf(at, at.Pos, "fragments add more than %d elements to the configuration", maxIncludedElements)
	}
	cp := *n
	cp.Scope, cp.Via = scope, via
	cp.Attrs = append([]Attr(nil), n.Attrs...)
	cp.Children = nil
	for _, ch := range n.Children {
		chc, err := f.copy(c, at, ch, scope, via)
		if err != nil {
			return nil, err
		}
		cp.Children = append(cp.Children, chc)
	}
	return &cp, nil
}

// mark records a fragment's document name and the site of its first
// inclusion on n and everything inside it.
func mark(n *Node, doc, via string) {
	n.Doc, n.Via = doc, via
	for _, c := range n.Children {
		mark(c, doc, via)
	}
}
