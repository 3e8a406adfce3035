// Command native is apimguard's engine as an Envoy dynamic module: a
// shared library (go build -buildmode=c-shared, make native) that Envoy
// 1.40.0 loads as an HTTP filter (envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter),
// built to measure what the engine costs outside V8 (issue #33,
// BENCHMARKS.md). It is not the product: the Wasm module is.
//
// It runs what needs no call out of Envoy: the plugin configuration (a
// <policies> document or the JSON object of docs/configuration.md) with
// check-header, ip-filter, cors, validate-jwt with issuer-signing-keys and
// the rest of the engine's elements that decide from the request alone. A
// configuration that needs what this host does not offer (openid-config
// key fetches, managed identities, the value cache, throttling counters,
// backends, exports) refuses to load, with one log line naming it; a
// request whose policy would make a call, wait or read a body is refused
// with a 500. Every request of one configuration runs under one lock: the
// engine's state (the verified-token cache) was written for one thread per
// VM.
package main

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/apimguard/apimguard/internal/pluginconfig"
	"github.com/apimguard/apimguard/policy"
)

func main() {} // a c-shared library has no main; Envoy calls the hooks

// config is one filter configuration: the compiled gateway and the lock its
// requests take.
type config struct {
	mu             sync.Mutex
	gw             *policy.Gateway
	xffTrustedHops int
}

// newConfig compiles a configuration; 0 (Envoy then rejects it) on any
// problem, after one log line naming it.
func newConfig(name string, data []byte) (handle uintptr) {
	defer func() {
		if r := recover(); r != nil {
			log(levelCritical, fmt.Sprintf("apimguard: refusing to start: configuration: %v", r))
			handle = 0
		}
	}()
	c, err := compile(data)
	if err != nil {
		log(levelCritical, "apimguard: refusing to start: "+err.Error())
		return 0
	}
	for _, w := range c.gw.Warnings() {
		log(levelWarn, "apimguard: "+w)
	}
	log(levelInfo, "apimguard: policy loaded (native, filter "+strconv.Quote(name)+")")
	return configs.put(c)
}

// compile reads and compiles the plugin configuration, refusing what this
// host cannot serve.
func compile(data []byte) (*config, error) {
	cfg, err := pluginconfig.Parse(data)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.ManagedIdentity != nil:
		return nil, fmt.Errorf("plugin configuration: managedIdentity needs token fetches, which the native build does not make")
	case cfg.Exports.AzureMonitor != nil || len(cfg.Exports.Loggers) > 0:
		return nil, fmt.Errorf("plugin configuration: events and loggers need calls, which the native build does not make")
	case cfg.RateLimitService != nil:
		return nil, fmt.Errorf("plugin configuration: rateLimitService needs calls, which the native build does not make")
	}
	// No key store, token store, value cache, counters or backends: the
	// elements that need them (openid-config, authentication-managed-identity,
	// cache-*-value, the throttling elements, set-backend-service) do not
	// compile, and the error names the document, line and element.
	gw, err := cfg.Compile(nil, nil, time.Now, nil)
	if err != nil {
		return nil, err
	}
	if gw.Sleeps() {
		return nil, fmt.Errorf("plugin configuration: retry and wait need timers, which the native build does not have")
	}
	return &config{gw: gw, xffTrustedHops: cfg.XFFTrustedHops}, nil
}

// filter is one request's state. It implements policy.Request.
type filter struct {
	c        *config
	envoy    uintptr // the Envoy filter of the current callback
	exec     policy.Exec
	started  bool
	answered bool
	headers  [][2]string // the request's whole map, once read
	listed   bool
	clientIP *string
}

func newFilter(configHandle uintptr) uintptr {
	c := configs.get(configHandle)
	if c == nil {
		return 0
	}
	return filters.add(c)
}

var internalError = [][2]string{{"content-type", "application/json"}}

// internalErrorBody is the fixed body of a request-time failure.
const internalErrorBody = policy.InternalErrorBody

// requestHeaders runs the inbound section.
func (f *filter) requestHeaders(envoy uintptr) (status int) {
	f.envoy = envoy
	defer f.recoverTo(&status)
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	gw := f.c.gw
	f.started = true
	gw.Begin(&f.exec, f, time.Now())
	return f.apply(f.exec.Inbound(), requestHeaders)
}

// responseHeaders runs the outbound section.
func (f *filter) responseHeaders(envoy uintptr) (status int) {
	if f == nil || !f.started || f.answered {
		return statusContinue
	}
	f.envoy = envoy
	defer f.recoverTo(&status)
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.apply(f.exec.Outbound(response{envoy}), responseHeaders)
}

// complete gives back what the request held (concurrency slots).
func (f *filter) complete() {
	if f == nil || !f.started {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			log(levelError, fmt.Sprintf("apimguard: stream end: %v", r))
		}
	}()
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	f.exec.End(0)
	f.started = false
}

