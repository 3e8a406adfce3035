package expr

// Operators: unary, binary, comparison and the conditional.

import (
	"time"

	"github.com/apimguard/apimguard/policy/clientcert"
)

func (c *compiler) unary(n *unaryNode) (value, error) {
	x, err := c.expr(n.x)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case "!":
		xb, err := c.asBool(n.x, x)
		if err != nil {
			return value{}, err
		}
		return value{typ: Bool, eval: func(f *frame) (any, error) {
			b, err := xb(f)
			return !b, err
		}}, nil
	case "-", "+":
		if x.typ == Double {
			neg := n.op == "-"
			return value{typ: Double, eval: func(f *frame) (any, error) {
				v, err := x.eval(f)
				if err != nil || v == nil {
					return nil, errNull
				}
				if neg {
					return -v.(float64), nil
				}
				return v, nil
			}}, nil
		}
		xi, err := c.asInt(n.x, x)
		if err != nil {
			return value{}, err
		}
		neg := n.op == "-"
		return value{typ: Int, eval: func(f *frame) (any, error) {
			v, err := xi(f)
			if neg {
				v = -v
			}
			return v, err
		}}, nil
	}
	return value{}, errAt(n, "unsupported operator %s", n.op)
}

// asBool returns an evaluator of a bool operand; object operands are checked
// at run time.
func (c *compiler) asBool(n node, v value) (func(*frame) (bool, error), error) {
	return operand(n, v, Bool, "a bool", toBool)
}

// operand returns an evaluator of an operand of type want, converted by conv;
// an Object operand (a JSON value) is checked by conv at run time.
func operand[T any](n node, v value, want Type, name string, conv func(any) (T, error)) (func(*frame) (T, error), error) {
	if v.typ != want && v.typ != Object {
		return nil, errAt(n, "want %s, got %s", name, v.typ)
	}
	return func(f *frame) (T, error) {
		x, err := v.eval(f)
		if err != nil {
			var zero T
			return zero, err
		}
		return conv(x)
	}, nil
}

func toBool(x any) (bool, error) {
	switch t := x.(type) {
	case bool:
		return t, nil
	case JToken:
		if t.r.IsBool() {
			return t.r.Bool(), nil
		}
	case nil:
		return false, errNull
	}
	return false, rtErr("Specified cast is not valid: %s is not a bool.", kindOf(x))
}

func (c *compiler) asInt(n node, v value) (func(*frame) (int64, error), error) {
	return operand(n, v, Int, "an int", toInt)
}

func toInt(x any) (int64, error) {
	switch t := x.(type) {
	case int64:
		return t, nil
	case int:
		return int64(t), nil
	case JToken:
		if t.r.Type.String() == "Number" && t.r.Num == float64(int64(t.r.Num)) {
			return int64(t.r.Num), nil
		}
	case nil:
		return 0, errNull
	}
	return 0, rtErr("Specified cast is not valid: %s is not an int.", kindOf(x))
}

func (c *compiler) binary(n *binaryNode) (value, error) {
	x, err := c.expr(n.x)
	if err != nil {
		return value{}, err
	}
	y, err := c.expr(n.y)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case "&&", "||":
		xb, err := c.asBool(n.x, x)
		if err != nil {
			return value{}, err
		}
		yb, err := c.asBool(n.y, y)
		if err != nil {
			return value{}, err
		}
		and := n.op == "&&"
		return value{typ: Bool, eval: func(f *frame) (any, error) {
			a, err := xb(f)
			if err != nil || a != and {
				return a, err
			}
			return yb(f)
		}}, nil
	case "==", "!=":
		if !comparable(x.typ, y.typ) {
			return value{}, errAt(n, "cannot compare %s with %s", x.typ, y.typ)
		}
		neg := n.op == "!="
		return value{typ: Bool, eval: func(f *frame) (any, error) {
			a, b, err := evalBoth(f, x, y)
			if err != nil {
				return nil, err
			}
			return equal(a, b) != neg, nil
		}}, nil
	case "??":
		t := y.typ
		if x.typ == y.typ || y.typ == Null {
			t = x.typ
		} else if x.typ != Null {
			t = Object
		}
		return value{typ: t, eval: func(f *frame) (any, error) {
			a, err := x.eval(f)
			if err != nil || a != nil {
				return a, err
			}
			return y.eval(f)
		}}, nil
	case "+":
		if x.typ == String || y.typ == String || ((x.typ == Object || x.typ == Null) && (y.typ == Object || y.typ == Null)) {
			for i, v := range []value{x, y} {
				if err := c.stringable([]node{n.x, n.y}[i], v); err != nil {
					return value{}, err
				}
			}
			dynamic := x.typ != String && y.typ != String
			return value{typ: String, eval: func(f *frame) (any, error) {
				a, b, err := evalBoth(f, x, y)
				if err != nil {
					return nil, err
				}
				if dynamic {
					ai, aok := a.(int64)
					bi, bok := b.(int64)
					if aok && bok {
						return ai + bi, nil
					}
				}
				return concat(ToString(a), ToString(b))
			}}, nil
		}
		fallthrough
	case "-", "*", "/", "%", "<", ">", "<=", ">=":
		if n.op == "-" && x.typ == DateTimeType && y.typ == DateTimeType {
			return value{typ: timeSpanType, eval: func(f *frame) (any, error) {
				a, b, err := evalBoth(f, x, y)
				if err != nil {
					return nil, err
				}
				return a.(time.Time).Sub(b.(time.Time)), nil
			}}, nil
		}
		if x.typ == DateTimeType || y.typ == DateTimeType {
			return c.compareTimes(n, x, y)
		}
		if x.typ == Double || y.typ == Double {
			return c.doubleOp(n, x, y)
		}
		xi, err := c.asInt(n.x, x)
		if err != nil {
			return value{}, err
		}
		yi, err := c.asInt(n.y, y)
		if err != nil {
			return value{}, err
		}
		return numberOp(n.op, Int, xi, yi, func(op string, a, b int64) (any, error) {
			if b == 0 {
				return nil, rtErr("Attempted to divide by zero.")
			}
			if op == "/" {
				return a / b, nil
			}
			return a % b, nil
		}), nil
	}
	return value{}, errAt(n, "unsupported operator %s", n.op)
}

