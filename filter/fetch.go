package main

// Background fetches. Signing keys (keys.go) and managed-identity tokens
// (tokens.go) are fetched through Envoy from the plugin (root) context on
// the tick, never from a request's, so a request that ends early never
// takes a fetch with it. A request that needs one waits in a waitList and
// is resumed, with its own context effective, when the fetch ends. What is
// fetched is shared with the other workers' VMs through shared data, and a
// lease there lets one worker fetch for all. The parts here know nothing
// of keys or tokens.

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tidwall/gjson"

	"github.com/apimguard/apimguard/internal/jsonlimit"
	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
)

// Fetch timing: the tick that starts fetches, how long one may take, and
// how soon one that failed is tried again.
const (
	tickMS         = 200
	fetchTimeoutMS = 5000
	// fetchStuck: a fetch without an answer this long is given up (Envoy
	// answers every call within fetchTimeoutMS; this is the backstop).
	fetchStuck = 15 * time.Second
	coldRetry  = 2 * time.Second
)

// fetchState is the fetch of one thing (a key source, a token): whether it
// is in flight, since when, and the requests waiting for it.
type fetchState struct {
	fetching     bool
	fetchStarted time.Time
	lastAttempt  time.Time
	waiters      []uint32
}

// start marks the fetch as in flight from t.
func (f *fetchState) start(t time.Time) { f.fetching, f.fetchStarted, f.lastAttempt = true, t, t }

// stuck reports whether the fetch has been in flight too long at t.
func (f *fetchState) stuck(t time.Time) bool { return f.fetching && t.Sub(f.fetchStarted) > fetchStuck }

// waitList holds the requests (HTTP context ids) waiting for background
// fetches, with what resumes each and when to stop waiting (zero: never;
// the fetch itself ends within fetchStuck).
type waitList struct {
	rootID  uint32 // the plugin context, made effective again after resuming
	waiting map[uint32]waiter
}

type waiter struct {
	resume   func()
	deadline time.Time
}

func newWaitList() waitList { return waitList{waiting: map[uint32]waiter{}} }

// add makes request id wait for f.
func (w *waitList) add(f *fetchState, id uint32, resume func(), deadline time.Time) {
	f.waiters = append(f.waiters, id)
	w.waiting[id] = waiter{resume: resume, deadline: deadline}
}

// cancel forgets a request that ended while it waited.
func (w *waitList) cancel(id uint32) { delete(w.waiting, id) }

// done ends f's fetch and resumes the requests that waited for it.
func (w *waitList) done(f *fetchState) {
	f.fetching = false
	ids := f.waiters
	f.waiters = nil
	w.resume(ids)
}

// expire resumes the requests whose wait ran past its deadline at t.
func (w *waitList) expire(t time.Time) {
	var late []uint32
	for id, wt := range w.waiting {
		if !wt.deadline.IsZero() && t.After(wt.deadline) {
			late = append(late, id)
		}
	}
	w.resume(late)
}

// resume resumes the requests ids that still wait, each with its own
// context effective, then makes the plugin's context effective again.
func (w *waitList) resume(ids []uint32) {
	if len(ids) == 0 {
		return
	}
	defer proxywasm.SetEffectiveContext(w.rootID)
	for _, id := range ids {
		wt, ok := w.waiting[id]
		if !ok {
			continue // it ended, or another fetch resumed it already
		}
		delete(w.waiting, id)
		if proxywasm.SetEffectiveContext(id) != nil {
			continue
		}
		wt.resume()
	}
}

// fetchCall is one call of a background fetch.
type fetchCall struct {
	what    string // names it in a recovered panic: "key fetch", "token fetch"
	method  string
	url     string // may come from outside (a jwks_uri): quoted shortened
	headers [][2]string
	body    []byte
}

// dispatchFetch sends c through the cluster that reaches its URL's host
// and hands the body of a 200 answer to ok, or to fail why there is none
// ("status 503", "no answer", never the body itself: an endpoint's error
// can echo what was sent).
func dispatchFetch(ups pluginconfig.Upstreams, c fetchCall, ok func(body []byte), fail func(why string)) {
	dispatchBackground(ups, c, func(resp *policy.CallResponse, why string) {
		switch {
		case resp == nil:
			fail(why)
		case resp.StatusCode != 200:
			fail(shortURL(c.url) + ": status " + strconv.Itoa(resp.StatusCode))
		default:
			ok(resp.Body)
		}
	})
}

