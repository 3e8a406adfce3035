package main

import (
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/internal/managedidentity"
	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
)

// Managed-identity token timing and bounds. A request waits at most
// tokenWait for a token; a failed fetch is retried after coldRetry; a
// worker's fetch lease (so that one worker fetches for all) lasts
// tokenLease.
const (
	tokenWait  = 10 * time.Second
	tokenLease = 15 * time.Second
	// maxTokens bounds the distinct (resource, client id) pairs cached
	// for resources that come from expressions; the constant ones of the
	// policies always have room. When it is reached, the entry that failed,
	// expired or was used least recently makes room (never one a request
	// waits for), and its shared-data slot is reused: a client choosing
	// resources can neither fill the cache for good nor grow Envoy's
	// shared data.
	maxTokens = 64
)

// tokenEntry is the token of one (resource, client id).
type tokenEntry struct {
	fetchState
	req       policy.TokenRequest
	key       string
	token     managedidentity.Token
	fetched   time.Time
	refreshAt time.Time
	failed    bool // the last attempt failed
	used      bool // asked for since the last fetch: keep it fresh
	lastUsed  time.Time
	reserved  bool // a constant resource of the policies: not counted against maxTokens
	wanted    bool // asked for in the background (the exporter's): fetch without a waiter
}

// tokenManager fetches, caches, shares and refreshes managed-identity
// tokens in the background (fetch.go); one worker fetches for all, a lease
// in shared data says who.
type tokenManager struct {
	waitList
	counters  counters
	source    *managedidentity.Source
	upstreams pluginconfig.Upstreams
	entries   map[string]*tokenEntry
	order     []string
	dynamic   int // entries not reserved
}

func newTokenManager() *tokenManager {
	return &tokenManager{waitList: newWaitList(), entries: map[string]*tokenEntry{}}
}

// reserve makes room for the tokens whose resource is known at load time,
// and makes sure every lease key exists (see lease).
func (m *tokenManager) reserve(reqs []policy.TokenRequest) {
	for _, r := range reqs {
		key := m.entryKey(r)
		if m.entries[key] == nil {
			e := &tokenEntry{req: r, key: key, reserved: true}
			m.entries[key] = e
			m.order = append(m.order, key)
			createLease(m.leaseKey(e))
		}
	}
	for i := 0; i < maxTokens; i++ {
		createLease(dynamicSlot("lease.", i))
	}
}

// dynamicSlot is the shared-data key of slot i of the resources that come
// from expressions: their number is bounded, Envoy's shared data never
// forgets a key.
func dynamicSlot(kind string, i int) string { return "apimguard.mi.d." + kind + strconv.Itoa(i) }

// slot is the shared-data slot of a resource from an expression.
func (m *tokenManager) slot(e *tokenEntry) int {
	h := fnv.New32a()
	h.Write([]byte(e.key))
	return int(h.Sum32() % maxTokens)
}

func (m *tokenManager) entryKey(r policy.TokenRequest) string {
	return m.source.Kind + "|" + r.Resource + "|" + r.ClientID
}

// Token implements policy.TokenStore.
func (m *tokenManager) Token(r policy.TokenRequest) string {
	e := m.entries[m.entryKey(r)]
	if e == nil {
		return ""
	}
	t := now()
	e.used, e.lastUsed = true, t
	if e.token.Usable(t) {
		return e.token.Value
	}
	return ""
}

// want asks for r's token (reserved at start) in the background: the
// exporter's, which no request waits for. It is fetched on a tick while
// none is usable.
func (m *tokenManager) want(r policy.TokenRequest) {
	if e := m.entries[m.entryKey(r)]; e != nil {
		e.wanted = true
	}
}

// wait registers the HTTP context id as waiting for r's token and reports
// whether it must wait; if not (too many distinct tokens, or a fetch just
// failed), the policy goes on without one. resume is called, with id as
// the effective context, when a token arrives, a fetch fails or the wait
// times out.
func (m *tokenManager) wait(r policy.TokenRequest, id uint32, resume func()) bool {
	key := m.entryKey(r)
	e := m.entries[key]
	t := now()
	if e == nil {
		if m.dynamic >= maxTokens && !m.evict(t) {
			proxywasm.LogWarnf("apimguard: managed identity: %d distinct resources from expressions are all being fetched; not fetching a token for another", maxTokens)
			return false
		}
		m.dynamic++
		e = &tokenEntry{req: r, key: key}
		m.entries[key] = e
		m.order = append(m.order, key)
	}
	if e.failed && !e.fetching && t.Sub(e.lastAttempt) < coldRetry {
		return false
	}
	e.used, e.lastUsed = true, t
	m.add(&e.fetchState, id, resume, t.Add(tokenWait))
	return true
}

// evict forgets one entry of a resource from an expression to make room
// for another: one whose last fetch failed first, then one without a
// usable token, then the one used least recently. An entry being fetched
// or waited for stays, and so do the policies' constant resources.
func (m *tokenManager) evict(t time.Time) bool {
	var victim *tokenEntry
	rank := func(e *tokenEntry) int {
		switch {
		case e.failed:
			return 0
		case !e.token.Usable(t):
			return 1
		}
		return 2
	}
	for _, key := range m.order {
		e := m.entries[key]
		if e.reserved || e.fetching || len(e.waiters) > 0 {
			continue
		}
		if victim == nil || rank(e) < rank(victim) || rank(e) == rank(victim) && e.lastUsed.Before(victim.lastUsed) {
			victim = e
		}
	}
	if victim == nil {
		return false
	}
	delete(m.entries, victim.key)
	m.order = slices.DeleteFunc(m.order, func(k string) bool { return k == victim.key })
	m.dynamic--
	return true
}

