package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/apimguard/apimguard/policy/expr"
)

// Value is an attribute value or element text compiled once at load time:
// a constant (after {{named value}} substitution), a template that reads
// request variables through the seed's {{context.Variables["name"]}} form,
// or a policy expression (@(...) or @{...}).
type Value struct {
	constant string
	parts    []valuePart // nil for a constant
	prog     *expr.Program
}

type valuePart struct {
	lit      string
	variable string // when not empty, the part is context.Variables[variable]
}

// IsConst reports whether the value is known at load time.
func (v *Value) IsConst() bool { return v.parts == nil && v.prog == nil }

// Const returns the value of a constant Value.
func (v *Value) Const() string { return v.constant }

// EvalAny returns the value for the request x, keeping an expression
// result's type (set-variable stores it as is).
func (v *Value) EvalAny(x *Exec) (any, error) {
	if v.prog != nil {
		return v.prog.Eval(x)
	}
	return v.Eval(x)
}

// Eval returns the value for the request x as a string.
func (v *Value) Eval(x *Exec) (string, error) {
	if v.prog != nil {
		r, err := v.prog.Eval(x)
		return expr.ToString(r), err
	}
	if v.parts == nil {
		return v.constant, nil
	}
	if len(v.parts) == 1 && v.parts[0].variable != "" {
		return x.variableString(v.parts[0].variable)
	}
	var b strings.Builder
	for _, p := range v.parts {
		if p.variable == "" {
			b.WriteString(p.lit)
			continue
		}
		s, err := x.variableString(p.variable)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// EvalBool evaluates a condition: an expression producing a bool, or the
// literal true or false.
func (v *Value) EvalBool(x *Exec) (bool, error) {
	if v.prog == nil {
		s, err := v.Eval(x)
		if err != nil {
			return false, err
		}
		return parseBool(s)
	}
	r, err := v.prog.Eval(x)
	if err != nil {
		return false, err
	}
	b, ok := r.(bool)
	if !ok {
		return false, fmt.Errorf("the condition produced %s, not a bool", expr.ToString(r))
	}
	return b, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}

// variableString reads context.Variables[name] in a string context. Like
// APIM's indexer it fails when the variable does not exist.
func (x *Exec) variableString(name string) (string, error) {
	v, ok := x.vars[name]
	if !ok {
		//lint:ignore ST1005 .NET's KeyNotFoundException message, which APIM reports
		return "", fmt.Errorf("The given key '%s' was not present in the dictionary.", name)
	}
	return expr.ToString(v), nil
}

const varRefPrefix, varRefSuffix = `context.Variables["`, `"]`

// value compiles raw, the text of an attribute or element of n starting at pos.
//
// Named values are substituted textually first, as APIM does, so a named
// value may itself hold an expression. They are never substituted twice: a
// named value cannot reference another.
func (c *compiler) value(n *Node, raw string, pos Pos) (Value, error) {
	var parts []valuePart
	var lit strings.Builder
	hasVar := false
	inExpr := isExpression(raw)
	rest := raw
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			lit.WriteString(rest)
			break
		}
		lit.WriteString(rest[:i])
		end := strings.Index(rest[i:], "}}")
		if end < 0 {
			return Value{}, c.errf(n, pos, "unterminated {{ in %q", abbreviate(raw))
		}
		ref := rest[i+2 : i+end]
		rest = rest[i+end+2:]
		// (The prefix and suffix must not overlap: {{context.Variables["]}}.)
		if len(ref) >= len(varRefPrefix)+len(varRefSuffix) && strings.HasPrefix(ref, varRefPrefix) && strings.HasSuffix(ref, varRefSuffix) {
			name := ref[len(varRefPrefix) : len(ref)-len(varRefSuffix)]
			if !validName(name) {
				return Value{}, c.errf(n, pos, "invalid variable name %q in {{%s}}", name, ref)
			}
			if lit.Len() > 0 {
				parts = append(parts, valuePart{lit: lit.String()})
				lit.Reset()
			}
			parts = append(parts, valuePart{variable: name})
			hasVar = true
			continue
		}
		if !validName(ref) {
			if inExpr {
				// C#'s own {{ and }} (braces in an interpolated string),
				// not a named value.
				lit.WriteString("{{" + ref + "}}")
				continue
			}
			return Value{}, c.errf(n, pos, "invalid named value reference {{%s}}", abbreviate(ref))
		}
		nv, ok := "", false
		if c.opt.NamedValue != nil {
			nv, ok = c.opt.NamedValue(ref)
		}
		if !ok {
			return Value{}, c.errf(n, pos, "named value %q is not defined (set it in namedValues or as a VM environment variable)", ref)
		}
		lit.WriteString(nv)
	}
	if !hasVar {
		s := lit.String()
		if isExpression(s) {
			prog, err := expr.CompileWith(s, expr.Options{MeshCertificate: c.certs != nil && c.certs.source == sourceMesh, MaxIterations: c.opt.MaxIterations})
			if err != nil {
				return Value{}, c.exprError(n, pos, s, err)
			}
			c.noteBodyReads(prog)
			return Value{prog: prog}, nil
		}
		return Value{constant: s}, nil
	}
	if lit.Len() > 0 {
		parts = append(parts, valuePart{lit: lit.String()})
	}
	if first := parts[0]; first.variable == "" && isExpression(first.lit) {
		return Value{}, c.errf(n, pos, "{{context.Variables[...]}} cannot be used inside an expression; use context.Variables[...] there")
	}
	return Value{parts: parts}, nil
}

// exprError reports an expression that does not compile, at its position
// in the document.
func (c *compiler) exprError(n *Node, pos Pos, src string, err error) error {
	off, msg := 0, err.Error()
	var ce *expr.CompileError
	var se *expr.SyntaxError
	switch {
	case errors.As(err, &ce):
		off = ce.Off
	case errors.As(err, &se):
		off = se.Off
	}
	return c.errf(n, advance(pos, src, off), "%s in expression %s", msg, abbreviate(strings.TrimSpace(src)))
}

// advance moves pos over the first off bytes of text.
func advance(pos Pos, text string, off int) Pos {
	if off > len(text) {
		off = len(text)
	}
	for _, line := range strings.SplitAfter(text[:off], "\n") {
		if strings.HasSuffix(line, "\n") {
			pos.Line++
			pos.Col = 1
			continue
		}
		pos.Col += utf8.RuneCountInString(line)
	}
	return pos
}

func isExpression(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "@(") || strings.HasPrefix(s, "@{")
}

// validName reports whether s is a usable named-value or variable name:
// letters, digits, '-', '_' and '.'.
func validName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c == '.' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')) {
			return false
		}
	}
	return true
}
