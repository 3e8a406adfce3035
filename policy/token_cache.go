package policy

import (
	"strings"
	"time"

	"github.com/apimguard/apimguard/policy/expr"
)

// tokenCache remembers verified tokens until they expire. An entry holds
// its token, and only the exact token is a hit; the map key is the token's
// last keyTail bytes (signature bytes, for a signed token), so a lookup
// hashes 32 bytes instead of the whole token and needs no digest. It is
// bounded: at most max entries, evicted first in, first out, and tokens
// longer than maxCachedToken are never kept. Every operation is O(1), so a
// stream of tokens that all miss costs little more than the verifications.
type tokenCache struct {
	max     int
	entries map[string]cachedToken // by cacheKey
	// order is the keys in insertion order, a ring once it holds max;
	// next is the oldest slot then.
	order []string
	next  int
}

// maxCachedToken is the longest token the cache keeps (as Envoy's
// jwt_authn jwt_max_token_size): with the default 1024 entries the cache
// holds at most 4 MiB of tokens.
const maxCachedToken = 4096

type cachedToken struct {
	token string
	jwt   *expr.Jwt
	until time.Time
}

// keyTail is how many of a token's last bytes key the cache.
const keyTail = 32

func cacheKey(token string) string {
	if len(token) > keyTail {
		return token[len(token)-keyTail:]
	}
	return token
}

// defaultTokenCache is the number of verified tokens a validate-jwt keeps.
const defaultTokenCache = 1024

func newTokenCache(max int) *tokenCache {
	if max == 0 {
		max = defaultTokenCache
	}
	return &tokenCache{max: max, entries: map[string]cachedToken{}}
}

func (c *tokenCache) get(token string, now time.Time) (*expr.Jwt, bool) {
	k := cacheKey(token)
	e, ok := c.entries[k]
	if !ok || e.token != token {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.entries, k)
		return nil, false
	}
	return e.jwt, true
}

func (c *tokenCache) put(token string, j *expr.Jwt, until time.Time) {
	if c.max <= 0 || len(token) > maxCachedToken {
		return
	}
	k := cacheKey(token)
	if _, ok := c.entries[k]; ok {
		// The same token again, or (never in practice) another token
		// with the same last bytes: it takes the slot.
		c.entries[k] = cachedToken{token: strings.Clone(token), jwt: j, until: until}
		return
	}
	// Cloned: token may be a slice of the whole header value; the key is
	// a slice of the clone.
	token = strings.Clone(token)
	k = cacheKey(token)
	if len(c.order) < c.max {
		c.order = append(c.order, k)
	} else {
		delete(c.entries, c.order[c.next])
		c.order[c.next] = k
		c.next = (c.next + 1) % c.max
	}
	c.entries[k] = cachedToken{token: token, jwt: j, until: until}
}
