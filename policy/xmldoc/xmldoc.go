// Package xmldoc reads APIM policy documents: XML as APIM stores it
// ("rawxml"), where C# expressions inside @(...) and @{...} keep their
// quotes and angle brackets unescaped. It knows nothing of the policies
// themselves; policy compiles what it reads.
package xmldoc

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pos is a 1-based line and column (in characters) inside a policy document.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }

// Node is one element of a policy document.
type Node struct {
	Name     string
	Pos      Pos // position of the '<' of the start tag
	Attrs    []Attr
	Children []*Node
	// Text is the character data directly inside the element, with entities
	// decoded and comments removed. Expressions (@(...), @{...}) are kept verbatim.
	Text    string
	TextPos Pos // position of the first non-space character of Text
	// Doc names the document the element comes from, and Scope its scope
	// (global, api or operation); they survive <base/> splicing.
	Doc, Scope string
	// Path locates a policy element inside its section, for
	// LastError.Path: choose[1]/when[2]/check-header[1].
	Path string
	// Via is where the element's fragment was included (doc:line:col)
	// when it comes from a policy fragment; empty otherwise.
	Via string
}

// Attr is one attribute of a Node.
type Attr struct {
	Name  string
	Value string
	Pos   Pos // position of the attribute name
	// ValuePos is the position of the first character of the value.
	ValuePos Pos
}

// Attr returns the attribute called name.
func (n *Node) Attr(name string) (Attr, bool) {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a, true
		}
	}
	return Attr{}, false
}

// ParseError is a syntax error in a policy document. Element names the
// element it is in, when the reader knows it.
type ParseError struct {
	Pos     Pos
	Element string
	Msg     string
}

// Bounds on a policy document, so that reading and compiling one is linear
// in its size and never exhausts the VM's stack or memory (RATIONALE.md,
// "Why are there load-time limits?").
const (
	// MaxDocumentSize is the largest policy document, in bytes.
	MaxDocumentSize = 1 << 20
	// MaxElementDepth is how deep elements may nest, <policies> counting
	// as the first level.
	MaxElementDepth = 32
)

func (e *ParseError) Error() string { return e.Pos.String() + ": " + e.Msg }

// Parse reads an APIM policy document.
//
// APIM stores policies as "rawxml": inside @(...) and @{...} expressions,
// quotes and angle brackets are routinely left unescaped, for example
// condition="@(context.Request.Method == "POST")" or @{ x.As<JObject>() }.
// A stock XML parser rejects those documents, so this reader delimits
// expressions by balancing brackets while respecting C# string and character
// literals, and treats the escaped forms (&quot;, &lt;, ...) the same way.
// The seed's {{context.Variables["name"]}} form is read the same way inside
// attribute values. See RATIONALE.md, "Why our own XML reader?".
func Parse(src string) (*Node, error) {
	if len(src) > MaxDocumentSize {
		return nil, &ParseError{Pos: Pos{1, 1}, Msg: fmt.Sprintf("the document has %d bytes, more than the %d allowed", len(src), MaxDocumentSize)}
	}
	p := &reader{src: src}
	p.lineStarts = append(p.lineStarts, 0)
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			p.lineStarts = append(p.lineStarts, i+1)
		}
	}
	if strings.HasPrefix(src, "\ufeff") {
		p.i = len("\ufeff")
	}
	if err := p.misc(true); err != nil {
		return nil, err
	}
	if p.eof() || p.src[p.i] != '<' {
		return nil, p.errAt(p.i, "expected a root element")
	}
	root, err := p.element()
	if err != nil {
		return nil, err
	}
	if err := p.misc(false); err != nil {
		return nil, err
	}
	if !p.eof() {
		return nil, p.errAt(p.i, "unexpected content after the root element")
	}
	return root, nil
}

type reader struct {
	src        string
	i          int
	lineStarts []int
	depth      int // elements open
	// The last position computed: most positions are asked for in
	// document order, so counting from the last one keeps a long line
	// linear instead of counting from its start every time.
	lastOff int
	lastPos Pos
}

func (p *reader) eof() bool { return p.i >= len(p.src) }

func (p *reader) pos(off int) Pos {
	if off > len(p.src) {
		off = len(p.src)
	}
	line := sort.Search(len(p.lineStarts), func(k int) bool { return p.lineStarts[k] > off })
	from, col := p.lineStarts[line-1], 1
	if p.lastPos.Line == line && p.lastOff <= off {
		from, col = p.lastOff, p.lastPos.Col
	}
	pos := Pos{Line: line, Col: col + utf8.RuneCountInString(p.src[from:off])}
	p.lastOff, p.lastPos = off, pos
	return pos
}

func (p *reader) errAt(off int, format string, args ...any) error {
	return &ParseError{Pos: p.pos(off), Msg: fmt.Sprintf(format, args...)}
}

