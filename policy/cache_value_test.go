package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// mapCache is a ValueCache for the engine's tests; ttls records the
// durations asked for.
type mapCache struct {
	m    map[string][]byte
	ttls map[string]time.Duration
}

func (c *mapCache) Lookup(k string) ([]byte, bool) { v, ok := c.m[k]; return v, ok }
func (c *mapCache) Store(k string, v []byte, ttl time.Duration) {
	c.m[k], c.ttls[k] = v, ttl
}
func (c *mapCache) Remove(k string) { delete(c.m, k) }

func TestValueCache(t *testing.T) {
	cache := &mapCache{m: map[string][]byte{}, ttls: map[string]time.Duration{}}
	doc := inboundDoc(`
<cache-lookup-value key="absent" variable-name="a" />
<cache-lookup-value key="absent" variable-name="b" default-value="fallback" />
<cache-store-value key="@(&quot;token-&quot; + context.Request.Headers.GetValueOrDefault(&quot;x-user&quot;, &quot;&quot;))" value="tok-1" duration="300" />
<cache-store-value key="n" value="@(41 + 1)" duration="60" />
<cache-store-value key="flag" value="@(true)" duration="60" />
<cache-store-value key="big" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-big&quot;, &quot;&quot;))" duration="60" />
<cache-store-value key="never" value="x" duration="0" />
<cache-store-value key="forever" value="x" duration="999999999" />
<cache-lookup-value key="token-alice" variable-name="t" />
<cache-lookup-value key="n" variable-name="n" />
<cache-lookup-value key="flag" variable-name="f" />
<cache-remove-value key="flag" />
<cache-lookup-value key="flag" variable-name="f2" default-value="gone" />
<set-header name="x-seen" exists-action="override"><value>@(context.Variables.ContainsKey("a") + "|" + (string)context.Variables["b"] + "|" + (string)context.Variables["t"] + "|" + ((long)context.Variables["n"] + 1) + "|" + (bool)context.Variables["f"] + "|" + (string)context.Variables["f2"])</value></set-header>`)
	p, err := Compile(doc, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	r := p.NewExec(get(map[string]string{"x-user": "alice", "x-big": strings.Repeat("v", maxCacheValue)}), nil).Inbound()
	if r.Action != Continue {
		t.Fatalf("%+v", r)
	}
	got := ""
	for _, e := range r.Edits {
		if e.Name == "x-seen" {
			got = e.Values[0]
		}
	}
	if want := "False|fallback|tok-1|43|True|gone"; got != want {
		t.Errorf("x-seen = %q, want %q", got, want)
	}
	if _, ok := cache.m["big"]; ok {
		t.Error("a value over the bound was stored")
	}
	if _, ok := cache.m["never"]; ok {
		t.Error("a value with duration 0 was stored")
	}
	if cache.ttls["token-alice"] != 300*time.Second || cache.ttls["forever"] != maxCacheDuration {
		t.Errorf("durations %v", cache.ttls)
	}
	// A JSON token reads back as one.
	tok, _ := expr.JTokenOf(`{"a":[1,2]}`)
	if v, ok := decodeCached(encodeCached(tok)); !ok || v.(expr.JToken).JSON() != `{"a":[1,2]}` {
		t.Errorf("a JSON token read back as %v", v)
	}
}

func TestValueCache_refused(t *testing.T) {
	cache := &mapCache{m: map[string][]byte{}, ttls: map[string]time.Duration{}}
	for _, tc := range []struct {
		policy string
		opt    Options
		want   string
	}{
		{`<cache-lookup-value key="k" variable-name="v" caching-type="external" />`, Options{Cache: cache}, `policy:3:47: cache-lookup-value: caching-type "external" needs an external cache, which apimguard does not have: use internal or prefer-external`},
		{`<cache-store-value key="k" value="v" duration="soon" />`, Options{Cache: cache}, `policy:3:48: cache-store-value: attribute "duration" must be a whole number of seconds, not "soon"`},
		{`<cache-lookup-value key="k" />`, Options{Cache: cache}, `policy:3:1: cache-lookup-value: missing required attribute "variable-name"`},
		{`<cache-remove-value key="k" />`, Options{}, `policy:3:1: cache-remove-value: this host has no value cache`},
	} {
		_, err := Compile(inboundDoc(tc.policy), tc.opt)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.policy, err, tc.want)
		}
	}
}
