package expr

// Changing a JToken variable: o[k]...[k] = v, o.Add(...), o.Remove(name).
// The token is JSON text, so a change writes new text and stores it back
// in the variable (see jsonbuild.go).

import (
	"strings"

	"github.com/tidwall/gjson"
)

// setIn returns raw with the value at path set to val (nil val: removed;
// an int key indexes an array, a string key names an object member, which
// is added when missing). found reports whether the last key was there.
func setIn(raw string, path []any, val *string) (out string, found bool, err error) {
	if len(path) == 0 {
		return *val, true, nil
	}
	r := gjson.Parse(raw)
	var b strings.Builder
	switch k := path[0].(type) {
	case string:
		if !r.IsObject() {
			return "", false, rtErr("Cannot set a member of %s.", tokenKind(r))
		}
		b.WriteByte('{')
		first := true
		var err error
		r.ForEach(func(key, v gjson.Result) bool {
			member := v.Raw
			if key.String() == k && !found {
				found = true
				if len(path) == 1 && val == nil {
					return true
				}
				if member, _, err = setIn(v.Raw, path[1:], val); err != nil {
					return false
				}
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			quoteJSON(&b, key.String())
			b.WriteByte(':')
			b.WriteString(member)
			return true
		})
		if err != nil {
			return "", false, err
		}
		if !found && val != nil {
			if len(path) > 1 {
				return "", false, errNull
			}
			if !first {
				b.WriteByte(',')
			}
			quoteJSON(&b, k)
			b.WriteByte(':')
			b.WriteString(*val)
		}
		b.WriteByte('}')
	case int64:
		elems := r.Array()
		if !r.IsArray() || k < 0 || k >= int64(len(elems)) {
			return "", false, rtErr("Index was out of range.")
		}
		b.WriteByte('[')
		for i, e := range elems {
			if i > 0 {
				b.WriteByte(',')
			}
			if int64(i) == k {
				s, _, err := setIn(e.Raw, path[1:], val)
				if err != nil {
					return "", false, err
				}
				b.WriteString(s)
				continue
			}
			b.WriteString(e.Raw)
		}
		b.WriteByte(']')
		found = true
	}
	if b.Len() > MaxString {
		return "", false, budgetErr("The expression built a string longer than %d bytes.", MaxString)
	}
	return b.String(), found, nil
}

func tokenKind(r gjson.Result) string {
	switch {
	case r.IsObject():
		return "Object"
	case r.IsArray():
		return "Array"
	}
	return r.Type.String()
}

// appendTo adds the JSON of an element to an array's JSON.
func appendTo(raw, elem string) string {
	if strings.TrimSpace(raw) == "[]" {
		return "[" + elem + "]"
	}
	return strings.TrimSuffix(strings.TrimSpace(raw), "]") + "," + elem + "]"
}

// tokenVar is the JToken variable a mutation changes (o in o["a"] = 1 or
// o.Add(...)).
func (c *compiler) tokenVar(n node) (local, error) {
	id, ok := n.(*identNode)
	if ok {
		if l, ok := c.lookup(id.name); ok && l.typ == JTokenType {
			return l, nil
		}
	}
	return local{}, errAt(n, "only a JObject or JArray variable can be changed")
}

// setIndex compiles o[k1]...[kn] = value.
func (c *compiler) setIndex(st *setIndexStmt) (runFn, error) {
	var keys []node
	var root node = st.target
	for {
		ix, ok := root.(*indexNode)
		if !ok {
			break
		}
		keys = append([]node{ix.index}, keys...)
		root = ix.x
	}
	l, err := c.tokenVar(root)
	if err != nil {
		return nil, err
	}
	evals := make([]evalFn, len(keys))
	for i, k := range keys {
		v, err := c.expr(k)
		if err != nil {
			return nil, err
		}
		if v.typ != String && v.typ != Int {
			return nil, errAt(k, "a JSON index must be a string or an int, got %s", v.typ)
		}
		evals[i] = v.eval
	}
	val, err := c.expr(st.value)
	if err != nil {
		return nil, err
	}
	slot := l.slot
	return func(f *frame) (any, bool, error) {
		path := make([]any, len(evals))
		for i, e := range evals {
			k, err := e(f)
			if err != nil {
				return nil, false, err
			}
			if k == nil {
				return nil, false, rtErr("Value cannot be null. (Parameter 'key')")
			}
			path[i] = k
		}
		v, err := val.eval(f)
		if err != nil {
			return nil, false, err
		}
		return nil, false, setToken(f, slot, path, v, false)
	}, nil
}

// setToken sets (or, with remove, removes) path in the token of variable
// slot to v and writes the token back.
func setToken(f *frame, slot int, path []any, v any, remove bool) error {
	t, ok := f.locals[slot].(JToken)
	if !ok {
		return errNull
	}
	var val *string
	if !remove {
		j, err := jsonOf(v)
		if err != nil {
			return err
		}
		val = &j
	}
	raw, _, err := setIn(t.r.Raw, path, val)
	if err != nil {
		return err
	}
	f.locals[slot], err = tokenOf(raw)
	return err
}

// mutation compiles o.Add(name, value), o.Add(value) (an array, or a
// JProperty on an object) and o.Remove(name) on a JToken variable.
func (c *compiler) mutation(n *callNode, m *memberNode) (value, error) {
	l, err := c.tokenVar(m.x)
	if err != nil {
		return value{}, err
	}
	args := make([]evalFn, len(n.args))
	for i, a := range n.args {
		v, err := c.expr(a)
		if err != nil {
			return value{}, err
		}
		args[i] = v.eval
	}
	if (m.name == "Remove" && len(args) != 1) || (m.name == "Add" && len(args) != 1 && len(args) != 2) {
		return value{}, errAt(n, "%s takes %s", m.name, map[string]string{"Add": "a value, a JProperty, or a name and a value", "Remove": "a property name"}[m.name])
	}
	slot, remove := l.slot, m.name == "Remove"
	t := Null
	if remove {
		t = Bool
	}
	return value{typ: t, eval: func(f *frame) (any, error) {
		a := make([]any, len(args))
		for i, e := range args {
			var err error
			if a[i], err = e(f); err != nil {
				return nil, err
			}
		}
		tok, ok := f.locals[slot].(JToken)
		if !ok {
			return nil, errNull
		}
		if remove {
			name, _ := a[0].(string)
			raw, found, err := setIn(tok.r.Raw, []any{name}, nil)
			if err != nil || !found {
				return false, err
			}
			f.locals[slot], err = tokenOf(raw)
			return true, err
		}
		if len(a) == 1 {
			if p, isProp := a[0].(jprop); isProp {
				a = []any{p.name, JToken{r: gjson.Parse(p.raw)}}
			}
		}
		if len(a) == 1 {
			if !tok.r.IsArray() {
				return nil, rtErr("Can not add a value to %s.", tokenKind(tok.r))
			}
			j, err := jsonOf(a[0])
			if err != nil {
				return nil, err
			}
			f.locals[slot], err = tokenOf(appendTo(tok.r.Raw, j))
			return nil, err
		}
		name, _ := a[0].(string)
		if tok.r.IsObject() && tok.r.Get(gjson.Escape(name)).Exists() {
			return nil, rtErr("Can not add property %s to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object.", name)
		}
		return nil, setToken(f, slot, []any{name}, a[1], false)
	}}, nil
}
