package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// The cache keeps at most max tokens, evicting the oldest first, never keeps
// a token longer than maxCachedToken, and forgets a token once it expires.
func TestTokenCache_bounded(t *testing.T) {
	c := newTokenCache(2)
	j := &expr.Jwt{Subject: "alice"}
	later := jwtNow.Add(time.Minute)
	long := strings.Repeat("a", maxCachedToken+1)
	for _, k := range []string{"t1", "t2", "t2", "t3", long} {
		c.put(k, j, later)
	}
	for k, want := range map[string]bool{"t1": false, "t2": true, "t3": true, long: false} {
		if _, got := c.get(k, jwtNow); got != want {
			t.Errorf("get(%.8q) = %v, want %v", k, got, want)
		}
	}
	c.put("t4", j, later) // evicts t2, the oldest
	if _, ok := c.get("t2", jwtNow); ok {
		t.Error("t2 is still cached after a third token")
	}
	if _, ok := c.get("t3", later); ok {
		t.Error("t3 is still cached at its expiry")
	}
	if len(c.entries) != 1 {
		t.Errorf("%d entries left, want 1 (t4)", len(c.entries))
	}

	// The map is keyed by a token's last bytes, but only the exact token
	// hits: another header and payload in front of a cached token's
	// signature is a miss.
	sig := "." + strings.Repeat("s", keyTail)
	c.put("h1.p1"+sig, j, later)
	if _, ok := c.get("h2.p2"+sig, jwtNow); ok {
		t.Error("a token sharing only its signature with a cached one hit the cache")
	}
	if _, ok := c.get("h1.p1"+sig, jwtNow); !ok {
		t.Error("the cached token missed after a look-alike was looked up")
	}
}