func comparable(a, b Type) bool {
	if a == b || a == Object || b == Object {
		return a <= lastValueType && b <= lastValueType
	}
	if a == Null || b == Null {
		other := a
		if a == Null {
			other = b
		}
		return other != Bool && other != Int && other != DateTimeType && (other <= lastValueType || other == bodyType)
	}
	if (a == Double && b == Int) || (a == Int && b == Double) {
		return true
	}
	// A JToken compares with the primitive it holds.
	if a == JTokenType || b == JTokenType {
		other := a
		if a == JTokenType {
			other = b
		}
		return other == String || other == Bool || other == Int || other == Double
	}
	return false
}

// equal is value equality: strings ordinally, tokens by their JSON value,
// other references by identity.
func equal(a, b any) bool {
	if ja, ok := a.(JToken); ok {
		return tokenEquals(ja, b)
	}
	if jb, ok := b.(JToken); ok {
		return tokenEquals(jb, a)
	}
	switch av := a.(type) {
	case nil:
		return b == nil
	case string:
		bv, ok := b.(string)
		return ok && av == bv
	case bool:
		bv, ok := b.(bool)
		return ok && av == bv
	case int64:
		if bf, ok := b.(float64); ok {
			return float64(av) == bf
		}
		bv, ok := b.(int64)
		return ok && av == bv
	case float64:
		bf, err := toDouble(b)
		return err == nil && b != nil && av == bf
	case *Jwt:
		bv, ok := b.(*Jwt)
		return ok && av == bv
	case *Response:
		bv, ok := b.(*Response)
		return ok && av == bv
	case *Basic:
		bv, ok := b.(*Basic)
		return ok && av == bv
	case time.Time:
		bv, ok := b.(time.Time)
		return ok && av.Equal(bv)
	case *clientcert.Certificate:
		bv, ok := b.(*clientcert.Certificate)
		return ok && av == bv
	}
	return false
}

func tokenEquals(t JToken, other any) bool {
	switch o := other.(type) {
	case nil:
		return !t.r.Exists() || t.r.Type.String() == "Null"
	case string:
		return t.r.Type.String() == "String" && t.r.Str == o
	case bool:
		return t.r.IsBool() && t.r.Bool() == o
	case int64:
		return t.r.Type.String() == "Number" && t.r.Num == float64(o)
	case float64:
		return t.r.Type.String() == "Number" && t.r.Num == o
	case JToken:
		return t.r.Raw == o.r.Raw
	}
	return false
}

func (c *compiler) cond(n *condNode) (value, error) {
	cv, err := c.expr(n.c)
	if err != nil {
		return value{}, err
	}
	cb, err := c.asBool(n.c, cv)
	if err != nil {
		return value{}, err
	}
	a, err := c.expr(n.a)
	if err != nil {
		return value{}, err
	}
	b, err := c.expr(n.b)
	if err != nil {
		return value{}, err
	}
	t := a.typ
	switch {
	case a.typ == b.typ:
	case a.typ == Null:
		t = b.typ
	case b.typ == Null:
	default:
		t = Object
	}
	return value{typ: t, eval: func(f *frame) (any, error) {
		ok, err := cb(f)
		if err != nil {
			return nil, err
		}
		if ok {
			return a.eval(f)
		}
		return b.eval(f)
	}}, nil
}

// evalBoth evaluates the operands of a binary operator, left first.
func evalBoth(f *frame, x, y value) (a, b any, err error) {
	if a, err = x.eval(f); err != nil {
		return nil, nil, err
	}
	b, err = y.eval(f)
	return a, b, err
}

// concat is a + b within MaxString.
func concat(a, b string) (any, error) {
	if len(a)+len(b) > MaxString {
		return nil, budgetErr("The expression built a string longer than %d bytes.", MaxString)
	}
	return a + b, nil
}
