package expr

// string.Join, string.Concat and string.Format: composite formatting and
// the standard numeric formats of integers, in the invariant culture.

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// stringJoin is string.Join(separator, values): an array, or the values
// as arguments.
func stringJoin(c *compiler, n *callNode, _ value, args []node) (value, error) {
	if len(args) < 2 {
		return value{}, errAt(n, "string.Join takes a separator and the values")
	}
	sep, err := c.typed(args[0], String)
	if err != nil {
		return value{}, err
	}
	return c.joinOf(&sep, args[1:])
}

// stringConcat is string.Concat(values...).
func stringConcat(c *compiler, _ *callNode, _ value, args []node) (value, error) {
	return c.joinOf(nil, args)
}

// joinOf joins values (one string[], or strings and what turns into one)
// with sep (nil: none, string.Concat), each argument compiled once.
func (c *compiler) joinOf(sep *value, args []node) (value, error) {
	vals := make([]evalFn, len(args))
	array := false
	for i, a := range args {
		v, err := c.expr(a)
		if err != nil {
			return value{}, err
		}
		array = len(args) == 1 && v.typ == StringArray
		if err := c.stringable(a, v); err != nil && !array {
			return value{}, err
		}
		vals[i] = v.eval
	}
	return value{typ: String, eval: func(f *frame) (any, error) {
		sepStr := ""
		if sep != nil {
			sv, err := sep.eval(f)
			if err != nil {
				return nil, err
			}
			sepStr = s(sv)
		}
		if !array {
			strs, err := evalStrings(f, vals)
			if err != nil {
				return nil, err
			}
			return join(strs, sepStr)
		}
		arr, err := vals[0](f)
		if err != nil {
			return nil, err
		}
		if arr == nil && sep != nil {
			return nil, rtErr("Value cannot be null. (Parameter 'value')")
		}
		strs, _ := arr.([]string)
		return join(strs, sepStr)
	}}, nil
}

// join is strings.Join within MaxString.
func join(vals []string, sep string) (any, error) {
	n := len(sep) * len(vals)
	for _, v := range vals {
		n += len(v)
	}
	if n > MaxString {
		return nil, budgetErr("The expression built a string longer than %d bytes.", MaxString)
	}
	return strings.Join(vals, sep), nil
}

// stringFormat is string.Format(format, args...) with composite format
// items {index[,alignment][:format]} (see formatItem).
func stringFormat(c *compiler, n *callNode, _ value, args []node) (value, error) {
	if len(args) > 1 {
		if v, err := c.expr(args[0]); err == nil && v.typ == cultureType {
			args = args[1:] // the invariant culture is the only one
		}
	}
	if len(args) < 1 {
		return value{}, errAt(n, "string.Format takes a format and its arguments")
	}
	format, err := c.typed(args[0], String)
	if err != nil {
		return value{}, err
	}
	vals := make([]evalFn, len(args)-1)
	for i, a := range args[1:] {
		v, err := c.expr(a)
		if err != nil {
			return value{}, err
		}
		vals[i] = v.eval
	}
	return value{typ: String, eval: func(f *frame) (any, error) {
		fv, err := format.eval(f)
		if err != nil {
			return nil, err
		}
		if fv == nil {
			return nil, rtErr("Value cannot be null. (Parameter 'format')")
		}
		in := make([]any, len(vals))
		for i, e := range vals {
			if in[i], err = e(f); err != nil {
				return nil, err
			}
		}
		return composite(s(fv), in)
	}}, nil
}

// typed compiles n as a value of type t.
func (c *compiler) typed(n node, t Type) (value, error) {
	v, err := c.expr(n)
	if err != nil {
		return value{}, err
	}
	return c.coerce(n, v, t)
}

func evalStrings(f *frame, parts []evalFn) ([]string, error) {
	out := make([]string, len(parts))
	for i, p := range parts {
		v, err := p(f)
		if err != nil {
			return nil, err
		}
		out[i] = ToString(v)
	}
	return out, nil
}