func (p *reader) has(prefix string) bool { return strings.HasPrefix(p.src[p.i:], prefix) }

func (p *reader) skipSpace() {
	for !p.eof() && isSpace(p.src[p.i]) {
		p.i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// misc skips white space, comments and (before the root only) an XML declaration.
func (p *reader) misc(prolog bool) error {
	for {
		p.skipSpace()
		switch {
		case p.has("<!--"):
			if err := p.comment(); err != nil {
				return err
			}
		case prolog && p.has("<?"):
			end := strings.Index(p.src[p.i:], "?>")
			if end < 0 {
				return p.errAt(p.i, "unterminated processing instruction")
			}
			p.i += end + 2
		case p.has("<!"):
			return p.errAt(p.i, "DOCTYPE and other declarations are not allowed")
		default:
			return nil
		}
	}
}

func (p *reader) comment() error {
	end := strings.Index(p.src[p.i+4:], "-->")
	if end < 0 {
		return p.errAt(p.i, "unterminated comment")
	}
	p.i += 4 + end + 3
	return nil
}

func isNameByte(c byte) bool {
	return c == '-' || c == '_' || c == ':' || c == '.' ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c >= 0x80
}

func (p *reader) name() (string, error) {
	start := p.i
	for !p.eof() && isNameByte(p.src[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", p.errAt(start, "expected a name")
	}
	if c := p.src[start]; c == '-' || c == '.' || ('0' <= c && c <= '9') {
		return "", p.errAt(start, "invalid name %q", p.src[start:p.i])
	}
	return p.src[start:p.i], nil
}

// element reads an element starting at '<'.
func (p *reader) element() (*Node, error) {
	start := p.i
	p.i++ // '<'
	name, err := p.name()
	if err != nil {
		return nil, err
	}
	n := &Node{Name: name, Pos: p.pos(start)}
	if p.depth++; p.depth > MaxElementDepth {
		return nil, &ParseError{Pos: n.Pos, Element: name, Msg: fmt.Sprintf("elements nested deeper than %d levels", MaxElementDepth)}
	}
	defer func() { p.depth-- }()
	for {
		hadSpace := !p.eof() && isSpace(p.src[p.i])
		p.skipSpace()
		if p.eof() {
			return nil, p.errAt(start, "unterminated start tag <%s>", name)
		}
		if p.has("/>") {
			p.i += 2
			return n, nil
		}
		if p.src[p.i] == '>' {
			p.i++
			break
		}
		if !hadSpace {
			return nil, inElement(p.errAt(p.i, "expected white space before attribute in <%s>", name), name)
		}
		a, err := p.attribute(name)
		if err != nil {
			return nil, inElement(err, name)
		}
		if _, dup := n.Attr(a.Name); dup {
			return nil, &ParseError{Pos: a.Pos, Msg: fmt.Sprintf("duplicate attribute %q in <%s>", a.Name, name)}
		}
		n.Attrs = append(n.Attrs, a)
	}
	return n, inElement(p.content(n), name)
}

// inElement names the element a syntax error is in, unless a nested
// element already did.
func inElement(err error, name string) error {
	if pe, ok := err.(*ParseError); ok && pe.Element == "" {
		pe.Element = name
	}
	return err
}

func (p *reader) attribute(elem string) (Attr, error) {
	a := Attr{Pos: p.pos(p.i)}
	name, err := p.name()
	if err != nil {
		return a, err
	}
	a.Name = name
	p.skipSpace()
	if p.eof() || p.src[p.i] != '=' {
		return a, p.errAt(p.i, "expected '=' after attribute %q of <%s>", name, elem)
	}
	p.i++
	p.skipSpace()
	if p.eof() || (p.src[p.i] != '"' && p.src[p.i] != '\'') {
		return a, p.errAt(p.i, "expected a quoted value for attribute %q of <%s>", name, elem)
	}
	q := p.src[p.i]
	p.i++
	a.ValuePos = p.pos(p.i)
	// White space before an expression is allowed (APIM trims it).
	lead := p.i
	for lead < len(p.src) && isSpace(p.src[lead]) {
		lead++
	}
	if strings.HasPrefix(p.src[lead:], "@(") || strings.HasPrefix(p.src[lead:], "@{") {
		p.i = lead
		a.ValuePos = p.pos(p.i)
	}
	if p.has("@(") || p.has("@{") {
		v, err := p.expression()
		if err != nil {
			return a, err
		}
		p.skipSpace()
		if p.eof() || p.src[p.i] != q {
			return a, p.errAt(p.i, "expected %c to close attribute %q of <%s> after its expression", q, name, elem)
		}
		p.i++
		a.Value = v
		return a, nil
	}
	var b strings.Builder
	for {
		if p.eof() {
			return a, p.errAt(p.i, "unterminated value of attribute %q of <%s>", name, elem)
		}
		c := p.src[p.i]
		switch {
		case c == q:
			p.i++
			a.Value = b.String()
			return a, nil
		case c == '<':
			return a, p.errAt(p.i, "'<' must be written &lt; in attribute %q of <%s>", name, elem)
		case c == '&':
			r, err := p.entity()
			if err != nil {
				return a, err
			}
			b.WriteString(r)
		case p.has("{{"):
			// {{context.Variables["x"]}} may carry the attribute's own quote.
			end := strings.Index(p.src[p.i:], "}}")
			if end < 0 {
				return a, p.errAt(p.i, "unterminated {{ in attribute %q of <%s>", name, elem)
			}
			b.WriteString(p.src[p.i : p.i+end+2])
			p.i += end + 2
		default:
			b.WriteByte(c)
			p.i++
		}
	}
}

// content reads the children and text of n up to and including its end tag.
func (p *reader) content(n *Node) error {
	var text strings.Builder
	textStart := -1
	markText := func(off int) {
		if textStart < 0 {
			textStart = off
		}
	}
	for {
		if p.eof() {
			return p.errAt(p.i, "element <%s> opened at %s is not closed", n.Name, n.Pos)
		}
		switch {
		case p.has("</"):
			p.i += 2
			name, err := p.name()
			if err != nil {
				return err
			}
			if name != n.Name {
				return p.errAt(p.i-len(name), "end tag </%s> does not match <%s> opened at %s", name, n.Name, n.Pos)
			}
			p.skipSpace()
			if p.eof() || p.src[p.i] != '>' {
				return p.errAt(p.i, "expected '>' to close </%s>", name)
			}
			p.i++
			if textStart >= 0 && strings.TrimSpace(text.String()) != "" {
				n.Text = strings.TrimSpace(text.String())
				n.TextPos = p.pos(textStart)
			}
			return nil
		case p.has("<!--"):
			if err := p.comment(); err != nil {
				return err
			}
		case p.has("<![CDATA["):
			end := strings.Index(p.src[p.i:], "]]>")
			if end < 0 {
				return p.errAt(p.i, "unterminated CDATA section")
			}
			markText(p.i + 9)
			text.WriteString(p.src[p.i+9 : p.i+end])
			p.i += end + 3
		case p.has("<?") || p.has("<!"):
			return p.errAt(p.i, "unexpected markup inside <%s>", n.Name)
		case p.src[p.i] == '<':
			child, err := p.element()
			if err != nil {
				return err
			}
			n.Children = append(n.Children, child)
		default:
			if err := p.charData(&text, markText); err != nil {
				return err
			}
		}
	}
}

// charData reads text up to the next '<', reading an expression whole when
// the text starts with one.
func (p *reader) charData(b *strings.Builder, markText func(int)) error {
	for !p.eof() && isSpace(p.src[p.i]) {
		b.WriteByte(p.src[p.i])
		p.i++
	}
	if p.has("@(") || p.has("@{") {
		markText(p.i)
		v, err := p.expression()
		if err != nil {
			return err
		}
		b.WriteString(v)
	}
	for !p.eof() && p.src[p.i] != '<' {
		c := p.src[p.i]
		if !isSpace(c) {
			markText(p.i)
		}
		if c == '&' {
			r, err := p.entity()
			if err != nil {
				return err
			}
			b.WriteString(r)
			continue
		}
		b.WriteByte(c)
		p.i++
	}
	return nil
}

// entity decodes the character or entity reference at p.i.
func (p *reader) entity() (string, error) {
	r, n := decodeEntity(p.src[p.i:])
	if n == 0 {
		return "", p.errAt(p.i, "'&' must be written &amp; or start a character reference")
	}
	p.i += n
	return r, nil
}

// decodeEntity decodes an XML entity or character reference at the start of s.
// It returns n == 0 when s does not start with one.
func decodeEntity(s string) (r string, n int) {
	if len(s) > 12 {
		s = s[:12] // the longest reference, &#x10FFFF;, has 10 bytes
	}
	end := strings.IndexByte(s, ';')
	if end < 2 || end > 10 {
		return "", 0
	}
	switch ref := s[1:end]; ref {
	case "quot":
		return `"`, end + 1
	case "apos":
		return "'", end + 1
	case "lt":
		return "<", end + 1
	case "gt":
		return ">", end + 1
	case "amp":
		return "&", end + 1
	default:
		if ref[0] != '#' {
			return "", 0
		}
		var v uint64
		var err error
		if len(ref) > 1 && (ref[1] == 'x' || ref[1] == 'X') {
			v, err = strconv.ParseUint(ref[2:], 16, 32)
		} else {
			v, err = strconv.ParseUint(ref[1:], 10, 32)
		}
		if err != nil || v == 0 || v > utf8.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
			return "", 0
		}
		return string(rune(v)), end + 1
	}
}