// dispatchBackground sends c through the cluster that reaches its URL's
// host and hands done its answer, or nil and why there is none (the URL
// shortened, then "no answer", "bad URL"...).
func dispatchBackground(ups pluginconfig.Upstreams, c fetchCall, done func(resp *policy.CallResponse, why string)) {
	shown := shortURL(c.url)
	u, err := url.Parse(c.url)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		done(nil, "bad URL "+strconv.Quote(shown))
		return
	}
	path := u.EscapedPath()
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	cluster := ups.Cluster(u.Host, u.Scheme)
	headers := callHeaders(c.method, path, u.Host, u.Scheme, c.headers...)
	_, err = proxywasm.DispatchHttpCall(cluster, headers, c.body, nil, fetchTimeoutMS, func(numHeaders, bodySize, _ int) {
		defer func() {
			if r := recover(); r != nil {
				recovered(c.what, r)
				done(nil, shown+": internal error")
			}
		}()
		testPanic(c.what)
		if numHeaders == 0 {
			done(nil, shown+": no answer")
			return
		}
		resp, err := callResponse(bodySize)
		if err != nil {
			done(nil, shown+": "+err.Error())
			return
		}
		done(resp, "")
	})
	if err != nil {
		done(nil, "cannot call cluster "+strconv.Quote(cluster)+": "+err.Error())
	}
}

// shortURL shortens a URL that may come from outside for a log line.
func shortURL(s string) string {
	if len(s) > 100 {
		return s[:97] + "..."
	}
	return s
}

// storeShared publishes data under key for the other workers' VMs
// (Envoy's process memory; never a log or a header).
func storeShared(key string, data []byte) error {
	_, cas, _ := proxywasm.GetSharedData(key)
	return proxywasm.SetSharedData(key, data, cas)
}

// loadShared reads the JSON object another worker published under key, at
// most limit bytes; ok is false without one.
func loadShared(key string, limit int) (doc gjson.Result, ok bool) {
	data, _, err := proxywasm.GetSharedData(key)
	if err != nil || len(data) == 0 || len(data) > limit || jsonlimit.Check(data, limit) != nil || !gjson.ValidBytes(data) {
		return gjson.Result{}, false
	}
	return gjson.ParseBytes(data), true
}

// A lease in shared data says which worker fetches a thing for all:
// "owner|until" (unix nanoseconds). Its key must exist before any worker
// takes it (createLease at plugin start, which Envoy runs on its main
// thread before any worker), so every lease is taken with compare-and-swap
// and of two workers that try at once one wins.

// vmOwner is this VM's lease owner id: random, one per worker's VM.
var vmOwner = func() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// createLease creates an empty lease at key unless one exists.
func createLease(key string) {
	if _, _, err := proxywasm.GetSharedData(key); err == types.ErrorStatusNotFound {
		_ = proxywasm.SetSharedData(key, nil, 0)
	}
}

// takeLease takes the lease at key for owner until t+d, unless another
// owner holds it.
func takeLease(key, owner string, t time.Time, d time.Duration) bool {
	data, cas, err := proxywasm.GetSharedData(key)
	switch {
	case err == types.ErrorStatusNotFound:
		createLease(key) // never expected; take it on the next tick
		return false
	case err != nil:
		return true // no shared data: fetch alone rather than never
	}
	if holder, until, ok := strings.Cut(string(data), "|"); ok && holder != owner {
		if n, err := strconv.ParseInt(until, 10, 64); err == nil && t.Before(time.Unix(0, n)) {
			return false
		}
	}
	mine := owner + "|" + strconv.FormatInt(t.Add(d).UnixNano(), 10)
	return proxywasm.SetSharedData(key, []byte(mine), cas) == nil // else another worker took it first
}

// releaseLease gives owner's lease at key back.
func releaseLease(key, owner string) {
	if data, cas, err := proxywasm.GetSharedData(key); err == nil && strings.HasPrefix(string(data), owner+"|") {
		_ = proxywasm.SetSharedData(key, []byte(owner+"|0"), cas)
	}
}
