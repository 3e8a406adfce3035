//go:build !wasip1

package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"

	"github.com/apimguard/apimguard/internal/managedidentity"
	"github.com/apimguard/apimguard/policy"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

const miConfig = `{"policy": "<policies><inbound><authentication-managed-identity resource=\"https://vault.azure.net\" /></inbound></policies>",
  "managedIdentity": {"source": "imds"}, "upstreams": {"169.254.169.254": "imds"}}`

// A request waits for the first token; the tick fetches it from the
// instance metadata service; the request goes on with it, and the next
// one uses the cached token without a fetch.
func TestTokens_imds(t *testing.T) {
	eachVM(t, func(t *testing.T, vm types.VMContext) {
		p, st := startPluginVM(t, vm, `{"testClock": "`+time.Now().UTC().Format(time.RFC3339)+`"}`, miConfig)
		if st != types.OnPluginStartStatusOK {
			t.Fatalf("refused: %q", p.host.GetCriticalLogs())
		}
		id := p.host.InitializeHttpContext()
		if a := p.host.CallOnRequestHeaders(id, [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "api.example.com"}, {"authorization", "Bearer client"}}, true); a != types.ActionPause {
			t.Fatalf("action %v, want a pause for the token", a)
		}
		p.host.Tick()
		calls := p.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
		if len(calls) != 1 || calls[0].Upstream != "imds" {
			t.Fatalf("calls %+v", calls)
		}
		path := headerValue(calls[0].Headers, ":path")
		if !strings.HasPrefix(path, "/metadata/identity/oauth2/token?") || !strings.Contains(path, "resource=https%3A%2F%2Fvault.azure.net") || !strings.Contains(path, "api-version=2018-02-01") || headerValue(calls[0].Headers, "metadata") != "true" {
			t.Fatalf("request %+v", calls[0].Headers)
		}
		expires := time.Now().Add(time.Hour).Unix()
		p.host.CallOnHttpCallResponse(calls[0].CalloutID, [][2]string{{":status", "200"}}, nil,
			[]byte(`{"access_token":"eyJ0.imds.tok","expires_on":"`+itoa64(expires)+`","token_type":"Bearer","resource":"https://vault.azure.net"}`))
		if got := headerValue(p.host.GetCurrentRequestHeaders(id), "authorization"); got != "Bearer eyJ0.imds.tok" || p.host.GetCurrentHttpStreamAction(id) != types.ActionContinue {
			t.Fatalf("after the fetch: authorization %q, action %v", got, p.host.GetCurrentHttpStreamAction(id))
		}
		if o := p.request(); headerValue(o.upstream, "authorization") != "Bearer eyJ0.imds.tok" || o.action != types.ActionContinue {
			t.Fatalf("cached: %+v", o)
		}
		if n := len(p.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)); n != 1 {
			t.Fatalf("%d fetches, want 1", n)
		}
		for _, l := range append(p.host.GetInfoLogs(), p.host.GetWarnLogs()...) {
			if strings.Contains(l, "eyJ0.imds.tok") {
				t.Fatalf("the token is in a log line: %s", l)
			}
		}
	})
}

// A token source that answers garbage: the waiting request gets the fixed
// 500, never a request without the header the policy demanded.
func TestTokens_garbage(t *testing.T) {
	for _, body := range []string{`{"access_token":"a\r\nX-Evil: 1","expires_in":3600}`, `not json`, `{"access_token":"t","expires_in":10}`, `{"expires_in":3600}`} {
		t.Run(body, func(t *testing.T) { garbageToken(t, body) })
	}
}

