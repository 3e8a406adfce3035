package expr

// LINQ (System.Linq's Enumerable) over the sequences expressions have: a
// string[], a JArray's tokens (the JArray itself, or IEnumerable<JToken>,
// what a query made of one), and a JObject's properties (Properties():
// IEnumerable<JProperty>, each with Name and Value). Every element a query
// visits counts as one loop iteration against Options.MaxIterations, so a
// query over a client's body is bounded like a loop.

import (
	"cmp"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// elemOf is the element type of a sequence type.
func elemOf(t Type) (Type, bool) {
	switch t {
	case StringArray:
		return String, true
	case JTokenType, tokenSeqType:
		return JTokenType, true
	case propSeqType:
		return jpropType, true
	}
	return 0, false
}

// seqOf is the sequence type of elements of type t: strings stay strings,
// properties stay properties, anything else becomes tokens (as JSON.NET
// wraps values in a JArray).
func seqOf(t Type) Type {
	switch t {
	case String:
		return StringArray
	case jpropType:
		return propSeqType
	}
	return tokenSeqType
}

// items lists a sequence's elements.
func items(r any) ([]any, error) {
	switch t := r.(type) {
	case nil:
		return nil, rtErr("Value cannot be null. (Parameter 'source')")
	case []JToken:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = e
		}
		return out, nil
	case []jprop:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = e
		}
		return out, nil
	case JToken:
		if t.r.IsObject() {
			return nil, rtErr("A JObject's members are its properties: use Properties().")
		}
	}
	return elements(r)
}

// collect makes a sequence of type seq from values.
func collect(seq Type, vals []any) (any, error) {
	switch seq {
	case StringArray:
		out := make([]string, len(vals))
		for i, v := range vals {
			out[i] = s(v)
		}
		return out, nil
	case propSeqType:
		out := make([]jprop, len(vals))
		for i, v := range vals {
			out[i], _ = v.(jprop)
		}
		return out, nil
	}
	out := make([]JToken, len(vals))
	for i, v := range vals {
		t, ok := v.(JToken)
		if !ok {
			raw, err := jsonOf(v)
			if err != nil {
				return nil, err
			}
			if t, err = tokenOf(raw); err != nil {
				return nil, err
			}
		}
		out[i] = t
	}
	return out, nil
}

// lambdaIn compiles the lambda n with its parameter of type elem.
func (c *compiler) lambdaIn(n node, elem Type) (slot int, body value, err error) {
	l, ok := n.(*lambdaNode)
	if !ok {
		return 0, value{}, errAt(n, "want a lambda such as e => e == \"x\"")
	}
	c.scopes = append(c.scopes, nil)
	defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
	slot = c.declare(l.param, elem).slot
	body, err = c.expr(l.body)
	return slot, body, err
}

// The LINQ methods, by what they do with the lambda's results.
type linqOp uint8

const (
	linqWhere linqOp = iota
	linqSelect
	linqAny
	linqAll
	linqCount
	linqFirst
	linqFirstOrDefault
	linqLast
	linqLastOrDefault
	linqOrderBy
	linqOrderByDescending
	linqSum
	linqMax
	linqMin
	linqToArray
	linqDistinct
	linqSkip
	linqTake
)

var linqOps = map[string]linqOp{
	"Where": linqWhere, "Select": linqSelect, "Any": linqAny, "All": linqAll, "Count": linqCount,
	"First": linqFirst, "FirstOrDefault": linqFirstOrDefault, "Last": linqLast, "LastOrDefault": linqLastOrDefault,
	"OrderBy": linqOrderBy, "OrderByDescending": linqOrderByDescending, "Sum": linqSum, "Max": linqMax, "Min": linqMin,
	"ToArray": linqToArray, "ToList": linqToArray, "AsEnumerable": linqToArray, "Distinct": linqDistinct,
	"Skip": linqSkip, "Take": linqTake,
}