// tick expires waits, takes tokens other workers fetched, and starts the
// fetches that are due.
func (m *tokenManager) tick() {
	t := now()
	m.expire(t)
	for _, key := range m.order {
		e := m.entries[key]
		if e.stuck(t) {
			m.failed(e, "no answer")
		}
		if e.fetching {
			continue
		}
		if len(e.waiters) > 0 && e.token.Usable(t) {
			m.done(&e.fetchState) // a token arrived while they were being registered
			continue
		}
		if e.wanted && e.token.Usable(t) {
			e.wanted = false // a token came since it was wanted
		}
		waited := len(e.waiters) > 0 || e.wanted
		due := waited || (e.used && e.token.Value != "" && !t.Before(e.refreshAt))
		if !due || (e.failed && t.Sub(e.lastAttempt) < coldRetry) {
			continue
		}
		if m.loadShared(e, t) {
			e.wanted = false
			m.done(&e.fetchState)
			continue
		}
		if !takeLease(m.leaseKey(e), vmOwner, t, tokenLease) {
			continue // another worker is fetching: its token arrives through shared data
		}
		m.fetch(e, t)
	}
}

// fetch asks the token source for e's token.
func (m *tokenManager) fetch(e *tokenEntry, t time.Time) {
	e.start(t)
	req := m.source.Request(e.req)
	call := fetchCall{what: "token fetch", method: req.Method, url: req.URL, headers: req.Headers, body: req.Body}
	dispatchFetch(m.upstreams, call, func(body []byte) {
		tok, err := managedidentity.Parse(body, now())
		if err != nil {
			m.failed(e, err.Error())
			return
		}
		at := now()
		e.token, e.fetched, e.refreshAt, e.failed, e.used, e.wanted = tok, at, tok.RefreshAt(at), false, false, false
		m.counters.count(outcomeMetric("success", "token_fetches"))
		proxywasm.LogInfof("apimguard: managed identity: token for %s fetched, valid until %s", shortURL(e.req.Resource), tok.Expires.UTC().Format(time.RFC3339))
		m.storeShared(e)
		releaseLease(m.leaseKey(e), vmOwner)
		m.done(&e.fetchState)
	}, func(why string) { m.failed(e, why) })
}

// failed ends a fetch without a token; a token still valid stays in use.
func (m *tokenManager) failed(e *tokenEntry, why string) {
	proxywasm.LogWarnf("apimguard: managed identity: token fetch for %s failed: %s", shortURL(e.req.Resource), why)
	m.counters.count(outcomeMetric("failure", "token_fetches"))
	e.failed = true
	releaseLease(m.leaseKey(e), vmOwner)
	m.done(&e.fetchState)
}

// sharedKey is where e's token is shared: its own key for a constant
// resource, its slot for one from an expression (the value names the
// resource, so a slot another resource took is not read as e's).
func (m *tokenManager) sharedKey(e *tokenEntry) string {
	if e.reserved {
		return "apimguard.mi." + e.key
	}
	return dynamicSlot("token.", m.slot(e))
}

// leaseKey is the key of e's fetch lease, likewise.
func (m *tokenManager) leaseKey(e *tokenEntry) string {
	if e.reserved {
		return "apimguard.mi.lease." + e.key
	}
	return dynamicSlot("lease.", m.slot(e))
}

// storeShared publishes a token to the other workers' VMs (Envoy's
// process memory; never a log or a header).
func (m *tokenManager) storeShared(e *tokenEntry) {
	// {"key": ..., "token": ..., "expires": unix seconds, "fetched": unix nanoseconds}
	data := `{"key":` + policy.JSONString(e.key) + `,"token":` + policy.JSONString(e.token.Value) + `,"expires":` + strconv.FormatInt(e.token.Expires.Unix(), 10) +
		`,"fetched":` + strconv.FormatInt(e.fetched.UnixNano(), 10) + `}`
	if err := storeShared(m.sharedKey(e), []byte(data)); err != nil {
		proxywasm.LogWarnf("apimguard: managed identity: cannot share a token with other workers: %v", err)
	}
}

// loadShared takes a token another worker fetched after this VM's, when
// it is still usable and not due for refresh.
func (m *tokenManager) loadShared(e *tokenEntry, t time.Time) bool {
	doc, ok := loadShared(m.sharedKey(e), managedidentity.MaxToken+len(e.key)+256)
	if !ok {
		return false
	}
	key, value, expires, stamp := doc.Get("key"), doc.Get("token"), doc.Get("expires"), doc.Get("fetched")
	if key.Str != e.key || value.Type != gjson.String || expires.Type != gjson.Number || stamp.Type != gjson.Number {
		return false
	}
	fetched := time.Unix(0, stamp.Int())
	tok := managedidentity.Token{Value: value.Str, Expires: time.Unix(expires.Int(), 0)}
	if !fetched.After(e.fetched) || !tok.Usable(t) || !t.Before(tok.RefreshAt(fetched)) {
		return false
	}
	e.token, e.fetched, e.refreshAt, e.failed = tok, fetched, tok.RefreshAt(fetched), false
	return true
}