// apply carries out the engine's result on the headers of kind.
func (f *filter) apply(r policy.Result, kind int) int {
	switch r.Action {
	case policy.Respond:
		return f.respond(r.Status, r.Headers, r.Body)
	case policy.Continue:
	default:
		log(levelError, "apimguard: denying request: the policy needs "+r.Action.String()+", which the native build does not do")
		return f.respond(500, internalError, internalErrorBody)
	}
	if r.BodyEdits != nil {
		log(levelError, "apimguard: denying request: the policy changes a body, which the native build does not do")
		return f.respond(500, internalError, internalErrorBody)
	}
	ok := true
	if kind == responseHeaders && r.Status != 0 {
		ok = setHeader(f.envoy, kind, ":status", strconv.Itoa(r.Status))
	}
	for _, e := range r.Edits {
		switch {
		case e.Values == nil:
			ok = removeHeader(f.envoy, kind, e.Name) && ok
		case e.Append:
			for _, v := range e.Values {
				ok = addHeader(f.envoy, kind, e.Name, v) && ok
			}
		default:
			ok = setHeader(f.envoy, kind, e.Name, e.Values[0]) && ok
			for _, v := range e.Values[1:] {
				ok = addHeader(f.envoy, kind, e.Name, v) && ok
			}
		}
	}
	if !ok {
		log(levelError, "apimguard: denying request: Envoy refused a header edit")
		return f.respond(500, internalError, internalErrorBody)
	}
	return statusContinue
}

// respond sends a local response; the stream stops here.
func (f *filter) respond(status int, headers [][2]string, body string) int {
	f.answered = true
	sendResponse(f.envoy, status, headers, body)
	return statusStopIteration
}

// recoverTo turns a panic into a 500: fail closed, and never let a panic
// reach Envoy's thread (it would end the process).
func (f *filter) recoverTo(status *int) {
	if r := recover(); r != nil {
		log(levelError, fmt.Sprintf("apimguard: denying request: %v", r))
		*status = f.respond(500, internalError, internalErrorBody)
	}
}

// Header implements policy.Request.
func (f *filter) Header(name string) (string, bool) {
	if f.listed {
		return policy.JoinHeader(f.headers, name)
	}
	return getHeader(f.envoy, requestHeaders, name)
}

// Headers implements policy.HeaderLister.
func (f *filter) Headers() [][2]string {
	if !f.listed {
		f.headers, f.listed = getHeaders(f.envoy, requestHeaders), true
	}
	return f.headers
}

// ClientIP implements policy.Request as the Wasm module does: Envoy's
// downstream address without its port, or with clientIp.xffTrustedHops
// the N-th address from the right of X-Forwarded-For.
func (f *filter) ClientIP() string {
	if f.clientIP == nil {
		ip := ""
		if f.c.xffTrustedHops > 0 {
			xff, _ := f.Header("x-forwarded-for")
			ip = policy.ClientFromXFF(xff, f.c.xffTrustedHops)
		} else if addr, ok := attribute(f.envoy, attributeSourceAddress); ok {
			ip = policy.HostOnly(addr)
		}
		f.clientIP = &ip
	}
	return *f.clientIP
}

// response is the upstream's response headers.
type response struct{ envoy uintptr }

func (r response) Header(name string) (string, bool) {
	return getHeader(r.envoy, responseHeaders, name)
}

// table hands out small integer handles for Go values Envoy refers to:
// Envoy keeps the handle, never a Go pointer. Slots are reused.
type table[T any] struct {
	mu    sync.Mutex
	items []*T
	free  []uintptr
}

func (t *table[T]) put(v *T) uintptr {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.free); n > 0 {
		h := t.free[n-1]
		t.free = t.free[:n-1]
		t.items[h-1] = v
		return h
	}
	t.items = append(t.items, v)
	return uintptr(len(t.items))
}

func (t *table[T]) get(h uintptr) *T {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h == 0 || h > uintptr(len(t.items)) {
		return nil
	}
	return t.items[h-1]
}

func (t *table[T]) take(h uintptr) *T {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h == 0 || h > uintptr(len(t.items)) || t.items[h-1] == nil {
		return nil
	}
	v := t.items[h-1]
	t.items[h-1] = nil
	t.free = append(t.free, h)
	return v
}

// filterTable keeps finished filters for reuse: a request then allocates
// no filter.
type filterTable struct {
	table[filter]
	spare []*filter
}

func (t *filterTable) add(c *config) uintptr {
	t.mu.Lock()
	var f *filter
	if n := len(t.spare); n > 0 {
		f, t.spare = t.spare[n-1], t.spare[:n-1]
	} else {
		f = &filter{}
	}
	t.mu.Unlock()
	f.c = c
	return t.put(f)
}

func (t *filterTable) release(h uintptr) {
	f := t.take(h)
	if f == nil {
		return
	}
	// A stream Envoy destroys without completing it (a reset) still gives
	// back what it held.
	f.complete()
	*f = filter{}
	t.mu.Lock()
	if len(t.spare) < 64 {
		t.spare = append(t.spare, f)
	}
	t.mu.Unlock()
}

var (
	configs table[config]
	filters filterTable
)
