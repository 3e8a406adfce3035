package expr

// double (System.Double): literals (1.5, 2e3, 1d), arithmetic and
// comparisons with ints promoted, double.Parse / TryParse and
// Convert.ToDouble in the invariant culture, Math.Round (to even, as .NET's
// default), Floor, Ceiling, Pow, Sqrt and the double forms of Abs, Max and
// Min, TimeSpan's Total* members, and the text .NET gives a double:
// ToString() the shortest text that reads back the same value, in
// scientific notation from 1E+15 and below 1E-04 (the "G" format's rule
// with double's 15 digits), F and N formats, JSON as Newtonsoft.Json
// writes it (1.0 keeps its ".0").

import (
	"math"
	"strconv"
	"strings"
)

// toDouble is an implicit or explicit conversion to double: ints widen,
// JSON numbers read as they are.
func toDouble(x any) (float64, error) {
	switch t := x.(type) {
	case float64:
		return t, nil
	case int64:
		return float64(t), nil
	case JToken:
		if t.r.Type.String() == "Number" {
			return t.r.Num, nil
		}
	case nil:
		return 0, errNull
	}
	return 0, rtErr("Specified cast is not valid: %s is not a double.", kindOf(x))
}

func (c *compiler) asDouble(n node, v value) (func(*frame) (float64, error), error) {
	if v.typ == Int {
		return operand(n, v, Int, "a number", toDouble)
	}
	return operand(n, v, Double, "a number", toDouble)
}

// doubleOp compiles an arithmetic or comparison operator with a double
// operand; the other is widened.
func (c *compiler) doubleOp(n *binaryNode, x, y value) (value, error) {
	xd, err := c.asDouble(n.x, x)
	if err != nil {
		return value{}, err
	}
	yd, err := c.asDouble(n.y, y)
	if err != nil {
		return value{}, err
	}
	return numberOp(n.op, Double, xd, yd, func(op string, a, b float64) (any, error) {
		if op == "/" {
			return a / b, nil // IEEE: 1/0 is Infinity, as in .NET
		}
		return math.Mod(a, b), nil
	}), nil
}

// numberOp is a binary operator on two numbers read by xs and ys, of type
// t (Int or Double; a comparison is a Bool); divide does / and %, which
// differ between ints and doubles.
func numberOp[T int64 | float64](op string, t Type, xs, ys func(*frame) (T, error), divide func(op string, a, b T) (any, error)) value {
	if strings.ContainsAny(op, "<>") {
		t = Bool
	}
	return value{typ: t, eval: func(f *frame) (any, error) {
		a, err := xs(f)
		if err != nil {
			return nil, err
		}
		b, err := ys(f)
		if err != nil {
			return nil, err
		}
		switch op {
		case "+":
			return a + b, nil
		case "-":
			return a - b, nil
		case "*":
			return a * b, nil
		case "/", "%":
			return divide(op, a, b)
		}
		return compare(op, a, b), nil
	}}
}

// compare is one of < > <= >= on numbers.
func compare[T int64 | float64](op string, a, b T) bool {
	switch op {
	case "<":
		return a < b
	case ">":
		return a > b
	case "<=":
		return a <= b
	}
	return a >= b
}

// formatDouble is Double.ToString() in the invariant culture.
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	// The shortest digits that read back as f, and their exponent.
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	neg := strings.HasPrefix(mant, "-")
	digits := strings.Replace(strings.TrimPrefix(mant, "-"), ".", "", 1)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	if exp >= 15 || exp <= -5 {
		b.WriteByte(digits[0])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('E')
		if exp < 0 {
			b.WriteByte('-')
			exp = -exp
		} else {
			b.WriteByte('+')
		}
		if exp < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.Itoa(exp))
		return b.String()
	}
	if exp < 0 {
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -exp-1))
		b.WriteString(digits)
		return b.String()
	}
	if len(digits) <= exp+1 {
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", exp+1-len(digits)))
		return b.String()
	}
	b.WriteString(digits[:exp+1])
	b.WriteByte('.')
	b.WriteString(digits[exp+1:])
	return b.String()
}

// jsonDouble is a double as Newtonsoft.Json writes it: its ToString("R"),
// with ".0" on a whole number written without an exponent.
func jsonDouble(f float64) string {
	s := formatDouble(f)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return `"` + s + `"` // JSON.NET's default FloatFormatHandling.String
	}
	if !strings.ContainsAny(s, ".E") {
		s += ".0"
	}
	return s
}

// formatDoubleSpec is Double.ToString(format): F and N with a precision
// (default 2; N groups thousands), R and G (the default text); rounding
// half away from zero, as .NET Core 3.0 and later format.
func formatDoubleSpec(f float64, format string) (string, error) {
	if format == "" || format == "R" || format == "r" || format == "G" || format == "g" {
		return formatDouble(f), nil
	}
	prec := 2
	if len(format) > 1 {
		p, err := strconv.Atoi(format[1:])
		if err != nil || p > 99 {
			return "", rtErr("Format specifier was invalid.")
		}
		prec = p
	}
	switch format[0] {
	case 'F', 'f', 'N', 'n':
	default:
		return "", rtErr("Format specifier was invalid.")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return formatDouble(f), nil
	}
	scale := math.Pow(10, float64(prec))
	r := math.Round(math.Abs(f)*scale) / scale
	s := strconv.FormatFloat(r, 'f', prec, 64)
	whole, frac, _ := strings.Cut(s, ".")
	if format[0] == 'N' || format[0] == 'n' {
		for i := len(whole) - 3; i > 0; i -= 3 {
			whole = whole[:i] + "," + whole[i:]
		}
	}
	if frac != "" {
		whole += "." + frac
	}
	if f < 0 && strings.Trim(whole, "0.,") != "" {
		whole = "-" + whole
	}
	return whole, nil
}