// linqMethod compiles seq.Op(...) for the LINQ methods.
func linqMethod(op linqOp) method {
	return func(c *compiler, n *callNode, recv value, args []node) (value, error) {
		elem, _ := elemOf(recv.typ)
		name := n.fn.(*memberNode).name
		var ret Type
		switch op {
		case linqWhere, linqOrderBy, linqOrderByDescending, linqToArray, linqDistinct, linqSkip, linqTake:
			ret = seqOf(elem)
		case linqAny, linqAll:
			ret = Bool
		case linqCount, linqSum, linqMax, linqMin:
			ret = Int
		case linqFirst, linqFirstOrDefault, linqLast, linqLastOrDefault:
			ret = elem
		}
		// The argument: a lambda, a count (Skip, Take), or nothing.
		slot, fn := -1, value{}
		var count evalFn
		switch {
		case op == linqSkip || op == linqTake:
			if len(args) != 1 {
				return value{}, errAt(n, "%s takes a count", name)
			}
			v, err := c.expr(args[0])
			if err != nil {
				return value{}, err
			}
			if v, err = c.coerce(args[0], v, Int); err != nil {
				return value{}, err
			}
			count = v.eval
		case len(args) == 1 && op != linqToArray && op != linqDistinct:
			var err error
			if slot, fn, err = c.lambdaIn(args[0], elem); err != nil {
				return value{}, err
			}
			switch op {
			case linqSelect:
				if fn.typ > lastValueType {
					return value{}, errAt(args[0], "Select cannot make a sequence of %s", fn.typ)
				}
				ret = seqOf(fn.typ)
			case linqOrderBy, linqOrderByDescending:
				if fn.typ != String && fn.typ != Int && fn.typ != Double && fn.typ != JTokenType {
					return value{}, errAt(args[0], "OrderBy needs a string, number or JToken key, got %s", fn.typ)
				}
			case linqSum, linqMax, linqMin:
				if fn.typ != Int && fn.typ != Double && fn.typ != JTokenType && fn.typ != Object {
					return value{}, errAt(args[0], "%s needs numbers, got %s", name, fn.typ)
				}
				if fn.typ == Double {
					ret = Double
				}
			default:
				if fn.typ != Bool && fn.typ != Object && fn.typ != JTokenType {
					return value{}, errAt(args[0], "the predicate of %s must be a bool, got %s", name, fn.typ)
				}
			}
		case len(args) == 0 && (op == linqSelect || op == linqWhere || op == linqAll || op == linqOrderBy || op == linqOrderByDescending):
			return value{}, errAt(n, "%s takes a lambda", name)
		case len(args) > 0:
			return value{}, errAt(n, "%s takes %s", name, map[bool]string{true: "no argument", false: "at most a lambda"}[op == linqToArray || op == linqDistinct])
		case op == linqSum || op == linqMax || op == linqMin:
			if elem != JTokenType {
				return value{}, errAt(n, "%s of %s needs a lambda that makes an int", name, recv.typ)
			}
		}
		return onReceiver(recv, true, isNullCond(n), ret, func(f *frame, r any) (any, error) {
			all, err := items(r)
			if err != nil {
				return nil, err
			}
			if count != nil {
				k, err := count(f)
				if err != nil {
					return nil, err
				}
				i := int(min(max(k.(int64), 0), int64(len(all))))
				if op == linqSkip {
					return collect(ret, all[i:])
				}
				return collect(ret, all[:i])
			}
			return runLinq(f, op, ret, all, slot, fn.eval)
		}), nil
	}
}

// runLinq evaluates a query over all; apply is the lambda (nil: none),
// its parameter in slot.
func runLinq(f *frame, op linqOp, ret Type, all []any, slot int, apply evalFn) (any, error) {
	// results are the lambda's value per element (the element itself
	// without a lambda).
	results := all
	if apply != nil {
		results = make([]any, len(all))
		for i, e := range all {
			if err := f.step(); err != nil {
				return nil, err
			}
			f.locals[slot] = e
			v, err := apply(f)
			if err != nil {
				return nil, err
			}
			results[i] = v
		}
	}
	truth := func(i int) (bool, error) {
		if apply == nil {
			return true, nil
		}
		return toBool(results[i])
	}
	switch op {
	case linqSelect, linqToArray:
		return collect(ret, results)
	case linqWhere:
		var kept []any
		for i, e := range all {
			ok, err := truth(i)
			if err != nil {
				return nil, err
			}
			if ok {
				kept = append(kept, e)
			}
		}
		return collect(ret, kept)
	case linqAny, linqAll, linqCount:
		n := int64(0)
		for i := range all {
			ok, err := truth(i)
			if err != nil {
				return nil, err
			}
			if ok {
				n++
			} else if op == linqAll {
				return false, nil
			}
			if ok && op == linqAny {
				return true, nil
			}
		}
		switch op {
		case linqAny:
			return false, nil
		case linqAll:
			return true, nil
		}
		return n, nil
	case linqFirst, linqFirstOrDefault, linqLast, linqLastOrDefault:
		last := op == linqLast || op == linqLastOrDefault
		for k := range all {
			i := k
			if last {
				i = len(all) - 1 - k
			}
			ok, err := truth(i)
			if err != nil {
				return nil, err
			}
			if ok {
				return all[i], nil
			}
		}
		if op == linqFirstOrDefault || op == linqLastOrDefault {
			return nil, nil
		}
		if apply != nil {
			return nil, rtErr("Sequence contains no matching element")
		}
		return nil, rtErr("Sequence contains no elements")
	case linqOrderBy, linqOrderByDescending:
		order := make([]int, len(all))
		for i := range order {
			order[i] = i
		}
		desc := op == linqOrderByDescending
		slices.SortStableFunc(order, func(a, b int) int {
			c := compareKeys(results[a], results[b])
			if desc {
				return -c
			}
			return c
		})
		sorted := make([]any, len(all))
		for i, j := range order {
			sorted[i] = all[j]
		}
		return collect(ret, sorted)
	case linqSum, linqMax, linqMin:
		if len(results) == 0 && op != linqSum {
			return nil, rtErr("Sequence contains no elements")
		}
		if ret == Double {
			return aggregate(op, results, toDouble)
		}
		return aggregate(op, results, toInt)
	case linqDistinct:
		seen := map[string]bool{}
		var kept []any
		for _, e := range all {
			key := ToString(e)
			if t, ok := e.(JToken); ok {
				key = t.r.Raw
			}
			if !seen[key] {
				seen[key] = true
				kept = append(kept, e)
			}
		}
		return collect(ret, kept)
	}
	return nil, rtErr("unknown query")
}

