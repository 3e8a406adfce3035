package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
	"github.com/apimguard/apimguard/policy/jwt"
)

// Key-set timing, as APIM: keys are refreshed every hour, a token with an
// unknown kid triggers at most one refetch per source every 5 minutes.
// Before any keys are loaded the source is retried every coldRetry.
const (
	keyRefresh      = time.Hour
	unknownKidDelay = 5 * time.Minute
)

// keySource is one openid-config URL and the keys fetched from it.
type keySource struct {
	fetchState
	url            string
	set            *jwt.KeySet
	wanted         bool // a request asked for a fetch at the next tick
	lastSuccess    time.Time
	lastKidRefetch time.Time
}

// keyManager fetches and caches the key sets of every openid-config
// source, in the background (fetch.go). The waitList knows the requests
// waiting for keys only by id.
type keyManager struct {
	waitList
	counters  counters
	sources   map[string]*keySource
	order     []string
	upstreams pluginconfig.Upstreams
}

func newKeyManager() *keyManager {
	return &keyManager{waitList: newWaitList(), sources: map[string]*keySource{}}
}

// configure sets the sources to fetch and the clusters that reach them.
func (m *keyManager) configure(urls []string, u pluginconfig.Upstreams) {
	m.upstreams = u
	for _, s := range urls {
		m.sources[s] = &keySource{url: s}
		m.order = append(m.order, s)
		createLease(keyLease(s))
	}
}

// KeySet implements policy.KeyStore.
func (m *keyManager) KeySet(source string) *jwt.KeySet {
	if s := m.sources[source]; s != nil {
		return s.set
	}
	return nil
}

// wait registers the HTTP context id as waiting for a (re)fetch of the
// sources, when one is in flight or allowed now, and reports whether it
// must wait; if not, the policy goes on with the keys it has. resume is
// called, with id as the effective context, when the fetch ends. Only a
// waiting context is recorded, so a request that never waits costs no map
// update.
func (m *keyManager) wait(sources []string, id uint32, resume func()) bool {
	t := now()
	must := false
	for _, src := range sources {
		s := m.sources[src]
		switch {
		case s == nil:
			continue
		case s.fetching || s.wanted:
		case s.set == nil && t.Sub(s.lastAttempt) >= time.Second:
			s.wanted = true
		case s.set != nil && t.Sub(s.lastKidRefetch) >= unknownKidDelay:
			s.lastKidRefetch = t
			s.wanted = true
		default:
			continue
		}
		m.add(&s.fetchState, id, resume, time.Time{})
		must = true
	}
	return must
}

// tick starts the fetches that are due.
func (m *keyManager) tick() {
	t := now()
	for _, src := range m.order {
		s := m.sources[src]
		if s.stuck(t) {
			proxywasm.LogWarnf("apimguard: key fetch from %s got no answer; giving up on it", s.url)
			m.done(&s.fetchState)
		}
		if s.fetching {
			continue
		}
		due := s.wanted ||
			(s.set == nil && t.Sub(s.lastAttempt) >= coldRetry) ||
			(s.set != nil && t.Sub(s.lastSuccess) >= keyRefresh)
		if !due {
			continue
		}
		if m.loadShared(s) {
			// Another worker fetched newer keys: use them, fetch nothing.
			m.done(&s.fetchState)
			continue
		}
		if !takeLease(keyLease(s.url), vmOwner, t, fetchStuck) {
			continue // another worker is fetching: its keys arrive through shared data
		}
		m.fetch(s)
	}
}

// fetch gets the discovery document, then the JWK set it names.
func (m *keyManager) fetch(s *keySource) {
	s.start(now())
	s.wanted = false
	failed := func(why string) { m.failed(s, why) }
	get := func(rawURL string, next func([]byte)) {
		dispatchFetch(m.upstreams, fetchCall{what: "key fetch", method: "GET", url: rawURL, headers: [][2]string{{"accept", "application/json"}}}, next, failed)
	}
	get(s.url, func(body []byte) {
		issuer, jwksURI, err := jwt.ParseDiscovery(body)
		if err != nil {
			m.failed(s, err.Error())
			return
		}
		get(jwksURI, func(body []byte) {
			keys, err := jwt.ParseJWKS(body)
			if err != nil {
				m.failed(s, err.Error())
				return
			}
			s.set = &jwt.KeySet{Issuer: issuer, Keys: keys}
			s.lastSuccess = now()
			proxywasm.LogInfof("apimguard: loaded %d signing keys from %s", len(keys), s.url)
			m.counters.count(outcomeMetric("success", "key_fetches"))
			m.storeShared(s, issuer, body)
			releaseLease(keyLease(s.url), vmOwner)
			m.done(&s.fetchState)
		})
	})
}

// failed ends a fetch that did not load keys; the last good keys stay.
// why can quote the provider's answer (a parser's error): it is cut to 200
// bytes, so a provider cannot write megabytes into the log.
func (m *keyManager) failed(s *keySource, why string) {
	why = strings.TrimSpace(why)
	if len(why) > 200 {
		why = strings.ToValidUTF8(why[:197], "") + "..."
	}
	proxywasm.LogWarnf("apimguard: key fetch from %s failed: %s", s.url, why)
	m.counters.count(outcomeMetric("failure", "key_fetches"))
	releaseLease(keyLease(s.url), vmOwner)
	m.done(&s.fetchState)
}

func sharedKey(source string) string { return "apimguard.keys." + source }

// keyLease is the key of the lease of source's fetch (one worker fetches
// for all).
func keyLease(source string) string { return "apimguard.keys.lease." + source }

// storeShared publishes a fetched key set to the other workers' VMs.
func (m *keyManager) storeShared(s *keySource, issuer string, jwks []byte) {
	// {"at": unix nanoseconds of the fetch, "issuer": ..., "jwks": the set}
	// (jwks passed ParseJWKS: it is JSON).
	data := `{"at":` + strconv.FormatInt(s.lastSuccess.UnixNano(), 10) + `,"issuer":` + policy.JSONString(issuer) + `,"jwks":` + string(jwks) + `}`
	if err := storeShared(sharedKey(s.url), []byte(data)); err != nil {
		proxywasm.LogWarnf("apimguard: cannot share the keys of %s with other workers: %v", s.url, err)
	}
}

// loadShared takes a key set another worker fetched, when it is newer than
// this VM's and younger than the refresh period. An unknown-kid refetch
// also accepts any newer set: it may hold the new kid.
func (m *keyManager) loadShared(s *keySource) bool {
	doc, ok := loadShared(sharedKey(s.url), 2*jwt.MaxKeyDocumentSize)
	if !ok {
		return false
	}
	stamp, issuer := doc.Get("at"), doc.Get("issuer")
	if stamp.Type != gjson.Number || issuer.Type != gjson.String {
		return false
	}
	at := time.Unix(0, stamp.Int())
	if !at.After(s.lastSuccess) || now().Sub(at) >= keyRefresh {
		return false
	}
	keys, err := jwt.ParseJWKS([]byte(doc.Get("jwks").Raw))
	if err != nil {
		return false
	}
	s.set = &jwt.KeySet{Issuer: issuer.Str, Keys: keys}
	s.lastSuccess, s.wanted = at, false
	return true
}