// parseDouble is double.Parse in the invariant culture: optional white
// space and sign, digits with one '.', an exponent, thousands separators
// (','), or NaN, Infinity, -Infinity, ∞.
func parseDouble(s string) (float64, bool) {
	t := strings.TrimSpace(s)
	switch t {
	case "NaN":
		return math.NaN(), true
	case "Infinity", "+Infinity", "∞", "+∞":
		return math.Inf(1), true
	case "-Infinity", "-∞":
		return math.Inf(-1), true
	}
	t = strings.ReplaceAll(t, ",", "")
	if t == "" || strings.ContainsAny(t, "_xXpPiInN") || strings.HasPrefix(strings.TrimLeft(t, "+-"), "0x") {
		return 0, false
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil && !strings.Contains(err.Error(), "range") {
		return 0, false
	}
	return f, true
}

// The double functions of libCall.
const (
	opParseDouble libOp = iota + 180
	opToDouble
	opRound
	opFloor
	opCeiling
	opPow
	opSqrt
)

func doubleCall(op libOp, a []any) (any, error) {
	d := func(i int) float64 { v, _ := toDouble(a[i]); return v }
	switch op {
	case opParseDouble:
		if a[0] == nil {
			return nil, rtErr("Value cannot be null. (Parameter 's')")
		}
		if f, ok := parseDouble(s(a[0])); ok {
			return f, nil
		}
		return nil, rtErr("The input string '%s' was not in a correct format.", abbreviate(s(a[0])))
	case opToDouble:
		if str, ok := a[0].(string); ok {
			return doubleCall(opParseDouble, []any{str})
		}
		if b, ok := a[0].(bool); ok {
			if b {
				return 1.0, nil
			}
			return 0.0, nil
		}
		if a[0] == nil {
			return 0.0, nil
		}
		return toDouble(a[0])
	case opRound:
		if len(a) > 1 {
			n, _ := a[1].(int64)
			if n < 0 || n > 15 {
				return nil, rtErr("Rounding digits must be between 0 and 15, inclusive. (Parameter 'digits')")
			}
			scale := math.Pow(10, float64(n))
			return math.RoundToEven(d(0)*scale) / scale, nil
		}
		return math.RoundToEven(d(0)), nil
	case opFloor:
		return math.Floor(d(0)), nil
	case opCeiling:
		return math.Ceil(d(0)), nil
	case opPow:
		return math.Pow(d(0), d(1)), nil
	case opSqrt:
		return math.Sqrt(d(0)), nil
	}
	return nil, rtErr("unknown library function")
}

// mathOverload is Math.Abs, Max and Min: on ints for int arguments, on
// doubles when one is a double.
func mathOverload(name string, intSig libSig) method {
	return func(c *compiler, n *callNode, recv value, args []node) (value, error) {
		for _, a := range args {
			v, err := c.expr(a)
			if err != nil {
				return value{}, err
			}
			if v.typ == Double {
				return simple(Double, intSig.min, repeatType(Double, len(intSig.params)), func(_ *frame, _ any, a []any) (any, error) {
					x, _ := toDouble(a[0])
					switch name {
					case "Abs":
						return math.Abs(x), nil
					case "Max":
						y, _ := toDouble(a[1])
						return math.Max(x, y), nil
					}
					y, _ := toDouble(a[1])
					return math.Min(x, y), nil
				})(c, n, recv, args)
			}
		}
		return libMethod(intSig)(c, n, recv, args)
	}
}

func doubleMembers() {
	for name, sig := range map[string]libSig{
		"double.Parse":     {opParseDouble, Double, 1, []Type{String}},
		"Double.Parse":     {opParseDouble, Double, 1, []Type{String}},
		"Convert.ToDouble": {opToDouble, Double, 1, []Type{Object}},
		"Math.Round":       {opRound, Double, 1, []Type{Double, Int}},
		"Math.Floor":       {opFloor, Double, 1, []Type{Double}},
		"Math.Ceiling":     {opCeiling, Double, 1, []Type{Double}},
		"Math.Pow":         {opPow, Double, 2, []Type{Double, Double}},
		"Math.Sqrt":        {opSqrt, Double, 1, []Type{Double}},
	} {
		libraryStatics[name] = sig
	}
	for _, name := range []string{"Abs", "Max", "Min"} {
		libraryCustom["Math."+name] = mathOverload(name, libraryStatics["Math."+name])
		delete(libraryStatics, "Math."+name)
	}
	staticClasses["double"], staticClasses["Double"] = true, true
	methods[Double] = map[string]method{
		"ToString": simple(String, 0, []Type{String}, func(_ *frame, r any, a []any) (any, error) {
			if len(a) == 0 {
				return formatDouble(r.(float64)), nil
			}
			return formatDoubleSpec(r.(float64), s(a[0]))
		}),
	}
}