func garbageToken(t *testing.T, body string) {
	{
		p := mustStart(t, &vmContext{}, miConfig)
		id := p.host.InitializeHttpContext()
		p.host.CallOnRequestHeaders(id, [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "api.example.com"}}, true)
		p.host.Tick()
		calls := p.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
		if len(calls) != 1 {
			t.Fatalf("%s: calls %+v", body, calls)
		}
		p.host.CallOnHttpCallResponse(calls[0].CalloutID, [][2]string{{":status", "200"}}, nil, []byte(body))
		if local := p.host.GetSentLocalResponse(id); local == nil || local.StatusCode != 500 {
			t.Fatalf("%s: %+v", body, local)
		}
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// Resources from expressions are bounded; the constant resources of the
// policies always have room, however many a client made up first.
func TestTokens_bound(t *testing.T) {
	mustStart(t, &vmContext{}, miConfig) // a host for the manager's log lines
	m := newTokenManager()
	m.rootID = proxytest.PluginContextID
	m.source = &managedidentity.Source{Kind: managedidentity.IMDS}
	m.reserve([]policy.TokenRequest{{Resource: "https://vault.azure.net"}})
	for i := 0; i < maxTokens; i++ {
		if !m.wait(policy.TokenRequest{Resource: "api://made-up-" + strconv.Itoa(i)}, uint32(100+i), func() {}) {
			t.Fatalf("dynamic resource %d refused", i)
		}
	}
	if m.wait(policy.TokenRequest{Resource: "api://one-too-many"}, 999, func() {}) {
		t.Fatal("a resource past the bound was accepted")
	}
	if !m.wait(policy.TokenRequest{Resource: "https://vault.azure.net"}, 1000, func() {}) {
		t.Fatal("the policy's constant resource was refused")
	}
}

// When the resources from expressions fill the cache, a new one takes the
// place of one whose fetch failed, then of one without a usable token,
// then of the one used least recently; never of one being waited for or
// of a constant resource of the policies (issue #26).
func TestTokens_evict(t *testing.T) {
	mustStart(t, &vmContext{}, miConfig)
	m := newTokenManager()
	m.rootID = proxytest.PluginContextID
	m.source = &managedidentity.Source{Kind: managedidentity.IMDS}
	constant := policy.TokenRequest{Resource: "https://vault.azure.net"}
	m.reserve([]policy.TokenRequest{constant})
	res := func(i int) policy.TokenRequest { return policy.TokenRequest{Resource: "api://r-" + strconv.Itoa(i)} }
	base := time.Now()
	for i := 0; i < maxTokens; i++ {
		e := &tokenEntry{req: res(i), key: m.entryKey(res(i)), lastUsed: base.Add(time.Duration(i) * time.Second),
			token: managedidentity.Token{Value: "t", Expires: base.Add(time.Hour)}}
		m.entries[e.key], m.order, m.dynamic = e, append(m.order, e.key), m.dynamic+1
	}
	m.entries[m.entryKey(res(40))].failed = true
	m.entries[m.entryKey(res(41))].token = managedidentity.Token{}
	m.entries[m.entryKey(res(0))].waiters = []uint32{7} // the oldest, but waited for
	for _, want := range []int{40, 41, 1, 2} {
		if !m.evict(base.Add(time.Minute)) {
			t.Fatalf("nothing evicted, want r-%d", want)
		}
		if m.entries[m.entryKey(res(want))] != nil {
			t.Fatalf("r-%d is still cached", want)
		}
	}
	if m.entries[m.entryKey(res(0))] == nil || m.entries[m.entryKey(constant)] == nil {
		t.Fatal("a waited-for or constant resource was evicted")
	}
	if m.dynamic != maxTokens-4 || len(m.order) != maxTokens-4+1 {
		t.Fatalf("dynamic %d, order %d", m.dynamic, len(m.order))
	}
}

// A fetch lease is taken with compare-and-swap on a key that exists from
// plugin start: of two workers, one gets it; the other gets it once it is
// given back (issue #26: the first lease was an unconditional write).
func TestTokens_lease(t *testing.T) {
	mustStart(t, &vmContext{}, miConfig)
	workers := [2]*tokenManager{newTokenManager(), newTokenManager()}
	for _, m := range workers {
		m.source = &managedidentity.Source{Kind: managedidentity.IMDS}
		m.reserve([]policy.TokenRequest{{Resource: "https://vault.azure.net"}})
	}
	a, b := workers[0], workers[1]
	ea, eb := a.entries[a.order[0]], b.entries[b.order[0]]
	if _, cas, err := proxywasm.GetSharedData(a.leaseKey(ea)); err != nil || cas == 0 {
		t.Fatalf("the lease key does not exist after start: cas %d, %v", cas, err)
	}
	t0 := time.Now()
	if !takeLease(a.leaseKey(ea), "worker-a", t0, tokenLease) {
		t.Fatal("the first worker did not get the lease")
	}
	if takeLease(b.leaseKey(eb), "worker-b", t0, tokenLease) {
		t.Fatal("both workers hold the lease")
	}
	releaseLease(a.leaseKey(ea), "worker-a")
	if !takeLease(b.leaseKey(eb), "worker-b", t0, tokenLease) {
		t.Fatal("the second worker did not get the lease once it was given back")
	}
	// Resources from expressions share a bounded set of keys.
	dyn := &tokenEntry{key: a.entryKey(policy.TokenRequest{Resource: "api://anything"})}
	if k := a.leaseKey(dyn); !strings.HasPrefix(k, "apimguard.mi.d.lease.") {
		t.Fatalf("a dynamic resource's lease key %q", k)
	}
}