// compareKeys orders OrderBy's keys: nulls first, numbers by value, the
// rest ordinally by their text.
func compareKeys(a, b any) int {
	if a == nil || b == nil {
		return cmp.Compare(boolInt(a != nil), boolInt(b != nil))
	}
	ai, aerr := keyNumber(a)
	bi, berr := keyNumber(b)
	if aerr && berr {
		return cmp.Compare(ai, bi)
	}
	return strings.Compare(keyText(a), keyText(b))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func keyNumber(v any) (float64, bool) {
	switch t := v.(type) {
	case int64:
		return float64(t), true
	case float64:
		return t, true
	case JToken:
		if t.r.Type == gjson.Number {
			return t.r.Num, true
		}
	}
	return 0, false
}

func keyText(v any) string {
	if t, ok := v.(JToken); ok {
		return t.String()
	}
	return ToString(v)
}

// linqMembers registers the LINQ methods on every sequence type, the
// JToken methods that make sequences (Children, Properties) and
// JProperty's members.
func linqMembers() {
	for _, t := range []Type{StringArray, JTokenType, tokenSeqType, propSeqType} {
		if methods[t] == nil {
			methods[t] = map[string]method{}
		}
		for name, op := range linqOps {
			methods[t][name] = linqMethod(op)
		}
	}
	methods[JTokenType]["Children"] = simple(tokenSeqType, 0, nil, func(_ *frame, r any, _ []any) (any, error) {
		t := r.(JToken)
		if !t.r.IsArray() {
			return nil, rtErr("Children() of a %s: use Properties() for a JObject's members.", tokenKind(t.r))
		}
		var out []JToken
		for _, e := range t.r.Array() {
			out = append(out, JToken{r: e})
		}
		return out, nil
	})
	methods[JTokenType]["Properties"] = simple(propSeqType, 0, nil, func(_ *frame, r any, _ []any) (any, error) {
		t := r.(JToken)
		if !t.r.IsObject() {
			return nil, rtErr("Properties() of a %s: only a JObject has properties.", tokenKind(t.r))
		}
		var out []jprop
		t.r.ForEach(func(k, v gjson.Result) bool {
			out = append(out, jprop{name: k.String(), raw: v.Raw})
			return true
		})
		return out, nil
	})
	props[jpropType] = map[string]prop{
		"Name":  str(func(_ *frame, r any) string { return r.(jprop).name }),
		"Value": {typ: JTokenType, get: func(_ *frame, r any) (any, error) { return JToken{r: gjson.Parse(r.(jprop).raw)}, nil }},
	}
	for _, t := range []Type{tokenSeqType, propSeqType} {
		props[t] = map[string]prop{
			"Length": {typ: Int, get: seqLength},
			"Count":  {typ: Int, get: seqLength},
		}
	}
}

func seqLength(_ *frame, r any) (any, error) {
	all, err := items(r)
	return int64(len(all)), err
}

// aggregate is Sum, Max or Min of values, each read by conv.
func aggregate[T int64 | float64](op linqOp, values []any, conv func(any) (T, error)) (any, error) {
	var acc T
	for i, v := range values {
		x, err := conv(v)
		if err != nil {
			return nil, err
		}
		switch {
		case op == linqSum:
			acc += x
		case i == 0, op == linqMax && x > acc, op == linqMin && x < acc:
			acc = x
		}
	}
	return acc, nil
}
