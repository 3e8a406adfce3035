package policy

import (
	"errors"
	"testing"
)

// Every configuration error names the document, line:column and element,
// and nothing unknown is silently ignored.
func TestCompile_errors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"root", `<policy/>`, `policy:1:1: policy: the root element must be <policies>`},
		{"unknown section", "<policies>\n  <inbond/>\n</policies>", `policy:2:3: inbond: unknown section (want inbound, backend, outbound or on-error)`},
		{"duplicate section", "<policies><inbound/><inbound/></policies>", `policy:1:21: inbound: duplicate section`},
		{"text in a section", "<policies><inbound>hello</inbound></policies>", `policy:1:20: inbound: unexpected text "hello"`},
		{"unsupported element", inboundDoc(`<json-to-xml apply="always"/>`), `policy:3:1: json-to-xml: unsupported policy element`},
		{"refused element", inboundDoc(`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" />`), `policy:3:1: cache-lookup: not supported: whole responses are not cached by the plugin; Envoy's cache filter (envoy.filters.http.cache) caches responses, and cache-lookup-value / cache-store-value cache values`},
		{"element in the wrong section", "<policies><outbound><check-header name=\"a\" failed-check-httpcode=\"403\"/></outbound></policies>", `policy:1:21: check-header: not allowed in <outbound>`},
		{"unknown attribute", inboundDoc(`<check-header name="a" failed-check-httpcode="403" ignore-cas="true"/>`), `policy:3:52: check-header: unknown attribute "ignore-cas"`},
		{"missing name", inboundDoc(`<check-header failed-check-httpcode="403"/>`), `policy:3:1: check-header: missing required attribute "name"`},
		{"missing status", inboundDoc(`<check-header name="a"/>`), `policy:3:1: check-header: missing required attribute "failed-check-httpcode"`},
		{"bad status", inboundDoc(`<check-header name="a" failed-check-httpcode="forbidden"/>`), `policy:3:24: check-header: attribute "failed-check-httpcode" must be an HTTP status code from 100 to 599, not "forbidden"`},
		{"status out of range", inboundDoc(`<check-header name="a" failed-check-httpcode="600"/>`), `policy:3:24: check-header: attribute "failed-check-httpcode" must be an HTTP status code from 100 to 599, not "600"`},
		{"bad bool", inboundDoc(`<check-header name="a" failed-check-httpcode="403" ignore-case="yes"/>`), `policy:3:52: check-header: attribute "ignore-case" must be true or false, not "yes"`},
		{"bad header name", inboundDoc(`<check-header name="x api" failed-check-httpcode="403"/>`), `policy:3:15: check-header: attribute "name" is not a valid header name: "x api"`},
		{"unknown child", inboundDoc(`<check-header name="a" failed-check-httpcode="403"><val>1</val></check-header>`), `policy:3:52: check-header: unexpected element <val> (want <value>)`},
		{"empty value", inboundDoc(`<check-header name="a" failed-check-httpcode="403"><value></value></check-header>`), `policy:3:52: value: empty <value> would admit an empty header; list the accepted values or remove <value> for a presence check`},
		{"named value resolving empty", inboundDoc(`<check-header name="a" failed-check-httpcode="403"><value>{{empty}}</value></check-header>`), `policy:3:52: value: empty <value> would admit an empty header; list the accepted values or remove <value> for a presence check`},
		{"undefined named value", inboundDoc(`<set-variable name="k" value="{{nope}}"/>`), `policy:3:31: set-variable: named value "nope" is not defined (set it in namedValues or as a VM environment variable)`},
		{"bad named value reference", inboundDoc(`<set-variable name="k" value="{{a b}}"/>`), `policy:3:31: set-variable: invalid named value reference {{a b}}`},
		{"unterminated named value", inboundDoc(`<set-variable name="k" value="{{abc"/>`), `policy:3:31: set-variable: unterminated {{ in attribute "value" of <set-variable>`},
		{"set-variable name with a named value", inboundDoc(`<set-variable name="{{k}}" value="1"/>`), `policy:3:15: set-variable: attribute "name" must be a plain variable name (letters, digits, '-', '_', '.'), not "{{k}}"`},
		{"set-variable without value", inboundDoc(`<set-variable name="k"/>`), `policy:3:1: set-variable: missing required attribute "value"`},
		{"unsupported expression member", inboundDoc(`<set-variable name="k" value="@(context.Deployment.Regions)"/>`), `policy:3:52: set-variable: unsupported member "Regions" of context.Deployment in expression @(context.Deployment.Regions)`},
		{"named value holding a bad expression", inboundDoc(`<set-variable name="k" value="{{expr}}"/>`), `policy:3:33: set-variable: unknown name "x" in expression @(x)`},
		{"expression error on a later line", inboundDoc("<choose><when condition=\"@(\n  context.Request.Method == 1)\"/></choose>"), `policy:4:26: when: cannot compare string with int in expression @(\n  context.Request.Method == 1)`},
		{"overlapping variable reference (a fuzz finding: it panicked)", inboundDoc(`<check-header name="x" failed-check-httpcode="401"><value>{{context.Variables["]}}</value></check-header>`), `policy:3:59: value: invalid named value reference {{context.Variables["]}}`},
		{"variable reference inside expression text", inboundDoc(`<set-variable name="k" value="@(x + {{context.Variables["a"]}})"/>`), `policy:3:31: set-variable: {{context.Variables[...]}} cannot be used inside an expression; use context.Variables[...] there`},
		{"forward-request attribute", "<policies><backend><forward-request follow-redirects=\"true\"/></backend></policies>", `policy:1:55: forward-request: attribute "follow-redirects"="true": redirects are returned to the caller; to follow them, set internal_redirect_policy on the Envoy route`},
		{"base with a child", inboundDoc(`<base><x/></base>`), `policy:3:7: base: unexpected element <x>`},
		{"a raw ampersand names its element", "<policies>\n<inbound>\n<set-variable name=\"a\" value=\"x & y\" />\n</inbound>\n</policies>", `policy:3:33: set-variable: '&' must be written &amp; or start a character reference`},
		{"a raw ampersand in text", "<policies>\n<inbound>\n<set-header name=\"a\"><value>x & y</value></set-header>\n</inbound>\n</policies>", `policy:3:31: value: '&' must be written &amp; or start a character reference`},
		{"syntax error", "<policies>\n<inbound>\n<check-header name=\"a\" failed-check-httpcode=\"403\">\n</inbound>\n</policies>", `policy:4:3: check-header: end tag </inbound> does not match <check-header> opened at 3:1`},
		{"newline in a name stays on one line", inboundDoc("<check-header name=\"a\nb\" failed-check-httpcode=\"403\"/>"), `policy:3:15: check-header: attribute "name" is not a valid header name: "a\nb"`},
	}
	nv := map[string]string{"empty": "", "expr": "@(x)", "k": "v"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.doc, Options{NamedValue: namedValues(nv)})
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("err = %s\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestCompile_acceptsDocumentShapes(t *testing.T) {
	for _, doc := range []string{
		`<policies/>`,
		`<policies><inbound><base/></inbound><backend><base/><forward-request/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
		`<policies><inbound><set-variable id="v1" name="a.b-c_d" value="x"/></inbound><outbound><set-variable name="o" value="1"/></outbound></policies>`,
	} {
		if _, err := Compile(doc, Options{}); err != nil {
			t.Errorf("Compile(%s) = %v", doc, err)
		}
	}
}

func TestSetVariable_literalIsString(t *testing.T) {
	p := mustCompile(t, inboundDoc(`<set-variable name="flag" value="true"/><set-variable name="key" value="{{k}}"/>`), map[string]string{"k": "v1"})
	x := p.NewExec(headers{}, nil)
	if r := x.Inbound(); r.Action != Continue {
		t.Fatalf("got %+v", r)
	}
	if v, _ := x.Variable("flag"); v != "true" {
		t.Errorf(`flag = %#v, want the string "true"`, v)
	}
	if v, _ := x.Variable("key"); v != "v1" {
		t.Errorf(`key = %#v, want "v1"`, v)
	}
}

// APIM trims white space before an expression in an attribute value: the
// expression is evaluated, its raw quotes included.
func TestCompile_spaceBeforeExpression(t *testing.T) {
	p := mustCompile(t, inboundDoc(`<set-header name="x-m" exists-action="override"><value> @(context.Request.Headers.GetValueOrDefault("x-a", "none"))</value></set-header>`+
		`<set-variable name="v" value="  @(context.Request.Headers.GetValueOrDefault("x-a", "none") + "!")" />`+
		`<set-header name="x-v" exists-action="override"><value>@((string)context.Variables["v"])</value></set-header>`), nil)
	r := p.NewExec(get(map[string]string{"x-a": "1"}), nil).Inbound()
	if got := editsOf(r); got != "x-m=1 x-v=1!" {
		t.Errorf("edits %s", got)
	}
}
