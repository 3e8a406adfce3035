package policy

import (
	"strconv"
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// The value cache: APIM's cache-lookup-value, cache-store-value and
// cache-remove-value, over the host's ValueCache (the plugin: Envoy's
// shared data, so every worker of an Envoy sees the same entries).
// References: https://learn.microsoft.com/azure/api-management/cache-lookup-value-policy,
// .../cache-store-value-policy, .../cache-remove-value-policy
//
// # Notes
//
//   - key, value, default-value and duration may be expressions;
//     variable-name and caching-type are constants.
//   - caching-type: internal and prefer-external (the default) use the
//     gateway's own cache; external (a Redis-compatible cache) is refused:
//     apimguard has none.
//   - A miss sets the variable to default-value when one is given and
//     leaves it unset otherwise (policies test ContainsKey after a lookup).
//   - Values read back with their type: strings, booleans, integers and
//     JSON tokens (JObject, JArray); anything else is stored as its string.
//   - The cache is best effort, as APIM's: a key over maxCacheKey bytes or
//     a value over maxCacheValue is not stored (a lookup misses), the host
//     may evict an entry before it expires, and a full store loses nothing
//     but the entry. A value is never logged.
//   - duration is in seconds; one under 1 stores nothing, one over a year
//     counts as a year.

// ValueCache is the store of the value-cache elements, shared by the
// host's workers. Values are opaque bytes; expiry is the host's job.
type ValueCache interface {
	Lookup(key string) ([]byte, bool)
	Store(key string, value []byte, ttl time.Duration)
	Remove(key string)
}

// Bounds of the value cache.
const (
	maxCacheKey      = 1024
	maxCacheValue    = 32 << 10
	maxCacheDuration = 365 * 24 * time.Hour
)

type cacheLookupValue struct {
	stmtMeta
	key, def Value
	hasDef   bool
	variable string
}

type cacheStoreValue struct {
	stmtMeta
	key, value, duration Value
}

type cacheRemoveValue struct {
	stmtMeta
	key Value
}

// cacheCommon reads key and caching-type, which every value-cache element
// has.
func (c *compiler) cacheCommon(n *Node, attrs ...string) (Value, error) {
	if err := c.attrs(n, append(attrs, "key", "caching-type")...); err != nil {
		return Value{}, err
	}
	if err := c.empty(n); err != nil {
		return Value{}, err
	}
	if c.opt.Cache == nil {
		return Value{}, c.errf(n, n.Pos, "this host has no value cache")
	}
	if a, ok := n.Attr("caching-type"); ok {
		t, err := c.constant(n, a)
		if err != nil {
			return Value{}, err
		}
		switch strings.TrimSpace(t) {
		case "internal", "prefer-external":
		case "external":
			return Value{}, c.errf(n, a.Pos, "caching-type \"external\" needs an external cache, which apimguard does not have: use internal or prefer-external")
		default:
			return Value{}, c.errf(n, a.Pos, "attribute \"caching-type\" must be internal, external or prefer-external, not %q", t)
		}
	}
	return c.requiredValue(n, "key")
}

func compileCacheLookupValue(c *compiler, n *Node) (statement, error) {
	key, err := c.cacheCommon(n, "variable-name", "default-value")
	if err != nil {
		return nil, err
	}
	s := &cacheLookupValue{stmtMeta: c.meta(n), key: key}
	a, err := c.required(n, "variable-name")
	if err != nil {
		return nil, err
	}
	if s.variable, err = c.constant(n, a); err != nil {
		return nil, err
	}
	if d, ok := n.Attr("default-value"); ok {
		if s.def, err = c.value(n, d.Value, d.ValuePos); err != nil {
			return nil, err
		}
		s.hasDef = true
	}
	return s, nil
}

func compileCacheStoreValue(c *compiler, n *Node) (statement, error) {
	key, err := c.cacheCommon(n, "value", "duration")
	if err != nil {
		return nil, err
	}
	s := &cacheStoreValue{stmtMeta: c.meta(n), key: key}
	if s.value, err = c.requiredValue(n, "value"); err != nil {
		return nil, err
	}
	if s.duration, err = c.requiredValue(n, "duration"); err != nil {
		return nil, err
	}
	if s.duration.IsConst() {
		if _, err := strconv.Atoi(strings.TrimSpace(s.duration.Const())); err != nil {
			a, _ := n.Attr("duration")
			return nil, c.errf(n, a.ValuePos, "attribute \"duration\" must be a whole number of seconds, not %q", s.duration.Const())
		}
	}
	return s, nil
}

func compileCacheRemoveValue(c *compiler, n *Node) (statement, error) {
	key, err := c.cacheCommon(n)
	if err != nil {
		return nil, err
	}
	return &cacheRemoveValue{stmtMeta: c.meta(n), key: key}, nil
}

// valueCacheKey evaluates a key; ok is false for one the cache does not hold.
func valueCacheKey(x *Exec, v *Value) (string, bool, error) {
	k, err := v.Eval(x)
	return k, k != "" && len(k) <= maxCacheKey, err
}

func (s *cacheLookupValue) run(x *Exec) error {
	key, ok, err := valueCacheKey(x, &s.key)
	if err != nil {
		return err
	}
	if ok {
		if data, found := x.prog.cache.Lookup(key); found {
			if v, ok := decodeCached(data); ok {
				x.setVariable(s.variable, v)
				return nil
			}
		}
	}
	if s.hasDef {
		v, err := s.def.EvalAny(x)
		if err != nil {
			return err
		}
		x.setVariable(s.variable, v)
	}
	return nil
}

func (s *cacheStoreValue) run(x *Exec) error {
	key, ok, err := valueCacheKey(x, &s.key)
	if err != nil {
		return err
	}
	v, err := s.value.EvalAny(x)
	if err != nil {
		return err
	}
	d, err := s.duration.Eval(x)
	if err != nil {
		return err
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(d), 10, 64)
	if err != nil {
		return &expr.RuntimeError{Msg: "cache-store-value: duration " + strconv.Quote(abbreviate(d)) + " is not a whole number of seconds"}
	}
	data := encodeCached(v)
	if !ok || secs < 1 || len(data) > maxCacheValue {
		return nil // best effort: not stored
	}
	ttl := maxCacheDuration
	if secs < int64(maxCacheDuration/time.Second) {
		ttl = time.Duration(secs) * time.Second
	}
	x.prog.cache.Store(key, data, ttl)
	return nil
}

func (s *cacheRemoveValue) run(x *Exec) error {
	key, ok, err := valueCacheKey(x, &s.key)
	if err == nil && ok {
		x.prog.cache.Remove(key)
	}
	return err
}

// encodeCached writes a value with its type: s string, b bool, i integer,
// j JSON token; anything else as its string.
func encodeCached(v any) []byte {
	switch t := v.(type) {
	case bool:
		if t {
			return []byte("b1")
		}
		return []byte("b0")
	case int64:
		return strconv.AppendInt([]byte("i"), t, 10)
	case int:
		return strconv.AppendInt([]byte("i"), int64(t), 10)
	case expr.JToken:
		return append([]byte("j"), t.JSON()...)
	}
	return append([]byte("s"), expr.ToString(v)...)
}

// decodeCached reads encodeCached's bytes back.
func decodeCached(data []byte) (any, bool) {
	if len(data) == 0 {
		return nil, false
	}
	body := string(data[1:])
	switch data[0] {
	case 's':
		return body, true
	case 'b':
		return body == "1", true
	case 'i':
		n, err := strconv.ParseInt(body, 10, 64)
		return n, err == nil
	case 'j':
		return expr.JTokenOf(body)
	}
	return nil, false
}
