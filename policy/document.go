package policy

// The policy document as the engine reads it: policy/xmldoc reads the XML;
// these are its types under the names the element compilers use.

import (
	"strconv"

	"github.com/apimguard/apimguard/policy/xmldoc"
)

type (
	// Pos is a 1-based line and column (in characters) inside a document.
	Pos = xmldoc.Pos
	// Node is one element of a policy document.
	Node = xmldoc.Node
	// Attr is one attribute of a Node.
	Attr = xmldoc.Attr
	// ParseError is a syntax error in a policy document.
	ParseError = xmldoc.ParseError
)

// Bounds on a policy document (xmldoc).
const (
	MaxDocumentSize = xmldoc.MaxDocumentSize
	MaxElementDepth = xmldoc.MaxElementDepth
)

// ParseDocument reads an APIM policy document (xmldoc.Parse).
func ParseDocument(src string) (*Node, error) { return xmldoc.Parse(src) }

// setPaths gives every element under a section its Path: its name and its
// position among siblings of that name, below its parent's path.
func setPaths(children []*Node, prefix string) {
	seen := map[string]int{}
	for _, c := range children {
		seen[c.Name]++
		c.Path = prefix + c.Name + "[" + strconv.Itoa(seen[c.Name]) + "]"
		setPaths(c.Children, c.Path+"/")
	}
}

// stamp records the document and scope of n and everything inside it.
func stamp(n *Node, doc, scope string) {
	n.Doc, n.Scope = doc, scope
	for _, c := range n.Children {
		stamp(c, doc, scope)
	}
}
