package xmldoc

import (
	"errors"
	"testing"
)

func TestParseDocument_relaxedQuoting(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantAttr string // value of the root's attribute "a"
		wantText string // text of the root's first child
	}{
		{
			name:     "raw quotes in a condition",
			in:       `<r a="@(context.Request.Method == "DELETE")"><c/></r>`,
			wantAttr: `@(context.Request.Method == "DELETE")`,
		},
		{
			name:     "escaped quotes are the same expression",
			in:       `<r a="@(context.Request.Method == &quot;DELETE&quot;)"><c/></r>`,
			wantAttr: `@(context.Request.Method == "DELETE")`,
		},
		{
			name:     "single-quoted attribute holding double quotes",
			in:       `<r a='@(x == "y")'><c/></r>`,
			wantAttr: `@(x == "y")`,
		},
		{
			name:     "generic type argument and && in text",
			in:       `<r a="1"><c>@{ var o = r.Body.As<JObject>(); return o != null && o["x"] == "1"; }</c></r>`,
			wantAttr: "1",
			wantText: `@{ var o = r.Body.As<JObject>(); return o != null && o["x"] == "1"; }`,
		},
		{
			name:     "escaped && and <",
			in:       `<r a="@(a &amp;&amp; b &lt; c)"><c/></r>`,
			wantAttr: `@(a && b < c)`,
		},
		{
			name:     "parenthesis inside a string does not close",
			in:       `<r a="@(x.Split(')').Last())"><c/></r>`,
			wantAttr: `@(x.Split(')').Last())`,
		},
		{
			name:     "string containing a close paren and a quote escape",
			in:       `<r a="@("a)\"b" + "c")"><c/></r>`,
			wantAttr: `@("a)\"b" + "c")`,
		},
		{
			name:     "verbatim string with doubled quotes",
			in:       `<r a="@(@"a "")" + x)"><c/></r>`,
			wantAttr: `@(@"a "")" + x)`,
		},
		{
			name:     "interpolated string with nested expression",
			in:       `<r a="1"><c>@($"Bearer {(string)context.Variables["t"]} )")</c></r>`,
			wantAttr: "1",
			wantText: `@($"Bearer {(string)context.Variables["t"]} )")`,
		},
		{
			name:     "seed variable reference in text",
			in:       `<r a="1"><value>{{context.Variables["allowedKey"]}}</value></r>`,
			wantAttr: "1",
			wantText: `{{context.Variables["allowedKey"]}}`,
		},
		{
			name:     "seed variable reference in an attribute",
			in:       `<r a="{{context.Variables["k"]}}"><c/></r>`,
			wantAttr: `{{context.Variables["k"]}}`,
		},
		{
			name:     "entities and CDATA in text",
			in:       `<r a="&lt;&#65;&#x42;&gt;"><c>x &amp; <![CDATA[<y>]]> z<!-- no --></c></r>`,
			wantAttr: "<AB>",
			wantText: "x & <y> z",
		},
		{
			name:     "prolog, comments and BOM",
			in:       "\ufeff<?xml version=\"1.0\"?>\n<!-- top -->\n<r a=\"v\"><c/></r>\n<!-- end -->\n",
			wantAttr: "v",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := n.Attr("a")
			if a.Value != tc.wantAttr {
				t.Errorf("attribute = %q, want %q", a.Value, tc.wantAttr)
			}
			if len(n.Children) != 1 {
				t.Fatalf("children = %d, want 1", len(n.Children))
			}
			if got := n.Children[0].Text; got != tc.wantText {
				t.Errorf("text = %q, want %q", got, tc.wantText)
			}
		})
	}
}

func TestParseDocument_positions(t *testing.T) {
	doc := "<policies>\n  <inbound>\n    <check-header  name=\"x\">\n      <value>é v</value>\n    </check-header>\n  </inbound>\n</policies>"
	n, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	ch := n.Children[0].Children[0]
	if ch.Pos != (Pos{3, 5}) {
		t.Errorf("element at %v, want 3:5", ch.Pos)
	}
	if a := ch.Attrs[0]; a.Pos != (Pos{3, 20}) || a.ValuePos != (Pos{3, 26}) {
		t.Errorf("attribute at %v, value at %v; want 3:20 and 3:26", a.Pos, a.ValuePos)
	}
	if v := ch.Children[0]; v.TextPos != (Pos{4, 14}) || v.Text != "é v" {
		t.Errorf("text %q at %v, want %q at 4:14", v.Text, v.TextPos, "é v")
	}
}

func TestParseDocument_errors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "1:1: expected a root element"},
		{"unclosed root", "<policies>\n<inbound>", "2:10: element <inbound> opened at 2:1 is not closed"},
		{"mismatched end", "<a><b></a>", "1:9: end tag </a> does not match <b> opened at 1:4"},
		{"duplicate attribute", `<a x="1" x="2"/>`, `1:10: duplicate attribute "x" in <a>`},
		{"unquoted value", `<a x=1/>`, `1:6: expected a quoted value for attribute "x" of <a>`},
		{"bare ampersand in text", "<a>b & c</a>", "1:6: '&' must be written &amp; or start a character reference"},
		{"raw < in plain attribute", `<a x="1<2"/>`, `1:8: '<' must be written &lt; in attribute "x" of <a>`},
		{"unclosed expression", `<a x="@(foo("bar")`, `1:7: expression is not closed: missing ')'`},
		{"quote after unbalanced parens opens a string", `<a x="@(foo("bar")"/>`, `1:7: unterminated string literal in expression`},
		{"unterminated string in expression", `<a>@(x == "abc)</a>`, `1:4: unterminated string literal in expression`},
		{"junk after expression", `<a x="@(1) 2"/>`, `1:12: expected " to close attribute "x" of <a> after its expression`},
		{"doctype", `<!DOCTYPE a><a/>`, `1:1: DOCTYPE and other declarations are not allowed`},
		{"two roots", `<a/><b/>`, `1:5: unexpected content after the root element`},
		{"attribute without space", `<a x="1"y="2"/>`, `1:9: expected white space before attribute in <a>`},
		{"bad character reference", `<a>&#0;</a>`, `1:4: '&' must be written &amp; or start a character reference`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("err = %q\nwant  %q", err, tc.want)
			}
		})
	}
}

// FuzzParseDocument: the reader never panics or loops, and whatever it
// accepts has element names and positions inside the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`<policies><inbound><check-header name="x" failed-check-httpcode="403"><value>{{context.Variables["k"]}}</value></check-header></inbound></policies>`,
		`<r a="@(context.Request.Method == "DELETE")"/>`,
		`<r>@{ var o = r.As<JObject>(); return $"{o["a"]}"; }</r>`,
		`<r a='@(@"x""" + $@"{y}")'/>`,
		`<r><![CDATA[x]]>&#x41;<!-- c --></r>`,
		`<r a="@(/* ) */ x // )
)"/>`,
		"\ufeff<?xml version=\"1.0\"?><r/>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos.Line < 1 || pe.Pos.Col < 1 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		var walk func(*Node)
		walk = func(n *Node) {
			if n.Name == "" || n.Pos.Line < 1 || n.Pos.Col < 1 {
				t.Fatalf("bad node %+v", n)
			}
			for _, c := range n.Children {
				walk(c)
			}
		}
		walk(n)
	})
}
