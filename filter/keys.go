package main

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/internal/jsonlimit"
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
	coldRetry       = 2 * time.Second
	fetchTimeoutMS  = 5000
	fetchStuck      = 15 * time.Second
	tickMS          = 200
)

// keySource is one openid-config URL and the keys fetched from it.
type keySource struct {
	url            string
	set            *jwt.KeySet
	fetching       bool
	wanted         bool // a request asked for a fetch at the next tick
	fetchStarted   time.Time
	lastAttempt    time.Time
	lastSuccess    time.Time
	lastKidRefetch time.Time
	waiters        []uint32 // HTTP contexts waiting for this fetch
}

// keyManager fetches and caches the key sets of every openid-config source.
// All fetches are dispatched from the plugin (root) context on ticks, so a
// request that ends early never takes a fetch with it.
type keyManager struct {
	rootID    uint32 // the plugin context, made effective again after resuming waiters
	counters  counters
	sources   map[string]*keySource
	order     []string
	upstreams pluginconfig.Upstreams
	// waiting are the HTTP contexts waiting for keys, with what resumes
	// each: the manager knows requests only by id.
	waiting map[uint32]func()
}

func newKeyManager() *keyManager {
	return &keyManager{sources: map[string]*keySource{}, waiting: map[uint32]func(){}}
}

// configure sets the sources to fetch and the clusters that reach them.
func (m *keyManager) configure(urls []string, u pluginconfig.Upstreams) {
	m.upstreams = u
	for _, s := range urls {
		m.sources[s] = &keySource{url: s}
		m.order = append(m.order, s)
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
		s.waiters = append(s.waiters, id)
		must = true
	}
	if must {
		m.waiting[id] = resume
	}
	return must
}

// cancel forgets a context that ended while it waited.
func (m *keyManager) cancel(id uint32) { delete(m.waiting, id) }

// tick starts the fetches that are due.
func (m *keyManager) tick() {
	t := now()
	for _, src := range m.order {
		s := m.sources[src]
		if s.fetching && t.Sub(s.fetchStarted) > fetchStuck {
			proxywasm.LogWarnf("apimguard: key fetch from %s got no answer; giving up on it", s.url)
			m.done(s)
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
			m.done(s)
			continue
		}
		m.fetch(s)
	}
}

// fetch gets the discovery document, then the JWK set it names.
func (m *keyManager) fetch(s *keySource) {
	t := now()
	s.fetching, s.wanted, s.fetchStarted, s.lastAttempt = true, false, t, t
	m.get(s, s.url, func(body []byte) {
		issuer, jwksURI, err := jwt.ParseDiscovery(body)
		if err != nil {
			m.failed(s, err.Error())
			return
		}
		m.get(s, jwksURI, func(body []byte) {
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
			m.done(s)
		})
	})
}

// get makes one GET of a key-fetching step; on success next gets the body.
// rawURL may come from the identity provider (jwks_uri): log lines quote it
// shortened.
func (m *keyManager) get(s *keySource, rawURL string, next func([]byte)) {
	u, err := url.Parse(rawURL)
	if len(rawURL) > 100 {
		rawURL = rawURL[:97] + "..."
	}
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		m.failed(s, "bad URL "+strconv.Quote(rawURL))
		return
	}
	path := u.EscapedPath()
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	cluster := m.upstreams.Cluster(u.Host, u.Scheme)
	headers := callHeaders("GET", path, u.Host, u.Scheme, [2]string{"accept", "application/json"})
	_, err = proxywasm.DispatchHttpCall(cluster, headers, nil, nil, fetchTimeoutMS, func(numHeaders, bodySize, _ int) {
		defer func() {
			if r := recover(); r != nil {
				recovered("key fetch", r)
				m.failed(s, rawURL+": internal error")
			}
		}()
		testPanic("key fetch")
		body, why := okBody(numHeaders, bodySize)
		if why != "" {
			m.failed(s, rawURL+": "+why)
			return
		}
		next(body)
	})
	if err != nil {
		m.failed(s, "cannot call cluster "+strconv.Quote(cluster)+": "+err.Error())
	}
}

// okBody reads the answer of a key or token fetch: the body of a 200, or
// why there is none ("no answer", "status 503"; never the body itself).
func okBody(numHeaders, bodySize int) ([]byte, string) {
	if numHeaders == 0 {
		return nil, "no answer"
	}
	resp, err := callResponse(bodySize)
	if err != nil || resp.StatusCode != 200 {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, "status " + strconv.Itoa(status)
	}
	return resp.Body, ""
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
	m.done(s)
}

// done ends a fetch and resumes the requests that waited for it.
func (m *keyManager) done(s *keySource) {
	s.fetching = false
	waiters := s.waiters
	s.waiters = nil
	resumeWaiters(m.rootID, waiters, func(id uint32) func() {
		resume := m.waiting[id]
		delete(m.waiting, id)
		return resume
	})
}

// resumeWaiters resumes the requests ids that still wait (take returns a
// request's resume function and forgets it; nil when it no longer waits),
// each with its own context effective, then makes the plugin's context
// effective again.
func resumeWaiters(rootID uint32, ids []uint32, take func(id uint32) func()) {
	if len(ids) == 0 {
		return
	}
	defer proxywasm.SetEffectiveContext(rootID)
	for _, id := range ids {
		resume := take(id)
		if resume == nil || proxywasm.SetEffectiveContext(id) != nil {
			continue
		}
		resume()
	}
}

func sharedKey(source string) string { return "apimguard.keys." + source }

// storeShared publishes a fetched key set to the other workers' VMs.
func (m *keyManager) storeShared(s *keySource, issuer string, jwks []byte) {
	// {"at": unix nanoseconds of the fetch, "issuer": ..., "jwks": the set}
	// (jwks passed ParseJWKS: it is JSON).
	data := `{"at":` + strconv.FormatInt(s.lastSuccess.UnixNano(), 10) + `,"issuer":` + policy.JSONString(issuer) + `,"jwks":` + string(jwks) + `}`
	if err := proxywasm.SetSharedData(sharedKey(s.url), []byte(data), 0); err != nil {
		proxywasm.LogWarnf("apimguard: cannot share the keys of %s with other workers: %v", s.url, err)
	}
}

// loadShared takes a key set another worker fetched, when it is newer than
// this VM's and younger than the refresh period. An unknown-kid refetch
// also accepts any newer set: it may hold the new kid.
func (m *keyManager) loadShared(s *keySource) bool {
	data, _, err := proxywasm.GetSharedData(sharedKey(s.url))
	if err != nil || len(data) == 0 {
		return false
	}
	if jsonlimit.Check(data, 2*jwt.MaxKeyDocumentSize) != nil || !gjson.ValidBytes(data) {
		return false
	}
	doc := gjson.ParseBytes(data)
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