var errFormat = rtErr("Input string was not in a correct format.")

// composite is .NET's composite formatting: "{{" and "}}" are braces,
// "{i[,align][:fmt]}" the i-th argument formatted by fmt and padded to
// align (negative: on the right).
func composite(format string, args []any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '}' && i+1 < len(format) && format[i+1] == '}', c == '{' && i+1 < len(format) && format[i+1] == '{':
			b.WriteByte(c)
			i++
			continue
		case c == '}':
			return "", errFormat
		case c != '{':
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(format[i:], '}')
		if end < 0 {
			return "", errFormat
		}
		item := format[i+1 : i+end]
		i += end
		spec, fmtStr, _ := strings.Cut(item, ":")
		idx, align, hasAlign := strings.Cut(spec, ",")
		k, err := strconv.Atoi(strings.TrimSpace(idx))
		if err != nil || k < 0 {
			return "", errFormat
		}
		if k >= len(args) {
			return "", rtErr("Index (zero based) must be greater than or equal to zero and less than the size of the argument list.")
		}
		out, err := formatValue(args[k], fmtStr)
		if err != nil {
			return "", err
		}
		if hasAlign {
			w, err := strconv.Atoi(strings.TrimSpace(align))
			if err != nil || w > 1000 || w < -1000 {
				return "", errFormat
			}
			if pad := abs(w) - utf8.RuneCountInString(out); pad > 0 {
				if w > 0 {
					out = strings.Repeat(" ", pad) + out
				} else {
					out += strings.Repeat(" ", pad)
				}
			}
		}
		b.WriteString(out)
		if b.Len() > MaxString {
			return "", budgetErr("The expression built a string longer than %d bytes.", MaxString)
		}
	}
	return b.String(), nil
}

func abs(x int) int { return max(x, -x) }

// formatValue is v.ToString(format): integers take D, X, N and F formats
// with a precision, dates their standard and custom formats (datetime.go),
// anything else ignores the format.
func formatValue(v any, format string) (string, error) {
	switch t := v.(type) {
	case int64:
		return formatInt(t, format)
	case float64:
		return formatDoubleSpec(t, format)
	case Guid:
		return t.format(or(format, "D")), nil
	}
	if t, ok := v.(time.Time); ok {
		return netFormatTime(t, format)
	}
	return ToString(v), nil
}

// formatInt is Int64.ToString(format) in the invariant culture.
func formatInt(n int64, format string) (string, error) {
	if format == "" {
		return strconv.FormatInt(n, 10), nil
	}
	prec := -1
	if len(format) > 1 {
		p, err := strconv.Atoi(format[1:])
		if err != nil || p > 99 {
			return "", rtErr("Format specifier was invalid.")
		}
		prec = p
	}
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	var digits string
	switch format[0] {
	case 'D', 'd':
		digits = strconv.FormatUint(u, 10)
		if pad := prec - len(digits); pad > 0 {
			digits = strings.Repeat("0", pad) + digits
		}
	case 'X', 'x':
		digits = strconv.FormatUint(uint64(n), 16) // two's complement, as .NET
		neg = false
		if format[0] == 'X' {
			digits = strings.ToUpper(digits)
		}
		if pad := prec - len(digits); pad > 0 {
			digits = strings.Repeat("0", pad) + digits
		}
	case 'N', 'n', 'F', 'f':
		whole := strconv.FormatUint(u, 10)
		if format[0] == 'N' || format[0] == 'n' {
			for i := len(whole) - 3; i > 0; i -= 3 {
				whole = whole[:i] + "," + whole[i:]
			}
		}
		if prec < 0 {
			prec = 2
		}
		digits = whole
		if prec > 0 {
			digits += "." + strings.Repeat("0", prec)
		}
	default:
		return "", rtErr("Format specifier was invalid.")
	}
	if neg {
		digits = "-" + digits
	}
	return digits, nil
}
